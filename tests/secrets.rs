//! Secrets never reach the output: with a recognisable Kafka password in the
//! password file and in the environment, and GOOGLE_APPLICATION_CREDENTIALS
//! pointing at a fake service-account key with a recognisable private key, every
//! command (`--help`s, `config`, `simulate`, `run`, `pipeline`, `load`, `report`,
//! `bigquery`) and its error paths run, and their stdout, stderr and the
//! pipeline's /metrics, /health and /api/live are scanned for the secrets.

mod common;
use common::*;
use std::process::Output;
use std::time::Duration;

const FILE_PASSWORD: &str = "pw-file-SECRET-4b1d2c7e";
const ENV_PASSWORD: &str = "pw-env-SECRET-9e8f7a61";
const PRIVATE_KEY: &str = "KEY-SECRET-MIIEvQIBADANBgkqhkiG9w0BAQEFAASC";
const AWS_SECRET: &str = "aws-SECRET-wJalrXUtnFEMIK7MDENG";
const SECRETS: [&str; 4] = [FILE_PASSWORD, ENV_PASSWORD, PRIVATE_KEY, AWS_SECRET];

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("kafka-pass"), format!("{FILE_PASSWORD}\n")).unwrap();
        let key = serde_json::json!({
            "type": "service_account",
            "project_id": "musicaly-test",
            "private_key_id": "0123456789abcdef",
            "private_key": format!("-----BEGIN PRIVATE KEY-----\n{PRIVATE_KEY}\n-----END PRIVATE KEY-----\n"),
            "client_email": "musicaly@musicaly-test.iam.gserviceaccount.com",
            "client_id": "1",
            "token_uri": "http://127.0.0.1:1/token"
        });
        std::fs::write(dir.path().join("gcp-key.json"), key.to_string()).unwrap();
        Fixture { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_string_lossy().into_owned()
    }

    /// A config file: `kafka` lines under [kafka], `extra` before it.
    fn config(&self, name: &str, extra: &str, kafka: &str) -> String {
        let p = self.path(name);
        std::fs::write(
            &p,
            format!(
                "[data]\ndir = \"{}\"\n{extra}\n[kafka]\n{kafka}\n",
                self.path("data")
            ),
        )
        .unwrap();
        p
    }

    /// `musicaly ARGS` with every secret in its environment.
    fn cmd(&self, args: &[&str]) -> std::process::Command {
        let mut c = bin();
        c.args(args)
            .env("RUST_LOG", "debug")
            .env("MUSICALY_KAFKA_SASL_PASSWORD", ENV_PASSWORD)
            .env("GOOGLE_APPLICATION_CREDENTIALS", self.path("gcp-key.json"))
            .env("AWS_ACCESS_KEY_ID", "AKIAMUSICALYTEST")
            .env("AWS_SECRET_ACCESS_KEY", AWS_SECRET);
        c
    }
}

fn assert_clean(what: &str, text: &str) {
    for s in SECRETS {
        assert!(!text.contains(s), "{what} shows the secret {s:?}:\n{text}");
    }
}

/// Runs to the end and scans both streams; returns whether it succeeded.
fn scan(f: &Fixture, args: &[&str]) -> bool {
    let out: Output = f.cmd(args).output().expect("spawn musicaly");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_clean(&format!("musicaly {args:?}"), &text);
    out.status.success()
}

#[test]
fn help_config_and_their_errors_never_show_a_secret() {
    let f = Fixture::new();
    assert!(scan(&f, &["--help"]));
    assert!(scan(&f, &["--version"]));
    for sub in [
        "run", "simulate", "pipeline", "load", "report", "bigquery", "config",
    ] {
        assert!(scan(&f, &[sub, "--help"]), "{sub} --help failed");
    }
    let sasl = format!(
        "brokers = \"127.0.0.1:1\"\nsecurity_protocol = \"sasl_ssl\"\nsasl_username = \"musicaly\"\nsasl_password_file = \"{}\"\nssl_ca_file = \"{}\"",
        f.path("kafka-pass"),
        f.path("missing-ca.pem")
    );
    let cfg = f.config("sasl.toml", "", &sasl);
    assert!(scan(&f, &["config", "--config", &cfg]));
    // A password inline in the file is refused without being echoed.
    let inline = f.config(
        "inline.toml",
        "",
        &format!("[kafka.properties]\n\"sasl.password\" = \"{FILE_PASSWORD}\""),
    );
    assert!(!scan(&f, &["config", "--config", &inline]));
    // ...and so is a password key in the environment.
    let out = f
        .cmd(&["config"])
        .env("MUSICALY__KAFKA__SASL_PASSWORD", ENV_PASSWORD)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_clean(
        "config with MUSICALY__KAFKA__SASL_PASSWORD",
        &format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    );
    // Error paths of the Kafka clients: a missing CA file, no password at all.
    assert!(!scan(
        &f,
        &[
            "simulate",
            "-n",
            "2",
            "-k",
            "127.0.0.1:1",
            "--settings",
            &cfg
        ]
    ));
    let no_password = f.config(
        "nopw.toml",
        "",
        "brokers = \"127.0.0.1:1\"\nsecurity_protocol = \"sasl_plaintext\"\nsasl_username = \"musicaly\"",
    );
    let out = f
        .cmd(&[
            "simulate",
            "-n",
            "2",
            "-k",
            "127.0.0.1:1",
            "--settings",
            &no_password,
        ])
        .env_remove("MUSICALY_KAFKA_SASL_PASSWORD")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("MUSICALY_KAFKA_SASL_PASSWORD"), "{err}");
}

#[test]
fn data_commands_and_their_errors_never_show_a_secret() {
    let f = Fixture::new();
    let range = ["-s", "2026-11-01T00:00:00", "-e", "2026-11-01T06:00:00"];
    let mut sim = vec!["simulate", "-n", "3", "--stdout"];
    sim.extend(range);
    assert!(scan(&f, &sim));
    let data = f.path("data");
    let mut run = vec!["run", "-n", "3", "--data-dir", &data];
    run.extend(range);
    assert!(scan(&f, &run), "run failed");
    assert!(scan(&f, &["report", "--data-dir", &data]));
    assert!(scan(&f, &["load", "--data-dir", &data]));
    assert!(!scan(
        &f,
        &["report", "--data-dir", &f.path("nothing-here")]
    ));
    // A GCS lake with the fake key: the object store reads the key file.
    let gcs = f.config(
        "gcs.toml",
        "[lake]\npath = \"gs://musicaly-secret-test/lake\"",
        "",
    );
    let _ = scan(&f, &["load", "--config", &gcs]);
    assert!(scan(&f, &["bigquery", "--project", "p", "--config", &gcs]));
    let _ = scan(
        &f,
        &[
            "bigquery",
            "--project",
            "p",
            "--config",
            &gcs,
            "--hour",
            "2026-11-01T00",
        ],
    );
    let s3 = f.config(
        "s3.toml",
        "[lake]\npath = \"s3://musicaly-secret-test/lake\"",
        "",
    );
    let _ = scan(&f, &["load", "--config", &s3]);
}

#[test]
fn a_running_pipeline_never_shows_a_secret_in_logs_or_metrics() {
    let f = Fixture::new();
    let port = free_port();
    // SASL with the password from the file and from the environment, to a
    // broker that is not there: the client retries while the web face serves.
    for (name, password_file) in [("file", f.path("kafka-pass")), ("env", String::new())] {
        let cfg = f.config(
            &format!("pipeline-{name}.toml"),
            &format!("[web]\nlisten = \"127.0.0.1:{port}\"\n[warehouse]\nenabled = false"),
            &format!(
                "brokers = \"127.0.0.1:1\"\nsecurity_protocol = \"sasl_plaintext\"\nsasl_username = \"musicaly\"\nsasl_password_file = \"{password_file}\"\ngroup_id = \"secrets\""
            ),
        );
        let log = f.path(&format!("pipeline-{name}.log"));
        let child = f
            .cmd(&["pipeline", "--config", &cfg])
            .stdout(std::fs::File::create(format!("{log}.out")).unwrap())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let p = Pipeline { child };
        wait_until("the web face", Duration::from_secs(60), || {
            http_get(port, "/health").is_ok()
        });
        let mut pages = String::new();
        for path in ["/metrics", "/health", "/api/live"] {
            match http_get(port, path) {
                Ok(body) => pages.push_str(&body),
                Err(e) => panic!("GET {path}: {e}"),
            }
        }
        assert!(pages.contains("musicaly_"), "no metrics served: {pages}");
        assert_clean("/metrics, /health, /api/live", &pages);
        let _ = p.terminate(Duration::from_secs(90));
        let logs = std::fs::read_to_string(&log).unwrap()
            + &std::fs::read_to_string(format!("{log}.out")).unwrap();
        assert!(
            !logs.is_empty(),
            "the pipeline logged nothing at debug level"
        );
        assert_clean(&format!("pipeline ({name}) stdout and stderr"), &logs);
    }
}
