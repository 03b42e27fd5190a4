//! What the simulator writes to: an output takes encoded messages.

use super::blocks::BlockWriter;
use super::error::SimError;
use super::stream::Stream;

/// A sink for encoded events. `key` is the simulated user's id (also for hidden
/// users, so one user's events share a Kafka partition).
pub trait Emit {
    fn emit(&mut self, stream: Stream, key: i64, payload: &[u8]) -> Result<(), SimError>;
    /// Writes a payload given in pieces, without joining them first (saves a
    /// copy of every byte on the file and stdout outputs). Returns false when
    /// the output does not do this; the caller then joins them and calls `emit`.
    fn emit_parts(
        &mut self,
        _stream: Stream,
        _key: i64,
        _parts: [&[u8]; 3],
    ) -> Result<bool, SimError> {
        Ok(false)
    }
    fn finish(&mut self) -> Result<(), SimError> {
        Ok(())
    }
    /// Outputs that write bytes (files, stdout) lend their block writer: the
    /// one-thread path then appends lines to its buffers without a call per
    /// message (see [`super::direct`]). None (the default): messages come through `emit`.
    fn blocks(&mut self) -> Option<&mut BlockWriter> {
        None
    }
    /// Makes what was emitted so far visible (called in `--continuous` mode
    /// before waiting for the wall clock, so buffered output is not held back).
    fn flush(&mut self) -> Result<(), SimError> {
        Ok(())
    }
}
