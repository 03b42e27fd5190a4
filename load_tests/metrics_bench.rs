//! Cost of the metrics: the hot-path updates and a `/metrics` render.
//!
//! ```text
//! target/release/metrics-bench --rounds 7
//! ```
//!
//! Hot path, per update, on one thread: a counter as the pipeline keeps it (a
//! plain `AtomicU64`, `fetch_add`) against prometheus-client's `Counter`
//! (`inc_by`), and a latency observation as the hand-written writer kept it
//! (an hdrhistogram behind a `Mutex`) against prometheus-client's `Histogram`
//! (`observe`, the one `Metrics::record_latency_ms` uses). Render: one
//! `Metrics::render_prometheus` (prometheus-client's encoder; the hand-written
//! writer it replaced is in git, measured beside it in docs/bench13.md) of a
//! pipeline's metrics (counters, 8
//! partitions' lag and mailboxes, both histograms filled). Rounds interleave
//! the peers; prints the median ns (µs for renders) and range per peer.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Instant;

use musicaly::metrics::Metrics;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};

const UPDATES: u64 = 2_000_000;
const RENDERS: u64 = 2_000;

fn median(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

/// Nanoseconds per call of `f` over `n` calls.
fn time(n: u64, mut f: impl FnMut(u64)) -> f64 {
    let started = Instant::now();
    for i in 0..n {
        f(i);
    }
    started.elapsed().as_secs_f64() * 1e9 / n as f64
}

/// A pipeline's metrics after some traffic.
fn filled() -> Metrics {
    let m = Metrics::default();
    m.messages_in.fetch_add(1_234_567, Relaxed);
    m.batches_in.fetch_add(890, Relaxed);
    m.set_consumer_lag(
        (0..8)
            .map(|p| (format!("listen_events-{p}"), 1000 + p))
            .collect(),
    );
    m.set_mailboxes(
        (0..8)
            .map(|p| (format!("listen_events-{p}"), p as usize, p == 3))
            .collect(),
    );
    for i in 0..10_000u64 {
        m.record_latency_ms(1 + i % 3000);
        m.record_batch_size(1 + i * 7 % 20_000);
    }
    m
}

fn main() {
    let mut rounds = 7usize;
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        match (k.as_str(), it.next().map(|v| v.parse())) {
            ("--rounds", Some(Ok(n))) if n > 0 => rounds = n,
            _ => {
                eprintln!("usage: metrics-bench [--rounds N]");
                std::process::exit(2);
            }
        }
    }
    let atomic = AtomicU64::new(0);
    let counter: Counter = Counter::default();
    let hdr: Mutex<Option<hdrhistogram::Histogram<u64>>> = Mutex::new(None);
    let hist = Histogram::new(exponential_buckets(1.0, 2.0, 17));
    let metrics = filled();
    let mut peers: Vec<(&str, &str, Vec<f64>)> = Vec::new();
    let mut push = |i: usize, name: &'static str, unit: &'static str, v: f64| {
        if peers.len() <= i {
            peers.push((name, unit, Vec::new()));
        }
        peers[i].2.push(v);
    };
    for round in 0..rounds {
        // Alternate which peer of each pair goes first.
        let order: [usize; 2] = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for k in order {
            match k {
                0 => push(
                    0,
                    "counter: AtomicU64::fetch_add (ours)",
                    "ns",
                    time(UPDATES, |i| {
                        atomic.fetch_add(black_box(i & 7), Relaxed);
                    }),
                ),
                _ => push(
                    1,
                    "counter: prometheus-client Counter::inc_by",
                    "ns",
                    time(UPDATES, |i| {
                        counter.inc_by(black_box(i & 7));
                    }),
                ),
            };
        }
        for k in order {
            match k {
                0 => push(
                    2,
                    "latency: Mutex<hdrhistogram>::record (ours before)",
                    "ns",
                    time(UPDATES, |i| {
                        if let Ok(mut h) = hdr.lock() {
                            let h = h.get_or_insert_with(|| {
                                hdrhistogram::Histogram::new_with_bounds(1, 3_600_000, 3)
                                    .expect("valid histogram bounds")
                            });
                            let _ = h.record(black_box(1 + i % 3000).clamp(1, 3_600_000));
                        }
                    }),
                ),
                _ => push(
                    3,
                    "latency: prometheus-client Histogram::observe",
                    "ns",
                    time(UPDATES, |i| {
                        hist.observe(black_box((1 + i % 3000) as f64));
                    }),
                ),
            };
        }
        let mut bytes = 0;
        push(
            4,
            "render: Metrics::render_prometheus (prometheus-client)",
            "µs",
            time(RENDERS, |_| {
                bytes = black_box(metrics.render_prometheus()).len();
            }) / 1e3,
        );
        if round == 0 {
            println!("a render is {bytes} bytes");
        }
    }
    println!("| {rounds} rounds | median | min..max |");
    println!("|---|---|---|");
    for (name, unit, v) in peers {
        let (m, lo, hi) = median(v);
        println!("| {name} | {m:.2} {unit} | {lo:.2}..{hi:.2} |");
    }
    black_box((atomic.load(Relaxed), counter.get()));
}
