//! What the simulator's threads share, read-only, and its checks of the options.

use super::calendar;
use super::catalog::Catalog;
use super::encode::Tables;
use super::error::SimError;
use super::model::Model;
use super::options::SimOptions;
use crate::time::DAY_MS;

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
}

impl Ctx {
    /// Checks the options and builds what the run shares.
    pub fn new(model: Model, catalog: Catalog, opts: SimOptions) -> Result<Ctx, SimError> {
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
        let off_days = calendar::OffDays::new(opts.start_ms - 400 * DAY_MS, opts.end_ms);
        let song_ms = catalog
            .songs
            .iter()
            .map(|s| (s.duration as i64).saturating_mul(1000))
            .collect();
        Ok(Ctx {
            song_ms,
            model,
            catalog,
            tables,
            off_days,
            opts,
        })
    }
}
