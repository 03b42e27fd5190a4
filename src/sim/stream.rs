//! The two dialects of eventsim's output, and the streams an event's messages
//! go to.

use crate::event::Table;

/// Which dialect to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Dialect {
    /// Four streams: page_view_events, listen_events, auth_events, status_change_events.
    Four,
    /// eventsim's original single stream.
    Single,
}

/// Where an encoded event goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Topic(Table),
    Single,
}
