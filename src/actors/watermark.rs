//! Event-time watermark over many partitions.
//!
//! Each partition reports the largest `ts` it has delivered. The watermark is the
//! smallest of those, minus the allowed lateness, so a window closes only when
//! every active partition has moved past it. A partition that has sent nothing
//! for `idle` (wall-clock) stops holding the watermark back, so an idle
//! partition never stalls the output.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::messages::SourceId;

#[derive(Debug)]
pub struct Watermark {
    lateness_ms: i64,
    idle: Duration,
    partitions: HashMap<SourceId, (i64, Instant)>,
}

impl Watermark {
    pub fn new(lateness_ms: i64, idle: Duration) -> Watermark {
        Watermark {
            lateness_ms,
            idle,
            partitions: HashMap::new(),
        }
    }

    /// Records that `source` delivered events up to `max_ts_ms`.
    pub fn observe(&mut self, source: &SourceId, max_ts_ms: i64) {
        let now = Instant::now();
        match self.partitions.get_mut(source) {
            Some(e) => {
                e.0 = e.0.max(max_ts_ms);
                e.1 = now;
            }
            None => {
                self.partitions.insert(source.clone(), (max_ts_ms, now));
            }
        }
    }

    /// Registers a partition before its first event: until it reports (or goes
    /// idle) it holds the watermark back, so its first events are not late.
    pub fn register(&mut self, source: &SourceId) {
        self.partitions
            .entry(source.clone())
            .or_insert((i64::MIN, Instant::now()));
    }

    /// Forgets a partition (revoked, or its input ended).
    pub fn remove(&mut self, source: &SourceId) {
        self.partitions.remove(source);
    }

    /// The current watermark, epoch ms; `None` before any event.
    pub fn current(&self) -> Option<i64> {
        let now = Instant::now();
        let active = self
            .partitions
            .values()
            .filter(|(_, seen)| now.duration_since(*seen) < self.idle)
            .map(|(ts, _)| *ts)
            .min();
        // When every partition is idle, the most advanced one sets the pace.
        let base = active.or_else(|| self.partitions.values().map(|(ts, _)| *ts).max())?;
        if base == i64::MIN {
            return None;
        }
        Some(base - self.lateness_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(p: i32) -> SourceId {
        SourceId {
            topic: "t".into(),
            partition: p,
        }
    }

    #[test]
    fn slowest_active_partition_holds_it_back() {
        let mut w = Watermark::new(1000, Duration::from_secs(60));
        assert_eq!(w.current(), None);
        w.observe(&s(0), 10_000);
        w.observe(&s(1), 5_000);
        assert_eq!(w.current(), Some(4_000));
        w.observe(&s(1), 20_000);
        assert_eq!(w.current(), Some(9_000));
    }

    #[test]
    fn registered_partition_holds_until_it_reports() {
        let mut w = Watermark::new(0, Duration::from_secs(60));
        w.register(&s(1));
        w.observe(&s(0), 10_000);
        assert_eq!(w.current(), None);
        w.observe(&s(1), 7_000);
        assert_eq!(w.current(), Some(7_000));
    }

    #[test]
    fn idle_partition_does_not_stall() {
        let mut w = Watermark::new(0, Duration::from_millis(30));
        w.observe(&s(0), 1_000);
        std::thread::sleep(Duration::from_millis(40));
        w.observe(&s(1), 50_000);
        assert_eq!(w.current(), Some(50_000));
    }
}
