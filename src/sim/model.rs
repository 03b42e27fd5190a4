//! eventsim's JSON config, read as it is, and compiled into a state machine the
//! simulator can step through with one uniform draw per event.
//!
//! A state is the 5-tuple (page, method, status, auth, level). Transitions of a
//! state are stored as cumulative probabilities; a draw past the last one ends
//! the session.

use std::collections::HashMap;

use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("eventsim config {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("eventsim config: not valid JSON of eventsim's format: {0}")]
    Json(#[from] serde_json::Error),
    #[error("eventsim config: {0}")]
    Invalid(String),
}

fn default_alpha() -> f64 {
    60.0
}
fn default_beta() -> f64 {
    259_200.0
}
fn default_damping() -> f64 {
    0.0625
}
fn default_weekend_damping() -> f64 {
    0.5
}
fn default_wd_offset() -> f64 {
    180.0
}
fn default_wd_scale() -> f64 {
    360.0
}
fn default_session_gap() -> f64 {
    1800.0
}

/// The config file as eventsim reads it. Numbers may be written as floats.
#[derive(Debug, Clone, Deserialize)]
pub struct EventsimConfig {
    pub seed: Option<f64>,
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    #[serde(default = "default_beta")]
    pub beta: f64,
    #[serde(default = "default_damping")]
    pub damping: f64,
    #[serde(rename = "weekend-damping", default = "default_weekend_damping")]
    pub weekend_damping: f64,
    #[serde(rename = "weekend-damping-offset", default = "default_wd_offset")]
    pub weekend_damping_offset: f64,
    #[serde(rename = "weekend-damping-scale", default = "default_wd_scale")]
    pub weekend_damping_scale: f64,
    #[serde(rename = "session-gap", default = "default_session_gap")]
    pub session_gap: f64,
    #[serde(rename = "churned-state")]
    pub churned_state: Option<String>,
    #[serde(rename = "show-user-details", default)]
    pub show_user_details: Vec<ShowDetails>,
    #[serde(default)]
    pub levels: Vec<LevelWeight>,
    #[serde(default)]
    pub auths: Vec<AuthWeight>,
    #[serde(rename = "new-session", default)]
    pub new_session: Vec<NewSession>,
    #[serde(rename = "new-user-auth")]
    pub new_user_auth: Option<String>,
    #[serde(rename = "new-user-level")]
    pub new_user_level: Option<String>,
    #[serde(default)]
    pub transitions: Vec<Transition>,
    #[serde(rename = "n-users")]
    pub n_users: Option<f64>,
    #[serde(rename = "growth-rate")]
    pub growth_rate: Option<f64>,
    #[serde(rename = "first-user-id")]
    pub first_user_id: Option<f64>,
    pub tag: Option<String>,
    /// Start of simulated time (ISO date-time, UTC) when no flag gives one;
    /// eventsim ignored it (a known defect), we honour it.
    #[serde(rename = "start-date")]
    pub start_date: Option<String>,
    /// End of simulated time (ISO date-time, UTC) when no flag gives one.
    #[serde(rename = "end-date")]
    pub end_date: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ShowDetails {
    pub auth: String,
    pub show: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LevelWeight {
    pub level: String,
    pub weight: f64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuthWeight {
    pub auth: String,
    pub weight: f64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct NewSession {
    #[serde(flatten)]
    pub state: StateSpec,
    pub weight: f64,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq, Hash)]
pub struct StateSpec {
    pub page: String,
    pub method: String,
    #[serde(deserialize_with = "int_from_number")]
    pub status: i32,
    pub auth: String,
    pub level: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Transition {
    pub source: StateSpec,
    pub dest: StateSpec,
    pub p: f64,
}

fn int_from_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    let v = f64::deserialize(d)?;
    if v.fract() == 0.0 && v.abs() < 1e9 {
        Ok(v as i32)
    } else {
        Err(serde::de::Error::custom(format!(
            "status {v} is not an integer"
        )))
    }
}

impl EventsimConfig {
    pub fn from_json(text: &str) -> Result<EventsimConfig, ModelError> {
        Ok(serde_json::from_str(text)?)
    }

    pub fn from_file(path: &std::path::Path) -> Result<EventsimConfig, ModelError> {
        let text = std::fs::read_to_string(path).map_err(|source| ModelError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_json(&text)
    }

    /// Our built-in config (written for musicaly, same format as eventsim's).
    pub fn builtin() -> EventsimConfig {
        Self::from_json(include_str!("../../config/eventsim-default.json"))
            .expect("the built-in eventsim config is valid")
    }
}

/// Auth and level of users arriving through growth when the config names none.
pub const DEFAULT_NEW_USER_AUTH: &str = "Guest";
pub const DEFAULT_NEW_USER_LEVEL: &str = "free";

/// A state of the machine, with its outgoing transitions.
#[derive(Debug, Clone)]
pub struct State {
    pub page: String,
    pub method: String,
    pub status: i32,
    pub auth: String,
    pub level: String,
    /// (cumulative probability, destination state index)
    pub next: Vec<(f64, usize)>,
    /// Per [`GUIDE`]th of [0, 1): the first transition whose cumulative
    /// probability is above the bucket's start, where the search for a draw
    /// in the bucket may begin (see [`State::transition`]).
    pub guide: [u8; GUIDE],
    /// The state's auth and level as ids ([`Ids::auth_names`],
    /// [`Ids::level_names`]), and whether its auth shows the user's
    /// details (set by [`Ids::build`]): the engine reads them per event from
    /// the state it already has, rather than from three more tables.
    pub auth_id: u16,
    pub level_id: u16,
    pub shows: bool,
    pub is_redirect: bool,
    pub is_next_song: bool,
    pub is_login: bool,
    pub is_status_change: bool,
}

/// Buckets of a state's guide table.
pub const GUIDE: usize = 32;

impl State {
    /// The transition taken with the uniform draw `x` in [0, 1) made from
    /// the random number `r` as `rand` makes an `f64` (`(r >> 11) * 2^-53`):
    /// the first whose cumulative probability is above `x`; None ends the
    /// session. The guide table skips the transitions that cannot match (all
    /// those of a bucket's start or below), so the answer is that of a scan
    /// from the first, in fewer steps.
    #[inline]
    pub fn transition(&self, r: u64) -> Option<usize> {
        let x = (r >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
        // The bucket whose start is at or below x: floor(x * GUIDE), with
        // GUIDE = 2^5, is the top five bits of r (exact, and without a
        // float-to-integer conversion).
        const _: () = assert!(GUIDE == 1 << 5);
        let from = self.guide[(r >> 59) as usize] as usize;
        self.next
            .get(from..)
            .unwrap_or(&[])
            .iter()
            .find(|(c, _)| x < *c)
            .map(|n| n.1)
    }
}

/// The compiled model.
#[derive(Debug, Clone)]
pub struct Model {
    pub cfg: EventsimConfig,
    pub states: Vec<State>,
    /// (auth, level) → cumulative weights over initial state indices.
    pub new_session: HashMap<(String, String), Vec<(f64, usize)>>,
    pub show_details: HashMap<String, bool>,
    /// The same, with auths and levels as small ids: what the engine uses.
    pub ids: Ids,
}

/// Auths and levels as small integer ids, so a user's state is a few bytes and
/// the hot path compares integers, not strings.
#[derive(Debug, Clone, Default)]
pub struct Ids {
    pub auth_names: Vec<String>,
    pub level_names: Vec<String>,
    /// Indexed by `auth * level_names.len() + level`: cumulative weights over
    /// first states of a session (empty: this user cannot start a session).
    pub new_session: Vec<Vec<(f64, usize)>>,
    pub churned: Option<u16>,
    /// Cumulative weights of the initial users' auth and level.
    pub initial_auth: Vec<(f64, usize)>,
    pub initial_level: Vec<(f64, usize)>,
    pub new_user_auth: u16,
    pub new_user_level: u16,
}

impl Ids {
    /// The ids, and each state's own (`auth_id`, `level_id`, `shows`).
    fn build(cfg: &EventsimConfig, states: &mut [State], show: &HashMap<String, bool>) -> Ids {
        let mut ids = Ids::default();
        fn intern(names: &mut Vec<String>, n: &str) -> u16 {
            match names.iter().position(|x| x == n) {
                Some(i) => i as u16,
                None => {
                    names.push(n.to_string());
                    (names.len() - 1) as u16
                }
            }
        }
        for st in states.iter_mut() {
            st.auth_id = intern(&mut ids.auth_names, &st.auth);
            st.level_id = intern(&mut ids.level_names, &st.level);
            st.shows = show.get(&st.auth).copied().unwrap_or(false);
        }
        let mut cum = 0.0;
        for a in &cfg.auths {
            cum += a.weight.max(0.0);
            let id = intern(&mut ids.auth_names, &a.auth);
            ids.initial_auth.push((cum, id as usize));
        }
        cum = 0.0;
        for l in &cfg.levels {
            cum += l.weight.max(0.0);
            let id = intern(&mut ids.level_names, &l.level);
            ids.initial_level.push((cum, id as usize));
        }
        ids.new_user_auth = intern(
            &mut ids.auth_names,
            cfg.new_user_auth
                .as_deref()
                .unwrap_or(DEFAULT_NEW_USER_AUTH),
        );
        ids.new_user_level = intern(
            &mut ids.level_names,
            cfg.new_user_level
                .as_deref()
                .unwrap_or(DEFAULT_NEW_USER_LEVEL),
        );
        ids.churned = cfg
            .churned_state
            .as_deref()
            .map(|c| intern(&mut ids.auth_names, c));
        let nl = ids.level_names.len();
        ids.new_session = vec![Vec::new(); ids.auth_names.len() * nl];
        for ns in &cfg.new_session {
            let (Some(a), Some(l)) = (
                ids.auth_names.iter().position(|x| *x == ns.state.auth),
                ids.level_names.iter().position(|x| *x == ns.state.level),
            ) else {
                continue;
            };
            let Some(si) = states.iter().position(|s| {
                s.page == ns.state.page
                    && s.method == ns.state.method
                    && s.status == ns.state.status
                    && s.auth == ns.state.auth
                    && s.level == ns.state.level
            }) else {
                continue;
            };
            let list = &mut ids.new_session[a * nl + l];
            let cum = list.last().map_or(0.0, |x| x.0) + ns.weight;
            list.push((cum, si));
        }
        for l in &mut ids.new_session {
            if l.last().is_some_and(|x| x.0 <= 0.0) {
                l.clear();
            }
        }
        ids
    }

    /// First-state weights for a user of this auth and level.
    pub fn session_starts(&self, auth: u16, level: u16) -> &[(f64, usize)] {
        &self.new_session[auth as usize * self.level_names.len() + level as usize]
    }
}

impl Model {
    /// Compiles and checks a config: every state used in `new-session` and
    /// `transitions` must be consistent; a state's probabilities must not sum above
    /// 1; every auth used must have a `show-user-details` entry.
    pub fn compile(cfg: EventsimConfig) -> Result<Model, ModelError> {
        let mut index: HashMap<StateSpec, usize> = HashMap::new();
        let mut states: Vec<State> = Vec::new();
        let mut intern = |spec: &StateSpec, states: &mut Vec<State>| -> usize {
            *index.entry(spec.clone()).or_insert_with(|| {
                states.push(State {
                    page: spec.page.clone(),
                    method: spec.method.clone(),
                    status: spec.status,
                    auth: spec.auth.clone(),
                    level: spec.level.clone(),
                    next: Vec::new(),
                    guide: [0; GUIDE],
                    auth_id: 0,
                    level_id: 0,
                    shows: false,
                    is_redirect: (300..400).contains(&spec.status),
                    is_next_song: spec.page == "NextSong",
                    is_login: spec.page == "Login",
                    is_status_change: spec.page == "Submit Upgrade"
                        || spec.page == "Submit Downgrade",
                });
                states.len() - 1
            })
        };
        for (i, t) in cfg.transitions.iter().enumerate() {
            if !(0.0..=1.0).contains(&t.p) {
                return Err(ModelError::Invalid(format!(
                    "transitions[{i}] from {} to {} has p = {}, allowed 0..=1",
                    describe(&t.source),
                    describe(&t.dest),
                    t.p
                )));
            }
            let s = intern(&t.source, &mut states);
            let d = intern(&t.dest, &mut states);
            let cum = states[s].next.last().map_or(0.0, |x| x.0) + t.p;
            states[s].next.push((cum, d));
        }
        for st in &states {
            if let Some((sum, _)) = st.next.last() {
                if *sum > 1.0 + 1e-9 {
                    return Err(ModelError::Invalid(format!(
                        "transitions from state (page {:?}, method {}, status {}, auth {:?}, level {:?}) sum to {sum:.6}, above 1",
                        st.page, st.method, st.status, st.auth, st.level
                    )));
                }
            }
        }
        for st in &mut states {
            st.guide = std::array::from_fn(|j| {
                let lo = j as f64 / GUIDE as f64;
                st.next.partition_point(|(c, _)| *c <= lo).min(255) as u8
            });
        }
        let mut new_session: HashMap<(String, String), Vec<(f64, usize)>> = HashMap::new();
        for (i, ns) in cfg.new_session.iter().enumerate() {
            let Some(&si) = index.get(&ns.state) else {
                return Err(ModelError::Invalid(format!(
                    "new-session[{i}] {} is not a state of any transition",
                    describe(&ns.state)
                )));
            };
            if !(ns.weight >= 0.0 && ns.weight.is_finite()) {
                return Err(ModelError::Invalid(format!(
                    "new-session[{i}] {} has weight {}, allowed a finite number >= 0",
                    describe(&ns.state),
                    ns.weight
                )));
            }
            let list = new_session
                .entry((ns.state.auth.clone(), ns.state.level.clone()))
                .or_default();
            let cum = list.last().map_or(0.0, |x| x.0) + ns.weight;
            list.push((cum, si));
        }
        // A (auth, level) whose weights are all 0 cannot start a session.
        new_session.retain(|_, l| l.last().is_some_and(|x| x.0 > 0.0));
        let mut show_details: HashMap<String, bool> = HashMap::new();
        for (i, s) in cfg.show_user_details.iter().enumerate() {
            if show_details.insert(s.auth.clone(), s.show).is_some() {
                return Err(ModelError::Invalid(format!(
                    "show-user-details[{i}]: auth {:?} is listed twice",
                    s.auth
                )));
            }
        }
        for st in &states {
            if !show_details.contains_key(&st.auth) {
                return Err(ModelError::Invalid(format!(
                    "auth {:?} (used by page {:?}) has no show-user-details entry",
                    st.auth, st.page
                )));
            }
        }
        for (what, list) in [
            (
                "auths",
                cfg.auths
                    .iter()
                    .map(|a| (a.auth.as_str(), a.weight))
                    .collect::<Vec<_>>(),
            ),
            (
                "levels",
                cfg.levels
                    .iter()
                    .map(|l| (l.level.as_str(), l.weight))
                    .collect(),
            ),
        ] {
            if let Some((i, (name, w))) = list
                .iter()
                .enumerate()
                .find(|(_, (_, w))| !(*w >= 0.0 && w.is_finite()))
            {
                return Err(ModelError::Invalid(format!(
                    "{what}[{i}] {name:?} has weight {w}, allowed a finite number >= 0"
                )));
            }
            if list.iter().all(|(_, w)| *w <= 0.0) {
                return Err(ModelError::Invalid(format!(
                    "{what} needs at least one positive weight"
                )));
            }
        }
        for a in cfg.auths.iter().filter(|a| a.weight > 0.0) {
            for l in cfg.levels.iter().filter(|l| l.weight > 0.0) {
                if !new_session.contains_key(&(a.auth.clone(), l.level.clone())) {
                    return Err(ModelError::Invalid(format!(
                        "initial users may have auth {:?} and level {:?}, but new-session has no state for them",
                        a.auth, l.level
                    )));
                }
            }
        }
        let new_auth = cfg
            .new_user_auth
            .as_deref()
            .unwrap_or(DEFAULT_NEW_USER_AUTH);
        let new_level = cfg
            .new_user_level
            .as_deref()
            .unwrap_or(DEFAULT_NEW_USER_LEVEL);
        if !new_session.contains_key(&(new_auth.to_string(), new_level.to_string())) {
            return Err(ModelError::Invalid(format!(
                "new-user-auth {new_auth:?} with new-user-level {new_level:?}: new-session has no state for them, so arriving users could never start a session"
            )));
        }
        if let Some(c) = &cfg.churned_state {
            if !states.iter().any(|s| &s.auth == c) {
                return Err(ModelError::Invalid(format!(
                    "churned-state {c:?} is not the auth of any state, so no user could churn"
                )));
            }
        }
        for (what, v) in [
            ("alpha", cfg.alpha),
            ("beta", cfg.beta),
            ("session-gap", cfg.session_gap),
            ("weekend-damping-scale", cfg.weekend_damping_scale),
        ] {
            if !(v >= 0.0 && v.is_finite()) {
                return Err(ModelError::Invalid(format!(
                    "{what} = {v}, allowed a finite number >= 0"
                )));
            }
        }
        if !(0.0..=1.0).contains(&cfg.weekend_damping) {
            return Err(ModelError::Invalid(format!(
                "weekend-damping = {}, allowed 0..=1",
                cfg.weekend_damping
            )));
        }
        if !(0.0..0.5).contains(&cfg.damping) {
            return Err(ModelError::Invalid(format!(
                "damping = {}, allowed 0..0.5",
                cfg.damping
            )));
        }
        let ids = Ids::build(&cfg, &mut states, &show_details);
        Ok(Model {
            cfg,
            states,
            new_session,
            show_details,
            ids,
        })
    }

    pub fn shows_details(&self, auth: &str) -> bool {
        self.show_details.get(auth).copied().unwrap_or(false)
    }
}

fn describe(s: &StateSpec) -> String {
    format!(
        "(page {:?}, method {}, status {}, auth {:?}, level {:?})",
        s.page, s.method, s.status, s.auth, s.level
    )
}

/// Picks from cumulative weights with a uniform draw in [0, total).
pub fn pick_cumulative(list: &[(f64, usize)], u: f64) -> Option<usize> {
    let total = list.last()?.0;
    let x = u * total;
    let i = list.partition_point(|(c, _)| *c <= x);
    list.get(i.min(list.len() - 1)).map(|x| x.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_compiles() {
        let m = Model::compile(EventsimConfig::builtin()).unwrap();
        assert!(m.states.iter().any(|s| s.is_next_song));
    }

    /// An `RngCore` that returns one number: what `rand` makes of it.
    struct Fixed(u64);

    impl rand::RngCore for Fixed {
        fn next_u32(&mut self) -> u32 {
            self.0 as u32
        }
        fn next_u64(&mut self) -> u64 {
            self.0
        }
        fn fill_bytes(&mut self, dst: &mut [u8]) {
            rand::rand_core::impls::fill_bytes_via_next(self, dst)
        }
    }

    #[test]
    fn transition_is_a_scan_with_rands_f64() {
        use rand::{Rng, RngCore, SeedableRng};
        let m = Model::compile(EventsimConfig::builtin()).unwrap();
        let mut rng = rand_xoshiro::SplitMix64::seed_from_u64(11);
        for st in &m.states {
            for k in 0..2000u64 {
                // The edges of the guide's buckets, then random numbers.
                let r = match k {
                    0..64 => ((k / 2) << 59) | ((k % 2) * ((1 << 59) - 1)),
                    _ => rng.next_u64(),
                };
                let x: f64 = Fixed(r).random();
                let want = st.next.iter().find(|(c, _)| x < *c).map(|n| n.1);
                assert_eq!(st.transition(r), want, "{r:#x}");
            }
        }
    }

    #[test]
    fn rejects_sum_above_one() {
        let mut cfg = EventsimConfig::builtin();
        let first = cfg.transitions[0].clone();
        let mut extra = first.clone();
        extra.p = 0.99;
        cfg.transitions.push(extra);
        let err = Model::compile(cfg).unwrap_err().to_string();
        assert!(err.contains("above 1"), "{err}");
        assert!(err.contains(&first.source.page), "{err}");
    }

    #[test]
    fn rejects_unknown_new_session_state() {
        let mut cfg = EventsimConfig::builtin();
        cfg.new_session[0].state.page = "Nowhere".into();
        let err = Model::compile(cfg).unwrap_err().to_string();
        assert!(err.contains("Nowhere"), "{err}");
    }

    #[test]
    fn rejects_missing_show_details() {
        let mut cfg = EventsimConfig::builtin();
        cfg.show_user_details.retain(|s| s.auth != "Logged In");
        let err = Model::compile(cfg).unwrap_err().to_string();
        assert!(err.contains("show-user-details"), "{err}");
    }

    #[test]
    fn pick_is_by_interval() {
        let l = [(1.0, 10), (3.0, 20)];
        assert_eq!(pick_cumulative(&l, 0.0), Some(10));
        assert_eq!(pick_cumulative(&l, 0.34), Some(20));
        assert_eq!(pick_cumulative(&l, 0.999), Some(20));
    }
}
