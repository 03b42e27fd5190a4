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
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Inclusive, epoch ms.
    pub from_ms: Option<i64>,
    /// Exclusive, epoch ms.
    pub to_ms: Option<i64>,
    pub state: Option<String>,
    pub city: Option<String>,
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
fn where_clause(f: &Filter) -> (String, Vec<Value>) {
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
    let (w, params) = where_clause(filter);
    let src = format!("(SELECT * FROM listen_events WHERE {w})");
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
