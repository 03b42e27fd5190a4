//! The one-thread path: with a single shard, output order is generation order,
//! so session ids are known when an event is encoded and messages can be
//! written straight into the output's buffers, without the batch and the copy
//! the merge makes. The bytes are the same as through the merge: sessions get
//! their ids by the same rule (in order of their first written event).
//!
//! Outputs that write bytes lend their [`BlockWriter`]: lines are appended to
//! its buffers with no call per message ([`Lines`] is monomorphised). Other
//! outputs (Kafka, in-process) get each message through [`Emit::emit`], from
//! buffers of our own ([`EmitLines`]).

use super::blocks::BlockWriter;
use super::emit::Emit;
use super::encode::{digits13, Digits, Ev, EventLines, Line, Tables};
use super::error::SimError;
use super::progress::Progress;
use super::sessions::SessionDigits;
use super::shard::EventSink;
use super::stats::SimStats;
use super::stream::Stream;
use crate::event::Table;

/// Where the one-thread path appends lines.
pub trait Lines {
    /// The buffers lines are appended to.
    fn bufs(&mut self) -> &mut [Vec<u8>];
    /// The buffer of `stream`.
    fn route(&self, stream: Stream) -> usize;
    /// The event's lines are complete.
    fn done(&mut self, key: i64, lines: &[Line]) -> Result<(), SimError>;
    fn finish(&mut self) -> Result<(), SimError>;
}

impl Lines for &mut BlockWriter {
    #[inline]
    fn bufs(&mut self) -> &mut [Vec<u8>] {
        BlockWriter::bufs(self)
    }
    #[inline]
    fn route(&self, stream: Stream) -> usize {
        BlockWriter::route(self, stream)
    }
    #[inline]
    fn done(&mut self, _key: i64, lines: &[Line]) -> Result<(), SimError> {
        for l in lines {
            self.written(l.buf)?;
        }
        Ok(())
    }
    fn finish(&mut self) -> Result<(), SimError> {
        Ok(())
    }
}

/// Lines for an output that takes messages one by one: built in buffers of
/// our own (one per stream), then emitted without their `\n`.
pub struct EmitLines<'a> {
    out: &'a mut dyn Emit,
    bufs: [Vec<u8>; 5],
}

impl<'a> EmitLines<'a> {
    pub fn new(out: &'a mut dyn Emit) -> EmitLines<'a> {
        EmitLines {
            out,
            bufs: std::array::from_fn(|_| Vec::with_capacity(2048)),
        }
    }
}

impl Lines for EmitLines<'_> {
    #[inline]
    fn bufs(&mut self) -> &mut [Vec<u8>] {
        &mut self.bufs
    }
    #[inline]
    fn route(&self, stream: Stream) -> usize {
        match stream {
            Stream::Topic(t) => t.index(),
            Stream::Single => 4,
        }
    }
    fn done(&mut self, key: i64, lines: &[Line]) -> Result<(), SimError> {
        let mut r = Ok(());
        for l in lines {
            if r.is_ok() {
                let b = &self.bufs[l.buf];
                r = self.out.emit(l.stream, key, &b[l.start..l.end - 1]);
            }
        }
        for l in lines {
            self.bufs[l.buf].clear();
        }
        r
    }
    fn finish(&mut self) -> Result<(), SimError> {
        Ok(())
    }
}

pub struct Direct<L: Lines> {
    lines: L,
    /// The buffer of each stream (the four topics, then the single stream).
    routes: [usize; 5],
    sessions: SessionDigits,
    /// The last timestamp written, and `{"ts":T,"sessionId":` for it: events
    /// come in time order, a few per simulated second.
    ts: i64,
    head: [u8; 40],
    head_len: usize,
    /// The event's messages.
    msgs: EventLines,
    pub stats: SimStats,
    progress: Option<Progress>,
    pub error: Option<SimError>,
}

impl<L: Lines> Direct<L> {
    pub fn new(lines: L, progress: Option<Progress>) -> Direct<L> {
        let mut routes = [0; 5];
        for t in Table::ALL {
            routes[t.index()] = lines.route(Stream::Topic(t));
        }
        routes[4] = lines.route(Stream::Single);
        Direct {
            lines,
            routes,
            sessions: SessionDigits::default(),
            ts: i64::MIN,
            head: [0; 40],
            head_len: 0,
            msgs: EventLines::default(),
            stats: SimStats::default(),
            progress,
            error: None,
        }
    }

    /// Ends the run (the caller then finishes the output itself).
    pub fn finish(mut self) -> Result<SimStats, SimError> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.lines.finish()?;
        if let Some(p) = self.progress.take() {
            p.done();
        }
        self.stats.sessions = self.sessions.count();
        Ok(self.stats)
    }
}

impl<L: Lines> EventSink for Direct<L> {
    #[inline]
    fn event(&mut self, tables: &Tables, ev: &Ev<'_>, ordinal: u32, serial: u32, key: i64) {
        if ev.ts != self.ts {
            self.ts = ev.ts;
            const TS: &[u8] = b"{\"ts\":";
            const SID: &[u8] = b",\"sessionId\":";
            let h = &mut self.head;
            h[..TS.len()].copy_from_slice(TS);
            let mut at = TS.len();
            if (1_000_000_000_000..10_000_000_000_000).contains(&ev.ts) {
                digits13(ev.ts as u64, &mut h[at..at + 13]);
                at += 13;
            } else {
                let mut b = itoa::Buffer::new();
                let d = b.format(ev.ts).as_bytes();
                h[at..at + d.len()].copy_from_slice(d);
                at += d.len();
            }
            h[at..at + SID.len()].copy_from_slice(SID);
            self.head_len = at + SID.len();
        }
        let (sid, sid_len) = self.sessions.digits(ordinal, serial);
        let digits = Digits {
            head: &self.head,
            head_len: self.head_len,
            sid,
            sid_len,
        };
        self.msgs.clear();
        tables.encode_lines(ev, &digits, self.lines.bufs(), &self.routes, &mut self.msgs);
        for l in self.msgs.as_slice() {
            match l.stream {
                Stream::Topic(t) => self.stats.messages[t.index()] += 1,
                Stream::Single => self.stats.single += 1,
            }
        }
        if let Err(e) = self.lines.done(key, self.msgs.as_slice()) {
            self.error.get_or_insert(e);
        }
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
    #[inline]
    fn prefetch(&self, ordinal: u32) {
        self.sessions.prefetch(ordinal);
    }
}
