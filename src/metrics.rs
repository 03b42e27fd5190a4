//! Pipeline counters, shared by every actor through an `Arc`. Plain atomics: no
//! lock on the hot path, one update per batch. Rendered in Prometheus text format.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

use arrow::array::RecordBatch;

use crate::event::Table;

const DEAD_KINDS: [&str; 6] = [
    "invalid_utf8",
    "oversized",
    "not_json",
    "wrong_type",
    "missing_field",
    "ts_out_of_range",
];

const ROLL_REASONS: [&str; 5] = ["size", "hour_closed", "memory", "age", "end"];

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
    /// Lake rolls (files closed together), by reason (ROLL_REASONS).
    rolls: [AtomicU64; 5],
    /// Events older than the watermark (written to `_late/`).
    pub late_events: AtomicU64,
    pub sessions_closed: AtomicU64,
    pub windows_closed: AtomicU64,
    /// Consumer lag per topic-partition, from librdkafka statistics.
    lag: Mutex<Vec<(String, i64)>>,
    /// End-to-end latency (source read → durable in the lake), milliseconds.
    latency: Mutex<Option<hdrhistogram::Histogram<u64>>>,
    /// Messages per source batch.
    batch_sizes: Mutex<Option<hdrhistogram::Histogram<u64>>>,
    /// Batches queued in each partition actor's mailbox, and whether the
    /// partition is held back with a parked batch (set by the Kafka source).
    mailboxes: Mutex<Vec<(String, usize, bool)>>,
    /// The data path's memory budget, once the topology exists.
    pub memory: std::sync::OnceLock<std::sync::Arc<crate::memory::MemoryBudget>>,
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

    pub fn record_roll(&self, reason: &str) {
        if let Some(i) = ROLL_REASONS.iter().position(|r| *r == reason) {
            self.rolls[i].fetch_add(1, Relaxed);
        }
    }

    pub fn record_latency_ms(&self, ms: u64) {
        if let Ok(mut h) = self.latency.lock() {
            let h = h.get_or_insert_with(|| {
                hdrhistogram::Histogram::new_with_bounds(1, 3_600_000, 3)
                    .expect("valid histogram bounds")
            });
            let _ = h.record(ms.clamp(1, 3_600_000));
        }
    }

    pub fn record_batch_size(&self, messages: u64) {
        if let Ok(mut h) = self.batch_sizes.lock() {
            let h = h.get_or_insert_with(|| {
                hdrhistogram::Histogram::new_with_bounds(1, 10_000_000, 2)
                    .expect("valid histogram bounds")
            });
            let _ = h.record(messages.clamp(1, 10_000_000));
        }
    }

    pub fn set_mailboxes(&self, depths: Vec<(String, usize, bool)>) {
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

    /// Prometheus text exposition format.
    pub fn render_prometheus(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "# HELP musicaly_messages_in_total Messages read from the source.\n# TYPE musicaly_messages_in_total counter\nmusicaly_messages_in_total {}", self.messages_in.load(Relaxed));
        let _ = writeln!(s, "# HELP musicaly_rows_written_total Rows durable in the lake, per table.\n# TYPE musicaly_rows_written_total counter");
        for t in Table::ALL {
            let _ = writeln!(
                s,
                "musicaly_rows_written_total{{table=\"{}\"}} {}",
                t.name(),
                self.rows_written(t)
            );
        }
        let _ = writeln!(s, "# HELP musicaly_dead_letters_total Messages rejected by the decoder, per reason.\n# TYPE musicaly_dead_letters_total counter");
        for (i, k) in DEAD_KINDS.iter().enumerate() {
            let _ = writeln!(
                s,
                "musicaly_dead_letters_total{{reason=\"{k}\"}} {}",
                self.dead_letters[i].load(Relaxed)
            );
        }
        let _ = writeln!(
            s,
            "# TYPE musicaly_lake_files_total counter\nmusicaly_lake_files_total {}",
            self.files_written.load(Relaxed)
        );
        let _ = writeln!(
            s,
            "# TYPE musicaly_lake_bytes_total counter\nmusicaly_lake_bytes_total {}",
            self.bytes_written.load(Relaxed)
        );
        let _ = writeln!(s, "# HELP musicaly_lake_rolls_total Times a partition's open lake files closed together, by reason.\n# TYPE musicaly_lake_rolls_total counter");
        for (i, r) in ROLL_REASONS.iter().enumerate() {
            let _ = writeln!(
                s,
                "musicaly_lake_rolls_total{{reason=\"{r}\"}} {}",
                self.rolls[i].load(Relaxed)
            );
        }
        let _ = writeln!(
            s,
            "# HELP musicaly_commits_total Offset commits issued, each after the lake made the data before it durable.\n# TYPE musicaly_commits_total counter\nmusicaly_commits_total {}",
            self.commits.load(Relaxed)
        );
        let _ = writeln!(
            s,
            "# HELP musicaly_commit_failures_total Offset commits that failed (the data is durable; a replay rewrites the same files).\n# TYPE musicaly_commit_failures_total counter\nmusicaly_commit_failures_total {}",
            self.commit_failures.load(Relaxed)
        );
        if let Ok(l) = self.lag.lock() {
            let _ = writeln!(s, "# HELP musicaly_consumer_lag Messages behind the partition's high watermark.\n# TYPE musicaly_consumer_lag gauge");
            for (tp, lag) in l.iter() {
                let _ = writeln!(s, "musicaly_consumer_lag{{partition=\"{tp}\"}} {lag}");
            }
        }
        let _ = writeln!(s, "# HELP musicaly_batches_total Source batches handed to partition actors.\n# TYPE musicaly_batches_total counter\nmusicaly_batches_total {}", self.batches_in.load(Relaxed));
        let _ = writeln!(s, "# HELP musicaly_late_events_total Events behind the watermark, written to _late/.\n# TYPE musicaly_late_events_total counter\nmusicaly_late_events_total {}", self.late_events.load(Relaxed));
        let _ = writeln!(
            s,
            "# TYPE musicaly_sessions_closed_total counter\nmusicaly_sessions_closed_total {}",
            self.sessions_closed.load(Relaxed)
        );
        let _ = writeln!(
            s,
            "# TYPE musicaly_windows_closed_total counter\nmusicaly_windows_closed_total {}",
            self.windows_closed.load(Relaxed)
        );
        if let Some(m) = self.memory.get() {
            let _ = writeln!(s, "# HELP musicaly_memory_bytes Data-path memory accounted against pipeline.memory_limit_mb.\n# TYPE musicaly_memory_bytes gauge");
            let _ = writeln!(
                s,
                "musicaly_memory_bytes{{part=\"in_flight\"}} {}",
                m.in_flight_bytes()
            );
            let _ = writeln!(
                s,
                "musicaly_memory_bytes{{part=\"lake_buffers\"}} {}",
                m.lake_bytes()
            );
            let _ = writeln!(s, "musicaly_memory_bytes{{part=\"limit\"}} {}", m.limit());
        }
        if let Ok(mb) = self.mailboxes.lock() {
            let _ = writeln!(s, "# HELP musicaly_mailbox_batches Batches queued for each partition actor.\n# TYPE musicaly_mailbox_batches gauge");
            for (p, depth, _) in mb.iter() {
                let _ = writeln!(s, "musicaly_mailbox_batches{{partition=\"{p}\"}} {depth}");
            }
            let _ = writeln!(s, "# HELP musicaly_partition_paused 1 while backpressure holds a partition back (a parked batch; its queue is not read).\n# TYPE musicaly_partition_paused gauge");
            for (p, _, paused) in mb.iter() {
                let _ = writeln!(
                    s,
                    "musicaly_partition_paused{{partition=\"{p}\"}} {}",
                    u8::from(*paused)
                );
            }
        }
        if let Ok(h) = self.batch_sizes.lock() {
            if let Some(h) = h.as_ref() {
                let _ = writeln!(s, "# HELP musicaly_batch_messages Messages per source batch.\n# TYPE musicaly_batch_messages summary");
                for q in [0.5, 0.9, 0.99] {
                    let _ = writeln!(
                        s,
                        "musicaly_batch_messages{{quantile=\"{q}\"}} {}",
                        h.value_at_quantile(q)
                    );
                }
                let _ = writeln!(s, "musicaly_batch_messages_count {}", h.len());
            }
        }
        if let Ok(h) = self.latency.lock() {
            if let Some(h) = h.as_ref() {
                let _ = writeln!(s, "# HELP musicaly_e2e_latency_ms End-to-end latency, source read to durable.\n# TYPE musicaly_e2e_latency_ms summary");
                for q in [0.5, 0.9, 0.99] {
                    let _ = writeln!(
                        s,
                        "musicaly_e2e_latency_ms{{quantile=\"{q}\"}} {}",
                        h.value_at_quantile(q)
                    );
                }
                let _ = writeln!(s, "musicaly_e2e_latency_ms_count {}", h.len());
            }
        }
        s
    }
}
