//! `musicaly pipeline` keeps the warehouse up to date while it runs: with
//! `warehouse.load_interval_secs = 1`, every listen read from Kafka reaches
//! `fact_streams` before the pipeline is stopped, and the final load at SIGTERM
//! changes nothing (loads are idempotent).

mod common;
use common::*;
use std::time::{Duration, Instant};

const SIM: [&str; 8] = [
    "-n",
    "60",
    "-s",
    "2026-11-04T00:00:00",
    "-e",
    "2026-11-04T12:00:00",
    "-r",
    "9",
];

/// Rows of the four event tables and of fact_streams in the warehouse, or None
/// while the pipeline holds the file.
fn warehouse_counts(db: &std::path::Path) -> Option<Vec<i64>> {
    let c = duckdb::Connection::open_with_flags(
        db,
        duckdb::Config::default()
            .access_mode(duckdb::AccessMode::ReadOnly)
            .ok()?,
    )
    .ok()?;
    TABLES
        .iter()
        .chain(["fact_streams"].iter())
        .map(|t| {
            c.query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get(0))
                .ok()
        })
        .collect()
}

#[test]
#[ignore = "needs Kafka: run scripts/test.sh (or set MUSICALY_TEST_KAFKA)"]
fn pipeline_loads_the_warehouse_while_running() {
    let brokers = kafka();
    let tmp = tempfile::tempdir().unwrap();
    let prefix = format!("{}.", unique("wh"));
    let topics: Vec<String> = TABLES.iter().map(|t| format!("{prefix}{t}")).collect();
    let sim_dir = tmp.path().join("sim");
    run_ok(bin().arg("simulate").args(SIM).arg(&sim_dir));
    let produced = count_lines(&sim_dir);
    let mut want: Vec<i64> = produced.iter().map(|(_, n)| *n as i64).collect();
    // fact_streams: one row per listen
    want.push(
        produced
            .iter()
            .find(|(t, _)| t == "listen_events")
            .map(|(_, n)| *n as i64)
            .unwrap(),
    );
    run_ok(
        bin()
            .arg("simulate")
            .args(SIM)
            .args(["-k", &brokers, "--topic-prefix", &prefix]),
    );

    let data = tmp.path().join("data");
    let mut child = bin()
        .args([
            "pipeline",
            "--brokers",
            &brokers,
            "--group",
            &unique("g"),
            "--topics",
            &topics.join(","),
        ])
        .arg("--data-dir")
        .arg(&data)
        .env("MUSICALY__PIPELINE__BATCH_MAX_AGE_MS", "300")
        .env("MUSICALY__WAREHOUSE__LOAD_INTERVAL_SECS", "1")
        // The lake's files roll (and become loadable) every second.
        .env("MUSICALY__LAKE__FILE_MAX_AGE_SECS", "1")
        .spawn()
        .unwrap();
    let db = data.join("warehouse.duckdb");
    let deadline = Instant::now() + Duration::from_secs(120);
    while warehouse_counts(&db).as_ref() != Some(&want) {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("pipeline exited early with {status}");
        }
        assert!(
            Instant::now() < deadline,
            "the warehouse did not reach {want:?} rows while the pipeline ran (last: {:?})",
            warehouse_counts(&db)
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let before = {
        let mut last = None;
        for _ in 0..50 {
            if let Ok(c) = duckdb::Connection::open_with_flags(
                &db,
                duckdb::Config::default()
                    .access_mode(duckdb::AccessMode::ReadOnly)
                    .unwrap(),
            ) {
                last = Some(table_checksums(&c, "main"));
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        last.expect("could not open the warehouse")
    };
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let end = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > end {
            let _ = child.kill();
            panic!("pipeline did not exit after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "pipeline exit status {status}");
    let c = duckdb::Connection::open(&db).unwrap();
    assert_eq!(
        table_checksums(&c, "main"),
        before,
        "final load changed the warehouse"
    );
}
