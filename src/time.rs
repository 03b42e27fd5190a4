//! Time parsing shared by the CLI, the config and the simulator. eventsim takes
//! ISO local date-times without a zone and treats them as UTC; so do we.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

/// An hour in milliseconds (event times are epoch milliseconds; the lake and
/// the warehouse are laid out by hour).
pub const HOUR_MS: i64 = 3_600_000;
/// A day in milliseconds.
pub const DAY_MS: i64 = 24 * HOUR_MS;

#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not a date-time; use ISO form such as 2026-11-01T00:00:00 (UTC), 2026-11-01 00:00:00 or 2026-11-01")]
pub struct TimeParseError(pub String);

/// Parses an ISO date-time (optionally with `Z`/offset, or a bare date) to epoch ms UTC.
pub fn parse_utc(s: &str) -> Result<i64, TimeParseError> {
    let t = s.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Ok(dt.timestamp_millis());
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(t, fmt) {
            return Ok(dt.and_utc().timestamp_millis());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        if let Some(dt) = d.and_hms_opt(0, 0, 0) {
            return Ok(dt.and_utc().timestamp_millis());
        }
    }
    Err(TimeParseError(s.to_string()))
}

/// Epoch ms → `YYYY-MM-DDTHH:MM:SS` UTC.
pub fn format_utc(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%S").to_string())
        .unwrap_or_else(|| ms.to_string())
}

/// Now, epoch ms.
pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn parses_forms() {
        assert_eq!(parse_utc("1970-01-01T00:00:01").unwrap(), 1000);
        assert_eq!(parse_utc("1970-01-02").unwrap(), 86_400_000);
        assert_eq!(parse_utc("1970-01-01T00:00:01Z").unwrap(), 1000);
        assert!(parse_utc("yesterday").is_err());
        assert_eq!(format_utc(1000), "1970-01-01T00:00:01");
    }
}
