//! Benchmark "Lake and warehouse" (docs/BENCHMARKS.md): lake write throughput of
//! `musicaly run` (rows/s and MB/s of Parquet landed) and the time to load and
//! model one hour into the warehouse (`musicaly load --force --hour T`).
//!
//! Short form in the suite (2 000 users, 3 hours); the documented full form with
//! MUSICALY_LONG=1 (100 000 users, 3 hours):
//!   MUSICALY_LONG=1 cargo test --release --test bench_lake_warehouse -- --nocapture

mod common;
use common::*;

use std::path::Path;
use std::time::Instant;

fn dir_bytes(p: &Path) -> u64 {
    let mut n = 0;
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            let p = e.path();
            n += if p.is_dir() {
                dir_bytes(&p)
            } else {
                e.metadata().map(|m| m.len()).unwrap_or(0)
            };
        }
    }
    n
}

#[test]
fn bench_lake_write_and_hourly_load() {
    let long = std::env::var("MUSICALY_LONG").is_ok();
    let users = if long { "100000" } else { "2000" };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let started = Instant::now();
    // The lake alone: warehouse loading is measured separately below.
    let out = run_ok(
        bin()
            .args([
                "run",
                "-n",
                users,
                "-s",
                "2026-11-06T10:00:00",
                "-e",
                "2026-11-06T13:00:00",
                "-r",
                "7",
                "--data-dir",
            ])
            .arg(&data)
            .env("MUSICALY__WAREHOUSE__ENABLED", "false"),
    );
    let run_secs = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // "simulated U users, S sessions, E events in X.Ys (...)": the pipeline's own time
    let line = stderr
        .lines()
        .find(|l| l.starts_with("simulated "))
        .unwrap_or_else(|| panic!("no summary line:\n{stderr}"));
    let secs: f64 = line
        .split(" in ")
        .nth(1)
        .and_then(|s| s.split('s').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    let lake = data.join("lake");
    let c = duck();
    let rows: u64 = TABLES.iter().map(|t| lake_rows(&c, &lake, t)).sum();
    let bytes = dir_bytes(&lake);
    assert!(rows > 0 && bytes > 0);
    let secs = secs.max(1e-3);

    // the busiest hour
    let hour: String = c
        .query_row(
            &format!(
                "SELECT strftime(date_trunc('hour', ts), '%Y-%m-%dT%H:00:00') h FROM read_parquet('{}') GROUP BY 1 ORDER BY count(*) DESC LIMIT 1",
                lake_glob(&lake, "page_view_events")
            ),
            [],
            |r| r.get(0),
        )
        .unwrap();
    let hour_rows: i64 = TABLES
        .iter()
        .map(|t| {
            scalar(
                &c,
                &format!(
                    "SELECT count(*) FROM read_parquet('{}') WHERE date_trunc('hour', ts) = TIMESTAMPTZ '{hour}+00'",
                    lake_glob(&lake, t)
                ),
            )
        })
        .sum();
    // load every other hour first, so the measured hour lands on a warehouse with history
    run_ok(bin().args(["load", "--data-dir"]).arg(&data));
    let t0 = Instant::now();
    run_ok(
        bin()
            .args(["load", "--force", "--hour", &hour, "--data-dir"])
            .arg(&data),
    );
    let load_secs = t0.elapsed().as_secs_f64();

    println!(
        "\n| users | lake rows | pipeline s | lake rows/s | lake MB/s (Parquet) | lake MB | hour | hour rows | load+model s |\n|---|---|---|---|---|---|---|---|---|\n| {users} | {rows} | {secs:.1} | {:.0} | {:.2} | {:.1} | {hour} | {hour_rows} | {load_secs:.2} |\n(run wall {run_secs:.1}s)",
        rows as f64 / secs,
        bytes as f64 / 1e6 / secs,
        bytes as f64 / 1e6,
    );
}
