//! The eventsim-compatible simulator.
//!
//! All users sit in one queue ordered by their next event time; popping the
//! earliest, emitting its event and rescheduling it reproduces eventsim's loop.
//! Memory is per user (a few hundred bytes), never per event: events are encoded
//! into one reused buffer and handed to an [`Emit`] output.
//!
//! Determinism: one seeded xoshiro256++ generator and a total order on the queue
//! (time, then user index) make the output a pure function of the options.

pub mod calendar;
pub mod catalog;
pub mod encode;
pub mod model;
pub mod output;

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::event::Table;
use catalog::Catalog;
use encode::{SimEvent, UserFields};
use model::{pick_cumulative, Model};

const SECONDS_PER_YEAR: f64 = 365.25 * 86_400.0;

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error(transparent)]
    Model(#[from] model::ModelError),
    #[error(transparent)]
    Catalog(#[from] catalog::CatalogError),
    #[error("simulator output: {0}")]
    Output(String),
    #[error("simulator options: {0}")]
    Options(String),
}

/// Which dialect to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Dialect {
    /// Four streams: page_view_events, listen_events, auth_events, status_change_events.
    Four,
    /// eventsim's original single stream.
    Single,
}

/// Where an encoded event goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Topic(Table),
    Single,
}

/// A sink for encoded events. `key` is the simulated user's id (also for hidden
/// users, so one user's events share a Kafka partition).
pub trait Emit {
    fn emit(&mut self, stream: Stream, key: i64, payload: &[u8]) -> Result<(), SimError>;
    fn finish(&mut self) -> Result<(), SimError> {
        Ok(())
    }
}

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
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SimStats {
    pub events: u64,
    pub messages: [u64; 4],
    pub users: u64,
    pub sessions: u64,
    pub churned: u64,
}

struct Session {
    id: i64,
    state: usize,
    item: i32,
    /// When the song playing ends (ms); 0 when none.
    song_end_ms: i64,
    after_login: bool,
}

struct User {
    id: i64,
    alpha: f64,
    beta: f64,
    auth: String,
    level: String,
    first: u32,
    last: u32,
    location: u32,
    user_agent: u32,
    registration_ms: i64,
    session: Option<Session>,
    alive: bool,
}

pub struct Simulator {
    model: Model,
    catalog: Catalog,
    opts: SimOptions,
    rng: Xoshiro256PlusPlus,
    users: Vec<User>,
    queue: BinaryHeap<Reverse<(i64, u32)>>,
    next_session_id: i64,
    next_user_id: i64,
    next_arrival_ms: Option<i64>,
    buf: Vec<u8>,
    pub stats: SimStats,
}

fn exp_draw<R: Rng>(rng: &mut R, mean: f64) -> f64 {
    -mean * (1.0 - rng.random::<f64>()).ln()
}

/// Log-normal factor with mean 1: exp(Z)/sqrt(e).
fn lognormal_factor<R: Rng>(rng: &mut R) -> f64 {
    let z: f64 = rng.sample(StandardNormal);
    (z - 0.5).exp()
}

impl Simulator {
    pub fn new(model: Model, catalog: Catalog, opts: SimOptions) -> Result<Simulator, SimError> {
        if opts.end_ms <= opts.start_ms {
            return Err(SimError::Options(format!(
                "end time {} is not after start time {}",
                crate::time::format_utc(opts.end_ms),
                crate::time::format_utc(opts.start_ms)
            )));
        }
        let mut sim = Simulator {
            rng: Xoshiro256PlusPlus::seed_from_u64(opts.seed),
            model,
            catalog,
            users: Vec::with_capacity(opts.nusers as usize),
            queue: BinaryHeap::with_capacity(opts.nusers as usize),
            next_session_id: 1,
            next_user_id: opts.first_user_id,
            next_arrival_ms: None,
            buf: Vec::with_capacity(1024),
            stats: SimStats::default(),
            opts,
        };
        for _ in 0..sim.opts.nusers {
            sim.add_initial_user();
        }
        sim.schedule_arrival(sim.opts.start_ms);
        Ok(sim)
    }

    fn draw_weighted_name<'a>(
        rng: &mut Xoshiro256PlusPlus,
        items: impl Iterator<Item = (&'a str, f64)> + Clone,
    ) -> String {
        let total: f64 = items.clone().map(|x| x.1.max(0.0)).sum();
        let mut x = rng.random::<f64>() * total;
        let mut last = "";
        for (name, w) in items {
            last = name;
            if x < w {
                return name.to_string();
            }
            x -= w.max(0.0);
        }
        last.to_string()
    }

    fn new_user(&mut self, auth: String, level: String, registration_ms: i64) -> u32 {
        let rng = &mut self.rng;
        let user = User {
            id: self.next_user_id,
            alpha: self.model.cfg.alpha * lognormal_factor(rng),
            beta: self.model.cfg.beta * lognormal_factor(rng),
            auth,
            level,
            first: self.catalog.draw_first_name(rng) as u32,
            last: self.catalog.draw_surname(rng) as u32,
            location: self.catalog.draw_location(rng) as u32,
            user_agent: self.catalog.draw_user_agent(rng) as u32,
            registration_ms,
            session: None,
            alive: true,
        };
        self.next_user_id += 1;
        self.users.push(user);
        self.stats.users += 1;
        (self.users.len() - 1) as u32
    }

    fn add_initial_user(&mut self) {
        let auth = Self::draw_weighted_name(
            &mut self.rng,
            self.model
                .cfg
                .auths
                .iter()
                .map(|a| (a.auth.as_str(), a.weight)),
        );
        let level = Self::draw_weighted_name(
            &mut self.rng,
            self.model
                .cfg
                .levels
                .iter()
                .map(|l| (l.level.as_str(), l.weight)),
        );
        let g = self.opts.growth_rate;
        let back_s = if g > 0.0 {
            exp_draw(&mut self.rng, g * SECONDS_PER_YEAR).min(5.0 * SECONDS_PER_YEAR)
        } else {
            0.0
        };
        let registration = self.opts.start_ms - (back_s * 1000.0) as i64;
        let idx = self.new_user(auth, level, registration);
        // Start from before the window so the population is already in its
        // steady state when output begins (events before start are not written).
        let u = &self.users[idx as usize];
        let lookback = exp_draw(&mut self.rng, u.beta) + self.model.cfg.session_gap;
        let from = self.opts.start_ms - (lookback * 1000.0) as i64;
        let t = self.next_session_start(from, idx);
        self.queue.push(Reverse((t, idx)));
    }

    fn schedule_arrival(&mut self, from_ms: i64) {
        let g = self.opts.growth_rate;
        let n = self.users.iter().filter(|u| u.alive).count().max(1) as f64;
        self.next_arrival_ms = if g > 0.0 {
            Some(from_ms + (exp_draw(&mut self.rng, SECONDS_PER_YEAR / (n * g)) * 1000.0) as i64)
        } else {
            None
        };
    }

    /// eventsim's next session start: last + exp(beta) + gap, warped to the daily
    /// cycle, accepted with 1 - weekend damping, else retried from there.
    fn next_session_start(&mut self, last_ms: i64, user: u32) -> i64 {
        let cfg = &self.model.cfg;
        let beta = self.users[user as usize].beta;
        let mut t = last_ms;
        for _ in 0..10_000 {
            let gap = exp_draw(&mut self.rng, beta) as i64 + cfg.session_gap as i64;
            let cand_s = calendar::daily_warp(t.div_euclid(1000) + gap.max(1), cfg.damping);
            let cand = cand_s * 1000 + t.rem_euclid(1000);
            let reject = calendar::weekend_rejection(
                cand_s,
                cfg.weekend_damping,
                cfg.weekend_damping_offset,
                cfg.weekend_damping_scale,
            );
            if self.rng.random::<f64>() >= reject {
                return cand.max(last_ms + 1000);
            }
            t = cand.max(t + 1000);
        }
        t
    }

    /// Runs to the end time, writing to `out`.
    pub fn run(&mut self, out: &mut dyn Emit) -> Result<SimStats, SimError> {
        let progress = self.progress_bar();
        let wall_start = std::time::Instant::now();
        let mut last_tick = self.opts.start_ms;
        while let Some(&Reverse((t, idx))) = self.queue.peek() {
            if let Some(arr) = self.next_arrival_ms {
                if arr <= t && arr < self.opts.end_ms {
                    self.arrive(arr);
                    continue;
                }
            }
            if t >= self.opts.end_ms {
                break;
            }
            self.queue.pop();
            if self.opts.continuous {
                pace(t);
            }
            self.step(t, idx, out)?;
            if let Some(pb) = &progress {
                if t - last_tick > 3_600_000 {
                    last_tick = t;
                    pb.set_position(((t - self.opts.start_ms) / 1000).max(0) as u64);
                    let secs = wall_start.elapsed().as_secs_f64().max(1e-3);
                    pb.set_message(format!(
                        "{} events, {:.0} events/s",
                        self.stats.events,
                        self.stats.events as f64 / secs
                    ));
                }
            }
        }
        out.finish()?;
        if let Some(pb) = progress {
            pb.finish_and_clear();
        }
        Ok(self.stats)
    }

    fn progress_bar(&self) -> Option<indicatif::ProgressBar> {
        use std::io::IsTerminal;
        if !self.opts.progress || !std::io::stderr().is_terminal() {
            return None;
        }
        let pb = indicatif::ProgressBar::new(
            ((self.opts.end_ms - self.opts.start_ms) / 1000).max(1) as u64,
        );
        pb.set_style(
            indicatif::ProgressStyle::with_template(
                "simulating {bar:40} {percent}% of simulated time, {msg} [{elapsed}]",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Some(pb)
    }

    fn arrive(&mut self, t: i64) {
        let cfg = &self.model.cfg;
        let auth = cfg.new_user_auth.clone().unwrap_or_else(|| "Guest".into());
        let level = cfg.new_user_level.clone().unwrap_or_else(|| "free".into());
        let idx = self.new_user(auth, level, t);
        self.queue.push(Reverse((t, idx)));
        self.schedule_arrival(t);
    }

    /// Emits the user's event at `t` and reschedules the user.
    fn step(&mut self, t: i64, idx: u32, out: &mut dyn Emit) -> Result<(), SimError> {
        let u = idx as usize;
        if self.users[u].session.is_none() {
            // A new session begins.
            let key = (self.users[u].auth.clone(), self.users[u].level.clone());
            let Some(list) = self.model.new_session.get(&key) else {
                // No way to start a session in this (auth, level): the user is done.
                self.users[u].alive = false;
                return Ok(());
            };
            let state = pick_cumulative(list, self.rng.random::<f64>()).unwrap_or(list[0].1);
            self.users[u].session = Some(Session {
                id: self.next_session_id,
                state,
                item: 0,
                song_end_ms: 0,
                after_login: false,
            });
            self.next_session_id += 1;
            self.stats.sessions += 1;
        }
        let (state_idx, session_id, item, after_login) = {
            let s = self.users[u]
                .session
                .as_ref()
                .map(|s| (s.state, s.id, s.item, s.after_login));
            s.unwrap_or_default()
        };
        let state = &self.model.states[state_idx];
        let song = if state.is_next_song {
            Some(self.catalog.draw_song(&mut self.rng))
        } else {
            None
        };
        if t >= self.opts.start_ms {
            self.emit(t, u, state_idx, session_id, item, after_login, song, out)?;
        }
        // Update the user from the state they are in.
        let state = &self.model.states[state_idx];
        {
            let user = &mut self.users[u];
            if user.auth != state.auth {
                user.auth.clone_from(&state.auth);
            }
            if user.level != state.level {
                user.level.clone_from(&state.level);
            }
        }
        // Next state, or end of session.
        let u01: f64 = self.rng.random();
        let next = state.next.iter().find(|(c, _)| u01 < *c).map(|x| x.1);
        let is_redirect = state.is_redirect;
        let is_login = state.is_login;
        let song_end = match song {
            Some(i) => t + (self.catalog.songs[i].duration as i64) * 1000,
            None => self.users[u].session.as_ref().map_or(0, |s| s.song_end_ms),
        };
        match next {
            Some(next_state) => {
                let alpha = self.users[u].alpha;
                let dt = if is_redirect {
                    1000
                } else if self.model.states[next_state].is_next_song && song_end > t {
                    song_end - t
                } else {
                    (exp_draw(&mut self.rng, alpha) as i64).max(1) * 1000
                };
                if let Some(s) = self.users[u].session.as_mut() {
                    s.state = next_state;
                    s.item += 1;
                    s.song_end_ms = song_end;
                    s.after_login = is_login;
                }
                self.queue.push(Reverse((t + dt, idx)));
            }
            None => {
                self.users[u].session = None;
                let churned =
                    self.model.cfg.churned_state.as_deref() == Some(self.users[u].auth.as_str());
                if churned {
                    self.users[u].alive = false;
                    self.stats.churned += 1;
                } else {
                    let next = self.next_session_start(t, idx);
                    self.queue.push(Reverse((next, idx)));
                }
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn emit(
        &mut self,
        t: i64,
        u: usize,
        state_idx: usize,
        session_id: i64,
        item: i32,
        after_login: bool,
        song: Option<usize>,
        out: &mut dyn Emit,
    ) -> Result<(), SimError> {
        let state = &self.model.states[state_idx];
        let user = &self.users[u];
        let show = self.model.shows_details(&state.auth);
        let (first, gender) = &self.catalog.first_names[user.first as usize];
        let ev = SimEvent {
            ts_ms: t,
            session_id,
            page: &state.page,
            auth: &state.auth,
            method: &state.method,
            status: state.status,
            level: &state.level,
            item_in_session: item,
            location: &self.catalog.locations[user.location as usize],
            user_agent: &self.catalog.user_agents[user.user_agent as usize],
            user: show.then(|| UserFields {
                user_id: user.id,
                first_name: first,
                last_name: &self.catalog.surnames[user.last as usize],
                gender,
                registration_ms: user.registration_ms,
            }),
            song: song.map(|i| &self.catalog.songs[i]),
            tag: self.opts.tag.as_deref(),
        };
        self.stats.events += 1;
        let key = user.id;
        let buf = &mut self.buf;
        match self.opts.dialect {
            Dialect::Single => {
                buf.clear();
                encode::single(buf, &ev);
                out.emit(Stream::Single, key, buf)?;
            }
            Dialect::Four => {
                buf.clear();
                encode::page_view(buf, &ev);
                out.emit(Stream::Topic(Table::PageView), key, buf)?;
                self.stats.messages[Table::PageView.index()] += 1;
                if let Some(s) = ev.song {
                    buf.clear();
                    encode::listen(buf, &ev, s);
                    out.emit(Stream::Topic(Table::Listen), key, buf)?;
                    self.stats.messages[Table::Listen.index()] += 1;
                }
                if after_login {
                    buf.clear();
                    encode::auth(buf, &ev, state.auth == "Logged In");
                    out.emit(Stream::Topic(Table::Auth), key, buf)?;
                    self.stats.messages[Table::Auth.index()] += 1;
                }
                if state.is_status_change {
                    buf.clear();
                    encode::status_change(buf, &ev);
                    out.emit(Stream::Topic(Table::StatusChange), key, buf)?;
                    self.stats.messages[Table::StatusChange.index()] += 1;
                }
            }
        }
        Ok(())
    }
}

/// Sleeps until the wall clock reaches `t_ms`. After a stall the simulator is
/// behind and emits without sleeping until it catches up; each event still costs
/// its encoding, so the catch-up rate is bounded by the simulator's speed.
fn pace(t_ms: i64) {
    let now = crate::time::now_ms();
    if t_ms > now {
        std::thread::sleep(std::time::Duration::from_millis((t_ms - now) as u64));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Collect(Vec<(Stream, Vec<u8>)>);
    impl Emit for Collect {
        fn emit(&mut self, stream: Stream, _key: i64, payload: &[u8]) -> Result<(), SimError> {
            self.0.push((stream, payload.to_vec()));
            Ok(())
        }
    }

    fn opts(seed: u64) -> SimOptions {
        SimOptions {
            nusers: 30,
            growth_rate: 0.0,
            start_ms: crate::time::parse_utc("2026-11-02T00:00:00").unwrap(),
            end_ms: crate::time::parse_utc("2026-11-03T00:00:00").unwrap(),
            first_user_id: 1,
            seed,
            tag: None,
            dialect: Dialect::Four,
            continuous: false,
            progress: false,
        }
    }

    fn run(seed: u64) -> Vec<(Stream, Vec<u8>)> {
        let model = Model::compile(model::EventsimConfig::builtin()).unwrap();
        let mut sim = Simulator::new(model, Catalog::builtin().unwrap(), opts(seed)).unwrap();
        let mut c = Collect(vec![]);
        sim.run(&mut c).unwrap();
        c.0
    }

    #[test]
    fn same_seed_same_output_different_seed_differs() {
        let a = run(7);
        assert!(a.len() > 100, "only {} events", a.len());
        assert_eq!(a, run(7));
        assert_ne!(a, run(8));
    }

    #[test]
    fn every_message_decodes_into_its_table() {
        let limits = crate::event::DecodeLimits::default();
        for (stream, payload) in run(3) {
            let Stream::Topic(table) = stream else {
                unreachable!()
            };
            let ev = crate::event::parse(&payload, &limits).unwrap();
            ev.validate(table, &limits).unwrap();
        }
    }
}
