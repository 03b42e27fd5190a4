//! Columnar form of the event tables: Arrow schemas and the builders the decoder
//! appends into. Column names keep eventsim's field names; `ts` is a UTC
//! timestamp; `_partition`/`_offset` record where each row was read, which makes
//! every row's identity checkable (a row per source message per table).

use std::sync::{Arc, OnceLock};

use arrow::array::{
    Array, ArrayRef, BooleanBuilder, Float64Builder, Int32Builder, Int64Builder, RecordBatch,
    StringArray, StringBuilder, TimestampMillisecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::event::{RawEvent, Table};

/// A column of an event table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Col {
    Ts,
    SessionId,
    Page,
    Auth,
    Method,
    Status,
    Level,
    ItemInSession,
    City,
    Zip,
    State,
    UserAgent,
    Lat,
    Lon,
    UserId,
    LastName,
    FirstName,
    Gender,
    Registration,
    Artist,
    Song,
    Duration,
    Success,
    Partition,
    Offset,
}

use Col::*;

/// Number of [`Col`]s.
const COLS: usize = Offset as usize + 1;

const DEVICE_USER: [Col; 11] = [
    City,
    Zip,
    State,
    UserAgent,
    Lat,
    Lon,
    UserId,
    LastName,
    FirstName,
    Gender,
    Registration,
];

fn columns(table: Table) -> Vec<Col> {
    let mut cols = match table {
        Table::PageView => vec![
            Ts,
            SessionId,
            Page,
            Auth,
            Method,
            Status,
            Level,
            ItemInSession,
        ],
        Table::Listen => vec![
            Artist,
            Song,
            Duration,
            Ts,
            SessionId,
            Auth,
            Level,
            ItemInSession,
        ],
        Table::Auth => vec![Ts, SessionId, Level, ItemInSession],
        Table::StatusChange => vec![Ts, SessionId, Auth, Level, ItemInSession],
    };
    cols.extend(DEVICE_USER);
    match table {
        Table::PageView => cols.extend([Artist, Song, Duration]),
        Table::Auth => cols.push(Success),
        _ => {}
    }
    cols.extend([Partition, Offset]);
    cols
}

fn field(col: Col) -> Field {
    let ts = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
    let (name, dt, nullable) = match col {
        Ts => ("ts", ts, false),
        SessionId => ("sessionId", DataType::Int64, false),
        Page => ("page", DataType::Utf8, false),
        Auth => ("auth", DataType::Utf8, true),
        Method => ("method", DataType::Utf8, true),
        Status => ("status", DataType::Int32, true),
        Level => ("level", DataType::Utf8, false),
        ItemInSession => ("itemInSession", DataType::Int32, true),
        City => ("city", DataType::Utf8, true),
        Zip => ("zip", DataType::Utf8, true),
        State => ("state", DataType::Utf8, true),
        UserAgent => ("userAgent", DataType::Utf8, true),
        Lat => ("lat", DataType::Float64, true),
        Lon => ("lon", DataType::Float64, true),
        UserId => ("userId", DataType::Int64, true),
        LastName => ("lastName", DataType::Utf8, true),
        FirstName => ("firstName", DataType::Utf8, true),
        Gender => ("gender", DataType::Utf8, true),
        Registration => ("registration", DataType::Int64, true),
        Artist => ("artist", DataType::Utf8, true),
        Song => ("song", DataType::Utf8, true),
        Duration => ("duration", DataType::Float64, true),
        Success => ("success", DataType::Boolean, false),
        Partition => ("_partition", DataType::Int32, false),
        Offset => ("_offset", DataType::Int64, false),
    };
    Field::new(name, dt, nullable)
}

/// A batch without the columns its code expects: a bug in musicaly, not bad
/// input (bad input becomes dead letters before it reaches a batch).
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("batch has no {0} column (a bug: please report it)")]
    Missing(String),
    #[error("column {0} has an unexpected type (a bug: please report it)")]
    Type(String),
    #[error("building a batch: {0} (a bug: please report it)")]
    Arrow(#[from] arrow::error::ArrowError),
}

/// Column `name` of a batch as array type `A`.
pub fn typed<'a, A: arrow::array::Array + 'static>(
    rb: &'a RecordBatch,
    name: &str,
) -> Result<&'a A, SchemaError> {
    rb.column_by_name(name)
        .ok_or_else(|| SchemaError::Missing(name.to_string()))?
        .as_any()
        .downcast_ref::<A>()
        .ok_or_else(|| SchemaError::Type(name.to_string()))
}

/// The Arrow schema of a table (cached).
pub fn schema(table: Table) -> SchemaRef {
    static SCHEMAS: OnceLock<[SchemaRef; 4]> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        Table::ALL.map(|t| {
            Arc::new(Schema::new(
                columns(t).into_iter().map(field).collect::<Vec<_>>(),
            ))
        })
    })[table.index()]
    .clone()
}

/// Builders of one table's columns, reused across batches: `finish` hands
/// their buffers to the batch, and [`TableColumns::start_batch`] gives them
/// the next batch's capacity up front.
///
/// The struct has a builder for every column of any table, but a table appends
/// only to its own (listen_events has 21 columns, auth and status changes 18):
/// the others stay empty and never allocate. Appending to all 25 and dropping
/// the extra arrays at `finish` cost about a sixth of the appends, plus the
/// growth of buffers nobody read.
pub struct TableColumns {
    table: Table,
    rows: usize,
    /// Rows of the last batch, and the string bytes of each of its columns
    /// (by [`Col`]): how [`TableColumns::start_batch`] sizes the next one.
    last_rows: usize,
    last_bytes: [usize; COLS],
    /// Rows the builders have room for (0 after `finish`).
    sized_rows: usize,
    ts: TimestampMillisecondBuilder,
    session_id: Int64Builder,
    page: StringBuilder,
    auth: StringBuilder,
    method: StringBuilder,
    status: Int32Builder,
    level: StringBuilder,
    item_in_session: Int32Builder,
    city: StringBuilder,
    zip: StringBuilder,
    state: StringBuilder,
    user_agent: StringBuilder,
    lat: Float64Builder,
    lon: Float64Builder,
    user_id: Int64Builder,
    last_name: StringBuilder,
    first_name: StringBuilder,
    gender: StringBuilder,
    registration: Int64Builder,
    artist: StringBuilder,
    song: StringBuilder,
    duration: Float64Builder,
    success: BooleanBuilder,
    partition: Int32Builder,
    offset: Int64Builder,
}

impl TableColumns {
    /// Empty builders for `table`'s columns.
    pub fn new(table: Table) -> TableColumns {
        TableColumns {
            table,
            rows: 0,
            last_rows: 0,
            last_bytes: [0; COLS],
            sized_rows: 0,
            ts: Default::default(),
            session_id: Default::default(),
            page: Default::default(),
            auth: Default::default(),
            method: Default::default(),
            status: Default::default(),
            level: Default::default(),
            item_in_session: Default::default(),
            city: Default::default(),
            zip: Default::default(),
            state: Default::default(),
            user_agent: Default::default(),
            lat: Default::default(),
            lon: Default::default(),
            user_id: Default::default(),
            last_name: Default::default(),
            first_name: Default::default(),
            gender: Default::default(),
            registration: Default::default(),
            artist: Default::default(),
            song: Default::default(),
            duration: Default::default(),
            success: Default::default(),
            partition: Default::default(),
            offset: Default::default(),
        }
    }

    pub fn table(&self) -> Table {
        self.table
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Sizes the (empty) builders for a batch of `rows` rows, or when that is
    /// not known (a table a single stream is split into), as many as the last
    /// batch had. Strings get the last batch's bytes per row of each column.
    ///
    /// Arrow's `finish` leaves a builder without buffers, and growing one by
    /// doubling reallocates and copies it a dozen times a batch (sizing the
    /// rows' buffers alone saved 2% of the decoder in stage-bench). Sizing at
    /// the start, not at `finish`, also leaves an idle decoder holding no
    /// column buffers between batches. Builders still sized from a batch that
    /// brought the table no rows are kept.
    pub fn start_batch(&mut self, rows: Option<usize>) {
        let rows = rows.unwrap_or(self.last_rows);
        if self.rows != 0 || rows <= self.sized_rows {
            return;
        }
        self.sized_rows = rows;
        for col in columns(self.table) {
            let bytes = match self.last_rows {
                0 => 0,
                last => self.last_bytes[col as usize].div_ceil(last) * rows,
            };
            self.size_column(col, rows, bytes);
        }
    }

    /// Appends a validated event (see [`RawEvent::validate`]) to the table's
    /// columns (the ones [`columns`] lists for it).
    pub fn append(&mut self, ev: &RawEvent<'_>, partition: i32, offset: i64) {
        self.rows += 1;
        // Columns every table has.
        self.ts.append_value(ev.ts.unwrap_or_default());
        self.session_id
            .append_value(ev.session_id.unwrap_or_default());
        self.level.append_value(ev.level.as_deref().unwrap_or(""));
        self.item_in_session.append_option(ev.item_in_session);
        self.city.append_option(ev.city.as_deref());
        self.zip.append_option(ev.zip.as_deref());
        self.state.append_option(ev.state.as_deref());
        self.user_agent.append_option(ev.user_agent.as_deref());
        self.lat.append_option(ev.lat);
        self.lon.append_option(ev.lon);
        self.user_id.append_option(ev.user_id);
        self.last_name.append_option(ev.last_name.as_deref());
        self.first_name.append_option(ev.first_name.as_deref());
        self.gender.append_option(ev.gender.as_deref());
        self.registration.append_option(ev.registration);
        self.partition.append_value(partition);
        self.offset.append_value(offset);
        // The table's own.
        match self.table {
            Table::PageView => {
                self.page.append_value(ev.page.as_deref().unwrap_or(""));
                self.auth.append_option(ev.auth.as_deref());
                self.method.append_option(ev.method.as_deref());
                self.status.append_option(ev.status);
                self.append_song(ev);
            }
            Table::Listen => {
                self.auth.append_option(ev.auth.as_deref());
                self.append_song(ev);
            }
            Table::Auth => self.success.append_value(ev.success().unwrap_or(false)),
            Table::StatusChange => self.auth.append_option(ev.auth.as_deref()),
        }
    }

    fn append_song(&mut self, ev: &RawEvent<'_>) {
        self.artist.append_option(ev.artist.as_deref());
        self.song.append_option(ev.song.as_deref());
        self.duration.append_option(ev.duration);
    }

    /// Builds the table's record batch and empties its builders.
    pub fn finish(&mut self) -> Result<RecordBatch, arrow::error::ArrowError> {
        let table = self.table;
        let arrays = columns(table)
            .into_iter()
            .map(|c| {
                let a = self.take_column(c);
                if let Some(s) = a.as_any().downcast_ref::<StringArray>() {
                    self.last_bytes[c as usize] = s.values().len();
                }
                a
            })
            .collect();
        self.last_rows = self.rows;
        self.rows = 0;
        self.sized_rows = 0;
        RecordBatch::try_new(schema(table), arrays)
    }

    /// Replaces a column's empty builder with one of the given capacity.
    fn size_column(&mut self, col: Col, rows: usize, bytes: usize) {
        let s = || StringBuilder::with_capacity(rows, bytes);
        match col {
            Ts => self.ts = TimestampMillisecondBuilder::with_capacity(rows),
            SessionId => self.session_id = Int64Builder::with_capacity(rows),
            Page => self.page = s(),
            Auth => self.auth = s(),
            Method => self.method = s(),
            Status => self.status = Int32Builder::with_capacity(rows),
            Level => self.level = s(),
            ItemInSession => self.item_in_session = Int32Builder::with_capacity(rows),
            City => self.city = s(),
            Zip => self.zip = s(),
            State => self.state = s(),
            UserAgent => self.user_agent = s(),
            Lat => self.lat = Float64Builder::with_capacity(rows),
            Lon => self.lon = Float64Builder::with_capacity(rows),
            UserId => self.user_id = Int64Builder::with_capacity(rows),
            LastName => self.last_name = s(),
            FirstName => self.first_name = s(),
            Gender => self.gender = s(),
            Registration => self.registration = Int64Builder::with_capacity(rows),
            Artist => self.artist = s(),
            Song => self.song = s(),
            Duration => self.duration = Float64Builder::with_capacity(rows),
            Success => self.success = BooleanBuilder::with_capacity(rows),
            Partition => self.partition = Int32Builder::with_capacity(rows),
            Offset => self.offset = Int64Builder::with_capacity(rows),
        }
    }

    /// The array of a column's builder, which is left empty, without buffers.
    fn take_column(&mut self, col: Col) -> ArrayRef {
        match col {
            Ts => Arc::new(self.ts.finish().with_timezone("UTC")),
            SessionId => Arc::new(self.session_id.finish()),
            Page => Arc::new(self.page.finish()),
            Auth => Arc::new(self.auth.finish()),
            Method => Arc::new(self.method.finish()),
            Status => Arc::new(self.status.finish()),
            Level => Arc::new(self.level.finish()),
            ItemInSession => Arc::new(self.item_in_session.finish()),
            City => Arc::new(self.city.finish()),
            Zip => Arc::new(self.zip.finish()),
            State => Arc::new(self.state.finish()),
            UserAgent => Arc::new(self.user_agent.finish()),
            Lat => Arc::new(self.lat.finish()),
            Lon => Arc::new(self.lon.finish()),
            UserId => Arc::new(self.user_id.finish()),
            LastName => Arc::new(self.last_name.finish()),
            FirstName => Arc::new(self.first_name.finish()),
            Gender => Arc::new(self.gender.finish()),
            Registration => Arc::new(self.registration.finish()),
            Artist => Arc::new(self.artist.finish()),
            Song => Arc::new(self.song.finish()),
            Duration => Arc::new(self.duration.finish()),
            Success => Arc::new(self.success.finish()),
            Partition => Arc::new(self.partition.finish()),
            Offset => Arc::new(self.offset.finish()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{parse, DecodeLimits};
    use arrow::array::{
        ArrayBuilder, BooleanArray, Float64Array, Int32Array, Int64Array, TimestampMillisecondArray,
    };

    /// A value of a cell, for comparing a batch with the events it came from.
    #[derive(Debug, PartialEq)]
    enum V {
        I(Option<i64>),
        F(Option<f64>),
        S(Option<String>),
        B(Option<bool>),
    }

    /// What column `col` of an event's row must hold, written per column (the
    /// builders are written per table): the two must agree.
    fn expected(col: Col, ev: &RawEvent<'_>, partition: i32, offset: i64) -> V {
        let s = |v: &Option<std::borrow::Cow<'_, str>>| V::S(v.as_deref().map(String::from));
        match col {
            Ts => V::I(ev.ts),
            SessionId => V::I(ev.session_id),
            Page => V::S(Some(ev.page.as_deref().unwrap_or("").to_string())),
            Auth => s(&ev.auth),
            Method => s(&ev.method),
            Status => V::I(ev.status.map(i64::from)),
            Level => V::S(Some(ev.level.as_deref().unwrap_or("").to_string())),
            ItemInSession => V::I(ev.item_in_session.map(i64::from)),
            City => s(&ev.city),
            Zip => s(&ev.zip),
            State => s(&ev.state),
            UserAgent => s(&ev.user_agent),
            Lat => V::F(ev.lat),
            Lon => V::F(ev.lon),
            UserId => V::I(ev.user_id),
            LastName => s(&ev.last_name),
            FirstName => s(&ev.first_name),
            Gender => s(&ev.gender),
            Registration => V::I(ev.registration),
            Artist => s(&ev.artist),
            Song => s(&ev.song),
            Duration => V::F(ev.duration),
            Success => V::B(Some(ev.success().unwrap_or(false))),
            Partition => V::I(Some(partition.into())),
            Offset => V::I(Some(offset)),
        }
    }

    fn cell(a: &dyn Array, row: usize) -> V {
        let valid = a.is_valid(row);
        let any = a.as_any();
        if let Some(a) = any.downcast_ref::<TimestampMillisecondArray>() {
            V::I(valid.then(|| a.value(row)))
        } else if let Some(a) = any.downcast_ref::<Int64Array>() {
            V::I(valid.then(|| a.value(row)))
        } else if let Some(a) = any.downcast_ref::<Int32Array>() {
            V::I(valid.then(|| a.value(row).into()))
        } else if let Some(a) = any.downcast_ref::<Float64Array>() {
            V::F(valid.then(|| a.value(row)))
        } else if let Some(a) = any.downcast_ref::<StringArray>() {
            V::S(valid.then(|| a.value(row).to_string()))
        } else if let Some(a) = any.downcast_ref::<BooleanArray>() {
            V::B(valid.then(|| a.value(row)))
        } else {
            panic!("unexpected array type {}", a.data_type())
        }
    }

    /// Every table's batch has its schema and, column by column, the values of
    /// the events appended (a full row and one with the optional fields null
    /// or absent), over three batches (the builders are reused, and sized in
    /// each way), and the builders of columns the table does not have stay
    /// empty.
    #[test]
    fn each_table_batch_holds_its_columns_values() {
        let samples: [(Table, [&str; 2]); 4] = [
            (
                Table::PageView,
                [
                    r#"{"ts":1793577600000,"sessionId":1,"page":"NextSong","auth":"Logged In","method":"PUT","status":200,"level":"free","itemInSession":44,"city":"Fairfield","zip":"94533","state":"CA","userAgent":"\"Mozilla/5.0\"","lon":-122.04,"lat":38.2494,"userId":3631,"registration":1793577600000,"lastName":"Andrews","firstName":"Craig","gender":"M","artist":"Ava Ingram","song":"Anthem","duration":219.90474}"#,
                    r#"{"ts":1793577600001,"sessionId":2,"page":"Home","auth":"Guest","method":"GET","status":200,"level":"free","itemInSession":0}"#,
                ],
            ),
            (
                Table::Listen,
                [
                    r#"{"artist":"Bj\u00c3\u00b6rk","song":"Undo","duration":238.5,"ts":1793577600000,"sessionId":38,"auth":"Logged In","level":"paid","itemInSession":3,"city":"Tampa","zip":"33602","state":"FL","userAgent":"x","lon":-82.4,"lat":27.9,"userId":39,"lastName":"Frye","firstName":"Walter","gender":"M","registration":1540919166796}"#,
                    r#"{"song":"S","duration":1.5,"ts":1793577600000,"sessionId":38,"level":"paid","userId":39}"#,
                ],
            ),
            (
                Table::Auth,
                [
                    r#"{"ts":1793577611000,"sessionId":8,"level":"free","itemInSession":90,"city":"Amarillo","zip":"79101","state":"TX","userAgent":"u","lon":-101.8313,"lat":35.222,"userId":8746,"registration":1793577600000,"lastName":"Sims","firstName":"Alyssa","gender":"F","success":true}"#,
                    r#"{"ts":1793577611000,"sessionId":8,"level":"free","success":false}"#,
                ],
            ),
            (
                Table::StatusChange,
                [
                    r#"{"ts":1793577611000,"sessionId":8,"auth":"Logged In","level":"paid","itemInSession":9,"city":"Amarillo","zip":"79101","state":"TX","userAgent":"u","lon":-101.8,"lat":35.2,"userId":8746,"registration":1793577600000,"lastName":"Sims","firstName":"Alyssa","gender":"F"}"#,
                    r#"{"ts":1793577611000,"sessionId":8,"level":"paid","userId":8746}"#,
                ],
            ),
        ];
        let limits = DecodeLimits::default();
        for (table, lines) in samples {
            let mut cols = TableColumns::new(table);
            // Unsized builders, sized for the batch, sized as the last one.
            for (round, sizing) in [None, Some(Some(2)), Some(None)].into_iter().enumerate() {
                if let Some(rows) = sizing {
                    cols.start_batch(rows);
                }
                let events: Vec<_> = lines
                    .iter()
                    .map(|l| parse(l.as_bytes(), &limits).unwrap())
                    .collect();
                for (i, ev) in events.iter().enumerate() {
                    ev.validate(table, &limits).unwrap();
                    cols.append(ev, 5, (round * 10 + i) as i64);
                }
                let rb = cols.finish().unwrap();
                assert_eq!(rb.schema(), schema(table));
                assert!(cols.builder_lens().iter().all(|n| *n == 0), "{table}");
                assert_eq!(rb.num_rows(), events.len());
                for (c, col) in columns(table).into_iter().enumerate() {
                    for (i, ev) in events.iter().enumerate() {
                        assert_eq!(
                            cell(rb.column(c), i),
                            expected(col, ev, 5, (round * 10 + i) as i64),
                            "{table} {col:?} row {i}"
                        );
                    }
                }
            }
        }
    }

    impl TableColumns {
        /// The lengths of all builders, the table's and the others.
        fn builder_lens(&self) -> Vec<usize> {
            vec![
                self.ts.len(),
                self.session_id.len(),
                self.page.len(),
                self.auth.len(),
                self.method.len(),
                self.status.len(),
                self.level.len(),
                self.item_in_session.len(),
                self.city.len(),
                self.zip.len(),
                self.state.len(),
                self.user_agent.len(),
                self.lat.len(),
                self.lon.len(),
                self.user_id.len(),
                self.last_name.len(),
                self.first_name.len(),
                self.gender.len(),
                self.registration.len(),
                self.artist.len(),
                self.song.len(),
                self.duration.len(),
                self.success.len(),
                self.partition.len(),
                self.offset.len(),
            ]
        }
    }
}
