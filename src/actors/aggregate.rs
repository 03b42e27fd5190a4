//! Aggregator actor: tumbling event-time windows over listen events, at two
//! grains (`stream.window_secs`, default one minute, and one hour, since distinct
//! users cannot be summed from minutes).
//!
//! Per window: active users, listens and stream hours, overall and by state,
//! gender and level (`agg_kpis`); the top 10 songs and artists (`agg_top_songs`,
//! `agg_top_artists`); and listeners by gender of the top 5 artists
//! (`agg_top_artists_gender`). Ties are broken by name, as in the report. A window
//! closes when the watermark passes its end; results go to the lake and to the
//! live view. Listens older than the watermark are late: counted and written to
//! `_late/listen_events/`.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, RwLock};

use actix::prelude::*;
use arrow::array::{
    Array, ArrayRef, Float64Array, Int64Array, Int64Builder, RecordBatch, StringArray,
    StringBuilder, TimestampMillisecondArray, TimestampMillisecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use rustc_hash::FxHashMap;

use super::sessionize::{
    stream_state_actor, FlushAll, Observe, PartitionGone, PartitionStarted, StreamOutput, Tick,
};
use super::watermark::Watermark;
use crate::columns::{typed, SchemaError};
use crate::messages::SourceId;
use crate::metrics::Metrics;
use crate::sinks::lake::{DerivedWriter, SinkError};
use crate::time::HOUR_MS;

/// Listens and listening time (distinct users are counted from [`Window::users`]).
#[derive(Default, Debug, Clone, Copy)]
struct Sums {
    listens: i64,
    seconds: f64,
}

impl Sums {
    fn add(&mut self, secs: f64) {
        self.listens += 1;
        self.seconds += secs;
    }
}

/// The (gender, level, state) ids, in [`Dim`] order, a user listened under in a
/// window: almost always one combination, so one map entry per user replaces a
/// set insert per breakdown (distinct users per value are counted when the
/// window closes). Plain data (the rare other combinations are in
/// [`Window::more`]), so dropping a window's users map does not visit entries.
#[derive(Debug, Clone, Copy)]
struct Seen {
    first: [Id; 3],
    /// 1 + the index of the user's other combinations in [`Window::more`]; 0
    /// for none.
    more: u32,
}

/// An interned string (see [`Interner`]); [`NULL`] stands for a null value.
/// Windows are keyed by these ids, so counting a listen hashes a few integers
/// instead of strings and never allocates: the stream thread's cost per listen
/// was dominated by hashing and cloning string keys.
type Id = u32;

/// The id of a null string.
const NULL: Id = Id::MAX;

/// The index of a breakdown value's [`Sums`] in [`Window::by`]: null first, so
/// that the ids of a dimension's own [`Interner`] index a short array directly.
fn slot(id: Id) -> usize {
    id.wrapping_add(1) as usize
}

/// The id of a [`slot`].
fn unslot(slot: usize) -> Id {
    (slot as Id).wrapping_sub(1)
}

/// An (artist id, song id) or (artist id, gender id) pair as one key: one
/// integer to hash instead of two.
fn pair(a: Id, b: Id) -> u64 {
    (u64::from(a) << 32) | u64::from(b)
}

/// KPI breakdowns, in output order (by name: "gender" < "level" < "state"); also
/// the index of a dimension in [`Window::by`], [`Seen`] and [`Aggregator::dims`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Dim {
    Gender,
    Level,
    State,
}

impl Dim {
    const ALL: [Dim; 3] = [Dim::Gender, Dim::Level, Dim::State];

    fn name(self) -> &'static str {
        match self {
            Dim::Gender => "gender",
            Dim::Level => "level",
            Dim::State => "state",
        }
    }
}

#[derive(Default, Debug)]
struct Window {
    all: Sums,
    /// Distinct users, and the breakdown values each listened under.
    users: FxHashMap<i64, Seen>,
    /// The users' combinations other than [`Seen::first`].
    more: Vec<Vec<[Id; 3]>>,
    /// Per dimension, listens and time by value [`slot`]: the few states,
    /// genders and levels are dense ids of their own interner, so a listen adds
    /// to three array cells instead of three hash-map entries. A value with no
    /// listens was not seen in the window (every listen counts one).
    by: [Vec<Sums>; 3],
    /// [`pair`] (artist id, song id) → listens
    songs: FxHashMap<u64, i64>,
    /// artist id → listens
    artists: FxHashMap<Id, i64>,
    /// ([`pair`] (artist id, gender id), user) of every listen, for the
    /// listeners by gender of the top artists. Appending is a few instructions
    /// where a set insert per listen was a hash and a probe; only the top
    /// artists' entries are deduplicated, when the window closes.
    listens: Vec<(u64, i64)>,
}

/// How large a grain's last complete window grew (the last closed one, or the
/// one a batch's rows moved on from): the next one of the grain is made that
/// large up front, since growing its maps one doubling at a time
/// (rehashing every entry each time) cost more than filling them.
#[derive(Default, Debug, Clone, Copy)]
struct Sizes {
    users: usize,
    songs: usize,
    artists: usize,
    listens: usize,
}

impl Window {
    fn with_sizes(s: Sizes) -> Window {
        Window {
            users: FxHashMap::with_capacity_and_hasher(s.users, Default::default()),
            songs: FxHashMap::with_capacity_and_hasher(s.songs, Default::default()),
            artists: FxHashMap::with_capacity_and_hasher(s.artists, Default::default()),
            listens: Vec::with_capacity(s.listens),
            ..Window::default()
        }
    }

    fn sizes(&self) -> Sizes {
        Sizes {
            users: self.users.len(),
            songs: self.songs.len(),
            artists: self.artists.len(),
            listens: self.listens.len(),
        }
    }

    /// Counts one listen: `combo` is its (gender, level, state) ids.
    fn add(&mut self, user: i64, combo: [Id; 3], artist: Id, song: Id, secs: f64) {
        self.all.add(secs);
        let seen = self.users.entry(user).or_insert(Seen {
            first: combo,
            more: 0,
        });
        if seen.first != combo {
            if seen.more == 0 {
                self.more.push(vec![combo]);
                seen.more = self.more.len() as u32;
            } else if let Some(m) = self.more.get_mut(seen.more as usize - 1) {
                if !m.contains(&combo) {
                    m.push(combo);
                }
            }
        }
        for (by, id) in self.by.iter_mut().zip(combo) {
            let k = slot(id);
            if by.len() <= k {
                by.resize(k + 1, Sums::default());
            }
            by[k].add(secs);
        }
        *self.songs.entry(pair(artist, song)).or_default() += 1;
        *self.artists.entry(artist).or_default() += 1;
        self.listens
            .push((pair(artist, combo[Dim::Gender as usize]), user));
    }

    /// Distinct users per dimension and value [`slot`] (as [`Window::by`]).
    fn active_users(&self) -> [Vec<i64>; 3] {
        let mut out: [Vec<i64>; 3] = self.by.each_ref().map(|b| vec![0; b.len()]);
        let mut vals: Vec<Id> = Vec::new();
        for seen in self.users.values() {
            for (d, counts) in out.iter_mut().enumerate() {
                let Some(more) = seen
                    .more
                    .checked_sub(1)
                    .and_then(|m| self.more.get(m as usize))
                else {
                    counts[slot(seen.first[d])] += 1;
                    continue;
                };
                vals.clear();
                vals.push(seen.first[d]);
                for c in more {
                    if !vals.contains(&c[d]) {
                        vals.push(c[d]);
                    }
                }
                for v in &vals {
                    counts[slot(*v)] += 1;
                }
            }
        }
        out
    }
}

/// Interns strings as dense ids: one for artists and songs, and one per
/// breakdown dimension (so that a dimension's few values index an array).
#[derive(Default, Debug)]
struct Interner {
    /// Strings of up to 15 bytes, packed with their length into one integer
    /// (see [`short_key`]): hashing and comparing it is a few instructions,
    /// where a string key costs a byte-wise hash and a `memcmp` call. States,
    /// genders and levels are all this short, and so are many names.
    short: FxHashMap<u128, Id>,
    long: FxHashMap<Arc<str>, Id>,
    names: Vec<Arc<str>>,
}

/// A nullable breakdown value as one integer: its [`short_key`], or
/// `u128::MAX` (never a short key) for null; `None` when longer than 15 bytes.
fn dim_key(col: &StringArray, i: usize) -> Option<u128> {
    if col.is_valid(i) {
        short_key(col.value(i))
    } else {
        Some(u128::MAX)
    }
}

/// A string of at most 15 bytes as one integer, its length in the top byte:
/// equal keys are equal strings. Built from a few fixed-size loads (no `memcpy`
/// call) that cover every byte; below 4 bytes some are read twice, at positions
/// that depend only on the length, so the key still determines the string.
fn short_key(s: &str) -> Option<u128> {
    let b = s.as_bytes();
    let n = b.len();
    let le8 = |at: usize| {
        b.get(at..at + 8)
            .map(|x| u64::from_le_bytes([x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7]]))
    };
    let le4 = |at: usize| {
        b.get(at..at + 4)
            .map(|x| u64::from(u32::from_le_bytes([x[0], x[1], x[2], x[3]])))
    };
    let (lo, hi) = match n {
        0 => (0, 0),
        1..=3 => {
            let at = |i: usize| u64::from(b[i]);
            (at(0) | at(n / 2) << 8 | at(n - 1) << 16, 0)
        }
        // The second load's bytes that the first already covers shifted out,
        // so that the key is the string's bytes in order.
        4..=7 => (le4(0)? | (le4(n - 4)? >> (8 * (8 - n))) << 32, 0),
        8..=15 => (
            le8(0)?,
            le8(n - 8)?.checked_shr(8 * (16 - n) as u32).unwrap_or(0),
        ),
        _ => return None,
    };
    Some(u128::from(lo) | u128::from(hi) << 64 | (n as u128) << 120)
}

impl Interner {
    /// Beyond this many entries the interner is rebuilt, but only when no window
    /// is open (open windows hold ids); this only bounds memory.
    const MAX: usize = 1_000_000;

    #[inline]
    fn get(&mut self, s: &str) -> Id {
        let key = short_key(s);
        let found = match key {
            Some(k) => self.short.get(&k),
            None => self.long.get(s),
        };
        match found {
            Some(&id) => id,
            None => self.add(s, key),
        }
    }

    /// First sight of a string: the only allocation. Out of line, so that the
    /// lookup inlined in the row loop stays small.
    #[cold]
    #[inline(never)]
    fn add(&mut self, s: &str, key: Option<u128>) -> Id {
        let id = self.names.len() as Id;
        let n: Arc<str> = Arc::from(s);
        self.names.push(n.clone());
        match key {
            Some(k) => self.short.insert(k, id),
            None => self.long.insert(n, id),
        };
        id
    }

    #[inline]
    fn opt(&mut self, a: &StringArray, i: usize) -> Id {
        if a.is_valid(i) {
            self.get(a.value(i))
        } else {
            NULL
        }
    }

    /// The string of an id; `None` for [`NULL`].
    fn name(&self, id: Id) -> Option<&str> {
        self.names.get(id as usize).map(|n| &**n)
    }

    /// [`Interner::name`] for ids that are never null (artist, song).
    fn text(&self, id: Id) -> &str {
        self.name(id).unwrap_or("")
    }
}

/// One closed window's KPI row, as the live view shows it. The rows of every
/// closed window are made with the value borrowed from the interner (`V` =
/// `&str`), and only the live view's own copies own their strings: an
/// allocation per row and window was a tenth of the Aggregator's time.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KpiRow<V = String> {
    pub grain: &'static str,
    pub window_start_ms: i64,
    pub dimension: &'static str,
    pub value: Option<V>,
    pub active_users: i64,
    pub listens: i64,
    pub stream_hours: f64,
}

impl KpiRow<&str> {
    fn owned(&self) -> KpiRow {
        KpiRow {
            grain: self.grain,
            window_start_ms: self.window_start_ms,
            dimension: self.dimension,
            value: self.value.map(str::to_string),
            active_users: self.active_users,
            listens: self.listens,
            stream_hours: self.stream_hours,
        }
    }
}

/// The most recent closed windows, for the dashboard and API.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct LiveView {
    pub watermark_ms: Option<i64>,
    pub last_minute: Vec<KpiRow>,
    pub last_hour: Vec<KpiRow>,
    pub top_artists_last_hour: Vec<(String, i64)>,
}

pub type Live = Arc<RwLock<LiveView>>;

pub struct Aggregator {
    window_ms: i64,
    minute: BTreeMap<i64, Window>,
    hour: BTreeMap<i64, Window>,
    /// Sizes of the last complete minute and hour windows (see [`Sizes`]).
    sizes: [Sizes; 2],
    /// Artists and songs.
    names: Interner,
    /// Values of each breakdown, by [`Dim`].
    dims: [Interner; 3],
    /// Each user's last (gender, level, state) values (see [`dim_key`]) and
    /// their ids; ids of `dims`, so cleared with them.
    user_dims: FxHashMap<i64, ([u128; 3], [Id; 3])>,
    watermark: Watermark,
    late: Vec<RecordBatch>,
    writer: DerivedWriter,
    metrics: Arc<Metrics>,
    live: Live,
    mailbox: usize,
}

fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

pub fn kpis_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("grain", DataType::Utf8, false),
        Field::new("window_start", ts_type(), false),
        Field::new("dimension", DataType::Utf8, false),
        Field::new("value", DataType::Utf8, true),
        Field::new("active_users", DataType::Int64, false),
        Field::new("listens", DataType::Int64, false),
        Field::new("stream_hours", DataType::Float64, false),
    ]))
}

impl Aggregator {
    pub fn new(
        window_ms: i64,
        watermark: Watermark,
        writer: DerivedWriter,
        metrics: Arc<Metrics>,
        live: Live,
        mailbox: usize,
    ) -> Aggregator {
        Aggregator {
            window_ms,
            minute: BTreeMap::new(),
            hour: BTreeMap::new(),
            sizes: [Sizes::default(); 2],
            names: Interner::default(),
            dims: Default::default(),
            user_dims: FxHashMap::default(),
            watermark,
            late: Vec::new(),
            writer,
            metrics,
            live,
            mailbox,
        }
    }

    /// Folds one batch of durable listens into the open windows. The actor's
    /// [`Observe`] handler calls it; `stage-bench` calls it directly, so the
    /// stream state's CPU per listen can be measured without actors.
    pub fn observe_batch(
        &mut self,
        source: &SourceId,
        rb: &RecordBatch,
    ) -> Result<(), SchemaError> {
        let ts = typed::<TimestampMillisecondArray>(rb, "ts")?;
        let user = typed::<Int64Array>(rb, "userId")?;
        let state = typed::<StringArray>(rb, "state")?;
        let gender = typed::<StringArray>(rb, "gender")?;
        let level = typed::<StringArray>(rb, "level")?;
        let artist = typed::<StringArray>(rb, "artist")?;
        let song = typed::<StringArray>(rb, "song")?;
        let duration = typed::<Float64Array>(rb, "duration")?;
        let wm = self.watermark.current().unwrap_or(i64::MIN);
        let mut late_rows = Vec::new();
        let mut max_ts = i64::MIN;
        let Aggregator {
            window_ms,
            minute,
            hour,
            sizes,
            names,
            dims,
            user_dims,
            ..
        } = self;
        let window_ms = *window_ms;
        // The minute (and hour) window of the current run of rows: rows come
        // mostly in time order, so the windows are looked up once a minute
        // rather than twice a row.
        let mut current: Option<(i64, &mut Window, &mut Window)> = None;
        let [genders, levels, states] = dims;
        for i in 0..rb.num_rows() {
            let t = ts.value(i);
            max_ts = max_ts.max(t);
            if !user.is_valid(i) {
                continue; // listens always carry a user (the decoder checks it)
            }
            if t < wm {
                late_rows.push(i as u32);
                continue;
            }
            let u = user.value(i);
            let secs = if duration.is_valid(i) {
                duration.value(i)
            } else {
                0.0
            };
            // In [`Dim`] order. A user's gender, level and state rarely
            // change: comparing the row's values, as integers, with the user's
            // last ones costs less than interning the three strings.
            let keys = [dim_key(gender, i), dim_key(level, i), dim_key(state, i)];
            let combo = match (keys, user_dims.get(&u)) {
                ([Some(a), Some(b), Some(c)], Some((last, ids))) if *last == [a, b, c] => *ids,
                _ => {
                    let ids = [
                        genders.opt(gender, i),
                        levels.opt(level, i),
                        states.opt(state, i),
                    ];
                    if let [Some(a), Some(b), Some(c)] = keys {
                        user_dims.insert(u, ([a, b, c], ids));
                    }
                    ids
                }
            };
            // A null artist or song counts as "" (as before interning).
            let ar = match names.opt(artist, i) {
                NULL => names.get(""),
                id => id,
            };
            let so = match names.opt(song, i) {
                NULL => names.get(""),
                id => id,
            };
            let start = t - t.rem_euclid(window_ms);
            if current.as_ref().is_none_or(|c| c.0 != start) {
                // Moving on in time, the windows left are (nearly) complete: the
                // next ones are made as large up front.
                if let Some((prev, m, h)) = current.take() {
                    if prev < start {
                        sizes[0] = m.sizes();
                        if prev.div_euclid(HOUR_MS) < start.div_euclid(HOUR_MS) {
                            sizes[1] = h.sizes();
                        }
                    }
                }
                let (m, h) = (sizes[0], sizes[1]);
                current = Some((
                    start,
                    minute.entry(start).or_insert_with(|| Window::with_sizes(m)),
                    hour.entry(t - t.rem_euclid(HOUR_MS))
                        .or_insert_with(|| Window::with_sizes(h)),
                ));
            }
            if let Some((_, m, h)) = current.as_mut() {
                m.add(u, combo, ar, so, secs);
                h.add(u, combo, ar, so, secs);
            }
        }
        if max_ts > i64::MIN {
            self.watermark.observe(source, max_ts);
        }
        if !late_rows.is_empty() {
            self.metrics
                .late_events
                .fetch_add(late_rows.len() as u64, Relaxed);
            let idx = arrow::array::UInt32Array::from(late_rows);
            let cols: Result<Vec<ArrayRef>, _> = rb
                .columns()
                .iter()
                .map(|c| arrow::compute::take(c.as_ref(), &idx, None))
                .collect();
            self.late.push(RecordBatch::try_new(rb.schema(), cols?)?);
        }
        Ok(())
    }

    /// Takes the windows whose end is at or before the watermark (all when `all`).
    fn closed(&mut self, all: bool) -> Vec<(&'static str, i64, Window)> {
        let wm = self.watermark.current();
        let mut out = Vec::new();
        for ((grain, size, map), sizes) in [
            ("minute", self.window_ms, &mut self.minute),
            ("hour", HOUR_MS, &mut self.hour),
        ]
        .into_iter()
        .zip(&mut self.sizes)
        {
            let starts: Vec<i64> = map
                .keys()
                .copied()
                .filter(|s| all || wm.is_some_and(|w| s + size <= w))
                .collect();
            for s in starts {
                if let Some(w) = map.remove(&s) {
                    *sizes = w.sizes();
                    out.push((grain, s, w));
                }
            }
        }
        out
    }

    /// Closes the windows the watermark has passed (all, when `all`), updates the
    /// live view and returns what to write: (table, time column, rows).
    /// Synchronous, so `stage-bench` can time it; the actor's `write` sends it
    /// to the lake.
    pub fn close_output(&mut self, all: bool) -> Result<StreamOutput, SchemaError> {
        let closed = self.closed(all);
        let late = std::mem::take(&mut self.late);
        let (names, dims) = (&self.names, &self.dims);
        // Each dimension's values in output order (by name, null first), sorted
        // once per tick rather than once per window.
        let orders: [Vec<(usize, Option<&str>)>; 3] = dims.each_ref().map(|d| {
            let mut o: Vec<(usize, Option<&str>)> = (0..=d.names.len())
                .map(|i| (i, d.name(unslot(i))))
                .collect();
            o.sort_unstable_by(|a, b| a.1.cmp(&b.1));
            o
        });
        // Each window's KPI rows are computed once, for the table and the view.
        let kpis: Vec<Vec<KpiRow<&str>>> = closed
            .iter()
            .map(|(g, s, w)| kpi_rows(g, *s, w, &orders))
            .collect();
        let tables = build_tables(&closed, &kpis, names, &dims[Dim::Gender as usize]);
        if let Ok(mut live) = self.live.write() {
            live.watermark_ms = self.watermark.current();
            // Windows close in order of start within a grain, so the view shows
            // the last one of each grain (unless it already shows a later one).
            let last = |grain: &str| {
                closed
                    .iter()
                    .zip(&kpis)
                    .rev()
                    .find(|((g, _, _), _)| *g == grain)
            };
            if let Some(((_, start, _), rows)) = last("minute") {
                if live
                    .last_minute
                    .first()
                    .is_none_or(|r| r.window_start_ms <= *start)
                {
                    live.last_minute = rows.iter().map(KpiRow::owned).collect();
                }
            }
            if let Some(((_, start, w), rows)) = last("hour") {
                if live
                    .last_hour
                    .first()
                    .is_none_or(|r| r.window_start_ms <= *start)
                {
                    live.last_hour = rows.iter().map(KpiRow::owned).collect();
                    live.top_artists_last_hour = top_artists(w, names, 10)
                        .into_iter()
                        .map(|(a, n, _)| (a.to_string(), n))
                        .collect();
                }
            }
        }
        self.metrics
            .windows_closed
            .fetch_add(closed.len() as u64, Relaxed);
        if self.minute.is_empty()
            && self.hour.is_empty()
            && (std::iter::once(&self.names)
                .chain(&self.dims)
                .any(|n| n.names.len() >= Interner::MAX)
                || self.user_dims.len() >= Interner::MAX)
        {
            self.names = Interner::default();
            self.dims = Default::default();
            self.user_dims = FxHashMap::default();
        }
        let mut out: StreamOutput = tables?
            .into_iter()
            .map(|(name, rb)| (name, "window_start", rb))
            .collect();
        out.extend(late.into_iter().map(|rb| ("_late/listen_events", "ts", rb)));
        Ok(out)
    }
}

/// A window's KPI rows: overall, then by dimension and value, with each
/// dimension's values (slot, name) in `orders` in output order.
fn kpi_rows<'a>(
    grain: &'static str,
    start: i64,
    w: &Window,
    orders: &[Vec<(usize, Option<&'a str>)>; 3],
) -> Vec<KpiRow<&'a str>> {
    let row = |dimension, value: Option<&'a str>, users: i64, k: &Sums| KpiRow {
        grain,
        window_start_ms: start,
        dimension,
        value,
        active_users: users,
        listens: k.listens,
        stream_hours: k.seconds / 3600.0,
    };
    let mut rows = vec![row("all", None, w.users.len() as i64, &w.all)];
    let users = w.active_users();
    // By dimension name, then value (null first), as when keyed by strings.
    for d in Dim::ALL {
        let sums = &w.by[d as usize];
        for (i, v) in &orders[d as usize] {
            if let Some(k) = sums.get(*i).filter(|k| k.listens > 0) {
                rows.push(row(d.name(), *v, users[d as usize][*i], k));
            }
        }
    }
    rows
}

/// Top `n` artists by listens, ties by name: (name, listens, artist id).
fn top_artists<'a>(w: &Window, names: &'a Interner, n: usize) -> Vec<(&'a str, i64, Id)> {
    let min = nth_largest(w.artists.values().copied(), n);
    let mut v: Vec<(&str, i64, Id)> = w
        .artists
        .iter()
        .filter(|(_, c)| **c >= min)
        .map(|(a, c)| (names.text(*a), *c, *a))
        .collect();
    top_by(&mut v, n, |a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    v
}

/// Keeps the first `n` of `v` in the order of `cmp`, sorted. `cmp` is a total
/// order here (names are unique), so this is exactly sorting all and
/// truncating; but a minute's counts are mostly 1, where the count threshold
/// of [`nth_largest`] keeps every entry, and selecting the `n` first before
/// sorting compares far fewer names.
fn top_by<T>(v: &mut Vec<T>, n: usize, cmp: impl Fn(&T, &T) -> std::cmp::Ordering) {
    if n == 0 {
        v.clear();
        return;
    }
    if v.len() > n {
        v.select_nth_unstable_by(n - 1, &cmp);
        v.truncate(n);
    }
    v.sort_by(cmp);
}

/// The `n`-th largest of `counts` (`i64::MIN` when there are fewer): a top `n`
/// needs to sort (by count, then by name) only the entries that reach it, the
/// same `n` rows as sorting them all, without comparing every name.
fn nth_largest(counts: impl Iterator<Item = i64>, n: usize) -> i64 {
    let mut v: Vec<i64> = counts.collect();
    if n == 0 || v.len() < n {
        return i64::MIN;
    }
    *v.select_nth_unstable_by(n - 1, |a, b| b.cmp(a)).1
}

type Tables = Result<Vec<(&'static str, RecordBatch)>, SchemaError>;

fn build_tables(
    closed: &[(&'static str, i64, Window)],
    kpis: &[Vec<KpiRow<&str>>],
    names: &Interner,
    genders: &Interner,
) -> Tables {
    let ts_col = |v: &[i64]| -> ArrayRef {
        let mut b = TimestampMillisecondBuilder::new().with_timezone("UTC");
        b.append_slice(v);
        Arc::new(b.finish())
    };
    // agg_kpis
    let rows: Vec<&KpiRow<&str>> = kpis.iter().flatten().collect();
    let mut out = Vec::new();
    if rows.is_empty() {
        return Ok(out);
    }
    let kpis = RecordBatch::try_new(
        kpis_schema(),
        vec![
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.grain))),
            ts_col(&rows.iter().map(|r| r.window_start_ms).collect::<Vec<_>>()),
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r.dimension),
            )),
            Arc::new(StringArray::from_iter(rows.iter().map(|r| r.value))),
            Arc::new(Int64Array::from_iter_values(
                rows.iter().map(|r| r.active_users),
            )),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.listens))),
            Arc::new(Float64Array::from_iter_values(
                rows.iter().map(|r| r.stream_hours),
            )),
        ],
    )?;
    out.push(("agg_kpis", kpis));
    // top songs, top artists, top artists' listeners by gender
    let (mut sg, mut ss, mut sr, mut sa, mut sn, mut sc) = (
        StringBuilder::new(),
        TimestampMillisecondBuilder::new().with_timezone("UTC"),
        Int64Builder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
        Int64Builder::new(),
    );
    let (mut ag, mut as_, mut ar, mut aa, mut ac) = (
        StringBuilder::new(),
        TimestampMillisecondBuilder::new().with_timezone("UTC"),
        Int64Builder::new(),
        StringBuilder::new(),
        Int64Builder::new(),
    );
    let (mut gg, mut gs, mut ga, mut gx, mut gu) = (
        StringBuilder::new(),
        TimestampMillisecondBuilder::new().with_timezone("UTC"),
        StringBuilder::new(),
        StringBuilder::new(),
        Int64Builder::new(),
    );
    for (grain, start, w) in closed {
        let min = nth_largest(w.songs.values().copied(), 10);
        let mut songs: Vec<((&str, &str), i64)> = w
            .songs
            .iter()
            .filter(|(_, n)| **n >= min)
            .map(|(k, n)| {
                let (a, s) = ((k >> 32) as Id, *k as Id);
                ((names.text(a), names.text(s)), *n)
            })
            .collect();
        top_by(&mut songs, 10, |a, b| {
            b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0))
        });
        for (rank, ((artist, song), n)) in songs.into_iter().enumerate() {
            sg.append_value(grain);
            ss.append_value(*start);
            sr.append_value(rank as i64 + 1);
            sa.append_value(artist);
            sn.append_value(song);
            sc.append_value(n);
        }
        let top = top_artists(w, names, 10);
        // Listeners by gender of the top 5, in one pass over the listeners.
        let top5: Vec<Id> = top.iter().take(5).map(|a| a.2).collect();
        // (rank, gender id, user) packed in one integer: sorting and
        // deduplicating plain integers is what this costs.
        let mut theirs: Vec<u128> = w
            .listens
            .iter()
            .filter_map(|(k, u)| {
                let (a, g) = ((k >> 32) as Id, *k as Id);
                let r = top5.iter().position(|t| *t == a)?;
                Some((r as u128) << 96 | u128::from(g) << 64 | u128::from(*u as u64))
            })
            .collect();
        theirs.sort_unstable();
        theirs.dedup();
        let mut by_gender: Vec<Vec<(Id, i64)>> = vec![Vec::new(); top5.len()];
        for x in theirs {
            let (r, g) = ((x >> 96) as usize, (x >> 64) as Id);
            match by_gender[r].last_mut() {
                Some((last, n)) if *last == g => *n += 1,
                _ => by_gender[r].push((g, 1)),
            }
        }
        for (rank, (artist, n, _)) in top.into_iter().enumerate() {
            ag.append_value(grain);
            as_.append_value(*start);
            ar.append_value(rank as i64 + 1);
            aa.append_value(artist);
            ac.append_value(n);
            if rank < 5 {
                // Null first, as when keyed by strings.
                let mut gv: Vec<_> = std::mem::take(&mut by_gender[rank])
                    .into_iter()
                    .map(|(g, n)| (genders.name(g), n))
                    .collect();
                gv.sort_by(|a, b| a.0.cmp(&b.0));
                for (g, users) in gv {
                    gg.append_value(grain);
                    gs.append_value(*start);
                    ga.append_value(artist);
                    gx.append_option(g);
                    gu.append_value(users);
                }
            }
        }
    }
    let f = |n: &str, t: DataType, null: bool| Field::new(n, t, null);
    let songs = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            f("grain", DataType::Utf8, false),
            f("window_start", ts_type(), false),
            f("rank", DataType::Int64, false),
            f("artist", DataType::Utf8, false),
            f("song", DataType::Utf8, false),
            f("listens", DataType::Int64, false),
        ])),
        vec![
            Arc::new(sg.finish()),
            Arc::new(ss.finish()),
            Arc::new(sr.finish()),
            Arc::new(sa.finish()),
            Arc::new(sn.finish()),
            Arc::new(sc.finish()),
        ],
    )?;
    let artists = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            f("grain", DataType::Utf8, false),
            f("window_start", ts_type(), false),
            f("rank", DataType::Int64, false),
            f("artist", DataType::Utf8, false),
            f("listens", DataType::Int64, false),
        ])),
        vec![
            Arc::new(ag.finish()),
            Arc::new(as_.finish()),
            Arc::new(ar.finish()),
            Arc::new(aa.finish()),
            Arc::new(ac.finish()),
        ],
    )?;
    let genders = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            f("grain", DataType::Utf8, false),
            f("window_start", ts_type(), false),
            f("artist", DataType::Utf8, false),
            f("gender", DataType::Utf8, true),
            f("users", DataType::Int64, false),
        ])),
        vec![
            Arc::new(gg.finish()),
            Arc::new(gs.finish()),
            Arc::new(ga.finish()),
            Arc::new(gx.finish()),
            Arc::new(gu.finish()),
        ],
    )?;
    out.push(("agg_top_songs", songs));
    out.push(("agg_top_artists", artists));
    out.push(("agg_top_artists_gender", genders));
    Ok(out)
}

stream_state_actor!(Aggregator);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_keys_are_distinct_for_distinct_strings() {
        let words = [
            "",
            "a",
            "b",
            "ab",
            "ba",
            "aa",
            "abc",
            "acb",
            "CA",
            "M",
            "F",
            "free",
            "paid",
            "abcd",
            "abce",
            "abcde",
            "abcdef",
            "abcdefg",
            "bbcdefg",
            "abcdefgh",
            "abcdefgi",
            "abcdefghi",
            "abcdefghij",
            "abcdefghijklmno",
            "abcdefghijklmnp",
            "bbcdefghijklmno",
            "a\0",
            "a\0\0",
            "\0",
            "\0\0",
        ];
        let mut keys = FxHashMap::default();
        for w in words {
            let k = short_key(w).expect("short");
            assert_eq!(keys.insert(k, w), None, "{w:?} collides");
        }
        assert_eq!(short_key("abcdefghijklmnop"), None);
        let mut i = Interner::default();
        let (x, y) = (i.get("Kings Of Leon"), i.get("Kings Of Leon and friends"));
        assert_ne!(x, y);
        assert_eq!(i.get("Kings Of Leon"), x);
        assert_eq!(i.get("Kings Of Leon and friends"), y);
        assert_eq!(i.text(y), "Kings Of Leon and friends");
    }
}
