//! The `musicaly` command line: the edge where errors become messages (anyhow).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context as _, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};

use musicaly::actors::{source_kafka, source_memory, topology::Topology};
use musicaly::config::{Overrides, Settings};
use musicaly::event::Table;
use musicaly::metrics::Metrics;
use musicaly::report::{self, Filter};
use musicaly::sim::{self, catalog::Catalog, model, Dialect, SimOptions, Simulator};
use musicaly::sinks::{lake, warehouse};
use musicaly::time::{format_utc, now_ms, parse_utc};

/// Music-streaming analytics in one program.
///
/// musicaly simulates a music-streaming service (eventsim-compatible), streams its
/// events through an actor pipeline (from Kafka or in-process) into a Parquet lake
/// and a DuckDB warehouse, and answers: how many users are active, how many hours
/// they stream and where; the gender mix of users and of the top artists'
/// audiences; the top songs and artists.
///
/// Start with `musicaly run`: it needs nothing else and prints the answers.
#[derive(Parser)]
#[command(
    name = "musicaly",
    version,
    propagate_version = true,
    after_help = "Examples:\n  musicaly run                           simulate 100 users for a day, build lake + warehouse, print answers\n  musicaly run -n 2000 -s 2026-11-01 -e 2026-11-08 --data-dir /tmp/m\n  musicaly simulate -n 100 --stdout | head\n  musicaly simulate -n 1000 -k 127.0.0.1:9092\n  musicaly pipeline --brokers 127.0.0.1:9092 --data-dir /var/lib/musicaly\n  musicaly report --format json --state CA\n\nConfiguration: config/default.toml documents every key; `musicaly config` prints the effective values."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Simulate users, run them through the pipeline in-process, load the
    /// warehouse and print the answers (the embedded default: no Kafka, no cloud).
    Run(RunArgs),
    /// Generate events like eventsim: to Kafka (-k), to stdout (--stdout), or to
    /// files under OUTPUT (one NDJSON file per topic, `<topic>.json`).
    Simulate(SimulateArgs),
    /// Consume the event topics from Kafka into the lake (and the warehouse) until
    /// SIGTERM/SIGINT, then flush, commit and exit 0.
    Pipeline(PipelineArgs),
    /// Load lake hours into the warehouse (incremental and idempotent: an hour
    /// loaded again replaces itself). By default every hour whose files changed.
    Load(LoadArgs),
    /// Answer the three questions from the warehouse.
    Report(ReportArgs),
    /// Print the BigQuery DDL (datasets, external tables over the GCS lake,
    /// hour-partitioned tables), or with --hour the load-job request bodies that
    /// (re)load those hours. Nothing is sent: see docs/BIGQUERY.md.
    Bigquery(BigqueryArgs),
    /// Print the effective configuration (defaults + file + environment + flags) as TOML.
    Config(ConfigArgs),
}

/// eventsim's flags, shared by `run` and `simulate`.
#[derive(Args, Clone, Default)]
struct SimFlags {
    /// Number of users at the start [default: simulate.nusers for run, 1 for simulate].
    #[arg(short = 'n', long = "nusers")]
    nusers: Option<u64>,
    /// Annual growth rate of the user base (0.1 = +10 % a year) [default: 0].
    #[arg(short = 'g', long = "growth-rate")]
    growth_rate: Option<f64>,
    /// Start of simulated time, ISO date-time in UTC (2026-11-01T00:00:00 or 2026-11-01).
    #[arg(short = 's', long = "start-time")]
    start_time: Option<String>,
    /// End of simulated time, ISO date-time in UTC.
    #[arg(short = 'e', long = "end-time")]
    end_time: Option<String>,
    /// Start at now minus this many days, when --start-time is not given [default: 15 for simulate].
    #[arg(long = "from", value_name = "DAYS")]
    from_days: Option<f64>,
    /// End at now minus this many days, when --end-time is not given [default: 1 for simulate].
    #[arg(long = "to", value_name = "DAYS")]
    to_days: Option<f64>,
    /// Id of the first user [default: 1].
    #[arg(short = 'u', long = "userid")]
    userid: Option<i64>,
    /// Random seed: the same seed and flags give the same events, byte for byte.
    #[arg(short = 'r', long = "randomseed")]
    seed: Option<u64>,
    /// Adds a `tag` field with this value to every event.
    #[arg(long)]
    tag: Option<String>,
    /// Generator threads; the output is byte-identical for any value [default: 1].
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
}

#[derive(Args)]
struct RunArgs {
    /// Config files: a `.json` file is an eventsim config (the simulated site's
    /// state machine); any other file is a musicaly TOML config (see
    /// config/default.toml). May be given twice, once of each kind.
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    config: Vec<PathBuf>,
    /// Where the lake and warehouse go [default: ./musicaly-data].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Partitions of the in-process source.
    #[arg(long)]
    partitions: Option<u32>,
    /// Directory of eventsim's own data files for the simulator (see `simulate --data-dir`).
    #[arg(long, value_name = "DIR")]
    sim_data_dir: Option<PathBuf>,
    #[command(flatten)]
    sim: SimFlags,
    /// Keep lake files of earlier runs (by default `run` clears the event tables
    /// of the lake first, so the warehouse reflects this run only).
    #[arg(long)]
    keep_lake: bool,
}

#[derive(Args)]
struct SimulateArgs {
    /// eventsim JSON config file [default: the built-in config].
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(flatten)]
    sim: SimFlags,
    /// Pace events to the wall clock (real-time mode, as the original pipeline ran).
    /// Starts now and runs until stopped unless a start/end is given.
    #[arg(long)]
    continuous: bool,
    /// With --continuous: the most events/s written while catching up with the
    /// wall clock (after a stall or from a start in the past).
    #[arg(long, value_name = "EVENTS_PER_S", default_value_t = 10_000.0)]
    catchup_rate: f64,
    /// Directory of eventsim's own data files (listen_counts.txt.gz, yob1990.txt,
    /// Top1000Surnames.csv, "user agents.txt") to use instead of the built-in
    /// catalogues; their encodings are repaired.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// musicaly TOML config file: with -k, its [kafka] security keys (TLS, SASL)
    /// apply to the producer.
    #[arg(long, value_name = "FILE")]
    settings: Option<PathBuf>,
    /// Write to Kafka at HOST:PORT[,HOST:PORT...], one message per event.
    #[arg(short = 'k', long = "kafkaBrokerList", value_name = "BROKERS")]
    kafka: Option<String>,
    /// Kafka messages without a key (eventsim's behaviour); by default the key is the user id.
    #[arg(long)]
    no_key: bool,
    /// Topic for the single-stream dialect on Kafka.
    #[arg(long, default_value = "events")]
    single_topic: String,
    /// Prefix of the four topics on Kafka, e.g. `staging.` for staging.listen_events
    /// (the pipeline routes `<anything>.<table>` to that table).
    #[arg(long, default_value = "")]
    topic_prefix: String,
    /// Write NDJSON to stdout.
    #[arg(long)]
    stdout: bool,
    /// Dialect: four topics (default) or eventsim's original single stream.
    #[arg(long, value_enum, default_value_t = Dialect::Four)]
    format: Dialect,
    /// Output: a directory (four-topic dialect) or a file (single-stream dialect).
    #[arg(value_name = "OUTPUT")]
    output: Option<PathBuf>,
}

#[derive(Args)]
struct PipelineArgs {
    /// musicaly TOML config file.
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Kafka bootstrap servers [default: kafka.brokers].
    #[arg(long, value_name = "HOST:PORT")]
    brokers: Option<String>,
    /// Consumer group id [default: kafka.group_id].
    #[arg(long, value_name = "ID")]
    group: Option<String>,
    /// Where the lake and warehouse go [default: data.dir].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Topics to read, comma separated [default: kafka.topics].
    #[arg(long, value_delimiter = ',')]
    topics: Option<Vec<String>>,
    /// Exit after this many seconds without a message (0: run until signalled).
    #[arg(long, value_name = "SECS")]
    idle_exit: Option<u64>,
    /// Serve /metrics, /health and /api/live here (IP:PORT; empty to turn off) [default: web.listen].
    #[arg(long, value_name = "IP:PORT")]
    listen: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Json,
    Csv,
}

#[derive(Args)]
struct ReportArgs {
    /// musicaly TOML config file.
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data directory holding warehouse.duckdb [default: data.dir].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Output format. json prints one object with the keys active_users,
    /// stream_hours, users_by_state, gender_composition, top_artists_gender,
    /// top_songs, top_artists.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Only listens at or after this time (ISO, UTC).
    #[arg(long, value_name = "T")]
    from: Option<String>,
    /// Only listens before this time (ISO, UTC).
    #[arg(long, value_name = "T")]
    to: Option<String>,
    /// Only listens from this state (2-letter code).
    #[arg(long, value_name = "XX")]
    state: Option<String>,
    /// Only listens from this city.
    #[arg(long, value_name = "NAME")]
    city: Option<String>,
}

#[derive(Args)]
struct LoadArgs {
    /// musicaly TOML config file.
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data directory holding the lake and warehouse.duckdb [default: data.dir].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Load only this hour (ISO, UTC, truncated to the hour); may be repeated.
    #[arg(long, value_name = "T")]
    hour: Vec<String>,
    /// Reload hours even when their files are unchanged since the last load.
    #[arg(long)]
    force: bool,
}

#[derive(Args)]
struct BigqueryArgs {
    /// musicaly TOML config file (for lake.path).
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Google Cloud project.
    #[arg(long, env = "MUSICALY_BQ_PROJECT")]
    project: String,
    /// Dataset of the loaded tables and the dbt models.
    #[arg(long, env = "MUSICALY_BQ_DATASET", default_value = "musicaly")]
    dataset: String,
    /// Dataset of the external tables over the lake (the dbt sources).
    #[arg(
        long,
        env = "MUSICALY_BQ_LAKE_DATASET",
        default_value = "musicaly_lake"
    )]
    lake_dataset: String,
    /// BigQuery location of the datasets.
    #[arg(long, env = "MUSICALY_BQ_LOCATION", default_value = "US")]
    location: String,
    /// The GCS lake, gs://bucket/prefix [default: lake.path].
    #[arg(long, value_name = "GS_URL")]
    lake: Option<String>,
    /// Print the jobs.insert bodies loading this hour (ISO, UTC); may be repeated.
    #[arg(long, value_name = "T")]
    hour: Vec<String>,
}

#[derive(Args)]
struct ConfigArgs {
    /// musicaly TOML config file.
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    config: Option<PathBuf>,
}

fn main() {
    limit_malloc_arenas();
    let cli = Cli::parse();
    if let Err(e) = dispatch(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

/// glibc gives each thread that allocates its own arena (up to 8 per core);
/// with decoders, lake writers, stream state and librdkafka threads freeing
/// batch-sized buffers across threads, that kept up to twice the live memory
/// resident and broke `pipeline.memory_limit_mb` (docs/BENCHMARKS.md, "Memory
/// bound"). Two arenas cost no measurable throughput here. `MALLOC_ARENA_MAX`
/// in the environment still wins.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets an allocator parameter; called before any
        // other thread exists.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

/// Even with two arenas, glibc keeps memory freed in the middle of its heaps
/// resident: in a Kafka backfill its arenas held 929 MB of which 130–290 MB
/// were in use, with `pipeline.memory_limit_mb = 256` (docs/BENCHMARKS.md,
/// "Memory bound"). `malloc_trim(0)` gives free pages anywhere in the heaps back
/// to the kernel (10–40 ms each time in that backfill; peak RSS 1.15 GB →
/// 0.51 GB). It is not free: every page given back is faulted in again when
/// reused (page faults and the trims were ~8 % of a backfill's CPU when trimming
/// every second), so the long-running commands check once a second and trim only
/// while resident memory is above half of `pipeline.memory_limit_mb`.
fn spawn_malloc_trimmer(limit_bytes: u64) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let above = limit_bytes / 2;
        let spawned = std::thread::Builder::new()
            .name("malloc-trim".into())
            .spawn(move || loop {
                std::thread::sleep(std::time::Duration::from_secs(1));
                if resident_bytes().is_some_and(|r| r <= above) {
                    continue;
                }
                // SAFETY: malloc_trim only hands free memory back to the kernel
                // and takes each arena's lock; it is safe from any thread.
                unsafe {
                    libc::malloc_trim(0);
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start the malloc trimmer; memory may stay resident after use");
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = limit_bytes;
}

/// This process's resident memory (`/proc/self/statm`, second field, in pages).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf only reads a system constant.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page).ok()?)
}

fn dispatch(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Run(a) => cmd_run(a),
        Command::Simulate(a) => cmd_simulate(a),
        Command::Pipeline(a) => cmd_pipeline(a),
        Command::Load(a) => cmd_load(a),
        Command::Report(a) => cmd_report(a),
        Command::Bigquery(a) => cmd_bigquery(a),
        Command::Config(a) => {
            let s = Settings::load(a.config.as_deref(), &vec![])?;
            print!("{}", musicaly::config::render_toml(&s));
            Ok(())
        }
    }
}

fn init_logging(s: &Settings) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&s.log.level));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if s.log.format == "json" {
        b.json().try_init()
    } else {
        b.try_init()
    };
}

fn data_dir_override(o: &mut Overrides, dir: &Option<PathBuf>) {
    if let Some(d) = dir {
        o.push(("data.dir", d.to_string_lossy().into_owned()));
    }
}

/// Resolves eventsim's time flags: explicit times win, then --from/--to days
/// before now, then the given defaults.
fn time_range(
    f: &SimFlags,
    default_start: &str,
    default_end: &str,
    default_from_days: f64,
    default_to_days: f64,
) -> Result<(i64, i64)> {
    let day = 86_400_000.0;
    let hour = 3_600_000;
    let now = now_ms();
    let end = match (&f.end_time, f.to_days) {
        (Some(e), _) => parse_utc(e)?,
        (None, Some(d)) => now - (d * day) as i64,
        (None, None) if !default_end.is_empty() => parse_utc(default_end)?,
        (None, None) => now - (default_to_days * day) as i64,
    };
    let end = if f.end_time.is_none() && default_end.is_empty() {
        end - end.rem_euclid(hour)
    } else {
        end
    };
    let start = match (&f.start_time, f.from_days) {
        (Some(s), _) => parse_utc(s)?,
        (None, Some(d)) => now - (d * day) as i64,
        (None, None) if !default_start.is_empty() => parse_utc(default_start)?,
        (None, None) => {
            let t = now - (default_from_days * day) as i64;
            t - t.rem_euclid(hour)
        }
    };
    if end <= start {
        bail!(
            "end time {} is not after start time {}; check -s/--start-time and -e/--end-time",
            format_utc(end),
            format_utc(start)
        );
    }
    Ok((start, end))
}

/// The musicaly setting when set, else the eventsim config's value.
fn or_config<'a>(setting: &'a str, cfg: &'a Option<String>) -> &'a str {
    if setting.is_empty() {
        cfg.as_deref().unwrap_or("")
    } else {
        setting
    }
}

fn load_model(path: Option<&Path>) -> Result<model::Model> {
    let cfg = match path {
        Some(p) => model::EventsimConfig::from_file(p)?,
        None => model::EventsimConfig::builtin(),
    };
    Ok(model::Model::compile(cfg)?)
}

fn cmd_run(a: RunArgs) -> Result<()> {
    let (sim_cfgs, toml_cfgs): (Vec<_>, Vec<_>) = a
        .config
        .iter()
        .partition(|p| p.extension().is_some_and(|e| e == "json"));
    if sim_cfgs.len() > 1 || toml_cfgs.len() > 1 {
        bail!("--config: give at most one eventsim .json config and one musicaly .toml config");
    }
    let mut o = Overrides::new();
    data_dir_override(&mut o, &a.data_dir);
    if let Some(p) = a.partitions {
        o.push(("pipeline.partitions", p.to_string()));
    }
    let settings = Settings::load(toml_cfgs.first().map(|p| p.as_path()), &o)?;
    spawn_malloc_trimmer(settings.pipeline.memory_limit_mb << 20);
    init_logging(&settings);
    let sim_path = sim_cfgs.first().map(|p| p.to_path_buf()).or_else(|| {
        (!settings.simulate.config.is_empty()).then(|| PathBuf::from(&settings.simulate.config))
    });
    let model = load_model(sim_path.as_deref())?;
    let (start_ms, end_ms) = time_range(
        &a.sim,
        or_config(&settings.simulate.start_time, &model.cfg.start_date),
        or_config(&settings.simulate.end_time, &model.cfg.end_date),
        1.0,
        0.0,
    )?;
    let opts = SimOptions {
        nusers: a
            .sim
            .nusers
            .or(model.cfg.n_users.map(|n| n as u64))
            .unwrap_or(settings.simulate.nusers),
        growth_rate: a.sim.growth_rate.or(model.cfg.growth_rate).unwrap_or(0.0),
        start_ms,
        end_ms,
        first_user_id: a
            .sim
            .userid
            .or(model.cfg.first_user_id.map(|x| x as i64))
            .unwrap_or(1),
        seed: a.sim.seed.unwrap_or(settings.simulate.seed),
        tag: a.sim.tag.clone().or(model.cfg.tag.clone()),
        dialect: Dialect::Four,
        continuous: false,
        progress: true,
        threads: a.sim.threads.unwrap_or(1),
        catchup_rate: 10_000.0,
    };
    let lake_loc = settings.lake_location();
    if !a.keep_lake && !lake_loc.contains("://") {
        for t in Table::ALL
            .iter()
            .map(|t| t.name())
            .chain([lake::DEAD_LETTERS])
        {
            let p = Path::new(&lake_loc).join(t);
            if p.exists() {
                std::fs::remove_dir_all(&p).with_context(|| {
                    format!("clearing {} (use --keep-lake to keep it)", p.display())
                })?;
            }
        }
    }
    tracing::info!(users = opts.nusers, start = %format_utc(start_ms), end = %format_utc(end_ms), seed = opts.seed, lake = %lake_loc, "run: simulating into the in-process pipeline");
    let catalog = match &a.sim_data_dir {
        Some(d) => Catalog::with_eventsim_data(d)?,
        None => Catalog::builtin()?,
    };
    let sim = Simulator::new(model, catalog, opts)?;
    let metrics = Arc::new(Metrics::default());
    let started = std::time::Instant::now();
    let summary = actix_rt::System::new().block_on({
        let settings = settings.clone();
        let metrics = metrics.clone();
        async move {
            let topo = Topology::start(&settings, metrics)?;
            let r = source_memory::run(&settings, &topo, sim, &Table::ALL).await;
            let flushed = topo.flush_stream().await;
            topo.stop();
            flushed?;
            anyhow::Ok(r?)
        }
    })?;
    let errors = summary.errors();
    if !errors.is_empty() {
        bail!("the pipeline failed:\n  {}", errors.join("\n  "));
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "simulated {} users, {} sessions, {} events in {:.1}s ({:.0} events/s)",
        summary.sim.users,
        summary.sim.sessions,
        summary.sim.events,
        secs,
        summary.sim.events as f64 / secs.max(1e-3)
    );
    for t in Table::ALL {
        eprintln!(
            "  lake {:<22} {:>10} rows (produced {})",
            t.name(),
            metrics.rows_written(t),
            summary.sim.messages[t.index()]
        );
    }
    if metrics.dead_letters_total() > 0 {
        eprintln!("  dead letters: {}", metrics.dead_letters_total());
    }
    if settings.warehouse.enabled {
        let db = settings.warehouse_path();
        if !a.keep_lake {
            // The lake was cleared for this run, so is the warehouse.
            warehouse::reset(&db)?;
        }
        let loaded = warehouse::load_from_lake(&lake_loc, &db)?;
        eprintln!(
            "warehouse {} loaded: {}",
            db.display(),
            loaded
                .iter()
                .map(|(t, n)| format!("{t} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let r = report::compute(&db, &Filter::default())?;
        println!("{}", report::to_table(&r));
    }
    Ok(())
}

fn cmd_simulate(a: SimulateArgs) -> Result<()> {
    let settings = Settings::load(a.settings.as_deref(), &vec![])?;
    init_logging(&settings);
    let model = load_model(a.config.as_deref())?;
    let cfg_start = model.cfg.start_date.clone().unwrap_or_default();
    let cfg_end = model.cfg.end_date.clone().unwrap_or_default();
    let (start_ms, end_ms) = if a.continuous {
        // Real time: from now (unless told otherwise) and without end (unless told).
        let now = now_ms();
        let explicit_start =
            a.sim.start_time.is_some() || a.sim.from_days.is_some() || !cfg_start.is_empty();
        let explicit_end =
            a.sim.end_time.is_some() || a.sim.to_days.is_some() || !cfg_end.is_empty();
        let (s, e) = time_range(&a.sim, &cfg_start, &cfg_end, 0.0, -36_500.0)?;
        (
            if explicit_start { s } else { now },
            if explicit_end { e } else { i64::MAX / 4 },
        )
    } else {
        time_range(&a.sim, &cfg_start, &cfg_end, 15.0, 1.0)?
    };
    let opts = SimOptions {
        nusers: a
            .sim
            .nusers
            .or(model.cfg.n_users.map(|n| n as u64))
            .unwrap_or(1),
        growth_rate: a.sim.growth_rate.or(model.cfg.growth_rate).unwrap_or(0.0),
        start_ms,
        end_ms,
        first_user_id: a
            .sim
            .userid
            .or(model.cfg.first_user_id.map(|x| x as i64))
            .unwrap_or(1),
        seed: a.sim.seed.or(model.cfg.seed.map(|s| s as u64)).unwrap_or(0),
        tag: a.sim.tag.clone().or(model.cfg.tag.clone()),
        dialect: a.format,
        continuous: a.continuous,
        progress: !a.stdout,
        threads: a.sim.threads.unwrap_or(1),
        catchup_rate: a.catchup_rate,
    };
    let mut out: Box<dyn sim::Emit> = match (&a.kafka, a.stdout, &a.output) {
        (Some(b), false, None) => Box::new(sim::output::KafkaOutput::new(
            &musicaly::config::KafkaSettings {
                brokers: b.clone(),
                ..settings.kafka.clone()
            },
            !a.no_key,
            &a.single_topic,
            &a.topic_prefix,
        )?),
        (None, true, None) => Box::new(sim::output::StdoutOutput::new()?),
        (None, false, Some(p)) if a.format == Dialect::Four => {
            Box::new(sim::output::FileOutput::directory(p)?)
        }
        (None, false, Some(p)) => Box::new(sim::output::FileOutput::single_file(p)?),
        (None, false, None) => {
            bail!("say where to write: -k/--kafkaBrokerList HOST:PORT, --stdout, or an OUTPUT path")
        }
        _ => bail!("give exactly one of -k/--kafkaBrokerList, --stdout and OUTPUT"),
    };
    let catalog = match &a.data_dir {
        Some(d) => Catalog::with_eventsim_data(d)?,
        None => Catalog::builtin()?,
    };
    let mut s = Simulator::new(model, catalog, opts)?;
    let started = std::time::Instant::now();
    let stats = match s.run(out.as_mut()) {
        // `simulate --stdout | head`: the reader has what it wanted.
        Err(sim::SimError::Closed) => return Ok(()),
        r => r?,
    };
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "{} events ({} users, {} sessions) in {:.1}s: {:.0} events/s; messages per topic: {}",
        stats.events,
        stats.users,
        stats.sessions,
        secs,
        stats.events as f64 / secs.max(1e-3),
        Table::ALL
            .iter()
            .map(|t| format!("{t} {}", stats.messages[t.index()]))
            .collect::<Vec<_>>()
            .join(", ")
    );
    // The process ends here: freeing the simulator's tables and catalogues
    // (some 40 k small allocations) one by one would cost ~7 M instructions,
    // 2 % of a 100 k-user start-up, for memory the exit gives back anyway.
    std::mem::forget(s);
    Ok(())
}

fn cmd_pipeline(a: PipelineArgs) -> Result<()> {
    let mut o = Overrides::new();
    data_dir_override(&mut o, &a.data_dir);
    if let Some(b) = &a.brokers {
        o.push(("kafka.brokers", b.clone()));
    }
    if let Some(g) = &a.group {
        o.push(("kafka.group_id", g.clone()));
    }
    if let Some(s) = a.idle_exit {
        o.push(("kafka.idle_exit_secs", s.to_string()));
    }
    if let Some(l) = &a.listen {
        o.push(("web.listen", l.clone()));
    }
    let mut settings = Settings::load(a.config.as_deref(), &o)?;
    spawn_malloc_trimmer(settings.pipeline.memory_limit_mb << 20);
    if let Some(t) = a.topics {
        settings.kafka.topics = t;
        settings.validate()?;
    }
    init_logging(&settings);
    let metrics = Arc::new(Metrics::default());
    let stop = Arc::new(AtomicBool::new(false));
    let timeout = std::time::Duration::from_secs(settings.pipeline.shutdown_timeout_secs);
    // Follows the lake hour by hour while consuming; stopped (and joined) before
    // the final load below, or when this function returns early.
    let periodic =
        (settings.warehouse.enabled && settings.warehouse.load_interval_secs > 0).then(|| {
            warehouse::PeriodicLoad::start(
                settings.lake_location(),
                settings.warehouse_path(),
                std::time::Duration::from_secs(settings.warehouse.load_interval_secs),
            )
        });
    let results = actix_rt::System::new().block_on({
        let settings = settings.clone();
        let metrics = metrics.clone();
        let stop = stop.clone();
        async move {
            spawn_signal_watch(stop.clone());
            let topo = Topology::start(&settings, metrics.clone())?;
            if !settings.web.listen.is_empty() {
                musicaly::web::serve(&settings.web.listen, metrics, topo.live.clone())
                    .await
                    .with_context(|| format!("web.listen {}: cannot bind (is another musicaly running? set web.listen = \"\" to turn it off)", settings.web.listen))?;
            }
            // The Kafka source polls on its own thread; the actors run here.
            let (tx, rx) = tokio::sync::oneshot::channel();
            let thread = {
                let settings = settings.clone();
                let spawner = topo.spawner.clone();
                let stop = stop.clone();
                std::thread::Builder::new().name("kafka-source".into()).spawn(move || {
                    let _ = tx.send(source_kafka::run(&settings, spawner, stop));
                })?
            };
            let r = {
                tokio::pin!(rx);
                // Once a stop is requested, the drain gets shutdown_timeout_secs.
                loop {
                    tokio::select! {
                        r = &mut rx => break r.map_err(|_| anyhow::anyhow!("the Kafka source thread panicked"))?,
                        _ = tokio::time::sleep(std::time::Duration::from_millis(200)) => {
                            if stop.load(Ordering::Relaxed) {
                                break tokio::time::timeout(timeout, &mut rx).await.map_err(|_| anyhow::anyhow!("shutdown took longer than pipeline.shutdown_timeout_secs ({}s); uncommitted batches will be re-read on restart", timeout.as_secs()))?.map_err(|_| anyhow::anyhow!("the Kafka source thread panicked"))?;
                            }
                        }
                    }
                }
            };
            let _ = thread.join();
            let flushed = topo.flush_stream().await;
            topo.stop();
            flushed?;
            anyhow::Ok(r?)
        }
    })?;
    let mut failed = Vec::new();
    for (source, s) in &results {
        tracing::info!(%source, batches = s.batches, messages = s.messages, committed = ?s.committed, "partition done");
        if let Some(e) = &s.error {
            failed.push(format!("{source}: {e}"));
        }
    }
    eprintln!(
        "pipeline stopped: {} messages in, {} dead letters; rows: {}",
        metrics.messages_in.load(Ordering::Relaxed),
        metrics.dead_letters_total(),
        Table::ALL
            .iter()
            .map(|t| format!("{t} {}", metrics.rows_written(*t)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if !failed.is_empty() {
        bail!(
            "partitions failed (their data will be re-read on restart):\n  {}",
            failed.join("\n  ")
        );
    }
    drop(periodic);
    if settings.warehouse.enabled {
        let db = settings.warehouse_path();
        let loaded = warehouse::load_from_lake(&settings.lake_location(), &db)?;
        tracing::info!(warehouse = %db.display(), tables = ?loaded, "warehouse loaded");
    }
    Ok(())
}

fn spawn_signal_watch(stop: Arc<AtomicBool>) {
    actix_rt::spawn(async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, "cannot listen for SIGTERM");
                    return;
                }
            };
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: stopping"),
            _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: stopping"),
        }
        stop.store(true, Ordering::Relaxed);
    });
}

fn cmd_load(a: LoadArgs) -> Result<()> {
    let mut o = Overrides::new();
    data_dir_override(&mut o, &a.data_dir);
    let settings = Settings::load(a.config.as_deref(), &o)?;
    init_logging(&settings);
    let lake = lake::LakeStore::open(&settings.lake_location())?;
    let db = settings.warehouse_path();
    let mode = if a.force {
        warehouse::Mode::Force
    } else {
        warehouse::Mode::Changed
    };
    let started = std::time::Instant::now();
    let loaded = if a.hour.is_empty() {
        warehouse::load_all(&lake, &db, mode)?
    } else {
        let hours = a
            .hour
            .iter()
            .map(|h| parse_utc(h))
            .collect::<Result<Vec<_>, _>>()?;
        warehouse::load_hours(&lake, &db, &hours, mode)?
    };
    eprintln!(
        "warehouse {} loaded in {:.2}s: {}",
        db.display(),
        started.elapsed().as_secs_f64(),
        loaded
            .iter()
            .map(|(t, n)| format!("{t} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

fn cmd_bigquery(a: BigqueryArgs) -> Result<()> {
    let settings = Settings::load(a.config.as_deref(), &vec![])?;
    let lake_loc = a.lake.clone().unwrap_or_else(|| settings.lake_location());
    let t = musicaly::sinks::bigquery::Target::new(
        &a.project,
        &a.lake_dataset,
        &a.dataset,
        &lake_loc,
        &a.location,
    )?;
    if a.hour.is_empty() {
        print!("{}", musicaly::sinks::bigquery::ddl(&t));
    } else {
        for h in &a.hour {
            for job in musicaly::sinks::bigquery::load_jobs(&t, parse_utc(h)?) {
                println!("{}", serde_json::to_string(&job)?);
            }
        }
    }
    Ok(())
}

fn cmd_report(a: ReportArgs) -> Result<()> {
    let mut o = Overrides::new();
    data_dir_override(&mut o, &a.data_dir);
    let settings = Settings::load(a.config.as_deref(), &o)?;
    init_logging(&settings);
    let filter = Filter {
        from_ms: a.from.as_deref().map(parse_utc).transpose()?,
        to_ms: a.to.as_deref().map(parse_utc).transpose()?,
        state: a.state,
        city: a.city,
    };
    let db = settings.warehouse_path();
    if !db.exists() {
        bail!("no warehouse at {}: run `musicaly run` or `musicaly pipeline` first, or pass --data-dir", db.display());
    }
    let r = report::compute(&db, &filter)?;
    match a.format {
        Format::Table => print!("{}", report::to_table(&r)),
        Format::Json => println!("{}", serde_json::to_string_pretty(&r)?),
        Format::Csv => print!("{}", report::to_csv(&r)),
    }
    Ok(())
}
