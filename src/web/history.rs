//! The queries behind the dashboard's tiles: the warehouse's rows, plus the
//! live rows of the hours the warehouse does not own yet (see
//! `actors/live_rows.rs` for who owns which hour). Each request opens the
//! warehouse (under [`warehouse::lock`]), copies the live rows it needs into
//! temporary tables, and runs plain SQL over the union, so every number is
//! exact for any filter and equal to `musicaly report` once the warehouse has
//! loaded the same rows.

use std::path::Path;

use duckdb::{params_from_iter, Connection};
use serde::Serialize;

use crate::actors::live_rows::{Snapshot, EVENT_COLUMNS, LISTEN_COLUMNS};
use crate::report::{self, Filter, FilterError, Naming, Report};
use crate::sinks::warehouse;

const DAY_MS: i64 = 86_400_000;

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error(transparent)]
    Filter(#[from] FilterError),
    #[error("the warehouse {path} is in use by another process (a load in progress?); retry in a moment")]
    Busy { path: String },
    #[error("warehouse {path}: {source}")]
    DuckDb { path: String, source: duckdb::Error },
}

/// An open warehouse (or an empty in-memory one when there is none yet) with
/// the relations to query: `listens` and `events` (page views: every event
/// is one), each the warehouse's rows plus the live rows.
pub struct Session {
    conn: Connection,
    path: String,
    pub listens: String,
    pub events: String,
    _guard: Option<std::sync::MutexGuard<'static, ()>>,
}

impl Session {
    /// Opens `db` (read-only access in practice: nothing is written to it) and
    /// adds `live`'s rows. A missing warehouse is an empty one.
    pub fn open(db: &Path, live: Option<&Snapshot>) -> Result<Session, HistoryError> {
        let path = db.display().to_string();
        let dberr = |source| HistoryError::DuckDb {
            path: path.clone(),
            source,
        };
        let (conn, guard) = if db.exists() {
            let guard = warehouse::lock();
            let mut tries = 0;
            let conn = loop {
                match warehouse::open(db) {
                    Ok(c) => break c,
                    // Another process (a `pipeline` loading) holds DuckDB's lock.
                    Err(warehouse::WarehouseError::DuckDb { source, .. })
                        if source.to_string().contains("lock") =>
                    {
                        tries += 1;
                        if tries >= 10 {
                            return Err(HistoryError::Busy { path: path.clone() });
                        }
                        std::thread::sleep(std::time::Duration::from_millis(100));
                    }
                    Err(warehouse::WarehouseError::DuckDb { source, .. }) => {
                        return Err(dberr(source))
                    }
                    Err(e) => {
                        return Err(dberr(duckdb::Error::InvalidParameterName(e.to_string())))
                    }
                }
            };
            (conn, Some(guard))
        } else {
            let conn = Connection::open_in_memory().map_err(dberr)?;
            conn.execute_batch("SET TimeZone = 'UTC';").map_err(dberr)?;
            (conn, None)
        };
        // A warehouse from before the first load, or none: the tables exist empty.
        create_missing_tables(&conn).map_err(dberr)?;
        let mut s = Session {
            conn,
            path: path.clone(),
            listens: "listen_events".into(),
            events: "page_view_events".into(),
            _guard: guard,
        };
        if let Some(snap) = live.filter(|s| s.from_hour.is_some()) {
            s.add_live(snap).map_err(|e| s.err(e))?;
        }
        Ok(s)
    }

    fn add_live(&mut self, snap: &Snapshot) -> Result<(), duckdb::Error> {
        let Some(from) = snap.from_hour else {
            return Ok(());
        };
        for (name, table, cols, batches) in [
            (
                "live_events",
                "page_view_events",
                &EVENT_COLUMNS[..],
                &snap.page_views,
            ),
            (
                "live_listens",
                "listen_events",
                &LISTEN_COLUMNS[..],
                &snap.listens,
            ),
        ] {
            let list = cols
                .iter()
                .map(|c| format!("\"{c}\""))
                .collect::<Vec<_>>()
                .join(", ");
            self.conn.execute_batch(&format!(
                "CREATE OR REPLACE TEMP TABLE {name} AS SELECT {list} FROM {table} LIMIT 0;"
            ))?;
            {
                let mut app = self.conn.appender(name)?;
                for rb in batches {
                    app.append_record_batch(rb.clone())?;
                }
                app.flush()?;
            }
            let rel = format!(
                "(SELECT {list} FROM {table} WHERE ts < to_timestamp({f}) UNION ALL SELECT {list} FROM {name} WHERE ts >= to_timestamp({f}))",
                f = from as f64 / 1000.0
            );
            if table == "listen_events" {
                self.listens = rel;
            } else {
                self.events = rel;
            }
        }
        Ok(())
    }

    fn err(&self, source: duckdb::Error) -> HistoryError {
        HistoryError::DuckDb {
            path: self.path.clone(),
            source,
        }
    }

    /// 400 for a state that is neither a US state nor in the data.
    pub fn check(&self, filter: &Filter, naming: Naming, strict: bool) -> Result<(), HistoryError> {
        report::check_matches(&self.conn, &self.events, filter, naming, strict)
            .map_err(|e| self.err(e))??;
        Ok(())
    }

    pub fn summary(&self, filter: &Filter) -> Result<Report, HistoryError> {
        report::compute_over(&self.conn, &self.listens, filter).map_err(|e| self.err(e))
    }

    pub fn filters(&self) -> Result<Filters, HistoryError> {
        let q = || -> Result<Filters, duckdb::Error> {
            let ev = &self.events;
            let mut st = self.conn.prepare(&format!(
                "SELECT DISTINCT state FROM {ev} WHERE state IS NOT NULL ORDER BY state"
            ))?;
            let states = st.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
            let mut st = self.conn.prepare(&format!(
                "SELECT DISTINCT city, state FROM {ev} WHERE city IS NOT NULL ORDER BY city, state NULLS LAST"
            ))?;
            let cities = st
                .query_map([], |r| {
                    Ok(City {
                        city: r.get(0)?,
                        state: r.get(1)?,
                    })
                })?
                .collect::<Result<_, _>>()?;
            let (first, last): (Option<i64>, Option<i64>) = self.conn.query_row(
                &format!("SELECT epoch_ms(min(ts)), epoch_ms(max(ts)) FROM {ev}"),
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            Ok(Filters {
                states,
                cities,
                first_ts: first.map(crate::time::format_utc),
                last_ts: last.map(crate::time::format_utc),
            })
        };
        q().map_err(|e| self.err(e))
    }

    /// The last day of the range: the day of `to` minus 1 ms, else the day of
    /// the newest event matching the filter, else today.
    fn last_day(&self, filter: &Filter) -> Result<i64, duckdb::Error> {
        let t = match filter.to_ms {
            Some(to) => to - 1,
            None => {
                let (w, p) = report::where_clause(filter);
                let newest: Option<i64> = self.conn.query_row(
                    &format!("SELECT epoch_ms(max(ts)) FROM {} WHERE {w}", self.events),
                    params_from_iter(p.iter()),
                    |r| r.get(0),
                )?;
                newest.unwrap_or_else(crate::time::now_ms)
            }
        };
        Ok(t.div_euclid(DAY_MS) * DAY_MS)
    }

    /// Listens per UTC hour of `day` (epoch ms of its midnight) with the
    /// filter's state and city (the whole day, whatever the range).
    fn hours_of(&self, filter: &Filter, day: i64) -> Result<[i64; 24], duckdb::Error> {
        let f = Filter {
            from_ms: Some(day),
            to_ms: Some(day + DAY_MS),
            ..filter.clone()
        };
        let (w, p) = report::where_clause(&f);
        let mut st = self.conn.prepare(&format!(
            "SELECT hour(ts), count(*) FROM {} WHERE {w} GROUP BY 1",
            self.listens
        ))?;
        let mut out = [0i64; 24];
        let rows = st.query_map(params_from_iter(p.iter()), |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
        })?;
        for r in rows {
            let (h, n) = r?;
            if let Some(x) = usize::try_from(h).ok().and_then(|h| out.get_mut(h)) {
                *x = n;
            }
        }
        Ok(out)
    }

    pub fn overview(&self, filter: &Filter) -> Result<Overview, HistoryError> {
        let q = || -> Result<Overview, duckdb::Error> {
            let (w, p) = report::where_clause(filter);
            let total_users: i64 = self.conn.query_row(
                &format!(
                    "SELECT count(DISTINCT userId) FROM {} WHERE {w}",
                    self.events
                ),
                params_from_iter(p.iter()),
                |r| r.get(0),
            )?;
            let (active_users, stream_hours, streams): (i64, f64, i64) = self.conn.query_row(
                &format!(
                    "SELECT count(DISTINCT userId), coalesce(sum(duration), 0) / 3600.0, count(*) FROM {} WHERE {w}",
                    self.listens
                ),
                params_from_iter(p.iter()),
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?;
            let day = self.last_day(filter)?;
            let today: i64 = self.hours_of(filter, day)?.iter().sum();
            let previous: i64 = self.hours_of(filter, day - DAY_MS)?.iter().sum();
            Ok(Overview {
                total_users,
                active_users,
                stream_hours,
                streams,
                today: Today {
                    day: day_name(day),
                    streams: today,
                    previous_day: day_name(day - DAY_MS),
                    previous_streams: previous,
                    change_pct: (previous != 0)
                        .then(|| (today - previous) as f64 / previous as f64 * 100.0),
                },
            })
        };
        q().map_err(|e| self.err(e))
    }

    pub fn hourly(&self, filter: &Filter) -> Result<Hourly, HistoryError> {
        let q = || -> Result<Hourly, duckdb::Error> {
            let day = self.last_day(filter)?;
            Ok(Hourly {
                day: day_name(day),
                previous_day: day_name(day - DAY_MS),
                today: self.hours_of(filter, day)?,
                previous: self.hours_of(filter, day - DAY_MS)?,
            })
        };
        q().map_err(|e| self.err(e))
    }

    pub fn levels(&self, filter: &Filter) -> Result<Vec<Level>, HistoryError> {
        let q = || -> Result<Vec<Level>, duckdb::Error> {
            let (w, p) = report::where_clause(filter);
            let mut st = self.conn.prepare(&format!(
                "SELECT gender, level, count(DISTINCT userId) FROM {} WHERE {w}
                 GROUP BY gender, level ORDER BY gender NULLS LAST, level NULLS LAST",
                self.listens
            ))?;
            let rows = st
                .query_map(params_from_iter(p.iter()), |r| {
                    Ok(Level {
                        gender: r.get(0)?,
                        level: r.get(1)?,
                        users: r.get(2)?,
                    })
                })?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        };
        q().map_err(|e| self.err(e))
    }
}

/// Creates, as temporary tables, those of the two tables the dashboard reads
/// that the warehouse does not have yet (with the lake's columns), so an empty
/// data dir answers zeros and the warehouse file is never written.
fn create_missing_tables(conn: &Connection) -> Result<(), duckdb::Error> {
    use crate::event::Table;
    for t in [Table::PageView, Table::Listen] {
        let n: i64 = conn.query_row(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ?",
            [t.name()],
            |r| r.get(0),
        )?;
        if n > 0 {
            continue;
        }
        let cols: Vec<String> = crate::columns::schema(t)
            .fields()
            .iter()
            .map(|f| {
                let ty = match f.data_type() {
                    arrow::datatypes::DataType::Timestamp(_, _) => "TIMESTAMPTZ",
                    arrow::datatypes::DataType::Int64 => "BIGINT",
                    arrow::datatypes::DataType::Int32 => "INTEGER",
                    arrow::datatypes::DataType::Float64 => "DOUBLE",
                    arrow::datatypes::DataType::Boolean => "BOOLEAN",
                    _ => "VARCHAR",
                };
                format!("\"{}\" {ty}", f.name())
            })
            .collect();
        conn.execute_batch(&format!(
            "CREATE TEMP TABLE {} ({});",
            t.name(),
            cols.join(", ")
        ))?;
    }
    Ok(())
}

fn day_name(day_ms: i64) -> String {
    crate::time::format_utc(day_ms)
        .split('T')
        .next()
        .unwrap_or_default()
        .to_string()
}

/// `musicaly report`'s answer with the same checks as the API, and stricter:
/// a state or city that matches no listen is an error naming the flag.
pub fn report_checked(db: &Path, filter: &Filter) -> Result<Report, HistoryError> {
    let s = Session::open(db, None)?;
    s.check(filter, Naming::Flag, true)?;
    s.summary(filter)
}

#[derive(Debug, Serialize, PartialEq)]
pub struct City {
    pub city: String,
    pub state: Option<String>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Filters {
    pub states: Vec<String>,
    pub cities: Vec<City>,
    pub first_ts: Option<String>,
    pub last_ts: Option<String>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Today {
    pub day: String,
    pub streams: i64,
    pub previous_day: String,
    pub previous_streams: i64,
    pub change_pct: Option<f64>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Overview {
    pub total_users: i64,
    pub active_users: i64,
    pub stream_hours: f64,
    pub streams: i64,
    pub today: Today,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Hourly {
    pub day: String,
    pub previous_day: String,
    pub today: [i64; 24],
    pub previous: [i64; 24],
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Level {
    pub gender: Option<String>,
    pub level: Option<String>,
    pub users: i64,
}
