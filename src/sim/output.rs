//! Where `musicaly simulate` writes: a directory (one NDJSON file per topic, named
//! `<topic>.json`), a file (single-stream dialect), stdout, or Kafka. The
//! in-process output used by `musicaly run` lives with the in-process source.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::config::KafkaSettings;
use crate::kafka_security;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

use super::{Emit, SimError, Stream};
use crate::event::Table;

fn io(e: std::io::Error) -> SimError {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        return SimError::Closed;
    }
    SimError::Output(e.to_string())
}

/// A block is handed to the writer thread when it holds this much.
pub const BLOCK: usize = 1 << 20;
/// Room past [`BLOCK`] so that the line that fills a block rarely regrows it.
const SLACK: usize = 64 << 10;
/// Full blocks queued for the writer thread at most: bounds the memory in
/// flight (a few MiB) and makes generation wait when the disk cannot keep up.
const QUEUED: usize = 4;

enum Job {
    Write(usize, Vec<u8>),
    /// Flush every sink, then answer.
    Sync(mpsc::Sender<()>),
}

/// NDJSON lines for one or more byte sinks (files, stdout), collected in
/// blocks that a writer thread writes out.
///
/// Why a thread: copying 1.4 GB into the page cache is a quarter of the CPU
/// time of a 100 k-user week, and with the writes on their own thread that
/// kernel time overlaps generation instead of stalling it. Buffers go back to
/// the generator for reuse, so memory stays at a few blocks.
///
/// The simulator appends whole lines (ending in `\n`) to [`buf`](Self::buf)
/// and then calls [`written`](Self::written); [`route`](Self::route) says which
/// buffer a stream's lines go to (several streams may share one sink, as on
/// stdout, where lines must stay in generation order).
pub struct BlockWriter {
    bufs: Vec<Vec<u8>>,
    /// Buffer index per stream: the four topics, then the single stream.
    routes: [u8; 5],
    tx: Option<mpsc::SyncSender<Job>>,
    free: mpsc::Receiver<Vec<u8>>,
    thread: Option<JoinHandle<Result<(), SimError>>>,
}

impl BlockWriter {
    /// A writer thread for `sinks`; `route` maps a stream to its sink's index.
    pub fn new<W: Write + Send + 'static>(
        sinks: Vec<W>,
        route: impl Fn(Stream) -> usize,
    ) -> Result<BlockWriter, SimError> {
        let n = sinks.len();
        let mut routes = [0u8; 5];
        for t in Table::ALL {
            routes[t.index()] = route(Stream::Topic(t)).min(n.saturating_sub(1)) as u8;
        }
        routes[4] = route(Stream::Single).min(n.saturating_sub(1)) as u8;
        let (tx, rx) = mpsc::sync_channel::<Job>(QUEUED);
        let (free_tx, free) = mpsc::channel::<Vec<u8>>();
        let thread = std::thread::Builder::new()
            .name("sim-writer".into())
            .spawn(move || {
                let mut sinks = sinks;
                for job in rx {
                    match job {
                        Job::Write(i, mut b) => {
                            sinks[i].write_all(&b).map_err(io)?;
                            b.clear();
                            // The generator may be gone (after an error): then the
                            // buffer is simply dropped.
                            let _ = free_tx.send(b);
                        }
                        Job::Sync(ack) => {
                            for s in &mut sinks {
                                s.flush().map_err(io)?;
                            }
                            let _ = ack.send(());
                        }
                    }
                }
                for s in &mut sinks {
                    s.flush().map_err(io)?;
                }
                Ok(())
            })
            .map_err(|e| SimError::Output(format!("starting the writer thread: {e}")))?;
        Ok(BlockWriter {
            bufs: (0..n).map(|_| Vec::with_capacity(BLOCK + SLACK)).collect(),
            routes,
            tx: Some(tx),
            free,
            thread: Some(thread),
        })
    }

    /// The buffer index of `stream`.
    #[inline]
    pub fn route(&self, stream: Stream) -> usize {
        let i = match stream {
            Stream::Topic(t) => t.index(),
            Stream::Single => 4,
        };
        self.routes[i] as usize
    }

    /// All buffers, by index (the encoder copies between them).
    #[inline]
    pub fn bufs(&mut self) -> &mut [Vec<u8>] {
        &mut self.bufs
    }

    #[inline]
    pub fn buf(&mut self, i: usize) -> &mut Vec<u8> {
        &mut self.bufs[i]
    }

    /// Lines were appended to buffer `i`: hands it to the writer when full.
    #[inline]
    pub fn written(&mut self, i: usize) -> Result<(), SimError> {
        if self.bufs[i].len() >= BLOCK {
            self.send(i)?;
        }
        Ok(())
    }

    fn send(&mut self, i: usize) -> Result<(), SimError> {
        if self.bufs[i].is_empty() {
            return Ok(());
        }
        let fresh = self
            .free
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(BLOCK + SLACK));
        let full = std::mem::replace(&mut self.bufs[i], fresh);
        let sent = match &self.tx {
            Some(tx) => tx.send(Job::Write(i, full)).is_ok(),
            None => false,
        };
        if sent {
            Ok(())
        } else {
            Err(self.stop())
        }
    }

    /// Ends the writer thread and returns why it stopped early.
    fn stop(&mut self) -> SimError {
        self.tx = None;
        match self.thread.take().map(|h| h.join()) {
            Some(Ok(Err(e))) => e,
            Some(Err(_)) => SimError::Output("the writer thread panicked".into()),
            _ => SimError::Output("the writer thread stopped".into()),
        }
    }

    /// Writes out everything appended so far and waits until it is written.
    pub fn flush(&mut self) -> Result<(), SimError> {
        for i in 0..self.bufs.len() {
            self.send(i)?;
        }
        let (ack_tx, ack) = mpsc::channel();
        let sent = match &self.tx {
            Some(tx) => tx.send(Job::Sync(ack_tx)).is_ok(),
            None => false,
        };
        if sent && ack.recv().is_ok() {
            Ok(())
        } else {
            Err(self.stop())
        }
    }

    /// Writes out everything and ends the writer thread.
    pub fn finish(&mut self) -> Result<(), SimError> {
        if self.thread.is_none() {
            return Ok(());
        }
        for i in 0..self.bufs.len() {
            self.send(i)?;
        }
        self.tx = None;
        match self.thread.take().map(|h| h.join()) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(SimError::Output("the writer thread panicked".into())),
            None => Ok(()),
        }
    }

    #[inline]
    fn line(&mut self, stream: Stream, parts: &[&[u8]]) -> Result<(), SimError> {
        let i = self.route(stream);
        let b = &mut self.bufs[i];
        for p in parts {
            b.extend_from_slice(p);
        }
        b.push(b'\n');
        self.written(i)
    }
}

impl Drop for BlockWriter {
    /// Without `finish` (an error elsewhere): the thread still ends, what it
    /// was given is written.
    fn drop(&mut self) {
        self.tx = None;
        if let Some(h) = self.thread.take() {
            let _ = h.join();
        }
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A sink whose bytes the test can read afterwards.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    struct Failing;

    impl Write for Failing {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk full"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn blocks_keep_the_order_of_lines_and_route_streams() {
        let (a, b) = (Shared::default(), Shared::default());
        let mut w = BlockWriter::new(vec![a.clone(), b.clone()], |s| match s {
            Stream::Topic(Table::Listen) => 1,
            _ => 0,
        })
        .unwrap();
        let pv = Stream::Topic(Table::PageView);
        let listen = Stream::Topic(Table::Listen);
        let mut want_a = Vec::new();
        // Enough lines for several blocks, so buffers are handed over and reused.
        for i in 0..40_000 {
            let line = format!("{{\"n\":{i},\"pad\":\"{}\"}}", "x".repeat(i % 97));
            w.line(pv, &[line.as_bytes()]).unwrap();
            want_a.extend_from_slice(line.as_bytes());
            want_a.push(b'\n');
            if i % 10 == 0 {
                w.line(listen, &[b"l", line.as_bytes()]).unwrap();
            }
            if i == 20_000 {
                w.flush().unwrap();
                assert_eq!(a.0.lock().unwrap().len(), want_a.len());
            }
        }
        w.finish().unwrap();
        assert_eq!(*a.0.lock().unwrap(), want_a);
        assert_eq!(
            b.0.lock().unwrap().iter().filter(|&&c| c == b'\n').count(),
            4000
        );
    }

    #[test]
    fn a_write_error_comes_back_to_the_generator() {
        let mut w = BlockWriter::new(vec![Failing], |_| 0).unwrap();
        let big = vec![b'x'; BLOCK];
        let mut r = Ok(());
        for _ in 0..10 {
            r = w.line(Stream::Single, &[&big]);
            if r.is_err() {
                break;
            }
        }
        let e = r.and_then(|_| w.finish()).unwrap_err();
        assert!(e.to_string().contains("disk full"), "{e}");
    }
}
