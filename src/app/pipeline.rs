//! `musicaly pipeline`: the Kafka source on its own thread feeding the actor
//! topology, the web face, and the warehouse following the lake, until a
//! signal (or `kafka.idle_exit_secs` of silence); then flush, commit, exit.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{signals, AppError};
use crate::actors::partition::PartitionSummary;
use crate::actors::{source_kafka, topology::Topology};
use crate::config::Settings;
use crate::messages::SourceId;
use crate::metrics::Metrics;
use crate::sinks::warehouse;

/// What a pipeline run did, per partition.
pub type Partitions = Vec<(SourceId, PartitionSummary)>;

/// Consumes until SIGTERM/SIGINT (or idle exit), then drains within
/// `pipeline.shutdown_timeout_secs`. Partitions that failed are an error after
/// everything else has stopped; the final warehouse load runs only when none did.
pub fn run(settings: &Settings, metrics: Arc<Metrics>) -> Result<Partitions, AppError> {
    let stop = CancellationToken::new();
    let timeout = Duration::from_secs(settings.pipeline.shutdown_timeout_secs);
    // Follows the lake hour by hour while consuming; stopped (and joined) before
    // the final load below, or when this function returns early.
    let periodic =
        (settings.warehouse.enabled && settings.warehouse.load_interval_secs > 0).then(|| {
            warehouse::PeriodicLoad::start(
                settings.lake_location(),
                settings.warehouse_path(),
                Duration::from_secs(settings.warehouse.load_interval_secs),
            )
        });
    // The live rows behind the dashboard's numbers of the hours not yet in
    // the warehouse (None when web.listen is off).
    let live_rows = crate::web::live_rows_for(settings)?;
    let results = actix_rt::System::new().block_on({
        let settings = settings.clone();
        async move {
            signals::cancel_on_signals(stop.clone());
            let topo = Topology::start_with_live(&settings, metrics.clone(), live_rows.clone())?;
            // systemd (Type=notify): READY after the lake probe and the group
            // join, STATUS, WATCHDOG from the data path, STOPPING (notify.rs).
            crate::notify::probe_lake(&topo.spawner.lake).await?;
            let _notifier = crate::notify::Notifier::start(metrics.clone(), stop.clone());
            if let Some(rows) = live_rows {
                let state = crate::web::WebState::pipeline(
                    settings.warehouse_path(),
                    rows,
                    topo.live.clone(),
                    metrics,
                );
                let running = crate::web::start(&settings.web.listen, state)
                    .await
                    .map_err(|source| AppError::WebBind {
                        addr: settings.web.listen.clone(),
                        source,
                    })?;
                eprintln!("dashboard (live): http://{}/", running.addr);
            }
            // The Kafka source polls on its own thread; the actors run here.
            let (tx, rx) = tokio::sync::oneshot::channel();
            let thread = {
                let settings = settings.clone();
                let spawner = topo.spawner.clone();
                let stop = stop.clone();
                std::thread::Builder::new()
                    .name("kafka-source".into())
                    .spawn(move || {
                        let _ = tx.send(source_kafka::run(&settings, spawner, stop));
                    })
                    .map_err(|source| AppError::Thread {
                        name: "kafka-source",
                        source,
                    })?
            };
            let polling = thread.thread().clone();
            tokio::pin!(rx);
            let r = tokio::select! {
                r = &mut rx => r,
                _ = stop.cancelled() => {
                    // Wake the polling thread now rather than at its next tick;
                    // the drain then gets shutdown_timeout_secs.
                    polling.unpark();
                    tokio::time::timeout(timeout, &mut rx)
                        .await
                        .map_err(|_| AppError::ShutdownTimeout(timeout.as_secs()))?
                }
            }
            .map_err(|_| AppError::Panicked("kafka-source"))?;
            let _ = thread.join();
            let flushed = topo.flush_stream().await;
            topo.stop();
            flushed?;
            Ok::<_, AppError>(r?)
        }
    })?;
    let failed: Vec<String> = results
        .iter()
        .filter_map(|(source, s)| s.error.as_ref().map(|e| format!("{source}: {e}")))
        .collect();
    if !failed.is_empty() {
        return Err(AppError::Partitions(failed));
    }
    drop(periodic);
    if settings.warehouse.enabled {
        let db = settings.warehouse_path();
        let loaded = warehouse::load_from_lake(&settings.lake_location(), &db)?;
        tracing::info!(warehouse = %db.display(), tables = ?loaded, "warehouse loaded");
    }
    Ok(results)
}
