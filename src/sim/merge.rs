//! The merge of the shards' batches into one output, in (ts, user ordinal)
//! order, and the one place that knows the whole run: it assigns the global,
//! increasing `sessionId` (in order of each session's first written event), paces
//! to the wall clock in `--continuous` mode, counts, and drives the progress bar.

use std::time::{Duration, Instant};

use super::encode::{Batch, EvRec};
use super::{Emit, SimError, SimStats, Stream};

/// The global, increasing `sessionId`: a user's session gets the next id when
/// its first event is written.
#[derive(Debug)]
pub struct SessionIds {
    /// Per user ordinal: (session serial, sessionId) of its current session.
    slots: Vec<(u32, i64)>,
    next: i64,
}

impl Default for SessionIds {
    fn default() -> Self {
        SessionIds {
            slots: Vec::new(),
            next: 1,
        }
    }
}

impl SessionIds {
    /// The id of session `serial` of user `ordinal`.
    #[inline]
    pub fn id(&mut self, ordinal: u32, serial: u32) -> i64 {
        let o = ordinal as usize;
        if o >= self.slots.len() {
            self.slots.resize(o + 1, (0, 0));
        }
        let slot = &mut self.slots[o];
        if slot.0 != serial {
            *slot = (serial, self.next);
            self.next += 1;
        }
        slot.1
    }

    /// Sessions given an id so far.
    pub fn count(&self) -> u64 {
        (self.next - 1) as u64
    }

    /// Loads user `ordinal`'s slot into the cache ahead of [`Self::digits`].
    #[inline]
    pub fn prefetch(&self, ordinal: u32) {
        super::shard::prefetch_item(&self.slots, ordinal as usize);
    }
}

/// [`SessionIds`] for the one-thread path, which writes the ids: each user's
/// slot keeps its current session's id as digits, formatted once per session
/// rather than once per event (same 24 bytes a user as an id would take with
/// its serial, plus room for any i64).
#[derive(Debug)]
pub struct SessionDigits {
    /// Per user ordinal: session serial, digit count, digits.
    slots: Vec<(u32, u8, [u8; 19])>,
    next: i64,
}

impl Default for SessionDigits {
    fn default() -> Self {
        SessionDigits {
            slots: Vec::new(),
            next: 1,
        }
    }
}

impl SessionDigits {
    /// The digits of the id of session `serial` of user `ordinal` (ids as
    /// [`SessionIds::id`] gives them): the first `n` bytes of the array
    /// returned with `n`.
    #[inline]
    pub fn digits(&mut self, ordinal: u32, serial: u32) -> (&[u8; 19], usize) {
        let o = ordinal as usize;
        if o >= self.slots.len() {
            self.slots.resize(o + 1, (0, 0, [0; 19]));
        }
        let slot = &mut self.slots[o];
        if slot.0 != serial {
            let mut b = itoa::Buffer::new();
            let d = b.format(self.next).as_bytes();
            slot.0 = serial;
            slot.1 = d.len() as u8;
            slot.2[..d.len()].copy_from_slice(d);
            self.next += 1;
        }
        (&slot.2, slot.1 as usize)
    }

    /// Sessions given an id so far.
    pub fn count(&self) -> u64 {
        (self.next - 1) as u64
    }

    /// Loads user `ordinal`'s slot into the cache ahead of [`Self::digits`].
    #[inline]
    pub fn prefetch(&self, ordinal: u32) {
        super::shard::prefetch_item(&self.slots, ordinal as usize);
    }
}

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
            if let Stream::Topic(t) = m.stream {
                self.stats.messages[t.index()] += 1;
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

/// Progress bar on stderr: simulated time done, events and events/s.
pub struct Progress {
    bar: indicatif::ProgressBar,
    start_ms: i64,
    last_tick_ms: i64,
    wall: Instant,
}

impl Progress {
    /// Only on a terminal, and only for a finite run.
    pub fn new(start_ms: i64, end_ms: i64) -> Option<Progress> {
        use std::io::IsTerminal;
        if !std::io::stderr().is_terminal() {
            return None;
        }
        let bar = indicatif::ProgressBar::new(((end_ms - start_ms) / 1000).max(1) as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "simulating {bar:40} {percent}% of simulated time, {msg} [{elapsed}]",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Some(Progress {
            bar,
            start_ms,
            last_tick_ms: start_ms,
            wall: Instant::now(),
        })
    }

    pub fn done(self) {
        self.bar.finish_and_clear();
    }

    #[inline]
    pub fn tick(&mut self, t: i64, events: u64) {
        if t - self.last_tick_ms > 600_000 {
            self.last_tick_ms = t;
            self.bar
                .set_position(((t - self.start_ms) / 1000).max(0) as u64);
            let secs = self.wall.elapsed().as_secs_f64().max(1e-3);
            self.bar.set_message(format!(
                "{events} events, {:.0} events/s",
                events as f64 / secs
            ));
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
        let past = crate::time::now_ms() - 3_600_000;
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
