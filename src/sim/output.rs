//! Where `musicaly simulate` writes: a directory (one NDJSON file per topic, named
//! `<topic>.json`), a file (single-stream dialect), stdout, or Kafka. The
//! in-process output used by `musicaly run` lives with the in-process source.

use std::fs::File;
use std::path::Path;
use std::time::Duration;

use crate::config::KafkaSettings;
use crate::kafka_security;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

use super::blocks::BlockWriter;
use super::emit::Emit;
use super::error::{io, SimError};
use super::stream::Stream;
use crate::event::Table;

/// NDJSON files: a directory with `<topic>.json` per topic, or one file for the
/// single-stream dialect.
pub struct FileOutput {
    w: BlockWriter,
}

impl FileOutput {
    pub fn directory(dir: &Path) -> Result<FileOutput, SimError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| SimError::Output(format!("creating {}: {e}", dir.display())))?;
        let mut files = Vec::new();
        for t in Table::ALL {
            let p = dir.join(format!("{}.json", t.name()));
            let f = File::create(&p)
                .map_err(|e| SimError::Output(format!("creating {}: {e}", p.display())))?;
            files.push(f);
        }
        let w = BlockWriter::new(files, |s| match s {
            Stream::Topic(t) => t.index(),
            Stream::Single => 0,
        })?;
        Ok(FileOutput { w })
    }

    pub fn single_file(path: &Path) -> Result<FileOutput, SimError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        let f = File::create(path)
            .map_err(|e| SimError::Output(format!("creating {}: {e}", path.display())))?;
        Ok(FileOutput {
            w: BlockWriter::new(vec![f], |_| 0)?,
        })
    }
}

impl Emit for FileOutput {
    fn emit(&mut self, stream: Stream, _key: i64, payload: &[u8]) -> Result<(), SimError> {
        self.w.line(stream, &[payload])
    }
    fn emit_parts(
        &mut self,
        stream: Stream,
        _key: i64,
        parts: [&[u8]; 3],
    ) -> Result<bool, SimError> {
        self.w.line(stream, &parts)?;
        Ok(true)
    }
    #[inline]
    fn blocks(&mut self) -> Option<&mut BlockWriter> {
        Some(&mut self.w)
    }
    fn finish(&mut self) -> Result<(), SimError> {
        self.w.finish()
    }
    fn flush(&mut self) -> Result<(), SimError> {
        self.w.flush()
    }
}

/// NDJSON on stdout, all streams interleaved.
pub struct StdoutOutput(BlockWriter);

impl StdoutOutput {
    pub fn new() -> Result<StdoutOutput, SimError> {
        Ok(StdoutOutput(BlockWriter::new(
            vec![std::io::stdout()],
            |_| 0,
        )?))
    }
}

impl Emit for StdoutOutput {
    fn emit(&mut self, stream: Stream, _key: i64, payload: &[u8]) -> Result<(), SimError> {
        self.0.line(stream, &[payload])
    }
    fn emit_parts(
        &mut self,
        stream: Stream,
        _key: i64,
        parts: [&[u8]; 3],
    ) -> Result<bool, SimError> {
        self.0.line(stream, &parts)?;
        Ok(true)
    }
    #[inline]
    fn blocks(&mut self) -> Option<&mut BlockWriter> {
        Some(&mut self.0)
    }
    fn finish(&mut self) -> Result<(), SimError> {
        self.0.finish()
    }
    fn flush(&mut self) -> Result<(), SimError> {
        self.0.flush()
    }
}

/// One Kafka message per event on the stream's topic, keyed by user id (or
/// unkeyed, like eventsim, with `keyed = false`). eventsim's single stream goes to
/// `single_topic`.
pub struct KafkaOutput {
    producer: ThreadedProducer<DefaultProducerContext>,
    keyed: bool,
    single_topic: String,
    /// `<prefix><table>` for each table.
    topics: Vec<String>,
    key_buf: itoa::Buffer,
}

impl KafkaOutput {
    /// A producer on `kafka.brokers` with the `[kafka]` security keys (not
    /// `kafka.properties`: those are the pipeline's consumer's).
    pub fn new(
        kafka: &KafkaSettings,
        keyed: bool,
        single_topic: &str,
        topic_prefix: &str,
    ) -> Result<KafkaOutput, SimError> {
        let brokers = &kafka.brokers;
        let security = |e: kafka_security::SecurityError| SimError::Output(e.to_string());
        kafka_security::check_connection(kafka, "producer", kafka_security::CHECK_TIMEOUT)
            .map_err(security)?;
        let producer: ThreadedProducer<DefaultProducerContext> =
            kafka_security::client_config(kafka, |_| false)
                .map_err(security)?
                .set("linger.ms", "20")
                .set("batch.num.messages", "10000")
                .set("queue.buffering.max.messages", "500000")
                .set("compression.type", "lz4")
                .set("enable.idempotence", "true")
                .set("message.timeout.ms", "120000")
                .create()
                .map_err(|e| SimError::Output(format!("Kafka producer for {brokers}: {e}")))?;
        Ok(KafkaOutput {
            producer,
            keyed,
            single_topic: single_topic.to_string(),
            topics: Table::ALL
                .iter()
                .map(|t| format!("{topic_prefix}{}", t.name()))
                .collect(),
            key_buf: itoa::Buffer::new(),
        })
    }
}

impl Emit for KafkaOutput {
    fn emit(&mut self, stream: Stream, key: i64, payload: &[u8]) -> Result<(), SimError> {
        let topic = match stream {
            Stream::Single => self.single_topic.as_str(),
            Stream::Topic(t) => self.topics[t.index()].as_str(),
        };
        let key_str = self.key_buf.format(key);
        let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(topic).payload(payload);
        if self.keyed {
            record = record.key(key_str.as_bytes());
        }
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    // Backpressure: wait for the broker to drain the local queue.
                    record = r;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err((e, _)) => {
                    return Err(SimError::Output(format!("Kafka produce to {topic}: {e}")))
                }
            }
        }
    }

    fn finish(&mut self) -> Result<(), SimError> {
        self.producer
            .flush(Duration::from_secs(120))
            .map_err(|e| SimError::Output(format!("Kafka flush: {e}")))
    }
}
