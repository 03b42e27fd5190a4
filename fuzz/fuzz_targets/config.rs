//! The musicaly config loader (`config::Settings`) on any file text: no panic, and
//! what it accepts it prints (`musicaly config`) as TOML that loads again to the
//! same settings.
#![no_main]

use libfuzzer_sys::fuzz_target;
use musicaly::config::{render_toml, Settings};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Settings::from_toml(text) {
        Ok(s) => {
            let _ = s.decode_limits();
            let _ = (s.lake_location(), s.warehouse_path());
            let shown = render_toml(&s);
            let again = Settings::from_toml(&shown)
                .unwrap_or_else(|e| panic!("`musicaly config` output does not load: {e}\n{shown}"));
            assert_eq!(
                render_toml(&again),
                shown,
                "config round trip changed the settings"
            );
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
