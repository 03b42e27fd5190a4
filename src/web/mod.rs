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
pub mod state;

pub use state::{LiveObject, PipelineHealth, WebState};

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use actix_web::{web, App, HttpServer};

use crate::actors::live_rows::LiveRows;
use crate::sinks::warehouse;

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
        if !n.is_multiple_of(RELEASE_EVERY.as_secs()) || !state.db.exists() {
            continue;
        }
        let s = state.clone();
        let r = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<i64>> {
            let Some(live) = &s.live else {
                return Ok(Vec::new());
            };
            let _guard = warehouse::lock();
            let conn = warehouse::open(&s.db)?;
            Ok(live.release_loaded(&conn)?)
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
