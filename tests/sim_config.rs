//! eventsim's own config files (the fixtures) load as they are, and inconsistent
//! configs are rejected with an error naming the offending entry.

mod common;

use musicaly::sim::model::{EventsimConfig, Model};
use serde_json::{json, Value};

const CONFIGS: [&str; 3] = [
    "example-config.json",
    "alt-example-config.json",
    "Accordion-config.json",
];

fn load(name: &str) -> Option<Value> {
    let dir = common::fixtures().join("eventsim");
    let text = std::fs::read_to_string(dir.join(name)).expect("read fixture config");
    Some(serde_json::from_str(&text).expect("fixture is JSON"))
}

fn compile(v: &Value) -> Result<Model, String> {
    EventsimConfig::from_json(&v.to_string())
        .and_then(Model::compile)
        .map_err(|e| e.to_string())
}

#[test]
#[ignore = "needs the fixtures at ../shared/fixtures: run scripts/test.sh"]
fn all_fixture_configs_compile() {
    for name in CONFIGS {
        let Some(v) = load(name) else { return };
        let m = compile(&v).unwrap_or_else(|e| panic!("{name}: {e}"));
        // Every transition source and destination became a state.
        let pages: std::collections::BTreeSet<&str> =
            m.states.iter().map(|s| s.page.as_str()).collect();
        let want: std::collections::BTreeSet<&str> = v["transitions"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|t| [&t["source"]["page"], &t["dest"]["page"]])
            .map(|p| p.as_str().unwrap())
            .collect();
        assert_eq!(pages, want, "{name}");
        assert_eq!(m.cfg.alpha, v["alpha"].as_f64().unwrap(), "{name}");
        assert_eq!(m.cfg.seed, v["seed"].as_f64(), "{name}");
    }
}

#[test]
#[ignore = "needs the fixtures at ../shared/fixtures: run scripts/test.sh"]
fn accordion_has_the_extended_pages() {
    let Some(v) = load("Accordion-config.json") else {
        return;
    };
    let m = compile(&v).unwrap();
    for page in [
        "Thumbs Up",
        "Thumbs Down",
        "Add to Playlist",
        "Add Friend",
        "Roll Advert",
    ] {
        assert!(
            m.states.iter().any(|s| s.page == page),
            "no state for {page}"
        );
    }
}

#[test]
#[ignore = "needs the fixtures at ../shared/fixtures: run scripts/test.sh"]
fn unknown_state_in_new_session_is_named() {
    let Some(mut v) = load("example-config.json") else {
        return;
    };
    v["new-session"][3]["page"] = json!("Nowhere Page");
    let err = compile(&v).unwrap_err();
    assert!(err.contains("new-session[3]"), "{err}");
    assert!(err.contains("Nowhere Page"), "{err}");
}

#[test]
#[ignore = "needs the fixtures at ../shared/fixtures: run scripts/test.sh"]
fn probabilities_above_one_name_the_state() {
    let Some(mut v) = load("alt-example-config.json") else {
        return;
    };
    let src = v["transitions"][10]["source"].clone();
    let page = src["page"].as_str().unwrap().to_string();
    v["transitions"][10]["p"] = json!(0.999);
    let err = compile(&v).unwrap_err();
    assert!(err.contains("above 1"), "{err}");
    assert!(err.contains(&page), "{err}");
}

#[test]
#[ignore = "needs the fixtures at ../shared/fixtures: run scripts/test.sh"]
fn missing_show_user_details_is_named() {
    let Some(mut v) = load("Accordion-config.json") else {
        return;
    };
    let list = v["show-user-details"].as_array_mut().unwrap();
    list.retain(|e| e["auth"] != "Logged Out");
    let err = compile(&v).unwrap_err();
    assert!(err.contains("show-user-details"), "{err}");
    assert!(err.contains("Logged Out"), "{err}");
}

#[test]
#[ignore = "needs the fixtures at ../shared/fixtures: run scripts/test.sh"]
fn new_user_auth_without_a_session_start_is_rejected() {
    let Some(mut v) = load("example-config.json") else {
        return;
    };
    v["new-user-auth"] = json!("Nobody");
    let err = compile(&v).unwrap_err();
    assert!(err.contains("new-user-auth"), "{err}");
}

#[test]
#[ignore = "needs the fixtures at ../shared/fixtures: run scripts/test.sh"]
fn churned_state_must_be_an_auth_of_the_machine() {
    let Some(mut v) = load("example-config.json") else {
        return;
    };
    v["churned-state"] = json!("Gone");
    let err = compile(&v).unwrap_err();
    assert!(err.contains("churned-state"), "{err}");
}

#[test]
fn bad_json_and_bad_types_are_errors_not_panics() {
    for text in [
        "",
        "{",
        r#"{"alpha":"fast"}"#,
        r#"{"transitions":[{"source":{},"dest":{},"p":1}]}"#,
        r#"{"transitions":[{"source":{"page":"A","method":"GET","status":200.5,"auth":"x","level":"y"},"dest":{"page":"A","method":"GET","status":200,"auth":"x","level":"y"},"p":0.5}]}"#,
    ] {
        let r = EventsimConfig::from_json(text).and_then(Model::compile);
        assert!(r.is_err(), "{text:?} was accepted");
    }
}
