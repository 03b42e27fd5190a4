//! Columnar form of the event tables: Arrow schemas and the builders the decoder
//! appends into. Column names keep eventsim's field names; `ts` is a UTC
//! timestamp; `_partition`/`_offset` record where each row was read, which makes
//! every row's identity checkable (a row per source message per table).

use std::sync::{Arc, OnceLock};

use arrow::array::{
    ArrayBuilder, ArrayRef, BooleanBuilder, Float64Builder, Int32Builder, Int64Builder,
    PrimitiveArray, PrimitiveBuilder, RecordBatch, StringBuilder, TimestampMillisecondBuilder,
};
use arrow::datatypes::{ArrowPrimitiveType, DataType, Field, Schema, SchemaRef, TimeUnit};

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

/// The Arrow schema of a table (cached).
/// Column `name` of a batch as array type `A`, or an error naming the column
/// (a schema mismatch: a bug, not bad input).
pub fn typed<'a, A: arrow::array::Array + 'static>(
    rb: &'a RecordBatch,
    name: &str,
) -> Result<&'a A, String> {
    rb.column_by_name(name)
        .ok_or_else(|| format!("batch has no {name} column"))?
        .as_any()
        .downcast_ref::<A>()
        .ok_or_else(|| format!("column {name} has an unexpected type"))
}

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

/// Builders for every column; a table's batch takes the columns it has.
/// Reused across batches: `finish` empties them and sizes them like the batch
/// just finished (see [`take_str`]).
#[derive(Default)]
pub struct TableColumns {
    rows: usize,
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
    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Appends a validated event (see [`RawEvent::validate`]).
    pub fn append(&mut self, ev: &RawEvent<'_>, partition: i32, offset: i64) {
        self.rows += 1;
        self.ts.append_value(ev.ts.unwrap_or_default());
        self.session_id
            .append_value(ev.session_id.unwrap_or_default());
        self.page.append_value(ev.page.as_deref().unwrap_or(""));
        self.auth.append_option(ev.auth.as_deref());
        self.method.append_option(ev.method.as_deref());
        self.status.append_option(ev.status);
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
        self.artist.append_option(ev.artist.as_deref());
        self.song.append_option(ev.song.as_deref());
        self.duration.append_option(ev.duration);
        self.success.append_value(ev.success().unwrap_or(false));
        self.partition.append_value(partition);
        self.offset.append_value(offset);
    }

    /// Builds the table's record batch and empties every builder (columns the
    /// table does not have were appended too, and are dropped here).
    pub fn finish(&mut self, table: Table) -> Result<RecordBatch, arrow::error::ArrowError> {
        // In `Col` declaration order.
        let all: [ArrayRef; 25] = [
            Arc::new(take(&mut self.ts).with_timezone("UTC")),
            Arc::new(take(&mut self.session_id)),
            take_str(&mut self.page),
            take_str(&mut self.auth),
            take_str(&mut self.method),
            Arc::new(take(&mut self.status)),
            take_str(&mut self.level),
            Arc::new(take(&mut self.item_in_session)),
            take_str(&mut self.city),
            take_str(&mut self.zip),
            take_str(&mut self.state),
            take_str(&mut self.user_agent),
            Arc::new(take(&mut self.lat)),
            Arc::new(take(&mut self.lon)),
            Arc::new(take(&mut self.user_id)),
            take_str(&mut self.last_name),
            take_str(&mut self.first_name),
            take_str(&mut self.gender),
            Arc::new(take(&mut self.registration)),
            take_str(&mut self.artist),
            take_str(&mut self.song),
            Arc::new(take(&mut self.duration)),
            {
                let n = self.success.len();
                let a = self.success.finish();
                self.success = BooleanBuilder::with_capacity(n);
                Arc::new(a)
            },
            Arc::new(take(&mut self.partition)),
            Arc::new(take(&mut self.offset)),
        ];
        self.rows = 0;
        let arrays = columns(table)
            .into_iter()
            .map(|c| all[c as usize].clone())
            .collect();
        RecordBatch::try_new(schema(table), arrays)
    }
}

/// Finishes a string column and leaves an empty builder with this batch's
/// capacity. Arrow's `finish` hands its buffers to the array and starts again
/// from nothing, so every batch used to regrow every column by doubling (a chain
/// of reallocations and copies: most of the decoder's allocator time); the next
/// batch of a partition is usually about as large.
fn take_str(b: &mut StringBuilder) -> ArrayRef {
    let (n, bytes) = (b.len(), b.values_slice().len());
    let a = b.finish();
    *b = StringBuilder::with_capacity(n, bytes);
    Arc::new(a)
}

/// [`take_str`] for a primitive column.
fn take<T: ArrowPrimitiveType>(b: &mut PrimitiveBuilder<T>) -> PrimitiveArray<T> {
    let n = b.len();
    let a = b.finish();
    *b = PrimitiveBuilder::with_capacity(n);
    a
}
