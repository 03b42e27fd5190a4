//! Pipeline counters, shared by every actor through an `Arc`. Plain atomics: no
//! lock on the hot path, one update per batch; latencies and batch sizes are
//! prometheus-client histograms. Rendered by prometheus-client in the
//! OpenMetrics text format (`/metrics`).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

use arrow::array::RecordBatch;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::event::Table;
use crate::messages::RollReason;

const DEAD_KINDS: [&str; 6] = [
    "invalid_utf8",
    "oversized",
    "not_json",
    "wrong_type",
    "missing_field",
    "ts_out_of_range",
];

#[derive(Debug, Default)]
pub struct Metrics {
    pub messages_in: AtomicU64,
    pub batches_in: AtomicU64,
    rows_decoded: [AtomicU64; 4],
    rows_written: [AtomicU64; 4],
    dead_letters: [AtomicU64; 6],
    pub files_written: AtomicU64,
    pub bytes_written: AtomicU64,
    /// Offset commits issued (each after the lake made its data durable).
    pub commits: AtomicU64,
    /// Commits the broker refused or that timed out (the data is durable: a
    /// replay rewrites the same files).
    pub commit_failures: AtomicU64,
    /// Lake rolls (files closed together), by reason (in `RollReason::ALL` order).
    rolls: [AtomicU64; 5],
    /// Events older than the watermark (written to `_late/`).
    pub late_events: AtomicU64,
    pub sessions_closed: AtomicU64,
    pub windows_closed: AtomicU64,
    /// Consumer lag per topic-partition, from librdkafka statistics.
    lag: Mutex<Vec<(String, i64)>>,
    /// Batches queued in each partition actor's mailbox, and whether the
    /// partition is held back with a parked batch (set by the Kafka source).
    mailboxes: Mutex<Vec<(String, usize, bool)>>,
    /// The data path's memory budget, once the topology exists.
    pub memory: std::sync::OnceLock<std::sync::Arc<crate::memory::MemoryBudget>>,
    /// Per-partition progress, for the systemd watchdog (see `liveness.rs`).
    pub liveness: crate::liveness::Liveness,
    /// End-to-end latency and messages per batch as Prometheus histograms
    /// (buckets an alert can sum over time and instances, which quantiles
    /// precomputed per process are not).
    latency_hist: LatencyHistogram,
    batch_hist: BatchHistogram,
}

/// Buckets of `musicaly_e2e_latency_ms`: 1 ms to 65 s, doubling.
#[derive(Debug, Clone)]
struct LatencyHistogram(Histogram);

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram(Histogram::new(exponential_buckets(1.0, 2.0, 17)))
    }
}

/// Buckets of `musicaly_batch_messages`: 1 to 4 M messages, by fours.
#[derive(Debug, Clone)]
struct BatchHistogram(Histogram);

impl Default for BatchHistogram {
    fn default() -> Self {
        BatchHistogram(Histogram::new(exponential_buckets(1.0, 4.0, 12)))
    }
}

impl Metrics {
    /// Counts decoded rows per table, and dead letters by reason kind.
    pub fn record_decoded<'a>(
        &self,
        tables: &[(Table, RecordBatch)],
        dead_kinds: impl Iterator<Item = &'a str>,
    ) {
        for (t, b) in tables {
            self.rows_decoded[t.index()].fetch_add(b.num_rows() as u64, Relaxed);
        }
        for kind in dead_kinds {
            if let Some(i) = DEAD_KINDS.iter().position(|k| *k == kind) {
                self.dead_letters[i].fetch_add(1, Relaxed);
            }
        }
    }

    pub fn record_written(&self, table: Table, rows: usize) {
        self.rows_written[table.index()].fetch_add(rows as u64, Relaxed);
    }

    pub fn record_roll(&self, reason: RollReason) {
        self.rolls[reason as usize].fetch_add(1, Relaxed);
    }

    /// End-to-end latency of a batch (source read → durable in the lake).
    pub fn record_latency_ms(&self, ms: u64) {
        self.latency_hist.0.observe(ms as f64);
    }

    /// Messages in a source batch.
    pub fn record_batch_size(&self, messages: u64) {
        self.batch_hist.0.observe(messages as f64);
    }

    pub fn set_mailboxes(&self, depths: Vec<(String, usize, bool)>) {
        // The same snapshot says which partitions have input waiting.
        self.liveness.snapshot(
            depths
                .iter()
                .map(|(p, queued, parked)| (p.as_str(), *queued > 0 || *parked)),
        );
        if let Ok(mut m) = self.mailboxes.lock() {
            *m = depths;
        }
    }

    pub fn set_consumer_lag(&self, lags: Vec<(String, i64)>) {
        if let Ok(mut l) = self.lag.lock() {
            *l = lags;
        }
    }

    /// Consumer lag summed over partitions; `None` before any statistics (or
    /// without Kafka).
    pub fn consumer_lag_total(&self) -> Option<i64> {
        let l = self.lag.lock().ok()?;
        (!l.is_empty()).then(|| l.iter().map(|(_, n)| (*n).max(0)).sum())
    }

    pub fn rows_written(&self, table: Table) -> u64 {
        self.rows_written[table.index()].load(Relaxed)
    }

    pub fn dead_letters_total(&self) -> u64 {
        self.dead_letters.iter().map(|x| x.load(Relaxed)).sum()
    }

    /// The metrics in the OpenMetrics text format (what `/metrics` serves),
    /// written by prometheus-client from a snapshot: the counters stay plain
    /// atomics (an update is one `fetch_add`, as `Counter::inc_by` is; see
    /// docs/bench13.md), so no call site depends on the crate.
    pub fn render_prometheus(&self) -> String {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(self.snapshot()));
        let mut s = String::with_capacity(8 << 10);
        let _ = prometheus_client::encoding::text::encode(&mut s, &registry);
        s
    }

    fn snapshot(&self) -> Snapshot {
        let load = |a: &[AtomicU64]| a.iter().map(|x| x.load(Relaxed)).collect();
        Snapshot {
            messages_in: self.messages_in.load(Relaxed),
            batches_in: self.batches_in.load(Relaxed),
            rows_written: load(&self.rows_written),
            dead_letters: load(&self.dead_letters),
            files_written: self.files_written.load(Relaxed),
            bytes_written: self.bytes_written.load(Relaxed),
            commits: self.commits.load(Relaxed),
            commit_failures: self.commit_failures.load(Relaxed),
            rolls: load(&self.rolls),
            late_events: self.late_events.load(Relaxed),
            sessions_closed: self.sessions_closed.load(Relaxed),
            windows_closed: self.windows_closed.load(Relaxed),
            lag: self.lag.lock().map(|l| l.clone()).unwrap_or_default(),
            memory: self
                .memory
                .get()
                .map(|m| [m.in_flight_bytes(), m.lake_bytes(), m.limit()]),
            mailboxes: self.mailboxes.lock().map(|m| m.clone()).unwrap_or_default(),
            latency: self.latency_hist.0.clone(),
            batches: self.batch_hist.0.clone(),
        }
    }
}

/// The values of [`Metrics`] at one scrape, encoded by prometheus-client.
#[derive(Debug)]
struct Snapshot {
    messages_in: u64,
    batches_in: u64,
    rows_written: Vec<u64>,
    dead_letters: Vec<u64>,
    files_written: u64,
    bytes_written: u64,
    commits: u64,
    commit_failures: u64,
    rolls: Vec<u64>,
    late_events: u64,
    sessions_closed: u64,
    windows_closed: u64,
    lag: Vec<(String, i64)>,
    memory: Option<[usize; 3]>,
    mailboxes: Vec<(String, usize, bool)>,
    latency: Histogram,
    batches: Histogram,
}

/// One unlabelled metric.
fn single(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    m: &impl EncodeMetric,
) -> std::fmt::Result {
    m.encode(e.encode_descriptor(name, help, None, m.metric_type())?)
}

/// A metric with one label, a sample per value of it.
fn labelled<'a, M: EncodeMetric + 'a>(
    e: &mut DescriptorEncoder,
    (name, help, ty): (&str, &str, MetricType),
    label: &str,
    samples: impl IntoIterator<Item = (&'a str, M)>,
) -> std::fmt::Result {
    let mut d = e.encode_descriptor(name, help, None, ty)?;
    for (value, m) in samples {
        m.encode(d.encode_family(&[(label, value)])?)?;
    }
    Ok(())
}

impl Collector for Snapshot {
    fn encode(&self, mut e: DescriptorEncoder) -> std::fmt::Result {
        use MetricType::{Counter, Gauge};
        let c = ConstCounter::new;
        let e = &mut e;
        // Counter names go without `_total`: the encoder adds it to the samples.
        single(
            e,
            "musicaly_messages_in",
            "Messages read from the source.",
            &c(self.messages_in),
        )?;
        labelled(
            e,
            (
                "musicaly_rows_written",
                "Rows durable in the lake, per table.",
                Counter,
            ),
            "table",
            Table::ALL
                .iter()
                .map(|t| (t.name(), c(self.rows_written[t.index()]))),
        )?;
        labelled(
            e,
            (
                "musicaly_dead_letters",
                "Messages rejected by the decoder, per reason.",
                Counter,
            ),
            "reason",
            DEAD_KINDS
                .iter()
                .zip(&self.dead_letters)
                .map(|(k, v)| (*k, c(*v))),
        )?;
        single(
            e,
            "musicaly_lake_files",
            "Files written to the lake.",
            &c(self.files_written),
        )?;
        single(
            e,
            "musicaly_lake_bytes",
            "Bytes written to the lake.",
            &c(self.bytes_written),
        )?;
        labelled(
            e,
            (
                "musicaly_lake_rolls",
                "Times a partition's open lake files closed together, by reason.",
                Counter,
            ),
            "reason",
            RollReason::ALL
                .iter()
                .zip(&self.rolls)
                .map(|(r, v)| (r.name(), c(*v))),
        )?;
        single(
            e,
            "musicaly_commits",
            "Offset commits issued, each after the lake made the data before it durable.",
            &c(self.commits),
        )?;
        single(
            e,
            "musicaly_commit_failures",
            "Offset commits that failed (the data is durable; a replay rewrites the same files).",
            &c(self.commit_failures),
        )?;
        labelled(
            e,
            (
                "musicaly_consumer_lag",
                "Messages behind the partition's high watermark.",
                Gauge,
            ),
            "partition",
            self.lag
                .iter()
                .map(|(tp, lag)| (tp.as_str(), ConstGauge::new(*lag))),
        )?;
        single(
            e,
            "musicaly_batches",
            "Source batches handed to partition actors.",
            &c(self.batches_in),
        )?;
        single(
            e,
            "musicaly_late_events",
            "Events behind the watermark, written to _late/.",
            &c(self.late_events),
        )?;
        single(
            e,
            "musicaly_sessions_closed",
            "Sessions closed by the sessionizer.",
            &c(self.sessions_closed),
        )?;
        single(
            e,
            "musicaly_windows_closed",
            "Aggregation windows closed.",
            &c(self.windows_closed),
        )?;
        if let Some(m) = self.memory {
            labelled(
                e,
                (
                    "musicaly_memory_bytes",
                    "Data-path memory accounted against pipeline.memory_limit_mb.",
                    Gauge,
                ),
                "part",
                ["in_flight", "lake_buffers", "limit"]
                    .into_iter()
                    .zip(m)
                    .map(|(p, v)| (p, ConstGauge::new(v as i64))),
            )?;
        }
        labelled(
            e,
            (
                "musicaly_mailbox_batches",
                "Batches queued for each partition actor.",
                Gauge,
            ),
            "partition",
            self.mailboxes
                .iter()
                .map(|(p, d, _)| (p.as_str(), ConstGauge::new(*d as i64))),
        )?;
        labelled(
            e,
            ("musicaly_partition_paused", "1 while backpressure holds a partition back (a parked batch; its queue is not read).", Gauge),
            "partition",
            self.mailboxes.iter().map(|(p, _, paused)| (p.as_str(), ConstGauge::new(i64::from(*paused)))),
        )?;
        single(
            e,
            "musicaly_batch_messages",
            "Messages per source batch.",
            &self.batches,
        )?;
        single(
            e,
            "musicaly_e2e_latency_ms",
            "End-to-end latency, source read to durable, in milliseconds.",
            &self.latency,
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every sample name the hand-written writer had is still served (counters
    /// keep their `_total` samples), latencies and batch sizes are histograms
    /// with cumulative buckets, and the exposition ends as OpenMetrics requires.
    #[test]
    fn renders_every_metric_in_openmetrics_text() {
        let m = Metrics::default();
        m.messages_in.fetch_add(7, Relaxed);
        m.record_written(Table::Listen, 5);
        m.record_roll(RollReason::Size);
        m.set_consumer_lag(vec![("listen_events-0".into(), 12)]);
        m.set_mailboxes(vec![("listen_events-0".into(), 3, true)]);
        let _ = m.memory.set(crate::memory::MemoryBudget::new(256));
        for ms in [3, 3, 700] {
            m.record_latency_ms(ms);
        }
        m.record_batch_size(20_000);
        let text = m.render_prometheus();
        for line in [
            "musicaly_messages_in_total 7",
            "musicaly_rows_written_total{table=\"listen_events\"} 5",
            "musicaly_rows_written_total{table=\"auth_events\"} 0",
            "musicaly_dead_letters_total{reason=\"not_json\"} 0",
            "musicaly_lake_files_total 0",
            "musicaly_lake_bytes_total 0",
            "musicaly_lake_rolls_total{reason=\"size\"} 1",
            "musicaly_commits_total 0",
            "musicaly_commit_failures_total 0",
            "musicaly_consumer_lag{partition=\"listen_events-0\"} 12",
            "musicaly_batches_total 0",
            "musicaly_late_events_total 0",
            "musicaly_sessions_closed_total 0",
            "musicaly_windows_closed_total 0",
            "musicaly_memory_bytes{part=\"limit\"} 268435456",
            "musicaly_mailbox_batches{partition=\"listen_events-0\"} 3",
            "musicaly_partition_paused{partition=\"listen_events-0\"} 1",
            "# TYPE musicaly_e2e_latency_ms histogram",
            "musicaly_e2e_latency_ms_bucket{le=\"2.0\"} 0",
            "musicaly_e2e_latency_ms_bucket{le=\"4.0\"} 2",
            "musicaly_e2e_latency_ms_bucket{le=\"1024.0\"} 3",
            "musicaly_e2e_latency_ms_bucket{le=\"+Inf\"} 3",
            "musicaly_e2e_latency_ms_sum 706.0",
            "musicaly_e2e_latency_ms_count 3",
            "musicaly_batch_messages_bucket{le=\"16384.0\"} 0",
            "musicaly_batch_messages_bucket{le=\"65536.0\"} 1",
            "musicaly_batch_messages_count 1",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in:\n{text}"
            );
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
