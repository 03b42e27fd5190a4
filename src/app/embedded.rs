//! `musicaly run`: the simulator feeds the actor pipeline in-process (no Kafka),
//! the lake is written as `pipeline` would write it, then the warehouse is
//! loaded from the lake. Everything downstream of the source is the same code
//! as the Kafka pipeline's.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::AppError;
use crate::actors::{source_memory, topology::Topology};
use crate::config::Settings;
use crate::event::Table;
use crate::metrics::Metrics;
use crate::sim::{SimStats, Simulator};
use crate::sinks::{lake, warehouse};

/// What a run did.
#[derive(Debug)]
pub struct RunOutcome {
    pub sim: SimStats,
    pub elapsed: Duration,
    /// Lake rows written per table, in [`Table::ALL`] order.
    pub rows: [u64; 4],
    pub dead_letters: u64,
    /// Rows per warehouse table after the load; `None` when the warehouse is off.
    pub loaded: Option<warehouse::LoadReport>,
}

/// Runs `sim` through the in-process pipeline into the lake of `settings`,
/// then loads the warehouse. Unless `keep_lake`, a local lake's event tables and
/// the warehouse are cleared first, so they hold this run only.
pub fn run(settings: &Settings, sim: Simulator, keep_lake: bool) -> Result<RunOutcome, AppError> {
    let lake_loc = settings.lake_location();
    if !keep_lake {
        lake::clear_event_tables(&lake_loc)?;
    }
    let metrics = Arc::new(Metrics::default());
    let started = Instant::now();
    let summary = actix_rt::System::new().block_on({
        let settings = settings.clone();
        let metrics = metrics.clone();
        async move {
            let topo = Topology::start(&settings, metrics)?;
            let r = source_memory::run(&settings, &topo, sim, &Table::ALL).await;
            let flushed = topo.flush_stream().await;
            topo.stop();
            flushed?;
            Ok::<_, AppError>(r?)
        }
    })?;
    let errors = summary.errors();
    if !errors.is_empty() {
        return Err(AppError::Partitions(errors));
    }
    let elapsed = started.elapsed();
    let loaded = if settings.warehouse.enabled {
        let db = settings.warehouse_path();
        if !keep_lake {
            // The lake was cleared for this run, so is the warehouse.
            warehouse::reset(&db)?;
        }
        Some(warehouse::load_from_lake(&lake_loc, &db)?)
    } else {
        None
    };
    Ok(RunOutcome {
        sim: summary.sim,
        elapsed,
        rows: Table::ALL.map(|t| metrics.rows_written(t)),
        dead_letters: metrics.dead_letters_total(),
        loaded,
    })
}
