//! Commands an embedding game (or a scenario) sends into a running world.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use loam_runtime::Mailbox;

pub use crate::scenario::Command;

/// A handle for sending [`Command`]s from any thread. Each is checked as it
/// is sent, with the rules a scenario file's `[[command]]`s are checked
/// with ([`Command::check`]), so a command that would put an unknown
/// material, a non-finite temperature or a shape outside the world into
/// the run never reaches it.
///
/// - [`send`](Self::send) applies a command at the start of the next
///   frame; commands sent before a frame starts apply in the order they
///   were sent. [`send_at`](Self::send_at) applies one at the start of a
///   given frame, for lockstep play.
/// - A sent command's frame ranges (`frames` of a wind, a heat bath, a
///   pressure hold or an emitter) count from the frame it applies in:
///   `[0, 60)` is its first 60 frames. (A scenario file's `[[command]]`s
///   keep the run's own frame numbers.)
/// - Each send returns a [`CommandHandle`]; [`cancel`](Self::cancel) stops
///   the wind, heat bath, pressure hold or emitter it started, or the
///   command itself while it waits for its frame.
#[derive(Clone)]
pub struct CommandSender {
    pub(crate) mailbox: Mailbox<Sent>,
    /// The world's size in cells.
    pub(crate) size: [u32; 3],
    /// The world's ambient pressure, Pa.
    pub(crate) pressure: f64,
    /// The materials commands may name.
    pub(crate) materials: Arc<loam_systems::MaterialTable>,
    pub(crate) shared: Arc<SenderState>,
}

/// What a runtime's senders share with its `commands` job.
#[derive(Debug, Default)]
pub struct SenderState {
    /// The next handle to give out.
    pub(crate) next_handle: AtomicU64,
    /// Frames whose sent commands have been taken: a command for an earlier
    /// frame is too late.
    pub(crate) taken: AtomicU64,
}

/// What a sender puts in the mailbox.
#[derive(Debug)]
pub(crate) enum Sent {
    /// A command, for the next frame (`at: None`) or frame `at`.
    Command {
        handle: CommandHandle,
        at: Option<u64>,
        command: Command,
    },
    /// Cancel what a command started, or the command if it has not applied.
    Cancel(CommandHandle),
}

/// A command sent through a [`CommandSender`], to cancel what it started.
/// Handles are numbered in the order commands were sent to the runtime.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct CommandHandle(pub(crate) u64);

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
    /// [`CommandSender::send_at`] a frame whose commands were already
    /// taken.
    #[error("command for frame {frame} is too late: frame {taken} has begun")]
    Late {
        /// The command.
        command: Command,
        /// The frame it was for.
        frame: u64,
        /// The latest frame begun.
        taken: u64,
    },
    /// The runtime that owned the mailbox is gone.
    #[error("the runtime has been dropped; nothing delivered")]
    Disconnected,
}

impl CommandSender {
    /// Checks a command and sends it; it applies at the start of the next
    /// frame.
    pub fn send(&self, command: Command) -> Result<CommandHandle, SendError> {
        self.deliver(None, command)
    }

    /// Checks a command and sends it to apply at the start of frame
    /// `frame` (0 is the first frame a runtime steps). A frame already
    /// begun is refused ([`SendError::Late`]). A command sent just as its
    /// frame begins may still arrive after the frame took its commands:
    /// it applies in the next, and
    /// [`Runtime::late_commands`](crate::Runtime::late_commands) counts it.
    pub fn send_at(&self, frame: u64, command: Command) -> Result<CommandHandle, SendError> {
        let taken = self.shared.taken.load(Ordering::Acquire);
        if frame < taken {
            return Err(SendError::Late {
                command,
                frame,
                taken: taken - 1,
            });
        }
        self.deliver(Some(frame), command)
    }

    /// Stops what the command `handle` started (its wind, heat bath,
    /// pressure hold or emitter) at the start of the next frame, or the
    /// command itself if it waits for a later frame. A blast or a
    /// placement already applied stays; a handle of something already
    /// over does nothing.
    pub fn cancel(&self, handle: CommandHandle) -> Result<(), SendError> {
        self.mailbox
            .send(Sent::Cancel(handle))
            .map_err(|_| SendError::Disconnected)
    }

    fn deliver(&self, at: Option<u64>, command: Command) -> Result<CommandHandle, SendError> {
        if let Err(message) = command.check(self.size, self.pressure, &self.materials) {
            return Err(SendError::Invalid { command, message });
        }
        let handle = CommandHandle(self.shared.next_handle.fetch_add(1, Ordering::Relaxed));
        self.mailbox
            .send(Sent::Command {
                handle,
                at,
                command,
            })
            .map_err(|_| SendError::Disconnected)?;
        Ok(handle)
    }
}
