//! Recording a run's commands, and replaying them.
//!
//! The `commands` job decides, each frame, what the scenario's commands
//! and those sent through [`CommandSender`](crate::CommandSender)s do and
//! in which order: sent commands arrive from other threads whenever they
//! are sent, so that order is the one thing about a run its scenario and
//! seed do not fix. A recording keeps exactly that: each command applied
//! (its frame ranges already counted from its frame) and each cancel, in
//! the order the job carried them out. Replaying it into a runtime of the
//! same scenario and seed gives the same world, bit for bit, on any number
//! of threads.
//!
//! ```
//! use loam::{Command, ExplosionSpec, Runtime, Scenario};
//!
//! let scenario = Scenario::empty("demo", [32, 32, 32]);
//! let mut first = Runtime::new(scenario.clone()).unwrap();
//! first.record_commands();
//! let blast = ExplosionSpec { center: [16.0, 8.0, 16.0], radius: 4.0, strength: 5.0, heat: 0.0 };
//! first.command_sender().send(Command::Explode(blast)).unwrap();
//! first.run(10).unwrap();
//!
//! let mut again = Runtime::new(scenario).unwrap();
//! again.replay_commands(first.recorded_commands()).unwrap();
//! again.run(10).unwrap();
//! assert_eq!(again.world_hash(), first.world_hash());
//! ```

use crate::command::{Command, CommandHandle};

/// One thing the `commands` job carried out.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandEvent {
    /// A command applied. Its frame ranges (a wind's, an emitter's...)
    /// are the run's own frames. `handle` is the sent command's handle,
    /// `None` for a scenario's own command.
    Apply {
        /// The handle it was sent with (`None`: the scenario's).
        handle: Option<CommandHandle>,
        /// What it did.
        command: Command,
    },
    /// What the command `handle` started was stopped.
    Cancel {
        /// The sent command's handle.
        handle: CommandHandle,
    },
}

/// A [`CommandEvent`] and the frame it happened at the start of.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RecordedCommand {
    /// The frame (0 is the first a runtime steps).
    pub frame: u64,
    /// What happened.
    #[serde(flatten)]
    pub event: CommandEvent,
}

/// Whether the `commands` job records what it does, or replays a
/// recording instead of taking commands (a resource of the commands
/// plugin).
#[derive(Debug, Default)]
pub(crate) enum CommandTape {
    /// Neither.
    #[default]
    Off,
    /// Every event is appended.
    Record(Vec<RecordedCommand>),
    /// These events (sorted by frame, the next at `next`) are what
    /// happens; the scenario's commands and sent ones are dropped.
    Replay {
        /// The recording.
        events: Vec<RecordedCommand>,
        /// The first event not yet replayed.
        next: usize,
    },
}

impl CommandTape {
    /// The events of `frame`, in order, when replaying.
    pub(crate) fn replay(&mut self, frame: u64) -> Option<Vec<CommandEvent>> {
        let CommandTape::Replay { events, next } = self else {
            return None;
        };
        let start = *next;
        while events.get(*next).is_some_and(|e| e.frame <= frame) {
            *next += 1;
        }
        Some(
            events[start..*next]
                .iter()
                .map(|e| e.event.clone())
                .collect(),
        )
    }

    /// Keeps `events` of `frame`, when recording.
    pub(crate) fn record(&mut self, frame: u64, events: &[CommandEvent]) {
        if let CommandTape::Record(log) = self {
            log.extend(events.iter().map(|event| RecordedCommand {
                frame,
                event: event.clone(),
            }));
        }
    }
}

/// Checks a recording before it replays into a world of `size` cells at
/// `pressure` Pa holding `materials`, from frame `from`: frames in order
/// and none already past, every command within the rules a sent one is
/// held to ([`Command::check`]).
pub(crate) fn check_recording(
    events: &[RecordedCommand],
    from: u64,
    size: [u32; 3],
    pressure: f64,
    materials: &loam_systems::MaterialTable,
) -> Result<(), String> {
    let mut last = from;
    for (k, e) in events.iter().enumerate() {
        if e.frame < last {
            return Err(if last == from && k == 0 || e.frame < from {
                format!(
                    "event {k} is for frame {}, before frame {from} where the replay starts",
                    e.frame
                )
            } else {
                format!(
                    "event {k} is for frame {}, after an event for frame {last}: events must be \
                     in frame order",
                    e.frame
                )
            });
        }
        last = e.frame;
        if let CommandEvent::Apply { command, .. } = &e.event {
            command
                .check(size, pressure, materials)
                .map_err(|m| format!("event {k} (frame {}): {m}", e.frame))?;
        }
    }
    Ok(())
}
