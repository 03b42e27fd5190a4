//! Kafka source for `musicaly pipeline`.
//!
//! One consumer in a consumer group (several `musicaly pipeline` processes with the
//! same `kafka.group_id` share the partitions). A dedicated polling thread cuts
//! batches per topic-partition and hands each to that partition's actor
//! (see `partition.rs`), which decodes, writes and then commits.
//!
//! - **A queue per partition**: at assignment each partition's messages are split
//!   off into their own librdkafka queue (`kafka_queue.rs`), read in chunks.
//! - **Backpressure per partition**: a batch is handed over with `try_send`; when
//!   the partition's mailbox is full (or the memory budget's in-flight share is
//!   spent) the batch is parked and the partition's queue is no longer read until
//!   the parked batch is accepted. librdkafka stops fetching a partition whose
//!   queue holds `queued.min.messages`, so a held-back partition costs a bounded
//!   prefetch, keeps it (no pause, no refetch), and other partitions keep
//!   flowing. Memory: a batch handed to a partition actor holds a reservation of
//!   `pipeline.memory_limit_mb` (see `memory.rs`) until it is in the lake;
//!   parked batches (at most one per partition) are not reserved, so they can
//!   never starve the budget.
//! - **Rebalances**: before partitions are revoked (`pre_rebalance`, which runs on
//!   the polling thread and holds up the rebalance), their open batches are
//!   flushed and we wait for their actors to make everything durable and commit.
//!   If that takes longer than `kafka.revoke_timeout_secs` the process exits
//!   (systemd restarts it) rather than keep writing a partition another consumer
//!   now owns: that is what keeps "exactly once" across rebalances.
//! - Offsets are committed only by the partition actors, after the data is
//!   durable (`enable.auto.commit=false`).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::kafka_security;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaResult;
use rdkafka::message::Message;
use rdkafka::statistics::Statistics;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use rustc_hash::FxHashMap;
use tokio::sync::mpsc::error::TrySendError;
use tokio_util::sync::CancellationToken;

use super::kafka_queue::{PartitionQueue, QueueError};
use super::partition::{Commit, CommitError, CommitWait, PartitionSummary};
use super::topology::{PartitionHandle, Spawner};
use crate::config::Settings;
use crate::memory::MemoryBudget;
use crate::messages::{RawBatch, SourceBatch, SourceId};

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("Kafka client for brokers {brokers}: {message}")]
    Client { brokers: String, message: String },
    #[error(transparent)]
    Security(#[from] crate::kafka_security::SecurityError),
}

type Key = (Arc<str>, i32);

/// Messages taken from a partition's queue at a time: large enough that the
/// lock and call per read are negligible, small enough that a batch overshoots
/// its size limits by little.
const READ_CHUNK: usize = 512;

/// One partition that has delivered messages, as the polling thread sees it
/// (its actor is started by its first message: a partition without messages
/// never holds the stream's watermark back).
struct Open {
    source: SourceId,
    handle: PartitionHandle,
    batch: RawBatch,
    started: Option<Instant>,
    /// A batch the actor's mailbox (or the memory budget) had no room for; the
    /// partition's queue is not read until it is accepted.
    parked: Option<SourceBatch>,
}

struct State {
    /// Partitions that have delivered messages (their actors run).
    open: FxHashMap<Key, Open>,
    /// The queues of the assigned partitions (see `kafka_queue.rs`).
    queues: FxHashMap<Key, PartitionQueue>,
    /// Topic names, shared by every key of a topic.
    topics: FxHashMap<String, Arc<str>>,
    finished: Vec<(SourceId, PartitionSummary)>,
}

impl State {
    fn topic(&mut self, name: &str) -> Arc<str> {
        if let Some(t) = self.topics.get(name) {
            return t.clone();
        }
        let t: Arc<str> = Arc::from(name);
        self.topics.insert(name.to_string(), t.clone());
        t
    }
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
                // In the group: what READY=1 waits for (src/notify.rs).
                self.metrics.liveness.joined();
                tracing::info!(partitions = tpl.count(), "rebalance: assigning")
            }
            Rebalance::Error(e) => tracing::warn!(error = %e, "rebalance error"),
        }
    }

    /// Runs on the polling thread (inside `poll`) right after the assignment,
    /// before any fetch for it: each new partition gets its own queue, which
    /// wakes the polling thread when messages arrive.
    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, r: &Rebalance<'_>) {
        let Rebalance::Assign(tpl) = r else { return };
        // Each partition's queue may prefetch a 128th of the limit: with many
        // partitions that alone could exceed the limit's headroom.
        let limit = self.budget.limit();
        let prefetch = tpl.count() * (limit / 128).max(1 << 20);
        if prefetch > limit / 4 {
            tracing::warn!(
                partitions = tpl.count(),
                prefetch_mb = prefetch >> 20,
                memory_limit_mb = limit >> 20,
                "librdkafka may prefetch more than a quarter of pipeline.memory_limit_mb for this many partitions: raise the limit, run more processes in the group, or lower queued.min.messages / queued.max.messages.kbytes in [kafka.properties]"
            );
        }
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        for e in tpl.elements() {
            let topic = st.topic(e.topic());
            let key = (topic, e.partition());
            match PartitionQueue::split(
                consumer,
                e.topic(),
                e.partition(),
                std::thread::current(),
                READ_CHUNK,
            ) {
                Some(q) => {
                    st.queues.insert(key, q);
                }
                None => {
                    tracing::error!(topic = e.topic(), partition = e.partition(), "no queue for an assigned partition; its messages come through the consumer queue")
                }
            }
        }
    }

    /// The outcome of every commit, asynchronous ones included.
    fn commit_callback(&self, result: KafkaResult<()>, offsets: &TopicPartitionList) {
        if let Err(e) = result {
            self.metrics.commit_failures.fetch_add(1, Ordering::Relaxed);
            let parts: Vec<String> = offsets
                .elements()
                .iter()
                .map(|e| format!("{}-{}@{:?}", e.topic(), e.partition(), e.offset()))
                .collect();
            tracing::warn!(error = %e, offsets = ?parts, "offset commit failed; the data is durable, a replay after a restart rewrites the same files");
        }
    }
}

impl PipelineContext {
    /// Flushes and closes the partitions matching `which`, then waits until their
    /// actors have made everything durable and committed. Their queues are
    /// released: what is still queued was not read and is not committed, so the
    /// partition's next owner reads it.
    fn finish_partitions(&self, which: impl Fn(&Key) -> bool) {
        let mut waiting = Vec::new();
        // One deadline for handing over the last batches and for the actors to
        // finish: a full mailbox whose actor is stuck (e.g. its thread waiting
        // on the broker) must not hold the rebalance up forever.
        let deadline = Instant::now() + self.revoke_timeout;
        {
            let Ok(mut st) = self.state.lock() else {
                return;
            };
            st.queues.retain(|k, _| !which(k));
            let keys: Vec<Key> = st.open.keys().filter(|k| which(k)).cloned().collect();
            for k in keys {
                if let Some(mut o) = st.open.remove(&k) {
                    for b in o.parked.take().into_iter().chain(take_batch(&mut o, 0)) {
                        let mut batch = reserved(b, &self.budget);
                        loop {
                            match o.handle.input.try_send(batch) {
                                Ok(()) => break,
                                Err(TrySendError::Closed(_)) => {
                                    tracing::error!(source = %o.source, "partition actor stopped before its last batch");
                                    break;
                                }
                                Err(TrySendError::Full(back)) => batch = back,
                            }
                            if Instant::now() > deadline {
                                revoke_timed_out(&o.source, self.revoke_timeout);
                            }
                            self.metrics.liveness.beat();
                            std::thread::sleep(Duration::from_millis(5));
                        }
                    }
                    waiting.push((o.source, o.handle.done));
                    // o.handle.input drops here: the actor finishes after its queue.
                }
            }
        }
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
                    revoke_timed_out(&source, self.revoke_timeout);
                }
                self.metrics.liveness.beat();
                std::thread::sleep(Duration::from_millis(5));
            };
            finished.push((source, summary));
        }
        if let Ok(mut st) = self.state.lock() {
            st.finished.extend(finished);
        }
    }
}

/// A revoked partition did not finish within `kafka.revoke_timeout_secs`.
/// Someone else may own it next: rather than keep writing it, the process
/// exits (its uncommitted data is re-read by the next owner).
fn revoke_timed_out(source: &SourceId, timeout: Duration) -> ! {
    tracing::error!(%source, timeout_secs = timeout.as_secs(), "partition did not finish before revocation; exiting so that no other consumer's data is overwritten (uncommitted data will be re-read)");
    std::process::exit(3);
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
    fn commit(
        &self,
        source: &SourceId,
        next_offset: i64,
        wait: CommitWait,
    ) -> Result<(), CommitError> {
        let failed = |e: rdkafka::error::KafkaError| CommitError {
            source_id: source.clone(),
            offset: next_offset,
            cause: Box::new(e),
        };
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&source.topic, source.partition, Offset::Offset(next_offset))
            .map_err(failed)?;
        // An asynchronous commit's outcome comes to `commit_callback` on the
        // polling thread. librdkafka sends a group's commits in order on the
        // coordinator's connection, so a later commit is never overtaken.
        let mode = match wait {
            CommitWait::Sent => CommitMode::Async,
            CommitWait::Acknowledged => CommitMode::Sync,
        };
        self.0.commit(&tpl, mode).map_err(failed)
    }
}

fn consumer(settings: &Settings, spawner: &Spawner) -> Result<Arc<Kc>, SourceError> {
    let k = &settings.kafka;
    let err = |e: rdkafka::error::KafkaError| SourceError::Client {
        brokers: k.brokers.clone(),
        message: e.to_string(),
    };
    // Security keys only: kafka.properties come last, below, and may override all.
    kafka_security::check_connection(k, "consumer", kafka_security::CHECK_TIMEOUT)?;
    let mut cfg = kafka_security::client_config(k, |_| false)?;
    cfg.set("group.id", &k.group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", &k.auto_offset_reset)
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "1000")
        // librdkafka's prefetch. Each partition has its own queue (see
        // `kafka_queue.rs`), and these limits apply per partition: librdkafka
        // stops fetching a partition once its queue holds one source batch
        // (`pipeline.batch_max_events` messages; its default is 100 000) or a
        // 128th of pipeline.memory_limit_mb (2 MiB at 256 MiB), whichever is
        // less; one fetch response may add up to `max.partition.fetch.bytes`
        // more. A batch's worth (it was 1 000 messages) keeps the partitions
        // fetching while the polling thread waits for a CPU: on 2 vCPUs the
        // decoders kept it off one, the queues sat full, fetches backed off and
        // the decoders then ran out of input (kafka-bench, 6 interleaved pairs:
        // steady rate x1.19, faster in 4). The memory bound is the kbytes
        // limit. kafka.properties, applied next, may override all of these.
        .set(
            "queued.max.messages.kbytes",
            (spawner.budget.limit() / 128 / 1024)
                .clamp(1024, 2_097_151)
                .to_string(),
        )
        .set(
            "queued.min.messages",
            settings
                .pipeline
                .batch_max_events
                .clamp(1, 10_000_000)
                .to_string(),
        )
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
            queues: FxHashMap::default(),
            topics: FxHashMap::default(),
            finished: Vec::new(),
        }),
        committer: OnceLock::new(),
        revoke_timeout: Duration::from_secs(k.revoke_timeout_secs),
        metrics: spawner.metrics.clone(),
        budget: spawner.budget.clone(),
        assigned: std::sync::atomic::AtomicUsize::new(0),
    };
    let mut c: Kc = cfg.create_with_context(ctx).map_err(err)?;
    // The polling thread sleeps while nothing is queued; a rebalance or an
    // error on the consumer queue wakes it (as messages on a partition queue
    // do, see `kafka_queue.rs`). `consumer` is called on the polling thread.
    let polling_thread = std::thread::current();
    c.set_nonempty_callback(move || polling_thread.unpark());
    let topics: Vec<&str> = k.topics.iter().map(String::as_str).collect();
    c.subscribe(&topics).map_err(err)?;
    let c = Arc::new(c);
    let committer: Arc<dyn Commit> = Arc::new(KafkaCommit(c.clone()));
    let _ = c.context().committer.set(committer);
    Ok(c)
}

/// Consumes until `stop` is cancelled (SIGTERM/SIGINT) or, when `kafka.idle_exit_secs`
/// is set, until no message came for that long; then flushes every open batch and
/// waits for every partition to commit. Blocking: run it on its own thread while
/// the actix system runs the actors.
pub fn run(
    settings: &Settings,
    spawner: Spawner,
    stop: CancellationToken,
) -> Result<Vec<(SourceId, PartitionSummary)>, SourceError> {
    let consumer = consumer(settings, &spawner)?;
    let ctx = consumer.context();
    let Some(committer) = ctx.committer.get().cloned() else {
        return Err(SourceError::Client {
            brokers: settings.kafka.brokers.clone(),
            message: "committer not initialised".into(),
        });
    };
    let feed = Feed {
        spawner: &spawner,
        committer,
        budget: spawner.budget.clone(),
        batch_max: settings.pipeline.batch_max_events,
        batch_max_bytes: spawner.budget.batch_max_bytes(),
    };
    let max_age = Duration::from_millis(settings.pipeline.batch_max_age_ms);
    let idle_exit = (settings.kafka.idle_exit_secs > 0)
        .then(|| Duration::from_secs(settings.kafka.idle_exit_secs));
    let tick = Duration::from_millis((settings.pipeline.batch_max_age_ms / 4).clamp(10, 250));
    let mut last_message = Instant::now();
    let mut last_tick = Instant::now();
    let mut held_back = false;
    tracing::info!(brokers = %settings.kafka.brokers, group = %settings.kafka.group_id, topics = ?settings.kafka.topics, "consuming");
    while !stop.is_cancelled() {
        // The consumer queue: rebalances (their callbacks run in here), errors,
        // and a message fetched before its partition's queue was split.
        let mut read = 0usize;
        while let Some(polled) = consumer.poll(Duration::ZERO) {
            match polled {
                Ok(m) => {
                    let Ok(mut st) = ctx.state.lock() else { break };
                    let st = &mut *st;
                    let key = (st.topic(m.topic()), m.partition());
                    feed.push(&mut st.open, &key, m.offset(), m.payload().unwrap_or(&[]));
                    read += 1;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "Kafka consumer error; retrying");
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        }
        // The partitions' own queues, each read while its actor has room.
        {
            let Ok(mut st) = ctx.state.lock() else { break };
            let st = &mut *st;
            for (key, queue) in st.queues.iter_mut() {
                read += feed.drain(&mut st.open, key, queue);
            }
        }
        let now = Instant::now();
        if read > 0 {
            last_message = now;
        }
        if now.duration_since(last_tick) >= tick {
            last_tick = now;
            let Ok(mut guard) = ctx.state.lock() else {
                break;
            };
            let st = &mut *guard;
            for o in st.open.values_mut() {
                if let Some(b) = o.parked.take() {
                    o.parked = feed.hand_over(o, b);
                }
                // A batch goes at `batch_max_age_ms`, or sooner when its actor
                // has nothing queued: the partition's queue was just drained
                // (it is read to the end unless parked), so waiting would only
                // leave the actor idle. This is what ends a backfill promptly
                // (its last batches waited 2 s) and keeps latency low at low
                // rates, with batches at most one a tick per partition.
                let idle = o.handle.input.capacity() == o.handle.input.max_capacity();
                if o.parked.is_none()
                    && o.started
                        .is_some_and(|s| s.elapsed() >= max_age || (idle && s.elapsed() >= tick))
                {
                    feed.offer(o);
                }
            }
            held_back = st.open.values().any(|o| o.parked.is_some());
            ctx.metrics.set_mailboxes(
                st.open
                    .values()
                    .map(|o| {
                        let queued = o.handle.input.max_capacity() - o.handle.input.capacity();
                        (o.source.to_string(), queued, o.parked.is_some())
                    })
                    .collect(),
            );
            drop(guard);
            // A held-back partition delivers nothing because *we* do not read
            // it, not because the topics are drained: that is not idleness.
            // Without this, a slow lake made `idle_exit_secs` stop the run with
            // data left to read. Nor is waiting for an assignment: after a crash
            // the group holds the dead member's partitions until its session
            // times out.
            if held_back || ctx.assigned.load(Ordering::Relaxed) == 0 {
                last_message = now;
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
        if read == 0 {
            // Nothing to read: wait for a partition queue to turn non-empty
            // (its callback unparks this thread) or for the next tick. A
            // parked batch is retried sooner: its actor frees room without
            // telling us.
            let wait = if held_back {
                Duration::from_millis(2)
            } else {
                tick
            };
            std::thread::park_timeout(wait);
        }
    }
    tracing::info!("stopping: flushing open batches and committing");
    ctx.finish_partitions(|_| true);
    consumer.unsubscribe();
    let mut results = ctx
        .state
        .lock()
        .map(|mut st| {
            // librdkafka wants every queue reference released before the
            // consumer closes.
            st.queues.clear();
            std::mem::take(&mut st.finished)
        })
        .unwrap_or_default();
    results.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(results)
}

/// What the polling thread needs to cut batches and hand them over.
struct Feed<'a> {
    spawner: &'a Spawner,
    committer: Arc<dyn Commit>,
    budget: Arc<MemoryBudget>,
    batch_max: usize,
    batch_max_bytes: usize,
}

impl Feed<'_> {
    /// The partition's entry, its actor started on its first message.
    fn open<'m>(&self, open: &'m mut FxHashMap<Key, Open>, key: &Key, offset: i64) -> &'m mut Open {
        open.entry(key.clone()).or_insert_with(|| {
            let source = SourceId {
                topic: key.0.clone(),
                partition: key.1,
            };
            tracing::info!(%source, first_offset = offset, "partition started");
            Open {
                handle: self
                    .spawner
                    .spawn_partition(source.clone(), self.committer.clone()),
                batch: RawBatch::default(),
                started: None,
                parked: None,
                source,
            }
        })
    }

    fn full(&self, o: &Open) -> bool {
        o.batch.len() >= self.batch_max || o.batch.data.len() >= self.batch_max_bytes
    }

    /// One message from the consumer queue.
    fn push(&self, open: &mut FxHashMap<Key, Open>, key: &Key, offset: i64, payload: &[u8]) {
        let o = self.open(open, key, offset);
        o.started.get_or_insert_with(Instant::now);
        o.batch.push(offset, payload);
        if self.full(o) && o.parked.is_none() {
            self.offer(o);
        }
    }

    /// Reads a partition's queue into its batch while its actor takes batches;
    /// stops at the first batch that has to be parked. Returns the messages read.
    fn drain(
        &self,
        open: &mut FxHashMap<Key, Open>,
        key: &Key,
        queue: &mut PartitionQueue,
    ) -> usize {
        let mut read = 0;
        let warn = |e: QueueError| tracing::warn!(topic = %key.0, partition = key.1, offset = e.offset, error = %e.message, "Kafka partition error; continuing");
        loop {
            let (n, room) = match open.get_mut(key) {
                // Nothing is read for a partition with a parked batch: its queue
                // fills up and librdkafka stops fetching it.
                Some(o) if o.parked.is_some() => return read,
                Some(o) => {
                    let room = self.batch_max.saturating_sub(o.batch.len()).max(1);
                    let n = queue.read(room, |offset, p| o.batch.push(offset, p), warn);
                    if n > 0 {
                        o.started.get_or_insert_with(Instant::now);
                    }
                    (n, room)
                }
                None => {
                    // The partition's first messages: its actor starts with them.
                    let mut first = RawBatch::default();
                    let n = queue.read(
                        self.batch_max,
                        |offset, payload| first.push(offset, payload),
                        warn,
                    );
                    if let Some(offset) = first.first_offset() {
                        let o = self.open(open, key, offset);
                        o.started = Some(Instant::now());
                        o.batch = first;
                    }
                    (n, self.batch_max)
                }
            };
            read += n;
            if let Some(o) = open.get_mut(key) {
                if self.full(o) {
                    self.offer(o);
                }
            }
            if n < room.min(READ_CHUNK) {
                return read;
            }
        }
    }

    /// Offers the open batch to the partition's actor; parks it when the
    /// mailbox is full or the memory budget's in-flight share is spent.
    fn offer(&self, o: &mut Open) {
        if let Some(b) = take_batch(o, self.batch_max_bytes * 2) {
            o.parked = self.hand_over(o, b);
        }
    }

    /// Hands a batch to the partition's actor with its reservation; gives it
    /// back (unreserved) when there is no room.
    fn hand_over(&self, o: &Open, b: SourceBatch) -> Option<SourceBatch> {
        if !self.budget.has_room() {
            return Some(b);
        }
        match o.handle.input.try_send(reserved(b, &self.budget)) {
            Ok(()) => None,
            Err(TrySendError::Full(mut b)) => {
                b.reservation = None;
                Some(b)
            }
            Err(TrySendError::Closed(_)) => {
                tracing::error!(source = %o.source, "partition actor stopped; its data will be re-read after a restart");
                None
            }
        }
    }
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
