//! Warehouse sink: the embedded DuckDB warehouse, loaded hour by hour from the lake.
//!
//! The unit of loading is one lake hour (`<table>/year=/month=/day=/hour=`). Loading
//! an hour, in one transaction, replaces that hour's rows in the raw event tables
//! and in `fact_streams`, and brings the dimensions up to date for what that hour
//! contains. Loading it again gives the same tables (idempotent), and a load touches
//! only its hour plus the dimension rows of the users, songs, artists and places
//! seen in it (incremental): the original pipeline double-inserted on re-runs and
//! rebuilt every model every hour.
//!
//! The star schema (the dbt project in `warehouse/` builds the same tables from the
//! same lake, and a test compares them):
//! - `dim_users`: type-2 history of `level`, one row per run of equal level per
//!   user, `valid_from`/`valid_to` (NULL while current)/`is_current`. Built from the
//!   change points of every event table, so an upgrade seen only in
//!   `status_change_events` still opens a new version.
//! - `dim_artists`, `dim_songs`, `dim_location`: one row per distinct natural key,
//!   keyed by an md5 of the whole natural key (the original keyed artists in a way
//!   that let two names share a key, and matched songs on (artist, title) against a
//!   catalogue with repeats, so listens fanned out). Each has an `unknown` member,
//!   so a listen with a missing artist, song or location maps there instead of
//!   being dropped.
//! - `dim_datetime`: one row per hour of every day that has listens, grown as data
//!   arrives (no fixed end date); `is_weekend` is Saturday and Sunday.
//! - `fact_streams`: exactly one row per listen event, `stream_key` =
//!   `<partition>-<offset>` of the lake row.
//! - `wide_streams`: a view joining the fact to every dimension.
//! - `fact_sessions`: one row per session (user, sessionId; guests as `guest`):
//!   start, end, page views, listens. A session spans hours, so an hour's load
//!   recomputes the sessions it touches from the raw page views.
//! - `agg_streams_hourly`: listens, active users, paid listens and streamed
//!   seconds (exact decimal) per hour and state.
//!
//! Keys are deterministic functions of natural keys (never sequences), so an
//! incremental load and a full `dbt build` agree on them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use arrow::datatypes::DataType;
use futures::TryStreamExt;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt};

use crate::columns;
use crate::event::Table;
use crate::sinks::lake::LakeStore;

#[derive(Debug, thiserror::Error)]
pub enum WarehouseError {
    #[error("warehouse {path}: {source}")]
    DuckDb { path: String, source: duckdb::Error },
    #[error("warehouse: listing or reading the lake at {location}: {message}")]
    Lake { location: String, message: String },
    #[error("warehouse: staging lake files in {path}: {source}")]
    Staging {
        path: String,
        source: std::io::Error,
    },
}

/// Row counts per table after a load.
pub type LoadReport = Vec<(String, u64)>;

pub use crate::time::HOUR_MS;

/// Tables of the star schema, in the order a report lists them.
pub const MODEL_TABLES: [&str; 9] = [
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

/// US state codes and names: the dbt seed, also compiled in here so both builds
/// share one list. Codes are trimmed on both sides of the join (the original's
/// seed had a trailing space and never matched).
pub const US_STATES_CSV: &str = include_str!("../../warehouse/seeds/us_states.csv");

fn duck_type(dt: &DataType) -> &'static str {
    match dt {
        DataType::Utf8 => "VARCHAR",
        DataType::Int32 => "INTEGER",
        DataType::Int64 => "BIGINT",
        DataType::Float64 => "DOUBLE",
        DataType::Boolean => "BOOLEAN",
        DataType::Timestamp(_, _) => "TIMESTAMPTZ",
        _ => "VARCHAR",
    }
}

fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn quote_str(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Serialises this process's use of the warehouse file: the periodic load and
/// the dashboard's queries each open their own DuckDB instance, and two
/// instances of one file in one process are not safe together (DuckDB's file
/// lock only keeps other processes out).
pub fn lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Opens the warehouse, with its session time zone set to UTC so timestamps
/// print and truncate the same everywhere.
pub fn open(db: &Path) -> Result<duckdb::Connection, WarehouseError> {
    let err = |source| WarehouseError::DuckDb {
        path: db.display().to_string(),
        source,
    };
    if let Some(parent) = db.parent().filter(|p| !p.as_os_str().is_empty()) {
        let _ = std::fs::create_dir_all(parent);
    }
    let conn = duckdb::Connection::open(db).map_err(err)?;
    conn.execute_batch("SET TimeZone = 'UTC';").map_err(err)?;
    Ok(conn)
}

/// Removes the warehouse file (and DuckDB's WAL), for `musicaly run`, whose
/// warehouse reflects one run only.
pub fn reset(db: &Path) -> Result<(), WarehouseError> {
    for p in [
        db.to_path_buf(),
        PathBuf::from(format!("{}.wal", db.display())),
    ] {
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(WarehouseError::Staging {
                    path: p.display().to_string(),
                    source,
                })
            }
        }
    }
    Ok(())
}

// ---- the lake's hours ----

/// One lake object of an hour: its path in the store and its size.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct LakeFile {
    pub path: String,
    pub size: u64,
}

/// The files of one hour, per event table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HourFiles {
    pub tables: BTreeMap<Table, Vec<LakeFile>>,
}

impl HourFiles {
    /// Identifies the hour's content: its file names and sizes. A load is skipped
    /// when this has not changed since the last load (names are deterministic per
    /// batch, so a replay rewrites the same names).
    pub fn fingerprint(&self) -> String {
        let mut s = String::new();
        for (t, files) in &self.tables {
            for f in files {
                s.push_str(&format!("{}:{}:{};", t.name(), f.path, f.size));
            }
        }
        format!("{:016x}", crate::hash::fnv1a(s.bytes()))
    }
}

/// `year=YYYY/month=MM/day=DD/hour=HH` segments → the hour's epoch ms.
pub fn parse_hour_partition(segments: &[&str]) -> Option<i64> {
    let mut vals = [0u32; 4];
    for (v, (seg, key)) in vals
        .iter_mut()
        .zip(segments.iter().zip(["year=", "month=", "day=", "hour="]))
    {
        *v = seg.strip_prefix(key)?.parse().ok()?;
    }
    let date = chrono::NaiveDate::from_ymd_opt(vals[0] as i32, vals[1], vals[2])?;
    let dt = date.and_hms_opt(vals[3], 0, 0)?;
    Some(dt.and_utc().timestamp_millis())
}

fn lake_err(lake: &LakeStore, message: impl std::fmt::Display) -> WarehouseError {
    WarehouseError::Lake {
        location: lake.location.clone(),
        message: message.to_string(),
    }
}

fn runtime(lake: &LakeStore) -> Result<tokio::runtime::Runtime, WarehouseError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| lake_err(lake, e))
}

fn table_prefix(lake: &LakeStore, table: &str) -> ObjPath {
    let root = lake.root.as_ref();
    if root.is_empty() {
        ObjPath::from(table)
    } else {
        ObjPath::from(format!("{root}/{table}"))
    }
}

/// Lists the lake's event-table files, grouped by hour partition.
pub fn lake_hours(lake: &LakeStore) -> Result<BTreeMap<i64, HourFiles>, WarehouseError> {
    let rt = runtime(lake)?;
    rt.block_on(async {
        let mut hours: BTreeMap<i64, HourFiles> = BTreeMap::new();
        for table in Table::ALL {
            let prefix = table_prefix(lake, table.name());
            let list: Vec<_> = lake
                .store
                .list(Some(&prefix))
                .try_collect()
                .await
                .map_err(|e| lake_err(lake, e))?;
            for meta in list {
                let full = meta.location.to_string();
                let Some(rel) = full
                    .strip_prefix(prefix.as_ref())
                    .map(|r| r.trim_start_matches('/'))
                else {
                    continue;
                };
                let parts: Vec<&str> = rel.split('/').collect();
                if parts.len() != 5 || !parts[4].ends_with(".parquet") {
                    continue;
                }
                let Some(hour) = parse_hour_partition(&parts[..4]) else {
                    continue;
                };
                let files = hours
                    .entry(hour)
                    .or_default()
                    .tables
                    .entry(table)
                    .or_default();
                files.push(LakeFile {
                    path: full,
                    size: meta.size,
                });
            }
        }
        for h in hours.values_mut() {
            for files in h.tables.values_mut() {
                files.sort();
            }
        }
        Ok(hours)
    })
}

/// Where DuckDB reads an hour's files: on local disk the lake's own files; for
/// `gs://`/`s3://` a staging copy fetched through object_store (DuckDB's httpfs
/// extension cannot be installed here, and object_store carries the credentials).
pub struct Staged {
    pub tables: BTreeMap<Table, Vec<String>>,
    _dir: Option<tempfile::TempDir>,
}

pub fn stage(lake: &LakeStore, files: &HourFiles) -> Result<Staged, WarehouseError> {
    let local = !lake.location.contains("://");
    if local {
        let tables = files
            .tables
            .iter()
            .map(|(t, fs)| {
                let paths = fs
                    .iter()
                    .map(|f| {
                        Path::new(&lake.location)
                            .join(&f.path)
                            .to_string_lossy()
                            .into_owned()
                    })
                    .collect();
                (*t, paths)
            })
            .collect();
        return Ok(Staged { tables, _dir: None });
    }
    let dir = tempfile::Builder::new()
        .prefix("musicaly-stage-")
        .tempdir()
        .map_err(|source| WarehouseError::Staging {
            path: std::env::temp_dir().display().to_string(),
            source,
        })?;
    let rt = runtime(lake)?;
    let mut tables = BTreeMap::new();
    for (t, fs) in &files.tables {
        let mut paths = Vec::new();
        for (i, f) in fs.iter().enumerate() {
            let bytes = rt
                .block_on(async {
                    lake.store
                        .get(&ObjPath::from(f.path.as_str()))
                        .await?
                        .bytes()
                        .await
                })
                .map_err(|e| lake_err(lake, format!("{}: {e}", f.path)))?;
            let p = dir.path().join(format!("{}-{i}.parquet", t.name()));
            std::fs::write(&p, &bytes).map_err(|source| WarehouseError::Staging {
                path: p.display().to_string(),
                source,
            })?;
            paths.push(p.to_string_lossy().into_owned());
        }
        tables.insert(*t, paths);
    }
    Ok(Staged {
        tables,
        _dir: Some(dir),
    })
}

// ---- schema ----

/// Order of the event tables when two events of one user share a millisecond:
/// part of the deterministic order of `dim_users` (the dbt model uses the same).
fn source_rank(t: Table) -> i32 {
    match t {
        Table::Listen => 0,
        Table::PageView => 1,
        Table::Auth => 2,
        Table::StatusChange => 3,
    }
}

pub fn create_schema_sql() -> String {
    let mut sql = String::new();
    for table in Table::ALL {
        let defs: Vec<String> = columns::schema(table)
            .fields()
            .iter()
            .map(|f| format!("{} {}", quote_ident(f.name()), duck_type(f.data_type())))
            .collect();
        sql.push_str(&format!(
            "CREATE TABLE IF NOT EXISTS {} ({});\n",
            quote_ident(table.name()),
            defs.join(", ")
        ));
    }
    sql.push_str(SCHEMA_SQL);
    let mut states = Vec::new();
    for line in US_STATES_CSV.lines().skip(1) {
        if let Some((code, name)) = line.split_once(',') {
            states.push(format!(
                "({}, {})",
                quote_str(code.trim()),
                quote_str(name.trim())
            ));
        }
    }
    sql.push_str(&format!(
        "CREATE TABLE IF NOT EXISTS us_states (state_code VARCHAR PRIMARY KEY, state_name VARCHAR);\n\
         INSERT OR IGNORE INTO us_states VALUES {};\n",
        states.join(", ")
    ));
    sql
}

/// The model tables. `_user_level_points` keeps, per hour, each user's first event
/// and every event whose level differs from the user's previous event in that hour:
/// enough to rebuild a user's level history without rereading old hours.
const SCHEMA_SQL: &str = r#"
CREATE TABLE IF NOT EXISTS _loaded_hours (hour_start TIMESTAMPTZ PRIMARY KEY, fingerprint VARCHAR, loaded_at TIMESTAMPTZ);
CREATE TABLE IF NOT EXISTS _user_level_points (
  user_id BIGINT, ts TIMESTAMPTZ, src INTEGER, part INTEGER, off BIGINT, level VARCHAR,
  first_name VARCHAR, last_name VARCHAR, gender VARCHAR, registration BIGINT);
CREATE TABLE IF NOT EXISTS dim_users (
  user_key VARCHAR, user_id BIGINT, first_name VARCHAR, last_name VARCHAR, gender VARCHAR,
  registration BIGINT, level VARCHAR, valid_from TIMESTAMPTZ, valid_to TIMESTAMPTZ, is_current BOOLEAN);
CREATE TABLE IF NOT EXISTS dim_artists (artist_key VARCHAR PRIMARY KEY, artist_name VARCHAR);
CREATE TABLE IF NOT EXISTS dim_songs (song_key VARCHAR PRIMARY KEY, title VARCHAR, artist_name VARCHAR, artist_key VARCHAR);
CREATE TABLE IF NOT EXISTS dim_location (
  location_key VARCHAR PRIMARY KEY, city VARCHAR, state_code VARCHAR, state_name VARCHAR,
  zip VARCHAR, lat DOUBLE, lon DOUBLE);
CREATE TABLE IF NOT EXISTS dim_datetime (
  datetime_key BIGINT PRIMARY KEY, hour_start TIMESTAMPTZ, date DATE, hour INTEGER,
  day_of_week INTEGER, day_name VARCHAR, day_of_month INTEGER, week_of_year INTEGER,
  month INTEGER, month_name VARCHAR, quarter INTEGER, year INTEGER, is_weekend BOOLEAN);
CREATE TABLE IF NOT EXISTS fact_streams (
  stream_key VARCHAR, ts TIMESTAMPTZ, datetime_key BIGINT, user_key VARCHAR, user_id BIGINT,
  session_id BIGINT, song_key VARCHAR, artist_key VARCHAR, location_key VARCHAR,
  level VARCHAR, duration DOUBLE, item_in_session INTEGER);
CREATE TABLE IF NOT EXISTS fact_sessions (
  session_key VARCHAR, session_id BIGINT, user_id BIGINT, start_ts TIMESTAMPTZ, end_ts TIMESTAMPTZ,
  page_views BIGINT, listens BIGINT);
CREATE TABLE IF NOT EXISTS agg_streams_hourly (
  hour_start TIMESTAMPTZ, datetime_key BIGINT, state_code VARCHAR, listens BIGINT,
  active_users BIGINT, paid_listens BIGINT, stream_seconds DECIMAL(18, 3));
INSERT OR IGNORE INTO dim_artists VALUES ('unknown', NULL);
INSERT OR IGNORE INTO dim_songs VALUES ('unknown', NULL, NULL, 'unknown');
INSERT OR IGNORE INTO dim_location VALUES ('unknown', NULL, NULL, NULL, NULL, NULL, NULL);
INSERT INTO dim_users SELECT 'unknown', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, TRUE
  WHERE NOT EXISTS (SELECT 1 FROM dim_users WHERE user_key = 'unknown');
CREATE OR REPLACE VIEW wide_streams AS
SELECT f.stream_key, f.ts, f.session_id, f.item_in_session, f.level, f.duration,
       f.user_id, u.first_name, u.last_name, u.gender, u.registration,
       s.title AS song, a.artist_name AS artist,
       l.city, l.state_code, l.state_name, l.zip, l.lat, l.lon,
       d.date, d.hour, d.day_of_week, d.day_name, d.is_weekend,
       f.user_key, f.song_key, f.artist_key, f.location_key, f.datetime_key
FROM fact_streams f
LEFT JOIN dim_users u ON u.user_key = f.user_key
LEFT JOIN dim_songs s ON s.song_key = f.song_key
LEFT JOIN dim_artists a ON a.artist_key = f.artist_key
LEFT JOIN dim_location l ON l.location_key = f.location_key
LEFT JOIN dim_datetime d ON d.datetime_key = f.datetime_key;
"#;

/// Key expressions, shared by the load and documented in the dbt macros
/// (`warehouse/macros/keys.sql`): md5 over the whole natural key, `unknown` when
/// the key is missing. chr(31) separates parts so ("a|b", "c") ≠ ("a", "b|c").
const ARTIST_KEY: &str = "CASE WHEN artist IS NULL THEN 'unknown' ELSE md5(artist) END";
const SONG_KEY: &str =
    "CASE WHEN song IS NULL THEN 'unknown' ELSE md5(coalesce(artist, '') || chr(31) || song) END";
const LOCATION_KEY: &str = "CASE WHEN city IS NULL AND state IS NULL AND zip IS NULL AND lat IS NULL AND lon IS NULL THEN 'unknown' \
     ELSE md5(concat_ws(chr(31), coalesce(city, ''), coalesce(state, ''), coalesce(zip, ''), coalesce(CAST(lat AS VARCHAR), ''), coalesce(CAST(lon AS VARCHAR), ''))) END";
const DATETIME_KEY: &str = "CAST(strftime(ts, '%Y%m%d%H') AS BIGINT)";

/// Statements that load one hour `[lo, hi)` whose raw rows are already replaced.
fn model_hour_sql(lo: &str, hi: &str) -> String {
    let in_hour = format!("ts >= {lo} AND ts < {hi}");
    let mut points = Vec::new();
    for t in Table::ALL {
        points.push(format!(
            "SELECT userId AS user_id, ts, {rank} AS src, _partition AS part, _offset AS off, level, firstName AS first_name, lastName AS last_name, gender, registration FROM {name} WHERE userId IS NOT NULL AND {in_hour}",
            rank = source_rank(t),
            name = t.name()
        ));
    }
    format!(
        r#"
CREATE OR REPLACE TEMP TABLE _affected AS
  SELECT DISTINCT user_id FROM _user_level_points WHERE {in_hour};
DELETE FROM _user_level_points WHERE {in_hour};
INSERT INTO _user_level_points
  SELECT user_id, ts, src, part, off, level, first_name, last_name, gender, registration FROM (
    SELECT *, lag(level) OVER (PARTITION BY user_id ORDER BY ts, src, part, off) AS prev
    FROM ({points})
  ) WHERE prev IS DISTINCT FROM level;
INSERT INTO _affected SELECT DISTINCT user_id FROM _user_level_points WHERE {in_hour};
CREATE OR REPLACE TEMP TABLE _new_users AS
  SELECT md5(concat_ws('-', user_id, epoch_ms(ts), src, part, off)) AS user_key, user_id, first_name, last_name, gender,
         registration, level, ts AS valid_from, lead(ts) OVER w AS valid_to, lead(ts) OVER w IS NULL AS is_current
  FROM (
    SELECT *, lag(level) OVER (PARTITION BY user_id ORDER BY ts, src, part, off) AS prev
    FROM _user_level_points WHERE user_id IN (SELECT user_id FROM _affected)
  ) WHERE prev IS DISTINCT FROM level
  WINDOW w AS (PARTITION BY user_id ORDER BY ts, src, part, off);
CREATE OR REPLACE TEMP TABLE _changed AS
  SELECT user_id FROM (
    (SELECT * FROM dim_users WHERE user_id IN (SELECT user_id FROM _affected) EXCEPT SELECT * FROM _new_users)
    UNION ALL
    (SELECT * FROM _new_users EXCEPT SELECT * FROM dim_users WHERE user_id IN (SELECT user_id FROM _affected))
  ) GROUP BY user_id;
DELETE FROM dim_users WHERE user_id IN (SELECT user_id FROM _affected);
INSERT INTO dim_users SELECT * FROM _new_users;
UPDATE fact_streams SET user_key = d.user_key
  FROM dim_users d
  WHERE fact_streams.user_id IN (SELECT user_id FROM _changed)
    AND d.user_id = fact_streams.user_id
    AND fact_streams.ts >= d.valid_from AND fact_streams.ts < coalesce(d.valid_to, TIMESTAMPTZ '9999-12-31 00:00:00+00')
    AND fact_streams.user_key <> d.user_key;
CREATE OR REPLACE TEMP TABLE _listens AS SELECT * FROM listen_events WHERE {in_hour};
INSERT INTO dim_artists
  SELECT DISTINCT {ARTIST_KEY}, artist FROM _listens
  WHERE artist IS NOT NULL AND {ARTIST_KEY} NOT IN (SELECT artist_key FROM dim_artists);
INSERT INTO dim_songs
  SELECT DISTINCT {SONG_KEY}, song, artist, {ARTIST_KEY} FROM _listens
  WHERE song IS NOT NULL AND {SONG_KEY} NOT IN (SELECT song_key FROM dim_songs);
INSERT INTO dim_location
  SELECT DISTINCT {LOCATION_KEY}, city, upper(trim(state)), st.state_name, zip, lat, lon
  FROM _listens LEFT JOIN us_states st ON st.state_code = upper(trim(_listens.state))
  WHERE {LOCATION_KEY} <> 'unknown' AND {LOCATION_KEY} NOT IN (SELECT location_key FROM dim_location);
DELETE FROM fact_streams WHERE {in_hour};
INSERT INTO fact_streams
  SELECT CAST(l._partition AS VARCHAR) || '-' || CAST(l._offset AS VARCHAR), l.ts, {DATETIME_KEY_L},
         coalesce(u.user_key, 'unknown'), l.userId, l.sessionId,
         {SONG_KEY_L}, {ARTIST_KEY_L}, {LOCATION_KEY_L}, l.level, l.duration, l.itemInSession
  FROM _listens l
  LEFT JOIN dim_users u ON u.user_id = l.userId AND l.ts >= u.valid_from AND l.ts < coalesce(u.valid_to, TIMESTAMPTZ '9999-12-31 00:00:00+00');
INSERT INTO dim_datetime
  SELECT CAST(strftime(h, '%Y%m%d%H') AS BIGINT), h, CAST(h AS DATE), hour(h), isodow(h), dayname(h), day(h),
         weekofyear(h), month(h), monthname(h), quarter(h), year(h), isodow(h) IN (6, 7)
  FROM (SELECT unnest(generate_series(date_trunc('day', min(ts)), date_trunc('day', max(ts)) + INTERVAL 23 HOUR, INTERVAL 1 HOUR)) AS h
        FROM fact_streams HAVING count(*) > 0)
  WHERE CAST(strftime(h, '%Y%m%d%H') AS BIGINT) NOT IN (SELECT datetime_key FROM dim_datetime);
CREATE OR REPLACE TEMP TABLE _sessions AS
  SELECT session_key, session_id FROM fact_sessions WHERE start_ts < {hi} AND end_ts >= {lo}
  UNION SELECT coalesce(CAST(userId AS VARCHAR), 'guest') || '-' || CAST(sessionId AS VARCHAR), sessionId FROM page_view_events WHERE {in_hour};
DELETE FROM fact_sessions WHERE session_key IN (SELECT session_key FROM _sessions);
INSERT INTO fact_sessions
  SELECT k, any_value(sessionId), any_value(userId), min(ts), max(ts), count(*), count(*) FILTER (WHERE page = 'NextSong')
  FROM (SELECT coalesce(CAST(userId AS VARCHAR), 'guest') || '-' || CAST(sessionId AS VARCHAR) AS k, * FROM page_view_events
        WHERE sessionId IN (SELECT session_id FROM _sessions))
  WHERE k IN (SELECT session_key FROM _sessions)
  GROUP BY k;
DELETE FROM agg_streams_hourly WHERE hour_start >= {lo} AND hour_start < {hi};
INSERT INTO agg_streams_hourly
  SELECT date_trunc('hour', ts), {DATETIME_KEY}, upper(trim(state)), count(*), count(DISTINCT userId),
         count(*) FILTER (WHERE level = 'paid'), sum(CAST(duration AS DECIMAL(18, 3)))
  FROM _listens GROUP BY ALL;
DROP TABLE _listens;
"#,
        points = points.join(" UNION ALL "),
        DATETIME_KEY_L = prefixed(DATETIME_KEY, &["ts"]),
        SONG_KEY_L = prefixed(SONG_KEY, &["artist", "song"]),
        ARTIST_KEY_L = prefixed(ARTIST_KEY, &["artist"]),
        LOCATION_KEY_L = prefixed(LOCATION_KEY, &["city", "state", "zip", "lat", "lon"]),
    )
}

/// Qualifies bare column names in a key expression with the `l.` alias.
fn prefixed(expr: &str, cols: &[&str]) -> String {
    let mut out = String::with_capacity(expr.len() + 16);
    let bytes = expr.as_bytes();
    let mut i = 0;
    'outer: while i < expr.len() {
        let prev_ok = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        if prev_ok {
            for c in cols {
                if expr[i..].starts_with(c) {
                    let end = i + c.len();
                    let next_ok = end == expr.len()
                        || !(bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_');
                    if next_ok {
                        out.push_str("l.");
                        out.push_str(c);
                        i = end;
                        continue 'outer;
                    }
                }
            }
        }
        out.push(bytes[i] as char);
        i += 1;
    }
    out
}

fn ts_literal(ms: i64) -> String {
    format!("to_timestamp({})", ms.div_euclid(1000))
}

// ---- loading ----

/// What to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Every hour whose files changed since its last load (names and sizes).
    Changed,
    /// Every requested hour, changed or not.
    Force,
}

/// Loads the given hours (epoch ms of the hour start) from the lake into the
/// warehouse, one transaction per hour. An hour without files in the lake is
/// emptied. Returns the row count of every table afterwards.
pub fn load_hours(
    lake: &LakeStore,
    db: &Path,
    hours: &[i64],
    mode: Mode,
) -> Result<LoadReport, WarehouseError> {
    let all = lake_hours(lake)?;
    let _guard = lock();
    let conn = open(db)?;
    let dberr = |source| WarehouseError::DuckDb {
        path: db.display().to_string(),
        source,
    };
    conn.execute_batch(&create_schema_sql()).map_err(dberr)?;
    let empty = HourFiles::default();
    for &h in hours {
        let h = h.div_euclid(HOUR_MS) * HOUR_MS;
        let files = all.get(&h).unwrap_or(&empty);
        let fp = files.fingerprint();
        if mode == Mode::Changed {
            let prev: Option<String> = conn
                .query_row(
                    &format!(
                        "SELECT fingerprint FROM _loaded_hours WHERE hour_start = {}",
                        ts_literal(h)
                    ),
                    [],
                    |r| r.get(0),
                )
                .ok();
            if prev.as_deref() == Some(fp.as_str()) {
                continue;
            }
        }
        let staged = stage(lake, files)?;
        let started = std::time::Instant::now();
        load_one_hour(&conn, h, &staged, &fp).map_err(dberr)?;
        tracing::debug!(hour = %crate::time::format_utc(h), ms = started.elapsed().as_millis() as u64, "warehouse hour loaded");
    }
    counts(&conn).map_err(dberr)
}

fn load_one_hour(
    conn: &duckdb::Connection,
    h: i64,
    staged: &Staged,
    fingerprint: &str,
) -> Result<(), duckdb::Error> {
    let (lo, hi) = (ts_literal(h), ts_literal(h + HOUR_MS));
    let mut sql = String::from("BEGIN TRANSACTION;\n");
    for table in Table::ALL {
        let name = quote_ident(table.name());
        sql.push_str(&format!(
            "DELETE FROM {name} WHERE ts >= {lo} AND ts < {hi};\n"
        ));
        let Some(paths) = staged.tables.get(&table).filter(|p| !p.is_empty()) else {
            continue;
        };
        let cols: Vec<String> = columns::schema(table)
            .fields()
            .iter()
            .map(|f| quote_ident(f.name()))
            .collect();
        let list: Vec<String> = paths.iter().map(|p| quote_str(p)).collect();
        sql.push_str(&format!(
            "INSERT INTO {name} SELECT {cols} FROM read_parquet([{list}], hive_partitioning = false, union_by_name = true);\n",
            cols = cols.join(", "),
            list = list.join(", "),
        ));
    }
    sql.push_str(&model_hour_sql(&lo, &hi));
    sql.push_str(&format!(
        "INSERT OR REPLACE INTO _loaded_hours VALUES ({lo}, {}, now());\nCOMMIT;\n",
        quote_str(fingerprint)
    ));
    // One statement at a time, so the slow one shows in the trace log.
    for stmt in sql.split(";\n").map(str::trim).filter(|s| !s.is_empty()) {
        let started = std::time::Instant::now();
        if let Err(e) = conn.execute_batch(stmt) {
            let _ = conn.execute_batch("ROLLBACK;");
            return Err(e);
        }
        tracing::trace!(ms = started.elapsed().as_millis() as u64, sql = %stmt.chars().take(80).collect::<String>(), "warehouse statement");
    }
    Ok(())
}

/// Loads every hour of the lake (and empties hours the warehouse has that the
/// lake no longer has). With [`Mode::Changed`], hours whose files are unchanged
/// since their last load are skipped.
pub fn load_all(lake: &LakeStore, db: &Path, mode: Mode) -> Result<LoadReport, WarehouseError> {
    let mut hours: BTreeSet<i64> = lake_hours(lake)?.into_keys().collect();
    if db.exists() {
        let _guard = lock();
        let conn = open(db)?;
        // None: a warehouse from before incremental loads.
        let mut st = conn
            .prepare("SELECT epoch_ms(hour_start) FROM _loaded_hours")
            .ok();
        if let Some(st) = st.as_mut() {
            let loaded = st
                .query_map([], |r| r.get::<_, i64>(0))
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
                .map_err(|source| WarehouseError::DuckDb {
                    path: db.display().to_string(),
                    source,
                })?;
            hours.extend(loaded);
        }
    }
    let hours: Vec<i64> = hours.into_iter().collect();
    load_hours(lake, db, &hours, mode)
}

/// Convenience for `run`/`pipeline`: opens the lake location and loads every
/// changed hour.
pub fn load_from_lake(lake: &str, db: &Path) -> Result<LoadReport, WarehouseError> {
    let store = LakeStore::open(lake).map_err(|e| WarehouseError::Lake {
        location: lake.to_string(),
        message: e.to_string(),
    })?;
    load_all(&store, db, Mode::Changed)
}

/// Loads the lake's changed hours into the warehouse every `every` on a thread,
/// while `musicaly pipeline` runs, so the warehouse follows the lake hour by hour
/// instead of only at shutdown. An hour still being written is loaded again at
/// the next tick (a load replaces the hour, so that is safe). Dropping the handle
/// stops the thread and waits for a load in progress.
pub struct PeriodicLoad {
    /// Dropped to stop the thread: its wait ends at once, not at the next tick.
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl PeriodicLoad {
    pub fn start(lake: String, db: PathBuf, every: std::time::Duration) -> PeriodicLoad {
        use std::sync::mpsc::RecvTimeoutError;
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("warehouse-load".into())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                    match load_from_lake(&lake, &db) {
                        Ok(counts) => tracing::info!(warehouse = %db.display(), tables = ?counts, "warehouse: changed hours loaded"),
                        // Logged and retried at the next tick: the lake keeps the data.
                        Err(e) => tracing::warn!(error = %e, "warehouse: periodic load failed"),
                    }
                }
            })
            .ok();
        PeriodicLoad {
            stop: Some(stop),
            thread,
        }
    }
}

impl Drop for PeriodicLoad {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Row counts of the raw and model tables.
pub fn counts(conn: &duckdb::Connection) -> Result<LoadReport, duckdb::Error> {
    let mut out = Vec::new();
    for name in Table::ALL
        .iter()
        .map(|t| t.name())
        .chain(MODEL_TABLES.iter().copied())
    {
        let n: i64 = conn.query_row(&format!("SELECT count(*) FROM {name}"), [], |r| r.get(0))?;
        out.push((name.to_string(), n as u64));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hour_partitions_parse() {
        assert_eq!(
            parse_hour_partition(&["year=1970", "month=01", "day=02", "hour=01"]),
            Some(25 * HOUR_MS)
        );
        assert_eq!(
            parse_hour_partition(&["year=1970", "month=13", "day=02", "hour=01"]),
            None
        );
        assert_eq!(
            parse_hour_partition(&["year=1970", "day=02", "month=01", "hour=01"]),
            None
        );
    }

    #[test]
    fn key_expressions_are_qualified() {
        assert_eq!(
            prefixed(SONG_KEY, &["artist", "song"]),
            "CASE WHEN l.song IS NULL THEN 'unknown' ELSE md5(coalesce(l.artist, '') || chr(31) || l.song) END"
        );
        assert!(prefixed(ARTIST_KEY, &["artist"]).contains("md5(l.artist)"));
    }

    #[test]
    fn states_seed_is_clean() {
        let mut n = 0;
        for line in US_STATES_CSV.lines().skip(1) {
            let (code, name) = line.split_once(',').unwrap();
            assert_eq!(code, code.trim());
            assert_eq!(code.len(), 2, "{line}");
            assert!(!name.trim().is_empty());
            n += 1;
        }
        assert!(n >= 51);
    }
}
