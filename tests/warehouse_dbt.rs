//! The dbt project (`warehouse/`) and the service build the same warehouse: after
//! `musicaly run`, `dbt build` (dbt-duckdb from the venv scripts/test.sh makes)
//! passes its tests on the run's lake, and every table equals the service's, row
//! for row (EXCEPT ALL both ways).

mod common;
use common::*;

use std::path::Path;

#[test]
#[ignore = "needs dbt: run scripts/test.sh (or set MUSICALY_DBT)"]
fn dbt_build_on_the_lake_equals_the_service_warehouse() {
    let dbt = dbt();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    run_ok(
        bin()
            .arg("run")
            .args([
                "-n",
                "100",
                "-s",
                "2026-11-06T00:00:00",
                "-e",
                "2026-11-07T12:00:00",
                "-r",
                "21",
                "--data-dir",
            ])
            .arg(&data),
    );
    let lake = data.join("lake");
    assert_eq!(add_listens_with_missing_fields(&lake), 10);
    run_ok(bin().arg("load").arg("--data-dir").arg(&data));

    let project = Path::new(env!("CARGO_MANIFEST_DIR")).join("warehouse");
    let dbt_db = tmp.path().join("dbt.duckdb");
    let mut cmd = std::process::Command::new(&dbt);
    cmd.arg("build")
        .arg("--project-dir")
        .arg(&project)
        .arg("--profiles-dir")
        .arg(&project)
        .arg("--target-path")
        .arg(tmp.path().join("dbt-target"))
        .args(["--target", "duckdb", "--no-use-colors"])
        .env("DBT_LOG_PATH", tmp.path().join("dbt-logs"))
        .env("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
        .env("MUSICALY_LAKE", &lake)
        .env("MUSICALY_DBT_DB", &dbt_db);
    let out = cmd.output().expect("spawn dbt");
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "dbt build failed:\n{log}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(log.contains("Completed successfully"), "{log}");
    assert!(
        log.contains("WARN=0 ERROR=0"),
        "dbt warned or failed:\n{log}"
    );

    let c = duckdb::Connection::open(data.join("warehouse.duckdb")).unwrap();
    c.execute_batch(&format!(
        "SET TimeZone = 'UTC'; ATTACH '{}' AS dbt (READ_ONLY);",
        dbt_db.display()
    ))
    .unwrap();
    for t in WAREHOUSE_TABLES {
        let n = scalar(&c, &format!("SELECT count(*) FROM main.{t}"));
        assert!(n > 0, "{t} is empty");
        assert_eq!(
            scalar(&c, &format!("SELECT count(*) FROM dbt.main.{t}")),
            n,
            "{t} rows"
        );
        for (a, b) in [("main", "dbt.main"), ("dbt.main", "main")] {
            let diff = scalar(
                &c,
                &format!(
                    "SELECT count(*) FROM (SELECT * FROM {a}.{t} EXCEPT ALL SELECT * FROM {b}.{t})"
                ),
            );
            assert_eq!(diff, 0, "{t}: {diff} rows of {a} not in {b}");
        }
    }
    // the unknown members are exercised on both sides
    assert_eq!(
        scalar(
            &c,
            "SELECT count(*) FROM dbt.main.fact_streams WHERE artist_key = 'unknown'"
        ),
        10
    );
}
