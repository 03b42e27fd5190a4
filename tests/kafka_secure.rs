//! Secure Kafka against the real broker's secured listeners (scripts/kafka.sh with
//! MUSICALY_KAFKA_SECURE=1, as scripts/test.sh starts it): SASL/SCRAM-SHA-512 over
//! TLS with the test CA, and mutual TLS with a client certificate. Every client
//! the binary makes takes part: the simulator's producer, the pipeline's consumer
//! and its dead-letter producer. A wrong password and an untrusted CA each stop
//! the command quickly with one error naming the broker and the cause.

mod common;
use common::*;
use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// As tests/kafka_pipeline.rs: every table gets events (status changes too).
const SIM: [&str; 8] = [
    "-n",
    "120",
    "-s",
    "2026-11-02T00:00:00",
    "-e",
    "2026-11-03T12:00:00",
    "-r",
    "5",
];

/// A refused client must give up well within this (kafka_security::CHECK_TIMEOUT
/// is the longest it waits for a broker that does not answer at all).
const REFUSAL_BOUND: Duration = Duration::from_secs(30);

/// The secured listeners and the test material, from `scripts/kafka.sh
/// secure-env` for the test broker (started with MUSICALY_KAFKA_SECURE=1 by
/// scripts/test.sh); a failure without them.
fn secure() -> Option<HashMap<String, String>> {
    let brokers = kafka();
    let port = brokers.rsplit(':').next().unwrap_or("").to_string();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/kafka.sh");
    let out = std::process::Command::new("bash")
        .arg(script)
        .arg("secure-env")
        .env("MUSICALY_KAFKA_SECURE", "1")
        .env("MUSICALY_KAFKA_PORT", &port)
        .output()
        .expect("run scripts/kafka.sh");
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr).into_owned();
        panic!("the test broker has no secured listeners (start it with MUSICALY_KAFKA_SECURE=1): {why}");
    }
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

/// The `[kafka]` section for the SASL_SSL listener, with `password_file` and `ca`.
fn sasl_ssl_section(env: &HashMap<String, String>, password_file: &str, ca: &str) -> String {
    format!(
        "brokers = \"{}\"\nsecurity_protocol = \"sasl_ssl\"\nsasl_mechanism = \"{}\"\nsasl_username = \"{}\"\nsasl_password_file = \"{password_file}\"\nssl_ca_file = \"{ca}\"\n",
        env["SASL_SSL_BOOTSTRAP"], env["SCRAM_MECHANISM"], env["SCRAM_USERNAME"]
    )
}

fn write_config(dir: &Path, name: &str, data: &Path, kafka: &str, extra: &str) -> String {
    let p = dir.join(name);
    std::fs::write(
        &p,
        format!(
            "[data]\ndir = \"{}\"\n[lake]\nfile_max_age_secs = 1\n[web]\nlisten = \"\"\n[pipeline]\nbatch_max_age_ms = 300\n{extra}\n[kafka]\n{kafka}",
            data.display()
        ),
    )
    .unwrap();
    p.to_string_lossy().into_owned()
}

/// Runs `musicaly` with args and asserts it fails within REFUSAL_BOUND with an
/// error that names `broker` and contains every one of `causes`, once.
fn assert_refused(args: &[&str], broker: &str, causes: &[&str]) {
    let started = Instant::now();
    let mut child = bin()
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if started.elapsed() > REFUSAL_BOUND {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "musicaly {args:?} still running after {REFUSAL_BOUND:?}; stderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "musicaly {args:?} succeeded: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.contains("refused")).collect();
    assert_eq!(lines.len(), 1, "want one error line, stderr:\n{err}");
    assert!(
        lines[0].contains(broker),
        "error does not name {broker}: {err}"
    );
    for c in causes {
        assert!(lines[0].contains(c), "error does not say {c:?}: {err}");
    }
    eprintln!(
        "refused in {:.1}s: {}",
        started.elapsed().as_secs_f64(),
        lines[0]
    );
}

#[test]
#[ignore = "needs Kafka: run scripts/test.sh (or set MUSICALY_TEST_KAFKA)"]
fn pipeline_over_sasl_ssl_gets_every_event_into_the_lake() {
    let Some(env) = secure() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let prefix = unique("sec");
    let topics = prefixed_topics(&prefix);
    let data = tmp.path().join("data");
    let kafka = sasl_ssl_section(&env, &env["SCRAM_PASSWORD_FILE"], &env["CA_FILE"]);
    let quoted: Vec<String> = topics.iter().map(|t| format!("\"{t}\"")).collect();
    let group = unique("gsec");
    let cfg = write_config(
        tmp.path(),
        "sasl.toml",
        &data,
        &format!(
            "{kafka}group_id = \"{group}\"\ntopics = [{}]\n[kafka.properties]\n\"session.timeout.ms\" = \"6000\"\n\"heartbeat.interval.ms\" = \"500\"\n",
            quoted.join(", ")
        ),
        // The dead-letter producer is made (and connects) too.
        "[decode]\ndead_letters = \"both\"\n",
    );

    // Produced over SASL_SSL by the simulator; the same run into files counts them.
    let sim_dir = tmp.path().join("sim");
    run_ok(bin().arg("simulate").args(SIM).arg(&sim_dir));
    let produced = count_lines(&sim_dir);
    assert!(produced.iter().all(|(_, n)| *n > 0), "{produced:?}");
    run_ok(bin().arg("simulate").args(SIM).args([
        "-k",
        &env["SASL_SSL_BOOTSTRAP"],
        "--topic-prefix",
        &format!("{prefix}."),
        "--settings",
        &cfg,
    ]));

    let mut p = Pipeline::start(Path::new(&cfg), &[]);
    let lake = data.join("lake");
    let c = duck();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !produced.iter().all(|(t, n)| lake_rows(&c, &lake, t) >= *n) {
        if let Some(s) = p.exited() {
            panic!("pipeline exited early with {s}");
        }
        assert!(
            Instant::now() < deadline,
            "pipeline did not consume everything over SASL_SSL in time"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let status = p.terminate(Duration::from_secs(60));
    assert!(status.success(), "pipeline exit {status}");
    assert_exactly_once(&lake, &produced);
}

#[test]
#[ignore = "needs Kafka: run scripts/test.sh (or set MUSICALY_TEST_KAFKA)"]
fn mutual_tls_with_a_client_certificate_and_without_one() {
    let Some(env) = secure() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let prefix = unique("mtls");
    let data = tmp.path().join("data");
    let broker = &env["SSL_BOOTSTRAP"];
    let with_cert = write_config(
        tmp.path(),
        "mtls.toml",
        &data,
        &format!(
            "brokers = \"{broker}\"\nsecurity_protocol = \"ssl\"\nssl_ca_file = \"{}\"\nssl_certificate_file = \"{}\"\nssl_key_file = \"{}\"\n",
            env["CA_FILE"], env["CLIENT_CERTIFICATE_FILE"], env["CLIENT_KEY_FILE"]
        ),
        "",
    );
    run_ok(bin().arg("simulate").args(SIM).args([
        "-k",
        broker,
        "--topic-prefix",
        &format!("{prefix}."),
        "--settings",
        &with_cert,
    ]));
    // The broker requires a client certificate on this listener.
    let without = write_config(
        tmp.path(),
        "nocert.toml",
        &data,
        &format!(
            "brokers = \"{broker}\"\nsecurity_protocol = \"ssl\"\nssl_ca_file = \"{}\"\n",
            env["CA_FILE"]
        ),
        "",
    );
    assert_refused(
        &["simulate", "-n", "2", "-k", broker, "--settings", &without],
        broker,
        &["TLS handshake failed"],
    );
}

#[test]
#[ignore = "needs Kafka: run scripts/test.sh (or set MUSICALY_TEST_KAFKA)"]
fn wrong_password_is_one_clear_error_naming_the_broker() {
    let Some(env) = secure() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let wrong = tmp.path().join("wrong.password");
    std::fs::write(&wrong, "not-the-password\n").unwrap();
    let broker = &env["SASL_SSL_BOOTSTRAP"];
    let cfg = write_config(
        tmp.path(),
        "wrong.toml",
        &tmp.path().join("data"),
        &format!(
            "{}group_id = \"{}\"\n",
            sasl_ssl_section(&env, &wrong.to_string_lossy(), &env["CA_FILE"]),
            unique("gwrong")
        ),
        "",
    );
    assert_refused(
        &["pipeline", "--config", &cfg],
        broker,
        &["consumer", "authentication failed"],
    );
    assert_refused(
        &["simulate", "-n", "2", "-k", broker, "--settings", &cfg],
        broker,
        &["producer", "authentication failed"],
    );
}

#[test]
#[ignore = "needs Kafka: run scripts/test.sh (or set MUSICALY_TEST_KAFKA)"]
fn untrusted_ca_is_one_clear_error_naming_the_broker() {
    let Some(env) = secure() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let broker = &env["SASL_SSL_BOOTSTRAP"];
    let cfg = write_config(
        tmp.path(),
        "untrusted.toml",
        &tmp.path().join("data"),
        &format!(
            "{}group_id = \"{}\"\n",
            sasl_ssl_section(&env, &env["SCRAM_PASSWORD_FILE"], &env["UNTRUSTED_CA_FILE"]),
            unique("gca")
        ),
        "",
    );
    assert_refused(
        &["pipeline", "--config", &cfg],
        broker,
        &["TLS handshake failed", "certificate verify failed"],
    );
}
