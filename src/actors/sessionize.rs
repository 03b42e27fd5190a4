//! Sessionizer actor: session windows per user on event time.
//!
//! Input: the page-view rows of every batch once they are durable in the lake
//! (every event is a page view, NextSong included). A session is a run of one
//! user's events with gaps of at most `stream.session_gap_secs`; users whose id
//! is hidden (guests, logged out) are keyed by eventsim's `sessionId` instead.
//! A session closes when the watermark (see `watermark.rs`) passes its last event
//! plus the gap; it becomes a `sessions` row in the lake. Events older than the
//! watermark are late: counted, and written to `_late/page_view_events/`.
//!
//! Sessions are derived data: after a crash the open ones are lost and their
//! events are not replayed (they were committed). `musicaly run` and a clean
//! stop close every open session, so a finished run's `sessions` equal the same
//! definition computed in SQL over the lake (tested).

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use actix::prelude::*;
use arrow::array::{
    Array, ArrayRef, Float64Array, Float64Builder, Int32Builder, Int64Array, Int64Builder,
    RecordBatch, StringArray, StringBuilder, TimestampMillisecondArray,
    TimestampMillisecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use rustc_hash::FxHashMap;

use super::watermark::Watermark;
use crate::columns::{typed, SchemaError};
use crate::messages::SourceId;
use crate::metrics::Metrics;
use crate::sinks::lake::{DerivedWriter, SinkError};

// ---- messages ----

/// Durable rows of one batch, for the stream's derived outputs.
#[derive(Message, Clone)]
#[rtype(result = "Result<(), SinkError>")]
pub struct Observe {
    pub source: SourceId,
    pub rows: RecordBatch,
}

/// A partition's input ended or was revoked: it no longer holds the watermark.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct PartitionGone(pub SourceId);

/// A partition started: it holds the watermark until it reports.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct PartitionStarted(pub SourceId);

/// Close every open window/session and write it (end of run, clean stop).
#[derive(Message)]
#[rtype(result = "Result<(), SinkError>")]
pub struct FlushAll;

/// Close what the watermark allows and write it (periodic).
#[derive(Message)]
#[rtype(result = "Result<(), SinkError>")]
pub struct Tick;

// ---- state ----

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    User(i64),
    Anonymous(i64),
}

#[derive(Debug)]
struct Open {
    user_id: Option<i64>,
    session_id: i64,
    start: i64,
    end: i64,
    events: i32,
    songs: i32,
    listen_seconds: f64,
    level: String,
    city: Option<String>,
    state: Option<String>,
}

pub struct Sessionizer {
    gap_ms: i64,
    /// FxHash: a lookup per page view, on integer keys (SipHash was most of the
    /// stream thread's time).
    open: FxHashMap<Key, Open>,
    watermark: Watermark,
    closed: Vec<Open>,
    late: Vec<RecordBatch>,
    writer: DerivedWriter,
    metrics: Arc<Metrics>,
    mailbox: usize,
}

pub fn sessions_schema() -> SchemaRef {
    let ts = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
    Arc::new(Schema::new(vec![
        Field::new("userId", DataType::Int64, true),
        Field::new("sessionId", DataType::Int64, false),
        Field::new("session_start", ts.clone(), false),
        Field::new("session_end", ts, false),
        Field::new("events", DataType::Int32, false),
        Field::new("songs", DataType::Int32, false),
        Field::new("listen_seconds", DataType::Float64, false),
        Field::new("level", DataType::Utf8, false),
        Field::new("city", DataType::Utf8, true),
        Field::new("state", DataType::Utf8, true),
    ]))
}

impl Sessionizer {
    pub fn new(
        gap_ms: i64,
        watermark: Watermark,
        writer: DerivedWriter,
        metrics: Arc<Metrics>,
        mailbox: usize,
    ) -> Sessionizer {
        Sessionizer {
            gap_ms,
            open: FxHashMap::default(),
            watermark,
            closed: Vec::new(),
            late: Vec::new(),
            writer,
            metrics,
            mailbox,
        }
    }

    /// Folds one batch of durable page views into the open sessions. The actor's
    /// [`Observe`] handler calls it; `stage-bench` calls it directly, so the
    /// stream state's CPU per page view can be measured without actors.
    pub fn observe_batch(
        &mut self,
        source: &SourceId,
        rb: &RecordBatch,
    ) -> Result<(), SchemaError> {
        let ts = typed::<TimestampMillisecondArray>(rb, "ts")?;
        let user = typed::<Int64Array>(rb, "userId")?;
        let sid = typed::<Int64Array>(rb, "sessionId")?;
        let page = typed::<StringArray>(rb, "page")?;
        let level = typed::<StringArray>(rb, "level")?;
        let city = typed::<StringArray>(rb, "city")?;
        let state = typed::<StringArray>(rb, "state")?;
        let duration = typed::<Float64Array>(rb, "duration")?;
        let wm = self.watermark.current().unwrap_or(i64::MIN);
        let mut late_rows = Vec::new();
        let mut max_ts = i64::MIN;
        for i in 0..rb.num_rows() {
            let t = ts.value(i);
            max_ts = max_ts.max(t);
            if t < wm {
                late_rows.push(i as u32);
                continue;
            }
            let user_id = user.is_valid(i).then(|| user.value(i));
            let key = match user_id {
                Some(u) => Key::User(u),
                None => Key::Anonymous(sid.value(i)),
            };
            // An 8-byte array compare (a register compare, not a `memcmp` call).
            let is_song = <[u8; 8]>::try_from(page.value(i).as_bytes()).ok() == Some(*b"NextSong");
            let secs = if is_song && duration.is_valid(i) {
                duration.value(i)
            } else {
                0.0
            };
            let gap = self.gap_ms;
            let fresh = || Open {
                user_id,
                session_id: sid.value(i),
                start: t,
                end: t,
                events: 0,
                songs: 0,
                listen_seconds: 0.0,
                level: level.value(i).to_string(),
                city: city.is_valid(i).then(|| city.value(i).to_string()),
                state: state.is_valid(i).then(|| state.value(i).to_string()),
            };
            let s = match self.open.entry(key) {
                std::collections::hash_map::Entry::Occupied(o) => {
                    let s = o.into_mut();
                    if !(t <= s.end + gap && t >= s.start - gap) {
                        // A gap: the old session ends, a new one starts.
                        self.closed.push(std::mem::replace(s, fresh()));
                    }
                    s
                }
                std::collections::hash_map::Entry::Vacant(v) => v.insert(fresh()),
            };
            s.start = s.start.min(t);
            if t >= s.end {
                s.end = t;
                if !same(&s.level, level.value(i)) {
                    s.level = level.value(i).to_string();
                }
            }
            s.events += 1;
            if is_song {
                s.songs += 1;
                s.listen_seconds += secs;
            }
        }
        if max_ts > i64::MIN {
            self.watermark.observe(source, max_ts);
        }
        if !late_rows.is_empty() {
            self.metrics
                .late_events
                .fetch_add(late_rows.len() as u64, Relaxed);
            let idx = arrow::array::UInt32Array::from(late_rows);
            let cols: Result<Vec<ArrayRef>, _> = rb
                .columns()
                .iter()
                .map(|c| arrow::compute::take(c.as_ref(), &idx, None))
                .collect();
            let late = RecordBatch::try_new(rb.schema(), cols?)?;
            self.late.push(late);
        }
        Ok(())
    }

    /// Moves sessions the watermark has passed (or all, when `all`) to `closed`.
    fn close(&mut self, all: bool) {
        let wm = self.watermark.current();
        let gap = self.gap_ms;
        let keys: Vec<Key> = self
            .open
            .iter()
            .filter(|(_, s)| all || wm.is_some_and(|w| s.end + gap < w))
            .map(|(k, _)| *k)
            .collect();
        for k in keys {
            if let Some(s) = self.open.remove(&k) {
                self.closed.push(s);
            }
        }
    }

    fn take_output(&mut self) -> Result<(Option<RecordBatch>, Vec<RecordBatch>), SchemaError> {
        let late = std::mem::take(&mut self.late);
        if self.closed.is_empty() {
            return Ok((None, late));
        }
        let closed = std::mem::take(&mut self.closed);
        // Sorted as indices (with the index as the last key, so the unstable
        // sort gives the stable order) rather than moving the sessions.
        let mut order: Vec<(i64, i64, Option<i64>, usize)> = closed
            .iter()
            .enumerate()
            .map(|(i, s)| (s.start, s.session_id, s.user_id, i))
            .collect();
        order.sort_unstable();
        let mut user = Int64Builder::new();
        let mut sid = Int64Builder::new();
        let mut start = TimestampMillisecondBuilder::new().with_timezone("UTC");
        let mut end = TimestampMillisecondBuilder::new().with_timezone("UTC");
        let mut events = Int32Builder::new();
        let mut songs = Int32Builder::new();
        let mut secs = Float64Builder::new();
        let mut level = StringBuilder::new();
        let mut city = StringBuilder::new();
        let mut state = StringBuilder::new();
        for s in order.iter().filter_map(|o| closed.get(o.3)) {
            user.append_option(s.user_id);
            sid.append_value(s.session_id);
            start.append_value(s.start);
            end.append_value(s.end);
            events.append_value(s.events);
            songs.append_value(s.songs);
            secs.append_value(s.listen_seconds);
            level.append_value(&s.level);
            city.append_option(s.city.as_deref());
            state.append_option(s.state.as_deref());
        }
        self.metrics
            .sessions_closed
            .fetch_add(closed.len() as u64, Relaxed);
        let cols: Vec<ArrayRef> = vec![
            Arc::new(user.finish()),
            Arc::new(sid.finish()),
            Arc::new(start.finish()),
            Arc::new(end.finish()),
            Arc::new(events.finish()),
            Arc::new(songs.finish()),
            Arc::new(secs.finish()),
            Arc::new(level.finish()),
            Arc::new(city.finish()),
            Arc::new(state.finish()),
        ];
        let rb = RecordBatch::try_new(sessions_schema(), cols)?;
        Ok((Some(rb), late))
    }

    /// Closes the sessions the watermark has passed (all, when `all`) and returns
    /// what to write: (table, time column, rows). Synchronous, so `stage-bench`
    /// can time it; the actor's `write` sends it to the lake.
    pub fn close_output(&mut self, all: bool) -> Result<StreamOutput, SchemaError> {
        self.close(all);
        let (sessions, late) = self.take_output()?;
        let mut out: StreamOutput = Vec::new();
        if let Some(rb) = sessions {
            out.push(("sessions", "session_start", rb));
        }
        out.extend(
            late.into_iter()
                .map(|rb| ("_late/page_view_events", "ts", rb)),
        );
        Ok(out)
    }
}

/// A stream actor's closed output: (lake table, its time column, rows).
pub type StreamOutput = Vec<(&'static str, &'static str, RecordBatch)>;

/// String equality inlined as a byte loop: levels are a few bytes, for which a
/// `memcmp` call costs more than the compare (one per page view).
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| x == y)
}

/// The actor and message plumbing shared by the stream's stateful actors
/// (Sessionizer, Aggregator): each has `mailbox`, `watermark`, `writer`,
/// `observe_batch(&SourceId, &RecordBatch) -> Result<(), SchemaError>` and
/// `close_output(all) -> Result<StreamOutput, SchemaError>`.
macro_rules! stream_state_actor {
    ($t:ty) => {
        impl Actor for $t {
            type Context = Context<Self>;
            fn started(&mut self, ctx: &mut Context<Self>) {
                ctx.set_mailbox_capacity(self.mailbox);
            }
        }

        impl Handler<Observe> for $t {
            type Result = Result<(), SinkError>;
            fn handle(&mut self, msg: Observe, _: &mut Context<Self>) -> Self::Result {
                self.observe_batch(&msg.source, &msg.rows)
                    .map_err(SinkError::from)
            }
        }

        impl $t {
            /// Closes what `all` or the watermark allows and writes it to the lake.
            fn write(&mut self, all: bool) -> ResponseFuture<Result<(), SinkError>> {
                let out = self.close_output(all);
                let writer = self.writer.clone();
                Box::pin(async move {
                    for (table, ts_column, rb) in out.map_err(SinkError::from)? {
                        writer.hold(table, ts_column, &rb)?;
                    }
                    // With `all`, sessions and windows are all closed: nothing
                    // more comes for any held hour.
                    writer.flush(all).await
                })
            }
        }

        impl Handler<PartitionGone> for $t {
            type Result = ();
            fn handle(&mut self, msg: PartitionGone, _: &mut Context<Self>) {
                self.watermark.remove(&msg.0);
            }
        }

        impl Handler<PartitionStarted> for $t {
            type Result = ();
            fn handle(&mut self, msg: PartitionStarted, _: &mut Context<Self>) {
                self.watermark.register(&msg.0);
            }
        }

        impl Handler<Tick> for $t {
            type Result = ResponseFuture<Result<(), SinkError>>;
            fn handle(&mut self, _: Tick, _: &mut Context<Self>) -> Self::Result {
                self.write(false)
            }
        }

        impl Handler<FlushAll> for $t {
            type Result = ResponseFuture<Result<(), SinkError>>;
            fn handle(&mut self, _: FlushAll, _: &mut Context<Self>) -> Self::Result {
                self.write(true)
            }
        }
    };
}
pub(crate) use stream_state_actor;

stream_state_actor!(Sessionizer);
