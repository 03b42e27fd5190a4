//! What a run counted.

use crate::event::Table;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SimStats {
    pub events: u64,
    /// Messages written per topic of the four-topic dialect, by [`Table::index`].
    pub messages: [u64; 4],
    /// Messages written on eventsim's single stream (`--format single`).
    pub single: u64,
    /// Users created (initial and arrived).
    pub users: u64,
    /// Sessions with at least one written event.
    pub sessions: u64,
    /// Users who churned (cancelled) inside the written window.
    pub churned: u64,
}

impl SimStats {
    /// The messages written, per stream, for the run's summary line:
    /// `page_view_events N, listen_events N, auth_events N, status_change_events N`
    /// for the four topics, `single stream N` for eventsim's single stream.
    pub fn messages_summary(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        if self.messages.iter().any(|&n| n > 0) || self.single == 0 {
            parts.extend(
                Table::ALL
                    .iter()
                    .map(|t| format!("{t} {}", self.messages[t.index()])),
            );
        }
        if self.single > 0 {
            parts.push(format!("single stream {}", self.single));
        }
        parts.join(", ")
    }
}
