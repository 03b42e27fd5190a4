//! Lake sink: Parquet files on object storage (local disk, `gs://`, `s3://`).
//!
//! Layout: `<lake>/<table>/year=YYYY/month=MM/day=DD/hour=HH/<topic>-<partition>-<first>.parquet`.
//!
//! A partition's rows stream into one open file per (table, hour) — a *roll* —
//! until the roll closes: a file reached `lake.file_max_mb`, the roll is
//! `lake.file_max_age_secs` old (the partition actor's timer), the partition saw
//! an event `lake.hour_close_secs` past an open hour, the open files hold more
//! than their share of `pipeline.memory_limit_mb`, or the partition's input
//! ended. All files of a roll are named after the roll's first offset and close
//! together, and each becomes visible only when complete (a single put, or a
//! multipart upload of `lake.multipart_part_mb` parts that is completed last;
//! locally a staged file renamed into place). So:
//!
//! - the partition actor commits the offset after a roll only once its files are
//!   durable, and a roll's files hold exactly the offsets between two commits;
//! - after a crash, [`LakeStore::remove_uncommitted`] deletes the files of a
//!   partition whose roll starts at or after its committed offset (and unfinished
//!   local uploads) before the partition is read again, and the replay rewrites them.
//!
//! Together, every valid event read lands exactly once, in few large files.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use actix::prelude::*;
use arrow::array::{
    ArrayRef, BinaryArray, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMillisecondArray,
};
use arrow::compute;
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use futures::TryStreamExt;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use parquet::arrow::async_writer::{AsyncArrowWriter, ParquetObjectWriter};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::columns::{typed, SchemaError};
use crate::config::LakeSettings;
use crate::event::Table;
use crate::memory::MemoryBudget;
use crate::messages::{DeadLetter, DecodedBatch, RollReason, SourceId};
use crate::metrics::Metrics;
use crate::time::HOUR_MS;

/// Name of the dead-letter table in the lake.
pub const DEAD_LETTERS: &str = "_dead_letters";

/// A local lake's table directory could not be removed.
#[derive(Debug, thiserror::Error)]
#[error("clearing {}: {source}", path.display())]
pub struct ClearError {
    pub path: std::path::PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// Removes the event tables and dead letters of a local lake (what `musicaly
/// run` does before a run, so the warehouse reflects that run only). Remote
/// lakes (`gs://`, `s3://`) are never cleared.
pub fn clear_event_tables(location: &str) -> Result<(), ClearError> {
    if location.contains("://") {
        return Ok(());
    }
    for t in Table::ALL.iter().map(|t| t.name()).chain([DEAD_LETTERS]) {
        let path = std::path::Path::new(location).join(t);
        if path.exists() {
            std::fs::remove_dir_all(&path).map_err(|source| ClearError { path, source })?;
        }
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("lake location {location:?}: {message}")]
    Location { location: String, message: String },
    #[error("lake: writing {path}: {source}")]
    Store {
        path: String,
        source: object_store::Error,
    },
    #[error("lake: encoding Parquet for {path}: {message}")]
    Encode { path: String, message: String },
    #[error("lake: writing {path} (encoding or uploading; uploads were retried): {message}")]
    Upload { path: String, message: String },
    #[error("lake: {0}")]
    Schema(#[from] SchemaError),
    #[error("lake.zstd_level {level}: {source}")]
    ZstdLevel {
        level: i32,
        source: parquet::errors::ParquetError,
    },
    /// An actor the write depends on has stopped (it failed earlier: see the
    /// log); the partition replays from its last commit.
    #[error("the {stage} stopped: {source}")]
    Stopped {
        stage: &'static str,
        source: actix::MailboxError,
    },
}

// ---- messages ----

/// Append a decoded batch to its partition's open files (which may then close).
#[derive(Message)]
#[rtype(result = "Result<WriteOutcome, SinkError>")]
pub struct Write(pub DecodedBatch);

/// Close every open file of a partition, for a reason: [`RollReason::Age`] or
/// [`RollReason::End`] (the others are the writer's own decisions).
#[derive(Message)]
#[rtype(result = "Result<WriteOutcome, SinkError>")]
pub struct Roll(pub SourceId, pub RollReason);

/// Drop a partition's open files without completing them (the partition starts
/// over from its committed offset); multipart uploads are aborted.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Discard(pub SourceId);

/// What a `Write` or `Roll` left durable.
#[derive(Debug, Default, Clone)]
pub struct WriteOutcome {
    /// Set when the partition's files closed: everything before this offset is
    /// in the lake and may be committed.
    pub durable_before: Option<i64>,
    /// Why they closed, for metrics and logs.
    pub reason: Option<RollReason>,
    pub files: usize,
    pub bytes: usize,
}

// ---- the store ----

/// The lake's object store and its root prefix.
#[derive(Clone, Debug)]
pub struct LakeStore {
    pub store: Arc<dyn ObjectStore>,
    pub root: ObjPath,
    pub location: String,
    /// The directory of a local lake (None for object storage).
    local_dir: Option<std::path::PathBuf>,
}

impl LakeStore {
    /// A lake in memory, for benchmarks that build stream actors but measure
    /// only their CPU (nothing is written to it unless asked).
    pub fn in_memory() -> LakeStore {
        LakeStore {
            store: Arc::new(object_store::memory::InMemory::new()),
            root: ObjPath::default(),
            location: "memory://".to_string(),
            local_dir: None,
        }
    }

    /// Opens a local path, `gs://bucket/prefix` or `s3://bucket/prefix`. Cloud
    /// credentials come from the environment (`GOOGLE_APPLICATION_CREDENTIALS`,
    /// `GOOGLE_SERVICE_ACCOUNT`, `AWS_*`), as object_store reads them.
    pub fn open(location: &str) -> Result<LakeStore, SinkError> {
        let err = |message: String| SinkError::Location {
            location: location.to_string(),
            message,
        };
        if location.starts_with("gs://") {
            if let Ok(endpoint) = std::env::var(GCS_EMULATOR_ENV) {
                let url = url::Url::parse(location).map_err(|e| err(e.to_string()))?;
                let store = gcs_emulator::open(&url, &endpoint).map_err(|e| err(e.to_string()))?;
                let root = ObjPath::from_url_path(url.path()).map_err(|e| err(e.to_string()))?;
                return Ok(LakeStore {
                    store: Arc::new(store),
                    root,
                    location: location.to_string(),
                    local_dir: None,
                });
            }
        }
        if location.starts_with("gs://") || location.starts_with("s3://") {
            let url = url::Url::parse(location).map_err(|e| err(e.to_string()))?;
            let opts: Vec<(String, String)> = std::env::vars()
                .filter(|(k, _)| k.starts_with("GOOGLE_") || k.starts_with("AWS_"))
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect();
            let (store, root) =
                object_store::parse_url_opts(&url, opts).map_err(|e| err(e.to_string()))?;
            return Ok(LakeStore {
                store: Arc::from(store),
                root,
                location: location.to_string(),
                local_dir: None,
            });
        }
        std::fs::create_dir_all(location)
            .map_err(|e| err(format!("cannot create directory: {e}")))?;
        let store = object_store::local::LocalFileSystem::new_with_prefix(location)
            .map_err(|e| err(e.to_string()))?
            .with_automatic_cleanup(true);
        Ok(LakeStore {
            store: Arc::new(store),
            root: ObjPath::default(),
            location: location.to_string(),
            local_dir: Some(std::path::PathBuf::from(location)),
        })
    }

    fn path(&self, rel: &str) -> ObjPath {
        let mut p = self.root.clone();
        for part in rel.split('/') {
            p = p.clone().join(part);
        }
        p
    }

    /// Deletes the files of `source` whose batch starts at or after `from_offset`:
    /// left by a batch that was written but never committed.
    pub async fn remove_uncommitted(
        &self,
        source: &SourceId,
        from_offset: i64,
    ) -> Result<usize, SinkError> {
        let prefix = format!("{}-{}-", source.topic, source.partition);
        let mut removed = 0;
        let tables = Table::ALL.iter().map(|t| t.name()).chain([DEAD_LETTERS]);
        for table in tables {
            let dir = self.path(table);
            let list: Vec<_> =
                self.store
                    .list(Some(&dir))
                    .try_collect()
                    .await
                    .map_err(|source| SinkError::Store {
                        path: dir.to_string(),
                        source,
                    })?;
            for meta in list {
                let Some(name) = meta.location.filename() else {
                    continue;
                };
                let Some(first) = parse_first_offset(name, &prefix) else {
                    continue;
                };
                if first >= from_offset {
                    self.store
                        .delete(&meta.location)
                        .await
                        .map_err(|source| SinkError::Store {
                            path: meta.location.to_string(),
                            source,
                        })?;
                    removed += 1;
                }
            }
        }
        if let Some(dir) = &self.local_dir {
            removed += remove_staged_uploads(dir, &prefix).map_err(|e| SinkError::Location {
                location: self.location.clone(),
                message: format!("removing unfinished uploads: {e}"),
            })?;
        }
        Ok(removed)
    }
}

/// Removes the local store's staging files (`<name>.parquet#<n>`) of a
/// partition's multipart uploads that a crash left unfinished. They were never
/// visible (listings and `*.parquet` globs skip them); this only frees the disk.
/// On GCS and S3 an unfinished multipart upload is invisible too, and is
/// reclaimed by the bucket's lifecycle rule (docs/BIGQUERY.md).
fn remove_staged_uploads(dir: &std::path::Path, prefix: &str) -> std::io::Result<usize> {
    let mut removed = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                stack.push(path);
                continue;
            }
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(prefix) && name.contains(".parquet#") {
                std::fs::remove_file(&path)?;
                removed += 1;
            }
        }
    }
    Ok(removed)
}

/// Environment variable naming a GCS emulator endpoint (`http://127.0.0.1:4443`):
/// when set, `gs://` lakes talk to it without credentials (see [`gcs_emulator`]).
pub const GCS_EMULATOR_ENV: &str = "MUSICALY_GCS_EMULATOR";

/// `gs://` against a GCS emulator (fake-gcs-server), used by the tests and for
/// local development.
///
/// object_store speaks GCS's XML API. fake-gcs-server serves XML-API GET, list
/// and DELETE, but accepts an XML-API PUT only as a signed-URL upload (it looks
/// for the `X-Goog-Algorithm` query parameter), so PUTs are marked as such here.
/// Everything else (paths, listing, deletes, retries) is object_store's own
/// GCS client, unchanged, which is what the tests exercise.
pub mod gcs_emulator {
    use object_store::client::{
        ClientOptions, HttpClient, HttpConnector, HttpError, HttpRequest, HttpResponse,
        HttpService, ReqwestConnector,
    };
    use object_store::gcp::{GcpCredential, GoogleCloudStorage, GoogleCloudStorageBuilder};
    use object_store::StaticCredentialProvider;
    use std::sync::Arc;

    #[derive(Debug)]
    struct Connector;

    impl HttpConnector for Connector {
        fn connect(&self, options: &ClientOptions) -> object_store::Result<HttpClient> {
            Ok(HttpClient::new(SignedPut(
                ReqwestConnector::default().connect(options)?,
            )))
        }
    }

    #[derive(Debug)]
    struct SignedPut(HttpClient);

    #[async_trait::async_trait]
    impl HttpService for SignedPut {
        async fn call(&self, mut req: HttpRequest) -> Result<HttpResponse, HttpError> {
            if req.method() != http::Method::PUT {
                return self.0.execute(req).await;
            }
            let uri = req.uri().to_string();
            let sep = if uri.contains('?') { '&' } else { '?' };
            if let Ok(u) = format!("{uri}{sep}X-Goog-Algorithm=GOOG4-RSA-SHA256").parse() {
                *req.uri_mut() = u;
            }
            let resp = self.0.execute(req).await?;
            if resp.headers().contains_key(http::header::ETAG) || !resp.status().is_success() {
                return Ok(resp);
            }
            // The emulator answers with the object's JSON resource instead of
            // XML-API headers: lift its etag and generation into headers.
            let (mut parts, body) = resp.into_parts();
            let bytes = body.bytes().await?;
            if let Ok(obj) = serde_json::from_slice::<serde_json::Value>(&bytes) {
                for (field, header) in [("etag", "etag"), ("generation", "x-goog-generation")] {
                    if let Some(v) = obj.get(field).and_then(|v| v.as_str()) {
                        if let Ok(v) = http::HeaderValue::from_str(v) {
                            parts.headers.insert(header, v);
                        }
                    }
                }
            }
            Ok(HttpResponse::from_parts(parts, bytes.into()))
        }
    }

    /// A GCS store for `url`'s bucket on the emulator at `endpoint`, with an empty
    /// bearer token (emulators do not check it).
    pub fn open(url: &url::Url, endpoint: &str) -> object_store::Result<GoogleCloudStorage> {
        GoogleCloudStorageBuilder::new()
            .with_url(url.as_str())
            .with_base_url(endpoint.trim_end_matches('/'))
            .with_credentials(Arc::new(StaticCredentialProvider::new(GcpCredential {
                bearer: String::new(),
            })))
            .with_skip_signature(true)
            .with_http_connector(Connector)
            .build()
    }
}

/// `<topic>-<partition>-<first>.parquet` → first, when the prefix matches.
/// Also reads the `<first>-<last>` names of lakes written before files rolled.
fn parse_first_offset(name: &str, prefix: &str) -> Option<i64> {
    let rest = name.strip_prefix(prefix)?.strip_suffix(".parquet")?;
    // Offsets are written as exactly 20 digits, which keeps a topic whose name
    // extends another's (`a` and `a-1`) from matching its prefix.
    let offset = |s: &str| {
        (s.len() == 20 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<i64>().ok())
            .flatten()
    };
    match rest.split_once('-') {
        Some((first, last)) => offset(last).and(offset(first)),
        None => offset(rest),
    }
}

/// The name of a roll's files: the partition and the roll's first offset.
pub fn file_name(source: &SourceId, first: i64) -> String {
    format!(
        "{}-{}-{:020}.parquet",
        source.topic, source.partition, first
    )
}

/// `year=YYYY/month=MM/day=DD/hour=HH` of an epoch-ms hour start.
pub fn hour_partition(hour_ms: i64) -> String {
    let dt = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(hour_ms).unwrap_or_default();
    dt.format("year=%Y/month=%m/day=%d/hour=%H").to_string()
}

/// Parquet writer properties from the lake settings: the codec on
/// `lake.compressed_columns` only (all columns when it holds `"*"`).
///
/// Why not every column: in a backfill most files are small (one per table,
/// hour and partition), and each compressed column chunk sets up a codec
/// context (for zstd a compressor and a decompressor, each probing the CPU with
/// `cpuid`, which traps in a VM) and Huffman tables for a few kilobytes. On
/// eventsim's data only the long strings (songs, artists, user agents) compress
/// well; numbers, ids and short dictionary-encoded strings gain less than 1.5x,
/// often nothing (docs/BENCHMARKS.md, stream core, "Session 5").
pub fn writer_properties(settings: &LakeSettings) -> Result<WriterProperties, SinkError> {
    let compression = match settings.compression.as_str() {
        "zstd" => Compression::ZSTD(ZstdLevel::try_new(settings.zstd_level).map_err(|source| {
            SinkError::ZstdLevel {
                level: settings.zstd_level,
                source,
            }
        })?),
        "snappy" => Compression::SNAPPY,
        _ => Compression::UNCOMPRESSED,
    };
    let all = settings.compressed_columns.iter().any(|c| c == "*");
    let mut b = WriterProperties::builder()
        .set_compression(if all {
            compression
        } else {
            Compression::UNCOMPRESSED
        })
        .set_max_row_group_row_count(Some(settings.row_group_rows));
    if !all {
        for column in &settings.compressed_columns {
            b = b.set_column_compression(ColumnPath::from(column.as_str()), compression);
        }
    }
    Ok(b.build())
}

/// Columns written with `DELTA_BINARY_PACKED` and no dictionary when they are
/// 64-bit integers or timestamps: `ts` and `_offset` are (nearly) unique per row
/// and ascending within a partition's file, so a dictionary interns every value
/// only to be abandoned, and their deltas bit-pack to a few bits a row
/// (smaller than zstd of the plain values, with no codec).
const DELTA_COLUMNS: [&str; 2] = ["ts", "_offset"];

/// `base` for a file of `schema`: column statistics (min/max per page and
/// chunk) only where a reader can prune with them, numbers and timestamps. On
/// strings (user agents, songs, names) they cost about a sixth of the encoding
/// (a comparison per value) and prune nothing a query here uses. The
/// [`DELTA_COLUMNS`] of an integer type are delta-encoded.
pub fn props_for_schema(base: &WriterProperties, schema: &Schema) -> WriterProperties {
    let mut b = base.clone().into_builder();
    for f in schema.fields() {
        let path = || ColumnPath::from(f.name().as_str());
        match f.data_type() {
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Binary | DataType::LargeBinary => {
                b = b.set_column_statistics_enabled(path(), EnabledStatistics::None);
            }
            DataType::Int64 | DataType::Timestamp(_, _)
                if DELTA_COLUMNS.contains(&f.name().as_str()) =>
            {
                b = b
                    .set_column_dictionary_enabled(path(), false)
                    .set_column_encoding(path(), Encoding::DELTA_BINARY_PACKED);
            }
            _ => {}
        }
    }
    b.build()
}

fn parquet_bytes(
    rb: &RecordBatch,
    props: &WriterProperties,
    rel: &str,
) -> Result<Vec<u8>, SinkError> {
    let enc = |e: parquet::errors::ParquetError| SinkError::Encode {
        path: rel.to_string(),
        message: e.to_string(),
    };
    let mut buf = Vec::with_capacity(rb.get_array_memory_size() / 4);
    let props = props_for_schema(props, &rb.schema());
    let mut w = ArrowWriter::try_new(&mut buf, rb.schema(), Some(props)).map_err(enc)?;
    w.write(rb).map_err(enc)?;
    w.close().map_err(enc)?;
    Ok(buf)
}

/// Writes the stream's derived tables (sessions, window aggregates, late
/// events), hive-partitioned by the hour of a timestamp column. File names carry
/// the process's run id and a sequence number: derived rows are emitted once per
/// run (they are not replayed from Kafka, see ARCHITECTURE.md).
///
/// Rows are held per (table, hour) and written as one file when the hour's rows
/// are [`DerivedWriter::HOLD`] old, when the held rows reach
/// [`DerivedWriter::MAX_HELD_BYTES`], or on [`DerivedWriter::flush`]`(true)` (end of
/// a run, clean stop). Writing every tick's rows at once gave a backfill ten
/// small `sessions` files per hour (957 of the lake's 3 246 files in a 2.66 M
/// message kafka-bench run). Held rows are in memory like the open sessions and
/// windows they came from: a crash loses both (the warehouse rebuilds them from
/// the raw events).
#[derive(Clone)]
pub struct DerivedWriter {
    lake: LakeStore,
    props: WriterProperties,
    run_id: i64,
    seq: Arc<std::sync::atomic::AtomicU64>,
    held: Arc<std::sync::Mutex<Held>>,
}

/// Rows waiting to be written, per (table, hour).
#[derive(Default)]
struct Held {
    hours: BTreeMap<(String, i64), HeldHour>,
    bytes: usize,
}

struct HeldHour {
    parts: Vec<RecordBatch>,
    bytes: usize,
    since: std::time::Instant,
}

impl DerivedWriter {
    /// How long an hour's rows may wait for more of the same hour.
    pub const HOLD: std::time::Duration = std::time::Duration::from_secs(30);
    /// Held rows beyond this (Arrow memory) are written at once, oldest first.
    pub const MAX_HELD_BYTES: usize = 32 << 20;

    pub fn new(lake: LakeStore, settings: &LakeSettings) -> Result<DerivedWriter, SinkError> {
        Ok(DerivedWriter {
            lake,
            props: writer_properties(settings)?,
            run_id: crate::time::now_ms(),
            seq: Arc::new(std::sync::atomic::AtomicU64::new(0)),
            held: Arc::default(),
        })
    }

    /// Holds `rb`'s rows by the hour of `ts_column` until [`DerivedWriter::flush`].
    pub fn hold(&self, table: &str, ts_column: &str, rb: &RecordBatch) -> Result<(), SinkError> {
        if rb.num_rows() == 0 {
            return Ok(());
        }
        let parts = split_by_hour_of(rb, ts_column)?;
        let mut held = self.lock();
        for (hour, part) in parts {
            let bytes = part.get_array_memory_size();
            held.bytes += bytes;
            let h = held
                .hours
                .entry((table.to_string(), hour))
                .or_insert_with(|| HeldHour {
                    parts: Vec::new(),
                    bytes: 0,
                    since: std::time::Instant::now(),
                });
            h.parts.push(part);
            h.bytes += bytes;
        }
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Held> {
        // A panic while holding the lock leaves plain data: keep using it.
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes the due hours out (all of them with `all`) and writes each as one
    /// file; an hour whose write fails goes back, to be retried.
    pub async fn flush(&self, all: bool) -> Result<(), SinkError> {
        let due: Vec<((String, i64), HeldHour)> = {
            let mut held = self.lock();
            let mut keys: Vec<(std::time::Instant, (String, i64))> = held
                .hours
                .iter()
                .map(|(k, h)| (h.since, k.clone()))
                .collect();
            keys.sort();
            let mut over = held.bytes.saturating_sub(Self::MAX_HELD_BYTES);
            let mut due = Vec::new();
            for (since, k) in keys {
                if !(all || over > 0 || since.elapsed() >= Self::HOLD) {
                    continue;
                }
                if let Some(h) = held.hours.remove(&k) {
                    held.bytes -= h.bytes;
                    over = over.saturating_sub(h.bytes);
                    due.push((k, h));
                }
            }
            due
        };
        let mut first_error = None;
        for ((table, hour), h) in due {
            if let Err(e) = self.write_hour(&table, hour, &h.parts).await {
                first_error.get_or_insert(e);
                let mut held = self.lock();
                held.bytes += h.bytes;
                held.hours.insert((table, hour), h);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    async fn write_hour(
        &self,
        table: &str,
        hour: i64,
        parts: &[RecordBatch],
    ) -> Result<(), SinkError> {
        let Some(first) = parts.first() else {
            return Ok(());
        };
        let rb = compute::concat_batches(&first.schema(), parts).map_err(SchemaError::from)?;
        let base = table.rsplit('/').next().unwrap_or(table);
        let seq = self.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let rel = format!(
            "{table}/{}/{base}-{}-{seq:08}.parquet",
            hour_partition(hour),
            self.run_id
        );
        let bytes = parquet_bytes(&rb, &self.props, &rel)?;
        let path = self.lake.path(&rel);
        self.lake
            .store
            .put(&path, PutPayload::from(bytes))
            .await
            .map_err(|source| SinkError::Store {
                path: path.to_string(),
                source,
            })?;
        Ok(())
    }
}

// ---- the actor ----

/// When a partition's open files close, besides the end of its input.
#[derive(Debug, Clone)]
pub struct RollPolicy {
    /// One open file reached this many bytes (written + being built).
    pub file_max_bytes: usize,
    /// The partition saw an event this long after an open hour's end (ms).
    pub hour_close_ms: i64,
    /// Upload part size; smaller files are a single put.
    pub part_bytes: usize,
}

impl RollPolicy {
    pub fn from_settings(s: &LakeSettings) -> RollPolicy {
        const MIB: usize = 1 << 20;
        RollPolicy {
            file_max_bytes: (s.file_max_mb as usize).saturating_mul(MIB),
            hour_close_ms: (s.hour_close_secs as i64).saturating_mul(1000),
            part_bytes: (s.multipart_part_mb as usize).saturating_mul(MIB),
        }
    }
}

/// What the writer's futures share (they outlive a handler call).
struct Shared {
    lake: LakeStore,
    props: WriterProperties,
    metrics: Arc<Metrics>,
    budget: Arc<MemoryBudget>,
    policy: RollPolicy,
    delay: std::time::Duration,
}

/// Open files are keyed by table and hour; dead letters have one file per roll.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum FileKey {
    Table(Table, i64),
    DeadLetters,
}

/// A Parquet file being streamed to the store.
struct OpenFile {
    writer: AsyncArrowWriter<ParquetObjectWriter>,
    rel: String,
    table: Option<Table>,
    rows: usize,
}

impl OpenFile {
    fn size(&self) -> usize {
        self.writer.bytes_written() + self.writer.in_progress_size()
    }
}

/// One partition's open files: a *roll*. All of them are named after the roll's
/// first offset and close together, so "commit the offset after the roll" keeps
/// meaning "everything before it is in the lake" (ARCHITECTURE.md, exactly once).
#[derive(Default)]
struct PartitionFiles {
    /// First offset of the open roll: names its files.
    first: Option<i64>,
    /// Last offset appended (with rows or not).
    last: Option<i64>,
    files: BTreeMap<FileKey, OpenFile>,
    /// Newest event time seen by this partition (ms): closes hours.
    max_ts: i64,
    /// Memory of the open writers as last accounted in the budget.
    mem: usize,
}

impl PartitionFiles {
    async fn append(&mut self, b: &DecodedBatch, cx: &Shared) -> Result<(), SinkError> {
        let first = *self.first.get_or_insert(b.first_offset);
        self.last = Some(b.last_offset);
        let name = file_name(&b.source, first);
        for (table, rb) in &b.tables {
            let parts = split_by_hour(rb)?;
            for (hour, part) in parts {
                let key = FileKey::Table(*table, hour);
                let rel = || format!("{}/{}/{}", table.name(), hour_partition(hour), name);
                self.write(key, rel, Some(*table), &part, cx).await?;
            }
            if let Some(ts) = max_ts(rb) {
                self.max_ts = self.max_ts.max(ts);
            }
        }
        if !b.dead.is_empty() {
            let rb = dead_letter_batch(&b.source, &b.dead).map_err(|e| SinkError::Encode {
                path: name.clone(),
                message: e.to_string(),
            })?;
            let rel = || format!("{DEAD_LETTERS}/topic={}/{}", b.source.topic, name);
            self.write(FileKey::DeadLetters, rel, None, &rb, cx).await?;
        }
        self.account(cx);
        Ok(())
    }

    async fn write(
        &mut self,
        key: FileKey,
        rel: impl FnOnce() -> String,
        table: Option<Table>,
        rb: &RecordBatch,
        cx: &Shared,
    ) -> Result<(), SinkError> {
        let f = match self.files.entry(key) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => {
                let rel = rel();
                let path = cx.lake.path(&rel);
                // At most two parts in flight per file: memory per open file
                // stays within a few parts.
                let upload = object_store::buffered::BufWriter::with_capacity(
                    cx.lake.store.clone(),
                    path,
                    cx.policy.part_bytes,
                )
                .with_max_concurrency(2);
                let writer = AsyncArrowWriter::try_new(
                    ParquetObjectWriter::from_buf_writer(upload),
                    rb.schema(),
                    Some(props_for_schema(&cx.props, &rb.schema())),
                )
                .map_err(|err| write_error(&rel, err))?;
                e.insert(OpenFile {
                    writer,
                    rel,
                    table,
                    rows: 0,
                })
            }
        };
        f.writer
            .write(rb)
            .await
            .map_err(|err| write_error(&f.rel, err))?;
        f.rows += rb.num_rows();
        Ok(())
    }

    /// Why the open files should close now, if they should.
    fn roll_reason(&self, cx: &Shared) -> Option<RollReason> {
        if self
            .files
            .values()
            .any(|f| f.size() >= cx.policy.file_max_bytes)
        {
            return Some(RollReason::Size);
        }
        let closed = |k: &FileKey| match k {
            FileKey::Table(_, hour) => self.max_ts >= hour + HOUR_MS + cx.policy.hour_close_ms,
            FileKey::DeadLetters => false,
        };
        if self.files.keys().any(closed) {
            return Some(RollReason::HourClosed);
        }
        if cx.budget.lake_over() {
            return Some(RollReason::Memory);
        }
        None
    }

    /// Completes every open file (each becomes visible whole) and reports the
    /// offset before which everything is durable (also when none was open).
    async fn close_all(
        &mut self,
        cx: &Shared,
        reason: RollReason,
    ) -> Result<WriteOutcome, SinkError> {
        if self.files.is_empty() {
            // Nothing to close: whatever was appended is done as it is.
            self.first = None;
            return Ok(WriteOutcome {
                durable_before: self.last.take().map(|l| l + 1),
                ..Default::default()
            });
        }
        let mut out = WriteOutcome {
            reason: Some(reason),
            ..Default::default()
        };
        let files = std::mem::take(&mut self.files);
        for (_, mut f) in files {
            f.writer
                .finish()
                .await
                .map_err(|err| write_error(&f.rel, err))?;
            out.files += 1;
            out.bytes += f.writer.bytes_written();
            if let Some(t) = f.table {
                cx.metrics.record_written(t, f.rows);
            }
        }
        out.durable_before = self.last.map(|l| l + 1);
        self.first = None;
        self.account(cx);
        cx.metrics
            .files_written
            .fetch_add(out.files as u64, Relaxed);
        cx.metrics
            .bytes_written
            .fetch_add(out.bytes as u64, Relaxed);
        cx.metrics.record_roll(reason);
        Ok(out)
    }

    /// Abandons the open files: nothing of them becomes visible.
    async fn discard(&mut self, cx: &Shared) {
        for (_, f) in std::mem::take(&mut self.files) {
            let mut upload = f.writer.into_inner().into_inner();
            if let Err(e) = upload.abort().await {
                tracing::warn!(file = %f.rel, error = %e, "aborting an upload failed");
            }
        }
        self.first = None;
        self.last = None;
        self.account(cx);
    }

    fn account(&mut self, cx: &Shared) {
        // The writer's row group being built, plus what its upload buffer may
        // hold (encoded bytes not yet sent: at most a part).
        let mem: usize = self
            .files
            .values()
            .map(|f| f.writer.memory_size() + f.writer.bytes_written().min(cx.policy.part_bytes))
            .sum();
        cx.budget.lake_adjust(self.mem, mem);
        self.mem = mem;
    }
}

fn write_error(rel: &str, err: parquet::errors::ParquetError) -> SinkError {
    SinkError::Upload {
        path: rel.to_string(),
        message: err.to_string(),
    }
}

fn max_ts(rb: &RecordBatch) -> Option<i64> {
    let ts = typed::<TimestampMillisecondArray>(rb, "ts").ok()?;
    arrow::compute::max(ts)
}

/// Streams each partition's rows into Parquet files on the object store; one
/// writer serves many partitions (a partition always uses the same writer). The
/// handlers' futures run concurrently on the writer's thread, each partition's
/// state behind its own lock (a partition sends one message at a time).
pub struct LakeWriter {
    shared: Arc<Shared>,
    partitions: HashMap<SourceId, Arc<tokio::sync::Mutex<PartitionFiles>>>,
    mailbox: usize,
}

impl LakeWriter {
    pub fn new(
        lake: LakeStore,
        settings: &LakeSettings,
        metrics: Arc<Metrics>,
        budget: Arc<MemoryBudget>,
        mailbox: usize,
        delay: std::time::Duration,
    ) -> Result<LakeWriter, SinkError> {
        Ok(LakeWriter {
            shared: Arc::new(Shared {
                lake,
                props: writer_properties(settings)?,
                metrics,
                budget,
                policy: RollPolicy::from_settings(settings),
                delay,
            }),
            partitions: HashMap::new(),
            mailbox,
        })
    }

    fn state(&mut self, source: &SourceId) -> Arc<tokio::sync::Mutex<PartitionFiles>> {
        self.partitions.entry(source.clone()).or_default().clone()
    }
}

/// Splits a table batch by the UTC hour of its `ts` column.
fn split_by_hour(rb: &RecordBatch) -> Result<Vec<(i64, RecordBatch)>, SchemaError> {
    split_by_hour_of(rb, "ts")
}

/// Splits a batch by the UTC hour of a timestamp column.
fn split_by_hour_of(
    rb: &RecordBatch,
    column: &str,
) -> Result<Vec<(i64, RecordBatch)>, SchemaError> {
    let ts = typed::<TimestampMillisecondArray>(rb, column)?;
    const HOUR: i64 = 3_600_000;
    let hours: Vec<i64> = ts
        .values()
        .iter()
        .map(|t| t.div_euclid(HOUR) * HOUR)
        .collect();
    // A partition's events usually come in time order: then each hour is a
    // contiguous run, and a zero-copy slice (no `take` of every column); a
    // batch within one hour is one slice of itself.
    if hours.windows(2).all(|w| w[0] <= w[1]) {
        let mut parts = Vec::new();
        let mut start = 0;
        for end in 1..=hours.len() {
            if end == hours.len() || hours[end] != hours[start] {
                parts.push((hours[start], rb.slice(start, end - start)));
                start = end;
            }
        }
        return Ok(parts);
    }
    let mut groups: BTreeMap<i64, Vec<u32>> = BTreeMap::new();
    for (i, h) in hours.iter().enumerate() {
        groups.entry(*h).or_default().push(i as u32);
    }
    groups
        .into_iter()
        .map(|(h, idx)| {
            let idx = arrow::array::UInt32Array::from(idx);
            let cols: Result<Vec<ArrayRef>, _> = rb
                .columns()
                .iter()
                .map(|c| compute::take(c.as_ref(), &idx, None))
                .collect();
            let part = RecordBatch::try_new(rb.schema(), cols?)?;
            Ok((h, part))
        })
        .collect()
}

/// Dead letters as a table: where they came from, why, and the raw bytes.
fn dead_letter_batch(
    source: &SourceId,
    dead: &[DeadLetter],
) -> Result<RecordBatch, arrow::error::ArrowError> {
    let now = crate::time::now_ms();
    let schema = Arc::new(Schema::new(vec![
        Field::new("topic", DataType::Utf8, false),
        Field::new("partition", DataType::Int32, false),
        Field::new("offset", DataType::Int64, false),
        Field::new("reason", DataType::Utf8, false),
        Field::new("detail", DataType::Utf8, false),
        Field::new("raw", DataType::Binary, false),
        Field::new(
            "dead_lettered_at",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
    ]));
    let n = dead.len();
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec![source.topic.as_ref(); n])),
        Arc::new(Int32Array::from(vec![source.partition; n])),
        Arc::new(Int64Array::from_iter_values(dead.iter().map(|d| d.offset))),
        Arc::new(StringArray::from_iter_values(
            dead.iter().map(|d| d.error.kind()),
        )),
        Arc::new(StringArray::from_iter_values(
            dead.iter().map(|d| d.error.to_string()),
        )),
        Arc::new(BinaryArray::from_iter_values(
            dead.iter().map(|d| d.raw.as_slice()),
        )),
        Arc::new(TimestampMillisecondArray::from(vec![now; n]).with_timezone("UTC")),
    ];
    RecordBatch::try_new(schema, cols)
}

impl Actor for LakeWriter {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(self.mailbox);
    }
}

impl Handler<Write> for LakeWriter {
    type Result = ResponseFuture<Result<WriteOutcome, SinkError>>;

    fn handle(&mut self, msg: Write, _ctx: &mut Context<Self>) -> Self::Result {
        let state = self.state(&msg.0.source);
        let cx = self.shared.clone();
        Box::pin(async move {
            if !cx.delay.is_zero() {
                tokio::time::sleep(cx.delay).await;
            }
            let mut files = state.lock().await;
            files.append(&msg.0, &cx).await?;
            // Nothing open (e.g. a batch of events no table keeps): the offsets
            // are done as they are.
            let reason = if files.files.is_empty() {
                Some(RollReason::End)
            } else {
                files.roll_reason(&cx)
            };
            match reason {
                Some(reason) => files.close_all(&cx, reason).await,
                None => Ok(WriteOutcome::default()),
            }
        })
    }
}

impl Handler<Roll> for LakeWriter {
    type Result = ResponseFuture<Result<WriteOutcome, SinkError>>;

    fn handle(&mut self, msg: Roll, _ctx: &mut Context<Self>) -> Self::Result {
        let state = self.state(&msg.0);
        let cx = self.shared.clone();
        Box::pin(async move { state.lock().await.close_all(&cx, msg.1).await })
    }
}

impl Handler<Discard> for LakeWriter {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, msg: Discard, _ctx: &mut Context<Self>) -> Self::Result {
        let state = self.partitions.remove(&msg.0);
        let cx = self.shared.clone();
        Box::pin(async move {
            if let Some(state) = state {
                state.lock().await.discard(&cx).await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let s = SourceId {
            topic: "listen_events".into(),
            partition: 2,
        };
        let n = file_name(&s, 42);
        assert_eq!(n, "listen_events-2-00000000000000000042.parquet");
        assert_eq!(parse_first_offset(&n, "listen_events-2-"), Some(42));
        let old = "listen_events-2-00000000000000000042-00000000000000000099.parquet";
        assert_eq!(parse_first_offset(old, "listen_events-2-"), Some(42));
        assert_eq!(parse_first_offset(&n, "listen_events-1-"), None);
        assert_eq!(parse_first_offset(&n, "listen_events-"), None);
        assert_eq!(
            hour_partition(3_600_000 * 25),
            "year=1970/month=01/day=02/hour=01"
        );
    }

    /// Time-ordered rows are split by slicing, others by gathering: the same
    /// hours with the same rows either way.
    #[test]
    fn split_by_hour_keeps_every_row_in_its_hour() {
        use arrow::array::{Int64Array, TimestampMillisecondArray};
        const H: i64 = 3_600_000;
        let batch = |ts: Vec<i64>| {
            let n = ts.len() as i64;
            RecordBatch::try_from_iter([
                (
                    "ts",
                    Arc::new(TimestampMillisecondArray::from(ts)) as ArrayRef,
                ),
                (
                    "i",
                    Arc::new(Int64Array::from_iter_values(0..n)) as ArrayRef,
                ),
            ])
            .unwrap()
        };
        let rows = |parts: Vec<(i64, RecordBatch)>| -> Vec<(i64, Vec<i64>)> {
            parts
                .into_iter()
                .map(|(h, b)| {
                    let ts = typed::<TimestampMillisecondArray>(&b, "ts").unwrap();
                    assert!(ts.values().iter().all(|t| t.div_euclid(H) * H == h));
                    (h, ts.values().to_vec())
                })
                .collect()
        };
        let sorted = vec![5, H - 1, H, H + 7, 3 * H, 3 * H + 1];
        let got = rows(split_by_hour_of(&batch(sorted), "ts").unwrap());
        assert_eq!(
            got,
            vec![
                (0, vec![5, H - 1]),
                (H, vec![H, H + 7]),
                (3 * H, vec![3 * H, 3 * H + 1])
            ]
        );
        let unsorted = vec![H + 7, 5, 3 * H, H, H - 1, 3 * H + 1];
        let got = rows(split_by_hour_of(&batch(unsorted), "ts").unwrap());
        assert_eq!(
            got,
            vec![
                (0, vec![5, H - 1]),
                (H, vec![H + 7, H]),
                (3 * H, vec![3 * H, 3 * H + 1])
            ]
        );
    }

    /// Every compression the config accepts is compiled in (snappy once was
    /// accepted and then panicked inside the parquet crate); the codec is on
    /// `lake.compressed_columns` only, or on every column with `"*"`; `ts` and
    /// `_offset` are delta-encoded without a dictionary, the other columns have
    /// one; statistics on every column but strings.
    #[test]
    fn every_accepted_compression_writes_readable_files() {
        use parquet::basic::Encoding;
        use parquet::file::reader::{FileReader, SerializedFileReader};
        let mut cols = crate::columns::TableColumns::new(Table::PageView);
        let ev = crate::event::parse(
            br#"{"ts":1541105830796,"sessionId":7,"page":"NextSong","auth":"Logged In","level":"free","itemInSession":0,"userId":3,"song":"Undo","artist":"Bjork","duration":238.5,"userAgent":"Mozilla/5.0"}"#,
            &crate::event::DecodeLimits::default(),
        )
        .unwrap();
        for offset in 0..100 {
            cols.append(&ev, 0, offset);
        }
        let rb = cols.finish().unwrap();
        for (compression, codec) in [
            ("zstd", Compression::ZSTD(ZstdLevel::try_new(1).unwrap())),
            ("snappy", Compression::SNAPPY),
            ("none", Compression::UNCOMPRESSED),
        ] {
            for columns in ["song,artist", "*"] {
                let mut settings = crate::config::Settings::load(
                    None,
                    &vec![("lake.compression", compression.to_string())],
                )
                .unwrap();
                settings.lake.compressed_columns = columns.split(',').map(String::from).collect();
                let props = writer_properties(&settings.lake).unwrap();
                let bytes = parquet_bytes(&rb, &props, "t.parquet").unwrap();
                let reader = SerializedFileReader::new(bytes::Bytes::from(bytes)).unwrap();
                let rg = reader.metadata().row_group(0);
                assert_eq!(rg.num_rows(), 100, "{compression}");
                for c in rg.columns() {
                    let name = c.column_path().string();
                    let at = format!("{compression}, {columns}: {name}");
                    let delta = matches!(name.as_str(), "ts" | "_offset");
                    assert_eq!(c.dictionary_page_offset().is_some(), !delta, "{at}");
                    assert_eq!(
                        c.encodings().any(|e| e == Encoding::DELTA_BINARY_PACKED),
                        delta,
                        "{at}"
                    );
                    let string =
                        rb.schema().field_with_name(&name).unwrap().data_type() == &DataType::Utf8;
                    assert_eq!(c.statistics().is_some(), !string, "{at}");
                    let compressed = columns == "*" || matches!(name.as_str(), "song" | "artist");
                    let expected = if compressed {
                        codec
                    } else {
                        Compression::UNCOMPRESSED
                    };
                    assert_eq!(c.compression(), expected, "{at}");
                }
            }
        }
    }

    /// Rows of one hour that arrive over several ticks become one file, written
    /// only when the hour is due; every row lands, in its hour.
    #[test]
    fn derived_rows_are_held_per_hour_and_written_as_one_file() {
        use arrow::array::{Int64Array, TimestampMillisecondArray};
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let lake = LakeStore::in_memory();
        let settings = crate::config::Settings::load(None, &vec![]).unwrap();
        let w = DerivedWriter::new(lake.clone(), &settings.lake).unwrap();
        const HOUR: i64 = 3_600_000;
        let batch = |ts: Vec<i64>| {
            let n = ts.len() as i64;
            RecordBatch::try_from_iter([
                (
                    "start",
                    Arc::new(TimestampMillisecondArray::from(ts).with_timezone("UTC")) as ArrayRef,
                ),
                (
                    "n",
                    Arc::new(Int64Array::from_iter_values(0..n)) as ArrayRef,
                ),
            ])
            .unwrap()
        };
        let files = || {
            rt.block_on(async {
                let mut v: Vec<(String, usize)> = Vec::new();
                let list: Vec<_> = lake.store.list(None).try_collect().await.unwrap();
                for m in list {
                    let bytes = lake
                        .store
                        .get(&m.location)
                        .await
                        .unwrap()
                        .bytes()
                        .await
                        .unwrap();
                    let r = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
                        bytes,
                    )
                    .unwrap()
                    .build()
                    .unwrap();
                    let rows = r.map(|b| b.unwrap().num_rows()).sum();
                    v.push((m.location.to_string(), rows));
                }
                v.sort();
                v
            })
        };
        // Two ticks: hours 10 and 11, then more of hour 11.
        w.hold(
            "sessions",
            "start",
            &batch(vec![10 * HOUR, 11 * HOUR + 5, 11 * HOUR + 9]),
        )
        .unwrap();
        rt.block_on(w.flush(false)).unwrap();
        w.hold(
            "sessions",
            "start",
            &batch(vec![11 * HOUR + 7, 11 * HOUR + 8]),
        )
        .unwrap();
        rt.block_on(w.flush(false)).unwrap();
        assert!(
            files().is_empty(),
            "nothing is due before DerivedWriter::HOLD"
        );
        rt.block_on(w.flush(true)).unwrap();
        let got = files();
        assert_eq!(got.len(), 2, "one file per hour: {got:?}");
        assert!(got[0].0.contains("hour=10/sessions-"), "{got:?}");
        assert!(got[1].0.contains("hour=11/sessions-"), "{got:?}");
        assert_eq!((got[0].1, got[1].1), (1, 4));
        // Nothing is held any more.
        rt.block_on(w.flush(true)).unwrap();
        assert_eq!(files().len(), 2);
    }
}
