//! The live dashboard through a real Kafka broker: `musicaly pipeline` serves
//! while `musicaly simulate --continuous -k` produces in real time; the test
//! sees the live numbers rise through /api/stream and /api/summary, and
//! measures (prints, does not assert) the latency from an event's production
//! to its appearance in /api/live. `MUSICALY_LONG=1` measures for longer.

mod common;
use common::web::*;
use common::*;

use std::process::Stdio;
use std::time::{Duration, Instant};

#[test]
fn pipeline_live_numbers_rise_while_the_simulator_produces() {
    let Some(brokers) = kafka() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let prefix = unique("live");
    let topics = prefixed_topics(&prefix);
    create_topics(&brokers, &topics, 2);
    let data = tmp.path().join("data");
    let group = unique("g");
    let config = pipeline_config(
        tmp.path(),
        &brokers,
        &group,
        &topics,
        &data,
        "batch_max_events = 200\n[warehouse]\nload_interval_secs = 5",
    );
    let server = start_with(
        bin()
            .arg("pipeline")
            .arg("--config")
            .arg(&config)
            .env("MUSICALY__PIPELINE__BATCH_MAX_AGE_MS", "50"),
    );
    // Real time from 20 minutes ago: a catch-up burst (at a bounded rate),
    // then events as their time comes.
    let start = musicaly::time::format_utc(musicaly::time::now_ms() - 20 * 60_000);
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _sim = Kill(
        bin()
            .args([
                "simulate",
                "--continuous",
                "-n",
                "3000",
                "-r",
                "11",
                "-s",
                &start,
            ])
            .args(["--catchup-rate", "400", "-k", &brokers, "--topic-prefix"])
            .arg(format!("{prefix}."))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    let (ups, _) = sse_updates(server.port, 5, Duration::from_secs(90));
    assert!(ups.len() >= 3, "only {} SSE updates: {ups:?}", ups.len());
    let totals: Vec<u64> = ups
        .iter()
        .map(|u| u["events_total"].as_u64().unwrap())
        .collect();
    assert!(
        totals.last() > totals.first(),
        "events_total did not rise: {totals:?}"
    );
    let p = &ups.last().unwrap()["pipeline"];
    assert!(
        p["events_per_sec"].is_number() && p["dead_letters"] == 0,
        "{p}"
    );

    let first = get_json(server.port, "/api/summary");
    let streams = |port| get_json(port, "/api/overview")["streams"].as_i64().unwrap();
    let s0 = streams(server.port);
    wait_until("the live streams to rise", Duration::from_secs(60), || {
        streams(server.port) > s0
    });
    wait_until(
        "the live active users to rise",
        Duration::from_secs(90),
        || {
            get_json(server.port, "/api/summary")["active_users"].as_i64()
                > first["active_users"].as_i64()
        },
    );
    assert_eq!(get(server.port, "/readyz").0, 200);

    // Latency: once caught up the simulator writes each event at its time, so
    // wall clock minus the newest event time in /api/live, sampled when it
    // changes, is the event's way from production to the live numbers.
    let secs = if std::env::var("MUSICALY_LONG").is_ok() {
        120
    } else {
        15
    };
    let mut lat = Vec::new();
    let mut last = None;
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        let live = get_json(server.port, "/api/live");
        let now = musicaly::time::now_ms();
        if let Some(t) = live["latest_event_ms"].as_i64() {
            if last != Some(t) {
                if last.is_some() && now - t < 60_000 {
                    lat.push(now - t);
                }
                last = Some(t);
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    lat.sort_unstable();
    let pct = |q: f64| {
        lat.get(((lat.len() as f64 - 1.0) * q).round() as usize)
            .copied()
    };
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    eprintln!(
        "live latency (event time to /api/live, {} samples over {secs}s): p50 {:?} ms, p99 {:?} ms, max {:?} ms; load average {}",
        lat.len(),
        pct(0.5),
        pct(0.99),
        lat.last(),
        load.trim()
    );
}
