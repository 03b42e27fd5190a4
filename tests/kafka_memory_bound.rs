//! A slowed-down sink under a high input rate: a backlog of ~750 k messages
//! (several times `pipeline.memory_limit_mb` of JSON) waits in Kafka, and every
//! lake write is delayed. The source must hold partitions back instead of buffering:
//! the pipeline's peak resident memory stays under the configured bound, and the
//! run completes with every event in the lake exactly once.

mod common;
use common::*;

use std::time::{Duration, Instant};

const LIMIT_MB: u64 = 256;

const BACKLOG: [&str; 8] = [
    "-n",
    "30000",
    "-s",
    "2026-11-06T00:00:00",
    "-e",
    "2026-11-06T12:00:00",
    "-r",
    "31",
];

/// Peak resident set size of a live process, in KiB (`VmHWM`).
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

#[test]
#[ignore = "needs Kafka: run scripts/test.sh (or set MUSICALY_TEST_KAFKA)"]
fn slow_sink_keeps_memory_under_the_bound_and_loses_nothing() {
    let brokers = kafka();
    let tmp = tempfile::tempdir().unwrap();
    let prefix = unique("mem");
    let topics = prefixed_topics(&prefix);
    create_topics(&brokers, &topics, 4);
    let produced = simulate_into_kafka(tmp.path(), &brokers, &prefix, &BACKLOG);
    let total: u64 = produced.iter().map(|x| x.1).sum();
    let sim_bytes: u64 = std::fs::read_dir(tmp.path().join(format!("sim-{prefix}")))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert!(
        sim_bytes > LIMIT_MB << 20,
        "backlog of {sim_bytes} bytes is too small to test a {LIMIT_MB} MiB bound"
    );
    let data = tmp.path().join("data");
    let cfg = pipeline_config(
        tmp.path(),
        &brokers,
        &unique("g"),
        &topics,
        &data,
        &format!("memory_limit_mb = {LIMIT_MB}\nwrite_delay_ms = 20\n[warehouse]\nenabled = false"),
    );
    let mut p = Pipeline::start(&cfg, &["--idle-exit", "5"]);
    let pid = p.child.id();
    let mut peak = 0;
    let deadline = Instant::now() + Duration::from_secs(300);
    let status = loop {
        if let Some(kib) = peak_rss_kib(pid) {
            peak = peak.max(kib);
        }
        if let Some(status) = p.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "pipeline did not finish");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "pipeline exit {status}");
    assert!(peak > 0, "no RSS samples");
    eprintln!(
        "{total} messages, {sim_bytes} bytes of JSON; peak RSS {} MiB (bound {LIMIT_MB} MiB)",
        peak / 1024
    );
    assert!(
        peak < LIMIT_MB * 1024,
        "peak RSS {} MiB over pipeline.memory_limit_mb = {LIMIT_MB}",
        peak / 1024
    );
    assert_exactly_once(&data.join("lake"), &produced);
}
