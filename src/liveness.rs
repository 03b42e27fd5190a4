//! Is the data path alive? What the systemd watchdog (src/notify.rs) is fed from.
//!
//! A process that runs but moves no data is worse than one that crashed: systemd
//! restarts the crashed one. So the watchdog pings follow the data path, not the
//! process: a partition that **has input but makes no progress** stops them.
//!
//! - *Input*: the Kafka source's view of each partition it feeds, taken every
//!   tick (the same snapshot as the mailbox metrics): batches waiting in the
//!   partition actor's mailbox, or one parked because the mailbox is full.
//! - *Progress*: the partition actor finished a batch (decoded, in the lake's
//!   open files, seen by the stream state) or closed an aged roll.
//! - *Stuck*: input waiting, and no progress since the later of the last
//!   progress and the moment input started waiting, for longer than the stall
//!   limit; or the partition's actor stopped on an error while the partition is
//!   still ours (its input is dropped until a restart re-reads it); or the
//!   polling thread itself has not taken a snapshot for that long.
//!
//! An idle partition (nothing waiting) is never stuck, however long since its
//! last batch; neither is a broker outage (nothing arrives, and a restart would
//! not bring the broker back): both show in the STATUS line instead.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;

/// One partition, as the liveness check sees it.
#[derive(Debug, Clone, Copy, Default)]
struct Part {
    last_progress: Option<Instant>,
    /// Since when input has been waiting without a break (None: nothing waits).
    waiting_since: Option<Instant>,
    /// Its actor stopped on an error.
    failed: bool,
}

/// Per-partition progress timestamps, shared through [`crate::metrics::Metrics`].
#[derive(Debug, Default)]
pub struct Liveness {
    parts: Mutex<FxHashMap<String, Part>>,
    /// The last snapshot of the polling thread.
    beat: Mutex<Option<Instant>>,
    /// The consumer has joined its group (got its first assignment).
    joined: AtomicBool,
}

impl Liveness {
    /// The consumer got an assignment from its group (possibly empty).
    pub fn joined(&self) {
        self.joined.store(true, Ordering::Relaxed);
    }

    pub fn has_joined(&self) -> bool {
        self.joined.load(Ordering::Relaxed)
    }

    /// Partitions currently fed by the source (failed ones excluded).
    pub fn partitions(&self) -> usize {
        self.parts
            .lock()
            .map(|p| p.values().filter(|p| !p.failed).count())
            .unwrap_or(0)
    }

    /// The polling thread is alive (called by each snapshot, and while it waits
    /// for revoked partitions to finish).
    pub fn beat(&self) {
        if let Ok(mut b) = self.beat.lock() {
            *b = Some(Instant::now());
        }
    }

    /// The source's snapshot: for each partition it feeds, whether input is
    /// waiting for its actor. Partitions missing from it are no longer ours
    /// (revoked) and forgotten, unless they failed.
    pub fn snapshot<'a>(&self, waiting: impl Iterator<Item = (&'a str, bool)>) {
        let now = Instant::now();
        self.beat();
        let Ok(mut parts) = self.parts.lock() else {
            return;
        };
        let mut seen = Vec::new();
        for (name, has_input) in waiting {
            let p = parts.entry(name.to_string()).or_default();
            p.waiting_since = match (has_input, p.waiting_since) {
                (false, _) => None,
                (true, Some(t)) => Some(t),
                (true, None) => Some(now),
            };
            seen.push(name.to_string());
        }
        parts.retain(|k, p| p.failed || seen.contains(k));
    }

    /// A partition's actor finished a batch (or an aged roll).
    pub fn progress(&self, partition: &str) {
        self.update(partition, |p| p.last_progress = Some(Instant::now()));
    }

    /// A partition's actor stopped on an error.
    pub fn failed(&self, partition: &str) {
        self.update(partition, |p| p.failed = true);
    }

    fn update(&self, partition: &str, f: impl FnOnce(&mut Part)) {
        let Ok(mut parts) = self.parts.lock() else {
            return;
        };
        match parts.get_mut(partition) {
            Some(p) => f(p),
            None => f(parts.entry(partition.to_string()).or_default()),
        }
    }

    /// Why the data path is stuck, or None while it is alive: see the module
    /// documentation. `stall` is how long input may wait without progress.
    pub fn stuck(&self, now: Instant, stall: Duration) -> Option<String> {
        if let Ok(b) = self.beat.lock() {
            if let Some(t) = *b {
                let quiet = now.saturating_duration_since(t);
                if quiet > stall {
                    return Some(format!(
                        "the Kafka polling thread has not run for {}s",
                        quiet.as_secs()
                    ));
                }
            }
        }
        let parts = self.parts.lock().ok()?;
        let mut names: Vec<&String> = parts.keys().collect();
        names.sort();
        for name in names {
            let p = &parts[name];
            if p.failed {
                return Some(format!(
                    "partition {name} stopped on an error (its data is re-read after a restart)"
                ));
            }
            let Some(since) = p.waiting_since else {
                continue;
            };
            let from = p.last_progress.map_or(since, |t| t.max(since));
            let quiet = now.saturating_duration_since(from);
            if quiet > stall {
                return Some(format!(
                    "partition {name} has input waiting and made no progress for {}s",
                    quiet.as_secs()
                ));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STALL: Duration = Duration::from_secs(10);

    #[test]
    fn idle_partitions_are_never_stuck() {
        let l = Liveness::default();
        l.snapshot([("t-0", false), ("t-1", false)].into_iter());
        l.progress("t-0");
        let later = Instant::now() + Duration::from_secs(3600);
        // The beat is an hour old too: only that counts.
        let why = l.stuck(later, STALL).unwrap();
        assert!(why.contains("polling thread"), "{why}");
        l.beat();
        assert_eq!(l.stuck(Instant::now(), STALL), None);
    }

    #[test]
    fn waiting_input_without_progress_is_stuck_after_the_stall_limit() {
        let l = Liveness::default();
        l.snapshot([("t-0", true), ("t-1", false)].into_iter());
        let t0 = Instant::now();
        assert_eq!(l.stuck(t0 + Duration::from_secs(5), STALL), None);
        // Simulated time runs past the stall limit while the beat stays fresh.
        let late = t0 + Duration::from_secs(11);
        *l.beat.lock().unwrap() = Some(late);
        let why = l.stuck(late, STALL).unwrap();
        assert!(why.contains("t-0") && why.contains("no progress"), "{why}");
    }

    #[test]
    fn progress_while_input_waits_keeps_it_alive() {
        let l = Liveness::default();
        l.snapshot([("t-0", true)].into_iter());
        l.progress("t-0");
        let now = Instant::now();
        assert_eq!(l.stuck(now + Duration::from_secs(9), STALL), None);
        // The input drained: not waiting any more, whatever the clock says.
        l.snapshot([("t-0", false)].into_iter());
        let late = Instant::now() + Duration::from_secs(60);
        *l.beat.lock().unwrap() = Some(late);
        assert_eq!(l.stuck(late, STALL), None);
    }

    #[test]
    fn input_that_starts_waiting_after_a_long_idle_gets_the_full_limit() {
        let l = Liveness::default();
        let t0 = Instant::now();
        l.progress("t-0");
        // An hour later (simulated) input arrives: the old progress does not
        // make it stuck at once, only the limit after the arrival does.
        let arrival = t0 + Duration::from_secs(3600);
        l.snapshot([("t-0", true)].into_iter());
        l.parts
            .lock()
            .unwrap()
            .get_mut("t-0")
            .unwrap()
            .waiting_since = Some(arrival);
        let at = |secs| {
            let t = arrival + Duration::from_secs(secs);
            *l.beat.lock().unwrap() = Some(t);
            l.stuck(t, STALL)
        };
        assert_eq!(at(5), None);
        assert!(at(11).is_some());
    }

    #[test]
    fn a_failed_partition_is_stuck_and_stays_so_after_revocation() {
        let l = Liveness::default();
        l.snapshot([("t-0", false), ("t-1", false)].into_iter());
        l.failed("t-1");
        let why = l.stuck(Instant::now(), STALL).unwrap();
        assert!(why.contains("t-1") && why.contains("error"), "{why}");
        l.snapshot([("t-0", false)].into_iter());
        assert!(l.stuck(Instant::now(), STALL).is_some());
    }

    #[test]
    fn revoked_partitions_are_forgotten() {
        let l = Liveness::default();
        l.snapshot([("t-0", true)].into_iter());
        l.snapshot(std::iter::empty());
        let late = Instant::now() + Duration::from_secs(60);
        *l.beat.lock().unwrap() = Some(late);
        assert_eq!(l.stuck(late, STALL), None);
    }

    #[test]
    fn joined_is_remembered() {
        let l = Liveness::default();
        assert!(!l.has_joined());
        l.joined();
        assert!(l.has_joined());
    }
}
