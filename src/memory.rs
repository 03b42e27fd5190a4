//! The data path's memory budget (`pipeline.memory_limit_mb`).
//!
//! Two things grow with the input rate and the consumer lag, and both are
//! bounded here rather than by counting batches (whose size varies):
//!
//! - **in flight**: bytes of source batches cut but not yet appended to the lake.
//!   A batch carries a [`Reservation`] from the moment the source cuts it until
//!   its partition actor has written it; the source parks a batch and stops
//!   reading its partition while the budget is spent, until reservations drop.
//! - **lake buffers**: memory of the open Parquet files (row groups being built,
//!   upload parts). A lake writer closes the files of the partition it is
//!   writing when the total is over budget.
//!
//! The split of the limit is documented in `config/default.toml`.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

const MIB: usize = 1 << 20;

#[derive(Debug)]
pub struct MemoryBudget {
    limit: usize,
    in_flight_limit: usize,
    in_flight: AtomicUsize,
    lake_limit: usize,
    lake: AtomicUsize,
}

impl MemoryBudget {
    pub fn new(limit_mb: u64) -> Arc<MemoryBudget> {
        let limit = (limit_mb as usize).saturating_mul(MIB);
        Arc::new(MemoryBudget {
            limit,
            // An eighth (was a quarter): batches in flight are most of what a
            // fast source adds (docs/BENCHMARKS.md, "Memory bound").
            in_flight_limit: limit / 8,
            in_flight: AtomicUsize::new(0),
            lake_limit: limit / 4,
            lake: AtomicUsize::new(0),
        })
    }

    /// A budget that never runs out (tests and benchmarks of single stages).
    pub fn unlimited() -> Arc<MemoryBudget> {
        Arc::new(MemoryBudget {
            limit: usize::MAX,
            in_flight_limit: usize::MAX,
            in_flight: AtomicUsize::new(0),
            lake_limit: usize::MAX,
            lake: AtomicUsize::new(0),
        })
    }

    /// The whole limit, in bytes.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Whether another batch may be handed to a partition actor.
    pub fn has_room(&self) -> bool {
        self.in_flight.load(Relaxed) < self.in_flight_limit
    }

    /// Largest source batch worth cutting, in bytes: 1/32 of the in-flight
    /// budget, between 256 KiB and 32 MiB. Besides the reserved batches, each
    /// partition holds one batch being filled and at most one parked batch, so
    /// this keeps those (2 × partitions × this) small next to the budget.
    pub fn batch_max_bytes(&self) -> usize {
        (self.in_flight_limit / 32).clamp(MIB / 4, 32 * MIB)
    }

    /// Accounts `bytes` as in flight until the reservation is dropped. Always
    /// succeeds: callers check [`MemoryBudget::has_room`] before handing a batch on.
    pub fn reserve(self: &Arc<Self>, bytes: usize) -> Reservation {
        self.in_flight.fetch_add(bytes, Relaxed);
        Reservation {
            budget: self.clone(),
            bytes,
        }
    }

    pub fn in_flight_bytes(&self) -> usize {
        self.in_flight.load(Relaxed)
    }

    /// Records a change of the lake writers' buffered bytes.
    pub fn lake_adjust(&self, before: usize, after: usize) {
        if after >= before {
            self.lake.fetch_add(after - before, Relaxed);
        } else {
            self.lake.fetch_sub(before - after, Relaxed);
        }
    }

    pub fn lake_bytes(&self) -> usize {
        self.lake.load(Relaxed)
    }

    /// Whether the open lake files hold more than their share.
    pub fn lake_over(&self) -> bool {
        self.lake.load(Relaxed) > self.lake_limit
    }
}

/// Bytes accounted in flight; released on drop.
#[derive(Debug)]
pub struct Reservation {
    budget: Arc<MemoryBudget>,
    bytes: usize,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.in_flight.fetch_sub(self.bytes, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_fill_and_release_the_budget() {
        let b = MemoryBudget::new(128);
        assert!(b.has_room());
        let r1 = b.reserve(10 * MIB);
        assert!(b.has_room(), "10 of 16 MiB in flight");
        let r2 = b.reserve(6 * MIB);
        assert!(!b.has_room(), "16 of 16 MiB in flight");
        drop(r1);
        assert!(b.has_room());
        assert_eq!(b.in_flight_bytes(), 6 * MIB);
        drop(r2);
        assert_eq!(b.in_flight_bytes(), 0);
        assert_eq!(b.batch_max_bytes(), MIB / 2);
    }

    #[test]
    fn lake_share_is_a_quarter() {
        let b = MemoryBudget::new(64);
        b.lake_adjust(0, 16 * MIB);
        assert!(!b.lake_over());
        b.lake_adjust(16 * MIB, 17 * MIB);
        assert!(b.lake_over());
        b.lake_adjust(17 * MIB, 0);
        assert_eq!(b.lake_bytes(), 0);
    }
}
