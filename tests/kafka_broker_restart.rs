//! The broker goes away mid-run: `musicaly pipeline` must ride out the outage
//! (librdkafka reconnects, the group is rejoined) and the lake must still hold
//! every produced event exactly once.
//!
//! Its own test binary, and its own broker: restarting the suite's shared broker
//! (scripts/test.sh, `MUSICALY_TEST_KAFKA`) would break the Kafka tests of other
//! binaries running at the same time. So this test starts a private broker through
//! `scripts/kafka.sh` on free ports with its own state dir, bounces it with
//! `scripts/kafka.sh restart` (data kept), and stops it on drop. It runs wherever
//! the suite's Kafka runs (it needs the same java and cached jars), so it is
//! skipped or required exactly like the other Kafka tests.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A private single-node broker managed by scripts/kafka.sh.
struct OwnBroker {
    port: u16,
    controller_port: u16,
    state: PathBuf,
}

impl OwnBroker {
    fn script(&self, cmd: &str) -> Command {
        let mut c = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/kafka.sh"));
        c.arg(cmd)
            .env("MUSICALY_KAFKA_PORT", self.port.to_string())
            .env(
                "MUSICALY_KAFKA_CONTROLLER_PORT",
                self.controller_port.to_string(),
            )
            .env("MUSICALY_KAFKA_STATE", &self.state)
            .env("MUSICALY_KAFKA_PARTITIONS", "3");
        c
    }

    fn run(&self, cmd: &str) -> Result<(), String> {
        let out = self
            .script(cmd)
            .output()
            .map_err(|e| format!("scripts/kafka.sh {cmd}: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "scripts/kafka.sh {cmd} failed ({}):\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// Starts a fresh broker; `None` (skip) when that is impossible here, unless
    /// services are required.
    fn start(state: &Path) -> OwnBroker {
        let port = free_port();
        let mut controller_port = free_port();
        while controller_port == port {
            controller_port = free_port();
        }
        let b = OwnBroker {
            port,
            controller_port,
            state: state.to_path_buf(),
        };
        match b.run("start") {
            Ok(()) => b,
            Err(e) => panic!("cannot start a private broker: {e}"),
        }
    }

    fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for OwnBroker {
    /// A failed assertion must not leave a JVM running.
    fn drop(&mut self) {
        if let Err(e) = self.run("stop") {
            eprintln!("{e}");
        }
    }
}

/// Three consecutive simulated days, one per production phase, so that event time
/// moves forward like a live stream's.
fn sim(day: u32, seed: &str) -> Vec<String> {
    [
        "-n",
        "150",
        "-s",
        &format!("2026-11-{:02}T00:00:00", day),
        "-e",
        &format!("2026-11-{:02}T00:00:00", day + 1),
        "-r",
        seed,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn add(total: &mut [(String, u64)], more: &[(String, u64)]) {
    for ((t, n), (t2, m)) in total.iter_mut().zip(more) {
        assert_eq!(t, t2);
        *n += m;
    }
}

/// Per partition of `topic`: (partition, low, high) watermarks.
fn watermarks(brokers: &str, topic: &str, partitions: i32) -> Vec<(i32, i64, i64)> {
    use rdkafka::config::ClientConfig;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", unique("wm"))
        .create()
        .unwrap();
    (0..partitions)
        .map(|p| {
            let (lo, hi) = c
                .fetch_watermarks(topic, p, Duration::from_secs(20))
                .unwrap();
            (p, lo, hi)
        })
        .collect()
}

#[test]
#[ignore = "needs Kafka: run scripts/test.sh (or set MUSICALY_TEST_KAFKA)"]
fn broker_restart_mid_run_keeps_exactly_once() {
    // The shared test broker is not used, but its presence says the
    // services (Java, the broker's jars) are there.
    let _ = kafka();
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let broker = OwnBroker::start(&tmp.path().join("kafka"));
    let brokers = broker.bootstrap();
    const PARTITIONS: i32 = 3;
    let prefix = unique("rs");
    let topics = prefixed_topics(&prefix);
    create_topics(&brokers, &topics, PARTITIONS);

    // Phase 1, before the pipeline starts.
    let mut produced = simulate_into_kafka(
        &tmp.path().join("p1"),
        &brokers,
        &prefix,
        &sim(2, "31").iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let phase1: u64 = produced.iter().map(|x| x.1).sum();

    let data = tmp.path().join("data");
    let lake = data.join("lake");
    // Small batches and slow writes so that the run is still going when the broker
    // leaves; the group session (6 s) expires during the outage, so the restart
    // also forces a rejoin and a fresh assignment.
    let cfg = pipeline_config(
        tmp.path(),
        &brokers,
        &unique("g"),
        &topics,
        &data,
        "batch_max_events = 300\nwrite_delay_ms = 60\n[warehouse]\nenabled = false",
    );
    let mut p = Pipeline::start(&cfg, &[]);
    wait_until(
        "progress before the restart",
        Duration::from_secs(60),
        || lake_total(&lake) > 0 || p.exited().is_some(),
    );
    assert!(p.exited().is_none(), "pipeline exited early");
    let before_restart = lake_total(&lake);
    assert!(
        before_restart < phase1,
        "the pipeline finished phase 1 before the restart ({before_restart} rows): make it larger"
    );

    // Phase 2 is produced while the broker restarts: the idempotent producer of
    // `musicaly simulate` buffers and retries, so Kafka holds each message once.
    let restart = {
        let mut c = broker.script("restart");
        std::thread::spawn(move || c.output())
    };
    // Produce only once the broker is really gone (its port closed), so that the
    // phase is buffered by the producer and delivered after the restart.
    wait_until("the broker to go down", Duration::from_secs(40), || {
        std::net::TcpStream::connect(("127.0.0.1", broker.port)).is_err()
    });
    let phase2 = simulate_into_kafka(
        &tmp.path().join("p2"),
        &brokers,
        &prefix,
        &sim(3, "32").iter().map(String::as_str).collect::<Vec<_>>(),
    );
    add(&mut produced, &phase2);
    let out = restart.join().unwrap().unwrap();
    assert!(
        out.status.success(),
        "restart failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        p.exited().is_none(),
        "pipeline exited during the broker's absence: {:?}",
        p.exited()
    );

    // Phase 3, after the broker is back.
    let phase3 = simulate_into_kafka(
        &tmp.path().join("p3"),
        &brokers,
        &prefix,
        &sim(4, "33").iter().map(String::as_str).collect::<Vec<_>>(),
    );
    add(&mut produced, &phase3);
    let total: u64 = produced.iter().map(|x| x.1).sum();

    wait_until("everything in the lake", Duration::from_secs(90), || {
        lake_total(&lake) >= total || p.exited().is_some()
    });
    let status = p.terminate(Duration::from_secs(60));
    assert!(status.success(), "pipeline exit {status}");

    // Row counts and distinct (partition, offset) per table equal what was produced...
    assert_exactly_once(&lake, &produced);
    // ...and the identities are exactly the broker's offsets: per partition, every
    // offset from the low to the high watermark, once.
    let c = duck();
    for (topic, table) in topics.iter().zip(TABLES) {
        let mut in_kafka = 0;
        for (part, lo, hi) in watermarks(&brokers, topic, PARTITIONS) {
            in_kafka += hi - lo;
            let (rows, distinct, min, max): (i64, i64, Option<i64>, Option<i64>) = c
                .query_row(
                    &format!(
                        "SELECT count(*), count(DISTINCT _offset), min(_offset), max(_offset) \
                         FROM read_parquet('{}') WHERE _partition = {part}",
                        lake_glob(&lake, table)
                    ),
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .unwrap();
            assert_eq!(
                (rows, distinct),
                (hi - lo, hi - lo),
                "{topic}[{part}]: lake rows/distinct offsets vs Kafka"
            );
            if hi > lo {
                assert_eq!(
                    (min, max),
                    (Some(lo), Some(hi - 1)),
                    "{topic}[{part}] offsets"
                );
            }
        }
        let want = produced.iter().find(|x| x.0 == table).unwrap().1;
        assert_eq!(
            in_kafka as u64, want,
            "{topic}: Kafka holds what was produced"
        );
    }
    eprintln!(
        "broker restart: {total} events, {before_restart} in the lake at the restart, {:.0} s",
        started.elapsed().as_secs_f64()
    );
}
