//! The actor pipeline: sources feed per-partition actors, which push each batch
//! through a decoder and a lake writer and then commit its offsets.
//!
//! ```text
//! feeder (simulator | Kafka consumer)
//!    └─ RawBatch over a bounded channel ─► PartitionActor (one per topic-partition)
//!                                            ├─ send(Decode)  ─► Decoder pool   (CPU: JSON → Arrow)
//!                                            ├─ send(Write)   ─► LakeWriter pool (Parquet → object store)
//!                                            └─ commit(next offset) once the write is durable
//! ```
//! Every hop is `send().await` on a bounded mailbox or channel, so a slow sink
//! stalls its partition actor, which stops draining its channel, which stalls the
//! feeder: memory stays bounded by (partitions × mailbox capacity × batch size).

pub mod aggregate;
pub mod decode;
pub mod kafka_queue;
pub mod live_rows;
pub mod partition;
pub mod sessionize;
pub mod source_kafka;
pub mod source_memory;
pub mod topology;
pub mod watermark;

use std::sync::Arc;

/// Where a batch was read: topic and partition.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceId {
    pub topic: Arc<str>,
    pub partition: i32,
}

impl std::fmt::Display for SourceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// Raw messages of one partition, contiguous in memory: message `i` is
/// `data[ends[i-1]..ends[i]]`, read at `offsets[i]`. One allocation per batch,
/// reused by the feeder after the batch is sent (see [`RawBatch::take`]).
#[derive(Debug, Clone, Default)]
pub struct RawBatch {
    pub data: Vec<u8>,
    pub ends: Vec<usize>,
    pub offsets: Vec<i64>,
}

impl RawBatch {
    pub fn push(&mut self, offset: i64, payload: &[u8]) {
        self.data.extend_from_slice(payload);
        self.ends.push(self.data.len());
        self.offsets.push(offset);
    }

    pub fn len(&self) -> usize {
        self.offsets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (i64, &[u8])> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        self.offsets
            .iter()
            .zip(starts.zip(self.ends.iter().copied()))
            .map(|(o, (s, e))| (*o, &self.data[s..e]))
    }

    /// Memory the batch holds until it is in the lake: its buffers now, and
    /// about as much again as decoded columns.
    pub fn memory_bytes(&self) -> usize {
        2 * (self.data.capacity() + self.ends.capacity() * 16)
    }

    pub fn first_offset(&self) -> Option<i64> {
        self.offsets.first().copied()
    }

    pub fn last_offset(&self) -> Option<i64> {
        self.offsets.last().copied()
    }

    /// Moves the contents out, leaving an empty batch with the same capacity hint.
    pub fn take(&mut self) -> RawBatch {
        self.take_capped(usize::MAX)
    }

    /// [`RawBatch::take`], the new buffer's capacity at most `max_bytes`: one
    /// batch that grew large (a batch can overshoot its size limit by one read
    /// chunk) must not make every later batch reserve that much.
    ///
    /// The batch taken out is shrunk to its contents: its buffers grew by
    /// doubling, so they were up to twice its bytes, and its memory reservation
    /// (see [`RawBatch::memory_bytes`]) counts capacity. Unshrunk, the in-flight
    /// budget held half as many batches as it could, and partitions waited for
    /// it with the CPU idle. Shrinking a large allocation does not copy it.
    pub fn take_capped(&mut self, max_bytes: usize) -> RawBatch {
        let cap = self.data.capacity().min(max_bytes);
        let n = self.offsets.capacity().min(max_bytes / 64 + 1);
        let mut taken = std::mem::replace(
            self,
            RawBatch {
                data: Vec::with_capacity(cap),
                ends: Vec::with_capacity(n),
                offsets: Vec::with_capacity(n),
            },
        );
        taken.data.shrink_to_fit();
        taken.ends.shrink_to_fit();
        taken.offsets.shrink_to_fit();
        taken
    }
}

/// A batch on its way through the pipeline.
#[derive(Debug, Clone)]
pub struct SourceBatch {
    pub source: SourceId,
    pub raw: RawBatch,
    /// When the first message of the batch was read (end-to-end latency).
    pub read_at: std::time::Instant,
    /// The batch's share of `pipeline.memory_limit_mb`, released once it is in
    /// the lake (see `memory.rs`).
    pub reservation: Option<Arc<crate::memory::Reservation>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn raw_batch_iterates_messages() {
        let mut b = RawBatch::default();
        b.push(5, b"ab");
        b.push(6, b"");
        b.push(7, b"cde");
        let v: Vec<_> = b.iter().collect();
        assert_eq!(v, vec![(5, &b"ab"[..]), (6, &b""[..]), (7, &b"cde"[..])]);
        assert_eq!((b.first_offset(), b.last_offset()), (Some(5), Some(7)));
    }
}
