//! The provisional rows behind the dashboard's live numbers.
//!
//! Why rows and not rollups: every dashboard answer must be exact for any
//! filter (state, city, a range starting mid-hour), and distinct users cannot
//! be added across windows, so the live part must be queried with the same SQL
//! as the warehouse. The partition actors hand every decoded batch of page
//! views and listens here right after it is in the lake's open files (the
//! moment the stream state sees it, well within a second of the read). A batch
//! is kept as Arrow columns shared with the lake writer (a projection: no copy,
//! one small `Vec` push under a mutex per batch), so the hot path allocates
//! next to nothing.
//!
//! Ownership of hours: the live rows own every hour at or after
//! [`LiveRows`]' `from_hour`; the warehouse owns the hours before it. A
//! dashboard query reads `warehouse rows with ts < from_hour UNION ALL live
//! rows with ts >= from_hour` (see `web::history`), so no row is counted twice
//! and none is missing while the warehouse lags the lake. An hour is released
//! to the warehouse ([`LiveRows::release_loaded`]) only when the stream has
//! moved `RELEASE_AFTER_MS` past its end (its lake files are closed) and the
//! warehouse holds exactly as many rows of it as the live rows; rows for
//! released hours are then ignored here (the next warehouse load brings them).
//!
//! After a restart ([`LiveRows::rebuild`]) the live rows start with the lake's
//! rows of the hours the warehouse has not loaded as they are (at most the
//! last [`REBUILD_HOURS`] hours), and remember the highest offset of each
//! partition in them: replayed messages (uncommitted before the restart) at or
//! below it are skipped, so the live numbers neither dip nor double.
//!
//! Memory: the rows held are outside `pipeline.memory_limit_mb`; beyond
//! [`MAX_ROWS`] the oldest hour is released early (its numbers then lag until
//! the warehouse loads it), which bounds a Kafka backfill.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use arrow::array::{
    Array, BooleanArray, Int32Array, Int64Array, RecordBatch, TimestampMillisecondArray,
};
use rustc_hash::FxHashMap;

use crate::columns::typed;
use crate::event::Table;
use crate::sinks::lake::LakeStore;
use crate::sinks::warehouse::{self, WarehouseError, HOUR_MS};

/// Columns kept of every page view (every event is one): enough for distinct
/// users by place, gender and level.
pub const EVENT_COLUMNS: [&str; 8] = [
    "ts",
    "userId",
    "state",
    "city",
    "gender",
    "level",
    "_partition",
    "_offset",
];

/// Columns kept of every listen: the report's and the tiles' inputs.
pub const LISTEN_COLUMNS: [&str; 11] = [
    "ts",
    "userId",
    "state",
    "city",
    "gender",
    "level",
    "artist",
    "song",
    "duration",
    "_partition",
    "_offset",
];

/// The stream must be this far past an hour's end before the hour can go to
/// the warehouse: past `lake.hour_close_secs` (default 5 min), when the lake
/// closes the hour's files, with a margin.
pub const RELEASE_AFTER_MS: i64 = 10 * 60_000;

/// Hours of the lake read back at a restart (the current one and the two before).
pub const REBUILD_HOURS: i64 = 3;

/// Rows held at most (page views and listens together).
pub const MAX_ROWS: usize = 8_000_000;

/// The two tables the live numbers read, as indices of [`Inner::parts`].
const TABLES: [Table; 2] = [Table::PageView, Table::Listen];

fn slot(t: Table) -> Option<usize> {
    TABLES.iter().position(|x| *x == t)
}

/// One batch of live rows and its time span.
#[derive(Debug, Clone)]
pub struct Part {
    pub rows: RecordBatch,
    pub min_ts: i64,
    pub max_ts: i64,
}

/// What the dashboard's `/api/live` shows of the live rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct LiveStatus {
    /// Wall-clock ms of the last change.
    pub updated_ms: Option<i64>,
    /// The newest event time among the rows.
    pub latest_event_ms: Option<i64>,
    /// Events (page views) included since the start, base rows included.
    pub events_total: u64,
    /// Bumped at every change.
    pub version: u64,
}

/// The rows of one query: copies of the batch handles, taken under the lock.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Live rows own `ts >= from_hour`; `None`: no live rows at all.
    pub from_hour: Option<i64>,
    pub page_views: Vec<RecordBatch>,
    pub listens: Vec<RecordBatch>,
}

#[derive(Default)]
struct Inner {
    from_hour: Option<i64>,
    parts: [Vec<Part>; 2],
    /// (table slot, partition) → highest offset read back at a restart.
    base_offsets: FxHashMap<(usize, i32), i64>,
    rows: usize,
    status: LiveStatus,
}

/// The shared handle (cheap to clone): written by the partition actors, read
/// by the web server.
#[derive(Clone)]
pub struct LiveRows {
    inner: Arc<Mutex<Inner>>,
    changed: Arc<tokio::sync::watch::Sender<LiveStatus>>,
}

impl Default for LiveRows {
    fn default() -> Self {
        LiveRows::new()
    }
}

impl LiveRows {
    pub fn new() -> LiveRows {
        LiveRows {
            inner: Arc::default(),
            changed: Arc::new(tokio::sync::watch::channel(LiveStatus::default()).0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Notified at every change (the SSE stream waits on it).
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<LiveStatus> {
        self.changed.subscribe()
    }

    pub fn status(&self) -> LiveStatus {
        self.lock().status
    }

    /// Adds a decoded batch of `table` (other tables are ignored). Rows of
    /// released hours and rows already read back at a restart are left out.
    pub fn add(&self, table: Table, rb: &RecordBatch) -> Result<(), String> {
        let Some(k) = slot(table) else {
            return Ok(());
        };
        if rb.num_rows() == 0 {
            return Ok(());
        }
        let cols: &[&str] = if table == Table::Listen {
            &LISTEN_COLUMNS
        } else {
            &EVENT_COLUMNS
        };
        let idx = cols
            .iter()
            .map(|c| rb.schema().index_of(c).map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        let mut rows = rb.project(&idx).map_err(|e| e.to_string())?;
        let mut inner = self.lock();
        if !inner.base_offsets.is_empty() {
            rows = skip_read_back(&inner.base_offsets, k, rows)?;
        }
        let ts = typed::<TimestampMillisecondArray>(&rows, "ts")?;
        let (Some(min_ts), Some(max_ts)) = (arrow::compute::min(ts), arrow::compute::max(ts))
        else {
            return Ok(());
        };
        let from = *inner
            .from_hour
            .get_or_insert(min_ts.div_euclid(HOUR_MS) * HOUR_MS);
        if max_ts < from {
            return Ok(());
        }
        if table == Table::PageView {
            let counted = if min_ts >= from {
                rows.num_rows()
            } else {
                ts.iter().flatten().filter(|t| *t >= from).count()
            };
            inner.status.events_total += counted as u64;
        }
        inner.rows += rows.num_rows();
        inner.parts[k].push(Part {
            rows,
            min_ts,
            max_ts,
        });
        if inner.status.latest_event_ms.is_none_or(|l| l < max_ts) {
            inner.status.latest_event_ms = Some(max_ts);
        }
        if inner.rows > MAX_ROWS {
            let next = from + HOUR_MS;
            tracing::warn!(hour = %crate::time::format_utc(from), rows = inner.rows, "live rows: over the limit, the oldest hour is left to the warehouse");
            inner.release(next);
        }
        self.bump(&mut inner);
        Ok(())
    }

    fn bump(&self, inner: &mut Inner) {
        inner.status.version += 1;
        inner.status.updated_ms = Some(crate::time::now_ms());
        self.changed.send_replace(inner.status);
    }

    pub fn snapshot(&self) -> Snapshot {
        let inner = self.lock();
        let take = |k: usize| inner.parts[k].iter().map(|p| p.rows.clone()).collect();
        Snapshot {
            from_hour: inner.from_hour,
            page_views: take(0),
            listens: take(1),
        }
    }

    /// Hands complete hours to the warehouse: while the oldest live hour is
    /// [`RELEASE_AFTER_MS`] behind the newest event and the warehouse holds as
    /// many page views and listens of it as the live rows, it is released.
    /// Returns the hours released. Called on a timer by the web server, under
    /// [`warehouse::lock`].
    pub fn release_loaded(&self, conn: &duckdb::Connection) -> Result<Vec<i64>, duckdb::Error> {
        let mut released = Vec::new();
        loop {
            let (from, latest, counts) = {
                let inner = self.lock();
                let (Some(from), Some(latest)) = (inner.from_hour, inner.status.latest_event_ms)
                else {
                    return Ok(released);
                };
                let counts = [0, 1].map(|k| count_in(&inner.parts[k], from, from + HOUR_MS));
                (from, latest, counts)
            };
            if latest < from + HOUR_MS + RELEASE_AFTER_MS {
                return Ok(released);
            }
            for (table, live) in TABLES.iter().zip(counts) {
                let n: i64 = conn.query_row(
                    &format!(
                        "SELECT count(*) FROM {} WHERE epoch_ms(ts) >= ? AND epoch_ms(ts) < ?",
                        table.name()
                    ),
                    [from, from + HOUR_MS],
                    |r| r.get(0),
                )?;
                if n as usize != live {
                    return Ok(released);
                }
            }
            let mut inner = self.lock();
            if inner.from_hour == Some(from) {
                inner.release(from + HOUR_MS);
                self.bump(&mut inner);
            }
            released.push(from);
        }
    }

    /// The live rows after a restart: the lake's rows of the hours the
    /// warehouse has not loaded as they are now (and at least the newest hour),
    /// at most [`REBUILD_HOURS`] back from the newest. See the module doc.
    pub fn rebuild(lake: &LakeStore, db: &std::path::Path) -> Result<LiveRows, WarehouseError> {
        let live = LiveRows::new();
        let hours = warehouse::lake_hours(lake)?;
        let Some(newest) = hours.keys().next_back().copied() else {
            return Ok(live);
        };
        let loaded: BTreeMap<i64, String> = if db.exists() {
            let _guard = warehouse::lock();
            let conn = warehouse::open(db)?;
            let q = conn
                .prepare("SELECT epoch_ms(hour_start), fingerprint FROM _loaded_hours")
                .and_then(|mut st| {
                    st.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?
                        .collect::<Result<BTreeMap<_, _>, _>>()
                });
            q.unwrap_or_default()
        } else {
            BTreeMap::new()
        };
        let oldest = newest - (REBUILD_HOURS - 1) * HOUR_MS;
        let from = hours
            .iter()
            .filter(|(h, f)| **h >= oldest && loaded.get(h) != Some(&f.fingerprint()))
            .map(|(h, _)| *h)
            .next()
            .unwrap_or(newest)
            .min(newest);
        let mem =
            duckdb::Connection::open_in_memory().map_err(|source| WarehouseError::DuckDb {
                path: ":memory:".into(),
                source,
            })?;
        let dberr = |source| WarehouseError::DuckDb {
            path: lake.location.clone(),
            source,
        };
        let mut inner = live.lock();
        inner.from_hour = Some(from);
        for (h, files) in hours.range(from..) {
            let staged = warehouse::stage(lake, files)?;
            for (k, table) in TABLES.iter().enumerate() {
                let Some(paths) = staged.tables.get(table).filter(|p| !p.is_empty()) else {
                    continue;
                };
                let cols = if *table == Table::Listen {
                    &LISTEN_COLUMNS[..]
                } else {
                    &EVENT_COLUMNS[..]
                };
                let list: Vec<String> = paths
                    .iter()
                    .map(|p| format!("'{}'", p.replace('\'', "''")))
                    .collect();
                let sql = format!(
                    "SELECT {} FROM read_parquet([{}], union_by_name = true)",
                    cols.iter()
                        .map(|c| format!("\"{c}\""))
                        .collect::<Vec<_>>()
                        .join(", "),
                    list.join(", ")
                );
                let mut st = mem.prepare(&sql).map_err(dberr)?;
                let batches: Vec<RecordBatch> = st.query_arrow([]).map_err(dberr)?.collect();
                for rb in batches {
                    if rb.num_rows() == 0 {
                        continue;
                    }
                    // DuckDB hands timestamps back with its own time zone
                    // annotation; the values are epoch ms either way.
                    let rb = normalize(&rb, cols).map_err(|e| WarehouseError::Lake {
                        location: lake.location.clone(),
                        message: e,
                    })?;
                    inner.remember_offsets(k, &rb);
                    let ts = typed::<TimestampMillisecondArray>(&rb, "ts").map_err(|e| {
                        WarehouseError::Lake {
                            location: lake.location.clone(),
                            message: e,
                        }
                    })?;
                    let (min_ts, max_ts) = (
                        arrow::compute::min(ts).unwrap_or(*h),
                        arrow::compute::max(ts).unwrap_or(*h),
                    );
                    if *table == Table::PageView {
                        inner.status.events_total += rb.num_rows() as u64;
                    }
                    if inner.status.latest_event_ms.is_none_or(|l| l < max_ts) {
                        inner.status.latest_event_ms = Some(max_ts);
                    }
                    inner.rows += rb.num_rows();
                    inner.parts[k].push(Part {
                        rows: rb,
                        min_ts,
                        max_ts,
                    });
                }
            }
        }
        tracing::info!(from = %crate::time::format_utc(from), rows = inner.rows, "live rows rebuilt from the lake");
        live.bump(&mut inner);
        drop(inner);
        Ok(live)
    }
}

impl Inner {
    /// Moves the live rows' start to `from` and drops batches wholly before it.
    fn release(&mut self, from: i64) {
        self.from_hour = Some(from);
        let mut rows = 0;
        for parts in &mut self.parts {
            parts.retain(|p| p.max_ts >= from);
            rows += parts.iter().map(|p| p.rows.num_rows()).sum::<usize>();
        }
        self.rows = rows;
    }

    fn remember_offsets(&mut self, k: usize, rb: &RecordBatch) {
        let (Ok(p), Ok(o)) = (
            typed::<Int32Array>(rb, "_partition"),
            typed::<Int64Array>(rb, "_offset"),
        ) else {
            return;
        };
        for i in 0..rb.num_rows() {
            let e = self.base_offsets.entry((k, p.value(i))).or_insert(i64::MIN);
            *e = (*e).max(o.value(i));
        }
    }
}

/// Rows of `parts` with `lo <= ts < hi`.
fn count_in(parts: &[Part], lo: i64, hi: i64) -> usize {
    parts
        .iter()
        .filter(|p| p.max_ts >= lo && p.min_ts < hi)
        .map(|p| {
            if p.min_ts >= lo && p.max_ts < hi {
                return p.rows.num_rows();
            }
            typed::<TimestampMillisecondArray>(&p.rows, "ts")
                .map(|ts| ts.iter().flatten().filter(|t| *t >= lo && *t < hi).count())
                .unwrap_or(0)
        })
        .sum()
}

/// Drops the rows a restart already read back from the lake (offset at or
/// below the highest one read back for the row's partition).
fn skip_read_back(
    base: &FxHashMap<(usize, i32), i64>,
    k: usize,
    rows: RecordBatch,
) -> Result<RecordBatch, String> {
    let p = typed::<Int32Array>(&rows, "_partition")?;
    let o = typed::<Int64Array>(&rows, "_offset")?;
    let keep: BooleanArray = (0..rows.num_rows())
        .map(|i| Some(base.get(&(k, p.value(i))).is_none_or(|m| o.value(i) > *m)))
        .collect();
    if keep.true_count() == rows.num_rows() {
        return Ok(rows);
    }
    arrow::compute::filter_record_batch(&rows, &keep).map_err(|e| e.to_string())
}

/// Casts a batch read back through DuckDB to the lake's column types (the
/// schema of batches the partition actors add), column by column.
fn normalize(rb: &RecordBatch, cols: &[&str]) -> Result<RecordBatch, String> {
    let fields = crate::columns::schema(Table::Listen);
    let mut out_fields = Vec::new();
    let mut arrays = Vec::new();
    for c in cols {
        let f = fields
            .field_with_name(c)
            .map_err(|e| e.to_string())?
            .clone();
        let a = rb
            .column_by_name(c)
            .ok_or_else(|| format!("no column {c}"))?;
        let a = if a.data_type() == f.data_type() {
            a.clone()
        } else {
            arrow::compute::cast(a, f.data_type()).map_err(|e| e.to_string())?
        };
        out_fields.push(f.with_nullable(true));
        arrays.push(a);
    }
    RecordBatch::try_new(Arc::new(arrow::datatypes::Schema::new(out_fields)), arrays)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, Float64Array, StringArray};

    fn listens(ts: &[i64], partition: i32, first_offset: i64) -> RecordBatch {
        let n = ts.len();
        let s = |v: &str| Arc::new(StringArray::from(vec![v; n])) as ArrayRef;
        let schema = crate::columns::schema(Table::Listen);
        let cols: Vec<ArrayRef> = schema
            .fields()
            .iter()
            .map(|f| match f.name().as_str() {
                "ts" => Arc::new(TimestampMillisecondArray::from(ts.to_vec()).with_timezone("UTC"))
                    as ArrayRef,
                "userId" | "sessionId" | "registration" => {
                    Arc::new(Int64Array::from((0..n as i64).collect::<Vec<_>>())) as ArrayRef
                }
                "_offset" => Arc::new(Int64Array::from(
                    (first_offset..first_offset + n as i64).collect::<Vec<_>>(),
                )),
                "_partition" => Arc::new(Int32Array::from(vec![partition; n])),
                "itemInSession" | "status" => Arc::new(Int32Array::from(vec![1; n])),
                "duration" | "lat" | "lon" => Arc::new(Float64Array::from(vec![1.0; n])),
                _ => s("x"),
            })
            .collect();
        RecordBatch::try_new(schema, cols).unwrap()
    }

    #[test]
    fn rows_of_released_hours_and_read_back_offsets_are_left_out() {
        let live = LiveRows::new();
        live.add(Table::Listen, &listens(&[HOUR_MS + 5, HOUR_MS + 6], 0, 0))
            .unwrap();
        assert_eq!(live.snapshot().from_hour, Some(HOUR_MS));
        // An hour before the live start: not live.
        live.add(Table::Listen, &listens(&[5], 0, 2)).unwrap();
        assert_eq!(live.snapshot().listens.len(), 1);
        live.lock().base_offsets.insert((1, 0), 3);
        live.add(Table::Listen, &listens(&[HOUR_MS + 7, HOUR_MS + 8], 0, 3))
            .unwrap();
        let snap = live.snapshot();
        assert_eq!(snap.listens.len(), 2);
        assert_eq!(snap.listens[1].num_rows(), 1, "offset 3 was read back");
        assert_eq!(live.status().latest_event_ms, Some(HOUR_MS + 8));
        assert_eq!(count_in(&live.lock().parts[1], HOUR_MS, 2 * HOUR_MS), 3);
    }
}
