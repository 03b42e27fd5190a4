//! The three questions of the mission, answered from the warehouse's
//! `listen_events` (definitions in DESIGN.md, "The three questions"):
//! 1. active users, stream hours, active users per state;
//! 2. gender composition, and per gender listeners of the top 5 artists;
//! 3. top 10 songs and top 10 artists by listens.
//!
//! Ties are broken by name so the answer is deterministic.

use std::fmt::Write as _;
use std::path::Path;

use duckdb::{params_from_iter, types::Value};
use serde::Serialize;

use crate::sinks::warehouse::{self, WarehouseError};

/// Optional restrictions, all combined with AND.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    /// Inclusive, epoch ms.
    pub from_ms: Option<i64>,
    /// Exclusive, epoch ms.
    pub to_ms: Option<i64>,
    pub state: Option<String>,
    pub city: Option<String>,
}

/// A filter as the user typed it (`report`'s flags or the API's query
/// parameters), before [`Filter::parse`] checks it. One parser for both, so the
/// CLI and the dashboard reject the same inputs with the same words.
#[derive(Debug, Clone, Default)]
pub struct FilterInput {
    pub from: Option<String>,
    pub to: Option<String>,
    pub state: Option<String>,
    pub city: Option<String>,
}

/// How a filter's inputs are named in errors: `--from` on the command line,
/// `from` in a query string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    Flag,
    Query,
}

impl Naming {
    pub fn name(self, param: &str) -> String {
        match self {
            Naming::Flag => format!("--{param}"),
            Naming::Query => param.to_string(),
        }
    }
}

/// A filter input that cannot mean anything: `param` is the flag or query
/// parameter at fault, as the user spelled it.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
#[error("{param}: {message}")]
pub struct FilterError {
    pub param: String,
    pub message: String,
}

/// The two-letter codes of the US states (and DC) of the warehouse's seed.
pub fn us_state_codes() -> impl Iterator<Item = &'static str> {
    warehouse::US_STATES_CSV
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(',').map(|(c, _)| c.trim()))
}

/// Two capital letters, or several joined by `-` (eventsim's own city list
/// has metro areas across states).
fn looks_like_state(s: &str) -> bool {
    s.len() <= 20
        && s.split('-')
            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_uppercase()))
}

impl Filter {
    /// Checks and converts a filter's inputs: dates must be ISO dates or
    /// date-times (UTC), `from` must be before `to`, a state must look like a
    /// state code (`CA`, or eventsim's metro areas such as `NY-NJ-PA`) and a
    /// city must not be empty. Whether the state is known and whether state or
    /// city occur in the data is a question for the data ([`check_matches`]).
    pub fn parse(input: &FilterInput, naming: Naming) -> Result<Filter, FilterError> {
        let err = |param: &str, message: String| FilterError {
            param: naming.name(param),
            message,
        };
        let time = |param: &str, v: &Option<String>| -> Result<Option<i64>, FilterError> {
            v.as_deref()
                .map(|s| {
                    crate::time::parse_utc(s).map_err(|_| {
                        err(
                            param,
                            format!("{s:?} is not an ISO date or date-time in UTC (2026-11-01, 2026-11-01T06:00:00 or 2026-11-01T06:00:00Z)"),
                        )
                    })
                })
                .transpose()
        };
        let from_ms = time("from", &input.from)?;
        let to_ms = time("to", &input.to)?;
        if let (Some(f), Some(t)) = (from_ms, to_ms) {
            if f >= t {
                return Err(err(
                    "to",
                    format!(
                        "{} is not after {} {} (from is inclusive, to exclusive: yesterday is from=D-1 to=D)",
                        crate::time::format_utc(t),
                        naming.name("from"),
                        crate::time::format_utc(f)
                    ),
                ));
            }
        }
        let state = match input.state.as_deref().map(str::trim) {
            None => None,
            Some(s) if looks_like_state(s) => Some(s.to_string()),
            Some(s) => {
                return Err(err(
                    "state",
                    format!("unknown state {s:?}; use a two-letter US state code as in the data, such as CA or NY"),
                ))
            }
        };
        let city = match input.city.as_deref().map(str::trim) {
            None => None,
            Some("") => {
                return Err(err(
                    "city",
                    "is empty; give a city name as in the data, such as Los Angeles".into(),
                ))
            }
            Some(c) if c.len() > 200 => {
                return Err(err("city", "is longer than 200 bytes; no city is".into()))
            }
            Some(c) => Some(c.to_string()),
        };
        Ok(Filter {
            from_ms,
            to_ms,
            state,
            city,
        })
    }
}

/// What the data says about a filter's state and city. A state that is
/// neither a US state code nor in the data is unknown (an error everywhere);
/// with `strict` (the CLI), a state or city without any listen in the
/// warehouse is an error too, since `report` would print only zeros. The API
/// is not strict: a real state with no listener yet is an empty answer.
pub fn check_matches(
    conn: &duckdb::Connection,
    listens: &str,
    filter: &Filter,
    naming: Naming,
    strict: bool,
) -> Result<Result<(), FilterError>, duckdb::Error> {
    for (param, value) in [("state", &filter.state), ("city", &filter.city)] {
        let Some(v) = value else { continue };
        let n: i64 = conn.query_row(
            &format!("SELECT count(*) FROM (SELECT 1 FROM {listens} WHERE {param} = ? LIMIT 1)"),
            [v],
            |r| r.get(0),
        )?;
        if n > 0 {
            continue;
        }
        if param == "state" && !us_state_codes().any(|c| c == v) {
            return Ok(Err(FilterError {
                param: naming.name(param),
                message: format!("unknown state {v:?}: not a US state code and not in the data; use a two-letter code such as CA or NY"),
            }));
        }
        if strict {
            return Ok(Err(FilterError {
                param: naming.name(param),
                message: format!("no listens from {param} {v:?} in the warehouse"),
            }));
        }
    }
    Ok(Ok(()))
}

#[derive(Debug, Serialize, PartialEq)]
pub struct StateUsers {
    pub state: Option<String>,
    pub users: i64,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct GenderUsers {
    pub gender: Option<String>,
    pub users: i64,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct ArtistGender {
    pub artist: String,
    pub gender: Option<String>,
    pub users: i64,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct SongStreams {
    pub artist: String,
    pub song: String,
    pub streams: i64,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct ArtistStreams {
    pub artist: String,
    pub streams: i64,
}

/// The answers; `--format json` prints exactly these keys.
#[derive(Debug, Serialize, PartialEq)]
pub struct Report {
    pub active_users: i64,
    pub stream_hours: f64,
    pub users_by_state: Vec<StateUsers>,
    pub gender_composition: Vec<GenderUsers>,
    pub top_artists_gender: Vec<ArtistGender>,
    pub top_songs: Vec<SongStreams>,
    pub top_artists: Vec<ArtistStreams>,
}

/// Builds the WHERE clause and its parameters.
pub fn where_clause(f: &Filter) -> (String, Vec<Value>) {
    let mut conds = vec!["TRUE".to_string()];
    let mut params = Vec::new();
    if let Some(t) = f.from_ms {
        conds.push("epoch_ms(ts) >= ?".into());
        params.push(Value::BigInt(t));
    }
    if let Some(t) = f.to_ms {
        conds.push("epoch_ms(ts) < ?".into());
        params.push(Value::BigInt(t));
    }
    if let Some(s) = &f.state {
        conds.push("state = ?".into());
        params.push(Value::Text(s.clone()));
    }
    if let Some(c) = &f.city {
        conds.push("city = ?".into());
        params.push(Value::Text(c.clone()));
    }
    (conds.join(" AND "), params)
}

pub fn compute(db: &Path, filter: &Filter) -> Result<Report, WarehouseError> {
    if !db.exists() {
        return Err(WarehouseError::DuckDb {
            path: db.display().to_string(),
            source: duckdb::Error::InvalidPath(db.to_path_buf()),
        });
    }
    let conn = warehouse::open(db)?;
    compute_on(&conn, filter).map_err(|source| WarehouseError::DuckDb {
        path: db.display().to_string(),
        source,
    })
}

/// Runs the queries on an open connection whose `listen_events` holds the events.
pub fn compute_on(conn: &duckdb::Connection, filter: &Filter) -> Result<Report, duckdb::Error> {
    compute_over(conn, "listen_events", filter)
}

/// [`compute_on`] over any relation with `listen_events`' columns (a table, or a
/// parenthesised query such as the dashboard's warehouse-plus-live union).
pub fn compute_over(
    conn: &duckdb::Connection,
    listens: &str,
    filter: &Filter,
) -> Result<Report, duckdb::Error> {
    let (w, params) = where_clause(filter);
    let src = format!("(SELECT * FROM {listens} WHERE {w})");
    let p = || params_from_iter(params.iter());

    let (active_users, stream_hours): (i64, f64) = conn.query_row(
        &format!("SELECT count(DISTINCT userId), coalesce(sum(duration), 0) / 3600.0 FROM {src}"),
        p(),
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;

    let mut st = conn.prepare(&format!(
        "SELECT state, count(DISTINCT userId) AS users FROM {src} GROUP BY state ORDER BY users DESC, state NULLS LAST"
    ))?;
    let users_by_state = st
        .query_map(p(), |r| {
            Ok(StateUsers {
                state: r.get(0)?,
                users: r.get(1)?,
            })
        })?
        .collect::<Result<_, _>>()?;

    let mut st = conn.prepare(&format!(
        "SELECT gender, count(DISTINCT userId) AS users FROM {src} GROUP BY gender ORDER BY users DESC, gender NULLS LAST"
    ))?;
    let gender_composition = st
        .query_map(p(), |r| {
            Ok(GenderUsers {
                gender: r.get(0)?,
                users: r.get(1)?,
            })
        })?
        .collect::<Result<_, _>>()?;

    let mut st = conn.prepare(&format!(
        "WITH l AS {src},
              top AS (SELECT artist, count(*) AS streams FROM l GROUP BY artist
                      ORDER BY streams DESC, artist LIMIT 5)
         SELECT l.artist, l.gender, count(DISTINCT l.userId) AS users
         FROM l JOIN top USING (artist)
         GROUP BY l.artist, l.gender, top.streams
         ORDER BY top.streams DESC, l.artist, users DESC, l.gender NULLS LAST"
    ))?;
    let top_artists_gender = st
        .query_map(p(), |r| {
            Ok(ArtistGender {
                artist: r.get(0)?,
                gender: r.get(1)?,
                users: r.get(2)?,
            })
        })?
        .collect::<Result<_, _>>()?;

    let mut st = conn.prepare(&format!(
        "SELECT artist, song, count(*) AS streams FROM {src} GROUP BY artist, song
         ORDER BY streams DESC, artist, song LIMIT 10"
    ))?;
    let top_songs = st
        .query_map(p(), |r| {
            Ok(SongStreams {
                artist: r.get(0)?,
                song: r.get(1)?,
                streams: r.get(2)?,
            })
        })?
        .collect::<Result<_, _>>()?;

    let mut st = conn.prepare(&format!(
        "SELECT artist, count(*) AS streams FROM {src} GROUP BY artist ORDER BY streams DESC, artist LIMIT 10"
    ))?;
    let top_artists = st
        .query_map(p(), |r| {
            Ok(ArtistStreams {
                artist: r.get(0)?,
                streams: r.get(1)?,
            })
        })?
        .collect::<Result<_, _>>()?;

    Ok(Report {
        active_users,
        stream_hours,
        users_by_state,
        gender_composition,
        top_artists_gender,
        top_songs,
        top_artists,
    })
}

/// Human-readable rendering.
pub fn to_table(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "1. Activity");
    let _ = writeln!(s, "   active users   {}", r.active_users);
    let _ = writeln!(s, "   stream hours   {:.1}", r.stream_hours);
    let _ = writeln!(s, "   users by state");
    for x in r.users_by_state.iter().take(15) {
        let _ = writeln!(
            s,
            "     {:<4} {:>8}",
            x.state.as_deref().unwrap_or("?"),
            x.users
        );
    }
    if r.users_by_state.len() > 15 {
        let _ = writeln!(
            s,
            "     ... {} more states (use --format json or csv)",
            r.users_by_state.len() - 15
        );
    }
    let _ = writeln!(s, "2. Gender composition");
    for x in &r.gender_composition {
        let _ = writeln!(
            s,
            "     {:<4} {:>8}",
            x.gender.as_deref().unwrap_or("?"),
            x.users
        );
    }
    let _ = writeln!(s, "   listeners of the top 5 artists by gender");
    for x in &r.top_artists_gender {
        let _ = writeln!(
            s,
            "     {:<40} {:<2} {:>6}",
            truncate(&x.artist, 40),
            x.gender.as_deref().unwrap_or("?"),
            x.users
        );
    }
    let _ = writeln!(s, "3. Top songs");
    for (i, x) in r.top_songs.iter().enumerate() {
        let _ = writeln!(
            s,
            "   {:>2}. {:<30} {:<40} {:>6}",
            i + 1,
            truncate(&x.artist, 30),
            truncate(&x.song, 40),
            x.streams
        );
    }
    let _ = writeln!(s, "   Top artists");
    for (i, x) in r.top_artists.iter().enumerate() {
        let _ = writeln!(
            s,
            "   {:>2}. {:<40} {:>6}",
            i + 1,
            truncate(&x.artist, 40),
            x.streams
        );
    }
    s
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n - 1).chain(['…']).collect()
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// CSV rendering: one long table `question,key1,key2,value`.
pub fn to_csv(r: &Report) -> String {
    let mut s = String::from("question,dimension,subdimension,value\n");
    let mut row = |q: &str, a: &str, b: &str, v: String| {
        let _ = writeln!(s, "{q},{},{},{v}", csv_field(a), csv_field(b));
    };
    row("active_users", "", "", r.active_users.to_string());
    row("stream_hours", "", "", r.stream_hours.to_string());
    for x in &r.users_by_state {
        row(
            "users_by_state",
            x.state.as_deref().unwrap_or(""),
            "",
            x.users.to_string(),
        );
    }
    for x in &r.gender_composition {
        row(
            "gender_composition",
            x.gender.as_deref().unwrap_or(""),
            "",
            x.users.to_string(),
        );
    }
    for x in &r.top_artists_gender {
        row(
            "top_artists_gender",
            &x.artist,
            x.gender.as_deref().unwrap_or(""),
            x.users.to_string(),
        );
    }
    for x in &r.top_songs {
        row("top_songs", &x.artist, &x.song, x.streams.to_string());
    }
    for x in &r.top_artists {
        row("top_artists", &x.artist, "", x.streams.to_string());
    }
    s
}
