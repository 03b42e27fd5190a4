//! Partition actor: owns one topic-partition for as long as it is assigned. For
//! each batch: decode, make durable in the lake, then commit the offset after it.
//! Batches of a partition are strictly sequential, which is what makes "commit
//! only what is durable" a simple invariant.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use tokio::sync::{mpsc, oneshot};

use super::aggregate::Aggregator;
use super::decode::{Decode, Decoder};
use super::sessionize::{Observe, PartitionGone, PartitionStarted, Sessionizer};
use super::{SourceBatch, SourceId};
use crate::event::Table;
use crate::metrics::Metrics;
use crate::sinks::dead_letter_topic::DeadLetterTopic;
use crate::sinks::lake::{Discard, LakeStore, LakeWriter, Roll, SinkError, Write, WriteOutcome};

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

/// How long a commit may keep its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitWait {
    /// Return once the commit is sent. Used while a partition runs: the
    /// partition actors share the system arbiter's thread, and a synchronous
    /// commit held all of them for a broker round trip (a whole outage when the
    /// broker is down). A commit lost in a crash only means a replay, which
    /// rewrites the same files.
    Sent,
    /// Return once the broker has acknowledged it. Used for a partition's last
    /// commit (revocation, stop), so that the partition's next owner starts
    /// after everything this process made durable.
    Acknowledged,
}

/// Commits "everything before `next_offset` is durable" to the source.
pub trait Commit: Send + Sync + 'static {
    fn commit(&self, source: &SourceId, next_offset: i64, wait: CommitWait) -> Result<(), String>;
}

/// The in-process source has nothing to commit to.
pub struct NoCommit;

impl Commit for NoCommit {
    fn commit(&self, _: &SourceId, _: i64, _: CommitWait) -> Result<(), String> {
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
    /// `lake.file_max_age_secs`: an open roll closes this long after it opened.
    pub max_age: Duration,
    pub dead_letters: DeadLetterRoute,
}

/// Where dead letters go (`decode.dead_letters`).
#[derive(Clone)]
pub struct DeadLetterRoute {
    /// The lake's `_dead_letters` table.
    pub to_lake: bool,
    /// A Kafka topic.
    pub topic: Option<Arc<DeadLetterTopic>>,
}

impl Default for DeadLetterRoute {
    fn default() -> Self {
        DeadLetterRoute {
            to_lake: true,
            topic: None,
        }
    }
}

/// The stream's stateful actors, fed with every durable batch.
#[derive(Clone, Default)]
pub struct Observers {
    pub sessionizer: Option<Addr<Sessionizer>>,
    pub aggregator: Option<Addr<Aggregator>>,
    /// The dashboard's live rows (`pipeline`, `run --live`), when served.
    pub live: Option<super::live_rows::LiveRows>,
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
        let max_age = self.max_age;
        let dead_letters = self.dead_letters.clone();
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
            let mut roll = OpenRoll::default();
            // A previous actor of this partition (in this process) may have
            // stopped on an error with files open: they must not complete.
            let _ = writer.send(Discard(source.clone())).await;
            // Ends with the first error, or Ok when the input closes.
            let ended: Result<(), String> = loop {
                // Checked before reading too: with a backlog, input is always
                // ready and a timeout on reading alone would never fire.
                let aged = roll.opened.is_some_and(|t| t.elapsed() >= max_age);
                let next = match roll.opened {
                    Some(t) if !aged => {
                        let deadline = tokio::time::Instant::from_std(t + max_age);
                        tokio::time::timeout_at(deadline, input.recv()).await.ok()
                    }
                    Some(_) => None,
                    None => Some(input.recv().await),
                };
                let Some(next) = next else {
                    // The roll is old enough: close it, whether or not more data comes.
                    let out = writer.send(Roll(source.clone(), "age")).await;
                    if let Err(e) = roll.settle(
                        out,
                        &source,
                        &*committer,
                        CommitWait::Sent,
                        &metrics,
                        &mut summary,
                    ) {
                        break Err(e);
                    }
                    continue;
                };
                let Some(mut batch) = next else {
                    break Ok(());
                };
                let (Some(first), Some(last)) = (batch.raw.first_offset(), batch.raw.last_offset())
                else {
                    continue;
                };
                if !cleaned {
                    // Files at or after our starting offset belong to a roll
                    // whose commit never happened: remove them before rewriting.
                    match lake.remove_uncommitted(&source, first).await {
                        Ok(0) => {}
                        Ok(n) => {
                            tracing::info!(%source, from_offset = first, files = n, "removed files of uncommitted rolls")
                        }
                        Err(e) => {
                            break Err(e.to_string());
                        }
                    }
                    cleaned = true;
                }
                let read_at = batch.read_at;
                // Held until the batch is in the lake's open files.
                let reservation = batch.reservation.take();
                let n = batch.raw.len() as u64;
                metrics.messages_in.fetch_add(n, Relaxed);
                metrics.batches_in.fetch_add(1, Relaxed);
                metrics.record_batch_size(n);
                let mut decoded = match decoder.send(Decode(batch)).await {
                    Ok(Ok(d)) => d,
                    Ok(Err(e)) => {
                        break Err(e.to_string());
                    }
                    Err(e) => {
                        break Err(format!("decoder unavailable: {e}"));
                    }
                };
                if !decoded.dead.is_empty() {
                    tracing::warn!(%source, dead_letters = decoded.dead.len(), first_reason = %decoded.dead[0].error, "messages dead-lettered");
                    if let Some(topic) = &dead_letters.topic {
                        // Delivered before the batch counts as written (and so
                        // before any commit that covers it).
                        if let Err(e) = topic.send(&source, &decoded.dead).await {
                            break Err(e.to_string());
                        }
                    }
                    if !dead_letters.to_lake {
                        decoded.dead.clear();
                    }
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
                let written = match writer.send(Write(decoded)).await {
                    Ok(r) => r,
                    Err(e) => Err(SinkError::Internal(format!("lake writer unavailable: {e}"))),
                };
                drop(reservation);
                roll.read_at.push(read_at);
                roll.opened.get_or_insert_with(Instant::now);
                if let Err(e) = roll.settle(
                    Ok(written),
                    &source,
                    &*committer,
                    CommitWait::Sent,
                    &metrics,
                    &mut summary,
                ) {
                    break Err(e);
                }
                // In the roll (durable once it closes; a crash before that replays
                // it into a new process whose state starts empty): the stream's
                // state may see it now (waits when they are busy).
                if let Err(e) = observe(&observers, &source, page_views, listens).await {
                    break Err(e);
                }
                summary.batches += 1;
                summary.messages += n;
                tracing::debug!(%source, first, last, "batch in the lake's open files");
            };
            if let Err(e) = ended {
                summary.error = Some(e);
                // Half-written files must not become visible; the offsets after
                // the last commit are re-read by the next owner of the partition.
                let _ = writer.send(Discard(source.clone())).await;
            } else {
                let out = writer.send(Roll(source.clone(), "end")).await;
                if let Err(e) = roll.settle(
                    out,
                    &source,
                    &*committer,
                    CommitWait::Acknowledged,
                    &metrics,
                    &mut summary,
                ) {
                    summary.error = Some(e);
                }
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
    if let Some(live) = &o.live {
        for (t, rows) in [(Table::PageView, &page_views), (Table::Listen, &listens)] {
            if let Some(rb) = rows {
                live.add(t, rb)?;
            }
        }
    }
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

/// The partition's open roll, as the partition actor tracks it.
#[derive(Default)]
struct OpenRoll {
    /// When its first batch went in (its age closes it).
    opened: Option<Instant>,
    /// When each of its batches was read (end-to-end latency, recorded at commit).
    read_at: Vec<Instant>,
}

impl OpenRoll {
    /// After a write or a roll: when the partition's files closed, commit the
    /// offset after them.
    fn settle(
        &mut self,
        outcome: Result<Result<WriteOutcome, SinkError>, MailboxError>,
        source: &SourceId,
        committer: &dyn Commit,
        wait: CommitWait,
        metrics: &Metrics,
        summary: &mut PartitionSummary,
    ) -> Result<(), String> {
        let outcome = match outcome {
            Ok(Ok(o)) => o,
            Ok(Err(e)) => return Err(e.to_string()),
            Err(e) => return Err(format!("lake writer unavailable: {e}")),
        };
        let Some(next) = outcome.durable_before else {
            return Ok(());
        };
        if outcome.files > 0 {
            tracing::debug!(%source, files = outcome.files, bytes = outcome.bytes, reason = outcome.reason.unwrap_or(""), "lake files closed");
        }
        if let Err(e) = committer.commit(source, next, wait) {
            // Not fatal: the data is durable; a replay rewrites the same files.
            tracing::warn!(%source, offset = next, error = %e, "offset commit failed");
        } else {
            metrics.commits.fetch_add(1, Relaxed);
            summary.committed = Some(next);
        }
        for t in self.read_at.drain(..) {
            metrics.record_latency_ms(t.elapsed().as_millis() as u64);
        }
        self.opened = None;
        Ok(())
    }
}
