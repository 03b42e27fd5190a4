//! The merge of the shards' batches into one output, in (ts, user ordinal)
//! order, and the one place that knows the whole run: it assigns the global,
//! increasing `sessionId` (in order of each session's first written event), paces
//! to the wall clock in `--continuous` mode, counts, and drives the progress bar.

use std::time::{Duration, Instant};

use super::emit::Emit;
use super::encode::{Batch, EvRec};
use super::error::SimError;
use super::progress::Progress;
use super::sessions::SessionIds;
use super::stats::SimStats;
use super::stream::Stream;

pub struct Merger<'a> {
    out: &'a mut dyn Emit,
    sessions: SessionIds,
    scratch: Vec<u8>,
    pub stats: SimStats,
    pacer: Option<Pacer>,
    progress: Option<Progress>,
}

impl<'a> Merger<'a> {
    pub fn new(out: &'a mut dyn Emit, pacer: Option<Pacer>, progress: Option<Progress>) -> Self {
        Merger {
            out,
            sessions: SessionIds::default(),
            scratch: Vec::with_capacity(2048),
            stats: SimStats::default(),
            pacer,
            progress,
        }
    }

    /// Writes event `i` of `batch` (whose messages start at `msg_start`).
    #[inline]
    pub fn write(&mut self, batch: &Batch, ev: &EvRec, msg_start: u32) -> Result<(), SimError> {
        if let Some(p) = self.pacer.as_mut() {
            if p.must_wait(ev.ts) {
                // Ahead of the clock: what is buffered goes out before the wait.
                self.out.flush()?;
            }
            p.pace(ev.ts);
        }
        let sid = self.sessions.id(ev.ordinal, ev.serial);
        let mut digits = itoa::Buffer::new();
        let digits = digits.format(sid).as_bytes();
        for m in &batch.msgs[msg_start as usize..ev.msg_end as usize] {
            let b = &batch.bytes;
            self.scratch.clear();
            self.scratch
                .extend_from_slice(&b[m.start as usize..m.sid as usize]);
            self.scratch.extend_from_slice(digits);
            self.scratch
                .extend_from_slice(&b[m.sid as usize..m.end as usize]);
            self.out.emit(m.stream, ev.key, &self.scratch)?;
            match m.stream {
                Stream::Topic(t) => self.stats.messages[t.index()] += 1,
                Stream::Single => self.stats.single += 1,
            }
        }
        self.stats.events += 1;
        if let Some(p) = self.progress.as_mut() {
            p.tick(ev.ts, self.stats.events);
        }
        Ok(())
    }

    /// Writes a whole batch of a single shard (already in order).
    pub fn write_all(&mut self, batch: &Batch) -> Result<(), SimError> {
        let mut start = 0;
        for ev in &batch.events {
            self.write(batch, ev, start)?;
            start = ev.msg_end;
        }
        Ok(())
    }

    pub fn finish(mut self) -> Result<SimStats, SimError> {
        self.out.finish()?;
        if let Some(p) = self.progress.take() {
            p.done();
        }
        self.stats.sessions = self.sessions.count();
        if let Some(p) = self.pacer.as_mut() {
            p.report(true);
        }
        Ok(self.stats)
    }
}

/// Paces events to the wall clock (`--continuous`). Ahead of the clock it
/// sleeps until the event's time. Behind it (after a stall, or when the run
/// starts in the past) it catches up at no more than `catchup_rate` events/s
/// (a token bucket with a 100 ms burst), so the output never bursts unboundedly.
/// Every `report_every` it prints the actual rate and the lag on stderr.
pub struct Pacer {
    catchup_rate: f64,
    tokens: f64,
    last_refill: Instant,
    report_every: Duration,
    last_report: Instant,
    since_report: u64,
    lag_ms: i64,
    /// With a speed-up: (event time at the start, wall clock at the start,
    /// event ms per wall ms); the simulated clock runs that much faster.
    clock: Option<(i64, Instant, f64)>,
}

impl Pacer {
    pub fn new(catchup_rate: f64) -> Pacer {
        let now = Instant::now();
        Pacer {
            catchup_rate: catchup_rate.max(1.0),
            tokens: 0.0,
            last_refill: now,
            report_every: Duration::from_secs(10),
            last_report: now,
            since_report: 0,
            lag_ms: 0,
            clock: None,
        }
    }

    /// A pacer whose clock starts at event time `start_ms` and runs `speedup`
    /// times faster than the wall clock (`run --live --speedup N`); a speed-up
    /// of 1 is [`Pacer::new`] (the wall clock itself).
    pub fn with_speedup(catchup_rate: f64, start_ms: i64, speedup: f64) -> Pacer {
        let mut p = Pacer::new(catchup_rate);
        if speedup.is_finite() && speedup > 0.0 && speedup != 1.0 {
            p.clock = Some((start_ms, Instant::now(), speedup));
        }
        p
    }

    /// The pacing clock's time, epoch ms.
    fn now_ms(&self) -> i64 {
        match self.clock {
            None => crate::time::now_ms(),
            Some((start, wall, x)) => start + (wall.elapsed().as_secs_f64() * 1000.0 * x) as i64,
        }
    }

    /// Wall-clock time until the pacing clock reaches `t_ms`.
    fn wait_for(&self, t_ms: i64) -> Duration {
        let ahead = (t_ms - self.now_ms()).max(0) as f64;
        let x = self.clock.map_or(1.0, |c| c.2);
        Duration::from_secs_f64(ahead / x / 1000.0)
    }

    /// Whether writing event time `t_ms` needs a wait for the wall clock.
    pub fn must_wait(&self, t_ms: i64) -> bool {
        t_ms > self.now_ms()
    }

    /// Blocks until event time `t_ms` may be written; returns the wall-clock
    /// lag in ms (positive: behind).
    pub fn pace(&mut self, t_ms: i64) -> i64 {
        if t_ms > self.now_ms() {
            std::thread::sleep(self.wait_for(t_ms));
            self.tokens = 0.0;
            self.last_refill = Instant::now();
        } else {
            let burst = (self.catchup_rate * 0.1).max(1.0);
            loop {
                let e = self.last_refill.elapsed().as_secs_f64();
                self.last_refill = Instant::now();
                self.tokens = (self.tokens + e * self.catchup_rate).min(burst);
                if self.tokens >= 1.0 {
                    break;
                }
                std::thread::sleep(Duration::from_secs_f64(
                    (1.0 - self.tokens) / self.catchup_rate,
                ));
            }
            self.tokens -= 1.0;
        }
        self.lag_ms = self.now_ms() - t_ms;
        self.since_report += 1;
        self.report(false);
        self.lag_ms
    }

    fn report(&mut self, last: bool) {
        let e = self.last_report.elapsed();
        if last || e >= self.report_every {
            eprintln!(
                "continuous: {:.1} events/s over the last {:.0} s, {:.1} s behind the wall clock",
                self.since_report as f64 / e.as_secs_f64().max(1e-3),
                e.as_secs_f64(),
                self.lag_ms.max(0) as f64 / 1000.0
            );
            self.last_report = Instant::now();
            self.since_report = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catch_up_is_rate_limited_and_future_events_wait() {
        let rate = 20_000.0;
        let mut p = Pacer::new(rate);
        let past = crate::time::now_ms() - crate::time::HOUR_MS;
        let n = 6000;
        let t0 = Instant::now();
        for i in 0..n {
            let lag = p.pace(past + i);
            assert!(lag > 3_000_000);
        }
        // n events at `rate` less the 100 ms burst: at least 0.2 s.
        let min = (n as f64 - rate * 0.1) / rate;
        let took = t0.elapsed().as_secs_f64();
        assert!(
            took >= min * 0.95,
            "{n} events in {took:.3}s, limit {min:.3}s"
        );
        assert!(took < 5.0, "far too slow: {took:.3}s");
        // An event 150 ms ahead of the clock is written when its time comes.
        let t = crate::time::now_ms() + 150;
        p.pace(t);
        assert!(crate::time::now_ms() >= t);
    }
}
