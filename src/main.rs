//! The `musicaly` command line: the edge where errors become messages (anyhow)
//! and exit codes. The grammar is in `cli.rs`; the work is in the library.

mod cli;

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use anyhow::{bail, Context as _, Result};
use clap::Parser as _;

use cli::{
    BigqueryArgs, Cli, Command, ConfigAction, Format, LoadArgs, PipelineArgs, ReportArgs, RunArgs,
    SimulateArgs,
};
use musicaly::app::{self, AppError};
use musicaly::config::{Overrides, Settings};
use musicaly::event::Table;
use musicaly::metrics::Metrics;
use musicaly::report::{self, Filter};
use musicaly::sim::flags::Defaults;
use musicaly::sim::{self, catalog::Catalog, model, Dialect, Simulator};
use musicaly::sinks::{lake, warehouse};
use musicaly::time::{format_utc, parse_utc};

fn main() {
    musicaly::alloc::init();
    let cli = Cli::parse();
    if let Err(e) = dispatch(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn dispatch(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Run(a) => cmd_run(a),
        Command::Simulate(a) => cmd_simulate(a),
        Command::Pipeline(a) => cmd_pipeline(a),
        Command::Load(a) => cmd_load(a),
        Command::Report(a) => cmd_report(a),
        Command::Serve(a) => {
            let mut o = Overrides::new();
            data_dir_override(&mut o, &a.data_dir);
            let settings = Settings::load(a.config.as_deref(), &o)?;
            init_logging(&settings);
            let state = musicaly::web::WebState::warehouse(settings.warehouse_path());
            musicaly::web::serve_until_stopped(&a.listen, state)
                .with_context(|| format!("--listen {}", a.listen))
        }
        Command::Bigquery(a) => cmd_bigquery(a),
        Command::Config(a) => match a.action {
            Some(ConfigAction::Check { file }) => {
                Settings::load(Some(&file), &vec![])?;
                println!("{}: ok", file.display());
                Ok(())
            }
            Some(ConfigAction::Show { config }) => config_show(config.or(a.config).as_deref()),
            None => config_show(a.config.as_deref()),
        },
    }
}

/// Logs to stderr: colour only on a terminal, json when `log.format = "json"`.
fn init_logging(s: &Settings) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&s.log.level));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = if s.log.format == "json" {
        b.json().try_init()
    } else {
        b.try_init()
    };
}

fn config_show(file: Option<&Path>) -> Result<()> {
    let list = musicaly::config::show::effective(file, &vec![])?;
    print!("{}", musicaly::config::show::render(&list));
    Ok(())
}

fn data_dir_override(o: &mut Overrides, dir: &Option<PathBuf>) {
    if let Some(d) = dir {
        o.push(("data.dir", d.to_string_lossy().into_owned()));
    }
}

fn load_model(path: Option<&Path>) -> Result<model::Model> {
    let cfg = match path {
        Some(p) => model::EventsimConfig::from_file(p)?,
        None => model::EventsimConfig::builtin(),
    };
    Ok(model::Model::compile(cfg)?)
}

fn load_catalog(data_dir: Option<&Path>) -> Result<Catalog> {
    Ok(match data_dir {
        Some(d) => Catalog::with_eventsim_data(d)?,
        None => Catalog::builtin()?,
    })
}

/// An error of the library, with a hint for the user when retrying can help.
fn app_error(e: AppError) -> anyhow::Error {
    if e.retryable() {
        anyhow::anyhow!("{e}\n(the cause is outside musicaly; running the command again once it is fixed resumes where it stopped)")
    } else {
        anyhow::Error::new(e)
    }
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
    init_logging(&settings);
    let sim_path = sim_cfgs.first().map(|p| p.to_path_buf()).or_else(|| {
        (!settings.simulate.config.is_empty()).then(|| PathBuf::from(&settings.simulate.config))
    });
    let model = load_model(sim_path.as_deref())?;
    let opts = a.sim.resolve(
        &model,
        &Defaults {
            start_time: settings.simulate.start_time.clone(),
            end_time: settings.simulate.end_time.clone(),
            from_days: 1.0,
            to_days: 0.0,
            nusers: settings.simulate.nusers,
            seed: Some(settings.simulate.seed),
            continuous: a.live,
            dialect: Dialect::Four,
            progress: !a.live,
            catchup_rate: 10_000.0,
            speedup: a.speedup,
        },
    )?;
    if a.live && !(a.speedup.is_finite() && a.speedup > 0.0) {
        bail!(
            "--speedup {}: give a positive number of simulated seconds per second",
            a.speedup
        );
    }
    tracing::info!(users = opts.nusers, start = %format_utc(opts.start_ms), end = %format_utc(opts.end_ms), seed = opts.seed, lake = %settings.lake_location(), "run: simulating into the in-process pipeline");
    let sim = Simulator::new(model, load_catalog(a.sim_data_dir.as_deref())?, opts)?;
    if a.live {
        if !a.keep_lake {
            warehouse::reset(&settings.warehouse_path())?;
        }
        let (summary, metrics) = musicaly::web::live_run::run_live(&settings, sim, &a.listen)?;
        let errors = summary.errors();
        if !errors.is_empty() {
            bail!("the pipeline failed:\n  {}", errors.join("\n  "));
        }
        eprintln!(
            "live run stopped: {} messages in",
            metrics.messages_in.load(Ordering::Relaxed)
        );
        return Ok(());
    }
    let out = app::embedded::run(&settings, sim, a.keep_lake).map_err(app_error)?;
    let secs = out.elapsed.as_secs_f64();
    eprintln!(
        "simulated {} users, {} sessions, {} events in {:.1}s ({:.0} events/s)",
        out.sim.users,
        out.sim.sessions,
        out.sim.events,
        secs,
        out.sim.events as f64 / secs.max(1e-3)
    );
    for t in Table::ALL {
        eprintln!(
            "  lake {:<22} {:>10} rows (produced {})",
            t.name(),
            out.rows[t.index()],
            out.sim.messages[t.index()]
        );
    }
    if out.dead_letters > 0 {
        eprintln!("  dead letters: {}", out.dead_letters);
    }
    if let Some(loaded) = out.loaded {
        let db = settings.warehouse_path();
        eprintln!("warehouse {} loaded: {}", db.display(), counts(&loaded));
        let r = report::compute(&db, &Filter::default())?;
        println!("{}", report::to_table(&r));
        if a.serve {
            let state = musicaly::web::WebState::warehouse(db);
            musicaly::web::serve_until_stopped(&a.listen, state)
                .with_context(|| format!("--listen {}", a.listen))?;
        }
    }
    Ok(())
}

/// `table rows, table rows, ...` of a load.
fn counts(loaded: &warehouse::LoadReport) -> String {
    loaded
        .iter()
        .map(|(t, n)| format!("{t} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn cmd_simulate(a: SimulateArgs) -> Result<()> {
    let settings = Settings::load(a.settings.as_deref(), &vec![])?;
    init_logging(&settings);
    let model = load_model(a.config.as_deref())?;
    let opts = a.sim.resolve(
        &model,
        &Defaults {
            start_time: String::new(),
            end_time: String::new(),
            from_days: 15.0,
            to_days: 1.0,
            nusers: 1,
            seed: None,
            continuous: a.continuous,
            dialect: a.format,
            progress: !a.stdout,
            catchup_rate: a.catchup_rate,
            speedup: 1.0,
        },
    )?;
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
    let mut s = Simulator::new(model, load_catalog(a.data_dir.as_deref())?, opts)?;
    let started = std::time::Instant::now();
    let stats = match s.run(out.as_mut()) {
        // `simulate --stdout | head`: the reader has what it wanted.
        Err(sim::SimError::Closed) => return Ok(()),
        r => r?,
    };
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "{} events ({} users, {} sessions) in {:.1}s: {:.0} events/s; messages: {}",
        stats.events,
        stats.users,
        stats.sessions,
        secs,
        stats.events as f64 / secs.max(1e-3),
        stats.messages_summary()
    );
    // The process ends here: its tables are given back by the exit, not freed one by one.
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
    if let Some(t) = a.topics {
        settings.kafka.topics = t;
        settings.validate()?;
    }
    init_logging(&settings);
    let metrics = Arc::new(Metrics::default());
    let result = app::pipeline::run(&settings, metrics.clone());
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
    for (source, s) in result.map_err(app_error)? {
        tracing::info!(%source, batches = s.batches, messages = s.messages, committed = ?s.committed, "partition done");
    }
    Ok(())
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
        counts(&loaded)
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
    let input = report::FilterInput {
        from: a.from,
        to: a.to,
        state: a.state,
        city: a.city,
    };
    let filter = Filter::parse(&input, report::Naming::Flag)?;
    let db = settings.warehouse_path();
    if !db.exists() {
        bail!("no warehouse at {}: run `musicaly run` or `musicaly pipeline` first, or pass --data-dir", db.display());
    }
    let r = musicaly::web::history::report_checked(&db, &filter)?;
    match a.format {
        Format::Table => print!("{}", report::to_table(&r)),
        Format::Json => println!("{}", serde_json::to_string_pretty(&r)?),
        Format::Csv => print!("{}", report::to_csv(&r)),
    }
    Ok(())
}
