//! Typed events: the tables of the lake, and decoding of both eventsim dialects.
//!
//! Decoding borrows from the raw payload (`Cow<str>` only allocates when a JSON
//! string contains escapes) and appends straight into columnar builders
//! ([`crate::columns::TableColumns`]), so the hot path allocates per batch, not per
//! event.
//!
//! Dialects (see `shared/docs/eventsim-model.md`):
//! - four-topic: `duration`, `city`/`zip`/`state`/`lat`/`lon`, numeric `userId`;
//! - single-stream: `length`, `location` ("City, ST"), `userId` a string (`""` when
//!   hidden), `registration` a float.
//!
//! Both are accepted on any topic; a single-stream topic is split into the four
//! tables the way the four-topic writer splits events (see [`Routing`]).

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

mod peers;
mod scan;

pub use peers::{parse_simd, parse_sonic, JsonParser, SimdBuffers};
pub use scan::Scratch;

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

/// Parses one message. Checks size and UTF-8 first so the reason is precise.
/// Strings with JSON escapes are owned; the decoder uses [`parse_in`], which
/// allocates nothing.
pub fn parse<'a>(payload: &'a [u8], limits: &DecodeLimits) -> Result<RawEvent<'a>, DecodeError> {
    let mut ev = RawEvent::default();
    scan::scan_into(checked_text(payload, limits)?, None, &mut ev)?;
    ev.normalise();
    Ok(ev)
}

/// [`parse`] for a stream of messages: escaped strings are unescaped into
/// `scratch` and borrowed from it (no allocation per message once it has
/// grown), and messages laid out like the previous one take a fast path (see
/// [`Scratch`]).
pub fn parse_in<'a>(
    payload: &'a [u8],
    limits: &DecodeLimits,
    scratch: &'a mut Scratch,
) -> Result<RawEvent<'a>, DecodeError> {
    let mut ev = RawEvent::default();
    parse_into(payload, limits, scratch, &mut ev)?;
    Ok(ev)
}

/// [`parse_in`] into the caller's event, which must be empty
/// (`RawEvent::default()`; after an error it holds part of the message): the
/// decoder's form, which saves moving the event (about 600 bytes) out through
/// the callers for every message.
pub fn parse_into<'a>(
    payload: &'a [u8],
    limits: &DecodeLimits,
    scratch: &'a mut Scratch,
    ev: &mut RawEvent<'a>,
) -> Result<(), DecodeError> {
    scan::scan_into(checked_text(payload, limits)?, Some(scratch), ev)?;
    ev.normalise();
    Ok(())
}

fn checked_text<'a>(payload: &'a [u8], limits: &DecodeLimits) -> Result<&'a str, DecodeError> {
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

/// The same decoding with serde_json's generic visitor: the reference the
/// scanner is tested against, and the peer `stage-bench` measures it with.
#[doc(hidden)]
pub fn parse_reference<'a>(
    payload: &'a [u8],
    limits: &DecodeLimits,
) -> Result<RawEvent<'a>, DecodeError> {
    let text = checked_text(payload, limits)?;
    let mut ev: RawEvent<'_> = serde_json::from_str(text).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => DecodeError::WrongType(e.to_string()),
            _ => DecodeError::NotJson(e.to_string()),
        }
    })?;
    ev.normalise();
    Ok(ev)
}

/// How a message read from a topic maps to tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routing {
    /// A four-topic topic: every message goes to that one table.
    Direct(Table),
    /// A single-stream topic: every event is a page view; NextSong is also a
    /// listen; Submit Upgrade/Downgrade a status change; the event after a Login
    /// page an auth event (tracked per session by [`SingleStreamSplitter`]).
    SingleStream,
}

impl Routing {
    /// Topics named after a table, optionally with a dotted prefix
    /// (`staging.listen_events`), are routed to it; anything else is read as a
    /// single stream.
    pub fn for_topic(topic: &str) -> Routing {
        let base = topic.rsplit('.').next().unwrap_or(topic);
        Table::from_name(base).map_or(Routing::SingleStream, Routing::Direct)
    }
}

/// Remembers, per session, whether the previous event was a `Login` page, so a
/// single stream yields auth events as eventsim's four-topic writer does.
#[derive(Debug, Default)]
pub struct SingleStreamSplitter {
    after_login: std::collections::HashSet<i64>,
}

impl SingleStreamSplitter {
    /// Tables an event of a single stream belongs to, in a fixed order.
    pub fn tables(&mut self, ev: &RawEvent<'_>, out: &mut Vec<Table>) {
        out.clear();
        out.push(Table::PageView);
        let page = ev.page.as_deref().unwrap_or("");
        if page == "NextSong" {
            out.push(Table::Listen);
        }
        if page == "Submit Upgrade" || page == "Submit Downgrade" {
            out.push(Table::StatusChange);
        }
        if let Some(sid) = ev.session_id {
            if self.after_login.remove(&sid) {
                out.push(Table::Auth);
            }
            if page == "Login" {
                self.after_login.insert(sid);
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    const FOUR: &str = r#"{"artist":"Bj\u00c3\u00b6rk","song":"Undo","duration":238.5,"ts":1541105830796,"sessionId":38,"auth":"Logged In","level":"free","itemInSession":3,"city":"Tampa","zip":"33602","state":"FL","userAgent":"\"Mozilla\"","lon":-82.4,"lat":27.9,"userId":39,"lastName":"Frye","firstName":"Walter","gender":"M","registration":1540919166796,"extra":[1,2]}"#;

    #[test]
    fn decodes_four_topic_listen_and_repairs_artist() {
        let ev = parse(FOUR.as_bytes(), &DecodeLimits::default()).unwrap();
        assert_eq!(ev.artist.as_deref(), Some("Björk"));
        assert_eq!(ev.user_id, Some(39));
        assert_eq!(ev.zip.as_deref(), Some("33602"));
        ev.validate(Table::Listen, &DecodeLimits::default())
            .unwrap();
    }

    /// Invalid UTF-8 anywhere in a message (here past the first 64 bytes, in a
    /// long message, where a SIMD validator works in blocks) is refused with the
    /// position of the first bad byte.
    #[test]
    fn invalid_utf8_reports_the_first_bad_byte() {
        let mut msg = FOUR.as_bytes().to_vec();
        let at = FOUR.find("Walter").unwrap() + 2;
        msg[at] = 0xC3;
        msg[at + 1] = 0x28;
        let err = parse(&msg, &DecodeLimits::default()).unwrap_err();
        assert_eq!(err.kind(), "invalid_utf8");
        assert!(err.to_string().contains(&format!("at byte {at}")), "{err}");
        msg[at] = b'l';
        msg[at + 1] = b't';
        assert!(parse(&msg, &DecodeLimits::default()).is_ok());
    }

    #[test]
    fn decodes_single_stream_line() {
        let line = r#"{"artist":null,"auth":"Logged In","firstName":"Walter","gender":"M","itemInSession":0,"lastName":"Frye","length":null,"level":"free","location":"San Francisco-Oakland-Hayward, CA","method":"GET","page":"Home","registration":1540919166796.0,"sessionId":38,"song":null,"status":200,"ts":1541105830796,"userAgent":"x","userId":"39"}"#;
        let ev = parse(line.as_bytes(), &DecodeLimits::default()).unwrap();
        assert_eq!(ev.city.as_deref(), Some("San Francisco-Oakland-Hayward"));
        assert_eq!(ev.state.as_deref(), Some("CA"));
        assert_eq!(ev.user_id, Some(39));
        assert_eq!(ev.registration, Some(1540919166796));
        ev.validate(Table::PageView, &DecodeLimits::default())
            .unwrap();
        let hidden = line.replace(r#""userId":"39""#, r#""userId":"""#);
        let ev = parse(hidden.as_bytes(), &DecodeLimits::default()).unwrap();
        assert_eq!(ev.user_id, None);
    }

    #[test]
    fn repairs_double_mojibake_and_escaped_quotes() {
        // "Café" as UTF-8, read as Latin-1 twice.
        let twice = "Caf\u{c3}\u{83}\u{c2}\u{a9}";
        assert_eq!(repair_text(Cow::Borrowed(twice)), "Café");
        assert_eq!(repair_text(Cow::Borrowed("Say \\\"Hi\\\"")), "Say \"Hi\"");
        assert_eq!(repair_text(Cow::Borrowed("Beyoncé")), "Beyoncé");
    }

    #[test]
    fn classifies_bad_input() {
        let l = DecodeLimits::default();
        let kind = |b: &[u8], t: Table| {
            parse(b, &l)
                .and_then(|e| e.validate(t, &l))
                .unwrap_err()
                .kind()
        };
        assert_eq!(kind(b"not json", Table::PageView), "not_json");
        assert_eq!(kind(b"{\"ts\":\"x\"}", Table::PageView), "wrong_type");
        assert_eq!(
            kind(b"{\"ts\":1541105830796}", Table::PageView),
            "missing_field"
        );
        assert_eq!(
            kind(
                b"{\"ts\":5,\"sessionId\":1,\"level\":\"free\",\"page\":\"Home\"}",
                Table::PageView
            ),
            "ts_out_of_range"
        );
        assert_eq!(kind(&[b'{', 0xff, b'}'], Table::PageView), "invalid_utf8");
        let big = vec![b' '; l.max_message_bytes + 1];
        assert_eq!(kind(&big, Table::PageView), "oversized");
    }

    #[test]
    fn routing_by_topic_name() {
        assert_eq!(
            Routing::for_topic("listen_events"),
            Routing::Direct(Table::Listen)
        );
        assert_eq!(
            Routing::for_topic("t1.auth_events"),
            Routing::Direct(Table::Auth)
        );
        assert_eq!(Routing::for_topic("events"), Routing::SingleStream);
    }

    #[test]
    fn single_stream_split_follows_four_topic_writer() {
        let mut s = SingleStreamSplitter::default();
        let mut out = Vec::new();
        let login = RawEvent {
            page: Some("Login".into()),
            session_id: Some(7),
            ..Default::default()
        };
        s.tables(&login, &mut out);
        assert_eq!(out, vec![Table::PageView]);
        let home = RawEvent {
            page: Some("Home".into()),
            session_id: Some(7),
            ..Default::default()
        };
        s.tables(&home, &mut out);
        assert_eq!(out, vec![Table::PageView, Table::Auth]);
        let song = RawEvent {
            page: Some("NextSong".into()),
            session_id: Some(7),
            ..Default::default()
        };
        s.tables(&song, &mut out);
        assert_eq!(out, vec![Table::PageView, Table::Listen]);
    }
}
