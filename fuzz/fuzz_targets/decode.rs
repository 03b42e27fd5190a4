//! The event decoder's hand-written scanner against serde_json (the oracle), on
//! both dialects: `event::parse` and `event::parse_in` (with the key-order
//! prediction primed by a previous message) must accept and reject what
//! `event::parse_reference` does, with the same fields or the same error kind.
//!
//! Input: `PRIME\nMESSAGE` (without a newline, the whole input is the message and
//! primes nothing). The one allowed difference is the one tests/decode_scanner.rs
//! allows: text that is not JSON at all but has a mistyped value before its
//! syntax error is `wrong_type` for serde (it streams) and `not_json` for the
//! scanner.
#![no_main]

use libfuzzer_sys::fuzz_target;
use musicaly::event::{
    parse, parse_in, parse_reference, DecodeError, DecodeLimits, RawEvent, Routing, Scratch,
    SingleStreamSplitter, Table,
};

fn outcome(r: &Result<RawEvent<'_>, DecodeError>) -> String {
    match r {
        Ok(ev) => format!("{ev:?}"),
        Err(e) => format!("error {}", e.kind()),
    }
}

fn check(msg: &[u8], primed: &mut Scratch, limits: &DecodeLimits) {
    let reference = parse_reference(msg, limits);
    let reference_s = outcome(&reference);
    let is_json = serde_json::from_slice::<serde_json::Value>(msg).is_ok();
    let plain = parse(msg, limits);
    let plain_s = outcome(&plain);
    assert!(
        plain_s == reference_s
            || (!is_json && reference_s == "error wrong_type" && plain_s == "error not_json"),
        "parse disagrees with serde_json on {:?}:\n ours:  {plain_s}\n serde: {reference_s}",
        String::from_utf8_lossy(msg)
    );
    let fast_s = outcome(&parse_in(msg, limits, primed));
    assert_eq!(
        fast_s,
        plain_s,
        "parse_in disagrees with parse on {:?}",
        String::from_utf8_lossy(msg)
    );
    if let Ok(ev) = &plain {
        // What the decoder does next with a parsed event: never panics.
        let mut tables = Vec::new();
        for topic in ["events", "listen_events", "x.auth_events"] {
            match Routing::for_topic(topic) {
                Routing::Direct(t) => tables.push(t),
                _ => SingleStreamSplitter::default().tables(ev, &mut tables),
            }
        }
        for t in Table::ALL.into_iter().chain(tables) {
            let _ = ev.validate(t, limits).map_err(|e| e.to_string());
        }
        let _ = ev.success();
    }
}

fuzz_target!(|data: &[u8]| {
    let limits = DecodeLimits::default();
    let mut primed = Scratch::default();
    match data.iter().position(|&b| b == b'\n') {
        Some(n) => {
            check(&data[..n], &mut Scratch::default(), &limits);
            let _ = parse_in(&data[..n], &limits, &mut primed);
            check(&data[n + 1..], &mut primed, &limits);
        }
        None => check(data, &mut primed, &limits),
    }
});
