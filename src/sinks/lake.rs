//! Lake sink: Parquet files on object storage (local disk, `gs://`, `s3://`).
//!
//! Layout: `<lake>/<table>/year=YYYY/month=MM/day=DD/hour=HH/<topic>-<partition>-<first>-<last>.parquet`
//! where `<first>`/`<last>` are the (zero-padded) source offsets the batch
//! covered. Names are a function of the input, and every file is put whole (a
//! local put writes a temporary file and renames it; GCS/S3 puts are atomic), so:
//!
//! - a batch replayed from the same offset rewrites the same names;
//! - after a crash, [`LakeStore::remove_uncommitted`] deletes the files of a
//!   partition that start at or after its committed offset (a batch whose commit
//!   never happened) before the partition is read again.
//!
//! Together with committing offsets only after the files are durable, every
//! valid event read lands exactly once.

use std::collections::BTreeMap;
use std::sync::Arc;

use actix::prelude::*;
use arrow::array::{
    Array, ArrayRef, BinaryArray, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMillisecondArray,
};
use arrow::compute;
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use futures::TryStreamExt;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::actors::decode::{DeadLetter, DecodedBatch};
use crate::actors::SourceId;
use crate::config::LakeSettings;
use crate::event::Table;
use crate::metrics::Metrics;

/// Name of the dead-letter table in the lake.
pub const DEAD_LETTERS: &str = "_dead_letters";

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
    #[error("stream state: {0}")]
    Internal(String),
}

// ---- messages ----

/// Make a decoded batch durable in the lake.
#[derive(Message)]
#[rtype(result = "Result<WriteReport, SinkError>")]
pub struct Write(pub DecodedBatch);

/// One encoded file: path relative to the lake, Parquet bytes, its table
/// (None for dead letters) and its rows.
struct EncodedFile {
    rel: String,
    bytes: Vec<u8>,
    table: Option<Table>,
    rows: usize,
}

#[derive(Debug, Default, Clone)]
pub struct WriteReport {
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
}

impl LakeStore {
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
        Ok(removed)
    }
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

/// `<topic>-<partition>-<first>-<last>.parquet` → first, when the prefix matches.
fn parse_first_offset(name: &str, prefix: &str) -> Option<i64> {
    let rest = name.strip_prefix(prefix)?.strip_suffix(".parquet")?;
    let (first, last) = rest.split_once('-')?;
    last.parse::<i64>().ok()?;
    first.parse().ok()
}

/// The file name of a batch.
pub fn file_name(source: &SourceId, first: i64, last: i64) -> String {
    format!(
        "{}-{}-{:020}-{:020}.parquet",
        source.topic, source.partition, first, last
    )
}

/// `year=YYYY/month=MM/day=DD/hour=HH` of an epoch-ms hour start.
pub fn hour_partition(hour_ms: i64) -> String {
    let dt = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(hour_ms).unwrap_or_default();
    dt.format("year=%Y/month=%m/day=%d/hour=%H").to_string()
}

/// Parquet writer properties from the lake settings.
pub fn writer_properties(settings: &LakeSettings) -> Result<WriterProperties, SinkError> {
    let compression = match settings.compression.as_str() {
        "zstd" => Compression::ZSTD(
            ZstdLevel::try_new(settings.zstd_level)
                .map_err(|e| SinkError::Internal(e.to_string()))?,
        ),
        "snappy" => Compression::SNAPPY,
        _ => Compression::UNCOMPRESSED,
    };
    Ok(WriterProperties::builder()
        .set_compression(compression)
        .set_max_row_group_row_count(Some(settings.row_group_rows))
        .build())
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
    let mut w = ArrowWriter::try_new(&mut buf, rb.schema(), Some(props.clone())).map_err(enc)?;
    w.write(rb).map_err(enc)?;
    w.close().map_err(enc)?;
    Ok(buf)
}

/// Writes the stream's derived tables (sessions, window aggregates, late
/// events), hive-partitioned by the hour of a timestamp column. File names carry
/// the process's run id and a sequence number: derived rows are emitted once per
/// run (they are not replayed from Kafka, see ARCHITECTURE.md).
#[derive(Clone)]
pub struct DerivedWriter {
    lake: LakeStore,
    props: WriterProperties,
    run_id: i64,
    seq: Arc<std::sync::atomic::AtomicU64>,
}

impl DerivedWriter {
    pub fn new(lake: LakeStore, settings: &LakeSettings) -> Result<DerivedWriter, SinkError> {
        Ok(DerivedWriter {
            lake,
            props: writer_properties(settings)?,
            run_id: crate::time::now_ms(),
            seq: Arc::new(std::sync::atomic::AtomicU64::new(0)),
        })
    }

    pub async fn write(
        &self,
        table: &str,
        ts_column: &str,
        rb: &RecordBatch,
    ) -> Result<(), SinkError> {
        if rb.num_rows() == 0 {
            return Ok(());
        }
        let base = table.rsplit('/').next().unwrap_or(table);
        for (hour, part) in split_by_hour_of(rb, ts_column).map_err(SinkError::Internal)? {
            let seq = self.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let rel = format!(
                "{table}/{}/{base}-{}-{seq:08}.parquet",
                hour_partition(hour),
                self.run_id
            );
            let bytes = parquet_bytes(&part, &self.props, &rel)?;
            let path = self.lake.path(&rel);
            self.lake
                .store
                .put(&path, PutPayload::from(bytes))
                .await
                .map_err(|source| SinkError::Store {
                    path: path.to_string(),
                    source,
                })?;
        }
        Ok(())
    }
}

// ---- the actor ----

pub struct LakeWriter {
    lake: LakeStore,
    props: WriterProperties,
    metrics: Arc<Metrics>,
    mailbox: usize,
    /// Artificial delay per write, for backpressure tests (0 in production).
    pub delay: std::time::Duration,
}

impl LakeWriter {
    pub fn new(
        lake: LakeStore,
        settings: &LakeSettings,
        metrics: Arc<Metrics>,
        mailbox: usize,
    ) -> Result<LakeWriter, SinkError> {
        let props = writer_properties(settings)?;
        Ok(LakeWriter {
            lake,
            props,
            metrics,
            mailbox,
            delay: std::time::Duration::ZERO,
        })
    }

    /// Encodes every file of a batch: (relative path, bytes, table, rows).
    fn encode(&self, batch: &DecodedBatch) -> Result<Vec<EncodedFile>, SinkError> {
        let name = file_name(&batch.source, batch.first_offset, batch.last_offset);
        let mut files = Vec::new();
        for (table, rb) in &batch.tables {
            for (hour, part) in split_by_hour(rb).map_err(|e| SinkError::Encode {
                path: name.clone(),
                message: e,
            })? {
                let rel = format!("{}/{}/{}", table.name(), hour_partition(hour), name);
                let bytes = self.to_parquet(&part, &rel)?;
                files.push(EncodedFile {
                    rel,
                    bytes,
                    table: Some(*table),
                    rows: part.num_rows(),
                });
            }
        }
        if !batch.dead.is_empty() {
            let rb =
                dead_letter_batch(&batch.source, &batch.dead).map_err(|e| SinkError::Encode {
                    path: name.clone(),
                    message: e.to_string(),
                })?;
            let rel = format!("{DEAD_LETTERS}/topic={}/{}", batch.source.topic, name);
            let bytes = self.to_parquet(&rb, &rel)?;
            files.push(EncodedFile {
                rel,
                bytes,
                table: None,
                rows: batch.dead.len(),
            });
        }
        Ok(files)
    }

    fn to_parquet(&self, rb: &RecordBatch, rel: &str) -> Result<Vec<u8>, SinkError> {
        parquet_bytes(rb, &self.props, rel)
    }
}

/// Splits a table batch by the UTC hour of its `ts` column.
fn split_by_hour(rb: &RecordBatch) -> Result<Vec<(i64, RecordBatch)>, String> {
    split_by_hour_of(rb, "ts")
}

/// Splits a batch by the UTC hour of a timestamp column.
fn split_by_hour_of(rb: &RecordBatch, column: &str) -> Result<Vec<(i64, RecordBatch)>, String> {
    let ts = rb
        .column_by_name(column)
        .and_then(|c| c.as_any().downcast_ref::<TimestampMillisecondArray>())
        .ok_or_else(|| format!("batch has no timestamp column {column}"))?;
    const HOUR: i64 = 3_600_000;
    let hours: Vec<i64> = ts
        .values()
        .iter()
        .map(|t| t.div_euclid(HOUR) * HOUR)
        .collect();
    if let (Some(first), true) = (hours.first(), hours.windows(2).all(|w| w[0] == w[1])) {
        return Ok(vec![(*first, rb.clone())]);
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
            let part = RecordBatch::try_new(rb.schema(), cols.map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())?;
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
    type Result = ResponseFuture<Result<WriteReport, SinkError>>;

    fn handle(&mut self, msg: Write, _ctx: &mut Context<Self>) -> Self::Result {
        let encoded = self.encode(&msg.0);
        let lake = self.lake.clone();
        let metrics = self.metrics.clone();
        let delay = self.delay;
        Box::pin(async move {
            let files = encoded?;
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let mut report = WriteReport::default();
            for EncodedFile {
                rel,
                bytes,
                table,
                rows,
            } in files
            {
                let path = lake.path(&rel);
                let len = bytes.len();
                lake.store
                    .put(&path, PutPayload::from(bytes))
                    .await
                    .map_err(|source| SinkError::Store {
                        path: path.to_string(),
                        source,
                    })?;
                report.files += 1;
                report.bytes += len;
                if let Some(t) = table {
                    metrics.record_written(t, rows);
                }
            }
            metrics
                .files_written
                .fetch_add(report.files as u64, std::sync::atomic::Ordering::Relaxed);
            metrics
                .bytes_written
                .fetch_add(report.bytes as u64, std::sync::atomic::Ordering::Relaxed);
            Ok(report)
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
        let n = file_name(&s, 42, 99);
        assert_eq!(parse_first_offset(&n, "listen_events-2-"), Some(42));
        assert_eq!(parse_first_offset(&n, "listen_events-1-"), None);
        assert_eq!(parse_first_offset(&n, "listen_events-"), None);
        assert_eq!(
            hour_partition(3_600_000 * 25),
            "year=1970/month=01/day=02/hour=01"
        );
    }
}
