//! The decoder's hand-written JSON scanner (`event::parse`, and `event::parse_in`
//! with its key-order prediction) against the serde_json reference
//! (`event::parse_reference`): on real eventsim output (the Sparkify fixtures,
//! single-stream dialect), on our simulator's four-topic and single-stream
//! output, and on thousands of broken variants of them. Same fields for good
//! input, the same error kind for bad input.

mod common;

use common::{bin, run_ok};
use musicaly::event::{parse, parse_in, parse_reference, DecodeLimits, Scratch};

/// What a decode gives, comparably: the fields, or the error kind.
fn outcome(r: Result<musicaly::event::RawEvent<'_>, musicaly::event::DecodeError>) -> String {
    match r {
        Ok(ev) => format!("{ev:?}"),
        Err(e) => format!("error {}", e.kind()),
    }
}

/// Checks one message three ways; `scratch` carries the previous message's
/// key order, as in the decoder.
///
/// One difference is allowed, and asserted: serde_json reports the first
/// problem it meets while streaming, so a message that is not JSON at all but
/// has a mistyped value before its syntax error is `wrong_type` there; the
/// scanner calls every message that is not JSON `not_json`.
fn check(msg: &[u8], scratch: &mut Scratch, limits: &DecodeLimits) -> bool {
    let reference = outcome(parse_reference(msg, limits));
    let is_json = serde_json::from_slice::<serde_json::Value>(msg).is_ok();
    let agrees = |ours: &str| {
        ours == reference
            || (!is_json && reference == "error wrong_type" && ours == "error not_json")
    };
    let plain = outcome(parse(msg, limits));
    assert!(
        agrees(&plain),
        "parse disagrees with serde_json on {:?}:\n ours: {plain}\n serde: {reference}",
        String::from_utf8_lossy(msg)
    );
    let fast = outcome(parse_in(msg, limits, scratch));
    assert_eq!(
        fast,
        plain,
        "parse_in disagrees with parse on {:?}",
        String::from_utf8_lossy(msg)
    );
    !reference.starts_with("error")
}

fn simulated(format: &str) -> Vec<Vec<u8>> {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mut cmd = bin();
    cmd.args([
        "simulate",
        "-n",
        "300",
        "-s",
        "2026-11-01",
        "-e",
        "2026-11-02",
        "-r",
        "5",
        "--format",
        format,
    ])
    .arg(&out);
    run_ok(&mut cmd);
    let mut lines = Vec::new();
    let files: Vec<_> = if out.is_dir() {
        let mut f: Vec<_> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        f.sort();
        f
    } else {
        vec![out.clone()]
    };
    for f in files {
        let data = std::fs::read(&f).unwrap();
        lines.extend(
            data.split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .map(<[u8]>::to_vec),
        );
    }
    lines
}

fn sparkify() -> Vec<Vec<u8>> {
    let fx = common::fixtures();
    let mut lines = Vec::new();
    for name in ["2018-11-01-events.json", "2018-11-02-events.json"] {
        let data = std::fs::read(fx.join("sparkify").join(name)).unwrap();
        lines.extend(
            data.split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .map(<[u8]>::to_vec),
        );
    }
    lines
}

#[test]
#[ignore = "needs the fixtures at ../shared/fixtures: run scripts/test.sh"]
fn agrees_with_serde_on_real_and_simulated_events() {
    let limits = DecodeLimits::default();
    let mut scratch = Scratch::default();
    let real = sparkify();
    let four = simulated("four");
    let single = simulated("single");
    assert!(four.len() > 1000 && single.len() > 1000);
    let mut good = 0;
    for msg in real.iter().chain(&four).chain(&single) {
        good += check(msg, &mut scratch, &limits) as usize;
    }
    assert_eq!(good, real.len() + four.len() + single.len());
}

/// Small changes to real messages: every prefix, every byte replaced by a JSON
/// metacharacter, inserted whitespace, a duplicated key, reordered keys, values
/// of another type, escapes. Interleaved with intact messages, so the key-order
/// prediction sees every kind of surprise.
#[test]
#[ignore = "needs the fixtures at ../shared/fixtures: run scripts/test.sh"]
fn agrees_with_serde_on_broken_and_unusual_variants() {
    let limits = DecodeLimits::default();
    let mut scratch = Scratch::default();
    let mut seeds: Vec<Vec<u8>> = simulated("four").into_iter().step_by(97).take(12).collect();
    seeds.extend(sparkify().into_iter().step_by(41).take(6));
    assert!(seeds.len() >= 12);
    let (mut variants, mut accepted) = (0usize, 0usize);
    let mut run = |m: &[u8], scratch: &mut Scratch| {
        variants += 1;
        accepted += check(m, scratch, &limits) as usize;
    };
    for seed in &seeds {
        let text = String::from_utf8(seed.clone()).unwrap();
        for cut in 0..seed.len() {
            run(&seed[..cut], &mut scratch);
            run(seed, &mut scratch);
        }
        for i in (0..seed.len()).step_by(3) {
            for c in [
                b'"', b'\\', b',', b':', b'{', b'}', b'[', b' ', b'x', b'0', b'-', b'.', 1u8,
            ] {
                let mut m = seed.clone();
                m[i] = c;
                if std::str::from_utf8(&m).is_ok() {
                    run(&m, &mut scratch);
                }
            }
        }
        let edits = [
            text.replacen(',', " ,\n\t", 3),
            text.replacen(':', " : ", 5),
            text.replacen("{\"", "{ \"", 1),
            text.replacen('}', "} ", 1),
            text.replacen("\"ts\":", "\"ts\":1,\"ts\":", 1),
            text.replacen(
                "\"level\":",
                "\"extra\":{\"a\":[1,2.5e3,null,true,\"x\\n\"]},\"level\":",
                1,
            ),
            text.replacen("\"level\":\"", "\"level\":\"\\u00e9\\ud83c\\udfb5", 1),
            text.replacen("\"level\":\"", "\"level\":\"\\ud83c", 1),
            text.replacen("\"sessionId\":", "\"sessionId\":1.5,\"x\":", 1),
            text.replacen(
                "\"sessionId\":",
                "\"sessionId\":99999999999999999999,\"x\":",
                1,
            ),
            text.replacen("\"sessionId\":", "\"sessionId\":-0,\"x\":", 1),
            text.replacen("\"sessionId\":", "\"sessionId\":01,\"x\":", 1),
            text.replacen("\"status\":200", "\"status\":4294967296", 1),
            text.replacen("\"zip\":\"", "\"zip\":12345,\"x\":\"", 1),
            text.replacen("\"zip\":\"", "\"zip\":12.5,\"x\":\"", 1),
            text.replacen("\"lat\":", "\"lat\":\"1\",\"x\":", 1),
            text.replacen("\"lat\":", "\"lat\":1e999,\"x\":", 1),
            text.replacen("\"userId\":", "\"userId\":\"12\",\"x\":", 1),
            text.replacen("\"userId\":", "\"userId\":\"1\\u0032\",\"x\":", 1),
            text.replacen("\"userId\":", "\"userId\":\"a\",\"x\":", 1),
            text.replacen("\"userId\":", "\"userId\":null,\"x\":", 1),
            text.replacen("\"registration\":", "\"registration\":1.5e12,\"x\":", 1),
            text.replacen("\"page\":", "\"pa\\u0067e\":\"Home\",\"x\":", 1),
            text.replacen("\"gender\":", "\"success\":\"yes\",\"gender\":", 1),
            text.replacen("\"gender\":", "\"tag\":\"t\",\"gender\":", 1),
            format!("[{text}]"),
            format!("{text}{text}"),
            format!("{text} x"),
            String::from("{}"),
            String::from("null"),
            String::from("[]"),
            String::from("\"x\""),
            String::from("  "),
        ];
        for e in &edits {
            run(e.as_bytes(), &mut scratch);
            run(seed, &mut scratch);
        }
        // The same keys in another order.
        if let Ok(serde_json::Value::Object(map)) =
            serde_json::from_slice::<serde_json::Value>(seed)
        {
            let mut pairs: Vec<_> = map.into_iter().collect();
            pairs.reverse();
            let reordered = serde_json::Value::Object(pairs.into_iter().collect());
            run(reordered.to_string().as_bytes(), &mut scratch);
            run(seed, &mut scratch);
        }
    }
    assert!(variants > 10_000, "only {variants} variants");
    assert!(
        accepted > variants / 10 && accepted < variants,
        "{accepted} of {variants} accepted"
    );
}
