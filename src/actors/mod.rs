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

pub use crate::messages::{RawBatch, SourceBatch, SourceId};
