//! The command line's grammar (clap): every command, flag and its help text.
//! Part of the binary, not the library: `main.rs` turns these into calls of the
//! library.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use musicaly::sim::flags::SimFlags;
use musicaly::sim::Dialect;

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
    after_help = "Examples:\n  musicaly run                           simulate 100 users for a day, build lake + warehouse, print answers\n  musicaly run -n 2000 -s 2026-11-01 -e 2026-11-08 --data-dir /tmp/m\n  musicaly simulate -n 100 --stdout | head\n  musicaly simulate -n 1000 -k 127.0.0.1:9092\n  musicaly pipeline --brokers 127.0.0.1:9092 --data-dir /var/lib/musicaly\n  musicaly report --format json --state CA\n  musicaly run --serve                   the same run, then the dashboard on http://127.0.0.1:8080/\n  musicaly run --live --speedup 60       a live simulation through the pipeline, with the live dashboard\n\nConfiguration: config/default.toml documents every key; `musicaly config show` prints the effective values and their sources, `musicaly config check FILE` validates a file."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
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
    /// Serve the dashboard (page, JSON API, SSE) over a data dir's warehouse
    /// until Ctrl-C.
    Serve(ServeArgs),
    /// Print the BigQuery DDL (datasets, external tables over the GCS lake,
    /// hour-partitioned tables), or with --hour the load-job request bodies that
    /// (re)load those hours. Nothing is sent: see docs/BIGQUERY.md.
    Bigquery(BigqueryArgs),
    /// Check a config file (`config check FILE`) or print the effective
    /// configuration with each value's source (`config show [-c FILE]`, the default).
    Config(ConfigArgs),
}

#[derive(Args)]
pub struct RunArgs {
    /// Config files: a `.json` file is an eventsim config (the simulated site's
    /// state machine); any other file is a musicaly TOML config (see
    /// config/default.toml). May be given twice, once of each kind.
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Vec<PathBuf>,
    /// Where the lake and warehouse go [default: ./musicaly-data].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Partitions of the in-process source.
    #[arg(long)]
    pub partitions: Option<u32>,
    /// Directory of eventsim's own data files for the simulator (see `simulate --data-dir`).
    #[arg(long, value_name = "DIR")]
    pub sim_data_dir: Option<PathBuf>,
    #[command(flatten)]
    pub sim: SimFlags,
    /// Keep lake files of earlier runs (by default `run` clears the event tables
    /// of the lake first, so the warehouse reflects this run only).
    #[arg(long)]
    pub keep_lake: bool,
    /// After the run, serve the dashboard on its data until Ctrl-C.
    #[arg(long, conflicts_with = "live")]
    pub serve: bool,
    /// Simulate continuously (from --start-time or now, until --end-time or
    /// Ctrl-C) at --speedup times the wall clock, with the live dashboard served.
    #[arg(long)]
    pub live: bool,
    /// With --live: simulated seconds per wall-clock second.
    #[arg(long, value_name = "N", default_value_t = 60.0)]
    pub speedup: f64,
    /// With --serve or --live: where the dashboard listens (IP:PORT).
    #[arg(long, value_name = "IP:PORT", default_value = "127.0.0.1:8080")]
    pub listen: String,
}

#[derive(Args)]
pub struct SimulateArgs {
    /// eventsim JSON config file [default: the built-in config].
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub sim: SimFlags,
    /// Pace events to the wall clock (real-time mode, as the original pipeline ran).
    /// Starts now and runs until stopped unless a start/end is given.
    #[arg(long)]
    pub continuous: bool,
    /// With --continuous: the most events/s written while catching up with the
    /// wall clock (after a stall or from a start in the past).
    #[arg(long, value_name = "EVENTS_PER_S", default_value_t = 10_000.0)]
    pub catchup_rate: f64,
    /// Directory of eventsim's own data files (listen_counts.txt.gz, yob1990.txt,
    /// Top1000Surnames.csv, "user agents.txt") to use instead of the built-in
    /// catalogues; their encodings are repaired.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// musicaly TOML config file: with -k, its [kafka] security keys (TLS, SASL)
    /// apply to the producer.
    #[arg(long, value_name = "FILE")]
    pub settings: Option<PathBuf>,
    /// Write to Kafka at HOST:PORT[,HOST:PORT...], one message per event.
    #[arg(short = 'k', long = "kafkaBrokerList", value_name = "BROKERS")]
    pub kafka: Option<String>,
    /// Kafka messages without a key (eventsim's behaviour); by default the key is the user id.
    #[arg(long)]
    pub no_key: bool,
    /// Topic for the single-stream dialect on Kafka.
    #[arg(long, default_value = "events")]
    pub single_topic: String,
    /// Prefix of the four topics on Kafka, e.g. `staging.` for staging.listen_events
    /// (the pipeline routes `<anything>.<table>` to that table).
    #[arg(long, default_value = "")]
    pub topic_prefix: String,
    /// Write NDJSON to stdout.
    #[arg(long)]
    pub stdout: bool,
    /// Dialect: four topics (default) or eventsim's original single stream.
    #[arg(long, value_enum, default_value_t = Dialect::Four)]
    pub format: Dialect,
    /// Output: a directory (four-topic dialect) or a file (single-stream dialect).
    #[arg(value_name = "OUTPUT")]
    pub output: Option<PathBuf>,
}

#[derive(Args)]
pub struct PipelineArgs {
    /// musicaly TOML config file.
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Kafka bootstrap servers [default: kafka.brokers].
    #[arg(long, value_name = "HOST:PORT")]
    pub brokers: Option<String>,
    /// Consumer group id [default: kafka.group_id].
    #[arg(long, value_name = "ID")]
    pub group: Option<String>,
    /// Where the lake and warehouse go [default: data.dir].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Topics to read, comma separated [default: kafka.topics].
    #[arg(long, value_delimiter = ',')]
    pub topics: Option<Vec<String>>,
    /// Exit after this many seconds without a message (0: run until signalled).
    #[arg(long, value_name = "SECS")]
    pub idle_exit: Option<u64>,
    /// Serve the live dashboard, its API, /metrics and /healthz here (IP:PORT; empty to turn off) [default: web.listen].
    #[arg(long, value_name = "IP:PORT")]
    pub listen: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
}

#[derive(Args)]
pub struct ReportArgs {
    /// musicaly TOML config file.
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory holding warehouse.duckdb [default: data.dir].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Output format. json prints one object with the keys active_users,
    /// stream_hours, users_by_state, gender_composition, top_artists_gender,
    /// top_songs, top_artists.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Only listens at or after this time (ISO, UTC).
    #[arg(long, value_name = "T")]
    pub from: Option<String>,
    /// Only listens before this time (ISO, UTC).
    #[arg(long, value_name = "T")]
    pub to: Option<String>,
    /// Only listens from this state (2-letter code).
    #[arg(long, value_name = "XX")]
    pub state: Option<String>,
    /// Only listens from this city.
    #[arg(long, value_name = "NAME")]
    pub city: Option<String>,
}

#[derive(Args)]
pub struct ServeArgs {
    /// musicaly TOML config file.
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory holding warehouse.duckdb [default: data.dir].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Where to listen (IP:PORT; port 0 picks a free one).
    #[arg(long, value_name = "IP:PORT", default_value = "127.0.0.1:8080")]
    pub listen: String,
}

#[derive(Args)]
pub struct LoadArgs {
    /// musicaly TOML config file.
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory holding the lake and warehouse.duckdb [default: data.dir].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Load only this hour (ISO, UTC, truncated to the hour); may be repeated.
    #[arg(long, value_name = "T")]
    pub hour: Vec<String>,
    /// Reload hours even when their files are unchanged since the last load.
    #[arg(long)]
    pub force: bool,
}

#[derive(Args)]
pub struct BigqueryArgs {
    /// musicaly TOML config file (for lake.path).
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Google Cloud project.
    #[arg(long, env = "MUSICALY_BQ_PROJECT")]
    pub project: String,
    /// Dataset of the loaded tables and the dbt models.
    #[arg(long, env = "MUSICALY_BQ_DATASET", default_value = "musicaly")]
    pub dataset: String,
    /// Dataset of the external tables over the lake (the dbt sources).
    #[arg(
        long,
        env = "MUSICALY_BQ_LAKE_DATASET",
        default_value = "musicaly_lake"
    )]
    pub lake_dataset: String,
    /// BigQuery location of the datasets.
    #[arg(long, env = "MUSICALY_BQ_LOCATION", default_value = "US")]
    pub location: String,
    /// The GCS lake, gs://bucket/prefix [default: lake.path].
    #[arg(long, value_name = "GS_URL")]
    pub lake: Option<String>,
    /// Print the jobs.insert bodies loading this hour (ISO, UTC); may be repeated.
    #[arg(long, value_name = "T")]
    pub hour: Vec<String>,
}

#[derive(Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    pub action: Option<ConfigAction>,
    /// musicaly TOML config file (for `show`, the default action).
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Subcommand)]
pub enum ConfigAction {
    /// Validate a config file: exit 0 if musicaly would start with it, else
    /// exit 1 naming the key, the value and what is allowed. Writes nothing.
    Check {
        /// The musicaly TOML file to check (the environment's MUSICALY__* still apply).
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Print every effective value with its source (default, file, env, flag);
    /// secrets are masked.
    Show {
        /// musicaly TOML config file.
        #[arg(short = 'c', long = "config", value_name = "FILE")]
        config: Option<PathBuf>,
    },
}
