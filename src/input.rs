//! Commands and emitters as a plugin: what the scenario and the API ask of
//! the world, applied at the start of each frame.

use loam_runtime::state::{decode, encode, read, write};
use loam_runtime::{Engine, Inbox, Job, Plugin, PluginError, Seed, Stage, StateError};
use loam_storage::VoxelWorld;
use loam_systems::fields::{Fields, Scalar};
use loam_systems::materials::id;
use loam_systems::scale::WorldScale;
use loam_systems::xpbd::SoftBodies;
use loam_systems::MaterialTable;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::command::{Command, CommandHandle, SenderState, Sent};
use crate::generate::spawn_temperature;
use crate::placement::PlacementQueue;
use crate::recording::{CommandEvent, CommandTape};
use crate::scenario::{
    Emitter, HeatBathSpec, PressureSpec, Scenario, ScheduledCommand, Shape, WindSpec,
};
use crate::world::despawn_all;

/// Commands from the scenario, waiting for their frame (latest first).
struct ScheduledCommands(Vec<ScheduledCommand>);

/// What the runtime's [`CommandSender`](crate::CommandSender)s share with
/// the `commands` job.
pub(crate) struct Senders(pub(crate) Arc<SenderState>);

/// Commands sent for a later frame, and how many arrived too late.
#[derive(Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct SentCommands {
    /// Waiting for their frame: (frame, handle, command), in arrival order.
    pending: Vec<(u64, CommandHandle, Command)>,
    /// Commands `send_at` a frame that had taken its commands when they
    /// arrived: each applied in the frame that took it.
    pub(crate) late: u64,
}

/// The scenario's commands and those sent through a
/// [`CommandSender`](crate::CommandSender) (`commands`), its emitters
/// (`emitters`), and the winds and pressure holds they start
/// (`fields.commands`), all in stage `input`.
pub struct CommandsPlugin {
    scheduled: Vec<ScheduledCommand>,
    emitters: Vec<Emitter>,
    place_budget: Option<u64>,
}

impl CommandsPlugin {
    /// The commands and emitters of `scenario`.
    pub fn new(scenario: &Scenario) -> Self {
        Self {
            scheduled: scenario.commands.clone(),
            emitters: scenario.emitters.clone(),
            place_budget: scenario.run.place_cells_per_frame,
        }
    }
}

impl Plugin for CommandsPlugin {
    fn name(&self) -> &str {
        "commands"
    }

    fn build(self: Box<Self>, engine: &mut Engine) -> Result<(), PluginError> {
        let actors = engine.resource_mut::<hecs::World>().ok_or_else(|| {
            PluginError::new(
                "commands",
                "needs the actors (`hecs::World`) of a world plugin",
            )
        })?;
        for e in self.emitters {
            actors.spawn((e,));
        }
        // Latest first, so due commands pop off the end; commands of one
        // frame keep the order they were given in.
        let mut scheduled = self.scheduled;
        scheduled.sort_by_key(|c| c.frame);
        scheduled.reverse();
        engine.insert_resource(ScheduledCommands(scheduled));
        engine.insert_resource(Senders(Arc::default()));
        engine.insert_resource(SentCommands::default());
        engine.insert_resource(CommandTape::default());
        engine.insert_resource(PlacementQueue::new(self.place_budget));
        if self.place_budget.is_some() {
            // Only then: the state of a run without a budget stays as it was.
            persist_placements(engine);
        }
        persist_actors(engine);
        persist_scheduled(engine);
        persist_sent(engine);
        engine.mailbox::<Sent>();
        engine.add_job(commands_job());
        engine.add_job(emitters_job());
        engine.add_job(field_commands_job());
        Ok(())
    }
}

/// An actor, and the handle of the sent command that started it.
type Saved<T> = Vec<(T, Option<CommandHandle>)>;

/// The emitters, heat baths, winds and pressure holds, each kind in the
/// order its job visits them.
#[derive(Default, serde::Serialize, serde::Deserialize)]
struct SavedActors {
    emitters: Saved<Emitter>,
    heat_baths: Saved<HeatBathSpec>,
    winds: Saved<WindSpec>,
    pressures: Saved<PressureSpec>,
}

/// Every entity holding a `T`, in query order: what it saves and restores.
fn all<T: hecs::Component + Clone>(actors: &hecs::World) -> Saved<T> {
    let mut query = actors.query::<(&T, Option<&CommandHandle>)>();
    query.iter().map(|(t, h)| (t.clone(), h.copied())).collect()
}

/// Despawns every entity holding a `T`, then spawns `saved` in order.
fn replace<T: hecs::Component>(actors: &mut hecs::World, saved: Saved<T>) {
    despawn_all::<T>(actors);
    for (t, handle) in saved {
        spawn(actors, t, handle);
    }
}

/// Spawns an actor, with the handle of the command that started it.
fn spawn<T: hecs::Component>(actors: &mut hecs::World, t: T, handle: Option<CommandHandle>) {
    match handle {
        Some(h) => actors.spawn((t, h)),
        None => actors.spawn((t,)),
    };
}

/// Saves the commands sent for later frames, the late count and the next
/// handle as section `sent_commands` of the run's state.
fn persist_sent(engine: &mut Engine) {
    engine.persist_with(
        "sent_commands",
        |resources| {
            let sent = read::<SentCommands>(resources, "sent_commands")?;
            let senders = read::<Senders>(resources, "sent_commands")?;
            let next = senders.0.next_handle.load(Ordering::Relaxed);
            encode(&(&*sent, next))
        },
        |resources, bytes| {
            let (saved, next): (SentCommands, u64) = decode(bytes)?;
            *write::<SentCommands>(resources, "sent_commands")? = saved;
            let senders = read::<Senders>(resources, "sent_commands")?;
            senders.0.next_handle.store(next, Ordering::Relaxed);
            Ok(())
        },
    );
}

/// Saves the emitters, heat baths, winds and pressure holds as section
/// `actors` of the run's state; restoring replaces every one of them.
fn persist_actors(engine: &mut Engine) {
    engine.persist_with(
        "actors",
        |resources| {
            let actors = read::<hecs::World>(resources, "actors")?;
            encode(&SavedActors {
                emitters: all(&actors),
                heat_baths: all(&actors),
                winds: all(&actors),
                pressures: all(&actors),
            })
        },
        |resources, bytes| {
            let saved: SavedActors = decode(bytes)?;
            let mut actors = write::<hecs::World>(resources, "actors")?;
            replace(&mut actors, saved.emitters);
            replace(&mut actors, saved.heat_baths);
            replace(&mut actors, saved.winds);
            replace(&mut actors, saved.pressures);
            Ok(())
        },
    );
}

/// Saves the placements under way as section `placements` of the run's
/// state.
fn persist_placements(engine: &mut Engine) {
    engine.persist_with(
        "placements",
        |resources| encode(&read::<PlacementQueue>(resources, "placements")?.saved()),
        |resources, bytes| {
            write::<PlacementQueue>(resources, "placements")?.restore(decode(bytes)?);
            Ok(())
        },
    );
}

/// Saves how many of the scenario's commands are still to come as section
/// `commands` of the run's state: a resumed run does not apply again those
/// it applied before.
fn persist_scheduled(engine: &mut Engine) {
    engine.persist_with(
        "commands",
        |resources| {
            let scheduled = read::<ScheduledCommands>(resources, "commands")?;
            encode(&(scheduled.0.len() as u64))
        },
        |resources, bytes| {
            let left: u64 = decode(bytes)?;
            let mut scheduled = write::<ScheduledCommands>(resources, "commands")?;
            let left = usize::try_from(left).unwrap_or(usize::MAX);
            if left > scheduled.0.len() {
                return Err(StateError::Section {
                    section: "commands".into(),
                    message: format!(
                        "{left} of the scenario's commands were still to come, it has {}: \
                         the scenario's commands changed",
                        scheduled.0.len()
                    ),
                });
            }
            // Latest first: the ones still to come are at the front.
            scheduled.0.truncate(left);
            Ok(())
        },
    );
}

/// The `commands` actor: applies the scenario's commands due this frame,
/// then the sent commands for this frame (in the order they were sent),
/// then the commands and cancellations sent for the next frame, in
/// arrival order.
fn commands_job() -> Job {
    Job::new("commands")
        .in_stage(Stage::Input)
        .writes::<Inbox<Sent>>()
        .writes::<ScheduledCommands>()
        .writes::<SentCommands>()
        .writes::<CommandTape>()
        .writes::<PlacementQueue>()
        .reads::<Senders>()
        .writes::<VoxelWorld>()
        .writes::<hecs::World>()
        .writes::<Fields>()
        .writes::<SoftBodies>()
        .reads::<WorldScale>()
        .reads::<MaterialTable>()
        .reads::<Seed>()
        .run(|ctx| {
            let frame = ctx.clock().frame;
            let seed = ctx.read::<Seed>()?.0;
            let taken = take_commands(
                frame,
                &mut *ctx.write::<ScheduledCommands>()?,
                &mut *ctx.write::<Inbox<Sent>>()?,
                &mut *ctx.write::<SentCommands>()?,
            );
            ctx.read::<Senders>()?
                .0
                .taken
                .store(frame + 1, Ordering::Release);
            let events = {
                let mut tape = ctx.write::<CommandTape>()?;
                let events = tape.replay(frame).unwrap_or(taken);
                tape.record(frame, &events);
                events
            };
            let mut placements = ctx.write::<PlacementQueue>()?;
            if events.is_empty() {
                if placements.pending() > 0 {
                    let table = ctx.read::<MaterialTable>()?;
                    placements.write_frame(&mut *ctx.write::<VoxelWorld>()?, &table, seed);
                }
                return Ok(());
            }
            let mut sent = ctx.write::<SentCommands>()?;
            let table = ctx.read::<MaterialTable>()?;
            let mut world = ctx.write::<VoxelWorld>()?;
            let mut actors = ctx.write::<hecs::World>()?;
            let mut fields = ctx.write::<Fields>()?;
            // Adding a body needs the soft bodies (a runtime without their
            // plugin says so); a cancel removes one where there are any.
            let spawns_body = events.iter().any(|e| {
                matches!(
                    e,
                    CommandEvent::Apply {
                        command: Command::SpawnBody(_),
                        ..
                    }
                )
            });
            let mut bodies = if spawns_body {
                Some(ctx.write::<SoftBodies>()?)
            } else if events
                .iter()
                .any(|e| matches!(e, CommandEvent::Cancel { .. }))
            {
                ctx.write::<SoftBodies>().ok()
            } else {
                None
            };
            let voxel_size = ctx.read::<WorldScale>()?.cell_size as f32;
            for event in events {
                let (handle, command) = match event {
                    CommandEvent::Cancel { handle } => {
                        cancel(&mut actors, &mut sent, bodies.as_deref_mut(), handle);
                        continue;
                    }
                    CommandEvent::Apply { handle, command } => (handle, command),
                };
                match command {
                    Command::Place(fill) => placements.place(&mut world, &table, fill, seed),
                    Command::SpawnEmitter(e) => spawn(&mut actors, e, handle),
                    Command::Heat(h) => spawn(&mut actors, h, handle),
                    Command::Wind(w) => spawn(&mut actors, w, handle),
                    Command::Pressure(p) => spawn(&mut actors, p, handle),
                    Command::SpawnBody(b) => {
                        if let Some(bodies) = bodies.as_deref_mut() {
                            bodies.add_tagged(&b, voxel_size, handle.map(|h| h.0));
                        }
                    }
                    Command::Explode(e) => {
                        fields.add_explosion(
                            e.center.map(|v| v as f32),
                            e.radius as f32,
                            e.strength as f32,
                            e.heat as f32,
                        );
                    }
                }
            }
            placements.write_frame(&mut world, &table, seed);
            Ok(())
        })
}

/// What the scenario and the senders ask of frame `frame`, in the order it
/// happens: the scenario's commands due, then the commands sent for this
/// frame (in the order they were sent), then the commands and
/// cancellations sent for the next frame, in arrival order. Commands sent
/// for a later frame wait in `sent`.
fn take_commands(
    frame: u64,
    scheduled: &mut ScheduledCommands,
    inbox: &mut Inbox<Sent>,
    sent: &mut SentCommands,
) -> Vec<CommandEvent> {
    let mut events = Vec::new();
    while scheduled.0.last().is_some_and(|c| c.frame <= frame) {
        events.extend(scheduled.0.pop().map(|c| CommandEvent::Apply {
            handle: None,
            command: c.command,
        }));
    }
    // Commands for a frame first wait with the others for it, so those of
    // one frame apply in the order they were sent whenever each arrived.
    let mut next_frame = Vec::new();
    for message in inbox.drain() {
        match message {
            Sent::Command {
                handle,
                at: Some(at),
                command,
            } => {
                if at < frame {
                    sent.late += 1;
                }
                sent.pending.push((at.max(frame), handle, command));
            }
            other => next_frame.push(other),
        }
    }
    let (mut now, later): (Vec<_>, Vec<_>) = std::mem::take(&mut sent.pending)
        .into_iter()
        .partition(|(at, ..)| *at <= frame);
    sent.pending = later;
    now.sort_by_key(|(_, handle, _)| *handle);
    let apply = |handle, command: Command| CommandEvent::Apply {
        handle: Some(handle),
        command: command.delayed(frame),
    };
    events.extend(now.into_iter().map(|(_, h, c)| apply(h, c)));
    events.extend(next_frame.into_iter().map(|message| match message {
        Sent::Command {
            handle, command, ..
        } => apply(handle, command),
        Sent::Cancel(handle) => CommandEvent::Cancel { handle },
    }));
    events
}

/// Despawns what the command `handle` started (a body too), and drops it
/// if it waits.
fn cancel(
    actors: &mut hecs::World,
    sent: &mut SentCommands,
    bodies: Option<&mut SoftBodies>,
    handle: CommandHandle,
) {
    sent.pending.retain(|(_, h, _)| *h != handle);
    if let Some(bodies) = bodies {
        if let Some(b) = bodies.tagged(handle.0) {
            bodies.remove(b);
        }
    }
    let started: Vec<hecs::Entity> = actors
        .query::<(hecs::Entity, &CommandHandle)>()
        .iter()
        .filter(|(_, h)| **h == handle)
        .map(|(e, _)| e)
        .collect();
    for e in started {
        // Just found: it exists.
        let _ = actors.despawn(e);
    }
}

/// The `emitters` job: every active emitter fills the empty cells of its sphere.
fn emitters_job() -> Job {
    Job::new("emitters")
        .in_stage(Stage::Input)
        .after("commands")
        .reads::<hecs::World>()
        .reads::<MaterialTable>()
        .writes::<VoxelWorld>()
        .run(|ctx| {
            let frame = ctx.clock().frame;
            let actors = ctx.read::<hecs::World>()?;
            let mut query = actors.query::<&Emitter>();
            let active: Vec<&Emitter> = query
                .iter()
                .filter(|e| (e.frames[0]..e.frames[1]).contains(&frame))
                .collect();
            if active.is_empty() {
                return Ok(());
            }
            let table = ctx.read::<MaterialTable>()?;
            let mut world = ctx.write::<VoxelWorld>()?;
            let size = world.layout().size;
            for e in active {
                let t = e
                    .temperature
                    .unwrap_or_else(|| spawn_temperature(&table, e.material));
                let shape = Shape::Sphere {
                    center: e.center,
                    radius: e.radius,
                };
                shape.for_each_cell(size, 0, |p, _| {
                    if world.material(p) == Some(id::AIR) {
                        world.set_cell(p, e.material, t);
                    }
                });
            }
            Ok(())
        })
}

/// The `fields.commands` job: active winds set the kinetic field over their
/// box (with gusts, a deterministic function of the frame), and active
/// pressure holds set the pressure field over theirs.
fn field_commands_job() -> Job {
    Job::new("fields.commands")
        .in_stage(Stage::Input)
        .after("commands")
        .reads::<hecs::World>()
        .writes::<Fields>()
        .run(|ctx| {
            let frame = ctx.clock().frame;
            let actors = ctx.read::<hecs::World>()?;
            let mut fields = ctx.write::<Fields>()?;
            let active = |frames: [u64; 2]| (frames[0]..frames[1]).contains(&frame);
            for (k, w) in actors.query::<&WindSpec>().iter().enumerate() {
                if active(w.frames) {
                    // Gusts: two incommensurate waves, phase-shifted per wind.
                    let t = frame as f64 / 60.0 + k as f64 * 1.7;
                    let gust = 1.0 + w.gust * (0.6 * (2.1 * t).sin() + 0.4 * (5.3 * t).sin());
                    let v = w.direction.map(|d| (d * w.strength * gust) as f32);
                    fields.set_wind(w.min, w.max, v);
                }
            }
            for p in actors.query::<&PressureSpec>().iter() {
                if active(p.frames) {
                    fields.set_scalar_box(Scalar::Pressure, p.min, p.max, p.pressure as f32);
                }
            }
            Ok(())
        })
}
