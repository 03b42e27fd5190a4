//! In-process source for `musicaly run`: the simulator writes into per-partition
//! batches exactly as Kafka would deliver them (same payloads, one offset
//! sequence per topic-partition, partitioned by user), and everything downstream
//! is the same actors as with Kafka.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;

use super::partition::{NoCommit, PartitionSummary};
use super::topology::Topology;
use super::{RawBatch, SourceBatch, SourceId};
use crate::config::Settings;
use crate::event::Table;
use crate::memory::MemoryBudget;
use crate::sim::{Emit, SimError, SimStats, Simulator, Stream};

/// The simulator's output when it feeds the pipeline directly.
pub struct MemoryFeed {
    /// Set to stop the simulator (`run --live` at Ctrl-C): the next event
    /// ends its run as if the output had closed.
    stop: Option<Arc<std::sync::atomic::AtomicBool>>,
    partitions: u32,
    budget: Arc<MemoryBudget>,
    batch_max_bytes: usize,
    batch_max: usize,
    /// Indexed by table index * partitions + partition (single stream: table 0).
    slots: Vec<Slot>,
}

struct Slot {
    source: SourceId,
    next_offset: i64,
    batch: RawBatch,
    started: Option<Instant>,
    tx: mpsc::Sender<SourceBatch>,
}

impl MemoryFeed {
    fn slot_index(&self, stream: Stream, key: i64) -> usize {
        let t = match stream {
            Stream::Topic(t) => t.index(),
            Stream::Single => 0,
        };
        let p = key.rem_euclid(self.partitions as i64) as usize;
        t * self.partitions as usize + p
    }

    fn send(slot: &mut Slot, budget: &Arc<MemoryBudget>) -> Result<(), SimError> {
        if slot.batch.is_empty() {
            return Ok(());
        }
        // Waits while `pipeline.memory_limit_mb`'s in-flight share is spent.
        while !budget.has_room() {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let raw = slot.batch.take();
        let reservation = Some(Arc::new(budget.reserve(raw.memory_bytes())));
        let batch = SourceBatch {
            source: slot.source.clone(),
            raw,
            read_at: slot.started.take().unwrap_or_else(Instant::now),
            reservation,
        };
        // Blocks the simulator thread while the partition is full: backpressure.
        slot.tx
            .blocking_send(batch)
            .map_err(|_| SimError::Output(format!("pipeline partition {} stopped", slot.source)))
    }
}

impl Emit for MemoryFeed {
    fn emit(&mut self, stream: Stream, key: i64, payload: &[u8]) -> Result<(), SimError> {
        if self
            .stop
            .as_ref()
            .is_some_and(|s| s.load(std::sync::atomic::Ordering::Relaxed))
        {
            return Err(SimError::Closed);
        }
        let i = self.slot_index(stream, key);
        let (batch_max, max_bytes) = (self.batch_max, self.batch_max_bytes);
        let budget = &self.budget;
        let slot = &mut self.slots[i];
        let offset = slot.next_offset;
        slot.next_offset += 1;
        slot.started.get_or_insert_with(Instant::now);
        slot.batch.push(offset, payload);
        if slot.batch.len() >= batch_max || slot.batch.data.len() >= max_bytes {
            Self::send(slot, budget)?;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), SimError> {
        for slot in &mut self.slots {
            Self::send(slot, &self.budget)?;
        }
        Ok(())
    }

    /// Paced runs (`run --live`) wait for the clock: what is batched goes to
    /// the pipeline first, so the live numbers are not held back by batching.
    fn flush(&mut self) -> Result<(), SimError> {
        self.finish()
    }
}

/// What an in-process run did.
#[derive(Debug, Default)]
pub struct RunSummary {
    pub sim: SimStats,
    pub partitions: BTreeMap<SourceId, PartitionSummary>,
}

impl RunSummary {
    pub fn errors(&self) -> Vec<String> {
        self.partitions
            .iter()
            .filter_map(|(s, p)| p.error.as_ref().map(|e| format!("{s}: {e}")))
            .collect()
    }
}

/// Runs the simulator into the actor pipeline until the simulation ends and every
/// batch is durable. Call inside an actix `System`.
pub async fn run(
    settings: &Settings,
    topology: &Topology,
    sim: Simulator,
    topics: &[Table],
) -> Result<RunSummary, SimError> {
    run_until(settings, topology, sim, topics, None).await
}

/// [`run`], ending early (cleanly, as if the simulated time were over) once
/// `stop` is set.
pub async fn run_until(
    settings: &Settings,
    topology: &Topology,
    mut sim: Simulator,
    topics: &[Table],
    stop: Option<Arc<std::sync::atomic::AtomicBool>>,
) -> Result<RunSummary, SimError> {
    let parts = settings.pipeline.partitions;
    let mut slots = Vec::new();
    let mut done = Vec::new();
    for t in topics {
        for p in 0..parts {
            let source = SourceId {
                topic: Arc::from(t.name()),
                partition: p as i32,
            };
            let h = topology.spawn_partition(source.clone(), Arc::new(NoCommit));
            done.push((source.clone(), h.done));
            slots.push(Slot {
                source,
                next_offset: 0,
                batch: RawBatch::default(),
                started: None,
                tx: h.input,
            });
        }
    }
    let feed = MemoryFeed {
        stop,
        partitions: parts,
        batch_max_bytes: topology.spawner.budget.batch_max_bytes(),
        budget: topology.spawner.budget.clone(),
        batch_max: settings.pipeline.batch_max_events,
        slots,
    };
    // The simulator is synchronous and CPU-bound: its own thread. Dropping the
    // feed at the end closes every partition's input.
    let sim_thread = std::thread::Builder::new()
        .name("simulator".into())
        .spawn(move || {
            let mut feed = feed;
            let r = sim.run(&mut feed);
            drop(feed);
            r
        })
        .map_err(|e| SimError::Output(e.to_string()))?;
    let mut summary = RunSummary::default();
    for (source, rx) in done {
        let s = rx.await.unwrap_or_else(|_| PartitionSummary {
            error: Some("partition actor vanished".into()),
            ..Default::default()
        });
        summary.partitions.insert(source, s);
    }
    let sim_result = tokio::task::spawn_blocking(move || sim_thread.join())
        .await
        .map_err(|e| SimError::Output(e.to_string()))?
        .map_err(|_| SimError::Output("the simulator thread panicked".into()))?;
    summary.sim = match sim_result {
        // Stopped on request: what was simulated is complete.
        Err(SimError::Closed) => SimStats::default(),
        r => r?,
    };
    Ok(summary)
}
