//! The event model: the four tables, one event as it appears in JSON (both
//! dialects, borrowed from the payload), why a message is rejected, and the
//! original pipeline's repairs of its strings. The parsers (`super`'s
//! `parse*`, the scanner in `scan.rs`) fill a [`RawEvent`]; nothing here parses
//! a whole message.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

/// The four event tables, named after eventsim's four topics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    PageView,
    Listen,
    Auth,
    StatusChange,
}

impl Table {
    pub const ALL: [Table; 4] = [
        Table::PageView,
        Table::Listen,
        Table::Auth,
        Table::StatusChange,
    ];

    /// Table name in the lake and the warehouse; also the eventsim topic name.
    pub fn name(self) -> &'static str {
        match self {
            Table::PageView => "page_view_events",
            Table::Listen => "listen_events",
            Table::Auth => "auth_events",
            Table::StatusChange => "status_change_events",
        }
    }

    pub fn from_name(name: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.name() == name)
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a message was rejected. Stored with the raw bytes in the dead letters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("invalid_utf8: {0}")]
    InvalidUtf8(String),
    #[error("oversized: {size} bytes exceeds the limit of {limit}")]
    Oversized { size: usize, limit: usize },
    #[error("not_json: {0}")]
    NotJson(String),
    #[error("wrong_type: {0}")]
    WrongType(String),
    #[error("missing_field: {0}")]
    MissingField(&'static str),
    #[error("ts_out_of_range: {0} ms is outside [{1}, {2})")]
    TsOutOfRange(i64, i64, i64),
}

impl DecodeError {
    /// Short machine-readable kind, used as a metric label and dead-letter column.
    pub fn kind(&self) -> &'static str {
        match self {
            DecodeError::InvalidUtf8(_) => "invalid_utf8",
            DecodeError::Oversized { .. } => "oversized",
            DecodeError::NotJson(_) => "not_json",
            DecodeError::WrongType(_) => "wrong_type",
            DecodeError::MissingField(_) => "missing_field",
            DecodeError::TsOutOfRange(..) => "ts_out_of_range",
        }
    }
}

/// Limits applied while decoding.
#[derive(Debug, Clone, Copy)]
pub struct DecodeLimits {
    pub max_message_bytes: usize,
    /// Inclusive lower bound of `ts`, epoch ms.
    pub min_ts_ms: i64,
    /// Exclusive upper bound of `ts`, epoch ms.
    pub max_ts_ms: i64,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            max_message_bytes: 1 << 20,
            // 1990-01-01 .. 2100-01-01
            min_ts_ms: 631_152_000_000,
            max_ts_ms: 4_102_444_800_000,
        }
    }
}

/// One event as it appears in JSON, borrowed from the payload.
#[derive(Debug, Default, Deserialize)]
pub struct RawEvent<'a> {
    pub ts: Option<i64>,
    #[serde(rename = "sessionId")]
    pub session_id: Option<i64>,
    #[serde(borrow)]
    pub page: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub auth: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub method: Option<Cow<'a, str>>,
    pub status: Option<i32>,
    #[serde(borrow)]
    pub level: Option<Cow<'a, str>>,
    #[serde(rename = "itemInSession")]
    pub item_in_session: Option<i32>,
    #[serde(borrow)]
    pub city: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "str_or_num")]
    pub zip: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub state: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub location: Option<Cow<'a, str>>,
    #[serde(rename = "userAgent", borrow)]
    pub user_agent: Option<Cow<'a, str>>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    #[serde(rename = "userId", default, deserialize_with = "user_id")]
    pub user_id: Option<i64>,
    #[serde(rename = "lastName", borrow)]
    pub last_name: Option<Cow<'a, str>>,
    #[serde(rename = "firstName", borrow)]
    pub first_name: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub gender: Option<Cow<'a, str>>,
    #[serde(default, deserialize_with = "epoch_ms")]
    pub registration: Option<i64>,
    #[serde(borrow)]
    pub artist: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub song: Option<Cow<'a, str>>,
    pub duration: Option<f64>,
    /// single-stream dialect's name for `duration`.
    pub length: Option<f64>,
    pub success: Option<bool>,
    #[serde(borrow)]
    pub tag: Option<Cow<'a, str>>,
}

impl<'a> RawEvent<'a> {
    /// Normalises the single-stream dialect into four-topic fields and repairs
    /// artist/song strings. Idempotent.
    pub fn normalise(&mut self) {
        if self.duration.is_none() {
            self.duration = self.length;
        }
        if let Some(loc) = &self.location {
            if self.city.is_none() || self.state.is_none() {
                // Borrowed parts of a borrowed location: no copy.
                let (city, state) = match loc {
                    Cow::Borrowed(l) => {
                        let (c, s) = split_location(l);
                        (Cow::Borrowed(c), Cow::Borrowed(s))
                    }
                    Cow::Owned(l) => {
                        let (c, s) = split_location(l);
                        (Cow::Owned(c.to_string()), Cow::Owned(s.to_string()))
                    }
                };
                if self.city.is_none() {
                    self.city = Some(city);
                }
                if self.state.is_none() && !state.is_empty() {
                    self.state = Some(state);
                }
            }
        }
        if let Some(a) = self.artist.take() {
            self.artist = Some(repair_text(a));
        }
        if let Some(s) = self.song.take() {
            self.song = Some(repair_text(s));
        }
    }

    /// `success` of an auth event: as written (four-topic), or for a single
    /// stream's post-login event, whether the new auth is Logged In (what the
    /// four-topic writer computes).
    pub fn success(&self) -> Option<bool> {
        self.success
            .or_else(|| self.auth.as_deref().map(|a| a == "Logged In"))
    }

    /// Checks the fields every table needs, and the ones its own table needs.
    pub fn validate(&self, table: Table, limits: &DecodeLimits) -> Result<(), DecodeError> {
        let ts = self.ts.ok_or(DecodeError::MissingField("ts"))?;
        if ts < limits.min_ts_ms || ts >= limits.max_ts_ms {
            return Err(DecodeError::TsOutOfRange(
                ts,
                limits.min_ts_ms,
                limits.max_ts_ms,
            ));
        }
        if self.session_id.is_none() {
            return Err(DecodeError::MissingField("sessionId"));
        }
        if self.level.is_none() {
            return Err(DecodeError::MissingField("level"));
        }
        match table {
            Table::PageView => {
                if self.page.is_none() {
                    return Err(DecodeError::MissingField("page"));
                }
            }
            Table::Listen => {
                if self.user_id.is_none() {
                    return Err(DecodeError::MissingField("userId"));
                }
                if self.song.is_none() {
                    return Err(DecodeError::MissingField("song"));
                }
                if self.duration.is_none() {
                    return Err(DecodeError::MissingField("duration"));
                }
            }
            Table::Auth => {
                // The single stream has no `success`: it is derived from `auth`
                // (see [`RawEvent::success`]).
                if self.success().is_none() {
                    return Err(DecodeError::MissingField("success"));
                }
            }
            Table::StatusChange => {
                if self.user_id.is_none() {
                    return Err(DecodeError::MissingField("userId"));
                }
            }
        }
        Ok(())
    }
}

/// Splits eventsim's metro-area `location` ("San Francisco-Oakland-Hayward, CA")
/// into city and state. Multi-state metros ("New York-Newark-Jersey City, NY-NJ-PA")
/// keep their first state.
pub fn split_location(loc: &str) -> (&str, &str) {
    match loc.rsplit_once(", ") {
        Some((city, states)) => (city, states.split('-').next().unwrap_or("")),
        None => (loc, ""),
    }
}

/// Repairs artist and song strings the way the original pipeline did: eventsim
/// read UTF-8 as ISO-8859-1 (sometimes twice), and kept backslash-escaped quotes.
pub fn repair_text(s: Cow<'_, str>) -> Cow<'_, str> {
    let mut out = s;
    // Undo up to three layers of "UTF-8 read as Latin-1".
    for _ in 0..3 {
        match undo_latin1_mojibake(&out) {
            Some(fixed) => out = Cow::Owned(fixed),
            None => break,
        }
    }
    if out.contains("\\\"") {
        out = Cow::Owned(out.replace("\\\"", "\""));
    }
    out
}

/// If every char is in Latin-1, some are above ASCII, and the Latin-1 bytes are
/// valid UTF-8, returns that UTF-8 reading.
fn undo_latin1_mojibake(s: &str) -> Option<String> {
    if s.is_ascii() || s.chars().any(|c| c as u32 > 0xFF) {
        return None;
    }
    let bytes: Vec<u8> = s.chars().map(|c| c as u32 as u8).collect();
    String::from_utf8(bytes).ok()
}

fn str_or_num<'de: 'a, 'a, D: Deserializer<'de>>(d: D) -> Result<Option<Cow<'a, str>>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<Cow<'de, str>>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a string or a number")
        }
        fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Borrowed(v)))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_string())))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_string())))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_string())))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
            d.deserialize_any(V)
        }
    }
    d.deserialize_option(V)
}

/// `userId`: a number (four-topic) or a string (single-stream, `""` = hidden).
fn user_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<i64>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an integer user id, a numeric string, or \"\"")
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            i64::try_from(v)
                .map(Some)
                .map_err(|_| E::custom("userId out of range"))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            if v.is_empty() {
                return Ok(None);
            }
            v.parse()
                .map(Some)
                .map_err(|_| E::custom(format!("userId {v:?} is not an integer")))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
            d.deserialize_any(V)
        }
    }
    d.deserialize_option(V)
}

/// `registration`: epoch ms as an integer (four-topic) or a float (single-stream).
fn epoch_ms<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<i64>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("epoch milliseconds")
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            i64::try_from(v)
                .map(Some)
                .map_err(|_| E::custom("registration out of range"))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            if v.is_finite() && v.abs() < 9.0e15 {
                Ok(Some(v.round() as i64))
            } else {
                Err(E::custom("registration out of range"))
            }
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
            d.deserialize_any(V)
        }
    }
    d.deserialize_option(V)
}

/// The message as text: within the size limit and valid UTF-8 (SIMD check),
/// trailing whitespace removed. Every parser starts here, so the reason is precise.
pub(super) fn checked_text<'a>(
    payload: &'a [u8],
    limits: &DecodeLimits,
) -> Result<&'a str, DecodeError> {
    if payload.len() > limits.max_message_bytes {
        return Err(DecodeError::Oversized {
            size: payload.len(),
            limit: limits.max_message_bytes,
        });
    }
    let text = simdutf8::compat::from_utf8(payload)
        .map_err(|e| DecodeError::InvalidUtf8(format!("at byte {}", e.valid_up_to())))?;
    Ok(text.trim_end())
}
