//! Short form of `stage-bench` (load_tests/stage_bench.rs): the per-stage CPU
//! benchmark runs on a small simulated input and prints its table, so the
//! harness cannot rot. It asserts no rate.

mod common;

use std::process::Command;

use common::{bin, run_ok};

#[test]
fn stage_bench_short_form_prints_every_stage() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    run_ok(
        bin()
            .args([
                "simulate",
                "-n",
                "200",
                "-s",
                "2026-11-02",
                "-e",
                "2026-11-03",
                "-r",
                "3",
            ])
            .arg(&input),
    );
    let out = run_ok(
        Command::new(env!("CARGO_BIN_EXE_stage-bench"))
            .arg("--input")
            .arg(&input)
            .args(["--runs", "1", "--batch", "500"]),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for row in [
        "| decode |",
        "| JSON only: scanner",
        "| JSON only: serde_json reference",
        "| parquet (snappy) |",
        "| stream state: sessionizer (µs per page view) |",
        "| stream state: aggregator (µs per listen) |",
        "rows out (sessions, windows, late), digest ",
    ] {
        assert!(text.contains(row), "no {row:?} in:\n{text}");
    }
    let missing = Command::new(env!("CARGO_BIN_EXE_stage-bench"))
        .arg("--input")
        .arg(dir.path().join("nothing"))
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("musicaly simulate"),
        "the error should say how to make the input"
    );
}
