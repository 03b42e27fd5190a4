//! The dashboard's HTTP server (actix-web): the embedded page, the JSON API
//! over the warehouse plus the live rows, Server-Sent Events, Prometheus
//! metrics and health. One server for `musicaly serve`, `run --serve`,
//! `run --live` and `pipeline` (`web.listen`).
//!
//! - `params.rs`: query parsing and validation (400 naming the parameter);
//! - `api.rs`: the handlers; `history.rs`: their queries;
//! - `sse.rs`: `/api/stream`; `assets.rs`: static files and security headers;
//! - `live_run.rs`: `run --live`.

pub mod api;
pub mod assets;
pub mod history;
pub mod live_run;
pub mod params;
pub mod sse;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, App, HttpServer};
use serde::Serialize;

use crate::actors::aggregate::Live;
use crate::actors::live_rows::LiveRows;
use crate::metrics::Metrics;
use crate::sinks::warehouse;

/// What the handlers read: the warehouse, and inside a running pipeline its
/// live rows, stream view and metrics.
pub struct WebState {
    pub db: PathBuf,
    pub live: Option<LiveRows>,
    /// The stream state's view (for the watermark).
    pub stream: Option<Live>,
    pub metrics: Option<Arc<Metrics>>,
    /// Messages per second over the last second, as f64 bits (sampled).
    rate: AtomicU64,
}

/// `/api/live` (and the data of every SSE update, plus `version`).
#[derive(Debug, Serialize)]
pub struct LiveObject {
    pub updated_ms: Option<i64>,
    pub watermark_ms: Option<i64>,
    pub latest_event_ms: Option<i64>,
    pub events_total: u64,
    pub pipeline: Option<PipelineHealth>,
}

#[derive(Debug, Serialize)]
pub struct PipelineHealth {
    pub events_per_sec: f64,
    /// Summed over partitions; null when the source has none (in-process).
    pub consumer_lag: Option<i64>,
    pub dead_letters: u64,
}

impl WebState {
    /// The finished data of a data dir (`serve`, `run --serve`).
    pub fn warehouse(db: PathBuf) -> WebState {
        WebState {
            db,
            live: None,
            stream: None,
            metrics: None,
            rate: AtomicU64::new(0),
        }
    }

    /// Inside a running pipeline (`pipeline`, `run --live`).
    pub fn pipeline(db: PathBuf, live: LiveRows, stream: Live, metrics: Arc<Metrics>) -> WebState {
        WebState {
            db,
            live: Some(live),
            stream: Some(stream),
            metrics: Some(metrics),
            rate: AtomicU64::new(0),
        }
    }

    pub fn live_object(&self) -> LiveObject {
        let status = self.live.as_ref().map(|l| l.status()).unwrap_or_default();
        let watermark_ms = self
            .stream
            .as_ref()
            .and_then(|s| s.read().ok().and_then(|v| v.watermark_ms));
        LiveObject {
            updated_ms: status.updated_ms,
            watermark_ms,
            latest_event_ms: status.latest_event_ms,
            events_total: status.events_total,
            pipeline: self.metrics.as_ref().map(|m| PipelineHealth {
                events_per_sec: f64::from_bits(self.rate.load(Relaxed)),
                consumer_lag: m.consumer_lag_total(),
                dead_letters: m.dead_letters_total(),
            }),
        }
    }

    /// Why `/readyz` says no: no data yet, or (in a pipeline) nothing consumed yet.
    pub fn not_ready(&self) -> Option<String> {
        let live_rows = self
            .live
            .as_ref()
            .is_some_and(|l| l.status().latest_event_ms.is_some());
        if !live_rows && !self.db.exists() {
            return Some(format!(
                "no data yet: no warehouse at {} and no live rows",
                self.db.display()
            ));
        }
        if let Some(m) = &self.metrics {
            if m.batches_in.load(Relaxed) == 0 {
                return Some("the pipeline has not consumed a batch yet".into());
            }
        }
        None
    }
}

/// A started server.
pub struct Running {
    pub addr: SocketAddr,
    pub handle: actix_web::dev::ServerHandle,
}

/// Binds `addr` and serves on the current actix system until stopped (the
/// handle) or the system ends. With live rows, also samples the event rate
/// every second and hands complete hours to the warehouse every
/// [`RELEASE_EVERY`].
pub async fn start(addr: &str, state: WebState) -> std::io::Result<Running> {
    let data = web::Data::new(state);
    let app_data = data.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(app_data.clone())
            .wrap(assets::security_headers())
            .route("/api/summary", web::get().to(api::summary))
            .route("/api/overview", web::get().to(api::overview))
            .route("/api/hourly", web::get().to(api::hourly))
            .route("/api/levels", web::get().to(api::levels))
            .route("/api/filters", web::get().to(api::filters))
            .route("/api/live", web::get().to(api::live))
            .route("/api/stream", web::get().to(sse::stream))
            .route("/api/{rest:.*}", web::get().to(api::unknown))
            .route("/metrics", web::get().to(api::metrics))
            .route("/healthz", web::get().to(api::healthz))
            .route("/health", web::get().to(api::healthz))
            .route("/readyz", web::get().to(api::readyz))
            .route("/", web::get().to(assets::file))
            .route("/{path:.*}", web::get().to(assets::file))
    })
    .workers(2)
    .disable_signals()
    .shutdown_timeout(1)
    .bind(addr)?;
    let addr = server
        .addrs()
        .first()
        .copied()
        .ok_or_else(|| std::io::Error::other("bound to no address"))?;
    let server = server.run();
    let handle = server.handle();
    actix_rt::spawn(server);
    if data.live.is_some() {
        actix_rt::spawn(background(data));
    }
    tracing::info!(%addr, "dashboard serving");
    Ok(Running { addr, handle })
}

/// How often complete live hours are offered to the warehouse.
pub const RELEASE_EVERY: Duration = Duration::from_secs(5);

async fn background(state: web::Data<WebState>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut last = (std::time::Instant::now(), 0u64);
    let mut n = 0u64;
    loop {
        tick.tick().await;
        if let Some(m) = &state.metrics {
            let now = (std::time::Instant::now(), m.messages_in.load(Relaxed));
            let secs = now.0.duration_since(last.0).as_secs_f64().max(1e-3);
            let rate = now.1.saturating_sub(last.1) as f64 / secs;
            state.rate.store(rate.to_bits(), Relaxed);
            last = now;
        }
        n += 1;
        if n % RELEASE_EVERY.as_secs() != 0 || !state.db.exists() {
            continue;
        }
        let s = state.clone();
        let r = tokio::task::spawn_blocking(move || -> Result<Vec<i64>, String> {
            let Some(live) = &s.live else {
                return Ok(Vec::new());
            };
            let _guard = warehouse::lock();
            let conn = warehouse::open(&s.db).map_err(|e| e.to_string())?;
            live.release_loaded(&conn).map_err(|e| e.to_string())
        })
        .await;
        match r {
            Ok(Ok(hours)) if !hours.is_empty() => {
                tracing::info!(hours = ?hours.iter().map(|h| crate::time::format_utc(*h)).collect::<Vec<_>>(), "live rows: hours handed to the warehouse")
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::debug!(error = %e, "live rows: release check failed; retrying"),
            Err(e) => tracing::warn!(error = %e, "live rows: release check panicked"),
        }
    }
}

/// Serves `state` on `addr` until Ctrl-C or SIGTERM (`musicaly serve`, `run
/// --serve`), printing the URL on stderr.
pub fn serve_until_stopped(addr: &str, state: WebState) -> std::io::Result<()> {
    actix_rt::System::new().block_on(async move {
        let running = start(addr, state).await?;
        eprintln!("dashboard: http://{}/ (Ctrl-C to stop)", running.addr);
        wait_for_stop().await;
        running.handle.stop(true).await;
        Ok(())
    })
}

/// Ctrl-C or SIGTERM.
pub async fn wait_for_stop() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = term => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

/// The live rows for a pipeline that serves the dashboard (`web.listen` set),
/// rebuilt from the lake's current hours; `None` without a server. Call it
/// before the actix system starts (it reads the lake synchronously).
pub fn live_rows_for(
    settings: &crate::config::Settings,
) -> Result<Option<LiveRows>, warehouse::WarehouseError> {
    if settings.web.listen.is_empty() {
        return Ok(None);
    }
    let lake = crate::sinks::lake::LakeStore::open(&settings.lake_location()).map_err(|e| {
        warehouse::WarehouseError::Lake {
            location: settings.lake_location(),
            message: e.to_string(),
        }
    })?;
    LiveRows::rebuild(&lake, &settings.warehouse_path()).map(Some)
}
