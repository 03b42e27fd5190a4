//! Query parameters of the `/api/*` endpoints: parsed and checked here, the
//! filter itself by [`report::Filter::parse`] (shared with `musicaly report`).
//! Anything that cannot mean something is a 400 naming the parameter.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use crate::report::{self, Filter, FilterInput, Naming};

/// The parameters every endpoint takes.
pub const PARAMS: [&str; 4] = ["from", "to", "state", "city"];

/// An API error: the status and the message of the JSON body `{"error": ...}`.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: message.into(),
        }
    }

    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: message.into(),
        }
    }
}

impl From<report::FilterError> for ApiError {
    fn from(e: report::FilterError) -> ApiError {
        ApiError::bad_request(e.to_string())
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status).json(serde_json::json!({ "error": self.message }))
    }
}

/// The raw inputs of a query string: each of [`PARAMS`] at most once; an
/// empty value counts as absent (a form's unselected field).
pub fn inputs(query: &str) -> Result<FilterInput, ApiError> {
    let mut input = FilterInput::default();
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        let slot = match k.as_ref() {
            "from" => &mut input.from,
            "to" => &mut input.to,
            "state" => &mut input.state,
            "city" => &mut input.city,
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown parameter {other:?}; the parameters are {}",
                    PARAMS.join(", ")
                )))
            }
        };
        if slot.is_some() {
            return Err(ApiError::bad_request(format!("{k}: given more than once")));
        }
        if !v.trim().is_empty() {
            *slot = Some(v.into_owned());
        }
    }
    Ok(input)
}

/// The filter of a query string.
pub fn filter(query: &str) -> Result<Filter, ApiError> {
    Ok(Filter::parse(&inputs(query)?, Naming::Query)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(q: &str) -> String {
        filter(q).unwrap_err().message
    }

    #[test]
    fn parameters_are_checked_and_named() {
        let f =
            filter("from=2026-11-01&to=2026-11-02T06:00:00Z&state=CA&city=Los%20Angeles").unwrap();
        assert_eq!(f.from_ms, Some(1_793_491_200_000));
        assert_eq!(f.to_ms, Some(1_793_491_200_000 + 30 * 3_600_000));
        assert_eq!(f.state.as_deref(), Some("CA"));
        assert_eq!(f.city.as_deref(), Some("Los Angeles"));
        assert_eq!(filter("").unwrap(), Filter::default());
        assert_eq!(filter("state=&city=").unwrap(), Filter::default());
        assert!(err("foo=1").contains("unknown parameter \"foo\""));
        assert!(err("from=yesterday").starts_with("from: \"yesterday\""));
        assert!(err("to=2026-13-01").starts_with("to: "));
        assert!(err("from=2026-11-02&to=2026-11-01").starts_with("to: "));
        assert!(err("from=2026-11-02&to=2026-11-02").starts_with("to: "));
        assert!(err("state=california").starts_with("state: unknown state"));
        assert!(err("state=CA&state=NY").contains("more than once"));
    }
}
