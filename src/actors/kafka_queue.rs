//! One assigned partition's own librdkafka queue, read in batches.
//!
//! Why not rust-rdkafka's `PartitionQueue`: it hands out one message per poll,
//! each wrapped in a reference-counted event (an allocation, a topic-name lookup
//! and a UTF-8 check per message), and it does not expose librdkafka's batch
//! read. `rd_kafka_consume_batch_queue` takes up to a chunk of messages under one
//! lock. This module is the only unsafe code of the Kafka source; it keeps the
//! FFI to four calls and owns the queue reference for its whole life.
//!
//! Why a queue per partition at all: a partition whose actor is busy is simply
//! not read. librdkafka stops fetching a partition once its own queue holds
//! `queued.min.messages` (or `queued.max.messages.kbytes`), so a slow partition
//! costs a bounded prefetch and nothing else. With one shared consumer queue the
//! only way to hold a partition back was to pause it, which throws its prefetch
//! away (it is fetched again on resume) and, left unpaused, lets it fill the
//! shared queue for everyone.

use std::ffi::{c_void, CString};
use std::ptr::NonNull;
use std::thread::Thread;

use rdkafka::bindings as rd;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};

/// A partition's queue, split from the consumer queue ("forwarded to nothing")
/// right after the assignment. Dropped before the consumer is closed (librdkafka
/// requires it): the Kafka source drops every queue on revocation and at its end.
pub struct PartitionQueue {
    queue: NonNull<rd::rd_kafka_queue_t>,
    /// The thread woken when the queue turns non-empty; boxed so that its
    /// address, given to librdkafka, is stable.
    waker: Box<Thread>,
    chunk: Vec<*mut rd::rd_kafka_message_t>,
}

// SAFETY: a librdkafka queue handle may be used from any thread (its operations
// take the queue's lock); the message pointers in `chunk` are only held within
// `read` and are destroyed before it returns.
unsafe impl Send for PartitionQueue {}

/// Called by a librdkafka thread, under the queue's lock, when a message lands on
/// an empty queue.
unsafe extern "C" fn wake(_: *mut rd::rd_kafka_t, opaque: *mut c_void) {
    // SAFETY: `opaque` is the `Box<Thread>` of a live `PartitionQueue`: the
    // callback is disabled (under the same lock) before the box is dropped.
    let thread = unsafe { &*(opaque as *const Thread) };
    thread.unpark();
}

/// A message read from a partition queue that carries an error instead of data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueError {
    pub offset: i64,
    pub message: String,
}

impl PartitionQueue {
    /// Splits `topic`/`partition`'s messages off into their own queue; `waker`
    /// is unparked whenever the queue turns non-empty. None if librdkafka does
    /// not know the partition.
    pub fn split<C: ConsumerContext>(
        consumer: &BaseConsumer<C>,
        topic: &str,
        partition: i32,
        waker: Thread,
        chunk: usize,
    ) -> Option<PartitionQueue> {
        let name = CString::new(topic).ok()?;
        let client = consumer.client().native_ptr();
        // SAFETY: `client` is the live consumer's handle; the returned reference
        // is ours until `rd_kafka_queue_destroy`.
        let raw = unsafe { rd::rd_kafka_queue_get_partition(client, name.as_ptr(), partition) };
        let queue = NonNull::new(raw)?;
        let q = PartitionQueue {
            queue,
            waker: Box::new(waker),
            chunk: vec![std::ptr::null_mut(); chunk.max(1)],
        };
        // SAFETY: the queue is live; forwarding to NULL detaches it from the
        // consumer queue; the opaque pointer outlives the callback (see Drop).
        unsafe {
            rd::rd_kafka_queue_forward(q.queue.as_ptr(), std::ptr::null_mut());
            rd::rd_kafka_queue_cb_event_enable(
                q.queue.as_ptr(),
                Some(wake),
                &*q.waker as *const Thread as *mut c_void,
            );
        }
        Some(q)
    }

    /// Reads what is queued, at most `max` messages (and at most the chunk size
    /// given to [`PartitionQueue::split`]), without waiting. `each` gets every
    /// message's offset and payload (empty for a null payload); messages that
    /// carry an error go to `errors`. Returns how many messages were read.
    pub fn read(
        &mut self,
        max: usize,
        mut each: impl FnMut(i64, &[u8]),
        mut errors: impl FnMut(QueueError),
    ) -> usize {
        let want = max.min(self.chunk.len());
        if want == 0 {
            return 0;
        }
        // SAFETY: `chunk` has room for `want` pointers; librdkafka fills the first
        // `n` of them with messages we own and destroy below.
        let n = unsafe {
            rd::rd_kafka_consume_batch_queue(self.queue.as_ptr(), 0, self.chunk.as_mut_ptr(), want)
        };
        if n <= 0 {
            return 0;
        }
        let n = n as usize;
        for &m in &self.chunk[..n] {
            // SAFETY: each of the first `n` entries is a valid message until destroyed.
            let msg = unsafe { &*m };
            if msg.err == rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
                let payload: &[u8] = if msg.payload.is_null() || msg.len == 0 {
                    &[]
                } else {
                    // SAFETY: librdkafka guarantees `len` readable bytes at `payload`.
                    unsafe { std::slice::from_raw_parts(msg.payload as *const u8, msg.len) }
                };
                each(msg.offset, payload);
            } else {
                let text = rdkafka::error::RDKafkaErrorCode::from(msg.err).to_string();
                errors(QueueError {
                    offset: msg.offset,
                    message: text,
                });
            }
            // SAFETY: destroyed once, after its last use.
            unsafe { rd::rd_kafka_message_destroy(m) };
        }
        n
    }
}

impl Drop for PartitionQueue {
    fn drop(&mut self) {
        // SAFETY: disabling the callback takes the queue's lock, so no callback
        // runs after it returns and the waker box may go; then our reference
        // to the queue is released.
        unsafe {
            rd::rd_kafka_queue_cb_event_enable(self.queue.as_ptr(), None, std::ptr::null_mut());
            rd::rd_kafka_queue_destroy(self.queue.as_ptr());
        }
    }
}
