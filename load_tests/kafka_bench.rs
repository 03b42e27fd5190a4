//! Benchmark of the stream core, Kafka → lake: `musicaly pipeline` against a bare
//! rdkafka consumer reading the same messages from the same broker, as
//! docs/BENCHMARKS.md ("Stream core: Kafka → lake") reports them.
//!
//! ```text
//! cargo build --release
//! target/release/kafka-bench --brokers 127.0.0.1:29192 --users 100000 --days 7 --runs 3
//! ```
//!
//! 1. **Fill**: four fresh topics `<prefix>.<table>` (`--partitions` each) are filled
//!    by `musicaly simulate -k` (or `--reuse PREFIX` reads topics of an earlier
//!    fill); the message count is the sum of the partitions' watermarks.
//! 2. Per run, in this order, each with a fresh consumer group:
//!    - **bare**: an rdkafka `BaseConsumer` in this process with the pipeline's
//!      fetch settings, counting messages and payload bytes, nothing else. The
//!      upper bound of what any consumer of this broker on this machine can do.
//!    - **pipeline**: `musicaly pipeline` as a child with the default config
//!      (decode, Parquet lake, sessionization and aggregation on), except the
//!      warehouse (off: its load at exit is not the stream core) and a temp data
//!      dir. Progress is read from its `/metrics` (rows durable in the lake,
//!      `musicaly_rows_written_total`, plus dead letters), so the time ends when
//!      the last row is durable, not when the idle exit fires.
//!
//! Two rates per run: **end-to-end** (start of the consumer/process to the last
//! message counted/durable: includes start-up, group join and the last batch's
//! age) and **steady** (between 10 % and 90 % of the messages: the sustained
//! rate). CPU time is the process's (`getrusage` for the bare consumer, `wait4`
//! for the child), and for the pipeline also per thread (`/proc/PID/task`) at the
//! moment the last row became durable: that shows which stage is saturated.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

const TABLES: [&str; 4] = [
    "page_view_events",
    "listen_events",
    "auth_events",
    "status_change_events",
];

struct Args {
    brokers: String,
    users: u64,
    days: u32,
    start: String,
    partitions: i32,
    runs: usize,
    reuse: Option<String>,
    out: PathBuf,
    /// Give up on a run after this long.
    timeout: Duration,
    /// Extra environment of the pipeline (`MUSICALY__STREAM__ENABLED=false`...),
    /// to measure variants against the same bare baseline.
    pipeline_env: Vec<(String, String)>,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut a = Args {
        brokers: "127.0.0.1:9092".into(),
        users: 100_000,
        days: 7,
        start: "2026-11-02".into(),
        partitions: 4,
        runs: 3,
        reuse: None,
        out: std::env::temp_dir().join("kafka-bench"),
        timeout: Duration::from_secs(900),
        pipeline_env: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut v = || it.next().ok_or(anyhow::anyhow!("{k} needs a value"));
        match k.as_str() {
            "--brokers" => a.brokers = v()?,
            "--users" => a.users = v()?.parse().map_err(|e| anyhow::anyhow!("--users: {e}"))?,
            "--days" => a.days = v()?.parse().map_err(|e| anyhow::anyhow!("--days: {e}"))?,
            "--start" => a.start = v()?,
            "--partitions" => {
                a.partitions = v()?.parse().map_err(|e| anyhow::anyhow!("--partitions: {e}"))?
            }
            "--runs" => a.runs = v()?.parse().map_err(|e| anyhow::anyhow!("--runs: {e}"))?,
            "--reuse" => a.reuse = Some(v()?),
            "--out" => a.out = v()?.into(),
            "--timeout-secs" => {
                a.timeout =
                    Duration::from_secs(v()?.parse().map_err(|e| anyhow::anyhow!("--timeout-secs: {e}"))?)
            }
            "--pipeline-env" => {
                let kv = v()?;
                let (k, val) = kv
                    .split_once('=')
                    .ok_or(anyhow::anyhow!("--pipeline-env wants NAME=VALUE, got {kv}"))?;
                a.pipeline_env.push((k.to_string(), val.to_string()));
            }
            "-h" | "--help" => {
                return Err(anyhow::anyhow!("usage: kafka-bench [--brokers H:P] [--users N] [--days D] [--start YYYY-MM-DD] [--partitions P] [--runs R] [--reuse PREFIX] [--out DIR] [--timeout-secs S] [--pipeline-env NAME=VALUE]..."))
            }
            other => return Err(anyhow::anyhow!("unknown argument {other}")),
        }
    }
    if a.partitions < 1 || a.runs < 1 || a.days < 1 {
        return Err(anyhow::anyhow!(
            "--partitions, --runs and --days must be at least 1"
        ));
    }
    Ok(a)
}

/// One measured consumption of all the messages.
struct Sample {
    messages: u64,
    bytes: u64,
    /// Start to last message counted (bare) / last row durable (pipeline).
    total: f64,
    /// Seconds between 10 % and 90 % of the messages.
    steady: f64,
    cpu: f64,
    /// Pipeline only: CPU seconds per thread, at the end.
    threads: Vec<(String, f64)>,
    /// Peak resident memory, MB (pipeline: the child's `ru_maxrss`).
    rss_mb: f64,
    load: String,
}

impl Sample {
    fn rate(&self) -> f64 {
        self.messages as f64 / self.total
    }
    fn steady_rate(&self) -> f64 {
        self.messages as f64 * 0.8 / self.steady
    }
    fn mb_s(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.total
    }
}

/// Marks the 10 % and 90 % points of a count going up to `total`.
struct Marks {
    total: u64,
    t10: Option<Instant>,
    t90: Option<Instant>,
}

impl Marks {
    fn new(total: u64) -> Marks {
        Marks {
            total,
            t10: None,
            t90: None,
        }
    }
    fn see(&mut self, n: u64) {
        if self.t10.is_none() && n * 10 >= self.total {
            self.t10 = Some(Instant::now());
        }
        if self.t90.is_none() && n * 10 >= self.total * 9 {
            self.t90 = Some(Instant::now());
        }
    }
    fn steady(&self, end: Instant) -> f64 {
        match (self.t10, self.t90) {
            (Some(a), Some(b)) if b > a => (b - a).as_secs_f64(),
            _ => end.elapsed().as_secs_f64().max(1e-3),
        }
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn unique(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{name}{}x{}", std::process::id(), nanos % 1_000_000_000)
}

fn musicaly_bin() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("musicaly")))
        .unwrap_or_else(|| PathBuf::from("musicaly"))
}

/// Creates the four topics and fills them with `musicaly simulate -k`.
fn fill(a: &Args, prefix: &str, topics: &[String]) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &a.brokers)
        .create()
        .map_err(|e| anyhow::anyhow!("admin client: {e}"))?;
    let new: Vec<NewTopic> = topics
        .iter()
        .map(|t| NewTopic::new(t, a.partitions, TopicReplication::Fixed(1)))
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    for r in rt
        .block_on(admin.create_topics(&new, &AdminOptions::new()))
        .map_err(|e| anyhow::anyhow!("create topics: {e}"))?
    {
        r.map_err(|(t, e)| anyhow::anyhow!("create topic {t}: {e}"))?;
    }
    let start = chrono::NaiveDate::parse_from_str(&a.start, "%Y-%m-%d")
        .map_err(|e| anyhow::anyhow!("--start: {e}"))?;
    let end = start + chrono::Duration::days(a.days as i64);
    let t0 = Instant::now();
    let out = Command::new(musicaly_bin())
        .arg("simulate")
        .args(["-n", &a.users.to_string(), "-r", "1"])
        .args(["-s", &start.to_string(), "-e", &end.to_string()])
        .args(["-k", &a.brokers, "--topic-prefix", &format!("{prefix}.")])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| anyhow::anyhow!("spawn simulate: {e}"))?;
    if !out.status.success() {
        return Err(anyhow::anyhow!(
            "simulate failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    eprintln!(
        "kafka-bench: filled {prefix}.* in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Messages in the topics: the sum over partitions of high - low watermark.
fn count_messages(brokers: &str, topics: &[String]) -> anyhow::Result<u64> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", unique("kbwm"))
        .create()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let timeout = Duration::from_secs(30);
    let mut n = 0;
    for t in topics {
        let md = c
            .fetch_metadata(Some(t), timeout)
            .map_err(|e| anyhow::anyhow!("metadata of {t}: {e}"))?;
        let parts = md
            .topics()
            .first()
            .map(|m| m.partitions().len())
            .unwrap_or(0);
        if parts == 0 {
            return Err(anyhow::anyhow!(
                "topic {t} has no partitions (does it exist?)"
            ));
        }
        for p in 0..parts as i32 {
            let (lo, hi) = c
                .fetch_watermarks(t, p, timeout)
                .map_err(|e| anyhow::anyhow!("watermarks of {t}[{p}]: {e}"))?;
            n += (hi - lo) as u64;
        }
    }
    Ok(n)
}

fn cpu_self() -> f64 {
    // SAFETY: plain data filled by the kernel.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn tv(t: libc::timeval) -> f64 {
    t.tv_sec as f64 + t.tv_usec as f64 / 1e6
}

/// A bare consumer: poll and count, with the pipeline's fetch settings
/// (`source_kafka.rs`), so the two differ only in what happens to a message.
fn bare(a: &Args, topics: &[String], total: u64) -> anyhow::Result<Sample> {
    let load0 = loadavg();
    let cpu0 = cpu_self();
    let t0 = Instant::now();
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &a.brokers)
        .set("group.id", unique("kbbare"))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("queued.max.messages.kbytes", "32768")
        .set("enable.partition.eof", "false")
        .create()
        .map_err(|e| anyhow::anyhow!("bare consumer: {e}"))?;
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    c.subscribe(&names)
        .map_err(|e| anyhow::anyhow!("subscribe: {e}"))?;
    let (mut n, mut bytes) = (0u64, 0u64);
    let mut marks = Marks::new(total);
    while n < total {
        if t0.elapsed() > a.timeout {
            return Err(anyhow::anyhow!(
                "bare consumer: {n} of {total} messages after {:?}",
                a.timeout
            ));
        }
        match c.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                n += 1;
                bytes += m.payload_len() as u64;
                marks.see(n);
            }
            Some(Err(e)) => eprintln!("kafka-bench: bare consumer: {e}"),
            None => {}
        }
    }
    let total_secs = t0.elapsed().as_secs_f64();
    let steady = marks.steady(t0);
    drop(c);
    Ok(Sample {
        messages: n,
        bytes,
        total: total_secs,
        steady,
        cpu: cpu_self() - cpu0,
        threads: Vec::new(),
        rss_mb: 0.0,
        load: format!("{load0} → {}", loadavg()),
    })
}

/// Kills the child on drop, so an error never leaves a pipeline running.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// GET http://127.0.0.1:port/path.
fn http_get(port: u16, path: &str) -> std::io::Result<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").as_bytes(),
    )?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

/// Rows durable in the lake plus dead letters, from the Prometheus text.
fn landed(metrics: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| {
            l.starts_with("musicaly_rows_written_total{")
                || l.starts_with("musicaly_dead_letters_total{")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

fn free_port() -> anyhow::Result<u16> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| anyhow::anyhow!("free port: {e}"))
}

/// CPU seconds per thread of a live process, by name; repeated names (actix
/// arbiters, librdkafka broker threads) get `#k` in thread-creation order.
fn thread_cpu(pid: u32) -> Vec<(String, f64)> {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let mut rows: Vec<(u32, String, f64)> = dir
        .filter_map(|e| {
            let e = e.ok()?;
            let tid: u32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            // "tid (comm) state ... utime(14) stime(15)": comm may hold spaces.
            let (head, rest) = stat.rsplit_once(')')?;
            let comm = head.split_once('(')?.1.to_string();
            let f: Vec<&str> = rest.split_whitespace().collect();
            let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
            Some((tid, comm, ticks / hz))
        })
        .collect();
    rows.sort_by_key(|r| r.0);
    let mut seen: HashMap<String, usize> = HashMap::new();
    rows.into_iter()
        .map(|(_, comm, cpu)| {
            let k = seen.entry(comm.clone()).or_insert(0);
            *k += 1;
            (format!("{comm}#{k}"), cpu)
        })
        .collect()
}

fn pipeline(
    a: &Args,
    topics: &[String],
    total: u64,
    bytes: u64,
    run: usize,
) -> anyhow::Result<Sample> {
    let data = a.out.join(format!("run-{run}"));
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(&data).map_err(|e| anyhow::anyhow!("{}: {e}", data.display()))?;
    let port = free_port()?;
    let quoted: Vec<String> = topics.iter().map(|t| format!("\"{t}\"")).collect();
    let cfg = data.join("bench.toml");
    // Lake files roll every 2 s: the clock stops when every row is durable, and
    // rows become durable when their roll closes.
    std::fs::write(
        &cfg,
        format!(
            "[data]\ndir = \"{}\"\n[lake]\nfile_max_age_secs = 2\n[web]\nlisten = \"127.0.0.1:{port}\"\n[warehouse]\nenabled = false\n[kafka]\nbrokers = \"{}\"\ngroup_id = \"{}\"\ntopics = [{}]\nidle_exit_secs = 3\n",
            data.display(),
            a.brokers,
            unique("kbpipe"),
            quoted.join(", ")
        ),
    )
    .map_err(|e| anyhow::anyhow!("{}: {e}", cfg.display()))?;
    let load0 = loadavg();
    let t0 = Instant::now();
    let child = Command::new(musicaly_bin())
        .arg("pipeline")
        .arg("--config")
        .arg(&cfg)
        .env("RUST_LOG", "warn")
        .envs(a.pipeline_env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| anyhow::anyhow!("spawn pipeline: {e}"))?;
    let mut guard = Guard(child);
    let pid = guard.0.id();
    let mut marks = Marks::new(total);
    let (end, threads) = loop {
        if t0.elapsed() > a.timeout {
            return Err(anyhow::anyhow!("pipeline: not done after {:?}", a.timeout));
        }
        if let Ok(Some(s)) = guard.0.try_wait() {
            return Err(anyhow::anyhow!("pipeline exited early: {s}"));
        }
        if let Ok(m) = http_get(port, "/metrics") {
            let n = landed(&m);
            marks.see(n);
            if n >= total {
                break (Instant::now(), thread_cpu(pid));
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let total_secs = (end - t0).as_secs_f64();
    let load1 = loadavg();
    // The idle exit follows; wait4 gives the whole process's CPU time.
    let mut status = 0;
    // SAFETY: rusage is plain data, filled by wait4 for our own child.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let exit_by = Instant::now() + Duration::from_secs(120);
    loop {
        let r = unsafe { libc::wait4(pid as libc::pid_t, &mut status, libc::WNOHANG, &mut ru) };
        if r == pid as libc::pid_t {
            break;
        }
        if r < 0 {
            return Err(anyhow::anyhow!(
                "wait4: {}",
                std::io::Error::last_os_error()
            ));
        }
        if Instant::now() > exit_by {
            return Err(anyhow::anyhow!("pipeline did not exit after its idle time"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // Reaped by wait4: the guard's try_wait now fails, so it kills nothing.
    drop(guard);
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        return Err(anyhow::anyhow!("pipeline failed (wait status {status})"));
    }
    // The run's lake stays until every run is done (see `run`).
    Ok(Sample {
        messages: total,
        bytes,
        total: total_secs,
        steady: marks.steady(end),
        cpu: tv(ru.ru_utime) + tv(ru.ru_stime),
        threads,
        rss_mb: ru.ru_maxrss as f64 / 1024.0,
        load: format!("{load0} → {load1}"),
    })
}

fn median(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

fn run() -> anyhow::Result<()> {
    let a = parse_args()?;
    let prefix = match &a.reuse {
        Some(p) => p.clone(),
        None => unique("kb"),
    };
    let topics: Vec<String> = TABLES.iter().map(|t| format!("{prefix}.{t}")).collect();
    if a.reuse.is_none() {
        fill(&a, &prefix, &topics)?;
    }
    let total = count_messages(&a.brokers, &topics)?;
    if total == 0 {
        return Err(anyhow::anyhow!("no messages in {prefix}.*"));
    }
    eprintln!(
        "kafka-bench: {total} messages in {prefix}.* ({} partitions each)",
        a.partitions
    );
    let (mut bares, mut pipes) = (Vec::new(), Vec::new());
    for r in 1..=a.runs {
        let b = bare(&a, &topics, total)?;
        eprintln!(
            "kafka-bench: run {r} bare:     {:.2} s, {:.0} msg/s ({:.0} steady), {:.1} MB/s, cpu {:.1} s, load {}",
            b.total, b.rate(), b.steady_rate(), b.mb_s(), b.cpu, b.load
        );
        let p = pipeline(&a, &topics, total, b.bytes, r)?;
        eprintln!(
            "kafka-bench: run {r} pipeline: {:.2} s, {:.0} msg/s ({:.0} steady), {:.1} MB/s, cpu {:.1} s, peak RSS {:.0} MB, load {}",
            p.total, p.rate(), p.steady_rate(), p.mb_s(), p.cpu, p.rss_mb, p.load
        );
        let mut th = p.threads.clone();
        th.sort_by(|x, y| y.1.total_cmp(&x.1));
        let top: Vec<String> = th
            .iter()
            .filter(|t| t.1 >= 0.05)
            .map(|(n, c)| format!("{n} {c:.1}"))
            .collect();
        eprintln!(
            "kafka-bench: run {r} pipeline threads (CPU s): {}",
            top.join(", ")
        );
        bares.push(b);
        pipes.push(p);
    }
    let mb = bares[0].bytes as f64 / 1e6;
    println!(
        "{total} messages, {mb:.0} MB of payload, {} topics × {} partitions, {} runs (medians, min..max)\n",
        topics.len(),
        a.partitions,
        a.runs
    );
    println!(
        "| consumer | msg/s end-to-end | MB/s | msg/s steady (10–90 %) | CPU s | msg per CPU-s | peak RSS MB |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (name, s) in [
        ("bare rdkafka BaseConsumer", &bares),
        ("musicaly pipeline", &pipes),
    ] {
        let (r, rmin, rmax) = median(s.iter().map(Sample::rate).collect());
        let (m, _, _) = median(s.iter().map(Sample::mb_s).collect());
        let (st, smin, smax) = median(s.iter().map(Sample::steady_rate).collect());
        let (cpu, _, _) = median(s.iter().map(|x| x.cpu).collect());
        let (rss, _, _) = median(s.iter().map(|x| x.rss_mb).collect());
        let rss = if rss > 0.0 {
            format!("{rss:.0}")
        } else {
            "—".into()
        };
        println!(
            "| {name} | {r:.0} ({rmin:.0}..{rmax:.0}) | {m:.1} | {st:.0} ({smin:.0}..{smax:.0}) | {cpu:.1} | {:.0} | {rss} |",
            total as f64 / cpu
        );
    }
    // Deleted only now: ext4 avoids reusing an inode for some seconds after
    // its file is deleted, and with thousands of them just freed, creating a
    // file scans them all (`find_inode_bit` → `recently_deleted` was 8 % of
    // the pipeline's CPU when each run's ~3 000 files were deleted before the
    // next run).
    for r in 1..=a.runs {
        let _ = std::fs::remove_dir_all(a.out.join(format!("run-{r}")));
    }
    let ratio = |f: fn(&Sample) -> f64| {
        median(pipes.iter().map(f).collect()).0 / median(bares.iter().map(f).collect()).0
    };
    println!(
        "| **pipeline / bare** | **{:.2}** | | **{:.2}** | | | |",
        ratio(Sample::rate),
        ratio(Sample::steady_rate)
    );
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("kafka-bench: {e}");
        std::process::exit(1);
    }
}
