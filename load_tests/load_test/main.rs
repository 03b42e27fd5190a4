//! `load-test`: drives `musicaly pipeline` (and the Spark job it replaces)
//! through a real Kafka broker at a fixed offered rate and measures what users
//! feel: end-to-end latency from each event's *intended* send time to durable in
//! the lake and to visible in the live view, consumer lag, memory and CPU of the
//! whole process tree; ramps the rate to find the highest sustained one; and
//! compares musicaly with the Spark peer and a bare consumer on the same events.
//!
//! ```text
//! cargo build --release --bin musicaly --bin load-test
//! target/release/load-test compare --out docs/bench          # short form (~3 min)
//! target/release/load-test compare --long --out docs/bench   # interleaved runs, ramps
//! target/release/load-test run --system musicaly --ramp 5000,10000,20000,40000
//! target/release/load-test scale --ramp 5000,10000,20000,40000
//! ```
//!
//! Each command writes `<out>/load-<command>.json` (config, machine, per run the
//! rates, latency percentiles, lag/RSS/CPU series, per-thread CPU and run-queue
//! waits) and `<out>/load-<command>.svg` (latency and lag over time). See
//! load_tests/README.md.

mod bare;
mod events;
mod lag;
mod lake_watch;
mod live;
mod plot;
mod proc_tree;
mod producer;
mod run;
mod systems;
mod util;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use serde_json::{json, Value};

use crate::producer::Step;
use crate::run::{Spec, TABLES};
use crate::systems::{Kind, Setup};
use crate::util::{median, nproc, unique};

#[derive(Parser)]
#[command(
    name = "load-test",
    about = "Open-loop load test of musicaly pipeline against the Spark job it replaces",
    long_about = "Open-loop load test of `musicaly pipeline` through a real Kafka broker.\n\n\
Events are simulated once, then produced at a fixed target rate, each stamped with its intended \
send time (`ts`), so a stall anywhere shows as latency instead of lowering the load (no \
coordinated omission). Latency: intended send -> durable in the lake (committed Parquet files, \
read back) and -> visible in the live view (/api/live latest_event_ms). Lag: broker high \
watermarks minus the system's committed offsets. Memory and CPU: the whole process tree.\n\n\
The machine may be shared: every result records the load average; figures from a loaded \
machine are not quiet-machine figures."
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// One system at fixed rate (--rate, --secs) or on a ramp (--ramp R1,R2,...).
    Run(RunArgs),
    /// musicaly, the Spark peer and the bare consumer side by side, interleaved.
    Compare(CompareArgs),
    /// Scale-out: 1, 2 and 3 pipelines in one group (each pinned), and a rebalance.
    Scale(ScaleArgs),
}

#[derive(Args, Clone)]
struct Common {
    /// Kafka bootstrap servers [default: 127.0.0.1:$MUSICALY_KAFKA_PORT, or 127.0.0.1:9092].
    #[arg(long)]
    brokers: Option<String>,
    /// Partitions of each of the four topics created per run.
    #[arg(long, default_value_t = 4)]
    partitions: i32,
    /// Simulated users behind the event pool.
    #[arg(long, default_value_t = 2000)]
    users: u64,
    /// Events simulated up front and replayed in a cycle (ts rewritten per send).
    #[arg(long, default_value_t = 300_000)]
    pool: usize,
    /// Durability interval, seconds: the pipeline's lake.file_max_age_secs and the
    /// Spark peer's processing-time trigger, so both commit equally often.
    #[arg(long, default_value_t = 5)]
    commit_secs: u64,
    /// A ramp step is sustained only if the lake p99 of its events is under this (ms).
    #[arg(long, default_value_t = 30_000)]
    p99_bound_ms: u64,
    /// Seconds per ramp step.
    #[arg(long, default_value_t = 30.0)]
    step_secs: f64,
    /// Where the results go: load-<command>.json and load-<command>.svg.
    #[arg(long, default_value = ".")]
    out: PathBuf,
    /// Scratch directory of the runs (lakes, checkpoints, logs) [default: a temp dir, removed].
    #[arg(long)]
    work: Option<PathBuf>,
    /// The musicaly binary [default: next to this one].
    #[arg(long)]
    musicaly: Option<PathBuf>,
    /// Spark install (venv + jars), made by load_tests/spark/install.sh on first use.
    #[arg(long, env = "MUSICALY_SPARK_HOME")]
    spark_home: Option<PathBuf>,
    /// Spark's local[N] [default: nproc].
    #[arg(long)]
    spark_cores: Option<usize>,
    /// Spark driver heap (spark-submit --driver-memory).
    #[arg(long, default_value = "1g")]
    spark_driver_memory: String,
    /// Seconds to wait for the first durable rows of every table.
    #[arg(long, default_value_t = 240)]
    warmup_timeout_secs: u64,
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    c: Common,
    /// musicaly or spark.
    #[arg(long, default_value = "musicaly")]
    system: String,
    /// Fixed rate, events/s (ignored with --ramp).
    #[arg(long, default_value_t = 5000.0)]
    rate: f64,
    /// Seconds at the fixed rate.
    #[arg(long, default_value_t = 60.0)]
    secs: f64,
    /// Ramp: the rates of the steps (--step-secs each), stopping at the first
    /// step whose lag grows without bound.
    #[arg(long, value_delimiter = ',')]
    ramp: Vec<f64>,
    /// Pipelines in the group (musicaly).
    #[arg(long, default_value_t = 1)]
    processes: usize,
    /// Spark's trigger in seconds, when it should differ from --commit-secs (the original: 120).
    #[arg(long)]
    spark_trigger_secs: Option<f64>,
}

#[derive(Args)]
struct CompareArgs {
    #[command(flatten)]
    c: Common,
    /// Offered rate of the fixed-rate runs, events/s.
    #[arg(long, default_value_t = 2000.0)]
    rate: f64,
    /// Seconds per fixed-rate run.
    #[arg(long, default_value_t = 30.0)]
    secs: f64,
    /// Interleaved repetitions (musicaly, spark, bare) [default: 1; 3 with --long].
    #[arg(long)]
    runs: Option<usize>,
    /// The long form (also MUSICALY_LONG=1): 3 interleaved runs, a ramp of each
    /// system, and Spark with the original's 120 s trigger.
    #[arg(long)]
    long: bool,
    /// Ramp rates of the long form.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "2000,5000,10000,20000,40000,80000"
    )]
    ramp: Vec<f64>,
    /// Events in the backlog the bare consumer drains.
    #[arg(long, default_value_t = 300_000)]
    backlog: usize,
}

#[derive(Args)]
struct ScaleArgs {
    #[command(flatten)]
    c: Common,
    /// Ramp rates for each group size.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "5000,10000,20000,40000,80000"
    )]
    ramp: Vec<f64>,
    /// Largest group.
    #[arg(long, default_value_t = 3)]
    max_processes: usize,
    /// Rate of the rebalance run (one pipeline, joined by others at 1/3 and 2/3).
    #[arg(long, default_value_t = 5000.0)]
    rebalance_rate: f64,
    #[arg(long, default_value_t = 90.0)]
    rebalance_secs: f64,
}

struct Ctx {
    setup: Setup,
    pool: Arc<events::Pool>,
    work: PathBuf,
    own_work: bool,
    c: Common,
}

fn default_brokers() -> String {
    match std::env::var("MUSICALY_KAFKA_PORT") {
        Ok(p) if !p.is_empty() => format!("127.0.0.1:{p}"),
        _ => std::env::var("MUSICALY_TEST_KAFKA").unwrap_or_else(|_| "127.0.0.1:9092".into()),
    }
}

fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The Spark install, made by install.sh when missing (it is idempotent and quick
/// when the cache is complete).
fn spark_home(c: &Common) -> Result<PathBuf> {
    let script = repo_file("load_tests/spark/install.sh");
    let mut cmd = std::process::Command::new(&script);
    if let Some(h) = &c.spark_home {
        cmd.env("MUSICALY_SPARK_HOME", h);
    }
    let out = cmd
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("run {}", script.display()))?;
    if !out.status.success() {
        bail!("{} failed ({})", script.display(), out.status);
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

fn context(c: &Common, need_spark: bool, pool_min: usize) -> Result<Ctx> {
    let musicaly = c.musicaly.clone().unwrap_or_else(|| {
        std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(|d| d.join("musicaly")))
            .unwrap_or_else(|| PathBuf::from("musicaly"))
    });
    if !musicaly.exists() {
        bail!(
            "{} not found: cargo build --release --bin musicaly",
            musicaly.display()
        );
    }
    let spark_home = if need_spark {
        spark_home(c)?
    } else {
        c.spark_home.clone().unwrap_or_default()
    };
    let setup = Setup {
        brokers: c.brokers.clone().unwrap_or_else(default_brokers),
        musicaly,
        commit_secs: c.commit_secs.max(1),
        spark_home,
        spark_peer: repo_file("load_tests/spark/peer.py"),
        spark_cores: c.spark_cores.unwrap_or_else(nproc),
        spark_trigger_secs: None,
        spark_driver_memory: c.spark_driver_memory.clone(),
    };
    let size = c.pool.max(pool_min).max(1000);
    eprintln!("load-test: simulating {size} events of {} users", c.users);
    let pool = Arc::new(events::Pool::generate(c.users, size, 1).map_err(anyhow::Error::msg)?);
    let (work, own_work) = match &c.work {
        Some(w) => (w.clone(), false),
        None => (std::env::temp_dir().join(unique("load-test-")), true),
    };
    std::fs::create_dir_all(&work).with_context(|| work.display().to_string())?;
    std::fs::create_dir_all(&c.out).with_context(|| c.out.display().to_string())?;
    Ok(Ctx {
        setup,
        pool,
        work,
        own_work,
        c: c.clone(),
    })
}

impl Ctx {
    fn spec(&self, label: &str, kind: Kind, steps: Vec<Step>, ramp: bool) -> Spec {
        let longest = if kind == Kind::Spark {
            self.setup
                .spark_trigger_secs
                .unwrap_or(0.0)
                .max(self.setup.commit_secs as f64)
        } else {
            self.setup.commit_secs as f64
        };
        Spec {
            label: label.into(),
            kind,
            steps,
            ramp,
            partitions: self.c.partitions,
            processes: 1,
            pin: Vec::new(),
            joins: Vec::new(),
            p99_bound_ms: self.c.p99_bound_ms,
            warmup_timeout: Duration::from_secs(self.c.warmup_timeout_secs),
            drain_timeout: Duration::from_secs_f64(60.0 + 3.0 * longest),
        }
    }

    fn ramp_steps(&self, rates: &[f64]) -> Vec<Step> {
        rates
            .iter()
            .map(|&rate| Step {
                rate,
                secs: self.c.step_secs,
            })
            .collect()
    }

    fn run(&self, spec: &Spec) -> Result<Value> {
        eprintln!("load-test: {} ({})", spec.label, spec.kind.name());
        let v = run::run(&self.setup, spec, &self.pool, &self.work).map_err(anyhow::Error::msg)?;
        eprintln!(
            "load-test: {}: produced {} durable {} in {} s, lake p50 {} p99 {} ms, cpu {} s, peak rss {} MB, sustained {}",
            spec.label,
            v["produced"],
            v["durable"],
            v["measured_wall_s"],
            v["lake"]["latency"]["p50_ms"],
            v["lake"]["latency"]["p99_ms"],
            v["cpu_s"],
            v["peak_rss_mb"],
            v["highest_sustained_rate"]
        );
        Ok(v)
    }

    fn config(&self) -> Value {
        json!({
            "brokers": self.setup.brokers,
            "partitions": self.c.partitions,
            "users": self.c.users,
            "pool_events": self.pool.len(),
            "pool_per_table": self.pool.per_table,
            "pool_payload_mb": (self.pool.payload_bytes() as f64 / 1e6).round(),
            "commit_secs": self.setup.commit_secs,
            "p99_bound_ms": self.c.p99_bound_ms,
            "step_secs": self.c.step_secs,
            "spark_cores": self.setup.spark_cores,
            "spark_driver_memory": self.setup.spark_driver_memory,
            "musicaly": self.setup.musicaly.display().to_string(),
            "args": std::env::args().collect::<Vec<_>>(),
        })
    }

    /// Writes the JSON and the SVG; returns the JSON's path.
    fn write(
        &self,
        name: &str,
        mut result: Value,
        plot_runs: &[&Value],
        title: &str,
    ) -> Result<PathBuf> {
        let svg_path = self.c.out.join(format!("load-{name}.svg"));
        result["plot"] = json!(svg_path
            .file_name()
            .map(|f| f.to_string_lossy().to_string()));
        std::fs::write(&svg_path, plot::svg(title, plot_runs))
            .with_context(|| svg_path.display().to_string())?;
        let json_path = self.c.out.join(format!("load-{name}.json"));
        std::fs::write(&json_path, serde_json::to_string_pretty(&result)? + "\n")
            .with_context(|| json_path.display().to_string())?;
        eprintln!(
            "load-test: wrote {} and {}",
            json_path.display(),
            svg_path.display()
        );
        Ok(json_path)
    }
}

impl Drop for Ctx {
    fn drop(&mut self) {
        if self.own_work {
            let _ = std::fs::remove_dir_all(&self.work);
        }
    }
}

fn kind(s: &str) -> Result<Kind> {
    match s {
        "musicaly" => Ok(Kind::Musicaly),
        "spark" => Ok(Kind::Spark),
        other => bail!("--system {other}: allowed values are musicaly and spark"),
    }
}

fn cmd_run(a: RunArgs) -> Result<()> {
    let k = kind(&a.system)?;
    let need = (a.rate * a.secs) as usize;
    let mut ctx = context(&a.c, k == Kind::Spark, need.min(2_000_000))?;
    ctx.setup.spark_trigger_secs = a.spark_trigger_secs;
    let (steps, ramp) = if a.ramp.is_empty() {
        (
            vec![Step {
                rate: a.rate,
                secs: a.secs,
            }],
            false,
        )
    } else {
        (ctx.ramp_steps(&a.ramp), true)
    };
    let mut spec = ctx.spec(&format!("{}-run", k.name()), k, steps, ramp);
    spec.processes = a.processes.max(1);
    let v = ctx.run(&spec)?;
    let result = json!({"command": "run", "config": ctx.config(), "machine": util::machine(), "runs": [v.clone()]});
    ctx.write(
        "run",
        result,
        &[&v],
        &format!("load-test run: {}", k.name()),
    )?;
    Ok(())
}

/// Medians of a field over a system's runs (None when no run has it).
fn med(runs: &[&Value], f: impl Fn(&Value) -> Option<f64>) -> Option<f64> {
    let v: Vec<f64> = runs.iter().filter_map(|r| f(r)).collect();
    (!v.is_empty()).then(|| median(v))
}

/// The sustained rate of a fixed-rate run: its rate when the step was sustained,
/// else what it made durable per second.
fn sustained(r: &Value) -> Option<f64> {
    r["highest_sustained_rate"]
        .as_f64()
        .or_else(|| r["durable_rate"].as_f64())
}

fn summary_row(system: &str, runs: &[&Value]) -> Value {
    let lat = |k: &'static str, q: &'static str| move |r: &Value| r[k]["latency"][q].as_f64();
    json!({
        "system": system,
        "runs": runs.len(),
        "sustained_rate": med(runs, sustained),
        "events_per_cpu_s": med(runs, |r| r["events_per_cpu_s"].as_f64()),
        "cores_used": med(runs, |r| r["cores_used"].as_f64()),
        "lake_p50_ms": med(runs, lat("lake", "p50_ms")),
        "lake_p99_ms": med(runs, lat("lake", "p99_ms")),
        "live_p50_ms": med(runs, lat("live", "p50_ms")),
        "live_p99_ms": med(runs, lat("live", "p99_ms")),
        "live_unavailable": runs.first().and_then(|r| r["live"]["unavailable"].as_str()),
        "peak_rss_mb": med(runs, |r| r["peak_rss_mb"].as_f64()),
        "cpu_s_per_million": med(runs, |r| r["cpu_s_per_million"].as_f64()),
        "not_durable_at_end": med(runs, |r| r["not_durable_at_end"].as_f64()),
        "startup_s": med(runs, |r| r["startup_s"].as_f64()),
    })
}

fn ratio(a: &Value, b: &Value, k: &str) -> Option<f64> {
    Some(a[k].as_f64()? / b[k].as_f64()?)
}

fn cmd_compare(a: CompareArgs) -> Result<()> {
    let long = a.long || std::env::var("MUSICALY_LONG").is_ok_and(|v| v == "1");
    let runs = a.runs.unwrap_or(if long { 3 } else { 1 }).max(1);
    let ctx = context(&a.c, true, a.backlog)?;
    // The bare consumer's backlog: the same events, filled once.
    let prefix = unique("ltbacklog");
    let backlog: [String; 4] = TABLES.map(|t| format!("{prefix}.{t}"));
    run::create_topics(&ctx.setup.brokers, &backlog, a.c.partitions).map_err(anyhow::Error::msg)?;
    eprintln!(
        "load-test: filling the bare consumer's backlog ({} events)",
        a.backlog
    );
    producer::fill(&ctx.setup.brokers, &ctx.pool, &backlog, a.backlog)
        .map_err(anyhow::Error::msg)?;
    let fixed = vec![Step {
        rate: a.rate,
        secs: a.secs,
    }];
    let mut all: Vec<Value> = Vec::new();
    let mut bares: Vec<Value> = Vec::new();
    for r in 1..=runs {
        for k in [Kind::Musicaly, Kind::Spark] {
            let spec = ctx.spec(&format!("{}-{r}", k.name()), k, fixed.clone(), false);
            all.push(ctx.run(&spec)?);
        }
        let b = bare::drain(
            &ctx.setup.brokers,
            &backlog,
            a.backlog as u64,
            &format!("bare-{r}"),
        )
        .map_err(anyhow::Error::msg)?;
        eprintln!("load-test: bare-{r}: {} msg/s steady", b["steady_rate"]);
        bares.push(b);
    }
    let mut extra: Vec<Value> = Vec::new();
    if long {
        for k in [Kind::Musicaly, Kind::Spark] {
            let spec = ctx.spec(
                &format!("{}-ramp", k.name()),
                k,
                ctx.ramp_steps(&a.ramp),
                true,
            );
            extra.push(ctx.run(&spec)?);
        }
        // The original's trigger, at the fixed rate.
        let mut c2 = Ctx {
            setup: ctx.setup.clone(),
            pool: ctx.pool.clone(),
            work: ctx.work.clone(),
            own_work: false,
            c: ctx.c.clone(),
        };
        c2.setup.spark_trigger_secs = Some(120.0);
        let spec = c2.spec("spark-trigger-120s", Kind::Spark, fixed.clone(), false);
        extra.push(c2.run(&spec)?);
    }
    let of = |sys: &str| -> Vec<&Value> { all.iter().filter(|r| r["system"] == sys).collect() };
    let m = summary_row("musicaly", &of("musicaly"));
    let s = summary_row("spark", &of("spark"));
    let bare_rate = median(
        bares
            .iter()
            .filter_map(|b| b["steady_rate"].as_f64())
            .collect(),
    );
    let b = json!({
        "system": "bare", "runs": bares.len(), "sustained_rate": bare_rate,
        "events_per_cpu_s": median(bares.iter().filter_map(|b| b["events_per_cpu_s"].as_f64()).collect()),
    });
    let ramp_rate = |sys: &str| {
        extra
            .iter()
            .find(|r| {
                r["system"] == sys && r["label"].as_str().is_some_and(|l| l.ends_with("-ramp"))
            })
            .and_then(|r| r["highest_sustained_rate"].as_f64())
    };
    let result = json!({
        "command": "compare",
        "form": if long { "long" } else { "short" },
        "config": ctx.config(),
        "fixed_rate": a.rate,
        "fixed_secs": a.secs,
        "machine": util::machine(),
        "summary": [m, s, b],
        "ratios_musicaly_over_spark": {
            "events_per_cpu_s": ratio(&m, &s, "events_per_cpu_s"),
            "peak_rss": ratio(&m, &s, "peak_rss_mb"),
            "lake_p99": ratio(&m, &s, "lake_p99_ms"),
            "cpu_s_per_million": ratio(&m, &s, "cpu_s_per_million"),
            "highest_sustained_rate": ramp_rate("musicaly").zip(ramp_rate("spark")).map(|(x, y)| x / y),
        },
        // Only from a ramp: a fixed-rate run's rate is what was offered.
        "musicaly_ramp_over_bare": ramp_rate("musicaly").map(|x| x / bare_rate),
        "highest_sustained_rate": {"musicaly": ramp_rate("musicaly"), "spark": ramp_rate("spark")},
        "notes": [
            "fixed-rate runs: sustained_rate is the offered rate when the run kept lag bounded, else the durable rate; the ramps (long form) give the highest sustained rate",
            "the Spark peer reproduces the original job's schemas: sessionid (lower case) and zip (integer) are NULL in every row of its output",
            "durable = a committed Parquet file read back: musicaly's rolls, Spark's files listed in _spark_metadata; both commit every commit_secs",
            "the bare consumer drains a backlog of the same events; its steady rate is the ceiling of any consumer here",
        ],
        "runs": all,
        "extra_runs": extra,
        "bare": bares,
    });
    let firsts: Vec<&Value> = ["musicaly-1", "spark-1"]
        .iter()
        .filter_map(|l| result["runs"].as_array()?.iter().find(|r| r["label"] == *l))
        .chain(result["extra_runs"].as_array().into_iter().flatten())
        .collect();
    let firsts: Vec<Value> = firsts.into_iter().cloned().collect();
    let refs: Vec<&Value> = firsts.iter().collect();
    let title = format!(
        "musicaly vs Spark peer, {} events/s for {} s (load avg {:?})",
        a.rate,
        a.secs,
        util::loadavg()
    );
    ctx.write("compare", result, &refs, &title)?;
    Ok(())
}

fn cmd_scale(a: ScaleArgs) -> Result<()> {
    let ctx = context(&a.c, false, 0)?;
    let cores = nproc();
    let pin = |n: usize| -> Vec<String> { (0..n).map(|i| (i % cores).to_string()).collect() };
    let mut runs = Vec::new();
    for n in 1..=a.max_processes.max(1) {
        let mut spec = ctx.spec(
            &format!("group-of-{n}"),
            Kind::Musicaly,
            ctx.ramp_steps(&a.ramp),
            true,
        );
        spec.processes = n;
        spec.pin = pin(n);
        runs.push(ctx.run(&spec)?);
    }
    let mut spec = ctx.spec(
        "rebalance",
        Kind::Musicaly,
        vec![Step {
            rate: a.rebalance_rate,
            secs: a.rebalance_secs,
        }],
        false,
    );
    spec.pin = pin(1);
    let more = pin(a.max_processes.max(1));
    spec.joins = (1..a.max_processes.max(1))
        .map(|i| {
            (
                a.rebalance_secs * i as f64 / a.max_processes as f64,
                more.get(i).cloned(),
            )
        })
        .collect();
    runs.push(ctx.run(&spec)?);
    let rates: Vec<Value> = runs
        .iter()
        .map(|r| json!({"label": r["label"], "processes": r["processes"], "highest_sustained_rate": r["highest_sustained_rate"]}))
        .collect();
    let result = json!({
        "command": "scale", "config": ctx.config(), "machine": util::machine(),
        "pinning": "pipeline i runs on core i mod nproc (taskset -c); the broker and the producer share the same cores",
        "group_rates": rates, "runs": runs,
    });
    let refs: Vec<&Value> = result["runs"]
        .as_array()
        .map(|v| v.iter().collect())
        .unwrap_or_default();
    let refs: Vec<Value> = refs.into_iter().cloned().collect();
    let r2: Vec<&Value> = refs.iter().collect();
    ctx.write(
        "scale",
        result.clone(),
        &r2,
        "musicaly scale-out: groups of 1..n pipelines, and a rebalance",
    )?;
    Ok(())
}

fn main() {
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Run(a) => cmd_run(a),
        Cmd::Compare(a) => cmd_compare(a),
        Cmd::Scale(a) => cmd_scale(a),
    };
    if let Err(e) = r {
        eprintln!("load-test: {e:#}");
        std::process::exit(1);
    }
}
