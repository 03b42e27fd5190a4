//! The options of a run.

use super::model::EventsimConfig;
use super::stream::Dialect;

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
        }
    }

    /// These options with the eventsim config's values, and over them the
    /// flags': a value comes from the flag when given, else from the config
    /// file when it has one, else stays as in `self` (the caller's default).
    /// `musicaly simulate` and `musicaly run` resolve their flags by this one
    /// rule.
    pub fn with_config(mut self, cfg: &EventsimConfig, flags: &SimOverrides) -> SimOptions {
        if let Some(n) = flags.nusers.or(cfg.n_users.map(|n| n as u64)) {
            self.nusers = n;
        }
        if let Some(g) = flags.growth_rate.or(cfg.growth_rate) {
            self.growth_rate = g;
        }
        if let Some(u) = flags.first_user_id.or(cfg.first_user_id.map(|u| u as i64)) {
            self.first_user_id = u;
        }
        if let Some(s) = flags.seed.or(cfg.seed.map(|s| s as u64)) {
            self.seed = s;
        }
        if let Some(t) = flags.tag.clone().or(cfg.tag.clone()) {
            self.tag = Some(t);
        }
        if let Some(t) = flags.threads {
            self.threads = t;
        }
        self
    }
}

/// What the command line gives of [`SimOptions`] (eventsim's flags); None:
/// not given, the config file's value or the default applies
/// ([`SimOptions::with_config`]).
#[derive(Debug, Clone, Default)]
pub struct SimOverrides {
    pub nusers: Option<u64>,
    pub growth_rate: Option<f64>,
    pub first_user_id: Option<i64>,
    pub seed: Option<u64>,
    pub tag: Option<String>,
    pub threads: Option<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_config_which_wins_over_the_default() {
        let mut cfg = EventsimConfig::builtin();
        cfg.n_users = Some(50.0);
        cfg.seed = Some(7.0);
        cfg.tag = Some("cfg".into());
        cfg.growth_rate = None;
        cfg.first_user_id = None;
        let base = SimOptions {
            growth_rate: 0.25,
            ..SimOptions::new(0, 1000)
        };
        let o = base.clone().with_config(&cfg, &SimOverrides::default());
        assert_eq!((o.nusers, o.seed, o.tag.as_deref()), (50, 7, Some("cfg")));
        assert_eq!((o.growth_rate, o.first_user_id, o.threads), (0.25, 1, 1));
        let flags = SimOverrides {
            nusers: Some(3),
            seed: Some(9),
            tag: Some("flag".into()),
            growth_rate: Some(0.5),
            first_user_id: Some(100),
            threads: Some(2),
        };
        let o = base.with_config(&cfg, &flags);
        assert_eq!((o.nusers, o.seed, o.tag.as_deref()), (3, 9, Some("flag")));
        assert_eq!((o.growth_rate, o.first_user_id, o.threads), (0.5, 100, 2));
    }
}
