//! The decoder with each JSON parser (the hand-written scanner, sonic-rs,
//! simd-json; `event::JsonParser`) gives the same Arrow columns and the same
//! dead letters on the same messages: real eventsim output (the Sparkify
//! fixtures, single-stream dialect), our simulator's four-topic and
//! single-stream output, and broken messages of each dead-letter reason.
//! stage-bench checks the same before it times them.

mod common;

use std::sync::Arc;

use common::{bin, run_ok};
use musicaly::actors::decode::{DecodedBatch, Decoder};
use musicaly::actors::{RawBatch, SourceBatch, SourceId};
use musicaly::event::{DecodeLimits, JsonParser};
use musicaly::metrics::Metrics;

/// `(topic, messages)` of a `musicaly simulate` run in `format`.
fn simulated(format: &str) -> Vec<(String, Vec<Vec<u8>>)> {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    run_ok(
        bin()
            .args([
                "simulate",
                "-n",
                "300",
                "-s",
                "2026-11-01",
                "-e",
                "2026-11-02",
            ])
            .args(["-r", "5", "--format", format])
            .arg(&out),
    );
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
    files
        .iter()
        .map(|f| {
            let topic = match format {
                "four" => f.file_stem().unwrap().to_string_lossy().into_owned(),
                _ => "events".to_string(),
            };
            (topic, lines(&std::fs::read(f).unwrap()))
        })
        .collect()
}

fn lines(data: &[u8]) -> Vec<Vec<u8>> {
    data.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

fn decode(parser: JsonParser, topic: &str, messages: &[Vec<u8>]) -> DecodedBatch {
    let mut d =
        Decoder::new(DecodeLimits::default(), Arc::new(Metrics::default()), 4).with_parser(parser);
    let mut raw = RawBatch::default();
    for (i, m) in messages.iter().enumerate() {
        raw.push(i as i64, m);
    }
    d.decode(SourceBatch {
        source: SourceId {
            topic: topic.into(),
            partition: 1,
        },
        raw,
        read_at: std::time::Instant::now(),
        reservation: None,
    })
    .unwrap()
}

/// Decodes with every parser and asserts that all agree with the scanner;
/// returns the scanner's batch.
fn agree(topic: &str, messages: &[Vec<u8>]) -> DecodedBatch {
    let scanner = decode(JsonParser::Scanner, topic, messages);
    let dead = |b: &DecodedBatch| -> Vec<(i64, &'static str)> {
        b.dead.iter().map(|d| (d.offset, d.error.kind())).collect()
    };
    for p in [JsonParser::SonicRs, JsonParser::SimdJson] {
        let peer = decode(p, topic, messages);
        assert_eq!(
            dead(&peer),
            dead(&scanner),
            "{} dead letters on {topic}: {:?}",
            p.name(),
            peer.dead
                .iter()
                .map(|d| d.error.to_string())
                .collect::<Vec<_>>()
        );
        assert_eq!(
            peer.tables.len(),
            scanner.tables.len(),
            "{} tables of {topic}",
            p.name()
        );
        for ((t1, a), (t2, b)) in peer.tables.iter().zip(&scanner.tables) {
            assert_eq!(t1, t2);
            assert!(
                a == b,
                "{} decodes {topic} into other {t1} columns",
                p.name()
            );
        }
    }
    scanner
}

#[test]
#[ignore = "needs the fixtures at ../shared/fixtures: run scripts/test.sh"]
fn every_parser_gives_the_same_columns_on_real_and_simulated_events() {
    let mut inputs = simulated("four");
    inputs.extend(simulated("single"));
    let fx = common::fixtures();
    for name in ["2018-11-01-events.json", "2018-11-02-events.json"] {
        let data = std::fs::read(fx.join("sparkify").join(name)).unwrap();
        inputs.push(("events".into(), lines(&data)));
    }
    let mut rows = 0;
    for (topic, messages) in &inputs {
        let b = agree(topic, messages);
        assert!(b.dead.is_empty(), "{topic}: {:?}", b.dead[0].error);
        rows += b.tables.iter().map(|(_, rb)| rb.num_rows()).sum::<usize>();
    }
    assert!(rows > 2000, "only {rows} rows");
}

#[test]
fn every_parser_gives_the_same_dead_letters() {
    let good = r#"{"ts":1793577600000,"sessionId":1,"page":"Home","auth":"Guest","method":"GET","status":200,"level":"free","itemInSession":0,"userAgent":"\"Mozilla/5.0\""}"#;
    let messages: Vec<Vec<u8>> = [
        good.to_string(),
        "not json".into(),
        good.replace("\"ts\":1793577600000", "\"ts\":\"x\""),
        good.replace("\"sessionId\":1,", ""),
        good.replace("\"ts\":1793577600000", "\"ts\":5"),
        good.replace("}", ""),
        format!("{good} x"),
        good.replace("\"status\":200", "\"status\":4294967296"),
        good.replace("\"page\":", "\"extra\":{\"a\":[1,2.5e3,null]},\"page\":"),
    ]
    .into_iter()
    .map(String::into_bytes)
    .chain([vec![b'{', 0xff, b'}'], vec![b' '; (1 << 20) + 1]])
    .collect();
    let b = agree("page_view_events", &messages);
    let kinds: Vec<_> = b.dead.iter().map(|d| d.error.kind()).collect();
    assert_eq!(
        kinds,
        [
            "not_json",
            "wrong_type",
            "missing_field",
            "ts_out_of_range",
            "not_json",
            "not_json",
            "wrong_type",
            "invalid_utf8",
            "oversized"
        ]
    );
    assert_eq!(b.rows(musicaly::event::Table::PageView), 2);
}
