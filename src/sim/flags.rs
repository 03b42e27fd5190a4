//! eventsim's command-line flags, shared by `musicaly run` and `musicaly
//! simulate`, and their resolution into [`SimOptions`]: flags win over the
//! eventsim config file, which wins over the caller's defaults. One resolution
//! for both commands, so they cannot drift apart.

use clap::Args;

use super::model::Model;
use super::{Dialect, SimOptions};
use crate::time::{format_utc, now_ms, parse_utc, TimeParseError, HOUR_MS};

const DAY_MS: f64 = 86_400_000.0;

/// eventsim's flags (same names and short options as eventsim).
#[derive(Args, Debug, Clone, Default)]
pub struct SimFlags {
    /// Number of users at the start [default: simulate.nusers for run, 1 for simulate].
    #[arg(short = 'n', long = "nusers")]
    pub nusers: Option<u64>,
    /// Annual growth rate of the user base (0.1 = +10 % a year) [default: 0].
    #[arg(short = 'g', long = "growth-rate")]
    pub growth_rate: Option<f64>,
    /// Start of simulated time, ISO date-time in UTC (2026-11-01T00:00:00 or 2026-11-01).
    #[arg(short = 's', long = "start-time")]
    pub start_time: Option<String>,
    /// End of simulated time, ISO date-time in UTC.
    #[arg(short = 'e', long = "end-time")]
    pub end_time: Option<String>,
    /// Start at now minus this many days, when --start-time is not given [default: 15 for simulate].
    #[arg(long = "from", value_name = "DAYS")]
    pub from_days: Option<f64>,
    /// End at now minus this many days, when --end-time is not given [default: 1 for simulate].
    #[arg(long = "to", value_name = "DAYS")]
    pub to_days: Option<f64>,
    /// Id of the first user [default: 1].
    #[arg(short = 'u', long = "userid")]
    pub userid: Option<i64>,
    /// Random seed: the same seed and flags give the same events, byte for byte.
    #[arg(short = 'r', long = "randomseed")]
    pub seed: Option<u64>,
    /// Adds a `tag` field with this value to every event.
    #[arg(long)]
    pub tag: Option<String>,
    /// Generator threads; the output is byte-identical for any value [default: 1].
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
}

/// What a command uses where neither a flag nor the eventsim config says.
#[derive(Debug, Clone)]
pub struct Defaults {
    /// Start time (ISO) when no flag gives one; empty: `from_days` before now.
    pub start_time: String,
    /// End time (ISO) when no flag gives one; empty: `to_days` before now.
    pub end_time: String,
    pub from_days: f64,
    pub to_days: f64,
    pub nusers: u64,
    /// The seed when no flag gives one; `None`: the eventsim config's, else 0.
    pub seed: Option<u64>,
    /// Pace to the wall clock: starts now and never ends unless told otherwise.
    pub continuous: bool,
    pub dialect: Dialect,
    pub progress: bool,
    pub catchup_rate: f64,
    /// In continuous mode, simulated seconds per wall-clock second.
    pub speedup: f64,
}

/// A flag that cannot be used as given.
#[derive(Debug, thiserror::Error)]
pub enum FlagError {
    #[error("{flag}: {source}")]
    Time {
        flag: &'static str,
        source: TimeParseError,
    },
    #[error(
        "end time {end} is not after start time {start}; check -s/--start-time and -e/--end-time"
    )]
    EmptyRange { start: String, end: String },
}

impl SimFlags {
    /// The options of a run of `model` with these flags.
    pub fn resolve(&self, model: &Model, d: &Defaults) -> Result<SimOptions, FlagError> {
        let cfg = &model.cfg;
        let or_cfg = |setting: &str, cfg: &Option<String>| {
            if setting.is_empty() {
                cfg.clone().unwrap_or_default()
            } else {
                setting.to_string()
            }
        };
        let start_default = or_cfg(&d.start_time, &cfg.start_date);
        let end_default = or_cfg(&d.end_time, &cfg.end_date);
        let (start_ms, end_ms) = if d.continuous {
            // Real time: from now (unless told otherwise) and without end (unless told).
            let explicit_start =
                self.start_time.is_some() || self.from_days.is_some() || !start_default.is_empty();
            let explicit_end =
                self.end_time.is_some() || self.to_days.is_some() || !end_default.is_empty();
            let (s, e) = self.time_range(&start_default, &end_default, 0.0, -36_500.0)?;
            (
                if explicit_start { s } else { now_ms() },
                if explicit_end { e } else { i64::MAX / 4 },
            )
        } else {
            self.time_range(&start_default, &end_default, d.from_days, d.to_days)?
        };
        Ok(SimOptions {
            nusers: self
                .nusers
                .or(cfg.n_users.map(|n| n as u64))
                .unwrap_or(d.nusers),
            growth_rate: self.growth_rate.or(cfg.growth_rate).unwrap_or(0.0),
            start_ms,
            end_ms,
            first_user_id: self
                .userid
                .or(cfg.first_user_id.map(|x| x as i64))
                .unwrap_or(1),
            seed: match d.seed {
                Some(s) => self.seed.unwrap_or(s),
                None => self.seed.or(cfg.seed.map(|s| s as u64)).unwrap_or(0),
            },
            tag: self.tag.clone().or(cfg.tag.clone()),
            dialect: d.dialect,
            continuous: d.continuous,
            progress: d.progress,
            threads: self.threads.unwrap_or(1),
            catchup_rate: d.catchup_rate,
            speedup: d.speedup,
        })
    }

    /// eventsim's time flags: explicit times win, then --from/--to days before
    /// now, then the given defaults. Times computed from now are whole hours.
    fn time_range(
        &self,
        default_start: &str,
        default_end: &str,
        default_from_days: f64,
        default_to_days: f64,
    ) -> Result<(i64, i64), FlagError> {
        let parse = |flag, s: &str| parse_utc(s).map_err(|source| FlagError::Time { flag, source });
        let now = now_ms();
        let end = match (&self.end_time, self.to_days) {
            (Some(e), _) => parse("-e/--end-time", e)?,
            (None, Some(d)) => now - (d * DAY_MS) as i64,
            (None, None) if !default_end.is_empty() => parse("the config's end time", default_end)?,
            (None, None) => now - (default_to_days * DAY_MS) as i64,
        };
        let end = if self.end_time.is_none() && default_end.is_empty() {
            end - end.rem_euclid(HOUR_MS)
        } else {
            end
        };
        let start = match (&self.start_time, self.from_days) {
            (Some(s), _) => parse("-s/--start-time", s)?,
            (None, Some(d)) => now - (d * DAY_MS) as i64,
            (None, None) if !default_start.is_empty() => {
                parse("the config's start time", default_start)?
            }
            (None, None) => {
                let t = now - (default_from_days * DAY_MS) as i64;
                t - t.rem_euclid(HOUR_MS)
            }
        };
        if end <= start {
            return Err(FlagError::EmptyRange {
                start: format_utc(start),
                end: format_utc(end),
            });
        }
        Ok((start, end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::model::EventsimConfig;

    fn defaults() -> Defaults {
        Defaults {
            start_time: String::new(),
            end_time: String::new(),
            from_days: 15.0,
            to_days: 1.0,
            nusers: 1,
            seed: None,
            continuous: false,
            dialect: Dialect::Four,
            progress: false,
            catchup_rate: 10_000.0,
            speedup: 1.0,
        }
    }

    fn model() -> Model {
        Model::compile(EventsimConfig::builtin()).expect("the built-in config compiles")
    }

    #[test]
    fn explicit_times_win_and_are_kept_exact() {
        let f = SimFlags {
            start_time: Some("2026-11-01T00:30:00".into()),
            end_time: Some("2026-11-02".into()),
            ..Default::default()
        };
        let o = f.resolve(&model(), &defaults()).expect("valid flags");
        assert_eq!(o.start_ms, parse_utc("2026-11-01T00:30:00").unwrap());
        assert_eq!(o.end_ms, parse_utc("2026-11-02").unwrap());
    }

    #[test]
    fn reversed_range_names_the_flags() {
        let f = SimFlags {
            start_time: Some("2026-11-02".into()),
            end_time: Some("2026-11-01".into()),
            ..Default::default()
        };
        let e = f.resolve(&model(), &defaults()).unwrap_err().to_string();
        assert!(
            e.contains("-s/--start-time") && e.contains("-e/--end-time"),
            "{e}"
        );
    }

    #[test]
    fn malformed_time_names_the_flag() {
        let f = SimFlags {
            end_time: Some("yesterday".into()),
            ..Default::default()
        };
        let e = f.resolve(&model(), &defaults()).unwrap_err().to_string();
        assert!(e.starts_with("-e/--end-time"), "{e}");
    }

    #[test]
    fn a_default_seed_overrides_the_config_seed_but_not_the_flag() {
        let mut m = model();
        m.cfg.seed = Some(7.0);
        let mut d = defaults();
        assert_eq!(SimFlags::default().resolve(&m, &d).unwrap().seed, 7);
        d.seed = Some(3);
        assert_eq!(SimFlags::default().resolve(&m, &d).unwrap().seed, 3);
        let f = SimFlags {
            seed: Some(9),
            ..Default::default()
        };
        assert_eq!(f.resolve(&m, &d).unwrap().seed, 9);
    }

    #[test]
    fn times_from_now_are_whole_hours() {
        let o = SimFlags::default().resolve(&model(), &defaults()).unwrap();
        assert_eq!(o.start_ms.rem_euclid(HOUR_MS), 0);
        assert_eq!(o.end_ms.rem_euclid(HOUR_MS), 0);
        assert!(o.end_ms - o.start_ms >= 13 * 86_400_000);
    }
}
