//! The options of a run.

use super::stream::Dialect;

/// Options of a run; `flags.rs` resolves eventsim's flags over the config file into them.
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
