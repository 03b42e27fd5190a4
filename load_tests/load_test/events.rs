//! The pool of events the open-loop producer replays: generated once, before any
//! measurement, by the simulator library (the same code as `musicaly simulate`),
//! so generating never competes with the systems under test for the CPU.
//!
//! Each event keeps the position of its `ts` value: the producer rewrites it with
//! the event's intended send time, which is what the latency is measured from.

use musicaly::event::Table;
use musicaly::sim::catalog::Catalog;
use musicaly::sim::model::{EventsimConfig, Model};
use musicaly::sim::{Emit, SimError, SimOptions, Simulator, Stream};

/// One simulated event: its table, Kafka key (the user id) and JSON, with the
/// byte range of the digits of its `ts`.
pub struct Event {
    pub table: usize,
    pub key: i64,
    start: usize,
    len: u32,
    ts_at: u32,
    ts_len: u8,
}

pub struct Pool {
    bytes: Vec<u8>,
    pub events: Vec<Event>,
    /// Events per table, in `Table::ALL` order.
    pub per_table: [u64; 4],
}

impl Pool {
    /// Simulates `users` users from a fixed start until `size` events are kept.
    pub fn generate(users: u64, size: usize, seed: u64) -> anyhow::Result<Pool> {
        let model =
            Model::compile(EventsimConfig::builtin()).map_err(|e| anyhow::anyhow!("{e}"))?;
        let catalog = Catalog::builtin().map_err(|e| anyhow::anyhow!("{e}"))?;
        // A fixed range far longer than needed: the run stops at `size` events.
        let start = 1_764_547_200_000; // 2025-12-01T00:00Z
        let mut opts = SimOptions::new(start, start + 365 * 86_400_000);
        opts.nusers = users.max(1);
        opts.seed = seed;
        let mut sim = Simulator::new(model, catalog, opts).map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut pool = Pool {
            bytes: Vec::with_capacity(size * 400),
            events: Vec::with_capacity(size),
            per_table: [0; 4],
        };
        let mut sink = Collect {
            pool: &mut pool,
            size,
            skipped: 0,
        };
        match sim.run(&mut sink) {
            Ok(_) | Err(SimError::Closed) => {}
            Err(e) => return Err(anyhow::anyhow!("simulator: {e}")),
        }
        if pool.events.is_empty() {
            return Err(anyhow::anyhow!("the simulator produced no events"));
        }
        Ok(pool)
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// The event's JSON with `ts` set to `ts_ms`, into `out`.
    pub fn render(&self, e: &Event, ts_ms: i64, out: &mut Vec<u8>) {
        let b = &self.bytes[e.start..e.start + e.len as usize];
        let (at, n) = (e.ts_at as usize, e.ts_len as usize);
        out.clear();
        out.extend_from_slice(&b[..at]);
        out.extend_from_slice(itoa::Buffer::new().format(ts_ms).as_bytes());
        out.extend_from_slice(&b[at + n..]);
    }

    pub fn payload_bytes(&self) -> usize {
        self.bytes.len()
    }
}

struct Collect<'a> {
    pool: &'a mut Pool,
    size: usize,
    /// Events whose `ts` could not be found (none expected; counted, not kept).
    skipped: u64,
}

/// Where the digits of the top-level `"ts":` are.
fn find_ts(payload: &[u8]) -> Option<(usize, usize)> {
    let at = payload.windows(5).position(|w| w == b"\"ts\":")? + 5;
    let n = payload[at..]
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .count();
    (n > 0 && n < 20).then_some((at, n))
}

impl Emit for Collect<'_> {
    fn emit(&mut self, stream: Stream, key: i64, payload: &[u8]) -> Result<(), SimError> {
        let Stream::Topic(t) = stream else {
            return Err(SimError::Output(
                "the load test uses the four-topic dialect".into(),
            ));
        };
        let Some((ts_at, ts_len)) = find_ts(payload) else {
            self.skipped += 1;
            return Ok(());
        };
        let table = Table::ALL.iter().position(|x| *x == t).unwrap_or(0);
        let p = &mut *self.pool;
        p.events.push(Event {
            table,
            key,
            start: p.bytes.len(),
            len: payload.len() as u32,
            ts_at: ts_at as u32,
            ts_len: ts_len as u8,
        });
        p.bytes.extend_from_slice(payload);
        p.per_table[table] += 1;
        if p.events.len() >= self.size {
            return Err(SimError::Closed);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_ts_in_place() {
        let pool = Pool::generate(50, 200, 7).unwrap();
        assert_eq!(pool.len(), 200);
        let mut out = Vec::new();
        pool.render(&pool.events[0], 1_234, &mut out);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["ts"], 1_234);
    }
}
