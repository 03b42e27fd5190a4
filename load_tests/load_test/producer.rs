//! The open-loop producer: events go out on a fixed schedule (event `i` of a step
//! at `step_start + i / rate`), each stamped with that intended time, whatever the
//! broker or the system under test is doing. When the producer falls behind (a
//! full queue, a descheduled thread) it still stamps the intended time, so a stall
//! shows up as latency instead of silently lowering the offered load
//! (coordinated omission).

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

use crate::events::Pool;
use crate::util::now_ms;

/// A constant rate for a while.
#[derive(Clone, Copy, Debug)]
pub struct Step {
    pub rate: f64,
    pub secs: f64,
}

/// What the producer has done so far, read by the sampler and the display.
#[derive(Default)]
pub struct Progress {
    pub sent: AtomicU64,
    /// Events due by now that are not handed to librdkafka yet.
    pub behind: AtomicU64,
    /// Index of the step being produced.
    pub step: AtomicU64,
    /// The target rate of that step (events/s).
    pub rate: AtomicU64,
    pub failed: AtomicU64,
    /// Set by the caller to end the schedule early (a ramp that found its limit).
    pub stop: AtomicBool,
    /// Epoch ms of the last intended send time.
    pub last_ts: AtomicI64,
}

pub fn client(brokers: &str) -> anyhow::Result<ThreadedProducer<DefaultProducerContext>> {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "5")
        .set("queue.buffering.max.messages", "1000000")
        .set("queue.buffering.max.kbytes", "1048576")
        .set("batch.num.messages", "10000")
        .set("compression.type", "none")
        .set("acks", "1")
        .create()
        .map_err(|e| anyhow::anyhow!("producer: {e}"))
}

/// Produces `pool` (cycled) into `topics` (one per table) on `steps` from
/// `start_ms`; returns when the schedule ends, after flushing.
pub fn spawn(
    brokers: &str,
    pool: Arc<Pool>,
    topics: [String; 4],
    steps: Vec<Step>,
    start_ms: i64,
    progress: Arc<Progress>,
) -> anyhow::Result<JoinHandle<anyhow::Result<()>>> {
    let producer = client(brokers)?;
    std::thread::Builder::new()
        .name("open-loop".into())
        .spawn(move || run(producer, &pool, &topics, &steps, start_ms, &progress))
        .map_err(|e| anyhow::anyhow!("{e}"))
}

fn run(
    producer: ThreadedProducer<DefaultProducerContext>,
    pool: &Pool,
    topics: &[String; 4],
    steps: &[Step],
    start_ms: i64,
    p: &Progress,
) -> anyhow::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    let mut next_event = 0usize;
    let mut step_start = start_ms as f64;
    for (k, s) in steps.iter().enumerate() {
        p.step.store(k as u64, Ordering::Relaxed);
        p.rate.store(s.rate as u64, Ordering::Relaxed);
        let total = (s.rate * s.secs).round() as u64;
        let gap = 1000.0 / s.rate;
        let mut i = 0u64;
        while i < total {
            if p.stop.load(Ordering::Relaxed) {
                break;
            }
            let now = now_ms() as f64;
            if step_start > now {
                std::thread::sleep(Duration::from_millis(((step_start - now) as u64).min(50)));
                continue;
            }
            let due = (((now - step_start) / gap).floor() as u64 + 1).min(total);
            while i < due {
                let ts = (step_start + i as f64 * gap) as i64;
                let e = &pool.events[next_event % pool.len()];
                pool.render(e, ts, &mut buf);
                if let Err(err) = send(&producer, &topics[e.table], e.key, &buf) {
                    p.failed.fetch_add(1, Ordering::Relaxed);
                    return Err(err);
                }
                next_event += 1;
                i += 1;
                p.sent.fetch_add(1, Ordering::Relaxed);
                p.last_ts.store(ts, Ordering::Relaxed);
            }
            let now = now_ms() as f64;
            let due_now = (((now - step_start) / gap).floor() as u64 + 1).min(total);
            p.behind.store(due_now.saturating_sub(i), Ordering::Relaxed);
            if due_now <= i {
                std::thread::sleep(Duration::from_micros(500));
            }
        }
        step_start += s.secs * 1000.0;
        if p.stop.load(Ordering::Relaxed) {
            break;
        }
    }
    p.behind.store(0, Ordering::Relaxed);
    producer
        .flush(Duration::from_secs(60))
        .map_err(|e| anyhow::anyhow!("producer flush: {e}"))
}

/// Produces `n` events of the pool as fast as the broker takes them (the backlog
/// the bare consumer drains), stamped with the current time.
pub fn fill(brokers: &str, pool: &Pool, topics: &[String; 4], n: usize) -> anyhow::Result<()> {
    let producer = client(brokers)?;
    let mut buf = Vec::with_capacity(1024);
    for k in 0..n {
        let e = &pool.events[k % pool.len()];
        pool.render(e, now_ms(), &mut buf);
        send(&producer, &topics[e.table], e.key, &buf)?;
    }
    producer
        .flush(Duration::from_secs(120))
        .map_err(|e| anyhow::anyhow!("producer flush: {e}"))
}

/// Hands one message to librdkafka, waiting while its queue is full.
pub fn send(
    producer: &ThreadedProducer<DefaultProducerContext>,
    topic: &str,
    key: i64,
    payload: &[u8],
) -> anyhow::Result<()> {
    let mut kb = itoa::Buffer::new();
    let key = kb.format(key);
    let mut rec = BaseRecord::to(topic).payload(payload).key(key);
    loop {
        match producer.send(rec) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                rec = r;
                std::thread::sleep(Duration::from_millis(1));
            }
            Err((e, _)) => return Err(anyhow::anyhow!("produce: {e}")),
        }
    }
}
