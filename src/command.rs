//! Commands an embedding game (or a scenario) sends into a running world.

use loam_runtime::Mailbox;

pub use crate::scenario::Command;

/// A handle for sending [`Command`]s from any thread. Commands sent before a
/// frame starts are applied in that frame, in the order they were sent.
#[derive(Clone)]
pub struct CommandSender {
    pub(crate) mailbox: Mailbox<Command>,
}

/// The runtime that owned the mailbox is gone.
#[derive(Debug, thiserror::Error)]
#[error("the runtime has been dropped; command not delivered")]
pub struct Disconnected(pub Command);

impl CommandSender {
    /// Sends a command; it applies at the start of the next frame.
    pub fn send(&self, command: Command) -> Result<(), Disconnected> {
        self.mailbox.send(command).map_err(Disconnected)
    }
}
