//! The eventsim config parser and its compilation into the simulator's state
//! machine (`sim::model`), on any JSON: no panic, and a compiled model answers
//! every lookup the simulator makes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use musicaly::sim::model::{pick_cumulative, EventsimConfig, Model};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let cfg = match EventsimConfig::from_json(text) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let model = match Model::compile(cfg) {
        Ok(m) => m,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    // The lookups the simulator makes per user and per event.
    let draws = [0u64, 1 << 63, u64::MAX, 0x9e37_79b9_7f4a_7c15];
    for st in &model.states {
        for r in draws {
            if let Some(next) = st.transition(r) {
                assert!(
                    next < model.states.len(),
                    "transition to a state that does not exist"
                );
            }
        }
    }
    let ids = &model.ids;
    for a in 0..ids.auth_names.len() as u16 {
        for l in 0..ids.level_names.len() as u16 {
            for u in [0.0, 0.5, 0.999_999] {
                if let Some(s) = pick_cumulative(ids.session_starts(a, l), u) {
                    assert!(s < model.states.len());
                }
            }
        }
    }
    for u in [0.0, 0.5, 0.999_999] {
        let _ = pick_cumulative(&ids.initial_auth, u);
        let _ = pick_cumulative(&ids.initial_level, u);
    }
    let _ = model.shows_details("Logged In");
    for d in [&model.cfg.start_date, &model.cfg.end_date]
        .into_iter()
        .flatten()
    {
        let _ = musicaly::time::parse_utc(d);
    }
});
