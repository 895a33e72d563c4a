//! Commands an embedding game (or a scenario) sends into a running world.

use loam_runtime::Mailbox;

pub use crate::scenario::Command;

/// A handle for sending [`Command`]s from any thread. Commands sent before a
/// frame starts are applied in that frame, in the order they were sent.
/// Each is checked as it is sent, with the rules a scenario file's
/// `[[command]]`s are checked with ([`Command::check`]), so a command that
/// would put an unknown material, a non-finite temperature or a shape
/// outside the world into the run never reaches it.
#[derive(Clone)]
pub struct CommandSender {
    pub(crate) mailbox: Mailbox<Command>,
    /// The world's size in cells.
    pub(crate) size: [u32; 3],
    /// The world's ambient pressure, Pa.
    pub(crate) pressure: f64,
}

/// Why a command was not sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The command breaks a rule; the message says which.
    #[error("command refused: {message}")]
    Invalid {
        /// The command.
        command: Command,
        /// What is wrong with it.
        message: String,
    },
    /// The runtime that owned the mailbox is gone.
    #[error("the runtime has been dropped; command not delivered")]
    Disconnected(Command),
}

impl CommandSender {
    /// Checks a command and sends it; it applies at the start of the next
    /// frame.
    pub fn send(&self, command: Command) -> Result<(), SendError> {
        if let Err(message) = command.check(self.size, self.pressure) {
            return Err(SendError::Invalid { command, message });
        }
        self.mailbox.send(command).map_err(SendError::Disconnected)
    }
}
