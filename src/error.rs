//! What can stop a runtime from being built or stepped.

use loam_runtime::{EngineError, PluginError};

use crate::scenario::ScenarioError;

/// Everything that can stop a runtime from being built or stepped.
#[derive(Debug, thiserror::Error)]
pub enum LoamError {
    /// The scenario file is wrong.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// A scenario built in code is invalid.
    #[error("invalid scenario: {0}")]
    Invalid(String),
    /// Something asked for is not available in this build.
    #[error("{0}")]
    Unsupported(String),
    /// The world file could not be opened, read or written.
    #[error(transparent)]
    World(#[from] loam_storage::file::FileError),
    /// A plugin could not be installed.
    #[error(transparent)]
    Plugin(#[from] PluginError),
    /// A run's saved state could not be saved or restored.
    #[error(transparent)]
    State(#[from] loam_runtime::StateError),
    /// An observer could not be spawned, moved or removed.
    #[error("observer: {0}")]
    Observer(String),
    /// A job failed while running.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl LoamError {
    /// The process exit code for this error: 2 for bad input, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            LoamError::Scenario(_)
            | LoamError::Invalid(_)
            | LoamError::Unsupported(_)
            | LoamError::World(_)
            | LoamError::State(_)
            | LoamError::Plugin(_)
            | LoamError::Observer(_) => 2,
            LoamError::Engine(_) => 1,
        }
    }
}
