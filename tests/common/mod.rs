//! Helpers shared by the integration tests: running the real binary, counting
//! what the simulator produced, and reading the lake with DuckDB.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const TABLES: [&str; 4] = [
    "page_view_events",
    "listen_events",
    "auth_events",
    "status_change_events",
];

pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_musicaly"));
    c.env("RUST_LOG", "warn");
    c
}

pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("spawn musicaly");
    assert!(
        out.status.success(),
        "command failed: {:?}\nstdout:\n{}\nstderr:\n{}",
        cmd,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Lines per `<topic>.json` file of a `musicaly simulate OUTPUT` directory.
pub fn count_lines(dir: &Path) -> Vec<(String, u64)> {
    TABLES
        .iter()
        .map(|t| {
            let p = dir.join(format!("{t}.json"));
            let text =
                std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (t.to_string(), text.lines().count() as u64)
        })
        .collect()
}

/// An in-memory DuckDB for reading the lake independently of the program.
pub fn duck() -> duckdb::Connection {
    let c = duckdb::Connection::open_in_memory().unwrap();
    c.execute_batch("SET TimeZone = 'UTC';").unwrap();
    c
}

pub fn lake_glob(lake: &Path, table: &str) -> String {
    format!("{}/{table}/**/*.parquet", lake.display())
}

/// Rows of a lake table, 0 when it has no file.
pub fn lake_rows(c: &duckdb::Connection, lake: &Path, table: &str) -> u64 {
    if !lake.join(table).exists() {
        return 0;
    }
    c.query_row(
        &format!(
            "SELECT count(*) FROM read_parquet('{}')",
            lake_glob(lake, table)
        ),
        [],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n as u64)
    .unwrap_or(0)
}

/// Distinct (partition, offset) identities of a lake table.
pub fn lake_identities(c: &duckdb::Connection, lake: &Path, table: &str) -> u64 {
    c.query_row(
        &format!(
            "SELECT count(DISTINCT (_partition, _offset)) FROM read_parquet('{}')",
            lake_glob(lake, table)
        ),
        [],
        |r| r.get::<_, i64>(0),
    )
    .unwrap() as u64
}

/// Where the fixtures are (CI has them at ../shared/fixtures).
pub fn fixtures() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures");
    if p.exists() {
        Some(p)
    } else if std::env::var("MUSICALY_REQUIRE_SERVICES").is_ok() {
        panic!("fixtures missing at {} (required in CI)", p.display());
    } else {
        eprintln!("skipping: fixtures not found at {}", p.display());
        None
    }
}

/// The test Kafka broker, started by scripts/test.sh. Without it the test is
/// skipped, except under MUSICALY_REQUIRE_SERVICES (CI), where it fails.
pub fn kafka() -> Option<String> {
    match std::env::var("MUSICALY_TEST_KAFKA") {
        Ok(b) => Some(b),
        Err(_) if std::env::var("MUSICALY_REQUIRE_SERVICES").is_ok() => {
            panic!("MUSICALY_TEST_KAFKA is not set but services are required")
        }
        Err(_) => {
            eprintln!("skipping: no Kafka (run through scripts/test.sh, or set MUSICALY_TEST_KAFKA=127.0.0.1:PORT)");
            None
        }
    }
}

/// A unique-enough name for topics and groups of one test run.
pub fn unique(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{name}{}x{}", std::process::id(), nanos % 1_000_000_000)
}

/// Tables of the warehouse compared by the tests: raw events and the star schema.
pub const WAREHOUSE_TABLES: [&str; 13] = [
    "page_view_events",
    "listen_events",
    "auth_events",
    "status_change_events",
    "dim_users",
    "dim_songs",
    "dim_artists",
    "dim_location",
    "dim_datetime",
    "fact_streams",
    "wide_streams",
    "fact_sessions",
    "agg_streams_hourly",
];

/// (rows, order-independent checksum of every row's values) of each warehouse table.
pub fn table_checksums(c: &duckdb::Connection, schema: &str) -> Vec<(String, i64, String)> {
    WAREHOUSE_TABLES
        .iter()
        .map(|t| {
            let (n, sum): (i64, String) = c
                .query_row(
                    &format!(
                        "SELECT count(*), coalesce(sum(hash(x::VARCHAR))::VARCHAR, '0') FROM {schema}.{t} x"
                    ),
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .unwrap_or_else(|e| panic!("{schema}.{t}: {e}"));
            (t.to_string(), n, sum)
        })
        .collect()
}

/// The venv's dbt, made by scripts/test.sh. Without it the test is skipped,
/// except under MUSICALY_REQUIRE_SERVICES (CI), where it fails.
pub fn dbt() -> Option<PathBuf> {
    match std::env::var("MUSICALY_DBT") {
        Ok(p) => Some(PathBuf::from(p)),
        Err(_) if std::env::var("MUSICALY_REQUIRE_SERVICES").is_ok() => {
            panic!("MUSICALY_DBT is not set but services are required")
        }
        Err(_) => {
            eprintln!("skipping: no dbt (run through scripts/test.sh, or set MUSICALY_DBT=/path/to/venv/bin/dbt)");
            None
        }
    }
}

/// The test fake-gcs-server's base URL, started by scripts/test.sh.
pub fn fake_gcs() -> Option<String> {
    match std::env::var("MUSICALY_TEST_GCS") {
        Ok(p) => Some(p),
        Err(_) if std::env::var("MUSICALY_REQUIRE_SERVICES").is_ok() => {
            panic!("MUSICALY_TEST_GCS is not set but services are required")
        }
        Err(_) => {
            eprintln!("skipping: no fake-gcs-server (run through scripts/test.sh, or set MUSICALY_TEST_GCS=http://127.0.0.1:PORT)");
            None
        }
    }
}

/// Writes a lake file of listens copied from an existing hour with artist, song
/// and every location field NULL, under new identities (partition 97), the way a
/// listen of a song and artist no catalogue knows, from nowhere, would arrive.
pub fn add_listens_with_missing_fields(lake: &Path) -> i64 {
    let c = duck();
    let glob = lake_glob(lake, "listen_events");
    let hour_dir: String = c
        .query_row(
            &format!("SELECT strftime(min(ts), 'year=%Y/month=%m/day=%d/hour=%H') FROM read_parquet('{glob}')"),
            [],
            |r| r.get(0),
        )
        .unwrap();
    let dir = lake.join("listen_events").join(&hour_dir);
    let file = dir.join("listen_events-97-00000000000000000000-00000000000000000009.parquet");
    c.execute_batch(&format!(
        "COPY (SELECT * REPLACE (NULL::VARCHAR AS artist, CASE WHEN _offset % 2 = 0 THEN NULL::VARCHAR ELSE song END AS song,
                NULL::VARCHAR AS city, NULL::VARCHAR AS zip, NULL::VARCHAR AS state, NULL::DOUBLE AS lat, NULL::DOUBLE AS lon,
                97 AS _partition, _offset * 1024 + _partition AS _offset)
               FROM read_parquet('{glob}') WHERE strftime(ts, 'year=%Y/month=%m/day=%d/hour=%H') = '{hour_dir}'
               ORDER BY _partition, _offset LIMIT 10)
         TO '{}' (FORMAT parquet, COMPRESSION zstd)",
        file.display()
    ))
    .unwrap();
    scalar(
        &c,
        &format!("SELECT count(*) FROM read_parquet('{}')", file.display()),
    )
}

pub fn scalar(c: &duckdb::Connection, sql: &str) -> i64 {
    c.query_row(sql, [], |r| r.get(0))
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// The test S3 emulator's endpoint, started by scripts/test.sh.
pub fn s3_emulator() -> Option<String> {
    match std::env::var("MUSICALY_TEST_S3") {
        Ok(p) => Some(p),
        Err(_) if std::env::var("MUSICALY_REQUIRE_SERVICES").is_ok() => {
            panic!("MUSICALY_TEST_S3 is not set but services are required")
        }
        Err(_) => {
            eprintln!("skipping: no S3 emulator (run through scripts/test.sh, or set MUSICALY_TEST_S3=http://127.0.0.1:PORT)");
            None
        }
    }
}
