//! Commands and emitters as a plugin: what the scenario and the API ask of
//! the world, applied at the start of each frame.

use loam_runtime::state::{decode, encode, read, write};
use loam_runtime::{Engine, Inbox, Job, Plugin, PluginError, Seed, Stage, StateError};
use loam_storage::VoxelWorld;
use loam_systems::fields::{Fields, Scalar};
use loam_systems::materials::id;
use loam_systems::MaterialTable;

use crate::command::Command;
use crate::generate::{apply_fill, spawn_temperature};
use crate::scenario::{
    Emitter, HeatBathSpec, PressureSpec, Scenario, ScheduledCommand, Shape, WindSpec,
};
use crate::world::despawn_all;

/// Commands from the scenario, waiting for their frame (latest first).
struct ScheduledCommands(Vec<ScheduledCommand>);

/// The scenario's commands and those sent through a
/// [`CommandSender`](crate::CommandSender) (`commands`), its emitters
/// (`emitters`), and the winds and pressure holds they start
/// (`fields.commands`), all in stage `input`.
pub struct CommandsPlugin {
    scheduled: Vec<ScheduledCommand>,
    emitters: Vec<Emitter>,
}

impl CommandsPlugin {
    /// The commands and emitters of `scenario`.
    pub fn new(scenario: &Scenario) -> Self {
        Self {
            scheduled: scenario.commands.clone(),
            emitters: scenario.emitters.clone(),
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
        persist_actors(engine);
        persist_scheduled(engine);
        engine.mailbox::<Command>();
        engine.add_job(commands_job());
        engine.add_job(emitters_job());
        engine.add_job(field_commands_job());
        Ok(())
    }
}

/// The emitters, heat baths, winds and pressure holds, each kind in the
/// order its job visits them.
#[derive(Default, serde::Serialize, serde::Deserialize)]
struct SavedActors {
    emitters: Vec<Emitter>,
    heat_baths: Vec<HeatBathSpec>,
    winds: Vec<WindSpec>,
    pressures: Vec<PressureSpec>,
}

/// Every entity holding a `T`, in query order: what it saves and restores.
fn all<T: hecs::Component + Clone>(actors: &hecs::World) -> Vec<T> {
    actors.query::<&T>().iter().cloned().collect()
}

/// Despawns every entity holding a `T`, then spawns `saved` in order.
fn replace<T: hecs::Component>(actors: &mut hecs::World, saved: Vec<T>) {
    despawn_all::<T>(actors);
    for t in saved {
        actors.spawn((t,));
    }
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
/// then the commands sent through [`CommandSender`](crate::CommandSender)s,
/// in arrival order.
fn commands_job() -> Job {
    Job::new("commands")
        .in_stage(Stage::Input)
        .writes::<Inbox<Command>>()
        .writes::<ScheduledCommands>()
        .writes::<VoxelWorld>()
        .writes::<hecs::World>()
        .writes::<Fields>()
        .reads::<MaterialTable>()
        .reads::<Seed>()
        .run(|ctx| {
            let frame = ctx.clock().frame;
            let seed = ctx.read::<Seed>()?.0;
            let mut due = Vec::new();
            {
                let mut scheduled = ctx.write::<ScheduledCommands>()?;
                while scheduled.0.last().is_some_and(|c| c.frame <= frame) {
                    due.extend(scheduled.0.pop().map(|c| c.command));
                }
            }
            due.extend(ctx.write::<Inbox<Command>>()?.drain());
            if due.is_empty() {
                return Ok(());
            }
            let table = ctx.read::<MaterialTable>()?;
            let mut world = ctx.write::<VoxelWorld>()?;
            let mut actors = ctx.write::<hecs::World>()?;
            let mut fields = ctx.write::<Fields>()?;
            for command in due {
                match command {
                    Command::Place(fill) => apply_fill(&mut world, &table, &fill, seed),
                    Command::SpawnEmitter(e) => {
                        actors.spawn((e,));
                    }
                    Command::Heat(h) => {
                        actors.spawn((h,));
                    }
                    Command::Wind(w) => {
                        actors.spawn((w,));
                    }
                    Command::Pressure(p) => {
                        actors.spawn((p,));
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
            Ok(())
        })
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
