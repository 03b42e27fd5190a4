//! Generation of one shard of the users: eventsim's loop over the users whose
//! ordinal is `index` modulo `count`.
//!
//! All of a shard's users sit in one queue ordered by (next event time, ordinal);
//! popping the earliest, encoding its event and rescheduling it reproduces
//! eventsim's loop. A user draws only from its own random stream and arrivals
//! from theirs, so a user's events are the same whatever the sharding: the merge
//! of the shards ([`super::merge`]) gives the same bytes for any thread count.
//!
//! Memory is per user (~110 bytes of state, 40 of them the pre-formatted id
//! and registration), never per event.

use rand::{Rng, RngCore};

use super::calendar::Warp;
use super::ctx::Ctx;
use super::encode::{Batch, Ev, Tables, UserDigits, UserRef};
use super::prefetch::prefetch;
use super::queue::TimeQueue;
use super::rng::{self, UserRng};

const SECONDS_PER_YEAR: f64 = 365.25 * 86_400.0;
/// `User::state` between sessions.
const NO_SESSION: u32 = u32::MAX;

/// What a shard counted (merged into [`super::SimStats`]).
#[derive(Debug, Default, Clone, Copy)]
pub struct ShardStats {
    pub users: u64,
    pub churned: u64,
}

struct User {
    rng: UserRng,
    registration_ms: i64,
    /// When the song playing ends (ms); 0 when none.
    song_end_ms: i64,
    alpha: f32,
    beta: f32,
    first: u32,
    last: u32,
    location: u32,
    user_agent: u32,
    /// Current state, or [`NO_SESSION`].
    state: u32,
    item: u32,
    /// Sessions begun so far (the merge turns (user, serial) into a sessionId).
    serial: u32,
    auth: u16,
    level: u16,
    after_login: bool,
    /// Id and registration as digits: formatted once, written in most events.
    digits: UserDigits,
}

/// What the generator hands an event to.
pub trait EventSink {
    fn event(&mut self, tables: &Tables, ev: &Ev<'_>, ordinal: u32, serial: u32, key: i64);
    /// Events taken so far (a batch's fill level).
    fn taken(&self) -> usize;
    /// An output error happened: stop generating.
    fn failed(&self) -> bool {
        false
    }
    /// The next event is likely to be user `ordinal`'s: its per-user state
    /// here may be loaded into the cache ahead.
    #[inline]
    fn prefetch(&self, _ordinal: u32) {}
}

impl EventSink for Batch {
    #[inline]
    fn event(&mut self, tables: &Tables, ev: &Ev<'_>, ordinal: u32, serial: u32, key: i64) {
        tables.encode(ev, ordinal, serial, key, self);
    }
    #[inline]
    fn taken(&self) -> usize {
        self.events.len()
    }
}

/// New users arriving through growth: exponential gaps of mean
/// `seconds_per_year / (n * g)`, n the users so far. Every shard runs the same
/// sequence (one draw per arrival, cheap) and keeps the arrivals it owns.
struct Arrivals {
    rng: UserRng,
    t_ms: i64,
    next_ordinal: u64,
    growth: f64,
    end_ms: i64,
}

impl Arrivals {
    fn next(&mut self) -> Option<(i64, u64)> {
        if self.growth <= 0.0 || self.t_ms >= self.end_ms {
            return None;
        }
        let n = self.next_ordinal.max(1) as f64;
        let gap = rng::exp(&mut self.rng, SECONDS_PER_YEAR / (n * self.growth));
        // Whole seconds, as eventsim: every ts keeps the start's millisecond.
        self.t_ms = self.t_ms.saturating_add((gap.min(1e15) as i64) * 1000);
        if self.t_ms >= self.end_ms || self.next_ordinal >= u32::MAX as u64 {
            self.t_ms = self.end_ms;
            return None;
        }
        let o = self.next_ordinal;
        self.next_ordinal += 1;
        Some((self.t_ms, o))
    }
}

/// The sink of the look-back, whose events are never written.
struct NoEvents;

impl EventSink for NoEvents {
    #[inline]
    fn event(&mut self, _: &Tables, _: &Ev<'_>, _: u32, _: u32, _: i64) {}
    fn taken(&self) -> usize {
        0
    }
}

pub struct Shard<'a> {
    ctx: &'a Ctx,
    index: u64,
    count: u64,
    users: Vec<User>,
    /// Users by next event, in seconds since the start, as local indices
    /// (ordinal / count: the same order as ordinals, and dense).
    queue: TimeQueue,
    arrivals: Arrivals,
    /// The daily warp of session starts, its shifts computed once each.
    warp: Warp,
    pub stats: ShardStats,
}

impl<'a> Shard<'a> {
    pub fn new(ctx: &'a Ctx, index: u64, count: u64) -> Shard<'a> {
        let o = &ctx.opts;
        let mine = (o.nusers.saturating_sub(index)).div_ceil(count.max(1)) as usize;
        let mut s = Shard {
            ctx,
            index,
            count,
            users: Vec::with_capacity(mine),
            // Every queued time is at or after the start (second 0).
            queue: TimeQueue::starting_after(-1),
            arrivals: Arrivals {
                rng: rng::stream(o.seed, rng::ARRIVALS_STREAM),
                t_ms: o.start_ms,
                next_ordinal: o.nusers,
                growth: o.growth_rate,
                end_ms: o.end_ms,
            },
            warp: Warp::new(ctx.model.cfg.damping),
            stats: ShardStats::default(),
        };
        let mut ordinal = index;
        while ordinal < o.nusers {
            s.add_initial_user(ordinal);
            ordinal += count;
        }
        s.advance_arrivals();
        s
    }

    /// Queues this shard's next arrival: a user not created yet, created when
    /// its time comes (its ordinal is then the next local index).
    fn advance_arrivals(&mut self) {
        while let Some((t, o)) = self.arrivals.next() {
            if o % self.count == self.index {
                self.queue.push(self.second(t), (o / self.count) as u32);
                return;
            }
        }
    }

    /// Seconds since the start: every simulated time is a whole number of them.
    #[inline]
    fn second(&self, t_ms: i64) -> i64 {
        (t_ms - self.ctx.opts.start_ms).div_euclid(1000)
    }

    fn new_user(&mut self, ordinal: u64, auth: u16, level: u16, reg_ms: Option<i64>) -> User {
        let ctx = self.ctx;
        let mut r = rng::stream(ctx.opts.seed, ordinal);
        let cfg = &ctx.model.cfg;
        let alpha = (cfg.alpha * rng::lognormal_factor(&mut r)) as f32;
        let beta = (cfg.beta * rng::lognormal_factor(&mut r)) as f32;
        let c = &ctx.catalog;
        let first = c.draw_first_name(&mut r) as u32;
        let last = c.draw_surname(&mut r) as u32;
        let location = c.draw_location(&mut r) as u32;
        let user_agent = c.draw_user_agent(&mut r) as u32;
        let registration_ms = reg_ms.unwrap_or_else(|| {
            // Initial users registered before the start: an exponential draw of
            // mean growth-rate years, capped at 5 years.
            let g = ctx.opts.growth_rate;
            let back = if g > 0.0 {
                rng::exp(&mut r, g * SECONDS_PER_YEAR).min(5.0 * SECONDS_PER_YEAR)
            } else {
                0.0
            };
            ctx.opts.start_ms - (back as i64) * 1000
        });
        self.stats.users += 1;
        let id = ctx.opts.first_user_id + ordinal as i64;
        User {
            digits: Tables::user_digits(id, registration_ms),
            rng: r,
            registration_ms,
            song_end_ms: 0,
            alpha,
            beta,
            first,
            last,
            location,
            user_agent,
            state: NO_SESSION,
            item: 0,
            serial: 0,
            auth,
            level,
            after_login: false,
        }
    }

    fn add_initial_user(&mut self, ordinal: u64) {
        let ids = &self.ctx.model.ids;
        let mut r = rng::stream(self.ctx.opts.seed, ordinal ^ (1 << 41));
        let auth = rng::pick(&mut r, &ids.initial_auth).unwrap_or(0) as u16;
        let level = rng::pick(&mut r, &ids.initial_level).unwrap_or(0) as u16;
        let mut u = self.new_user(ordinal, auth, level, None);
        // Start from before the window so the population is in its steady state
        // when output begins (events before the start are simulated, not written).
        let gap = self.ctx.model.cfg.session_gap;
        let lookback = rng::exp(&mut u.rng, u.beta as f64) + gap;
        let from = self.ctx.opts.start_ms - (lookback as i64) * 1000;
        let mut t = next_session_start(self.ctx, &mut self.warp, &mut u, from);
        self.users.push(u);
        let local = self.users.len() - 1;
        // The look-back runs here, user by user, rather than through the
        // queue: nothing before the start is written and a user draws only
        // from its own stream, so the order users take their steps in before
        // the start changes nothing (the queue's order matters only for what
        // is written). About a fifth of a week's steps, for less work each.
        while t < self.ctx.opts.start_ms {
            match self.step(t, local, ordinal as u32, &mut NoEvents) {
                Some(next) => t = next,
                // Churned or stuck before the start: never queued.
                None => return,
            }
        }
        self.schedule(t, local as u32);
    }

    /// Queues user `local`'s next event at `t_ms`, unless it is at or after
    /// the end time: [`Self::fill`] stops at the first such event, so it
    /// would never be taken out. Every user's last session start is one
    /// (100 k of the 1.9 M pushes in a 100 k-user week), and most were more
    /// than the ring's six days ahead, so they went through the heap: a
    /// push and a pop each (`BinaryHeap::pop` was 4 % of the generating
    /// thread's time, sampled, for 0.6 % of its instructions: it misses the
    /// cache at every level of the heap).
    #[inline]
    fn schedule(&mut self, t_ms: i64, local: u32) {
        let s = self.second(t_ms);
        if self.ctx.opts.start_ms + s * 1000 < self.ctx.opts.end_ms {
            self.queue.push(s, local);
        }
    }

    /// Generates events into `batch` until it holds `max` events or the end time
    /// is reached. Returns false when the shard is done.
    pub fn fill<S: EventSink>(&mut self, batch: &mut S, max: usize) -> bool {
        let (start, end) = (self.ctx.opts.start_ms, self.ctx.opts.end_ms);
        loop {
            let Some((s, local)) = self.queue.peek() else {
                return false;
            };
            let ordinal = (local as u64 * self.count + self.index) as u32;
            let t = start + s * 1000;
            if t >= end {
                return false;
            }
            self.queue.pop();
            // The next user's state and session slot are often not in the
            // cache (100 k users' state is ~11 MB, an L2 is 2 MiB, and other
            // processes share the caches): start loading them an event
            // ahead. 1.3 % more instructions; 5-10 % less generating time
            // in paired runs on the shared 2-vCPU machine.
            if let Some(n) = self.queue.upcoming() {
                if let Some(u) = self.users.get(n as usize) {
                    let p = u as *const User as *const u8;
                    // A `User` spans at most three cache lines: these bytes
                    // are in each of them.
                    for at in [0, 56, std::mem::size_of::<User>() - 1] {
                        prefetch(p.wrapping_add(at));
                    }
                }
                batch.prefetch((n as u64 * self.count + self.index) as u32);
            }
            if local as usize == self.users.len() {
                // An arrival: the user registers now and starts a session.
                let ids = &self.ctx.model.ids;
                let (a, l) = (ids.new_user_auth, ids.new_user_level);
                let u = self.new_user(ordinal as u64, a, l, Some(t));
                self.users.push(u);
                self.advance_arrivals();
            }
            if let Some(next) = self.step(t, local as usize, ordinal, batch) {
                self.schedule(next, local);
            }
            if batch.taken() >= max {
                return true;
            }
            if batch.failed() {
                return false;
            }
        }
    }

    /// The user's event at `t` (written when at or after the start); returns
    /// when its next event is, None when the user is gone (churned or stuck).
    #[inline]
    fn step<S: EventSink>(
        &mut self,
        t: i64,
        local: usize,
        ordinal: u32,
        batch: &mut S,
    ) -> Option<i64> {
        let ctx = self.ctx;
        let model = &ctx.model;
        let u = &mut self.users[local];
        if u.state == NO_SESSION {
            let starts = model.ids.session_starts(u.auth, u.level);
            // No way to start a session in this (auth, level): the user is done.
            let s = rng::pick(&mut u.rng, starts)?;
            u.state = s as u32;
            u.item = 0;
            u.song_end_ms = 0;
            u.after_login = false;
            u.serial += 1;
        }
        let si = u.state as usize;
        let state = &model.states[si];
        let song = state
            .is_next_song
            .then(|| ctx.catalog.draw_song(&mut u.rng) as u32);
        if t >= ctx.opts.start_ms {
            let id = ctx.opts.first_user_id + ordinal as i64;
            let ev = Ev {
                ts: t,
                state: si,
                item: u.item,
                location: u.location,
                user_agent: u.user_agent,
                user: state.shows.then_some(UserRef {
                    id,
                    first: u.first,
                    last: u.last,
                    registration_ms: u.registration_ms,
                    digits: &u.digits,
                }),
                song,
                after_login: u.after_login,
            };
            batch.event(&ctx.tables, &ev, ordinal, u.serial, id);
        }
        // The user takes the auth and level of the state it is in.
        u.auth = state.auth_id;
        u.level = state.level_id;
        // The draw `u.rng.random::<f64>()` made of the same number.
        let next = state.transition(u.rng.next_u64());
        if let Some(s) = song {
            u.song_end_ms = t + ctx.song_ms[s as usize];
        }
        match next {
            Some(ns) => {
                let dt = if state.is_redirect {
                    1000
                } else if model.states[ns].is_next_song && u.song_end_ms > t {
                    // Back-to-back songs: the next starts when this one ends.
                    u.song_end_ms - t
                } else {
                    (rng::exp(&mut u.rng, u.alpha as f64) as i64).max(1) * 1000
                };
                u.state = ns as u32;
                u.item += 1;
                u.after_login = state.is_login;
                Some(t + dt)
            }
            None => {
                u.state = NO_SESSION;
                if model.ids.churned == Some(u.auth) {
                    // Counted when written (the look-back before the start is not).
                    if t >= ctx.opts.start_ms {
                        self.stats.churned += 1;
                    }
                    None
                } else {
                    Some(next_session_start(ctx, &mut self.warp, u, t))
                }
            }
        }
    }
}

/// eventsim's next session start: last + exp(beta) + session gap, warped to the
/// daily cycle, accepted with probability 1 - weekend damping, else tried again
/// from the rejected time.
fn next_session_start(ctx: &Ctx, warp: &mut Warp, u: &mut User, last_ms: i64) -> i64 {
    let cfg = &ctx.model.cfg;
    // A start a second or more past the end is never written, nor is anything
    // after it (every later candidate is later still): skip the rejection
    // draws. The user's random stream differs afterwards, but it is not used
    // again, so the output is the same.
    let never = ctx.opts.end_ms.saturating_add(1000);
    // Candidates keep the millisecond of `last_ms`: the loop counts in
    // seconds (`t_s`), which orders them as their times would.
    let ms = last_ms.rem_euclid(1000);
    let mut t_s = last_ms.div_euclid(1000);
    for _ in 0..10_000 {
        let gap = rng::exp(&mut u.rng, u.beta as f64) as i64 + cfg.session_gap as i64;
        let cand_s = warp.warp(t_s + gap.max(1));
        let cand = cand_s * 1000 + ms;
        if cand >= never {
            return cand.max(last_ms + 1000);
        }
        let reject = ctx.off_days.rejection(
            cand_s,
            cfg.weekend_damping,
            cfg.weekend_damping_offset,
            cfg.weekend_damping_scale,
        );
        if u.rng.random::<f64>() >= reject {
            return cand.max(last_ms + 1000);
        }
        t_s = cand_s.max(t_s + 1);
    }
    (t_s * 1000 + ms).max(last_ms + 1000)
}
