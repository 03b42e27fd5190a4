//! systemd's notify protocol (src/notify.rs), through a real Kafka broker: the
//! test plays systemd's part with a Unix datagram socket as `NOTIFY_SOCKET`
//! (this machine runs no systemd as PID 1) and `WATCHDOG_USEC`.
//!
//! - READY only after the group join: another member of the group holds it
//!   (joined, then stops polling), so the pipeline's join completes only once
//!   that member's `max.poll.interval.ms` has run out; READY must not come sooner.
//! - WATCHDOG while events flow, STOPPING and exit 0 on SIGTERM, and every
//!   produced event in the lake exactly once.
//! - A stuck data path stops the pings: the lake's table directories are
//!   regular files, so the partition actors cannot write (a real fault, like a
//!   full or read-only disk; even root cannot create a directory under a file).

mod common;
use common::*;

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Notifications received, one line each, with when they arrived.
struct Systemd {
    lines: Arc<Mutex<Vec<(Instant, String)>>>,
}

impl Systemd {
    fn listen(path: &Path) -> Systemd {
        let sock = UnixDatagram::bind(path).unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            while let Ok(n) = sock.recv(&mut buf) {
                let now = Instant::now();
                let text = String::from_utf8_lossy(&buf[..n]).to_string();
                let mut l = sink.lock().unwrap();
                for line in text.lines() {
                    l.push((now, line.to_string()));
                }
            }
        });
        Systemd { lines }
    }

    fn all(&self) -> Vec<(Instant, String)> {
        self.lines.lock().unwrap().clone()
    }

    fn first(&self, prefix: &str) -> Option<Instant> {
        self.all()
            .into_iter()
            .find(|(_, l)| l.starts_with(prefix))
            .map(|(t, _)| t)
    }

    fn pings_after(&self, t: Instant) -> Vec<Instant> {
        self.all()
            .into_iter()
            .filter(|(at, l)| *at > t && l == "WATCHDOG=1")
            .map(|(at, _)| at)
            .collect()
    }

    fn wait_for(&self, prefix: &str, timeout: Duration, p: &mut Pipeline) -> Instant {
        let end = Instant::now() + timeout;
        loop {
            if let Some(t) = self.first(prefix) {
                return t;
            }
            if let Some(s) = p.exited() {
                panic!("pipeline exited with {s} before sending {prefix}");
            }
            assert!(
                Instant::now() < end,
                "no {prefix} within {timeout:?}; got {:?}",
                self.all().iter().map(|(_, l)| l).collect::<Vec<_>>()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn start(config: &Path, socket: &Path, watchdog: Duration) -> Pipeline {
    let child = bin()
        .arg("pipeline")
        .arg("--config")
        .arg(config)
        .env("NOTIFY_SOCKET", socket)
        .env("WATCHDOG_USEC", watchdog.as_micros().to_string())
        .env("RUST_LOG", "info")
        .spawn()
        .expect("spawn pipeline");
    Pipeline { child }
}

/// A member of `group` that joins and then stops polling: it holds any new
/// member's join until its `max.poll.interval.ms` (8 s) has run out.
fn group_holder(brokers: &str, group: &str, topics: &[String]) -> rdkafka::consumer::BaseConsumer {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let c: BaseConsumer = rdkafka::config::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "500")
        .set("max.poll.interval.ms", "8000")
        .create()
        .unwrap();
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    c.subscribe(&names).unwrap();
    let end = Instant::now() + Duration::from_secs(60);
    while c.assignment().map(|a| a.count()).unwrap_or(0) == 0 {
        assert!(Instant::now() < end, "the holder never got an assignment");
        let _ = c.poll(Duration::from_millis(100));
    }
    c
}

const SIM: [&str; 8] = [
    "-n",
    "60",
    "-s",
    "2026-11-02T00:00:00",
    "-e",
    "2026-11-02T12:00:00",
    "-r",
    "11",
];

#[test]
#[ignore = "needs Kafka: run scripts/test.sh (or set MUSICALY_TEST_KAFKA)"]
fn ready_after_the_join_watchdog_while_healthy_stopping_and_nothing_lost() {
    let brokers = kafka();
    let tmp = tempfile::tempdir().unwrap();
    let prefix = unique("ntf");
    let topics = prefixed_topics(&prefix);
    create_topics(&brokers, &topics, 2);
    let group = unique("gn");
    let data = tmp.path().join("data");
    let config = pipeline_config(tmp.path(), &brokers, &group, &topics, &data, "");
    let socket = tmp.path().join("notify.sock");
    let systemd = Systemd::listen(&socket);

    let holder = group_holder(&brokers, &group, &topics);
    let held_from = Instant::now();
    let watchdog = Duration::from_secs(8);
    let mut p = start(&config, &socket, watchdog);
    let ready = systemd.wait_for("READY=1", Duration::from_secs(90), &mut p);
    let waited = ready.duration_since(held_from);
    // The holder leaves 8 s after its last poll; a READY before that was sent
    // before the join.
    assert!(
        waited >= Duration::from_secs(6),
        "READY after {waited:?}, while another member still held the group's join"
    );
    assert!(
        systemd
            .first("STATUS=joining the consumer group")
            .is_some_and(|t| t < ready),
        "no 'joining' STATUS before READY"
    );
    drop(holder);

    // Healthy: events flow and the pings keep coming.
    let produced = simulate_into_kafka(tmp.path(), &brokers, &prefix, &SIM);
    let lake = data.join("lake");
    let total: u64 = produced.iter().map(|(_, n)| n).sum();
    wait_until("every event in the lake", Duration::from_secs(120), || {
        assert!(p.exited().is_none(), "pipeline exited early");
        lake_total(&lake) >= total
    });
    // At least a few ping periods (a quarter of WATCHDOG_USEC) of healthy running.
    std::thread::sleep(watchdog / 2);
    let pings = systemd.pings_after(ready);
    assert!(
        pings.len() >= 3,
        "only {} WATCHDOG pings after READY",
        pings.len()
    );
    let gap = pings
        .windows(2)
        .map(|w| w[1].duration_since(w[0]))
        .max()
        .unwrap();
    assert!(
        gap < watchdog / 2,
        "a {gap:?} gap between pings while healthy (WATCHDOG_USEC {watchdog:?})"
    );
    assert!(
        systemd
            .all()
            .iter()
            .any(|(_, l)| l.starts_with("STATUS=consuming: ") && l.contains("lag ")),
        "no STATUS line with rate and lag"
    );

    let status = p.terminate(Duration::from_secs(60));
    assert!(status.success(), "pipeline exited with {status} on SIGTERM");
    let stopping = systemd
        .first("STOPPING=1")
        .expect("no STOPPING=1 on SIGTERM");
    assert!(
        systemd.pings_after(stopping).is_empty(),
        "WATCHDOG after STOPPING"
    );
    assert_exactly_once(&lake, &produced);
}

#[test]
#[ignore = "needs Kafka: run scripts/test.sh (or set MUSICALY_TEST_KAFKA)"]
fn a_stuck_data_path_stops_the_watchdog_pings() {
    let brokers = kafka();
    let tmp = tempfile::tempdir().unwrap();
    let prefix = unique("nts");
    let topics = prefixed_topics(&prefix);
    create_topics(&brokers, &topics, 1);
    let group = unique("gs");
    let data = tmp.path().join("data");
    let config = pipeline_config(tmp.path(), &brokers, &group, &topics, &data, "");
    let socket = tmp.path().join("notify.sock");
    let systemd = Systemd::listen(&socket);
    let watchdog = Duration::from_secs(4);
    let mut p = start(&config, &socket, watchdog);
    let ready = systemd.wait_for("READY=1", Duration::from_secs(90), &mut p);
    wait_until("pings while idle", Duration::from_secs(20), || {
        systemd.pings_after(ready).len() >= 2
    });

    // The lake's tables cannot be written any more.
    let lake = data.join("lake");
    std::fs::create_dir_all(&lake).unwrap();
    for t in TABLES {
        let dir = lake.join(t);
        if dir.is_dir() {
            std::fs::remove_dir_all(&dir).unwrap();
        }
        std::fs::write(&dir, b"not a directory").unwrap();
    }
    simulate_into_kafka(tmp.path(), &brokers, &prefix, &SIM);
    let end = Instant::now() + Duration::from_secs(60);
    let stuck_at = loop {
        let found = systemd
            .all()
            .into_iter()
            .find(|(_, l)| l.starts_with("STATUS=") && l.contains("STUCK: "));
        if let Some((t, line)) = found {
            assert!(line.contains("stopped on an error"), "{line}");
            break t;
        }
        assert!(Instant::now() < end, "no STUCK status: {:?}", systemd.all());
        std::thread::sleep(Duration::from_millis(100));
    };
    // Longer than the ping period and the stall limit: not one ping.
    std::thread::sleep(watchdog);
    assert_eq!(
        systemd.pings_after(stuck_at),
        Vec::<Instant>::new(),
        "WATCHDOG pings while the data path is stuck"
    );
    assert!(
        p.exited().is_none(),
        "the process must stay up for systemd to kill it"
    );
    // Its failed partitions are reported at the stop (and re-read after a restart).
    let status = p.terminate(Duration::from_secs(60));
    assert!(
        !status.success(),
        "a pipeline with failed partitions exited 0"
    );
    assert!(systemd.first("STOPPING=1").is_some(), "no STOPPING=1");
}
