//! The one-thread path: with a single shard, output order is generation order,
//! so session ids are known when an event is encoded and messages can be
//! written straight into the output's buffer, without the batch and the copy
//! the merge makes. The bytes are the same as through the merge: sessions get
//! their ids by the same rule (in order of their first written event).

use super::encode::{Batch, Ev, MsgSink, Tables};
use super::merge::{Progress, SessionIds};
use super::{Emit, SimError, SimStats, Stream};

/// What the generator hands an event to.
pub trait EventSink {
    fn event(&mut self, tables: &Tables, ev: &Ev, ordinal: u32, serial: u32, key: i64);
    /// Events taken so far (a batch's fill level).
    fn taken(&self) -> usize;
    /// An output error happened: stop generating.
    fn failed(&self) -> bool {
        false
    }
}

impl EventSink for Batch {
    #[inline]
    fn event(&mut self, tables: &Tables, ev: &Ev, ordinal: u32, serial: u32, key: i64) {
        tables.encode(ev, ordinal, serial, key, self);
    }
    #[inline]
    fn taken(&self) -> usize {
        self.events.len()
    }
}

pub struct Direct<'a> {
    out: &'a mut dyn Emit,
    sessions: SessionIds,
    scratch: Vec<u8>,
    /// Messages of outputs that lend no buffer are built here, then emitted.
    own: Vec<u8>,
    lent: bool,
    key: i64,
    pub stats: SimStats,
    progress: Option<Progress>,
    pub error: Option<SimError>,
}

impl<'a> Direct<'a> {
    pub fn new(out: &'a mut dyn Emit, progress: Option<Progress>) -> Direct<'a> {
        Direct {
            out,
            sessions: SessionIds::default(),
            scratch: Vec::with_capacity(1024),
            own: Vec::with_capacity(2048),
            lent: false,
            key: 0,
            stats: SimStats::default(),
            progress,
            error: None,
        }
    }

    pub fn finish(mut self) -> Result<SimStats, SimError> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.out.finish()?;
        if let Some(p) = self.progress.take() {
            p.done();
        }
        self.stats.sessions = self.sessions.count();
        Ok(self.stats)
    }
}

impl MsgSink for Direct<'_> {
    #[inline]
    fn buf(&mut self, stream: Stream) -> &mut Vec<u8> {
        self.lent = self.out.buffer(stream).is_some();
        if self.lent {
            if let Some(b) = self.out.buffer(stream) {
                return b;
            }
        }
        self.own.clear();
        &mut self.own
    }

    #[inline]
    fn end(&mut self, stream: Stream, start: usize, _sid: usize) {
        if let Stream::Topic(t) = stream {
            self.stats.messages[t.index()] += 1;
        }
        let r = if self.lent {
            if let Some(b) = self.out.buffer(stream) {
                b.push(b'\n');
            }
            self.out.written(stream)
        } else {
            self.out.emit(stream, self.key, &self.own[start..])
        };
        if let Err(e) = r {
            self.error.get_or_insert(e);
        }
    }
}

impl EventSink for Direct<'_> {
    #[inline]
    fn event(&mut self, tables: &Tables, ev: &Ev, ordinal: u32, serial: u32, key: i64) {
        let sid = self.sessions.id(ordinal, serial);
        let mut digits = itoa::Buffer::new();
        let digits = digits.format(sid).as_bytes();
        self.key = key;
        let mut scratch = std::mem::take(&mut self.scratch);
        tables.encode_to(ev, Some(digits), &mut scratch, self);
        self.scratch = scratch;
        self.stats.events += 1;
        if let Some(p) = self.progress.as_mut() {
            p.tick(ev.ts, self.stats.events);
        }
    }
    #[inline]
    fn taken(&self) -> usize {
        self.stats.events as usize
    }
    #[inline]
    fn failed(&self) -> bool {
        self.error.is_some()
    }
}
