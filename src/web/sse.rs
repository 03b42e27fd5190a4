//! `/api/stream`: Server-Sent Events. An `update` event on connect and
//! whenever the live numbers change (at most [`MIN_GAP`] apart, so a busy
//! stream costs the page a few fetches a second at most), and a `: keepalive`
//! comment every [`KEEPALIVE`] so proxies and browsers keep the connection.

use std::time::Duration;

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use bytes::Bytes;

use super::state::WebState;

pub const MIN_GAP: Duration = Duration::from_millis(250);
pub const KEEPALIVE: Duration = Duration::from_secs(15);

struct Conn {
    state: web::Data<WebState>,
    rx: Option<tokio::sync::watch::Receiver<crate::actors::live_rows::LiveStatus>>,
    first: bool,
    version: u64,
}

fn update(state: &WebState, version: u64) -> Bytes {
    let mut v = serde_json::to_value(state.live_object()).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert("version".into(), version.into());
    }
    Bytes::from(format!("event: update\ndata: {v}\n\n"))
}

pub async fn stream(state: web::Data<WebState>) -> HttpResponse {
    let rx = state.live.as_ref().map(|l| l.subscribe());
    let conn = Conn {
        state,
        rx,
        first: true,
        version: 0,
    };
    let body = futures::stream::unfold(conn, |mut c| async move {
        if c.first {
            c.first = false;
            c.version =
                c.rx.as_mut()
                    .map(|r| r.borrow_and_update().version)
                    .unwrap_or(0);
            let b = update(&c.state, c.version);
            return Some((Ok::<_, actix_web::Error>(b), c));
        }
        let changed = async {
            match c.rx.as_mut() {
                Some(r) => r.changed().await.is_ok(),
                None => std::future::pending().await,
            }
        };
        // Some(alive) when the numbers changed, None at a keepalive.
        let event = tokio::select! {
            ok = changed => Some(ok),
            _ = tokio::time::sleep(KEEPALIVE) => None,
        };
        match event {
            // The pipeline is gone: end the stream; the page reconnects.
            Some(false) => None,
            Some(true) => {
                tokio::time::sleep(MIN_GAP).await;
                if let Some(r) = c.rx.as_mut() {
                    c.version = r.borrow_and_update().version;
                }
                let b = update(&c.state, c.version);
                Some((Ok(b), c))
            }
            None => Some((Ok(Bytes::from_static(b": keepalive\n\n")), c)),
        }
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .streaming(body)
}
