//! Statistics of a one-week, 10 k-user run of eventsim's example config, checked
//! against what the model itself predicts (computed here from the config, not
//! copied from a run), with tolerances; and exact structural properties (field
//! sets per topic and auth state, churn, level changes, auth events).
//!
//! The week is 2026-11-23 (Mon) .. 2026-11-30 (Mon): it holds Thanksgiving
//! (Thu 26th) and a weekend, so both dips are visible.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::OnceLock;

use musicaly::event::{parse, DecodeLimits, Table};
use musicaly::sim::calendar;
use musicaly::sim::catalog::Catalog;
use musicaly::sim::model::{EventsimConfig, Model};
use musicaly::sim::{Emit, SimError, SimOptions, SimStats, Simulator, Stream};
use musicaly::time::parse_utc;

const USERS: u64 = 10_000;
const DAY: i64 = 86_400_000;

/// Every message of a run, in output order.
#[derive(Default)]
struct Collect {
    bytes: Vec<u8>,
    msgs: Vec<(Stream, usize, usize)>,
}

impl Emit for Collect {
    fn emit(&mut self, stream: Stream, _key: i64, payload: &[u8]) -> Result<(), SimError> {
        let s = self.bytes.len();
        self.bytes.extend_from_slice(payload);
        self.msgs.push((stream, s, self.bytes.len()));
        Ok(())
    }
}

impl Collect {
    fn iter(&self) -> impl Iterator<Item = (Table, &[u8])> {
        self.msgs.iter().map(|(s, a, b)| {
            let Stream::Topic(t) = s else {
                panic!("single stream in a four-topic run")
            };
            (*t, &self.bytes[*a..*b])
        })
    }
}

/// One page view, decoded.
#[derive(Debug, Clone)]
struct Pv {
    ts: i64,
    session: i64,
    page: String,
    level: String,
    item: i32,
    user: Option<i64>,
}

struct Run {
    model: Model,
    start: i64,
    end: i64,
    stats: SimStats,
    out: Collect,
    pvs: Vec<Pv>,
}

fn example_model() -> Option<Model> {
    let dir = common::fixtures().join("eventsim");
    let cfg = EventsimConfig::from_file(&dir.join("example-config.json")).expect("config");
    Some(Model::compile(cfg).expect("compiles"))
}

fn simulate(model: Model, opts: SimOptions) -> (SimStats, Collect) {
    let mut sim = Simulator::new(model, Catalog::builtin().unwrap(), opts).unwrap();
    let mut out = Collect::default();
    let stats = sim.run(&mut out).unwrap();
    (stats, out)
}

fn run() -> Option<&'static Run> {
    static RUN: OnceLock<Option<Run>> = OnceLock::new();
    RUN.get_or_init(|| {
        let model = example_model()?;
        let start = parse_utc("2026-11-23T00:00:00").unwrap();
        let end = start + 7 * DAY;
        // MUSICALY_SIM_SEED checks that the tolerances hold for other seeds.
        let seed = std::env::var("MUSICALY_SIM_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(11);
        let opts = SimOptions {
            nusers: USERS,
            seed,
            first_user_id: 1000,
            ..SimOptions::new(start, end)
        };
        let (stats, out) = simulate(model.clone(), opts);
        let limits = DecodeLimits::default();
        let pvs = out
            .iter()
            .filter(|(t, _)| *t == Table::PageView)
            .map(|(_, p)| {
                let e = parse(p, &limits).expect("decodes");
                Pv {
                    ts: e.ts.unwrap(),
                    session: e.session_id.unwrap(),
                    page: e.page.unwrap().into_owned(),
                    level: e.level.unwrap().into_owned(),
                    item: e.item_in_session.unwrap(),
                    user: e.user_id,
                }
            })
            .collect();
        Some(Run {
            model,
            start,
            end,
            stats,
            out,
            pvs,
        })
    })
    .as_ref()
}

/// Expected visits per session to each state, from the model: v = s0 (I + P +
/// P² + ...), s0 the first-state distribution of the initial users' mix of auth
/// and level.
fn expected_visits(m: &Model) -> Vec<f64> {
    let n = m.states.len();
    let mut s0 = vec![0.0; n];
    let ids = &m.ids;
    let tot_a: f64 = m.cfg.auths.iter().map(|a| a.weight).sum();
    let tot_l: f64 = m.cfg.levels.iter().map(|l| l.weight).sum();
    for a in &m.cfg.auths {
        for l in &m.cfg.levels {
            let w = a.weight / tot_a * l.weight / tot_l;
            if w == 0.0 {
                continue;
            }
            let ai = ids.auth_names.iter().position(|x| *x == a.auth).unwrap() as u16;
            let li = ids.level_names.iter().position(|x| *x == l.level).unwrap() as u16;
            let starts = ids.session_starts(ai, li);
            let total = starts.last().unwrap().0;
            let mut prev = 0.0;
            for (c, s) in starts {
                s0[*s] += w * (c - prev) / total;
                prev = *c;
            }
        }
    }
    let mut v = s0.clone();
    let mut cur = s0;
    for _ in 0..100_000 {
        let mut next = vec![0.0; n];
        for (i, st) in m.states.iter().enumerate() {
            let mut prev = 0.0;
            for (c, d) in &st.next {
                next[*d] += cur[i] * (c - prev);
                prev = *c;
            }
        }
        let mass: f64 = next.iter().sum();
        for i in 0..n {
            v[i] += next[i];
        }
        cur = next;
        if mass < 1e-9 {
            break;
        }
    }
    v
}

fn page_shares(m: &Model, v: &[f64]) -> BTreeMap<String, f64> {
    let total: f64 = v.iter().sum();
    let mut out = BTreeMap::new();
    for (i, st) in m.states.iter().enumerate() {
        *out.entry(st.page.clone()).or_insert(0.0) += v[i] / total;
    }
    out
}

#[test]
#[ignore = "needs the fixtures at ../shared/fixtures: run scripts/test.sh"]
fn page_mix_follows_the_state_machine() {
    let Some(r) = run() else { return };
    let want = page_shares(&r.model, &expected_visits(&r.model));
    let mut got: BTreeMap<String, f64> = BTreeMap::new();
    for p in &r.pvs {
        *got.entry(p.page.clone()).or_insert(0.0) += 1.0 / r.pvs.len() as f64;
    }
    let song = got.get("NextSong").copied().unwrap_or(0.0);
    assert!(song > 0.8, "NextSong share {song}");
    let mut ranked: Vec<_> = got.iter().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(a.1));
    assert_eq!(ranked[0].0, "NextSong");
    assert_eq!(ranked[1].0, "Home", "{ranked:?}");
    for (page, w) in &want {
        let g = got.get(page).copied().unwrap_or(0.0);
        // The auth/level mix drifts a little during the week (logins,
        // upgrades): 2 points on NextSong, relative 25 % (or 0.2 points) elsewhere.
        let tol = if page == "NextSong" {
            0.02
        } else {
            (0.25 * w).max(0.002)
        };
        eprintln!("page {page}: got {g:.4}, model {w:.4}");
        assert!((g - w).abs() <= tol, "{page}: got {g:.4}, model {w:.4}");
    }
}

/// Sessions that start inside the window (itemInSession 0 seen).
fn sessions(r: &Run) -> HashMap<i64, Vec<&Pv>> {
    let mut s: HashMap<i64, Vec<&Pv>> = HashMap::new();
    for p in &r.pvs {
        s.entry(p.session).or_default().push(p);
    }
    s.retain(|_, v| v[0].item == 0);
    s
}

#[test]
#[ignore = "needs the fixtures at ../shared/fixtures: run scripts/test.sh"]
fn session_lengths_match_the_model() {
    let Some(r) = run() else { return };
    let want: f64 = expected_visits(&r.model).iter().sum();
    let s = sessions(r);
    // Sessions still running at the end are cut; they are few in a week.
    let got = s.values().map(|v| v.len() as f64).sum::<f64>() / s.len() as f64;
    eprintln!("events per session: got {got:.2}, model {want:.2}");
    assert!(
        (got - want).abs() / want < 0.12,
        "events per session: got {got:.2}, model {want:.2}"
    );
    // itemInSession counts 0, 1, 2, ... within a session, and time goes forward.
    for v in s.values() {
        for (i, p) in v.iter().enumerate() {
            assert_eq!(p.item, i as i32);
        }
        assert!(v.windows(2).all(|w| w[0].ts < w[1].ts));
    }
}

/// Expected sessions per user over the window, from the config: a user with
/// factor L has gaps of beta·L + session-gap (+ the session itself, about
/// alpha per event), damped on off days. E[1/gap] is averaged over L by
/// quadrature of the log-normal.
fn expected_sessions_per_user(m: &Model, days: f64, damped_share: f64) -> f64 {
    let cfg = &m.cfg;
    let per_session: f64 = expected_visits(m).iter().sum::<f64>() * cfg.alpha * 0.5;
    let mut acc = 0.0;
    let mut wsum = 0.0;
    let n = 4000;
    for i in 0..n {
        let z = -6.0 + 12.0 * (i as f64 + 0.5) / n as f64;
        let w = (-z * z / 2.0).exp();
        let l = (z - 0.5).exp();
        acc += w / (cfg.beta * l + cfg.session_gap + per_session);
        wsum += w;
    }
    let rate = acc / wsum; // sessions per second
    rate * days * 86_400.0 * (1.0 - damped_share * cfg.weekend_damping)
}

#[test]
#[ignore = "needs the fixtures at ../shared/fixtures: run scripts/test.sh"]
fn events_per_user_match_the_model() {
    let Some(r) = run() else { return };
    let days = ((r.end - r.start) / DAY) as f64;
    // Share of the week's session starts that fall in off-day damping: 3 of 7
    // days (Thu, Sat, Sun) plus ramps, weighted as the calendar says.
    let off = calendar::OffDays::new(r.start, r.end);
    let cfg = &r.model.cfg;
    let samples = 7 * 24 * 12;
    let damped_share = (0..samples)
        .map(|i| {
            let t = r.start / 1000 + i * 300;
            off.rejection(
                t,
                1.0,
                cfg.weekend_damping_offset,
                cfg.weekend_damping_scale,
            )
        })
        .sum::<f64>()
        / samples as f64;
    let want_sessions = expected_sessions_per_user(&r.model, days, damped_share);
    let got_sessions = r.stats.sessions as f64 / USERS as f64;
    eprintln!("sessions per user: got {got_sessions:.3}, model {want_sessions:.3}");
    assert!(
        (got_sessions - want_sessions).abs() / want_sessions < 0.25,
        "sessions per user: got {got_sessions:.3}, model {want_sessions:.3}"
    );
    let want_events = want_sessions * expected_visits(&r.model).iter().sum::<f64>();
    let got_events = r.pvs.len() as f64 / USERS as f64;
    assert!(
        (got_events - want_events).abs() / want_events < 0.3,
        "events per user: got {got_events:.2}, model {want_events:.2}"
    );
}

/// Expected share of session starts per hour of day from the daily warp alone.
fn warp_hour_shares(damping: f64) -> [f64; 24] {
    let mut h = [0.0; 24];
    let n = 86_400 * 4;
    for i in 0..n {
        let s = i as i64 / 4 + 86_400 * 10;
        let y = calendar::daily_warp(s, damping).rem_euclid(86_400);
        h[(y / 3600) as usize] += 1.0 / n as f64;
    }
    h
}

#[test]
#[ignore = "needs the fixtures at ../shared/fixtures: run scripts/test.sh"]
fn daily_cycle_has_its_trough_near_3_and_peak_near_15() {
    let Some(r) = run() else { return };
    // Session starts on undamped hours: Mon 03:00 .. Wed 21:00 and Fri 03:00-21:00.
    let undamped = |t: i64| {
        let d = (t - r.start) / DAY;
        let h = (t - r.start) % DAY / 3_600_000;
        matches!(d, 1)
            || (d == 0 && h >= 3)
            || (d == 2 && h < 21)
            || (d == 4 && (3..21).contains(&h))
    };
    let mut hours = [0.0f64; 24];
    let mut n = 0.0;
    for p in r.pvs.iter().filter(|p| p.item == 0 && undamped(p.ts)) {
        hours[((p.ts / 1000).rem_euclid(86_400) / 3600) as usize] += 1.0;
        n += 1.0;
    }
    // Hour-of-day coverage is uneven (Mon from 03:00, Wed to 21:00): normalise
    // per hour by the days it was observed.
    let days_seen = |h: usize| -> f64 {
        1.0 + f64::from(h >= 3) + f64::from(h < 21) + f64::from((3..21).contains(&h))
    };
    let rate: Vec<f64> = (0..24).map(|h| hours[h] / days_seen(h)).collect();
    let total: f64 = rate.iter().sum();
    let got: Vec<f64> = rate.iter().map(|x| x / total).collect();
    let want = warp_hour_shares(r.model.cfg.damping);
    // Centre of the quietest and busiest 5-hour windows (hour bins alone are
    // noisy near the flat trough).
    let window = |h: usize| (0..5).map(|k| got[(h + 24 - 2 + k) % 24]).sum::<f64>();
    let trough = (0..24)
        .min_by(|a, b| window(*a).total_cmp(&window(*b)))
        .unwrap();
    let peak = (0..24)
        .max_by(|a, b| window(*a).total_cmp(&window(*b)))
        .unwrap();
    let near = |h: usize, target: usize| {
        let d = (h as i64 - target as i64).rem_euclid(24);
        d.min(24 - d) <= 2
    };
    assert!(near(trough, 3), "trough centred at {trough}:00, {got:?}");
    assert!(near(peak, 15), "peak centred at {peak}:00, {got:?}");
    assert!(
        window(peak) / window(trough) > 2.0,
        "peak/trough {:.2}",
        window(peak) / window(trough)
    );
    assert!(n > 5000.0, "only {n} session starts");
    for h in 0..24 {
        assert!(
            (got[h] - want[h]).abs() < 0.3 * want[h] + 0.004,
            "hour {h}: got {:.4}, warp model {:.4}",
            got[h],
            want[h]
        );
    }
}

#[test]
#[ignore = "needs the fixtures at ../shared/fixtures: run scripts/test.sh"]
fn weekend_and_holiday_dip() {
    let Some(r) = run() else { return };
    let cfg = &r.model.cfg;
    let mut per_day = [0.0f64; 7];
    for p in r.pvs.iter().filter(|p| p.item == 0) {
        per_day[((p.ts - r.start) / DAY) as usize] += 1.0;
    }
    // Days: 0 Mon, 1 Tue, 2 Wed, 3 Thu (Thanksgiving), 4 Fri, 5 Sat, 6 Sun.
    let off = calendar::OffDays::new(r.start, r.end);
    let expected_factor = |d: i64| -> f64 {
        let n = 24 * 60;
        (0..n)
            .map(|i| {
                let t = r.start / 1000 + d * 86_400 + i * 60;
                1.0 - off.rejection(
                    t,
                    cfg.weekend_damping,
                    cfg.weekend_damping_offset,
                    cfg.weekend_damping_scale,
                )
            })
            .sum::<f64>()
            / n as f64
    };
    let base = per_day[1]; // Tuesday: undamped all day
    for d in [3usize, 5, 6] {
        let got = per_day[d] / base;
        let want = expected_factor(d as i64) / expected_factor(1);
        eprintln!("day {d}: {got:.3} of Tuesday's session starts, calendar {want:.3}");
        assert!(got < 0.8, "day {d} is not dipped: {got:.3}");
        assert!(
            (got - want).abs() < 0.15,
            "day {d}: {got:.3} of Tuesday's session starts, calendar says {want:.3}"
        );
    }
    assert!(per_day[2] / base > 0.8, "Wednesday dipped: {per_day:?}");
}

#[test]
#[ignore = "needs the fixtures at ../shared/fixtures: run scripts/test.sh"]
fn growth_adds_users_at_the_configured_rate() {
    let Some(model) = example_model() else { return };
    let start = parse_utc("2026-11-02T00:00:00").unwrap();
    let g = 3.0;
    let n0 = 2000u64;
    let opts = SimOptions {
        nusers: n0,
        growth_rate: g,
        seed: 5,
        ..SimOptions::new(start, start + 7 * DAY)
    };
    let (stats, _) = simulate(model, opts);
    let years = 7.0 / 365.25;
    // Compounding: n(t) = n0 e^{g t}.
    let want = n0 as f64 * ((g * years).exp() - 1.0);
    let got = (stats.users - n0) as f64;
    let sd = want.sqrt();
    eprintln!("arrivals: got {got}, model {want:.1}");
    assert!(
        (got - want).abs() < 4.0 * sd,
        "arrivals: got {got}, model {want:.1} ± {sd:.1}"
    );
}

#[test]
#[ignore = "needs the fixtures at ../shared/fixtures: run scripts/test.sh"]
fn churn_happens_only_through_cancellation() {
    let Some(r) = run() else { return };
    let cancels: Vec<&Pv> = r
        .pvs
        .iter()
        .filter(|p| p.page == "Cancellation Confirmation")
        .collect();
    assert!(
        !cancels.is_empty(),
        "nobody churned in a week of 10 k users"
    );
    // Every churned user is gone for good: no event of theirs afterwards.
    let churned: HashMap<i64, i64> = cancels.iter().map(|p| (p.user.unwrap(), p.ts)).collect();
    for p in &r.pvs {
        if let Some(&t) = p.user.and_then(|u| churned.get(&u)) {
            assert!(p.ts <= t, "user {:?} active after cancelling", p.user);
        }
    }
    // The engine's count agrees (users churned in the window).
    assert_eq!(r.stats.churned as usize, cancels.len());
    // And the rate is the model's: expected visits to the page per session.
    let v = expected_visits(&r.model);
    let per_session: f64 = r
        .model
        .states
        .iter()
        .zip(&v)
        .filter(|(s, _)| s.page == "Cancellation Confirmation")
        .map(|x| x.1)
        .sum();
    let want = per_session * sessions(r).len() as f64;
    let got = cancels.len() as f64;
    eprintln!("cancellations: got {got}, model {want:.1}");
    assert!(
        (got - want).abs() < 4.0 * want.sqrt() + 0.2 * want,
        "cancellations: got {got}, model {want:.1}"
    );
}

#[test]
#[ignore = "needs the fixtures at ../shared/fixtures: run scripts/test.sh"]
fn level_changes_only_through_submit_pages() {
    let Some(r) = run() else { return };
    let mut last: HashMap<i64, &Pv> = HashMap::new();
    let mut changes = 0;
    for p in &r.pvs {
        let Some(u) = p.user else { continue };
        if let Some(prev) = last.get(&u) {
            if prev.level != p.level {
                changes += 1;
                let want = match prev.page.as_str() {
                    "Submit Upgrade" => ("free", "paid"),
                    "Submit Downgrade" => ("paid", "free"),
                    other => panic!(
                        "user {u}: level {} -> {} after {other}",
                        prev.level, p.level
                    ),
                };
                assert_eq!((prev.level.as_str(), p.level.as_str()), want);
            }
        }
        last.insert(u, p);
    }
    assert!(changes > 0, "no level change in a week");
    let submits = r
        .pvs
        .iter()
        .filter(|p| p.page == "Submit Upgrade" || p.page == "Submit Downgrade")
        .count() as u64;
    assert_eq!(r.stats.messages[Table::StatusChange.index()], submits);
}

#[test]
#[ignore = "needs the fixtures at ../shared/fixtures: run scripts/test.sh"]
fn auth_events_follow_login_pages_exactly_once() {
    let Some(r) = run() else { return };
    let mut prev: HashMap<i64, &Pv> = HashMap::new();
    let mut want = 0u64;
    for p in &r.pvs {
        if prev.get(&p.session).is_some_and(|q| q.page == "Login") {
            want += 1;
        }
        prev.insert(p.session, p);
    }
    assert!(want > 0);
    assert_eq!(r.stats.messages[Table::Auth.index()], want);
}

#[test]
#[ignore = "needs the fixtures at ../shared/fixtures: run scripts/test.sh"]
fn ids_times_and_sessions_are_well_formed() {
    let Some(r) = run() else { return };
    assert!(r.pvs.iter().all(|p| p.ts >= r.start && p.ts < r.end));
    // Whole seconds from the start, as eventsim.
    assert!(r.pvs.iter().all(|p| (p.ts - r.start) % 1000 == 0));
    let ids: BTreeSet<i64> = r.pvs.iter().filter_map(|p| p.user).collect();
    assert!(*ids.first().unwrap() >= 1000);
    assert!(*ids.last().unwrap() < 1000 + USERS as i64);
    // The first ids are used (each user is seen in a week with p > 0.5, so the
    // 30 first all missing has p < 1e-9): ids start at -u, not -u + 1.
    assert!(*ids.first().unwrap() < 1030, "first id {:?}", ids.first());
    // sessionIds are handed out in output order: 1, 2, 3, ...
    let mut seen = 0;
    for p in &r.pvs {
        assert!(p.session <= seen + 1, "session {} after {seen}", p.session);
        seen = seen.max(p.session);
    }
    assert_eq!(seen as u64, r.stats.sessions);
    // Output is in time order.
    assert!(r.pvs.windows(2).all(|w| w[0].ts <= w[1].ts));
}

fn keys(payload: &[u8]) -> BTreeSet<String> {
    let v: serde_json::Value = serde_json::from_slice(payload).unwrap();
    v.as_object().unwrap().keys().cloned().collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[test]
#[ignore = "needs the fixtures at ../shared/fixtures: run scripts/test.sh"]
fn field_sets_per_topic_and_auth_state() {
    let Some(r) = run() else { return };
    let device = ["city", "zip", "state", "userAgent", "lon", "lat"];
    let user = ["userId", "firstName", "lastName", "gender", "registration"];
    let with = |base: &[&str], extra: &[&[&str]]| {
        let mut s = set(base);
        s.extend(set(&device));
        for e in extra {
            s.extend(set(e));
        }
        s
    };
    let song = ["artist", "song", "duration"];
    let pv = [
        "ts",
        "sessionId",
        "page",
        "auth",
        "method",
        "status",
        "level",
        "itemInSession",
    ];
    let mut seen: BTreeMap<(Table, bool, bool), u32> = BTreeMap::new();
    let limits = DecodeLimits::default();
    for (table, payload) in r.out.iter() {
        // Classify cheaply; check the first 300 messages of each kind in full.
        let e = parse(payload, &limits).unwrap();
        let kind = (
            table,
            e.user_id.is_some(),
            e.page.as_deref() == Some("NextSong"),
        );
        let n = seen.entry(kind).or_default();
        *n += 1;
        if *n > 300 {
            continue;
        }
        let v: serde_json::Value = serde_json::from_slice(payload).unwrap();
        let k = keys(payload);
        let (shown, next_song) = (kind.1, kind.2);
        let want = match table {
            Table::PageView => {
                let auth = v["auth"].as_str().unwrap();
                let shows = r.model.shows_details(auth);
                assert_eq!(shown, shows, "auth {auth}");
                let mut extra: Vec<&[&str]> = vec![];
                if shows {
                    extra.push(&user);
                }
                if next_song {
                    extra.push(&song);
                }
                with(&pv, &extra)
            }
            Table::Listen => with(
                &[
                    "artist",
                    "song",
                    "duration",
                    "ts",
                    "sessionId",
                    "auth",
                    "level",
                    "itemInSession",
                ],
                &[&user],
            ),
            Table::Auth => {
                let extra: Vec<&[&str]> = if shown { vec![&user] } else { vec![] };
                let mut s = with(
                    &["ts", "sessionId", "level", "itemInSession", "success"],
                    &extra,
                );
                s.remove("auth");
                s
            }
            Table::StatusChange => with(
                &["ts", "sessionId", "auth", "level", "itemInSession"],
                &[&user],
            ),
        };
        assert_eq!(k, want, "{table}: {}", String::from_utf8_lossy(payload));
        // Types as eventsim writes them.
        assert!(v["zip"].is_string() && v["lat"].is_f64() && v["ts"].is_i64());
        if shown {
            assert!(v["userId"].is_i64() && v["registration"].is_i64());
            assert!(v["gender"] == "M" || v["gender"] == "F");
        }
    }
    // Every combination occurred: hidden and shown users on pages and auth.
    for want in [
        (Table::PageView, false, false),
        (Table::PageView, true, false),
        (Table::PageView, true, true),
        (Table::Listen, true, false),
        (Table::Auth, true, false),
        (Table::StatusChange, true, false),
    ] {
        assert!(seen.contains_key(&want), "never saw {want:?}");
    }
}

/// The share of women among the users whose details show in `out`.
fn female_share(out: &Collect) -> (f64, usize) {
    let limits = DecodeLimits::default();
    let mut gender: HashMap<i64, bool> = HashMap::new();
    for (t, p) in out.iter() {
        if t != Table::PageView {
            continue;
        }
        let e = parse(p, &limits).expect("decodes");
        if let (Some(u), Some(g)) = (e.user_id, e.gender) {
            gender.insert(u, g == "F");
        }
    }
    let f = gender.values().filter(|&&f| f).count();
    (f as f64 / gender.len().max(1) as f64, gender.len())
}

#[test]
#[ignore = "needs the fixtures at ../shared/fixtures: run scripts/test.sh"]
fn built_in_names_split_genders_as_eventsims_data_does() {
    let Some(r) = run() else { return };
    // eventsim draws first names (and so genders) by weight from its
    // yob1990.txt: 1 759 010 female to 1 898 382 male births.
    let eventsim = 1_759_010.0 / (1_759_010.0 + 1_898_382.0);
    let (builtin, n) = female_share(&r.out);
    assert!(n > USERS as usize / 2, "only {n} users show details");
    // The same week with eventsim's own files (--data-dir).
    let fx = common::fixtures();
    let data = Catalog::with_eventsim_data(&fx.join("eventsim/data")).expect("eventsim data");
    let seed = 12;
    eprintln!("gender split: the week's run (MUSICALY_SIM_SEED, default 11), a --data-dir run with seed {seed}");
    let opts = SimOptions {
        nusers: USERS,
        seed,
        ..SimOptions::new(r.start, r.end)
    };
    let mut sim = Simulator::new(r.model.clone(), data, opts).unwrap();
    let mut out = Collect::default();
    sim.run(&mut out).unwrap();
    let (files, m) = female_share(&out);
    eprintln!(
        "women: {:.1} % of {n} users (built-in names), {:.1} % of {m} (eventsim's files), eventsim's weights {:.1} %",
        100.0 * builtin,
        100.0 * files,
        100.0 * eventsim
    );
    // ~6.7 k users show details: one standard deviation is 0.6 points, and
    // the built-in names gave 36 % women before they were weighed to match.
    for (what, share) in [("built-in names", builtin), ("eventsim's files", files)] {
        assert!(
            (share - eventsim).abs() < 0.025,
            "{what}: {:.1} % women, eventsim's weights give {:.1} %",
            100.0 * share,
            100.0 * eventsim
        );
    }
}
