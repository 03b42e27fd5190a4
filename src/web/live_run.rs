//! `musicaly run --live`: the simulator paced to a clock running `--speedup`
//! times faster than the wall clock, through the in-process pipeline, with
//! the live dashboard served, until Ctrl-C. The whole system moving, with one
//! command and nothing else installed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::actors::live_rows::LiveRows;
use crate::actors::source_memory::{self, RunSummary};
use crate::actors::topology::Topology;
use crate::config::Settings;
use crate::event::Table;
use crate::metrics::Metrics;
use crate::sim::{SimError, Simulator};
use crate::sinks::lake::SinkError;
use crate::sinks::warehouse::{self, PeriodicLoad, WarehouseError};

#[derive(Debug, thiserror::Error)]
pub enum LiveRunError {
    #[error("web.listen / --listen {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error(transparent)]
    Sim(#[from] SimError),
    #[error(transparent)]
    Warehouse(#[from] WarehouseError),
}

/// How often the warehouse follows the lake during a live run: the
/// configured interval, but at most a minute, since a sped-up clock closes
/// hours quickly.
fn load_every(settings: &Settings) -> Duration {
    Duration::from_secs(settings.warehouse.load_interval_secs.clamp(1, 60))
}

/// Runs until Ctrl-C/SIGTERM or the simulated end, then flushes the stream
/// state, loads the warehouse and returns the run's summary.
pub fn run_live(
    settings: &Settings,
    sim: Simulator,
    listen: &str,
) -> Result<(RunSummary, Arc<Metrics>), LiveRunError> {
    let metrics = Arc::new(Metrics::default());
    let rows = LiveRows::new();
    let stop = Arc::new(AtomicBool::new(false));
    let db = settings.warehouse_path();
    let periodic = settings
        .warehouse
        .enabled
        .then(|| PeriodicLoad::start(settings.lake_location(), db.clone(), load_every(settings)));
    let summary = actix_rt::System::new().block_on({
        let metrics = metrics.clone();
        let db = db.clone();
        async move {
            let topo = Topology::start_with_live(settings, metrics.clone(), Some(rows.clone()))?;
            let state = super::state::WebState::pipeline(db, rows, topo.live.clone(), metrics);
            let running =
                super::start(listen, state)
                    .await
                    .map_err(|source| LiveRunError::Bind {
                        addr: listen.to_string(),
                        source,
                    })?;
            eprintln!(
                "dashboard (live): http://{}/ (Ctrl-C to stop)",
                running.addr
            );
            let flag = stop.clone();
            actix_rt::spawn(async move {
                super::wait_for_stop().await;
                tracing::info!("stopping the live run");
                flag.store(true, Ordering::Relaxed);
            });
            let r = source_memory::run_until(settings, &topo, sim, &Table::ALL, Some(stop)).await;
            let flushed = topo.flush_stream().await;
            running.handle.stop(true).await;
            topo.stop();
            flushed?;
            Ok::<_, LiveRunError>(r?)
        }
    })?;
    drop(periodic);
    if settings.warehouse.enabled {
        warehouse::load_from_lake(&settings.lake_location(), &db)?;
    }
    Ok((summary, metrics))
}
