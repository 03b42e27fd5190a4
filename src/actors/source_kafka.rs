//! Kafka source for `musicaly pipeline`.
//!
//! One consumer in a consumer group (several `musicaly pipeline` processes with the
//! same `kafka.group_id` share the partitions). A dedicated polling thread cuts
//! batches per topic-partition and hands each to that partition's actor
//! (see `partition.rs`), which decodes, writes and then commits.
//!
//! - **Backpressure per partition**: a batch is handed over with `try_send`; when
//!   the partition's mailbox is full the batch is parked and the partition is
//!   *paused* in the consumer, and resumed once the parked batch is accepted. The
//!   polling thread never blocks on a slow partition, other partitions keep
//!   flowing. Memory: a batch handed to a partition actor holds a reservation of
//!   `pipeline.memory_limit_mb` (see `memory.rs`) until it is in the lake; while
//!   that budget is spent, batches are parked (at most one per partition, not
//!   reserved, so parked batches can never starve the budget) and their
//!   partitions paused; librdkafka's prefetch
//!   (`queued.max.messages.kbytes`) gets an eighth of the limit.
//! - **Rebalances**: before partitions are revoked (`pre_rebalance`, which runs on
//!   the polling thread and holds up the rebalance), their open batches are
//!   flushed and we wait for their actors to make everything durable and commit.
//!   If that takes longer than `kafka.revoke_timeout_secs` the process exits
//!   (systemd restarts it) rather than keep writing a partition another consumer
//!   now owns: that is what keeps "exactly once" across rebalances.
//! - Offsets are committed only by the partition actors, after the data is
//!   durable (`enable.auto.commit=false`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaResult;
use rdkafka::message::Message;
use rdkafka::statistics::Statistics;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use rustc_hash::FxHashMap;
use tokio::sync::mpsc::error::TrySendError;

use super::partition::{Commit, PartitionSummary};
use super::topology::{PartitionHandle, Spawner};
use super::{RawBatch, SourceBatch, SourceId};
use crate::config::Settings;
use crate::memory::MemoryBudget;

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("Kafka client for brokers {brokers}: {message}")]
    Client { brokers: String, message: String },
}

type Key = (Arc<str>, i32);

/// One assigned partition as the polling thread sees it.
struct Open {
    source: SourceId,
    handle: PartitionHandle,
    batch: RawBatch,
    started: Option<Instant>,
    /// A batch the actor's mailbox had no room for; the partition is paused.
    parked: Option<SourceBatch>,
    /// Paused from the message loop, before the tick (see there).
    paused_early: bool,
}

struct State {
    /// Looked up per message: FxHash (SipHash of the topic name was 8 % of the
    /// polling thread).
    open: FxHashMap<Key, Open>,
    finished: Vec<(SourceId, PartitionSummary)>,
    to_pause: Vec<Key>,
}

/// The consumer's context: logs and handles rebalances, collects statistics.
pub struct PipelineContext {
    state: Mutex<State>,
    committer: OnceLock<Arc<dyn Commit>>,
    revoke_timeout: Duration,
    metrics: Arc<crate::metrics::Metrics>,
    budget: Arc<MemoryBudget>,
    /// Partitions assigned by the last rebalance (0 while joining the group).
    assigned: std::sync::atomic::AtomicUsize,
}

impl ClientContext for PipelineContext {
    fn stats(&self, statistics: Statistics) {
        let mut lags = Vec::new();
        for (topic, t) in &statistics.topics {
            for (p, part) in &t.partitions {
                if *p >= 0 && part.consumer_lag >= 0 {
                    lags.push((format!("{topic}-{p}"), part.consumer_lag));
                }
            }
        }
        self.metrics.set_consumer_lag(lags);
    }
}

impl ConsumerContext for PipelineContext {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, r: &Rebalance<'_>) {
        match r {
            Rebalance::Revoke(tpl) => {
                let keys: Vec<(String, i32)> = tpl
                    .elements()
                    .iter()
                    .map(|e| (e.topic().to_string(), e.partition()))
                    .collect();
                tracing::info!(
                    partitions = keys.len(),
                    "rebalance: revoking; finishing their batches first"
                );
                self.assigned.store(0, Ordering::Relaxed);
                self.finish_partitions(|k| keys.iter().any(|(t, p)| **t == *k.0 && *p == k.1));
            }
            Rebalance::Assign(tpl) => {
                self.assigned.store(tpl.count(), Ordering::Relaxed);
                tracing::info!(partitions = tpl.count(), "rebalance: assigning")
            }
            Rebalance::Error(e) => tracing::warn!(error = %e, "rebalance error"),
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, _offsets: &TopicPartitionList) {
        if let Err(e) = result {
            tracing::warn!(error = %e, "offset commit failed");
        }
    }
}

impl PipelineContext {
    /// Flushes and closes the partitions matching `which`, then waits until their
    /// actors have made everything durable and committed.
    fn finish_partitions(&self, which: impl Fn(&Key) -> bool) {
        let mut waiting = Vec::new();
        {
            let Ok(mut st) = self.state.lock() else {
                return;
            };
            let keys: Vec<Key> = st.open.keys().filter(|k| which(k)).cloned().collect();
            for k in keys {
                if let Some(mut o) = st.open.remove(&k) {
                    for b in o.parked.take().into_iter().chain(take_batch(&mut o, 0)) {
                        if o.handle
                            .input
                            .blocking_send(reserved(b, &self.budget))
                            .is_err()
                        {
                            tracing::error!(source = %o.source, "partition actor stopped before its last batch");
                        }
                    }
                    waiting.push((o.source, o.handle.done));
                    // o.handle.input drops here: the actor finishes after its queue.
                }
            }
        }
        let deadline = Instant::now() + self.revoke_timeout;
        let mut finished = Vec::new();
        for (source, mut done) in waiting {
            let summary = loop {
                match done.try_recv() {
                    Ok(s) => break s,
                    Err(tokio::sync::oneshot::error::TryRecvError::Closed) => {
                        break PartitionSummary::default()
                    }
                    Err(tokio::sync::oneshot::error::TryRecvError::Empty) => {}
                }
                if Instant::now() > deadline {
                    // Someone else may own this partition next: do not keep writing it.
                    tracing::error!(%source, timeout_secs = self.revoke_timeout.as_secs(), "partition did not finish before revocation; exiting so that no other consumer's data is overwritten (uncommitted data will be re-read)");
                    std::process::exit(3);
                }
                std::thread::sleep(Duration::from_millis(5));
            };
            finished.push((source, summary));
        }
        if let Ok(mut st) = self.state.lock() {
            st.finished.extend(finished);
        }
    }
}

/// The open batch, handed over; the next one starts with at most `cap` bytes
/// of buffer (see [`RawBatch::take_capped`]).
fn take_batch(o: &mut Open, cap: usize) -> Option<SourceBatch> {
    if o.batch.is_empty() {
        return None;
    }
    let raw = o.batch.take_capped(cap);
    Some(SourceBatch {
        source: o.source.clone(),
        reservation: None,
        raw,
        read_at: o.started.take().unwrap_or_else(Instant::now),
    })
}

type Kc = BaseConsumer<PipelineContext>;

struct KafkaCommit(Arc<Kc>);

impl Commit for KafkaCommit {
    fn commit(&self, source: &SourceId, next_offset: i64) -> Result<(), String> {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&source.topic, source.partition, Offset::Offset(next_offset))
            .map_err(|e| e.to_string())?;
        self.0
            .commit(&tpl, CommitMode::Sync)
            .map_err(|e| e.to_string())
    }
}

fn consumer(settings: &Settings, spawner: &Spawner) -> Result<Arc<Kc>, SourceError> {
    let k = &settings.kafka;
    let err = |e: rdkafka::error::KafkaError| SourceError::Client {
        brokers: k.brokers.clone(),
        message: e.to_string(),
    };
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", &k.brokers)
        .set("group.id", &k.group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", &k.auto_offset_reset)
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "1000")
        // librdkafka's prefetch gets a sixteenth of pipeline.memory_limit_mb, and
        // keeps 1 000 messages per partition (its default is 100 000): a pause
        // throws away what was prefetched for the partition, and a partition
        // still delivers what was queued before the pause (kafka.properties,
        // applied next, may override both).
        .set(
            "queued.max.messages.kbytes",
            (spawner.budget.limit() / 16 / 1024)
                .clamp(1024, 2_097_151)
                .to_string(),
        )
        .set("queued.min.messages", "1000")
        // Once a partition has queued.min.messages waiting, librdkafka postpones
        // its next fetch by this much (default 1 000 ms): that capped each
        // partition near queued.min.messages a second, and the pipeline spent
        // most of a backfill waiting for input. The queue is drained in
        // milliseconds, so the next fetch may come soon after.
        .set("fetch.queue.backoff.ms", "10")
        .set(
            "fetch.max.bytes",
            (spawner.budget.limit() / 32)
                .clamp(1 << 20, 52_428_800)
                .to_string(),
        )
        .set("statistics.interval.ms", "5000")
        .set("enable.partition.eof", "false");
    for (key, v) in &k.properties {
        cfg.set(key, v);
    }
    let ctx = PipelineContext {
        state: Mutex::new(State {
            open: FxHashMap::default(),
            finished: Vec::new(),
            to_pause: Vec::new(),
        }),
        committer: OnceLock::new(),
        revoke_timeout: Duration::from_secs(k.revoke_timeout_secs),
        metrics: spawner.metrics.clone(),
        budget: spawner.budget.clone(),
        assigned: std::sync::atomic::AtomicUsize::new(0),
    };
    let c: Kc = cfg.create_with_context(ctx).map_err(err)?;
    let topics: Vec<&str> = k.topics.iter().map(String::as_str).collect();
    c.subscribe(&topics).map_err(err)?;
    let c = Arc::new(c);
    let committer: Arc<dyn Commit> = Arc::new(KafkaCommit(c.clone()));
    let _ = c.context().committer.set(committer);
    Ok(c)
}

fn partition_list(keys: &[Key]) -> TopicPartitionList {
    let mut tpl = TopicPartitionList::new();
    for (t, p) in keys {
        tpl.add_partition(t, *p);
    }
    tpl
}

/// Consumes until `stop` is set (SIGTERM/SIGINT) or, when `kafka.idle_exit_secs`
/// is set, until no message came for that long; then flushes every open batch and
/// waits for every partition to commit. Blocking: run it on its own thread while
/// the actix system runs the actors.
pub fn run(
    settings: &Settings,
    spawner: Spawner,
    stop: Arc<AtomicBool>,
) -> Result<Vec<(SourceId, PartitionSummary)>, SourceError> {
    let consumer = consumer(settings, &spawner)?;
    let ctx = consumer.context();
    let Some(committer) = ctx.committer.get().cloned() else {
        return Err(SourceError::Client {
            brokers: settings.kafka.brokers.clone(),
            message: "committer not initialised".into(),
        });
    };
    let batch_max = settings.pipeline.batch_max_events;
    let budget = spawner.budget.clone();
    let batch_max_bytes = budget.batch_max_bytes();
    let max_age = Duration::from_millis(settings.pipeline.batch_max_age_ms);
    let idle_exit = (settings.kafka.idle_exit_secs > 0)
        .then(|| Duration::from_secs(settings.kafka.idle_exit_secs));
    let tick = Duration::from_millis((settings.pipeline.batch_max_age_ms / 4).clamp(10, 250));
    let mut topics: FxHashMap<String, Arc<str>> = FxHashMap::default();
    let mut last_message = Instant::now();
    let mut last_tick = Instant::now();
    // Reading the clock per message was a fifth of this thread's time. While
    // messages are queued it is read every `CLOCK_EVERY` messages (well under a
    // millisecond at full speed); whenever the queue is drained, after every
    // wait, so a trickle of messages still sees every tick on time.
    const CLOCK_EVERY: u32 = 64;
    let mut unclocked = 0u32;
    let mut got_message = false;
    tracing::info!(brokers = %settings.kafka.brokers, group = %settings.kafka.group_id, topics = ?settings.kafka.topics, "consuming");
    while !stop.load(Ordering::Relaxed) {
        let polled = match consumer.poll(Duration::ZERO) {
            Some(r) => {
                unclocked += 1;
                Some(r)
            }
            None => {
                unclocked = CLOCK_EVERY;
                consumer.poll(tick)
            }
        };
        match polled {
            Some(Ok(m)) => {
                got_message = true;
                let topic = match topics.get(m.topic()) {
                    Some(t) => t.clone(),
                    None => {
                        let t: Arc<str> = Arc::from(m.topic());
                        topics.insert(m.topic().to_string(), t.clone());
                        t
                    }
                };
                let Ok(mut st) = ctx.state.lock() else { break };
                let st = &mut *st;
                let key = (topic.clone(), m.partition());
                let o = st.open.entry(key.clone()).or_insert_with(|| {
                    let source = SourceId {
                        topic: topic.clone(),
                        partition: m.partition(),
                    };
                    tracing::info!(%source, first_offset = m.offset(), "partition started");
                    Open {
                        handle: spawner.spawn_partition(source.clone(), committer.clone()),
                        batch: RawBatch::default(),
                        started: None,
                        parked: None,
                        paused_early: false,
                        source,
                    }
                });
                o.started.get_or_insert_with(Instant::now);
                o.batch.push(m.offset(), m.payload().unwrap_or(&[]));
                let full = o.batch.len() >= batch_max || o.batch.data.len() >= batch_max_bytes;
                if full && o.parked.is_none() {
                    if !offer(o, &budget) {
                        st.to_pause.push(key);
                    }
                } else if full && !o.paused_early {
                    // A second batch filled up while the first is still parked:
                    // pause now rather than at the next tick, or the open batch
                    // keeps growing outside the budget (peak RSS 315 MB at a 256
                    // MB limit). Not at the first park: most are accepted
                    // within the tick, and a pause throws away what librdkafka
                    // has prefetched for the partition (it fetches it again).
                    o.paused_early = true;
                    if let Err(e) = consumer.pause(&partition_list(std::slice::from_ref(&key))) {
                        tracing::warn!(error = %e, "pause failed");
                    }
                }
            }
            Some(Err(e)) => {
                tracing::warn!(error = %e, "Kafka consumer error; retrying");
                std::thread::sleep(Duration::from_millis(200));
                unclocked = CLOCK_EVERY;
            }
            None => {}
        }
        if unclocked < CLOCK_EVERY {
            continue;
        }
        unclocked = 0;
        let now = Instant::now();
        if std::mem::take(&mut got_message) {
            last_message = now;
        }
        if now.duration_since(last_tick) >= tick {
            last_tick = now;
            let (pause, resume, held_back) = {
                let Ok(mut st) = ctx.state.lock() else { break };
                let st = &mut *st;
                let mut resume = Vec::new();
                for (k, o) in st.open.iter_mut() {
                    if o.parked.is_some() && !budget.has_room() {
                        continue;
                    }
                    if let Some(b) = o.parked.take() {
                        match o.handle.input.try_send(reserved(b, &budget)) {
                            Ok(()) => {
                                o.paused_early = false;
                                resume.push(k.clone())
                            }
                            Err(TrySendError::Full(mut b)) => {
                                b.reservation = None;
                                o.parked = Some(b);
                                continue;
                            }
                            Err(TrySendError::Closed(_)) => continue,
                        }
                    }
                    let aged = o.started.is_some_and(|s| s.elapsed() >= max_age);
                    let full = o.batch.len() >= batch_max || o.batch.data.len() >= batch_max_bytes;
                    if (aged || full) && !offer(o, &budget) {
                        st.to_pause.push(k.clone());
                    }
                }
                let held_back = st.open.values().any(|o| o.parked.is_some());
                ctx.metrics.set_mailboxes(
                    st.open
                        .values()
                        .map(|o| {
                            let queued = o.handle.input.max_capacity() - o.handle.input.capacity();
                            (o.source.to_string(), queued, o.parked.is_some())
                        })
                        .collect(),
                );
                (std::mem::take(&mut st.to_pause), resume, held_back)
            };
            // A paused partition delivers nothing because *we* hold it back, not
            // because the topics are drained: that is not idleness. Without this,
            // a slow lake (all partitions paused) made `idle_exit_secs` stop the
            // run with data left to read.
            // Nor is waiting for an assignment: after a crash the group holds the
            // dead member's partitions until its session times out.
            if held_back || ctx.assigned.load(Ordering::Relaxed) == 0 {
                last_message = Instant::now();
            }
            // A partition parked and accepted within the same tick needs no change.
            let pause: Vec<Key> = pause.into_iter().filter(|k| !resume.contains(k)).collect();
            if !pause.is_empty() {
                tracing::debug!(
                    partitions = pause.len(),
                    "mailboxes full: pausing partitions"
                );
                if let Err(e) = consumer.pause(&partition_list(&pause)) {
                    tracing::warn!(error = %e, "pause failed");
                }
            }
            if !resume.is_empty() {
                if let Err(e) = consumer.resume(&partition_list(&resume)) {
                    tracing::warn!(error = %e, "resume failed");
                }
            }
            if idle_exit.is_some_and(|d| last_message.elapsed() >= d) {
                match unconsumed(
                    &consumer,
                    &settings.kafka.topics,
                    settings.kafka.auto_offset_reset == "earliest",
                ) {
                    Ok(0) => {
                        tracing::info!("no message for kafka.idle_exit_secs and the group has read everything: stopping");
                        break;
                    }
                    Ok(n) => {
                        // Partitions still held by a member that crashed (until its
                        // session times out) or by a slower member: not drained yet.
                        tracing::info!(
                            unconsumed = n,
                            "idle, but the group has not consumed everything yet; waiting"
                        );
                        last_message = Instant::now();
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot read the group's offsets; stopping on idleness alone");
                        break;
                    }
                }
            }
        }
    }
    tracing::info!("stopping: flushing open batches and committing");
    ctx.finish_partitions(|_| true);
    consumer.unsubscribe();
    let mut results = ctx
        .state
        .lock()
        .map(|mut st| std::mem::take(&mut st.finished))
        .unwrap_or_default();
    results.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(results)
}

/// Messages of the subscribed topics that nobody has read yet: for our own
/// partitions, high watermark minus our read position (what we have read sits in
/// open lake files and is committed when they close, at the stop); for the
/// others, high watermark minus the group's committed offset.
fn unconsumed(consumer: &Kc, topics: &[String], from_earliest: bool) -> KafkaResult<i64> {
    let timeout = Duration::from_secs(5);
    let mut tpl = TopicPartitionList::new();
    for topic in topics {
        let md = consumer.fetch_metadata(Some(topic), timeout)?;
        for t in md.topics() {
            for p in t.partitions() {
                tpl.add_partition(t.name(), p.id());
            }
        }
    }
    let ours: std::collections::HashMap<(String, i32), Offset> = consumer
        .position()?
        .elements()
        .iter()
        .map(|e| ((e.topic().to_string(), e.partition()), e.offset()))
        .collect();
    let committed = consumer.committed_offsets(tpl, timeout)?;
    let mut total = 0;
    for e in committed.elements() {
        let (low, high) = consumer.fetch_watermarks(e.topic(), e.partition(), timeout)?;
        // Our position is unset for a partition we have not read from since
        // the assignment: then the committed offset says where we stand.
        let at = match ours.get(&(e.topic().to_string(), e.partition())) {
            Some(Offset::Offset(o)) => Offset::Offset(*o),
            _ => e.offset(),
        };
        let done = match at {
            Offset::Offset(o) => o,
            // Nothing read or committed yet: a group starting at the earliest
            // offset has everything from the low watermark to read; one
            // starting at the latest has nothing.
            _ if from_earliest => low,
            _ => high,
        };
        total += (high - done).max(0);
    }
    Ok(total)
}

/// The batch with its share of the memory budget, held until it is in the lake.
fn reserved(mut b: SourceBatch, budget: &Arc<MemoryBudget>) -> SourceBatch {
    b.reservation = Some(Arc::new(budget.reserve(b.raw.memory_bytes())));
    b
}

/// Offers the open batch to the partition's actor. Returns false when the
/// mailbox is full or the memory budget's in-flight share is spent: the batch is
/// parked and the partition must be paused.
fn offer(o: &mut Open, budget: &Arc<MemoryBudget>) -> bool {
    let Some(b) = take_batch(o, budget.batch_max_bytes() * 2) else {
        return true;
    };
    if !budget.has_room() {
        o.parked = Some(b);
        return false;
    }
    match o.handle.input.try_send(reserved(b, budget)) {
        Ok(()) => true,
        Err(TrySendError::Full(mut b)) => {
            b.reservation = None;
            o.parked = Some(b);
            false
        }
        Err(TrySendError::Closed(_)) => {
            tracing::error!(source = %o.source, "partition actor stopped; its data will be re-read after a restart");
            true
        }
    }
}
