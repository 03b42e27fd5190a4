//! Event → durable in the lake: a thread that watches a lake for newly committed
//! Parquet files, reads their `ts` column and records, for every row, the time
//! it was seen minus its `ts` (the intended send time the producer stamped).
//!
//! What "committed" means differs by system and is taken from each one's own
//! protocol, not from the directory alone:
//! - musicaly: a `*.parquet` file under `<lake>/<table>/` is complete once
//!   visible (the object store writes `<name>.parquet#N` and renames);
//! - Spark's file sink writes its part files straight into the table directory
//!   and commits a micro-batch by writing `_spark_metadata/<batch>`: a file counts
//!   once a metadata log entry lists it (the files readers of the sink see).
//!
//! Only rows with `ts >= from_ms` count (warm-up events are older); detection
//! lags the commit by at most the poll interval (200 ms).

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use arrow::array::{Array, Int64Array, TimestampMicrosecondArray, TimestampMillisecondArray};
use arrow::array::{TimestampNanosecondArray, TimestampSecondArray};
use hdrhistogram::Histogram;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;

use crate::util::now_ms;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Protocol {
    Musicaly,
    Spark,
}

/// Latencies recorded so far.
pub struct Latencies {
    pub all: Histogram<u64>,
    /// By second of intended send time (epoch s): the series of the plot.
    pub by_second: BTreeMap<i64, Histogram<u64>>,
}

pub fn histogram() -> Histogram<u64> {
    // 1 ms .. 1 h, 3 significant digits.
    Histogram::new_with_bounds(1, 3_600_000, 3).expect("static histogram bounds")
}

impl Latencies {
    pub fn empty() -> Latencies {
        Latencies {
            all: histogram(),
            by_second: BTreeMap::new(),
        }
    }

    pub fn record(&mut self, ts_ms: i64, latency_ms: i64) {
        let v = latency_ms.clamp(1, 3_600_000) as u64;
        let _ = self.all.record(v);
        let _ = self
            .by_second
            .entry(ts_ms.div_euclid(1000))
            .or_insert_with(histogram)
            .record(v);
    }
}

pub struct Watch {
    pub lat: Mutex<Latencies>,
    /// Rows with `ts >= from_ms` seen durable, per table.
    pub rows: [AtomicU64; 4],
    /// Rows older than `from_ms` (warm-up) seen, per table.
    pub warm_by_table: [AtomicU64; 4],
    pub from_ms: AtomicI64,
    pub files: AtomicU64,
    pub errors: Mutex<Vec<String>>,
    stop: AtomicBool,
}

impl Watch {
    pub fn durable(&self) -> u64 {
        self.rows.iter().map(|r| r.load(Ordering::Relaxed)).sum()
    }
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Watches `<root>/<table>` for each of `tables` (in `Table::ALL` order).
pub fn spawn(
    root: PathBuf,
    tables: [&'static str; 4],
    protocol: Protocol,
) -> (Arc<Watch>, JoinHandle<()>) {
    let w = Arc::new(Watch {
        lat: Mutex::new(Latencies::empty()),
        rows: Default::default(),
        warm_by_table: Default::default(),
        from_ms: AtomicI64::new(i64::MAX),
        files: AtomicU64::new(0),
        errors: Mutex::new(Vec::new()),
        stop: AtomicBool::new(false),
    });
    let w2 = w.clone();
    let h = std::thread::spawn(move || {
        let mut seen: HashSet<PathBuf> = HashSet::new();
        let mut logs_seen: HashSet<PathBuf> = HashSet::new();
        loop {
            let last = w2.stop.load(Ordering::Relaxed);
            for (i, t) in tables.iter().enumerate() {
                let dir = root.join(t);
                let files = match protocol {
                    Protocol::Musicaly => parquet_files(&dir),
                    Protocol::Spark => spark_committed(&dir, &mut logs_seen),
                };
                for f in files {
                    if seen.contains(&f) {
                        continue;
                    }
                    let now = now_ms();
                    match read_ts(&f) {
                        Ok(ts) => {
                            seen.insert(f);
                            w2.files.fetch_add(1, Ordering::Relaxed);
                            let from = w2.from_ms.load(Ordering::Relaxed);
                            let mut lat = w2.lat.lock().unwrap_or_else(|e| e.into_inner());
                            let (mut n, mut warm) = (0, 0);
                            for t in ts {
                                if t >= from {
                                    lat.record(t, now - t);
                                    n += 1;
                                } else {
                                    warm += 1;
                                }
                            }
                            w2.rows[i].fetch_add(n, Ordering::Relaxed);
                            w2.warm_by_table[i].fetch_add(warm, Ordering::Relaxed);
                        }
                        // A Spark part file listed before it is flushed would
                        // land here; retried on the next poll.
                        Err(e) => {
                            let mut errs = w2.errors.lock().unwrap_or_else(|e| e.into_inner());
                            if errs.len() < 20 {
                                errs.push(format!("{}: {e}", f.display()));
                            }
                        }
                    }
                }
            }
            if last {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    (w, h)
}

/// Every complete `*.parquet` below `dir` (staging files and `_`/`.` entries skipped).
pub fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('_') || name.starts_with('.') {
                continue;
            }
            let p = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(p),
                Ok(_) if name.ends_with(".parquet") => out.push(p),
                _ => {}
            }
        }
    }
    out
}

/// The part files listed by Spark's `_spark_metadata` log entries not read before.
/// Entries are `<batch>` or `<batch>.compact`: "v1" then one JSON object a line
/// with the file's `path` (a file: URI).
fn spark_committed(dir: &Path, logs_seen: &mut HashSet<PathBuf>) -> Vec<PathBuf> {
    let meta = dir.join("_spark_metadata");
    let Ok(rd) = std::fs::read_dir(&meta) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let base = name.strip_suffix(".compact").unwrap_or(&name);
        if base.is_empty() || !base.bytes().all(|b| b.is_ascii_digit()) {
            continue; // temporary files of the log (.<n>.<uuid>.tmp)
        }
        let p = e.path();
        if logs_seen.contains(&p) {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&p) else {
            continue;
        };
        logs_seen.insert(p);
        for line in text.lines().skip(1) {
            if let Some(path) = serde_json::from_str::<serde_json::Value>(line)
                .ok()
                .and_then(|v| v["path"].as_str().map(str::to_string))
            {
                let local = path
                    .strip_prefix("file://")
                    .or_else(|| path.strip_prefix("file:"))
                    .unwrap_or(&path);
                out.push(PathBuf::from(local.replace("%20", " ")));
            }
        }
    }
    out
}

/// The `ts` column of a Parquet file as epoch ms, whatever its physical type
/// (musicaly: timestamp ms; Spark: INT96, read as timestamp ns).
pub fn read_ts(path: &Path) -> anyhow::Result<Vec<i64>> {
    let f = File::open(path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let b = ParquetRecordBatchReaderBuilder::try_new(f).map_err(|e| anyhow::anyhow!("{e}"))?;
    let schema = b.parquet_schema();
    let idx = (0..schema.num_columns())
        .find(|&i| schema.column(i).name() == "ts")
        .ok_or_else(|| anyhow::anyhow!("no ts column"))?;
    let mask = ProjectionMask::leaves(schema, [idx]);
    let reader = b
        .with_projection(mask)
        .build()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| anyhow::anyhow!("{e}"))?;
        let col = batch.column(0);
        let any = col.as_any();
        let push = |out: &mut Vec<i64>, v: Option<i64>| out.extend(v);
        let n = col.len();
        if let Some(a) = any.downcast_ref::<TimestampMillisecondArray>() {
            (0..n).for_each(|i| push(&mut out, a.is_valid(i).then(|| a.value(i))));
        } else if let Some(a) = any.downcast_ref::<TimestampMicrosecondArray>() {
            (0..n).for_each(|i| push(&mut out, a.is_valid(i).then(|| a.value(i) / 1000)));
        } else if let Some(a) = any.downcast_ref::<TimestampNanosecondArray>() {
            (0..n).for_each(|i| push(&mut out, a.is_valid(i).then(|| a.value(i) / 1_000_000)));
        } else if let Some(a) = any.downcast_ref::<TimestampSecondArray>() {
            (0..n).for_each(|i| push(&mut out, a.is_valid(i).then(|| a.value(i) * 1000)));
        } else if let Some(a) = any.downcast_ref::<Int64Array>() {
            (0..n).for_each(|i| push(&mut out, a.is_valid(i).then(|| a.value(i))));
        } else {
            return Err(anyhow::anyhow!("ts has type {}", col.data_type()));
        }
    }
    Ok(out)
}

/// Nulls and rows of each of `cols` present in one Parquet file (the columns
/// are decoded, not taken from statistics). Shows the Spark peer's schema
/// defect (`sessionid`, `zip`) next to the figures.
pub fn null_counts(path: &Path, cols: &[&str]) -> anyhow::Result<serde_json::Value> {
    let f = File::open(path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let b = ParquetRecordBatchReaderBuilder::try_new(f).map_err(|e| anyhow::anyhow!("{e}"))?;
    let schema = b.parquet_schema();
    let idx: Vec<usize> = (0..schema.num_columns())
        .filter(|&i| cols.contains(&schema.column(i).name()))
        .collect();
    let mask = ProjectionMask::leaves(schema, idx);
    let reader = b
        .with_projection(mask)
        .build()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut out = serde_json::Map::new();
    let mut rows = 0;
    for batch in reader {
        let batch = batch.map_err(|e| anyhow::anyhow!("{e}"))?;
        rows += batch.num_rows();
        for (k, field) in batch.schema().fields().iter().enumerate() {
            let n = batch.column(k).null_count() as u64;
            let e = out
                .entry(field.name().clone())
                .or_insert(serde_json::json!(0));
            *e = serde_json::json!(e.as_u64().unwrap_or(0) + n);
        }
    }
    Ok(serde_json::json!({"file": path.display().to_string(), "rows": rows, "nulls": out}))
}
