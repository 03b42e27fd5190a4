//! The process's HTTP face: Prometheus metrics, health, and the live view as
//! JSON. Deliberately tiny (GET only, one response per connection): it serves
//! scrapers and health checks on 127.0.0.1, not browsers at scale; the dashboard
//! issue brings a real web stack.

use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::actors::aggregate::Live;
use crate::metrics::Metrics;

/// Binds `addr` and serves until the process ends. Returns the bound address
/// (useful with port 0).
pub async fn serve(
    addr: &str,
    metrics: Arc<Metrics>,
    live: Live,
) -> std::io::Result<std::net::SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tracing::info!(%local, "serving /metrics, /health, /api/live");
    actix_rt::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                continue;
            };
            let (metrics, live) = (metrics.clone(), live.clone());
            actix_rt::spawn(async move {
                let mut buf = [0u8; 2048];
                let n = match sock.read(&mut buf).await {
                    Ok(n) => n,
                    Err(_) => return,
                };
                let req = String::from_utf8_lossy(&buf[..n]);
                let path = req.split_whitespace().nth(1).unwrap_or("/");
                let (status, ctype, body) = match path {
                    "/metrics" => (
                        "200 OK",
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        metrics.render_prometheus(),
                    ),
                    "/health" => ("200 OK", "text/plain", "ok\n".to_string()),
                    "/api/live" => {
                        let body = live
                            .read()
                            .map(|l| serde_json::to_string(&*l).unwrap_or_default())
                            .unwrap_or_default();
                        ("200 OK", "application/json", body)
                    }
                    _ => (
                        "404 Not Found",
                        "text/plain",
                        "try /metrics, /health or /api/live\n".to_string(),
                    ),
                };
                let resp = format!("HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
                let _ = sock.write_all(resp.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    Ok(local)
}
