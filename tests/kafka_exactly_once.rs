//! Exactly once into the lake, through a real broker: several partition counts,
//! malformed messages, `kill -9` and restart, and a second process joining and
//! leaving the consumer group mid-run.

mod common;
use common::*;
use std::time::Duration;

const SMALL: [&str; 8] = [
    "-n",
    "80",
    "-s",
    "2026-11-02T00:00:00",
    "-e",
    "2026-11-03T00:00:00",
    "-r",
    "21",
];
const LARGER: [&str; 8] = [
    "-n",
    "300",
    "-s",
    "2026-11-02T00:00:00",
    "-e",
    "2026-11-04T00:00:00",
    "-r",
    "22",
];

#[test]
#[ignore = "needs Kafka: run scripts/test.sh (or set MUSICALY_TEST_KAFKA)"]
fn several_partition_counts_land_exactly_once() {
    let brokers = kafka();
    for partitions in [1, 3, 8] {
        let tmp = tempfile::tempdir().unwrap();
        let prefix = unique(&format!("p{partitions}"));
        let topics = prefixed_topics(&prefix);
        create_topics(&brokers, &topics, partitions);
        let produced = simulate_into_kafka(tmp.path(), &brokers, &prefix, &SMALL);
        let data = tmp.path().join("data");
        let cfg = pipeline_config(
            tmp.path(),
            &brokers,
            &unique("g"),
            &topics,
            &data,
            "batch_max_events = 250",
        );
        let mut p = Pipeline::start(&cfg, &["--idle-exit", "6"]);
        let status = p.wait(Duration::from_secs(120));
        assert!(status.success(), "pipeline exit {status}");
        assert_exactly_once(&data.join("lake"), &produced);
        let c = duck();
        let seen: i64 = c
            .query_row(
                &format!(
                    "SELECT count(DISTINCT _partition) FROM read_parquet('{}')",
                    lake_glob(&data.join("lake"), "page_view_events")
                ),
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(seen, partitions as i64, "partitions seen in the lake");
    }
}

#[test]
#[ignore = "needs Kafka: run scripts/test.sh (or set MUSICALY_TEST_KAFKA)"]
fn malformed_messages_go_to_dead_letters_and_valid_ones_land() {
    use rdkafka::config::ClientConfig;
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    let brokers = kafka();
    let tmp = tempfile::tempdir().unwrap();
    let prefix = unique("bad");
    let topics = prefixed_topics(&prefix);
    create_topics(&brokers, &topics, 2);
    let sim_dir = tmp.path().join("sim");
    run_ok(bin().arg("simulate").args(SMALL).arg(&sim_dir));
    let valid = std::fs::read_to_string(sim_dir.join("page_view_events.json")).unwrap();
    let valid: Vec<&str> = valid.lines().collect();
    let padding = "x".repeat(5000);
    let bad: Vec<(Vec<u8>, &str)> = vec![
        (b"this is not json".to_vec(), "not_json"),
        (br#"{"ts":"yesterday","sessionId":1,"level":"free","page":"Home"}"#.to_vec(), "wrong_type"),
        (br#"{"ts":1793577600000,"level":"free","page":"Home"}"#.to_vec(), "missing_field"),
        (format!(r#"{{"ts":1793577600000,"sessionId":1,"level":"free","page":"Home","pad":"{padding}"}}"#).into_bytes(), "oversized"),
        (vec![b'{', b'"', b'p', 0xC3, 0x28, b'"', b'}'], "invalid_utf8"),
        (br#"{"ts":5,"sessionId":1,"level":"free","page":"Home"}"#.to_vec(), "ts_out_of_range"),
    ];
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()
        .unwrap();
    let topic = &topics[0]; // <prefix>.page_view_events
    let every = valid.len() / (bad.len() + 1);
    let mut b = 0;
    for (i, line) in valid.iter().enumerate() {
        if i > 0 && i % every == 0 && b < bad.len() {
            let key = format!("k{b}");
            producer
                .send(BaseRecord::to(topic).key(&key).payload(&bad[b].0))
                .unwrap();
            b += 1;
        }
        let key = format!("v{}", i % 7);
        loop {
            match producer.send(BaseRecord::to(topic).key(&key).payload(line.as_bytes())) {
                Ok(()) => break,
                Err(_) => {
                    producer.poll(Duration::from_millis(10));
                }
            }
        }
        producer.poll(Duration::ZERO);
    }
    while b < bad.len() {
        producer
            .send(BaseRecord::to(topic).key("tail").payload(&bad[b].0))
            .unwrap();
        b += 1;
    }
    producer.flush(Duration::from_secs(30)).unwrap();

    let data = tmp.path().join("data");
    // Dead letters go to the lake and to a topic (decode.dead_letters = both).
    let dlt = unique("dead");
    let cfg = pipeline_config(
        tmp.path(),
        &brokers,
        &unique("g"),
        &topics,
        &data,
        &format!(
            "[decode]\nmax_message_bytes = 4096\ndead_letters = \"both\"\ndead_letter_topic = \"{dlt}\""
        ),
    );
    let mut p = Pipeline::start(&cfg, &["--idle-exit", "6"]);
    let status = p.wait(Duration::from_secs(120));
    assert!(
        status.success(),
        "pipeline must not stop on bad input: {status}"
    );

    let lake = data.join("lake");
    let c = duck();
    assert_eq!(
        lake_rows(&c, &lake, "page_view_events"),
        valid.len() as u64,
        "every valid event lands"
    );
    let dl = format!("{}/_dead_letters/**/*.parquet", lake.display());
    let mut st = c.prepare(&format!("SELECT reason, raw, topic, \"partition\", \"offset\" FROM read_parquet('{dl}') ORDER BY reason")).unwrap();
    let rows: Vec<(String, Vec<u8>, String, i32, i64)> = st
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut want: Vec<(&str, &[u8])> = bad
        .iter()
        .map(|(raw, why)| (*why, raw.as_slice()))
        .collect();
    want.sort();
    assert_eq!(
        rows.len(),
        want.len(),
        "dead letters: {:?}",
        rows.iter().map(|r| &r.0).collect::<Vec<_>>()
    );
    for ((reason, raw, t, p, o), (want_reason, want_raw)) in rows.iter().zip(&want) {
        assert_eq!(reason, want_reason);
        assert_eq!(raw.as_slice(), *want_raw, "raw bytes kept for {reason}");
        assert_eq!(t, topic);
        assert!((0..2).contains(p) && *o >= 0);
    }

    // The same dead letters on the topic: raw bytes as the value, reason and
    // origin in headers.
    let mut on_topic = read_dead_letter_topic(&brokers, &dlt, want.len());
    on_topic.sort();
    let lake_side: Vec<(String, Vec<u8>, String, String)> = rows
        .iter()
        .map(|(r, raw, t, p, o)| (r.clone(), raw.clone(), format!("{t}/{p}"), o.to_string()))
        .collect();
    let mut lake_side = lake_side;
    lake_side.sort();
    assert_eq!(on_topic, lake_side, "dead-letter topic vs lake");
}

/// (reason, raw, "topic/partition", offset) of the messages on a dead-letter topic.
fn read_dead_letter_topic(
    brokers: &str,
    topic: &str,
    want: usize,
) -> Vec<(String, Vec<u8>, String, String)> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::{Headers, Message};
    let c: BaseConsumer = rdkafka::config::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", unique("dlt-reader"))
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    c.subscribe(&[topic]).unwrap();
    let mut out = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while out.len() < want && std::time::Instant::now() < deadline {
        let Some(m) = c.poll(Duration::from_millis(200)) else {
            continue;
        };
        let m = m.unwrap();
        let h = |name: &str| {
            m.headers()
                .and_then(|hs| hs.iter().find(|x| x.key == name))
                .and_then(|x| x.value)
                .map(|v| String::from_utf8_lossy(v).to_string())
                .unwrap_or_default()
        };
        out.push((
            h("musicaly.reason"),
            m.payload().unwrap_or_default().to_vec(),
            format!("{}/{}", h("musicaly.topic"), h("musicaly.partition")),
            h("musicaly.offset"),
        ));
    }
    out
}

#[test]
#[ignore = "needs Kafka: run scripts/test.sh (or set MUSICALY_TEST_KAFKA)"]
fn kill9_at_random_moments_then_restart_keeps_exactly_once() {
    let brokers = kafka();
    let tmp = tempfile::tempdir().unwrap();
    let prefix = unique("k9");
    let topics = prefixed_topics(&prefix);
    create_topics(&brokers, &topics, 4);
    let produced = simulate_into_kafka(tmp.path(), &brokers, &prefix, &LARGER);
    let total: u64 = produced.iter().map(|x| x.1).sum();
    let data = tmp.path().join("data");
    let lake = data.join("lake");
    let group = unique("g");
    // Small batches and slow writes: a kill lands mid-batch, mid-write or mid-commit.
    let cfg = pipeline_config(
        tmp.path(),
        &brokers,
        &group,
        &topics,
        &data,
        // The warehouse loads every second, so kills also land mid-load.
        "batch_max_events = 200\nwrite_delay_ms = 300\n[warehouse]\nload_interval_secs = 1",
    );
    // MUSICALY_TEST_SEED replays a failure's kill moments.
    let mut seed = match std::env::var("MUSICALY_TEST_SEED") {
        Ok(s) => s.parse().expect("MUSICALY_TEST_SEED is a number"),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos() as u64,
    };
    eprintln!("kill moments from seed {seed} (replay with MUSICALY_TEST_SEED={seed})");
    let mut kills = 0;
    for _ in 0..3 {
        let mut p = Pipeline::start(&cfg, &[]);
        let before = lake_total(&lake);
        // wait for progress, then a random extra delay
        wait_until("progress before kill", Duration::from_secs(60), || {
            lake_total(&lake) > before || p.exited().is_some()
        });
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        std::thread::sleep(Duration::from_millis(100 + (seed >> 33) % 1200));
        if lake_total(&lake) >= total {
            p.kill9();
            break;
        }
        p.kill9();
        kills += 1;
    }
    assert!(
        kills > 0,
        "the run finished before any kill: make it larger"
    );
    let mut p = Pipeline::start(&cfg, &["--idle-exit", "8"]);
    let status = p.wait(Duration::from_secs(240));
    assert!(status.success(), "final run exit {status}");
    assert_exactly_once(&lake, &produced);
    // The warehouse, loaded by processes that were killed mid-load, holds the
    // same events once.
    let w = duckdb::Connection::open(data.join("warehouse.duckdb")).unwrap();
    for (table, n) in &produced {
        let rows = scalar(&w, &format!("SELECT count(*) FROM {table}"));
        assert_eq!(rows as u64, *n, "{table} rows in the warehouse");
    }
}

#[test]
#[ignore = "needs Kafka: run scripts/test.sh (or set MUSICALY_TEST_KAFKA)"]
fn second_process_joining_and_leaving_the_group_keeps_exactly_once() {
    let brokers = kafka();
    let tmp = tempfile::tempdir().unwrap();
    let prefix = unique("grp");
    let topics = prefixed_topics(&prefix);
    create_topics(&brokers, &topics, 4);
    let produced = simulate_into_kafka(tmp.path(), &brokers, &prefix, &LARGER);
    let total: u64 = produced.iter().map(|x| x.1).sum();
    let data = tmp.path().join("data");
    let lake = data.join("lake");
    let group = unique("g");
    let cfg = pipeline_config(
        tmp.path(),
        &brokers,
        &group,
        &topics,
        &data,
        // Two processes share one data dir here; the embedded warehouse is single-writer
        // (DuckDB), so this test exercises the lake only.
        "batch_max_events = 400\nwrite_delay_ms = 40\n[warehouse]\nenabled = false",
    );
    let mut a = Pipeline::start(&cfg, &["--idle-exit", "10"]);
    wait_until("A makes progress", Duration::from_secs(60), || {
        lake_total(&lake) > 0
    });
    let b = Pipeline::start(&cfg, &[]);
    let mid = lake_total(&lake);
    wait_until("progress with two members", Duration::from_secs(60), || {
        lake_total(&lake) > mid + 500 || lake_total(&lake) >= total
    });
    std::thread::sleep(Duration::from_secs(2));
    let status = b.terminate(Duration::from_secs(60));
    assert!(status.success(), "B exit {status}");
    let status = a.wait(Duration::from_secs(240));
    assert!(status.success(), "A exit {status}");
    assert_exactly_once(&lake, &produced);
}
