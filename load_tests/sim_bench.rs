//! Benchmark of `musicaly simulate`: events/s, CPU time and peak memory of real
//! runs of the binary, writing JSON to files, as docs/BENCHMARKS.md reports them.
//!
//! ```text
//! cargo build --release
//! target/release/sim-bench --users 100000 --days 7 --threads 1,2 --runs 3 \
//!     --config ../shared/fixtures/eventsim/example-config.json --out /tmp/sim-bench
//! ```
//!
//! Each run is a child process; its peak RSS and CPU time come from `wait4`'s
//! rusage, so they are the simulator's own, not the harness's. The output of a
//! run is deleted before the next. Prints one Markdown table row per setting,
//! with the median of the runs (and min..max).

use anyhow::{anyhow, bail, Context};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

struct Args {
    users: u64,
    days: u32,
    threads: Vec<usize>,
    runs: usize,
    config: Option<PathBuf>,
    out: PathBuf,
    start: String,
    format: String,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut a = Args {
        users: 100_000,
        days: 7,
        threads: vec![1],
        runs: 3,
        config: None,
        out: std::env::temp_dir().join("sim-bench"),
        start: "2026-11-02".into(),
        format: "four".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut v = || it.next().ok_or_else(|| anyhow!("{k} needs a value"));
        match k.as_str() {
            "--users" => a.users = v()?.parse().context("--users")?,
            "--days" => a.days = v()?.parse().context("--days")?,
            "--runs" => a.runs = v()?.parse().context("--runs")?,
            "--threads" => {
                a.threads = v()?
                    .split(',')
                    .map(|x| x.parse().context("--threads"))
                    .collect::<Result<_, _>>()?
            }
            "--config" => a.config = Some(v()?.into()),
            "--out" => a.out = v()?.into(),
            "--start" => a.start = v()?,
            "--format" => a.format = v()?,
            other => bail!("unknown argument {other}"),
        }
    }
    Ok(a)
}

struct Sample {
    wall: f64,
    cpu: f64,
    rss_mb: f64,
    events: u64,
}

fn run_once(bin: &PathBuf, a: &Args, threads: usize) -> anyhow::Result<Sample> {
    let _ = std::fs::remove_dir_all(&a.out);
    let start = chrono::NaiveDate::parse_from_str(&a.start, "%Y-%m-%d").context("--start")?;
    let end = start + chrono::Duration::days(a.days as i64);
    let mut cmd = Command::new(bin);
    cmd.arg("simulate");
    if let Some(c) = &a.config {
        cmd.arg("-c").arg(c);
    }
    let target = if a.format == "single" {
        a.out.join("events.json")
    } else {
        a.out.clone()
    };
    cmd.args(["-n", &a.users.to_string(), "-r", "1"])
        .args(["-s", &start.to_string(), "-e", &end.to_string()])
        .args(["--threads", &threads.to_string(), "--format", &a.format])
        .arg(&target)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let t0 = Instant::now();
    let child = cmd
        .spawn()
        .with_context(|| format!("spawn {}", bin.display()))?;
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain data, filled by wait4 for our own child.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    let wall = t0.elapsed().as_secs_f64();
    if r != pid {
        bail!("wait4: {}", std::io::Error::last_os_error());
    }
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr {
        use std::io::Read;
        let _ = e.read_to_string(&mut stderr);
    }
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        bail!("simulate failed: {stderr}");
    }
    // "<events> events (...)" is the first word of the summary line.
    let events = stderr
        .lines()
        .rev()
        .find_map(|l| {
            l.split_once(" events (")
                .and_then(|(n, _)| n.trim().parse().ok())
        })
        .ok_or_else(|| anyhow!("no summary in: {stderr}"))?;
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let _ = std::fs::remove_dir_all(&a.out);
    Ok(Sample {
        wall,
        cpu: tv(ru.ru_utime) + tv(ru.ru_stime),
        rss_mb: ru.ru_maxrss as f64 / 1024.0,
        events,
    })
}

fn median(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

fn main() {
    let a = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("sim-bench: {e:#}");
            std::process::exit(2);
        }
    };
    let bin = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("musicaly")))
        .unwrap_or_else(|| PathBuf::from("musicaly"));
    println!("| users | days | threads | events | events/s (wall) | events per CPU-second | peak RSS MB | runs |");
    println!("|---|---|---|---|---|---|---|---|");
    for &t in &a.threads {
        let mut samples = Vec::new();
        for _ in 0..a.runs.max(1) {
            match run_once(&bin, &a, t) {
                Ok(s) => samples.push(s),
                Err(e) => {
                    eprintln!("sim-bench: {e:#}");
                    std::process::exit(1);
                }
            }
        }
        let ev = samples[0].events;
        let (rate, rmin, rmax) = median(samples.iter().map(|s| s.events as f64 / s.wall).collect());
        let (cpu_rate, _, _) = median(samples.iter().map(|s| s.events as f64 / s.cpu).collect());
        let (rss, _, rss_max) = median(samples.iter().map(|s| s.rss_mb).collect());
        println!(
            "| {} | {} | {t} | {ev} | {rate:.0} ({rmin:.0}..{rmax:.0}) | {cpu_rate:.0} | {rss:.0} (max {rss_max:.0}) | {} |",
            a.users,
            a.days,
            samples.len()
        );
    }
}
