//! The `/api/*` handlers (contract: the dashboard API notes, summarised in
//! the README's "Dashboard" section). Each parses its query string
//! ([`params`]), then runs its queries on the blocking pool ([`history`]).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;

use super::history::{HistoryError, Session};
use super::params::{self, ApiError};
use super::state::WebState;
use crate::report::{Filter, Naming};

impl From<HistoryError> for ApiError {
    fn from(e: HistoryError) -> ApiError {
        match e {
            HistoryError::Filter(f) => f.into(),
            e @ HistoryError::Busy { .. } => ApiError::unavailable(e.to_string()),
            e => ApiError::internal(e.to_string()),
        }
    }
}

/// Parses the filter, opens a session with the live rows, checks the state,
/// and answers with `f`'s value as JSON.
async fn answer<T, F>(
    req: &HttpRequest,
    state: web::Data<WebState>,
    f: F,
) -> Result<HttpResponse, ApiError>
where
    T: Serialize + Send + 'static,
    F: FnOnce(&Session, &Filter) -> Result<T, HistoryError> + Send + 'static,
{
    let filter = params::filter(req.query_string())?;
    let out = web::block(move || -> Result<T, HistoryError> {
        let snap = state.live.as_ref().map(|l| l.snapshot());
        let s = Session::open(&state.db, snap.as_ref())?;
        s.check(&filter, Naming::Query, false)?;
        f(&s, &filter)
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))??;
    Ok(HttpResponse::Ok().json(out))
}

pub async fn summary(
    req: HttpRequest,
    state: web::Data<WebState>,
) -> Result<HttpResponse, ApiError> {
    answer(&req, state, |s, f| s.summary(f)).await
}

pub async fn overview(
    req: HttpRequest,
    state: web::Data<WebState>,
) -> Result<HttpResponse, ApiError> {
    answer(&req, state, |s, f| s.overview(f)).await
}

pub async fn hourly(
    req: HttpRequest,
    state: web::Data<WebState>,
) -> Result<HttpResponse, ApiError> {
    answer(&req, state, |s, f| s.hourly(f)).await
}

pub async fn levels(
    req: HttpRequest,
    state: web::Data<WebState>,
) -> Result<HttpResponse, ApiError> {
    answer(&req, state, |s, f| s.levels(f)).await
}

/// Ignores state and city (the lists are what they choose from) but still
/// rejects what the other endpoints reject.
pub async fn filters(
    req: HttpRequest,
    state: web::Data<WebState>,
) -> Result<HttpResponse, ApiError> {
    answer(&req, state, |s, _| s.filters()).await
}

pub async fn live(req: HttpRequest, state: web::Data<WebState>) -> Result<HttpResponse, ApiError> {
    params::filter(req.query_string())?;
    Ok(HttpResponse::Ok().json(state.live_object()))
}

pub async fn metrics(state: web::Data<WebState>) -> HttpResponse {
    let body = state
        .metrics
        .as_ref()
        .map(|m| m.render_prometheus())
        .unwrap_or_default();
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(body)
}

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok\n")
}

pub async fn readyz(state: web::Data<WebState>) -> HttpResponse {
    match state.not_ready() {
        None => HttpResponse::Ok()
            .content_type("text/plain")
            .body("ready\n"),
        Some(why) => HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body(format!("{why}\n")),
    }
}

/// Anything else under /api/: a JSON 404.
pub async fn unknown(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError {
        status: actix_web::http::StatusCode::NOT_FOUND,
        message: format!(
            "no endpoint {}; try /api/summary, /api/overview, /api/hourly, /api/levels, /api/filters, /api/live or /api/stream",
            req.path()
        ),
    })
}
