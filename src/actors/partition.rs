//! Partition actor: owns one topic-partition for as long as it is assigned. For
//! each batch: decode, make durable in the lake, then commit the offset after it.
//! Batches of a partition are strictly sequential, which is what makes "commit
//! only what is durable" a simple invariant.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::{mpsc, oneshot};

use super::aggregate::Aggregator;
use super::decode::{Decode, Decoder};
use super::sessionize::{Observe, PartitionGone, PartitionStarted, Sessionizer};
use super::{SourceBatch, SourceId};
use crate::event::Table;
use crate::metrics::Metrics;
use crate::sinks::lake::{LakeStore, LakeWriter, Write};

// ---- messages ----

/// What a partition actor reports when its input closes.
#[derive(Debug, Clone, Default)]
pub struct PartitionSummary {
    pub batches: u64,
    pub messages: u64,
    /// The next offset to read (last committed).
    pub committed: Option<i64>,
    pub error: Option<String>,
}

/// Commits "everything before `next_offset` is durable" to the source.
pub trait Commit: Send + Sync + 'static {
    fn commit(&self, source: &SourceId, next_offset: i64) -> Result<(), String>;
}

/// The in-process source has nothing to commit to.
pub struct NoCommit;

impl Commit for NoCommit {
    fn commit(&self, _: &SourceId, _: i64) -> Result<(), String> {
        Ok(())
    }
}

/// Wiring of one partition actor.
pub struct PartitionActor {
    pub source: SourceId,
    pub input: Option<mpsc::Receiver<SourceBatch>>,
    pub decoder: Addr<Decoder>,
    pub writer: Addr<LakeWriter>,
    pub lake: LakeStore,
    pub committer: Arc<dyn Commit>,
    pub metrics: Arc<Metrics>,
    pub done: Option<oneshot::Sender<PartitionSummary>>,
    pub observers: Observers,
}

/// The stream's stateful actors, fed with every durable batch.
#[derive(Clone, Default)]
pub struct Observers {
    pub sessionizer: Option<Addr<Sessionizer>>,
    pub aggregator: Option<Addr<Aggregator>>,
}

impl Actor for PartitionActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let Some(mut input) = self.input.take() else {
            return;
        };
        let source = self.source.clone();
        let decoder = self.decoder.clone();
        let writer = self.writer.clone();
        let lake = self.lake.clone();
        let committer = self.committer.clone();
        let metrics = self.metrics.clone();
        let observers = self.observers.clone();
        let fut = async move {
            let mut summary = PartitionSummary::default();
            // Only the topics the stream state reads hold its watermark.
            let routing = crate::event::Routing::for_topic(&source.topic);
            if let Some(s) = &observers.sessionizer {
                if matches!(
                    routing,
                    crate::event::Routing::Direct(Table::PageView)
                        | crate::event::Routing::SingleStream
                ) {
                    let _ = s.send(PartitionStarted(source.clone())).await;
                }
            }
            if let Some(a) = &observers.aggregator {
                if matches!(
                    routing,
                    crate::event::Routing::Direct(Table::Listen)
                        | crate::event::Routing::SingleStream
                ) {
                    let _ = a.send(PartitionStarted(source.clone())).await;
                }
            }
            let mut cleaned = false;
            while let Some(batch) = input.recv().await {
                let (Some(first), Some(last)) = (batch.raw.first_offset(), batch.raw.last_offset())
                else {
                    continue;
                };
                if !cleaned {
                    // Files at or after our starting offset belong to a batch
                    // whose commit never happened: remove them before rewriting.
                    match lake.remove_uncommitted(&source, first).await {
                        Ok(0) => {}
                        Ok(n) => {
                            tracing::info!(%source, from_offset = first, files = n, "removed files of uncommitted batches")
                        }
                        Err(e) => {
                            summary.error = Some(e.to_string());
                            break;
                        }
                    }
                    cleaned = true;
                }
                let read_at = batch.read_at;
                let n = batch.raw.len() as u64;
                metrics.messages_in.fetch_add(n, Relaxed);
                metrics.batches_in.fetch_add(1, Relaxed);
                let decoded = match decoder.send(Decode(batch)).await {
                    Ok(Ok(d)) => d,
                    Ok(Err(e)) => {
                        summary.error = Some(e.to_string());
                        break;
                    }
                    Err(e) => {
                        summary.error = Some(format!("decoder unavailable: {e}"));
                        break;
                    }
                };
                if !decoded.dead.is_empty() {
                    tracing::warn!(%source, dead_letters = decoded.dead.len(), first_reason = %decoded.dead[0].error, "messages dead-lettered");
                }
                let page_views = decoded
                    .tables
                    .iter()
                    .find(|(t, _)| *t == Table::PageView)
                    .map(|(_, b)| b.clone());
                let listens = decoded
                    .tables
                    .iter()
                    .find(|(t, _)| *t == Table::Listen)
                    .map(|(_, b)| b.clone());
                if let Err(e) = write_with_retry(&writer, decoded, &metrics).await {
                    summary.error = Some(e);
                    break;
                }
                // Durable: now the stream's state may see it (waits when they are busy).
                if let Err(e) = observe(&observers, &source, page_views, listens).await {
                    summary.error = Some(e);
                    break;
                }
                if let Err(e) = committer.commit(&source, last + 1) {
                    // Not fatal: the data is durable; a replay rewrites the same files.
                    tracing::warn!(%source, offset = last + 1, error = %e, "offset commit failed");
                } else {
                    metrics.commits.fetch_add(1, Relaxed);
                    summary.committed = Some(last + 1);
                }
                metrics.record_latency_ms(read_at.elapsed().as_millis() as u64);
                summary.batches += 1;
                summary.messages += n;
                tracing::debug!(%source, first, last, "batch durable and committed");
            }
            // This partition no longer holds the watermark back.
            if let Some(s) = &observers.sessionizer {
                let _ = s.send(PartitionGone(source.clone())).await;
            }
            if let Some(a) = &observers.aggregator {
                let _ = a.send(PartitionGone(source.clone())).await;
            }
            summary
        };
        ctx.spawn(fut.into_actor(self).map(|summary, act, ctx| {
            if let Some(err) = &summary.error {
                tracing::error!(source = %act.source, error = %err, "partition stopped on error");
            }
            if let Some(done) = act.done.take() {
                let _ = done.send(summary);
            }
            ctx.stop();
        }));
    }
}

async fn observe(
    o: &Observers,
    source: &SourceId,
    page_views: Option<arrow::array::RecordBatch>,
    listens: Option<arrow::array::RecordBatch>,
) -> Result<(), String> {
    if let (Some(s), Some(rows)) = (&o.sessionizer, page_views) {
        s.send(Observe {
            source: source.clone(),
            rows,
        })
        .await
        .map_err(|e| format!("sessionizer unavailable: {e}"))?
        .map_err(|e| e.to_string())?;
    }
    if let (Some(a), Some(rows)) = (&o.aggregator, listens) {
        a.send(Observe {
            source: source.clone(),
            rows,
        })
        .await
        .map_err(|e| format!("aggregator unavailable: {e}"))?
        .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Writes a batch, retrying transient storage errors with exponential backoff.
async fn write_with_retry(
    writer: &Addr<LakeWriter>,
    batch: super::decode::DecodedBatch,
    metrics: &Metrics,
) -> Result<(), String> {
    const ATTEMPTS: u32 = 8;
    let mut delay = Duration::from_millis(200);
    for attempt in 1..=ATTEMPTS {
        match writer.send(Write(batch.clone())).await {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(e)) if attempt < ATTEMPTS => {
                metrics.write_retries.fetch_add(1, Relaxed);
                tracing::warn!(source = %batch.source, attempt, error = %e, retry_in_ms = delay.as_millis() as u64, "lake write failed, retrying");
            }
            Ok(Err(e)) => return Err(e.to_string()),
            Err(e) => return Err(format!("lake writer unavailable: {e}")),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(30));
    }
    Err("lake write failed".into())
}
