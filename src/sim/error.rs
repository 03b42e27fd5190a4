//! The simulator's errors.

use super::{catalog, model};

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error(transparent)]
    Model(#[from] model::ModelError),
    #[error(transparent)]
    Catalog(#[from] catalog::CatalogError),
    #[error("simulator output: {0}")]
    Output(String),
    /// The reader of the output went away (`musicaly simulate --stdout | head`):
    /// not a failure of the simulator.
    #[error("the output's reader closed it")]
    Closed,
    #[error("simulator options: {0}")]
    Options(String),
}

/// An output's I/O error; a closed pipe is [`SimError::Closed`].
pub fn io(e: std::io::Error) -> SimError {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        return SimError::Closed;
    }
    SimError::Output(e.to_string())
}
