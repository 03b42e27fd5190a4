//! The dashboard's HTTP API against the real binary: `musicaly serve` over a
//! `musicaly run` data dir (every endpoint, filter and error case; /api/summary
//! equal to `report --format json`), an empty data dir, `report`'s shared
//! validation, and `run --live` whose numbers rise through /api/stream.

mod common;
use common::web::*;
use common::*;

use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;

const RUN: [&str; 8] = [
    "-n",
    "200",
    "-s",
    "2026-11-01T00:00:00",
    "-e",
    "2026-11-03T00:00:00",
    "-r",
    "7",
];

/// One `musicaly run` data dir shared by the tests of this file.
fn data_dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = tempfile::tempdir().unwrap();
        run_ok(bin().arg("run").args(RUN).arg("--data-dir").arg(d.path()));
        d
    })
    .path()
}

fn report_json(data: &Path, args: &[&str]) -> Value {
    let out = run_ok(
        bin()
            .args(["report", "--format", "json"])
            .args(args)
            .arg("--data-dir")
            .arg(data),
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn served() -> &'static Server {
    static S: OnceLock<Server> = OnceLock::new();
    S.get_or_init(|| start(&["serve"], data_dir()))
}

/// The query string and the report flags of each filter the tests try.
fn filters() -> Vec<(String, Vec<String>)> {
    let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    vec![
        (String::new(), vec![]),
        ("state=CA".into(), v(&["--state", "CA"])),
        (
            "from=2026-11-02&to=2026-11-03".into(),
            v(&["--from", "2026-11-02", "--to", "2026-11-03"]),
        ),
        (
            "from=2026-11-01T06:00:00&to=2026-11-02T18:00:00Z".into(),
            v(&[
                "--from",
                "2026-11-01T06:00:00",
                "--to",
                "2026-11-02T18:00:00Z",
            ]),
        ),
        (
            "city=Los%20Angeles&from=2026-11-01".into(),
            v(&["--city", "Los Angeles", "--from", "2026-11-01"]),
        ),
    ]
}

#[test]
fn summary_equals_report_for_every_filter() {
    let s = served();
    for (q, flags) in filters() {
        let api = get_json(s.port, &format!("/api/summary?{q}"));
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        let cli = report_json(data_dir(), &flags);
        assert_eq!(api, cli, "filter {q:?}");
        assert!(
            api["active_users"].as_i64().unwrap() > 0,
            "filter {q:?} is empty"
        );
    }
}

#[test]
fn overview_hourly_levels_and_filters_agree_with_the_summary() {
    let s = served();
    for (q, _) in filters() {
        let sum = get_json(s.port, &format!("/api/summary?{q}"));
        let ov = get_json(s.port, &format!("/api/overview?{q}"));
        assert_eq!(ov["active_users"], sum["active_users"], "{q}");
        assert_eq!(ov["stream_hours"], sum["stream_hours"], "{q}");
        assert!(
            ov["total_users"].as_i64() >= ov["active_users"].as_i64(),
            "{q}"
        );
        let streams = ov["streams"].as_i64().unwrap();
        assert!(streams >= sum["top_artists"][0]["streams"].as_i64().unwrap());
        let hourly = get_json(s.port, &format!("/api/hourly?{q}"));
        assert_eq!(hourly["day"], ov["today"]["day"]);
        assert_eq!(hourly["previous_day"], ov["today"]["previous_day"]);
        let total = |k: &str| -> i64 {
            let a = hourly[k].as_array().unwrap();
            assert_eq!(a.len(), 24);
            a.iter().map(|x| x.as_i64().unwrap()).sum()
        };
        assert_eq!(
            total("today"),
            ov["today"]["streams"].as_i64().unwrap(),
            "{q}"
        );
        assert_eq!(
            total("previous"),
            ov["today"]["previous_streams"].as_i64().unwrap(),
            "{q}"
        );
        let levels = get_json(s.port, &format!("/api/levels?{q}"));
        let levels = levels.as_array().unwrap();
        assert!(!levels.is_empty());
        // Per gender, listeners by level cover the gender's listeners (a user
        // who upgraded counts under both levels).
        for g in sum["gender_composition"].as_array().unwrap() {
            let by_level: i64 = levels
                .iter()
                .filter(|l| l["gender"] == g["gender"])
                .map(|l| l["users"].as_i64().unwrap())
                .sum();
            assert!(by_level >= g["users"].as_i64().unwrap(), "{q}: {g}");
        }
        for l in levels {
            assert!(["free", "paid"].contains(&l["level"].as_str().unwrap()));
        }
        let keys: Vec<(String, String)> = levels
            .iter()
            .map(|l| {
                (
                    l["gender"].as_str().unwrap_or("~").to_string(),
                    l["level"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted, "levels ordered by gender then level");
    }
    // The last day of 2026-11-01..03 is the 2nd; the change against the 1st.
    let ov = get_json(s.port, "/api/overview");
    assert_eq!(ov["today"]["day"], "2026-11-02");
    assert_eq!(ov["today"]["previous_day"], "2026-11-01");
    let (t, p) = (
        ov["today"]["streams"].as_f64().unwrap(),
        ov["today"]["previous_streams"].as_f64().unwrap(),
    );
    let pct = ov["today"]["change_pct"].as_f64().unwrap();
    assert!((pct - (t - p) / p * 100.0).abs() < 1e-9);
    let ov = get_json(s.port, "/api/overview?from=2026-11-01&to=2026-11-02");
    assert_eq!(ov["today"]["day"], "2026-11-01");
    assert_eq!(ov["today"]["previous_streams"], 0);
    assert!(ov["today"]["change_pct"].is_null());

    let f = get_json(s.port, "/api/filters?state=CA");
    let states: Vec<&str> = f["states"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    let sum = get_json(s.port, "/api/summary");
    for st in sum["users_by_state"].as_array().unwrap() {
        assert!(states.contains(&st["state"].as_str().unwrap()));
    }
    assert!(f["cities"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["city"] == "Los Angeles" && c["state"] == "CA"));
    assert!(f["first_ts"].as_str().unwrap().starts_with("2026-11-01T"));
    assert!(f["last_ts"].as_str().unwrap().starts_with("2026-11-02T"));
    // Without a pipeline there are no live numbers.
    let live = get_json(s.port, "/api/live");
    assert!(live["pipeline"].is_null());
    assert_eq!(live["events_total"], 0);
}

#[test]
fn bad_requests_get_400_naming_the_parameter() {
    let s = served();
    let cases = [
        ("state=ZZ", "state"),
        ("state=california", "state"),
        ("from=2026-11-03&to=2026-11-01", "to"),
        ("from=2026-11-02&to=2026-11-02", "to"),
        ("from=yesterday", "from"),
        ("to=2026-11-32", "to"),
        ("foo=1", "foo"),
        ("state=CA&state=NY", "state"),
    ];
    for ep in ["summary", "overview", "hourly", "levels", "filters", "live"] {
        for (q, param) in cases {
            if ep == "live" && q.starts_with("state=ZZ") {
                continue; // /api/live does not read the data
            }
            let (status, head, body) = get(s.port, &format!("/api/{ep}?{q}"));
            assert_eq!(status, 400, "/api/{ep}?{q}: {body}");
            assert!(head.contains("content-type: application/json"), "{head}");
            let v: Value = serde_json::from_str(&body).unwrap();
            let msg = v["error"].as_str().unwrap();
            assert!(msg.contains(param), "/api/{ep}?{q}: {msg}");
        }
    }
    let (status, _, body) = get(s.port, "/api/nothing");
    assert_eq!(status, 404, "{body}");
}

#[test]
fn pages_carry_the_security_headers_and_health_answers() {
    let s = served();
    for path in ["/", "/api/summary", "/index.html"] {
        let (status, head, _) = get(s.port, path);
        assert_eq!(status, 200, "{path}");
        assert!(
            head.contains("content-security-policy: default-src 'self'"),
            "{path}: {head}"
        );
        assert!(head.contains("x-content-type-options: nosniff"), "{path}");
        assert!(head.contains("referrer-policy: no-referrer"), "{path}");
        assert!(head.contains("x-frame-options: deny"), "{path}");
    }
    let (_, head, body) = get(s.port, "/");
    assert!(head.contains("content-type: text/html"), "{head}");
    assert!(body.contains("<html"));
    assert_eq!(get(s.port, "/no-such-file.js").0, 404);
    assert_eq!(
        get(s.port, "/healthz"),
        (200, get(s.port, "/healthz").1, "ok\n".into())
    );
    assert_eq!(get(s.port, "/readyz").0, 200);
    assert_eq!(get(s.port, "/metrics").0, 200);
}

#[test]
fn sse_sends_an_update_on_connect() {
    let s = served();
    let (first, _) = sse_updates(s.port, 1, Duration::from_secs(20));
    assert_eq!(first.len(), 1);
    assert!(first[0]["version"].is_u64());
    assert!(first[0].get("events_total").is_some());
}

#[test]
fn an_empty_data_dir_answers_empty() {
    let d = tempfile::tempdir().unwrap();
    let s = start(&["serve"], d.path());
    let sum = get_json(s.port, "/api/summary");
    assert_eq!(sum["active_users"], 0);
    assert_eq!(sum["stream_hours"], 0.0);
    assert_eq!(sum["top_songs"], Value::Array(vec![]));
    let ov = get_json(s.port, "/api/overview?state=CA");
    assert_eq!(ov["total_users"], 0);
    assert_eq!(ov["today"]["streams"], 0);
    assert_eq!(get_json(s.port, "/api/levels"), Value::Array(vec![]));
    let f = get_json(s.port, "/api/filters");
    assert_eq!(f["states"], Value::Array(vec![]));
    assert!(f["first_ts"].is_null());
    let h = get_json(s.port, "/api/hourly");
    assert_eq!(h["today"].as_array().unwrap().len(), 24);
    assert_eq!(get(s.port, "/readyz").0, 503);
    assert!(
        !d.path().join("warehouse.duckdb").exists(),
        "serving must not create the warehouse"
    );
}

#[test]
fn report_validates_its_filter_like_the_api() {
    let d = data_dir();
    let fails = |args: &[&str], want: &[&str]| {
        let out = bin()
            .arg("report")
            .args(args)
            .arg("--data-dir")
            .arg(d)
            .output()
            .unwrap();
        assert!(!out.status.success(), "report {args:?} succeeded");
        let err = String::from_utf8_lossy(&out.stderr);
        for w in want {
            assert!(err.contains(w), "report {args:?}: {err}");
        }
    };
    fails(
        &["--from", "2026-11-03", "--to", "2026-11-01"],
        &["--to", "not after"],
    );
    fails(&["--from", "yesterday"], &["--from", "yesterday"]);
    fails(&["--to", "2026-02-30"], &["--to"]);
    fails(&["--state", "ZZ"], &["--state", "unknown state"]);
    fails(&["--city", "Nowhere At All"], &["--city", "no listens"]);
}

#[test]
fn run_live_numbers_rise_through_the_stream_and_the_api() {
    let d = tempfile::tempdir().unwrap();
    // 50 users from 2026-11-01 at 3600x: a simulated hour a second.
    let s = start(
        &[
            "run",
            "--live",
            "-n",
            "50",
            "-s",
            "2026-11-01T00:00:00",
            "-r",
            "3",
            "--speedup",
            "3600",
        ],
        d.path(),
    );
    let (ups, _) = sse_updates(s.port, 6, Duration::from_secs(60));
    assert!(ups.len() >= 3, "only {} updates", ups.len());
    let versions: Vec<u64> = ups.iter().map(|u| u["version"].as_u64().unwrap()).collect();
    assert!(versions.windows(2).all(|w| w[0] < w[1]), "{versions:?}");
    let totals: Vec<u64> = ups
        .iter()
        .map(|u| u["events_total"].as_u64().unwrap())
        .collect();
    assert!(
        totals.last() > totals.first(),
        "events_total did not rise: {totals:?}"
    );
    assert!(ups.last().unwrap()["pipeline"]["events_per_sec"].is_number());
    // The API includes the live rows: the numbers rise between two reads.
    let a = get_json(s.port, "/api/overview")["streams"]
        .as_i64()
        .unwrap();
    wait_until("the live streams to rise", Duration::from_secs(30), || {
        get_json(s.port, "/api/overview")["streams"]
            .as_i64()
            .unwrap()
            > a
    });
    let sum = get_json(s.port, "/api/summary");
    assert!(sum["active_users"].as_i64().unwrap() > 0);
    assert_eq!(get(s.port, "/readyz").0, 200);
}
