//! Commands an embedding game (or a scenario) sends into a running world.

use loam_runtime::Mailbox;

use crate::scenario::{Emitter, ExplosionSpec, Fill, HeatBathSpec, PressureSpec, WindSpec};

/// Something to do to the world at the start of a frame.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Put a material into a shape (overwriting what is there).
    Place(Fill),
    /// Start an emitter.
    SpawnEmitter(Emitter),
    /// Hold a region at a temperature for a frame range.
    Heat(HeatBathSpec),
    /// A blast: pressure, an outward push, and optionally heat.
    Explode(ExplosionSpec),
    /// Blow a wind over a region for a frame range.
    Wind(WindSpec),
    /// Hold a region's pressure field for a frame range.
    Pressure(PressureSpec),
}

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
