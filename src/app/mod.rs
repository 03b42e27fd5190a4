//! Whole commands composed from the stages: the embedded default (`musicaly
//! run`: simulator → in-process source → actors → lake → warehouse) and the
//! Kafka pipeline (`musicaly pipeline`). The CLI (`main.rs`) parses flags,
//! sets up logging and turns these results into messages and exit codes.

pub mod embedded;
pub mod pipeline;
pub mod signals;

use crate::actors::source_kafka::SourceError;
use crate::sim::SimError;
use crate::sinks::lake::{ClearError, SinkError};
use crate::sinks::warehouse::WarehouseError;

/// Why a command failed, and whose move it is.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Sim(#[from] SimError),
    #[error(transparent)]
    Warehouse(#[from] WarehouseError),
    #[error(transparent)]
    Notify(#[from] crate::notify::NotifyError),
    #[error("web.listen {addr}: cannot bind ({source}); is another musicaly running? Set web.listen = \"\" to turn it off")]
    WebBind {
        addr: String,
        source: std::io::Error,
    },
    #[error("{0} (use --keep-lake to keep it)")]
    ClearLake(#[from] ClearError),
    #[error("shutdown took longer than pipeline.shutdown_timeout_secs ({0}s); uncommitted batches will be re-read on restart")]
    ShutdownTimeout(u64),
    #[error("the {0} thread panicked (a bug: please report it with the log)")]
    Panicked(&'static str),
    #[error("cannot start the {name} thread: {source}")]
    Thread {
        name: &'static str,
        source: std::io::Error,
    },
    #[error("partitions failed (their data will be re-read on restart):\n  {}", .0.join("\n  "))]
    Partitions(Vec<String>),
}

impl AppError {
    /// Whether running the same command again can succeed without changing
    /// anything: true for failures of the environment (a broker, a bucket, a
    /// disk, a busy port), false for bad input, bad configuration and bugs.
    pub fn retryable(&self) -> bool {
        match self {
            AppError::Source(_)
            | AppError::Sink(_)
            | AppError::Warehouse(_)
            | AppError::Notify(_)
            | AppError::WebBind { .. }
            | AppError::ShutdownTimeout(_)
            | AppError::Thread { .. }
            | AppError::Partitions(_) => true,
            AppError::Sim(SimError::Output(_)) => true,
            AppError::Sim(_) | AppError::ClearLake { .. } | AppError::Panicked(_) => false,
        }
    }
}
