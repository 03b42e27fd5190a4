//! What every handler shares: the warehouse, the live rows and view, the
//! metrics, and the change counter that `/api/stream` follows.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use serde::Serialize;

use crate::actors::aggregate::Live;
use crate::actors::live_rows::LiveRows;
use crate::metrics::Metrics;

/// What the handlers read: the warehouse, and inside a running pipeline its
/// live rows, stream view and metrics.
pub struct WebState {
    pub db: PathBuf,
    pub live: Option<LiveRows>,
    /// The stream state's view (for the watermark).
    pub stream: Option<Live>,
    pub metrics: Option<Arc<Metrics>>,
    /// Messages per second over the last second, as f64 bits (sampled).
    pub(super) rate: AtomicU64,
}

/// `/api/live` (and the data of every SSE update, plus `version`).
#[derive(Debug, Serialize)]
pub struct LiveObject {
    pub updated_ms: Option<i64>,
    pub watermark_ms: Option<i64>,
    pub latest_event_ms: Option<i64>,
    pub events_total: u64,
    pub pipeline: Option<PipelineHealth>,
}

#[derive(Debug, Serialize)]
pub struct PipelineHealth {
    pub events_per_sec: f64,
    /// Summed over partitions; null when the source has none (in-process).
    pub consumer_lag: Option<i64>,
    pub dead_letters: u64,
}

impl WebState {
    /// The finished data of a data dir (`serve`, `run --serve`).
    pub fn warehouse(db: PathBuf) -> WebState {
        WebState {
            db,
            live: None,
            stream: None,
            metrics: None,
            rate: AtomicU64::new(0),
        }
    }

    /// Inside a running pipeline (`pipeline`, `run --live`).
    pub fn pipeline(db: PathBuf, live: LiveRows, stream: Live, metrics: Arc<Metrics>) -> WebState {
        WebState {
            db,
            live: Some(live),
            stream: Some(stream),
            metrics: Some(metrics),
            rate: AtomicU64::new(0),
        }
    }

    pub fn live_object(&self) -> LiveObject {
        let status = self.live.as_ref().map(|l| l.status()).unwrap_or_default();
        let watermark_ms = self
            .stream
            .as_ref()
            .and_then(|s| s.read().ok().and_then(|v| v.watermark_ms));
        LiveObject {
            updated_ms: status.updated_ms,
            watermark_ms,
            latest_event_ms: status.latest_event_ms,
            events_total: status.events_total,
            pipeline: self.metrics.as_ref().map(|m| PipelineHealth {
                events_per_sec: f64::from_bits(self.rate.load(Relaxed)),
                consumer_lag: m.consumer_lag_total(),
                dead_letters: m.dead_letters_total(),
            }),
        }
    }

    /// Why `/readyz` says no: no data yet, or (in a pipeline) nothing consumed yet.
    pub fn not_ready(&self) -> Option<String> {
        let live_rows = self
            .live
            .as_ref()
            .is_some_and(|l| l.status().latest_event_ms.is_some());
        if !live_rows && !self.db.exists() {
            return Some(format!(
                "no data yet: no warehouse at {} and no live rows",
                self.db.display()
            ));
        }
        if let Some(m) = &self.metrics {
            if m.batches_in.load(Relaxed) == 0 {
                return Some("the pipeline has not consumed a batch yet".into());
            }
        }
        None
    }
}
