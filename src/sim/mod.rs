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

pub mod calendar;
pub mod catalog;
pub mod datafiles;
pub mod direct;
pub mod encode;
pub mod merge;
pub mod model;
pub mod output;
pub mod queue;
pub mod rng;
pub mod shard;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::mpsc;

use crate::event::Table;
use catalog::Catalog;
use encode::{Batch, Tables};
use merge::{Merger, Pacer, Progress};
use model::Model;
use shard::{Shard, ShardStats};

/// Events per batch handed from a shard to the merge.
const BATCH_EVENTS: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error(transparent)]
    Model(#[from] model::ModelError),
    #[error(transparent)]
    Catalog(#[from] catalog::CatalogError),
    #[error("simulator output: {0}")]
    Output(String),
    /// The reader of the output went away (`musicaly simulate --stdout | head`):
    /// not a failure of the simulator.
    #[error("the output's reader closed it")]
    Closed,
    #[error("simulator options: {0}")]
    Options(String),
}

/// Which dialect to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Dialect {
    /// Four streams: page_view_events, listen_events, auth_events, status_change_events.
    Four,
    /// eventsim's original single stream.
    Single,
}

/// Where an encoded event goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Topic(Table),
    Single,
}

/// A sink for encoded events. `key` is the simulated user's id (also for hidden
/// users, so one user's events share a Kafka partition).
pub trait Emit {
    fn emit(&mut self, stream: Stream, key: i64, payload: &[u8]) -> Result<(), SimError>;
    /// Writes a payload given in pieces, without joining them first (saves a
    /// copy of every byte on the file and stdout outputs). Returns false when
    /// the output does not do this; the caller then joins them and calls `emit`.
    fn emit_parts(
        &mut self,
        _stream: Stream,
        _key: i64,
        _parts: [&[u8]; 3],
    ) -> Result<bool, SimError> {
        Ok(false)
    }
    fn finish(&mut self) -> Result<(), SimError> {
        Ok(())
    }
    /// Outputs that write bytes (files, stdout) lend their block writer: the
    /// one-thread path then appends lines to its buffers without a call per
    /// message (see [`direct`]). None (the default): messages come through `emit`.
    fn blocks(&mut self) -> Option<&mut output::BlockWriter> {
        None
    }
    /// Makes what was emitted so far visible (called in `--continuous` mode
    /// before waiting for the wall clock, so buffered output is not held back).
    fn flush(&mut self) -> Result<(), SimError> {
        Ok(())
    }
}

/// Options of a run; flags win over the eventsim config file.
#[derive(Debug, Clone)]
pub struct SimOptions {
    pub nusers: u64,
    pub growth_rate: f64,
    pub start_ms: i64,
    pub end_ms: i64,
    pub first_user_id: i64,
    pub seed: u64,
    pub tag: Option<String>,
    pub dialect: Dialect,
    /// Pace events to the wall clock.
    pub continuous: bool,
    /// Show a progress bar on stderr (only when it is a terminal).
    pub progress: bool,
    /// Generator threads; the output is the same for any value.
    pub threads: usize,
    /// In continuous mode, the most events/s written while catching up with the
    /// wall clock (after a stall, or a start in the past).
    pub catchup_rate: f64,
    /// In continuous mode, how many times faster than the wall clock the
    /// simulated clock runs from `start_ms` (1: the wall clock itself).
    pub speedup: f64,
}

impl SimOptions {
    /// Options with eventsim's defaults for everything but the time range.
    pub fn new(start_ms: i64, end_ms: i64) -> SimOptions {
        SimOptions {
            nusers: 1,
            growth_rate: 0.0,
            start_ms,
            end_ms,
            first_user_id: 1,
            seed: 0,
            tag: None,
            dialect: Dialect::Four,
            continuous: false,
            progress: false,
            threads: 1,
            catchup_rate: 10_000.0,
            speedup: 1.0,
        }
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SimStats {
    pub events: u64,
    pub messages: [u64; 4],
    /// Users created (initial and arrived).
    pub users: u64,
    /// Sessions with at least one written event.
    pub sessions: u64,
    /// Users who churned (cancelled) inside the written window.
    pub churned: u64,
}

/// What the simulator shares between its threads (read-only).
pub struct Ctx {
    pub model: Model,
    pub catalog: Catalog,
    pub tables: Tables,
    pub off_days: calendar::OffDays,
    pub opts: SimOptions,
    /// Per song: its duration in whole seconds, times 1000 (as the engine
    /// adds it to a time), converted once rather than per song played.
    pub song_ms: Vec<i64>,
    /// Some: the one-thread path's line writers run their AVX2 build
    /// ([`Tables::encode_lines`]).
    pub avx2: Option<encode::Avx2>,
}

pub struct Simulator {
    ctx: Ctx,
    pub stats: SimStats,
}

impl Simulator {
    pub fn new(model: Model, catalog: Catalog, opts: SimOptions) -> Result<Simulator, SimError> {
        if opts.end_ms <= opts.start_ms {
            return Err(SimError::Options(format!(
                "end time {} is not after start time {}",
                crate::time::format_utc(opts.end_ms),
                crate::time::format_utc(opts.start_ms)
            )));
        }
        if opts.nusers >= u32::MAX as u64 / 2 {
            return Err(SimError::Options(format!(
                "{} users is more than this simulator supports ({})",
                opts.nusers,
                u32::MAX / 2
            )));
        }
        if opts.first_user_id.checked_add(u32::MAX as i64).is_none() || opts.first_user_id < 0 {
            return Err(SimError::Options(format!(
                "first user id {} is out of range",
                opts.first_user_id
            )));
        }
        if !(1..=256).contains(&opts.threads) {
            return Err(SimError::Options(format!(
                "threads = {}, allowed 1..=256",
                opts.threads
            )));
        }
        if !(opts.growth_rate >= 0.0 && opts.growth_rate.is_finite()) {
            return Err(SimError::Options(format!(
                "growth rate {} must be a finite number >= 0",
                opts.growth_rate
            )));
        }
        let tables = Tables::new(&model, &catalog, opts.dialect, opts.tag.as_deref());
        // Initial users look back before the start (a session gap or so).
        let off_days = calendar::OffDays::new(opts.start_ms - 400 * 86_400_000, opts.end_ms);
        let song_ms = catalog
            .songs
            .iter()
            .map(|s| (s.duration as i64).saturating_mul(1000))
            .collect();
        Ok(Simulator {
            ctx: Ctx {
                song_ms,
                avx2: encode::Avx2::detect(),
                model,
                catalog,
                tables,
                off_days,
                opts,
            },
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
                    let mut d = direct::Direct::new(b, progress, ctx.avx2);
                    shard.fill(&mut d, usize::MAX);
                    d.finish()
                }
                None => {
                    let mut d =
                        direct::Direct::new(direct::EmitLines::new(out), progress, ctx.avx2);
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
    fn both_builds_of_the_line_writers_write_the_same_bytes() {
        let sim = |avx2: bool| {
            let model = Model::compile(model::EventsimConfig::builtin()).unwrap();
            let mut o = opts(11);
            o.nusers = 300;
            o.tag = Some("t\"x".into());
            let mut sim = Simulator::new(model, Catalog::builtin().unwrap(), o).unwrap();
            if !avx2 {
                sim.ctx.avx2 = None;
            }
            let mut c = Collect(vec![]);
            sim.run(&mut c).unwrap();
            c.0
        };
        let a = sim(true);
        assert!(a.len() > 1000, "only {} messages", a.len());
        assert_eq!(a, sim(false));
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
