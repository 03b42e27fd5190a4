//! Wiring: starts the decoder and lake-writer pools on their own arbiters
//! (threads), and a partition actor per source partition. Must be used inside a
//! running actix `System`.

use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::{mpsc, oneshot};

use super::aggregate::{Aggregator, Live};
use super::decode::Decoder;
use super::partition::{Commit, DeadLetterRoute, Observers, PartitionActor, PartitionSummary};
use super::sessionize::{FlushAll, Sessionizer, Tick};
use super::watermark::Watermark;
use crate::config::Settings;
use crate::memory::MemoryBudget;
use crate::messages::{SourceBatch, SourceId};
use crate::metrics::Metrics;
use crate::sinks::dead_letter_topic::DeadLetterTopic;
use crate::sinks::lake::{DerivedWriter, LakeStore, LakeWriter, SinkError};

pub struct Topology {
    pub spawner: Spawner,
    pub live: Live,
    arbiters: Vec<Arbiter>,
}

/// Starts partition actors; cheap to clone and usable from any thread (the
/// Kafka source calls it from its polling thread), the actors live on the
/// system arbiter.
#[derive(Clone)]
pub struct Spawner {
    decoders: Vec<Addr<Decoder>>,
    writers: Vec<Addr<LakeWriter>>,
    home: ArbiterHandle,
    pub lake: LakeStore,
    pub metrics: Arc<Metrics>,
    mailbox: usize,
    observers: Observers,
    /// `pipeline.memory_limit_mb`, shared by the sources and the lake writers.
    pub budget: Arc<MemoryBudget>,
    /// `lake.file_max_age_secs`.
    roll_max_age: std::time::Duration,
    dead_letters: DeadLetterRoute,
}

/// A started partition: feed it batches, drop the sender to finish it, then await
/// its summary.
pub struct PartitionHandle {
    pub input: mpsc::Sender<SourceBatch>,
    pub done: oneshot::Receiver<PartitionSummary>,
}

impl Topology {
    pub fn start(settings: &Settings, metrics: Arc<Metrics>) -> Result<Topology, SinkError> {
        Topology::start_with_live(settings, metrics, None)
    }

    /// [`Topology::start`], also handing every decoded page view and listen to
    /// `live` (the dashboard's provisional rows, see `live_rows.rs`).
    pub fn start_with_live(
        settings: &Settings,
        metrics: Arc<Metrics>,
        live: Option<super::live_rows::LiveRows>,
    ) -> Result<Topology, SinkError> {
        let write_delay = std::time::Duration::from_millis(settings.pipeline.write_delay_ms);
        let p = &settings.pipeline;
        let lake = LakeStore::open(&settings.lake_location())?;
        let limits = settings.decode_limits();
        let mailbox = p.mailbox_capacity;
        let mut arbiters = Vec::new();
        let mut decoders = Vec::new();
        for _ in 0..p.decode_threads {
            let arb = Arbiter::new();
            let m = metrics.clone();
            decoders.push(Decoder::start_in_arbiter(&arb.handle(), move |_| {
                Decoder::new(limits, m, mailbox)
            }));
            arbiters.push(arb);
        }
        let budget = MemoryBudget::new(p.memory_limit_mb);
        crate::alloc::trim_above(p.memory_limit_mb << 20);
        let _ = metrics.memory.set(budget.clone());
        let mut writers = Vec::new();
        // With as many writers as decoders, writer i shares decoder i's thread:
        // a partition (hashed to the same index for both) is decoded and encoded
        // on one thread, its columns still in that core's cache, and the
        // machine runs two threads fewer.
        let shared = p.writer_threads == p.decode_threads;
        for i in 0..p.writer_threads {
            let w = LakeWriter::new(
                lake.clone(),
                &settings.lake,
                metrics.clone(),
                budget.clone(),
                mailbox,
                write_delay,
            )?;
            if shared {
                writers.push(LakeWriter::start_in_arbiter(
                    &arbiters[i].handle(),
                    move |_| w,
                ));
            } else {
                let arb = Arbiter::new();
                writers.push(LakeWriter::start_in_arbiter(&arb.handle(), move |_| w));
                arbiters.push(arb);
            }
        }
        let d = &settings.decode;
        let dead_letters = DeadLetterRoute {
            to_lake: d.dead_letters != "topic",
            topic: if d.dead_letters == "lake" {
                None
            } else {
                Some(Arc::new(DeadLetterTopic::new(
                    &settings.kafka,
                    &d.dead_letter_topic,
                )?))
            },
        };
        let live_rows = live;
        let live = Live::default();
        let mut observers = Observers::default();
        let st = &settings.stream;
        if st.enabled {
            // One thread each: they share no state (each keeps its own watermark),
            // and on one thread together they were the pipeline's busiest thread.
            let (arb, arb2) = (Arbiter::new(), Arbiter::new());
            let derived = DerivedWriter::new(lake.clone(), &settings.lake)?;
            let wm = || {
                Watermark::new(
                    st.lateness_secs as i64 * 1000,
                    std::time::Duration::from_secs(st.idle_partition_secs),
                )
            };
            let (gap, m1, d1) = (
                st.session_gap_secs as i64 * 1000,
                metrics.clone(),
                derived.clone(),
            );
            let w1 = wm();
            let sessionizer = Sessionizer::start_in_arbiter(&arb.handle(), move |_| {
                Sessionizer::new(gap, w1, d1, m1, mailbox)
            });
            let (win, m2, l2, w2) = (
                st.window_secs as i64 * 1000,
                metrics.clone(),
                live.clone(),
                wm(),
            );
            let aggregator = Aggregator::start_in_arbiter(&arb2.handle(), move |_| {
                Aggregator::new(win, w2, derived, m2, l2, mailbox)
            });
            arbiters.push(arb);
            arbiters.push(arb2);
            // Closed sessions and windows are written on a timer.
            let (s, a) = (sessionizer.clone(), aggregator.clone());
            let tick = std::time::Duration::from_millis(st.tick_ms);
            actix_rt::spawn(async move {
                let mut iv = tokio::time::interval(tick);
                loop {
                    iv.tick().await;
                    let (rs, ra) = (s.send(Tick).await, a.send(Tick).await);
                    for r in [rs, ra] {
                        match r {
                            Ok(Ok(())) => {}
                            Ok(Err(e)) => {
                                tracing::warn!(error = %e, "writing stream outputs failed; retrying next tick")
                            }
                            Err(_) => return,
                        }
                    }
                }
            });
            observers = Observers {
                sessionizer: Some(sessionizer),
                aggregator: Some(aggregator),
                live: None,
            };
        }
        observers.live = live_rows;
        Ok(Topology {
            live,
            spawner: Spawner {
                observers,
                decoders,
                writers,
                home: System::current().arbiter().clone(),
                lake,
                metrics,
                mailbox,
                budget,
                roll_max_age: std::time::Duration::from_secs(settings.lake.file_max_age_secs),
                dead_letters,
            },
            arbiters,
        })
    }

    pub fn spawn_partition(&self, source: SourceId, committer: Arc<dyn Commit>) -> PartitionHandle {
        self.spawner.spawn_partition(source, committer)
    }

    /// Closes every open session and window and writes them (end of a run, or a
    /// clean stop, after every partition has finished).
    pub async fn flush_stream(&self) -> Result<(), SinkError> {
        let o = &self.spawner.observers;
        if let Some(s) = &o.sessionizer {
            s.send(FlushAll)
                .await
                .map_err(|source| SinkError::Stopped {
                    stage: "sessionizer",
                    source,
                })??;
        }
        if let Some(a) = &o.aggregator {
            a.send(FlushAll)
                .await
                .map_err(|source| SinkError::Stopped {
                    stage: "aggregator",
                    source,
                })??;
        }
        Ok(())
    }

    /// Stops the pools' threads.
    pub fn stop(self) {
        for a in self.arbiters {
            a.stop();
            let _ = a.join();
        }
    }
}

impl Spawner {
    /// Starts the actor of one partition. A partition always uses the same
    /// decoder and writer (chosen by a stable hash), so its batches stay in order.
    pub fn spawn_partition(&self, source: SourceId, committer: Arc<dyn Commit>) -> PartitionHandle {
        let h = stable_hash(&source);
        let (tx, rx) = mpsc::channel(self.mailbox);
        let (done_tx, done_rx) = oneshot::channel();
        let actor = PartitionActor {
            decoder: self.decoders[h % self.decoders.len()].clone(),
            writer: self.writers[h % self.writers.len()].clone(),
            lake: self.lake.clone(),
            committer,
            metrics: self.metrics.clone(),
            input: Some(rx),
            done: Some(done_tx),
            observers: self.observers.clone(),
            max_age: self.roll_max_age,
            dead_letters: self.dead_letters.clone(),
            source,
        };
        PartitionActor::start_in_arbiter(&self.home, move |_| actor);
        PartitionHandle {
            input: tx,
            done: done_rx,
        }
    }
}

fn stable_hash(s: &SourceId) -> usize {
    crate::hash::fnv1a(s.topic.bytes().chain(s.partition.to_le_bytes())) as usize
}
