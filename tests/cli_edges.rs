//! The command line's edges a new user meets: logs without colour codes when
//! they go to a file or pipe, `config check` and `config show`, one sentence for
//! an unknown key.

mod common;
use common::*;

#[test]
fn logs_to_a_pipe_carry_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_ok(bin().env("RUST_LOG", "musicaly=info").args([
        "run",
        "-n",
        "20",
        "-s",
        "2026-11-01T00:00:00",
        "-e",
        "2026-11-01T02:00:00",
        "--data-dir",
        dir.path().to_str().unwrap(),
    ]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("INFO"),
        "expected log lines on stderr: {stderr}"
    );
    assert!(
        !stderr.contains('\u{1b}'),
        "ANSI escape in piped logs: {stderr}"
    );
}

#[test]
fn config_check_accepts_a_good_file_and_names_the_key_of_a_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(&good, "[kafka]\nbrokers = \"127.0.0.1:9092\"\n").unwrap();
    let out = run_ok(bin().args(["config", "check", good.to_str().unwrap()]));
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok"));

    for (text, key, value) in [
        ("[kafka]\nbrokerz = \"x\"\n", "brokerz", "brokers"),
        ("[lake]\ncompression = \"lz5\"\n", "lake.compression", "lz5"),
        (
            "[pipeline]\nmemory_limit_mb = \"lots\"\n",
            "memory_limit_mb",
            "lots",
        ),
    ] {
        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, text).unwrap();
        let out = bin()
            .args(["config", "check", bad.to_str().unwrap()])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{text}: {stderr}");
        assert!(
            stderr.contains(key) && stderr.contains(value),
            "{text}: {stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert_eq!(stderr.matches(key).count(), 1, "said once: {stderr}");
    }
}

#[test]
fn config_show_gives_each_value_its_source() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("c.toml");
    std::fs::write(&f, "[kafka]\nbrokers = \"10.1.2.3:9092\"\n").unwrap();
    let out = run_ok(
        bin()
            .args(["config", "show", "-c", f.to_str().unwrap()])
            .env("MUSICALY__KAFKA__GROUP_ID", "from-env"),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let line = |k: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("{k} = ")))
            .unwrap_or_else(|| panic!("{k} missing: {text}"))
            .to_string()
    };
    assert!(line("kafka.brokers").ends_with("# file"), "{text}");
    assert!(
        line("kafka.group_id").contains("from-env") && line("kafka.group_id").ends_with("# env")
    );
    assert!(line("lake.compression").ends_with("# default"), "{text}");
}
