//! Decoder actor: raw JSON messages → Arrow columns per table, bad messages →
//! dead letters with their reason. CPU-bound, so each decoder runs on its own
//! arbiter (thread); a partition always goes to the same decoder, which keeps the
//! single-stream splitter's per-session state in one place.

use std::collections::HashMap;
use std::sync::Arc;

use actix::prelude::*;

use crate::columns::TableColumns;
use crate::event::{
    self, DecodeLimits, JsonParser, RawEvent, Routing, SingleStreamSplitter, Table,
};
pub use crate::messages::{DeadLetter, DecodedBatch};
use crate::messages::{SourceBatch, SourceId};
use crate::metrics::Metrics;

// ---- messages ----

/// Decode one batch.
#[derive(Message)]
#[rtype(result = "Result<DecodedBatch, DecodeFailure>")]
pub struct Decode(pub SourceBatch);

/// Building the Arrow batch failed: a bug, not bad input (input errors are dead letters).
#[derive(Debug, thiserror::Error)]
#[error("decoding {source_id}: {message}")]
pub struct DecodeFailure {
    pub source_id: SourceId,
    pub message: String,
}

// ---- actor ----

pub struct Decoder {
    limits: DecodeLimits,
    columns: [TableColumns; 4],
    splitters: HashMap<SourceId, SingleStreamSplitter>,
    routes: Vec<Table>,
    /// Unescaped strings of the message being decoded (see `event::parse_in`).
    scratch: event::Scratch,
    /// The JSON parser (the scanner; its peers for stage-bench), and the
    /// buffers of simd-json's.
    parser: JsonParser,
    simd: event::SimdBuffers,
    metrics: Arc<Metrics>,
    mailbox: usize,
}

impl Decoder {
    pub fn new(limits: DecodeLimits, metrics: Arc<Metrics>, mailbox: usize) -> Decoder {
        Decoder {
            limits,
            columns: Table::ALL.map(TableColumns::new),
            splitters: HashMap::new(),
            routes: Vec::with_capacity(4),
            scratch: event::Scratch::default(),
            parser: JsonParser::default(),
            simd: event::SimdBuffers::default(),
            metrics,
            mailbox,
        }
    }

    /// The decoder with another JSON parser (stage-bench measures them).
    pub fn with_parser(mut self, parser: JsonParser) -> Decoder {
        self.parser = parser;
        self
    }

    /// Decodes a batch synchronously (also used by benchmarks and tests).
    pub fn decode(&mut self, batch: SourceBatch) -> Result<DecodedBatch, DecodeFailure> {
        let SourceBatch { source, raw, .. } = batch;
        let routing = Routing::for_topic(&source.topic);
        let mut dead = Vec::new();
        // Builders sized for the batch up front: a topic's messages all go to
        // its table; a single stream's all to page views, some to the others.
        match routing {
            Routing::Direct(t) => self.columns[t.index()].start_batch(Some(raw.len())),
            Routing::SingleStream => {
                for cols in &mut self.columns {
                    let rows = (cols.table() == Table::PageView).then_some(raw.len());
                    cols.start_batch(rows);
                }
            }
        }
        for (offset, payload) in raw.iter() {
            let mut ev = RawEvent::default();
            let parsed = match self.parser {
                JsonParser::Scanner => {
                    event::parse_into(payload, &self.limits, &mut self.scratch, &mut ev)
                }
                JsonParser::SonicRs => event::parse_sonic(payload, &self.limits).map(|e| ev = e),
                JsonParser::SimdJson => {
                    event::parse_simd(payload, &self.limits, &mut self.simd).map(|e| ev = e)
                }
            };
            if let Err(error) = parsed {
                dead.push(DeadLetter {
                    offset,
                    error,
                    raw: payload.to_vec(),
                });
                continue;
            }
            self.routes.clear();
            match routing {
                Routing::Direct(t) => self.routes.push(t),
                Routing::SingleStream => self
                    .splitters
                    .entry(source.clone())
                    .or_default()
                    .tables(&ev, &mut self.routes),
            }
            // Validate against every table first: a message lands everywhere or nowhere.
            if let Some(error) = self
                .routes
                .iter()
                .find_map(|t| ev.validate(*t, &self.limits).err())
            {
                dead.push(DeadLetter {
                    offset,
                    error,
                    raw: payload.to_vec(),
                });
                continue;
            }
            for t in &self.routes {
                self.columns[t.index()].append(&ev, source.partition, offset);
            }
        }
        let mut tables = Vec::new();
        for t in Table::ALL {
            let cols = &mut self.columns[t.index()];
            if cols.is_empty() {
                continue;
            }
            let rb = cols.finish().map_err(|e| DecodeFailure {
                source_id: source.clone(),
                message: e.to_string(),
            })?;
            tables.push((t, rb));
        }
        self.metrics
            .record_decoded(&tables, dead.iter().map(|d| d.error.kind()));
        Ok(DecodedBatch {
            first_offset: raw.first_offset().unwrap_or(0),
            last_offset: raw.last_offset().unwrap_or(-1),
            source,
            tables,
            dead,
        })
    }
}

impl Actor for Decoder {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(self.mailbox);
    }
}

impl Handler<Decode> for Decoder {
    type Result = Result<DecodedBatch, DecodeFailure>;
    fn handle(&mut self, msg: Decode, _ctx: &mut Context<Self>) -> Self::Result {
        self.decode(msg.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::RawBatch;

    #[test]
    fn good_rows_land_and_bad_ones_are_dead_letters() {
        let mut d = Decoder::new(DecodeLimits::default(), Arc::new(Metrics::default()), 4);
        let mut raw = RawBatch::default();
        raw.push(
            10,
            br#"{"ts":1541105830796,"sessionId":1,"level":"free","page":"Home","auth":"Guest"}"#,
        );
        raw.push(11, b"garbage");
        raw.push(12, br#"{"ts":1541105830797,"sessionId":1,"level":"free"}"#);
        let out = d
            .decode(SourceBatch {
                source: SourceId {
                    topic: "page_view_events".into(),
                    partition: 3,
                },
                raw,
                read_at: std::time::Instant::now(),
                reservation: None,
            })
            .unwrap();
        assert_eq!(out.rows(Table::PageView), 1);
        let reasons: Vec<_> = out
            .dead
            .iter()
            .map(|x| (x.offset, x.error.kind()))
            .collect();
        assert_eq!(reasons, vec![(11, "not_json"), (12, "missing_field")]);
        assert_eq!((out.first_offset, out.last_offset), (10, 12));
    }
}
