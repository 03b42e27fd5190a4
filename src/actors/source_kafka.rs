//! Kafka source for `musicaly pipeline`: joins the consumer group, and feeds each
//! assigned topic-partition's batches to its own partition actor. Offsets are
//! committed by the partition actors, only after the batch is durable
//! (`enable.auto.commit` is off).
//!
//! Walking-skeleton limits (see the stream-core issue): batches are cut by one
//! dispatcher reading the consumer's main queue; a full partition stalls the
//! dispatcher (backpressure without per-partition pause); a rebalance that takes
//! partitions away does not wait for their in-flight batch.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::error::KafkaResult;
use rdkafka::message::Message;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use super::partition::{Commit, PartitionSummary};
use super::topology::{PartitionHandle, Topology};
use super::{RawBatch, SourceBatch, SourceId};
use crate::config::Settings;

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("Kafka client for brokers {brokers}: {message}")]
    Client { brokers: String, message: String },
}

/// Logs rebalances; the dispatcher creates partition actors as messages arrive.
pub struct LoggingContext;

impl ClientContext for LoggingContext {}

impl ConsumerContext for LoggingContext {
    fn pre_rebalance(&self, _: &rdkafka::consumer::BaseConsumer<Self>, r: &Rebalance<'_>) {
        tracing::info!(rebalance = ?r, "rebalance: before");
    }
    fn post_rebalance(&self, _: &rdkafka::consumer::BaseConsumer<Self>, r: &Rebalance<'_>) {
        tracing::info!(rebalance = ?r, "rebalance: after");
    }
    fn commit_callback(&self, result: KafkaResult<()>, _offsets: &TopicPartitionList) {
        if let Err(e) = result {
            tracing::warn!(error = %e, "offset commit failed");
        }
    }
}

type Kc = StreamConsumer<LoggingContext>;

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

pub fn consumer(settings: &Settings) -> Result<Arc<Kc>, SourceError> {
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
        .set("enable.partition.eof", "false");
    for (key, v) in &k.properties {
        cfg.set(key, v);
    }
    let c: Kc = cfg.create_with_context(LoggingContext).map_err(err)?;
    let topics: Vec<&str> = k.topics.iter().map(String::as_str).collect();
    c.subscribe(&topics).map_err(err)?;
    Ok(Arc::new(c))
}

struct Open {
    handle: PartitionHandle,
    batch: RawBatch,
    started: Option<Instant>,
    source: SourceId,
}

/// Consumes until `stop` is set (SIGTERM/SIGINT) or, when `kafka.idle_exit_secs`
/// is set, until no message came for that long; then flushes every open batch
/// and waits for every partition to commit. Call inside an actix `System`.
pub async fn run(
    settings: &Settings,
    topology: &Topology,
    stop: Arc<AtomicBool>,
) -> Result<Vec<(SourceId, PartitionSummary)>, SourceError> {
    let consumer = consumer(settings)?;
    let committer: Arc<dyn Commit> = Arc::new(KafkaCommit(consumer.clone()));
    let batch_max = settings.pipeline.batch_max_events;
    let max_age = Duration::from_millis(settings.pipeline.batch_max_age_ms);
    let idle_exit = (settings.kafka.idle_exit_secs > 0)
        .then(|| Duration::from_secs(settings.kafka.idle_exit_secs));
    let mut open: HashMap<(Arc<str>, i32), Open> = HashMap::new();
    let mut topics: HashMap<String, Arc<str>> = HashMap::new();
    let mut last_message = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(
        (settings.pipeline.batch_max_age_ms / 4).max(10),
    ));
    tracing::info!(brokers = %settings.kafka.brokers, group = %settings.kafka.group_id, topics = ?settings.kafka.topics, "consuming");
    loop {
        if stop.load(Ordering::Relaxed) {
            tracing::info!("stop requested: flushing open batches");
            break;
        }
        tokio::select! {
            msg = consumer.recv() => {
                match msg {
                    Ok(m) => {
                        last_message = Instant::now();
                        let topic = topics.entry(m.topic().to_string()).or_insert_with(|| Arc::from(m.topic())).clone();
                        let key = (topic.clone(), m.partition());
                        let o = open.entry(key).or_insert_with(|| {
                            let source = SourceId { topic: topic.clone(), partition: m.partition() };
                            tracing::info!(%source, first_offset = m.offset(), "partition started");
                            Open { handle: topology.spawn_partition(source.clone(), committer.clone()), batch: RawBatch::default(), started: None, source }
                        });
                        o.started.get_or_insert_with(Instant::now);
                        o.batch.push(m.offset(), m.payload().unwrap_or(&[]));
                        if o.batch.len() >= batch_max {
                            flush(o).await;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "Kafka consumer error; retrying");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                }
            }
            _ = tick.tick() => {
                for o in open.values_mut() {
                    if o.started.is_some_and(|s| s.elapsed() >= max_age) {
                        flush(o).await;
                    }
                }
                if idle_exit.is_some_and(|d| last_message.elapsed() >= d) {
                    tracing::info!("no message for kafka.idle_exit_secs: stopping");
                    break;
                }
            }
        }
    }
    let mut results = Vec::new();
    let mut waiting = Vec::new();
    for (_, mut o) in open.drain() {
        flush(&mut o).await;
        waiting.push((o.source, o.handle.done));
        // dropping o.handle.input closes the partition's input
    }
    for (source, done) in waiting {
        let s = done.await.unwrap_or_default();
        results.push((source, s));
    }
    results.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(results)
}

async fn flush(o: &mut Open) {
    if o.batch.is_empty() {
        return;
    }
    let batch = SourceBatch {
        source: o.source.clone(),
        raw: o.batch.take(),
        read_at: o.started.take().unwrap_or_else(Instant::now),
    };
    // Waits while the partition's mailbox is full: backpressure on the consumer.
    if o.handle.input.send(batch).await.is_err() {
        tracing::error!(source = %o.source, "partition actor stopped; its batch will be re-read after a restart");
    }
}
