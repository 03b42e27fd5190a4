//! The BigQuery path, as far as it can be tested without Google: `musicaly
//! bigquery` prints DDL and load-job bodies for the GCS lake, and `dbt compile
//! --target bigquery` (dbt-bigquery from the venv, with a throwaway service-account
//! key: compiling sends nothing) renders every model with BigQuery SQL and
//! hour-partitioned incremental configs.

mod common;
use common::*;

use std::path::Path;

#[test]
fn bigquery_ddl_and_load_jobs_from_the_cli() {
    let out = run_ok(bin().args([
        "bigquery",
        "--project",
        "acme-music",
        "--lake",
        "gs://acme-lake/prod",
    ]));
    let ddl = String::from_utf8_lossy(&out.stdout);
    for t in TABLES {
        assert!(ddl.contains(&format!(
            "CREATE OR REPLACE EXTERNAL TABLE `acme-music.musicaly_lake.{t}`"
        )));
        assert!(ddl.contains(&format!("uris = ['gs://acme-lake/prod/{t}/*']")));
    }
    let out = run_ok(bin().args([
        "bigquery",
        "--project",
        "acme-music",
        "--lake",
        "gs://acme-lake/prod",
        "--hour",
        "2026-11-07T05:00:00",
    ]));
    let jobs: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(jobs.len(), 4);
    for j in &jobs {
        let load = &j["configuration"]["load"];
        assert!(load["destinationTable"]["tableId"]
            .as_str()
            .unwrap()
            .ends_with("$2026110705"));
        assert!(load["sourceUris"][0]
            .as_str()
            .unwrap()
            .contains("/year=2026/month=11/day=07/hour=05/"));
    }
    // a local lake is refused with a clear message
    let out = bin()
        .args(["bigquery", "--project", "p", "--lake", "/tmp/lake"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("gs://bucket/prefix"));
}

#[test]
#[ignore = "needs dbt: run scripts/test.sh (or set MUSICALY_DBT)"]
fn dbt_compiles_for_bigquery() {
    let dbt = dbt();
    let python = dbt.with_file_name("python");
    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("sa.json");
    // A syntactically valid service-account key that grants nothing.
    run_ok(std::process::Command::new(&python).arg("-c").arg(format!(
        r#"
import json
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives import serialization
k = rsa.generate_private_key(public_exponent=65537, key_size=2048)
pem = k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
json.dump({{"type": "service_account", "project_id": "acme-music", "private_key_id": "0", "private_key": pem,
           "client_email": "dbt@acme-music.iam.gserviceaccount.com", "client_id": "0",
           "token_uri": "https://oauth2.googleapis.com/token"}}, open({:?}, "w"))
"#,
        key.display().to_string()
    )));
    let project = Path::new(env!("CARGO_MANIFEST_DIR")).join("warehouse");
    let target = tmp.path().join("target");
    let out = run_ok(
        std::process::Command::new(&dbt)
            .arg("compile")
            .arg("--project-dir")
            .arg(&project)
            .arg("--profiles-dir")
            .arg(&project)
            .arg("--target-path")
            .arg(&target)
            .args([
                "--target",
                "bigquery",
                "--no-populate-cache",
                "--no-use-colors",
                "--vars",
                "{hours: ['2026-11-07 05:00:00']}",
            ])
            .env("DBT_LOG_PATH", tmp.path().join("logs"))
            .env("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
            .env("MUSICALY_BQ_METHOD", "service-account")
            .env("GOOGLE_APPLICATION_CREDENTIALS", &key)
            .env("MUSICALY_BQ_PROJECT", "acme-music"),
    );
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(!log.contains("Deprecat"), "{log}");
    let compiled = target.join("compiled/musicaly/models");
    let read = |p: &str| std::fs::read_to_string(compiled.join(p)).unwrap();
    let fact = read("marts/fact_streams.sql");
    assert!(fact.contains("to_hex(md5("), "{fact}");
    assert!(
        fact.contains("format_timestamp('%Y%m%d%H', l.ts)"),
        "{fact}"
    );
    assert!(
        fact.contains("timestamp_trunc(l.ts, hour) in (timestamp '2026-11-07 05:00:00+00')"),
        "{fact}"
    );
    assert!(
        fact.contains("`acme-music`.`musicaly`.`listen_events`"),
        "{fact}"
    );
    let staging = read("staging/listen_events.sql");
    assert!(
        staging.contains("`acme-music`.`musicaly_lake`.`listen_events`"),
        "{staging}"
    );
    assert!(read("marts/dim_datetime.sql").contains("generate_timestamp_array"));
    // hour-partitioned, insert_overwrite incremental models
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(target.join("manifest.json")).unwrap())
            .unwrap();
    for model in [
        "fact_streams",
        "listen_events",
        "page_view_events",
        "int_user_level_points",
    ] {
        let node = &manifest["nodes"][format!("model.musicaly.{model}")];
        let cfg = &node["config"];
        assert_eq!(cfg["materialized"], "incremental", "{model}");
        assert_eq!(cfg["incremental_strategy"], "insert_overwrite", "{model}");
        assert_eq!(cfg["partition_by"]["granularity"], "hour", "{model}");
        assert_eq!(cfg["partition_by"]["field"], "ts", "{model}");
    }
}
