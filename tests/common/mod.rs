//! Helpers shared by the integration tests: running the real binary, counting
//! what the simulator produced, and reading the lake with DuckDB.
#![allow(dead_code)]

pub mod web;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const TABLES: [&str; 4] = [
    "page_view_events",
    "listen_events",
    "auth_events",
    "status_change_events",
];

/// The binary under test; `MUSICALY_TEST_BIN` overrides it (a copy, when
/// several worktrees share one target directory and rebuild it in turn).
pub fn bin() -> Command {
    let mut c = Command::new(
        std::env::var_os("MUSICALY_TEST_BIN")
            .unwrap_or_else(|| env!("CARGO_BIN_EXE_musicaly").into()),
    );
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

/// Distinct (partition, offset) identities of a lake table, 0 when it has no file.
pub fn lake_identities(c: &duckdb::Connection, lake: &Path, table: &str) -> u64 {
    match c.query_row(
        &format!(
            "SELECT count(DISTINCT (_partition, _offset)) FROM read_parquet('{}')",
            lake_glob(lake, table)
        ),
        [],
        |r| r.get::<_, i64>(0),
    ) {
        Ok(n) => n as u64,
        Err(e) if e.to_string().contains("No files found") => 0,
        Err(e) => panic!("{table}: {e}"),
    }
}

/// The fixtures, real inputs written outside this project (CI has them at
/// ../shared/fixtures). Tests that read them are `#[ignore = "needs the
/// fixtures ..."]`; scripts/test.sh runs them with `--include-ignored`.
pub fn fixtures() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures");
    assert!(
        p.exists(),
        "needs the fixtures at {}: check out ../shared next to the project",
        p.display()
    );
    p
}

/// The test Kafka broker's bootstrap address. Tests that call this are marked
/// `#[ignore = "needs Kafka: ..."]`; scripts/test.sh starts it and runs them
/// with `--include-ignored`. Run without it, they fail with this message
/// rather than pass without testing anything.
pub fn kafka() -> String {
    match std::env::var("MUSICALY_TEST_KAFKA") {
        Ok(v) => v,
        Err(_) => {
            panic!("needs Kafka: run scripts/test.sh, which starts it and sets MUSICALY_TEST_KAFKA")
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

/// A `musicaly pipeline` child process.
pub struct Pipeline {
    pub child: std::process::Child,
}

impl Drop for Pipeline {
    /// A failed assertion must not leave a pipeline running.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Pipeline {
    /// Starts `musicaly pipeline` with a TOML config file and extra args.
    pub fn start(config: &Path, args: &[&str]) -> Pipeline {
        let child = bin()
            .arg("pipeline")
            .arg("--config")
            .arg(config)
            .args(args)
            .spawn()
            .expect("spawn pipeline");
        Pipeline { child }
    }

    pub fn kill9(mut self) {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGKILL) };
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for the exit status.
    pub fn terminate(mut self, timeout: std::time::Duration) -> std::process::ExitStatus {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        self.wait(timeout)
    }

    pub fn wait(&mut self, timeout: std::time::Duration) -> std::process::ExitStatus {
        let end = std::time::Instant::now() + timeout;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            if std::time::Instant::now() > end {
                let _ = self.child.kill();
                panic!("pipeline did not exit within {timeout:?}");
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().unwrap()
    }
}

/// Writes a pipeline config for a test: brokers, group, topics, data dir, batch
/// sizes, extra TOML lines. Lake files roll every second (`lake.file_max_age_secs`)
/// because the tests watch the lake fill while the pipeline runs.
pub fn pipeline_config(
    dir: &Path,
    brokers: &str,
    group: &str,
    topics: &[String],
    data: &Path,
    extra: &str,
) -> PathBuf {
    let topics: Vec<String> = topics.iter().map(|t| format!("\"{t}\"")).collect();
    let text = format!(
        "[data]\ndir = \"{}\"\n[lake]\nfile_max_age_secs = 1\n[web]\nlisten = \"127.0.0.1:0\"\n[pipeline]\nbatch_max_age_ms = 300\n{extra}\n[kafka]\nbrokers = \"{brokers}\"\ngroup_id = \"{group}\"\ntopics = [{}]\n[kafka.properties]\n\"session.timeout.ms\" = \"6000\"\n\"heartbeat.interval.ms\" = \"500\"\n",
        data.display(),
        topics.join(", ")
    );
    let p = dir.join(format!("{group}.toml"));
    std::fs::write(&p, text).unwrap();
    p
}

/// Creates topics with a partition count (idempotent enough for fresh names).
pub fn create_topics(brokers: &str, names: &[String], partitions: i32) {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;
    use rdkafka::config::ClientConfig;
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap();
    let topics: Vec<NewTopic> = names
        .iter()
        .map(|n| NewTopic::new(n, partitions, TopicReplication::Fixed(1)))
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let res = rt
        .block_on(admin.create_topics(&topics, &AdminOptions::new()))
        .unwrap();
    for r in res {
        r.unwrap();
    }
}

/// Topic names `<prefix>.<table>` for the four tables.
pub fn prefixed_topics(prefix: &str) -> Vec<String> {
    TABLES.iter().map(|t| format!("{prefix}.{t}")).collect()
}

/// Simulates into files and into Kafka (same flags): returns the produced counts.
pub fn simulate_into_kafka(
    tmp: &Path,
    brokers: &str,
    prefix: &str,
    sim: &[&str],
) -> Vec<(String, u64)> {
    let sim_dir = tmp.join(format!("sim-{prefix}"));
    run_ok(bin().arg("simulate").args(sim).arg(&sim_dir));
    run_ok(bin().arg("simulate").args(sim).args([
        "-k",
        brokers,
        "--topic-prefix",
        &format!("{prefix}."),
    ]));
    count_lines(&sim_dir)
}

/// Asserts every produced event is in the lake exactly once.
pub fn assert_exactly_once(lake: &Path, produced: &[(String, u64)]) {
    let c = duck();
    for (table, n) in produced {
        assert_eq!(
            lake_rows(&c, lake, table),
            *n,
            "{table}: lake rows vs produced"
        );
        assert_eq!(
            lake_identities(&c, lake, table),
            *n,
            "{table}: distinct (partition, offset)"
        );
    }
}

/// Rows in the lake over all tables.
pub fn lake_total(lake: &Path) -> u64 {
    let c = duck();
    TABLES.iter().map(|t| lake_rows(&c, lake, t)).sum()
}

pub fn wait_until(what: &str, timeout: std::time::Duration, mut cond: impl FnMut() -> bool) {
    let end = std::time::Instant::now() + timeout;
    while !cond() {
        assert!(
            std::time::Instant::now() < end,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
}

/// A free loopback port (bound and released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// GET http://127.0.0.1:port/path, the body (retries for a few seconds).
pub fn http_get(port: u16, path: &str) -> Result<String, String> {
    use std::io::{Read, Write};
    let mut last = String::new();
    for _ in 0..20 {
        let attempt = (|| -> std::io::Result<String> {
            let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
            s.write_all(
                format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            )?;
            let mut out = Vec::new();
            s.read_to_end(&mut out)?;
            Ok(String::from_utf8_lossy(&out).into_owned())
        })();
        match attempt {
            Ok(out) => match out.split_once("\r\n\r\n") {
                Some((_, body)) => return Ok(body.to_string()),
                None => last = format!("no header end in {out:?}"),
            },
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    Err(format!("GET {path} on port {port}: {last}"))
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

/// The venv's dbt (scripts/venv.sh). Tests that call this are marked
/// `#[ignore = "needs dbt: ..."]`; scripts/test.sh starts it and runs them
/// with `--include-ignored`. Run without it, they fail with this message
/// rather than pass without testing anything.
pub fn dbt() -> PathBuf {
    match std::env::var("MUSICALY_DBT") {
        Ok(v) => PathBuf::from(v),
        Err(_) => panic!("needs dbt: run scripts/test.sh, which starts it and sets MUSICALY_DBT"),
    }
}

/// The test fake-gcs-server's base URL. Tests that call this are marked
/// `#[ignore = "needs fake-gcs-server: ..."]`; scripts/test.sh starts it and runs them
/// with `--include-ignored`. Run without it, they fail with this message
/// rather than pass without testing anything.
pub fn fake_gcs() -> String {
    match std::env::var("MUSICALY_TEST_GCS") {
        Ok(v) => v,
        Err(_) => panic!("needs fake-gcs-server: run scripts/test.sh, which starts it and sets MUSICALY_TEST_GCS"),
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

/// The test S3 emulator's endpoint. Tests that call this are marked
/// `#[ignore = "needs the S3 emulator: ..."]`, like [`kafka`].
pub fn s3_emulator() -> String {
    match std::env::var("MUSICALY_TEST_S3") {
        Ok(v) => v,
        Err(_) => panic!(
            "needs the S3 emulator: run scripts/test.sh, which starts it and sets MUSICALY_TEST_S3"
        ),
    }
}
