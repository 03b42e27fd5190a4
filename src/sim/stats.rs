//! What a run counted.

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SimStats {
    pub events: u64,
    pub messages: [u64; 4],
    /// Users created (initial and arrived).
    pub users: u64,
    /// Sessions with at least one written event.
    pub sessions: u64,
    /// Users who churned (cancelled) inside the written window.
    pub churned: u64,
}
