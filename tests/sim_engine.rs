//! The simulator as a program: determinism whatever the thread count, flags and
//! their precedence over the config file, eventsim's data files, the
//! single-stream dialect against real eventsim output, and a short benchmark.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use common::{bin, run_ok};
use musicaly::event::{parse, DecodeLimits, RawEvent, SingleStreamSplitter, Table};
use musicaly::sim::catalog::Catalog;
use musicaly::sim::model::{EventsimConfig, Model};
use musicaly::sim::{Dialect, Emit, SimError, SimOptions, Simulator, Stream};
use musicaly::time::parse_utc;

const DAY: i64 = 86_400_000;

#[derive(Default)]
struct Bytes(Vec<u8>, u64);

impl Emit for Bytes {
    fn emit(&mut self, stream: Stream, key: i64, payload: &[u8]) -> Result<(), SimError> {
        self.0
            .extend_from_slice(format!("{stream:?} {key} ").as_bytes());
        self.0.extend_from_slice(payload);
        self.0.push(b'\n');
        self.1 += 1;
        Ok(())
    }
}

fn example() -> Option<EventsimConfig> {
    let p = common::fixtures().join("eventsim/example-config.json");
    Some(EventsimConfig::from_file(&p).unwrap())
}

fn run_in_process(cfg: EventsimConfig, catalog: Catalog, opts: SimOptions) -> Bytes {
    let mut sim = Simulator::new(Model::compile(cfg).unwrap(), catalog, opts).unwrap();
    let mut out = Bytes::default();
    sim.run(&mut out).unwrap();
    out
}

fn opts(n: u64, seed: u64, threads: usize, days: i64) -> SimOptions {
    let start = parse_utc("2026-11-20T00:00:00").unwrap();
    SimOptions {
        nusers: n,
        seed,
        threads,
        growth_rate: 0.5,
        ..SimOptions::new(start, start + days * DAY)
    }
}

#[test]
#[ignore = "needs the fixtures at ../shared/fixtures: run scripts/test.sh"]
fn same_seed_same_bytes_whatever_the_threads() {
    let Some(cfg) = example() else { return };
    let cat = Catalog::builtin().unwrap();
    let one = run_in_process(cfg.clone(), cat.clone(), opts(3000, 9, 1, 3));
    assert!(one.1 > 20_000, "only {} messages", one.1);
    for threads in [2, 3] {
        let n = run_in_process(cfg.clone(), cat.clone(), opts(3000, 9, threads, 3));
        assert!(n.0 == one.0, "{threads} threads differ from 1");
    }
    let other = run_in_process(cfg.clone(), cat.clone(), opts(3000, 10, 3, 3));
    assert!(other.0 != one.0, "seeds 9 and 10 gave the same output");
    let single = SimOptions {
        dialect: Dialect::Single,
        ..opts(500, 9, 1, 2)
    };
    let single3 = SimOptions {
        threads: 3,
        ..single.clone()
    };
    assert!(
        run_in_process(cfg.clone(), cat.clone(), single).0 == run_in_process(cfg, cat, single3).0
    );
}

#[test]
#[ignore = "needs the fixtures at ../shared/fixtures: run scripts/test.sh"]
fn cli_output_is_identical_for_one_and_three_threads() {
    let fx = common::fixtures();
    let cfg = fx.join("eventsim/example-config.json");
    let dir = tempfile::tempdir().unwrap();
    for t in ["1", "3"] {
        run_ok(
            bin()
                .args(["simulate", "-c"])
                .arg(&cfg)
                .args([
                    "-n",
                    "2000",
                    "-s",
                    "2026-11-01",
                    "-e",
                    "2026-11-04",
                    "-r",
                    "4",
                ])
                .args(["--threads", t])
                .arg(dir.path().join(t)),
        );
    }
    for table in common::TABLES {
        let a = std::fs::read(dir.path().join("1").join(format!("{table}.json"))).unwrap();
        let b = std::fs::read(dir.path().join("3").join(format!("{table}.json"))).unwrap();
        assert!(
            !a.is_empty() || table == "status_change_events",
            "{table} empty"
        );
        assert!(a == b, "{table} differs between 1 and 3 threads");
    }
}

/// A config where every user is logged in and active, so every user id shows.
fn busy(cfg: &mut serde_json::Value) {
    cfg["beta"] = serde_json::json!(3600);
    for a in cfg["auths"].as_array_mut().unwrap() {
        let w = if a["auth"] == "Logged In" { 1 } else { 0 };
        a["weight"] = serde_json::json!(w);
    }
}

fn lines(out: &[u8]) -> Vec<serde_json::Value> {
    out.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect()
}

#[test]
#[ignore = "needs the fixtures at ../shared/fixtures: run scripts/test.sh"]
fn flags_win_over_the_config_and_config_dates_are_honoured() {
    let fx = common::fixtures();
    let text = std::fs::read_to_string(fx.join("eventsim/example-config.json")).unwrap();
    let mut cfg: serde_json::Value = serde_json::from_str(&text).unwrap();
    busy(&mut cfg);
    cfg["n-users"] = serde_json::json!(7);
    cfg["first-user-id"] = serde_json::json!(300);
    cfg["start-date"] = serde_json::json!("2026-10-05T00:00:00");
    cfg["end-date"] = serde_json::json!("2026-10-06T00:00:00");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cfg.json");
    std::fs::write(&path, cfg.to_string()).unwrap();
    let ids = |evs: &[serde_json::Value]| -> BTreeSet<i64> {
        evs.iter().filter_map(|e| e["userId"].as_i64()).collect()
    };
    // The config's values.
    let out = run_ok(bin().args(["simulate", "--stdout", "-c"]).arg(&path));
    let evs = lines(&out.stdout);
    let (s, e) = (
        parse_utc("2026-10-05").unwrap(),
        parse_utc("2026-10-06").unwrap(),
    );
    assert!(evs.iter().all(|v| {
        let t = v["ts"].as_i64().unwrap();
        t >= s && t < e
    }));
    assert_eq!(ids(&evs), (300..307).collect());
    // Flags win; the first user id is exactly -u.
    let out = run_ok(
        bin()
            .args(["simulate", "--stdout", "-n", "4", "-u", "50"])
            .args([
                "-s",
                "2026-10-10T06:00:00",
                "-e",
                "2026-10-10T18:00:00",
                "-c",
            ])
            .arg(&path),
    );
    let evs = lines(&out.stdout);
    let (s, e) = (
        parse_utc("2026-10-10T06:00:00").unwrap(),
        parse_utc("2026-10-10T18:00:00").unwrap(),
    );
    assert!(!evs.is_empty());
    assert!(evs.iter().all(|v| {
        let t = v["ts"].as_i64().unwrap();
        t >= s && t < e
    }));
    assert_eq!(ids(&evs), (50..54).collect());
    // --tag adds a field to every message.
    let out = run_ok(
        bin()
            .args(["simulate", "--stdout", "-n", "2", "--tag", "t1", "-c"])
            .arg(&path),
    );
    assert!(lines(&out.stdout).iter().all(|v| v["tag"] == "t1"));
}

#[test]
fn bad_flags_are_errors_not_panics() {
    let out = bin()
        .args([
            "simulate",
            "--stdout",
            "-s",
            "2026-10-10",
            "-e",
            "2026-10-09",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not after"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let out = bin()
        .args(["simulate", "--stdout", "--threads", "0", "-n", "3"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("threads"));
}

#[test]
#[ignore = "needs the fixtures at ../shared/fixtures: run scripts/test.sh"]
fn eventsim_data_files_load_with_encodings_repaired() {
    let fx = common::fixtures();
    let data = fx.join("eventsim/data");
    let c = Catalog::with_eventsim_data(&data).unwrap();
    assert_eq!(c.songs.len(), 10_000);
    // Backslash-escaped quotes inside CSV-quoted fields.
    assert!(c
        .songs
        .iter()
        .any(|s| s.title.contains("\"Hammerklavier\"") && !s.title.contains('\\')));
    assert!(c.songs.iter().all(|s| !s.title.contains("\\\"")));
    assert!(c
        .songs
        .iter()
        .all(|s| !s.title.starts_with('"') || s.title.len() < 2 || !s.title.ends_with('"')));
    // UTF-8 text, not Latin-1 mojibake.
    assert!(c.songs.iter().any(|s| s.artist == "Raymond Lefèvre"));
    assert!(c
        .songs
        .iter()
        .all(|s| !s.artist.contains('Ã') && !s.title.contains('Ã')));
    assert!(c.songs.iter().all(|s| s.duration > 0.0));
    // Surnames: CR line endings, header skipped, title case.
    assert_eq!(c.surnames.len(), 1000);
    assert_eq!(c.surnames[0], "Smith");
    assert!(c.surnames.iter().all(|s| !s.contains('\r')));
    // First names with gender.
    assert!(c.first_names.len() > 30_000);
    assert!(c
        .first_names
        .iter()
        .any(|(n, g)| n == "Isabella" && *g == "F"));
    // User agents from UTF-16LE, quotes kept as eventsim writes them.
    assert_eq!(c.user_agents.len(), 85);
    assert!(c.user_agents.iter().any(|u| u.starts_with("\"Mozilla/5.0")));
    assert!(c
        .user_agents
        .iter()
        .all(|u| !u.contains('\u{0}') && !u.contains('\t')));
    // A run with them writes their songs.
    let Some(cfg) = example() else { return };
    let titles: BTreeSet<&str> = c.songs.iter().map(|s| s.title.as_str()).collect();
    let out = run_in_process(cfg, c.clone(), opts(300, 1, 1, 2));
    let limits = DecodeLimits::default();
    let mut listens = 0;
    for l in out.0.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let json = &l[l.iter().position(|b| *b == b'{').unwrap()..];
        let ev = parse(json, &limits).unwrap();
        if let Some(song) = ev.song.as_deref() {
            assert!(titles.contains(song), "{song}");
            listens += 1;
        }
    }
    assert!(listens > 100);
}

#[test]
fn data_dir_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let err = Catalog::with_eventsim_data(dir.path())
        .unwrap_err()
        .to_string();
    assert!(err.contains("listen_counts.txt.gz"), "{err}");
    std::fs::write(dir.path().join("yob1990.txt"), "Ann,X,3\n").unwrap();
    let err = Catalog::with_eventsim_data(dir.path())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("yob1990.txt") && err.contains("line 1"),
        "{err}"
    );
    std::fs::write(dir.path().join("yob1990.txt"), "Ann,F,3\n").unwrap();
    std::fs::write(dir.path().join("listen_counts.txt.gz"), "not gzip").unwrap();
    let err = Catalog::with_eventsim_data(dir.path())
        .unwrap_err()
        .to_string();
    assert!(err.contains("gzip"), "{err}");
}

/// JSON keys with their types, and which decoded fields are set.
type Shape = (BTreeMap<String, &'static str>, Vec<bool>);
/// Per kind of line (shows user, NextSong).
type Shapes = BTreeMap<(bool, bool), Shape>;

/// The JSON type of each key, and which decoded fields are set.
fn shape(line: &[u8]) -> Shape {
    let v: serde_json::Value = serde_json::from_slice(line).unwrap();
    let types = v
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let t = match v {
                serde_json::Value::Null => "null",
                serde_json::Value::String(_) => "string",
                serde_json::Value::Number(n) if n.is_f64() => "float",
                serde_json::Value::Number(_) => "int",
                serde_json::Value::Bool(_) => "bool",
                _ => "other",
            };
            (k.clone(), t)
        })
        .collect();
    let e = parse(line, &DecodeLimits::default()).unwrap();
    let set = decoded_fields(&e);
    (types, set)
}

fn decoded_fields(e: &RawEvent<'_>) -> Vec<bool> {
    vec![
        e.ts.is_some(),
        e.session_id.is_some(),
        e.page.is_some(),
        e.auth.is_some(),
        e.method.is_some(),
        e.status.is_some(),
        e.level.is_some(),
        e.item_in_session.is_some(),
        e.city.is_some(),
        e.state.is_some(),
        e.user_agent.is_some(),
        e.user_id.is_some(),
        e.first_name.is_some(),
        e.last_name.is_some(),
        e.gender.is_some(),
        e.registration.is_some(),
        e.artist.is_some(),
        e.song.is_some(),
        e.duration.is_some(),
    ]
}

#[test]
#[ignore = "needs the fixtures at ../shared/fixtures: run scripts/test.sh"]
fn sparkify_files_and_our_single_stream_decode_alike() {
    let fx = common::fixtures();
    let Some(cfg) = example() else { return };
    // (shows user, NextSong) → shape, from real eventsim output.
    let mut theirs: Shapes = BTreeMap::new();
    let limits = DecodeLimits::default();
    for f in ["2018-11-01-events.json", "2018-11-02-events.json"] {
        let text = std::fs::read(fx.join("sparkify").join(f)).unwrap();
        let mut split = SingleStreamSplitter::default();
        let mut tables = Vec::new();
        for l in text.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let e = parse(l, &limits).unwrap();
            split.tables(&e, &mut tables);
            for t in &tables {
                e.validate(*t, &limits).unwrap();
            }
            let key = (e.user_id.is_some(), e.page.as_deref() == Some("NextSong"));
            theirs.entry(key).or_insert_with(|| shape(l));
        }
    }
    assert!(
        theirs.len() >= 2,
        "fixtures lack variety: {:?}",
        theirs.keys()
    );
    let single = SimOptions {
        dialect: Dialect::Single,
        ..opts(400, 3, 1, 2)
    };
    let out = run_in_process(cfg, Catalog::builtin().unwrap(), single);
    let mut ours: Shapes = BTreeMap::new();
    let mut split = SingleStreamSplitter::default();
    let mut tables = Vec::new();
    let mut counts = [0u64; 4];
    for l in out.0.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let json = &l[l.iter().position(|b| *b == b'{').unwrap()..];
        let e = parse(json, &limits).unwrap();
        split.tables(&e, &mut tables);
        for t in &tables {
            e.validate(*t, &limits).unwrap();
            counts[t.index()] += 1;
        }
        let key = (e.user_id.is_some(), e.page.as_deref() == Some("NextSong"));
        let s = shape(json);
        // Every line of a kind has the same shape.
        if let Some(prev) = ours.get(&key) {
            assert_eq!(prev, &s);
        }
        ours.insert(key, s);
    }
    assert!(counts[Table::Listen.index()] > 0 && counts[Table::Auth.index()] > 0);
    for (key, shape) in &theirs {
        let mine = ours
            .get(key)
            .unwrap_or_else(|| panic!("we never wrote a line of kind {key:?}"));
        assert_eq!(&mine.0, &shape.0, "JSON keys/types of kind {key:?}");
        assert_eq!(&mine.1, &shape.1, "decoded fields of kind {key:?}");
    }
}

/// A short form of the benchmark (docs/BENCHMARKS.md has the full one, run
/// with MUSICALY_LONG=1): a floor far under the target, so it fails only when
/// something is badly wrong, not on a busy CI machine.
#[test]
#[ignore = "needs the fixtures at ../shared/fixtures: run scripts/test.sh"]
fn short_benchmark() {
    let fx = common::fixtures();
    let long = std::env::var("MUSICALY_LONG").is_ok_and(|v| v == "1");
    let users = if long { "100000" } else { "20000" };
    let dir = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let out = run_ok(
        bin()
            .args(["simulate", "-c"])
            .arg(fx.join("eventsim/example-config.json"))
            .args([
                "-n",
                users,
                "-s",
                "2026-11-02",
                "-e",
                "2026-11-09",
                "-r",
                "1",
            ])
            .arg(dir.path().join("out")),
    );
    let secs = started.elapsed().as_secs_f64();
    let events = count_lines(&dir.path().join("out/page_view_events.json"));
    let rate = events as f64 / secs;
    eprintln!(
        "short benchmark: {users} users, 7 days: {events} events in {secs:.2}s = {rate:.0} events/s\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(events > 100_000);
    assert!(rate > 100_000.0, "{rate:.0} events/s");
}

fn count_lines(p: &Path) -> u64 {
    let b = std::fs::read(p).unwrap();
    b.iter().filter(|c| **c == b'\n').count() as u64
}

#[test]
fn a_reader_closing_stdout_is_not_an_error() {
    use std::io::Read;
    let mut child = bin()
        .args([
            "simulate",
            "--stdout",
            "-n",
            "20000",
            "-s",
            "2026-11-01",
            "-e",
            "2026-11-08",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut head = [0u8; 4096];
    child.stdout.take().unwrap().read_exact(&mut head).unwrap();
    // stdout is dropped here: the simulator's next write gets EPIPE.
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(head.starts_with(b"{\"ts\":"));
}

#[test]
fn single_stream_runs_count_their_messages() {
    // `simulate --format single` writes through FileOutput: the one-thread
    // path with its block writer, and the merge with two threads.
    let cfg = EventsimConfig::builtin();
    let dir = tempfile::tempdir().unwrap();
    for threads in [1, 2] {
        let path = dir.path().join(format!("events-{threads}.json"));
        let mut out = musicaly::sim::output::FileOutput::single_file(&path).unwrap();
        let o = SimOptions {
            dialect: Dialect::Single,
            ..opts(300, 3, threads, 2)
        };
        let mut sim = Simulator::new(
            Model::compile(cfg.clone()).unwrap(),
            Catalog::builtin().unwrap(),
            o,
        )
        .unwrap();
        let stats = sim.run(&mut out).unwrap();
        let written = count_lines(&path);
        assert!(written > 1000, "only {written} lines");
        assert_eq!(stats.single, written, "{threads} threads");
        assert_eq!(stats.events, written, "{threads} threads");
        assert_eq!(stats.messages, [0; 4], "{threads} threads");
        let summary = stats.messages_summary();
        assert_eq!(
            summary,
            format!("single stream {written}"),
            "{threads} threads"
        );
    }
    // The four topics: one count per topic, adding up to the lines written.
    let four = dir.path().join("four");
    let mut out = musicaly::sim::output::FileOutput::directory(&four).unwrap();
    let mut sim = Simulator::new(
        Model::compile(cfg).unwrap(),
        Catalog::builtin().unwrap(),
        opts(300, 3, 1, 2),
    )
    .unwrap();
    let stats = sim.run(&mut out).unwrap();
    assert_eq!(stats.single, 0);
    let mut summary = Vec::new();
    for t in Table::ALL {
        let n = count_lines(&four.join(format!("{t}.json")));
        assert_eq!(stats.messages[t.index()], n, "{t}");
        summary.push(format!("{t} {n}"));
    }
    assert_eq!(stats.messages_summary(), summary.join(", "));
}
