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

mod peers;
mod raw;
mod scan;

pub use peers::{parse_simd, parse_sonic, JsonParser, SimdBuffers};
use raw::checked_text;
pub use raw::{repair_text, split_location, DecodeError, DecodeLimits, RawEvent, Table};
pub use scan::Scratch;

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

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

    #[test]
    fn out_of_range_number_in_an_unknown_field_is_ignored_as_serde_does() {
        let limits = DecodeLimits::default();
        let fuzzed = br#"{"artis1":"Bl IA","method":"PUT","page":"NextSong","registration":1541022995796.0,"-essionId":1.5e3157,"song":"Beyond T 10.9; rv:31.0) Gecko\/20100101 Firefox\/31.0","userItrued":"44"}"#;
        let nested = br#"{"page":"Home","x":[1,{"y":-2e400}],"z":1e999}"#;
        for msg in [&fuzzed[..], &nested[..]] {
            let reference = format!("{:?}", parse_reference(msg, &limits).unwrap());
            assert_eq!(format!("{:?}", parse(msg, &limits).unwrap()), reference);
            let mut scratch = Scratch::default();
            let fast = parse_in(msg, &limits, &mut scratch).unwrap();
            assert_eq!(format!("{fast:?}"), reference);
        }
        for msg in [
            &br#"{"duration":1e999}"#[..],
            br#"{"page":1e999}"#,
            br#"1e999"#,
        ] {
            let e = parse(msg, &limits).unwrap_err();
            assert_eq!(e.kind(), "not_json", "{e}");
            assert_eq!(
                parse_reference(msg, &limits).unwrap_err().kind(),
                "not_json"
            );
        }
    }

    #[test]
    fn long_numbers_agree_with_serde() {
        let limits = DecodeLimits::default();
        for msg in [
            &br#"{"ts":9793527154110583079,"gender":"F"}"#[..],
            br#"{"ts":1793527154110583279000,"gender":"F"}"#,
            br#"{"sessionId":1000000000000000000,"ts":100000000000000000}"#,
            br#"{"lat":39.961233333373333333333333,"lon":-82.9988}"#,
        ] {
            let ours = parse(msg, &limits)
                .map(|e| format!("{e:?}"))
                .map_err(|e| e.kind());
            let serde = parse_reference(msg, &limits)
                .map(|e| format!("{e:?}"))
                .map_err(|e| e.kind());
            assert_eq!(ours, serde, "{}", String::from_utf8_lossy(msg));
        }
        let ev = parse(br#"{"lat":39.961233333373333333333333}"#, &limits).unwrap();
        assert_eq!(ev.lat, Some("39.961233333373333333333333".parse().unwrap()));
    }
}
