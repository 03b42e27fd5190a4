//! The eventsim-compatible simulator.
//!
//! Users are sharded over threads by ordinal ([`shard`]); each shard runs
//! eventsim's loop over its users (one queue ordered by next event time) and
//! encodes events into batches ([`encode`]); the merge ([`merge`]) writes them in
//! (ts, user ordinal) order and assigns the global `sessionId`. Each user draws
//! from its own random stream seeded from (seed, ordinal) ([`rng`]), so the output
//! is a pure function of the options, byte for byte, whatever the thread count.
//! Memory is per user (~150 bytes, most of it the user's state with its
//! pre-formatted id and registration) plus a few batches, never per event.
//!
//! Imports between these files run one way (`scripts/tests/import-cycles.py`
//! checks it): this file, the [`Simulator`], uses the others and none of them
//! uses it; the types they share live in small files of their own (`error`,
//! `stream`, `emit`, `options`, `stats`, `ctx`, `prefetch`, `sessions`,
//! `progress`, `blocks`), re-exported here.

pub mod blocks;
pub mod calendar;
pub mod catalog;
pub mod ctx;
pub mod datafiles;
pub mod direct;
pub mod emit;
pub mod encode;
pub mod error;
pub mod flags;
pub mod merge;
pub mod model;
pub mod options;
pub mod output;
pub mod prefetch;
pub mod progress;
pub mod queue;
pub mod rng;
pub mod sessions;
pub mod shard;
pub mod stats;
pub mod stream;

pub use ctx::Ctx;
pub use emit::Emit;
pub use error::SimError;
pub use options::SimOptions;
pub use stats::SimStats;
pub use stream::{Dialect, Stream};

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::mpsc;

use catalog::Catalog;
use encode::Batch;
use merge::{Merger, Pacer};
use model::Model;
use progress::Progress;
use shard::{Shard, ShardStats};

/// Events per batch handed from a shard to the merge.
const BATCH_EVENTS: usize = 4096;

pub struct Simulator {
    ctx: Ctx,
    pub stats: SimStats,
}

impl Simulator {
    pub fn new(model: Model, catalog: Catalog, opts: SimOptions) -> Result<Simulator, SimError> {
        Ok(Simulator {
            ctx: Ctx::new(model, catalog, opts)?,
            stats: SimStats::default(),
        })
    }

    /// Runs to the end time, writing to `out`.
    pub fn run(&mut self, out: &mut dyn Emit) -> Result<SimStats, SimError> {
        let ctx = &self.ctx;
        let o = &ctx.opts;
        let pacer = o
            .continuous
            .then(|| Pacer::with_speedup(o.catchup_rate, o.start_ms, o.speedup));
        let progress = (o.progress && !o.continuous)
            .then(|| Progress::new(o.start_ms, o.end_ms))
            .flatten();
        if o.threads <= 1 && pacer.is_none() {
            // One shard: straight into the output (see `direct`).
            let mut shard = Shard::new(ctx, 0, 1);
            let stats = match out.blocks() {
                Some(b) => {
                    let mut d = direct::Direct::new(b, progress);
                    shard.fill(&mut d, usize::MAX);
                    d.finish()
                }
                None => {
                    let mut d = direct::Direct::new(direct::EmitLines::new(out), progress);
                    shard.fill(&mut d, usize::MAX);
                    d.finish()
                }
            };
            let mut stats = stats?;
            out.finish()?;
            stats.users = shard.stats.users;
            stats.churned = shard.stats.churned;
            self.stats = stats;
            return Ok(stats);
        }
        let mut merger = Merger::new(out, pacer, progress);
        let shard_stats = if o.threads <= 1 {
            let mut shard = Shard::new(ctx, 0, 1);
            let mut b = Batch::default();
            loop {
                b.clear();
                let more = shard.fill(&mut b, BATCH_EVENTS);
                merger.write_all(&b)?;
                if !more {
                    break;
                }
            }
            vec![shard.stats]
        } else {
            run_sharded(ctx, &mut merger)?
        };
        let mut stats = merger.finish()?;
        for s in shard_stats {
            stats.users += s.users;
            stats.churned += s.churned;
        }
        self.stats = stats;
        Ok(stats)
    }
}

/// A shard's current batch in the merge.
struct Head {
    batch: Batch,
    pos: usize,
    msg_start: u32,
}

/// Runs one thread per shard and merges their batches in (ts, ordinal) order.
/// Channels are bounded (two batches ahead per shard), and consumed batches go
/// back to their shard for reuse: memory stays flat.
fn run_sharded(ctx: &Ctx, merger: &mut Merger<'_>) -> Result<Vec<ShardStats>, SimError> {
    let n = ctx.opts.threads as u64;
    std::thread::scope(|s| {
        let mut rxs = Vec::new();
        let mut back = Vec::new();
        let mut handles = Vec::new();
        for i in 0..n {
            let (tx, rx) = mpsc::sync_channel::<Batch>(2);
            let (btx, brx) = mpsc::channel::<Batch>();
            rxs.push(rx);
            back.push(btx);
            handles.push(s.spawn(move || {
                let mut shard = Shard::new(ctx, i, n);
                loop {
                    let mut b = brx.try_recv().unwrap_or_default();
                    b.clear();
                    let more = shard.fill(&mut b, BATCH_EVENTS);
                    if tx.send(b).is_err() || !more {
                        break;
                    }
                }
                shard.stats
            }));
        }
        let next = |i: usize, rxs: &[mpsc::Receiver<Batch>]| -> Option<Head> {
            // A closed channel is a finished shard.
            while let Ok(batch) = rxs[i].recv() {
                if !batch.events.is_empty() {
                    return Some(Head {
                        batch,
                        pos: 0,
                        msg_start: 0,
                    });
                }
            }
            None
        };
        let mut heads: Vec<Option<Head>> = (0..n as usize).map(|i| next(i, &rxs)).collect();
        let mut order = BinaryHeap::new();
        for (i, h) in heads.iter().enumerate() {
            if let Some(h) = h {
                let e = &h.batch.events[0];
                order.push(Reverse((e.ts, e.ordinal, i)));
            }
        }
        let result = (|| {
            while let Some(Reverse((_, _, i))) = order.pop() {
                let Some(h) = heads[i].as_mut() else { continue };
                let ev = h.batch.events[h.pos];
                merger.write(&h.batch, &ev, h.msg_start)?;
                h.pos += 1;
                h.msg_start = ev.msg_end;
                if h.pos == h.batch.events.len() {
                    if let Some(done) = heads[i].take() {
                        // The shard may have finished: then nobody takes it back.
                        let _ = back[i].send(done.batch);
                    }
                    heads[i] = next(i, &rxs);
                }
                if let Some(h) = &heads[i] {
                    let e = &h.batch.events[h.pos];
                    order.push(Reverse((e.ts, e.ordinal, i)));
                }
            }
            Ok::<(), SimError>(())
        })();
        // Dropping the receivers stops shards still running (after an error).
        drop(rxs);
        result?;
        let mut stats = Vec::new();
        for h in handles {
            stats.push(
                h.join()
                    .map_err(|_| SimError::Output("a simulator thread panicked".into()))?,
            );
        }
        Ok(stats)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Collect(Vec<(Stream, Vec<u8>)>);
    impl Emit for Collect {
        fn emit(&mut self, stream: Stream, _key: i64, payload: &[u8]) -> Result<(), SimError> {
            self.0.push((stream, payload.to_vec()));
            Ok(())
        }
    }

    fn opts(seed: u64) -> SimOptions {
        SimOptions {
            nusers: 30,
            seed,
            ..SimOptions::new(
                crate::time::parse_utc("2026-11-02T00:00:00").unwrap(),
                crate::time::parse_utc("2026-11-03T00:00:00").unwrap(),
            )
        }
    }

    fn run(seed: u64) -> Vec<(Stream, Vec<u8>)> {
        let model = Model::compile(model::EventsimConfig::builtin()).unwrap();
        let mut sim = Simulator::new(model, Catalog::builtin().unwrap(), opts(seed)).unwrap();
        let mut c = Collect(vec![]);
        sim.run(&mut c).unwrap();
        c.0
    }

    #[test]
    fn same_seed_same_output_different_seed_differs() {
        let a = run(7);
        assert!(a.len() > 100, "only {} events", a.len());
        assert_eq!(a, run(7));
        assert_ne!(a, run(8));
    }

    #[test]
    fn every_message_decodes_into_its_table() {
        let limits = crate::event::DecodeLimits::default();
        for (stream, payload) in run(3) {
            let Stream::Topic(table) = stream else {
                unreachable!()
            };
            let ev = crate::event::parse(&payload, &limits).unwrap();
            ev.validate(table, &limits).unwrap();
        }
    }
}
