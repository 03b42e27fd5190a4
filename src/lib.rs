//! musicaly: music-streaming analytics in one program.
//!
//! Data flows one way, and so do imports: `sim` → `actors` (source → decode →
//! partition/commit) → `sinks` (lake, warehouse) → `report`. Shared types live
//! in `event`, `columns`, `config`, `metrics` and `time`. See ARCHITECTURE.md.

pub mod actors;
pub mod alloc;
pub mod app;
pub mod columns;
pub mod config;
pub mod event;
pub mod hash;
pub mod kafka_security;
pub mod liveness;
pub mod memory;
pub mod messages;
pub mod metrics;
pub mod notify;
pub mod report;
pub mod sim;
pub mod sinks;
pub mod time;
pub mod web;
