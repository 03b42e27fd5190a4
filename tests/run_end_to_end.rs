//! `musicaly run` end to end: the lake holds exactly what the simulator produced,
//! hive-partitioned; the warehouse is loaded; `report --format json` equals the
//! three questions recomputed here, independently, over the lake's Parquet files.

mod common;
use common::*;

const SIM: [&str; 8] = [
    "-n",
    "150",
    "-s",
    "2026-11-06T00:00:00",
    "-e",
    "2026-11-08T00:00:00",
    "-r",
    "11",
];

#[test]
fn run_builds_lake_and_warehouse_and_report_matches_lake() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let out = run_ok(bin().arg("run").args(SIM).arg("--data-dir").arg(&data));
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed.contains("Top songs"),
        "run printed no answers:\n{printed}"
    );

    // What the simulator produces for the same flags, written to files.
    let sim_dir = tmp.path().join("sim");
    run_ok(bin().arg("simulate").args(SIM).arg(&sim_dir));
    let produced = count_lines(&sim_dir);

    let lake = data.join("lake");
    let c = duck();
    for (table, n) in &produced {
        assert!(*n > 0, "simulator produced no {table}");
        assert_eq!(lake_rows(&c, &lake, table), *n, "lake rows of {table}");
        assert_eq!(
            lake_identities(&c, &lake, table),
            *n,
            "distinct identities of {table}"
        );
    }
    // Hive layout: <table>/year=YYYY/month=MM/day=DD/hour=HH/<file>.parquet
    for table in TABLES {
        let files = glob_files(&lake.join(table));
        assert!(!files.is_empty(), "no files for {table}");
        for f in files {
            let rel = f
                .strip_prefix(lake.join(table))
                .unwrap()
                .to_string_lossy()
                .to_string();
            let parts: Vec<&str> = rel.split('/').collect();
            assert_eq!(parts.len(), 5, "{rel}");
            for (p, k) in parts.iter().zip(["year=", "month=", "day=", "hour="]) {
                assert!(p.starts_with(k), "{rel}");
            }
            assert!(parts[4].ends_with(".parquet"));
        }
        // every row sits in the hour partition of its ts
        let misplaced: i64 = c
            .query_row(
                &format!(
                    "SELECT count(*) FROM read_parquet('{}', hive_partitioning = true)
                     WHERE year::INT != year(ts) OR month::INT != month(ts) OR day::INT != day(ts) OR hour::INT != hour(ts)",
                    lake_glob(&lake, table)
                ),
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(misplaced, 0, "{table} rows outside their hour partition");
    }

    // The warehouse holds the event tables.
    let wh = duckdb::Connection::open(data.join("warehouse.duckdb")).unwrap();
    for (table, n) in &produced {
        let got: i64 = wh
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap();
        assert_eq!(got as u64, *n, "warehouse {table}");
    }
    drop(wh);

    // report --format json: exactly the documented keys, equal to the lake.
    let out = run_ok(
        bin()
            .args(["report", "--format", "json", "--data-dir"])
            .arg(&data),
    );
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let keys: Vec<&str> = got
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            "active_users",
            "gender_composition",
            "stream_hours",
            "top_artists",
            "top_artists_gender",
            "top_songs",
            "users_by_state"
        ]
    );
    let want = expected_from_lake(&c, &lake, "TRUE");
    assert_report_eq(&got, &want);

    // and with filters
    let out = run_ok(
        bin()
            .args([
                "report",
                "--format",
                "json",
                "--state",
                "CA",
                "--from",
                "2026-11-07T00:00:00",
                "--to",
                "2026-11-07T12:00:00",
                "--data-dir",
            ])
            .arg(&data),
    );
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let want = expected_from_lake(&c, &lake, "state = 'CA' AND ts >= TIMESTAMPTZ '2026-11-07 00:00:00+00' AND ts < TIMESTAMPTZ '2026-11-07 12:00:00+00'");
    assert_report_eq(&got, &want);
}

fn glob_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

fn assert_report_eq(got: &serde_json::Value, want: &serde_json::Value) {
    for k in want.as_object().unwrap().keys() {
        if k == "stream_hours" {
            let (g, w) = (got[k].as_f64().unwrap(), want[k].as_f64().unwrap());
            assert!((g - w).abs() < 1e-6, "stream_hours {g} vs {w}");
        } else {
            assert_eq!(got[k], want[k], "{k}");
        }
    }
    assert!(want["active_users"].as_i64().unwrap() > 0 || got["active_users"] == 0);
}

/// The three questions, written again from their definitions, over read_parquet.
fn expected_from_lake(
    c: &duckdb::Connection,
    lake: &std::path::Path,
    cond: &str,
) -> serde_json::Value {
    use serde_json::json;
    let l = format!(
        "(SELECT * FROM read_parquet('{}') WHERE {cond})",
        lake_glob(lake, "listen_events")
    );
    let (users, secs): (i64, Option<f64>) = c
        .query_row(
            &format!("SELECT count(DISTINCT userId), sum(duration) FROM {l}"),
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let rows = |sql: String, n: usize| -> Vec<Vec<serde_json::Value>> {
        let mut st = c.prepare(&sql).unwrap();
        st.query_map([], |r| {
            let mut v = Vec::new();
            for i in 0..n {
                let x: duckdb::types::Value = r.get(i)?;
                v.push(match x {
                    duckdb::types::Value::Null => serde_json::Value::Null,
                    duckdb::types::Value::BigInt(i) => json!(i),
                    duckdb::types::Value::Text(s) => json!(s),
                    other => json!(format!("{other:?}")),
                });
            }
            Ok(v)
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
    };
    let by_state: Vec<_> = rows(
        format!(
            "SELECT state, count(DISTINCT userId) n FROM {l} GROUP BY 1 ORDER BY n DESC, state"
        ),
        2,
    )
    .into_iter()
    .map(|r| json!({"state": r[0], "users": r[1]}))
    .collect();
    let gender: Vec<_> = rows(
        format!(
            "SELECT gender, count(DISTINCT userId) n FROM {l} GROUP BY 1 ORDER BY n DESC, gender"
        ),
        2,
    )
    .into_iter()
    .map(|r| json!({"gender": r[0], "users": r[1]}))
    .collect();
    let top5: Vec<_> = rows(
        format!("SELECT artist, count(*) n FROM {l} GROUP BY 1 ORDER BY n DESC, artist LIMIT 5"),
        2,
    );
    let mut tag = Vec::new();
    for a in &top5 {
        let name = a[0].as_str().unwrap().replace('\'', "''");
        for r in rows(format!("SELECT gender, count(DISTINCT userId) n FROM {l} WHERE artist = '{name}' GROUP BY 1 ORDER BY n DESC, gender"), 2) {
            tag.push(json!({"artist": a[0], "gender": r[0], "users": r[1]}));
        }
    }
    let songs: Vec<_> = rows(format!("SELECT artist, song, count(*) n FROM {l} GROUP BY 1, 2 ORDER BY n DESC, artist, song LIMIT 10"), 3)
        .into_iter().map(|r| json!({"artist": r[0], "song": r[1], "streams": r[2]})).collect();
    let artists: Vec<_> = top5_or_10(&rows(
        format!("SELECT artist, count(*) n FROM {l} GROUP BY 1 ORDER BY n DESC, artist LIMIT 10"),
        2,
    ));
    json!({
        "active_users": users,
        "stream_hours": secs.unwrap_or(0.0) / 3600.0,
        "users_by_state": by_state,
        "gender_composition": gender,
        "top_artists_gender": tag,
        "top_songs": songs,
        "top_artists": artists,
    })
}

fn top5_or_10(rows: &[Vec<serde_json::Value>]) -> Vec<serde_json::Value> {
    rows.iter()
        .map(|r| serde_json::json!({"artist": r[0], "streams": r[1]}))
        .collect()
}
