//! The lake avoids the small-files problem: a partition's rows stream into one
//! open file per table and hour, which closes when the hour is over (the
//! partition's events passed it by `lake.hour_close_secs`), at
//! `lake.file_max_mb`, or at `lake.file_max_age_secs` — not once per source
//! batch. Every row still lands exactly once.

mod common;
use common::*;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Every Parquet file of the event tables: (table, hour dir, partition) → sizes.
fn event_files(lake: &Path) -> BTreeMap<(String, String, String), Vec<u64>> {
    let mut out: BTreeMap<_, Vec<u64>> = BTreeMap::new();
    for table in TABLES {
        let mut stack: Vec<PathBuf> = vec![lake.join(table)];
        while let Some(d) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in entries.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                    continue;
                }
                let name = p.file_name().unwrap().to_string_lossy().to_string();
                if !name.ends_with(".parquet") {
                    continue;
                }
                // <topic>-<partition>-<first>.parquet
                let parts: Vec<&str> = name.trim_end_matches(".parquet").rsplitn(3, '-').collect();
                assert_eq!(parts.len(), 3, "file name {name}");
                let hour = p
                    .parent()
                    .unwrap()
                    .strip_prefix(lake.join(table))
                    .unwrap()
                    .display()
                    .to_string();
                out.entry((table.to_string(), hour, parts[1].to_string()))
                    .or_default()
                    .push(e.metadata().unwrap().len());
            }
        }
    }
    out
}

fn simulate_counts(dir: &Path, sim: &[&str]) -> Vec<(String, u64)> {
    run_ok(bin().arg("simulate").args(sim).arg(dir));
    count_lines(dir)
}

#[test]
fn files_close_per_hour_not_per_batch() {
    let tmp = tempfile::tempdir().unwrap();
    let sim = [
        "-n",
        "3000",
        "-s",
        "2026-11-06T00:00:00",
        "-e",
        "2026-11-06T06:00:00",
        "-r",
        "5",
    ];
    let data = tmp.path().join("data");
    // Small source batches: one file per batch would make hundreds of files.
    let out = run_ok(
        bin()
            .arg("run")
            .args(sim)
            .arg("--data-dir")
            .arg(&data)
            .env("MUSICALY__PIPELINE__PARTITIONS", "2")
            .env("MUSICALY__PIPELINE__BATCH_MAX_EVENTS", "100")
            .env("MUSICALY__WAREHOUSE__ENABLED", "false"),
    );
    let lake = data.join("lake");
    let files = event_files(&lake);
    let produced = simulate_counts(&tmp.path().join("sim"), &sim);
    let c = duck();
    let mut batches = 0;
    for (table, n) in &produced {
        assert_eq!(lake_rows(&c, &lake, table), *n, "{table} rows");
        batches += n.div_ceil(100);
    }
    let total_files: usize = files.values().map(Vec::len).sum();
    // An hour's file closes when the partition's events pass the hour's end by
    // hour_close_secs; the next hour's first minutes close with it, so each
    // (table, hour, partition) has one or two files.
    for (key, sizes) in &files {
        assert!(
            (1..=2).contains(&sizes.len()),
            "{key:?} has {} files: {sizes:?}",
            sizes.len()
        );
    }
    assert!(
        total_files * 4 < batches as usize,
        "{total_files} files for {batches} source batches\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn files_roll_at_the_size_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let sim = [
        "-n",
        "160000",
        "-s",
        "2026-11-06T12:00:00",
        "-e",
        "2026-11-06T13:00:00",
        "-r",
        "4",
    ];
    let data = tmp.path().join("data");
    run_ok(
        bin()
            .arg("run")
            .args(sim)
            .arg("--data-dir")
            .arg(&data)
            .env("MUSICALY__PIPELINE__PARTITIONS", "1")
            .env("MUSICALY__PIPELINE__BATCH_MAX_EVENTS", "5000")
            .env("MUSICALY__LAKE__COMPRESSION", "none")
            .env("MUSICALY__LAKE__FILE_MAX_MB", "1")
            .env("MUSICALY__WAREHOUSE__ENABLED", "false"),
    );
    let lake = data.join("lake");
    let files = event_files(&lake);
    let listen: Vec<u64> = files
        .iter()
        .filter(|(k, _)| k.0 == "listen_events")
        .flat_map(|(_, v)| v.iter().copied())
        .collect();
    assert!(listen.len() >= 3, "listen files: {listen:?}");
    // A roll is checked after each appended batch (5000 events, well under 1 MiB
    // of Parquet), so no file overshoots the limit by more than one batch.
    for size in &listen {
        assert!(
            *size < (3 << 20) / 2,
            "file of {size} bytes over 1 MiB + a batch"
        );
    }
    let c = duck();
    for (table, n) in simulate_counts(&tmp.path().join("sim"), &sim) {
        assert_eq!(lake_rows(&c, &lake, &table), n, "{table} rows");
    }
}
