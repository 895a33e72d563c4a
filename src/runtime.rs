//! The embeddable runtime: a scenario's world, its systems and its workload
//! wired into a job graph.
//!
//! ```no_run
//! use loam::{Runtime, Scenario};
//!
//! let scenario = Scenario::load("scenarios/sandbox.toml".as_ref()).unwrap();
//! let mut runtime = Runtime::new(scenario).unwrap();
//! let commands = runtime.command_sender(); // Clone + Send: use it from any thread
//! for _ in 0..60 {
//!     runtime.step().unwrap();
//! }
//! println!("world hash {}", runtime.world_hash());
//! ```

use std::time::Instant;

use loam_runtime::profiling::Plot;
use loam_runtime::{Engine, EngineConfig, EngineError, Inbox, Job, JobError, Res};
use loam_storage::stream::PageSource;
use loam_storage::{VoxelWorld, WorldLayout};
use loam_systems::ca::{self, CaConfig, CaStats};
use loam_systems::fields::{couple, Fields, Scalar};
use loam_systems::materials::{id, AMBIENT};
use loam_systems::phase::{HeatBath, HeatBaths, PhaseConfig, PhaseState, PhaseTable};
use loam_systems::xpbd::{Environment, SoftBodies};
use loam_systems::MaterialTable;

use crate::command::{Command, CommandSender};
use crate::gpu::Gpu;
use crate::report::{self, CheckResult, Report};
use crate::scenario::{
    Backend, Emitter, Fill, HeatBathSpec, PressureSpec, SavePolicy, Scenario, ScenarioError,
    ScheduledCommand, WindSpec,
};
use crate::streaming::{self, StreamState};

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
            | LoamError::World(_) => 2,
            LoamError::Engine(_) => 1,
        }
    }
}

/// Commands from the scenario, waiting for their frame (latest first).
struct ScheduledCommands(Vec<ScheduledCommand>);

/// A running scenario: step it, send it commands, read its world and report.
pub struct Runtime {
    engine: Engine,
    scenario: Scenario,
    commands: CommandSender,
    notes: Vec<String>,
    backend: &'static str,
    /// The GPU adapter's name, when running on one.
    adapter: Option<String>,
    started: Instant,
    active_pages_plot: Plot,
    resident_pages_plot: Plot,
    stream_queue_plot: Plot,
}

impl Runtime {
    /// Loads a scenario file, applies `overrides`, and builds its runtime.
    pub fn from_file(
        path: &std::path::Path,
        overrides: &crate::scenario::Overrides,
    ) -> Result<Self, LoamError> {
        let mut scenario = Scenario::load(path)?;
        scenario.apply(overrides);
        Self::new(scenario)
    }

    /// Builds the world of `scenario` and the jobs that simulate it.
    pub fn new(scenario: Scenario) -> Result<Self, LoamError> {
        scenario.validate().map_err(LoamError::Invalid)?;
        let mut notes = Vec::new();
        let gpu = match scenario.run.backend {
            Backend::Cpu => None,
            Backend::Gpu => Some(crate::gpu::open().map_err(|e| {
                LoamError::Unsupported(format!(
                    "backend `gpu`: {e}; use `cpu`, or `auto` to fall back to the CPU"
                ))
            })?),
            Backend::Auto => crate::gpu::open()
                .inspect_err(|e| notes.push(format!("backend auto: {e}; running on the CPU")))
                .ok(),
        };
        let (backend, adapter) = match &gpu {
            Some(g) => ("gpu", Some(g.adapter())),
            None => ("cpu", None),
        };
        if scenario.run.gpu_automaton && gpu.is_none() {
            notes.push("gpu_automaton: no GPU backend, so the automaton runs on the CPU".into());
        }
        let layout = WorldLayout::new(scenario.world.size, scenario.world.page)
            .map_err(|e| LoamError::Invalid(e.to_string()))?;
        check_memory(scenario.resident_cells())?;
        let mut engine = Engine::new(EngineConfig {
            threads: scenario.run.threads,
            dt: scenario.run.dt,
            substeps: scenario.run.substeps,
            seed: scenario.world.seed,
        })?;

        let table = MaterialTable::default();
        let (world, stream) = match &scenario.world.storage {
            None => {
                let mut world = VoxelWorld::new(layout, id::AIR, AMBIENT);
                // Fills wake the pages they touch and those next to them, so
                // the first frame visits everything that could change and
                // lets the rest sleep.
                for fill in &scenario.fills {
                    apply_fill(&mut world, &table, fill, scenario.world.seed);
                }
                (world, None)
            }
            Some(spec) => {
                let (world, state, note) = streaming::open(&scenario, spec, layout)?;
                notes.push(note);
                (world, Some(state))
            }
        };

        let mut actors = hecs::World::new();
        for e in &scenario.emitters {
            actors.spawn((e.clone(),));
        }
        streaming::spawn_observers(&mut actors, &scenario);
        // Latest first, so due commands pop off the end; commands of one frame
        // keep the order they were given in.
        let mut scheduled = scenario.commands.clone();
        scheduled.sort_by_key(|c| c.frame);
        scheduled.reverse();

        let phase = scenario.systems.phase;
        let phase_config = PhaseConfig {
            ambient_pressure: scenario.world.pressure,
            voxel_size: scenario.world.voxel_size,
            stagger: scenario.systems.phase_stagger,
            ..PhaseConfig::default()
        };
        let mut gpu = gpu;
        let (gpu_phase, gpu_phase_readback, gpu_phase_feedback) = match &mut gpu {
            Some(g) if phase => g
                .phase_jobs(
                    &mut engine,
                    &world,
                    &PhaseTable::default(),
                    &table,
                    &phase_config,
                    stream.is_some(),
                )
                .map(|(dispatch, readback, feedback)| (Some(dispatch), Some(readback), feedback))
                .map_err(|e| LoamError::Unsupported(format!("backend `gpu`: {e}")))?,
            _ => (None, None, None),
        };
        if let Some(g) = gpu.as_mut().filter(|_| !scenario.soft_bodies.is_empty()) {
            g.prepare_soft_bodies(&world)
                .map_err(|e| LoamError::Unsupported(format!("backend `gpu`: {e}")))?;
        }
        engine.insert_resource(world);
        engine.insert_resource(table);
        engine.insert_resource(actors);
        engine.insert_resource(ScheduledCommands(scheduled));
        engine.insert_resource(CaConfig {
            reactions: scenario.systems.reactions,
            heat: scenario.systems.heat,
            thermal_transitions: !phase,
            ..CaConfig::default()
        });
        engine.insert_resource(PhaseTable::default());
        engine.insert_resource(phase_config);
        engine.insert_resource(PhaseState::default());
        engine.insert_resource(HeatBaths::default());
        engine.insert_resource(Fields::default());
        engine.insert_resource(soft_bodies(&scenario));
        engine.insert_resource(CaStats::default());
        if let Some(state) = stream {
            engine.insert_resource(state);
            engine.add_job(streaming::observers_job());
            if let Some(feedback) = gpu_phase_feedback {
                engine.add_job(feedback);
            }
            engine.add_job(streaming::stream_job());
        }
        let commands = CommandSender {
            mailbox: engine.mailbox::<Command>(),
        };
        engine.add_job(commands_job());
        engine.add_job(emitters_job());
        engine.add_job(field_commands_job());
        engine.add_job(field_couple_job());
        if scenario.systems.ca {
            engine.add_job(match &gpu {
                Some(g) if scenario.run.gpu_automaton => g.automaton_job(),
                _ => ca::job(),
            });
        }
        // After the automaton, before the phase pass: the phase pass decides
        // the bath's cells at the bath's temperature, and sees the pages the
        // bath woke (the automaton takes every wake-up made before it, so a
        // bath over a uniform world was never looked at).
        engine.add_job(heat_baths_job());
        if phase {
            engine.add_job(gpu_phase.unwrap_or_else(loam_systems::phase::job));
        }
        if !scenario.soft_bodies.is_empty() {
            engine.add_job(soft_body_job(scenario.run.substeps.max(4), gpu.is_some()));
        }
        match gpu {
            Some(gpu) => {
                engine.add_job(gpu.field_step_job());
                engine.insert_resource(gpu);
            }
            None => engine.add_job(field_step_job()),
        }
        if let Some(readback) = gpu_phase_readback {
            engine.add_job(readback);
        }
        engine.compile().map_err(EngineError::from)?;
        Ok(Self {
            engine,
            scenario,
            commands,
            notes,
            backend,
            adapter,
            started: Instant::now(),
            active_pages_plot: Plot::new("active pages"),
            resident_pages_plot: Plot::new("resident pages"),
            stream_queue_plot: Plot::new("page requests queued"),
        })
    }

    /// Runs one frame.
    pub fn step(&mut self) -> Result<(), LoamError> {
        self.engine.step()?;
        if let Some(world) = self.engine.resource::<VoxelWorld>() {
            self.active_pages_plot.set(world.table.awake_count() as f64);
            self.resident_pages_plot.set(world.resident_count() as f64);
        }
        if let Some(stream) = self.engine.resource::<StreamState>() {
            self.stream_queue_plot.set(stream.streamer.queued() as f64);
        }
        Ok(())
    }

    /// Writes every changed page of a streamed world to its file and
    /// commits, crash-safely. Returns what was written; `None` for a world
    /// held wholly in memory, which has no file.
    pub fn save(&mut self) -> Result<Option<loam_storage::file::SaveStats>, LoamError> {
        let resources = self.engine.resources();
        let Ok(mut state) = resources.try_write::<StreamState>() else {
            return Ok(None);
        };
        let mut world = resources.try_write::<VoxelWorld>().expect(
            "the runtime inserts the world at construction; nothing holds it between frames",
        );
        Ok(Some(state.streamer.save(&mut world)?))
    }

    /// Ends a run the way the scenario's `[world] save` says: saves unless
    /// it is `never`. Call it once after the last [`Runtime::step`].
    pub fn finish(&mut self) -> Result<Option<loam_storage::file::SaveStats>, LoamError> {
        let save = self
            .engine
            .resource::<StreamState>()
            .map(|s| s.save != SavePolicy::Never);
        match save {
            Some(true) => self.save(),
            _ => Ok(None),
        }
    }

    /// The streamed world's state (`None` for a world held wholly in memory).
    pub fn stream(&self) -> Option<Res<'_, StreamState>> {
        self.engine.resource::<StreamState>()
    }

    /// Runs `frames` frames.
    pub fn run(&mut self, frames: u64) -> Result<(), LoamError> {
        for _ in 0..frames {
            self.step()?;
        }
        Ok(())
    }

    /// A handle for sending commands from any thread.
    pub fn command_sender(&self) -> CommandSender {
        self.commands.clone()
    }

    /// Frames run so far.
    pub fn frame(&self) -> u64 {
        self.engine.clock().frame
    }

    /// The scenario this runtime runs.
    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    /// The world, between frames.
    pub fn world(&self) -> Res<'_, VoxelWorld> {
        self.engine
            .resource::<VoxelWorld>()
            .expect("the runtime inserts the world at construction and never removes it")
    }

    /// The material table.
    pub fn materials(&self) -> Res<'_, MaterialTable> {
        self.engine
            .resource::<MaterialTable>()
            .expect("the runtime inserts the material table at construction")
    }

    /// The hash of every cell channel, as 16 hex digits.
    pub fn world_hash(&self) -> String {
        format!("{:016x}", self.world().hash())
    }

    /// The engine, to add jobs and resources of your own.
    pub fn engine_mut(&mut self) -> &mut Engine {
        &mut self.engine
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Notes about how the run was set up (fallbacks and the like).
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// Evaluates the scenario's checks against the current world.
    pub fn checks(&self) -> Vec<CheckResult> {
        let bodies = self.engine.resource::<SoftBodies>();
        report::evaluate(
            &self.scenario.checks,
            &self.world(),
            &self.materials(),
            bodies.as_deref(),
        )
    }

    /// The run's report: timings, world hash, materials and checks.
    pub fn report(&self) -> Report {
        Report::build(self, self.backend, self.started.elapsed())
    }

    /// Whether [`Runtime::material_dump`] fits in the memory available (a
    /// byte a cell): check before a long run, not after it.
    pub fn check_material_dump(&self) -> Result<(), LoamError> {
        let cells = self.world().layout().cell_count();
        if available_memory().is_some_and(|avail| cells > avail) || usize::try_from(cells).is_err()
        {
            return Err(LoamError::Unsupported(format!(
                "the world has {cells} cells, a {} MiB dump, more than the memory available; \
                 export it instead (`loam export-zarr SCENARIO.toml OUT.zarr`)",
                cells >> 20
            )));
        }
        Ok(())
    }

    /// The material of every cell of the world, x fastest, then y, then z, as
    /// the simulation sees it: resident pages from memory; for a streamed
    /// world, the others as its file holds them now, or generated from the
    /// scenario's fills as loading them would. A world larger than the
    /// memory available is an error.
    pub fn material_dump(&self) -> Result<Vec<u8>, LoamError> {
        self.check_material_dump()?;
        let layout = *self.world().layout();
        let cells = layout.cell_count();
        let [w, h, _] = layout.size.map(|v| v as usize);
        let pe = layout.page as usize;
        let mut out = vec![0u8; cells as usize];
        let source = crate::streaming::ScenarioPages::new(&self.scenario);
        let mut buf = loam_storage::file::PageBuf::new(layout.page_cells());
        let world = self.world();
        let stream = self.stream();
        for p in 0..layout.page_count() {
            let material: &[u8] = match world.page(p) {
                Some(view) => view.material,
                None => {
                    let held = match &stream {
                        Some(s) => s.streamer.read_page(p, &mut buf)?,
                        None => false,
                    };
                    if !held {
                        source.generate(&layout, p, &mut buf);
                    }
                    &buf.material
                }
            };
            let [px, py, pz] = layout.page_coord(p).map(|c| c as usize * pe);
            for (row, cells) in material.chunks_exact(pe).enumerate() {
                let (y, z) = (py + row % pe, pz + row / pe);
                let at = px + w * (y + h * z);
                out[at..at + pe].copy_from_slice(cells);
            }
        }
        Ok(out)
    }

    /// The GPU adapter's name, when the `gpu` backend runs.
    pub fn adapter(&self) -> Option<&str> {
        self.adapter.as_deref()
    }
}

/// Refuses a world whose channels would not fit in the memory this machine
/// has available, instead of letting the allocation abort the process.
fn check_memory(resident_cells: u64) -> Result<(), LoamError> {
    const BYTES_PER_CELL: u64 = 6; // material u8 + temperature f32 + flags u8
    let needed = resident_cells * BYTES_PER_CELL;
    match available_memory() {
        Some(avail) if needed > avail => Err(LoamError::Unsupported(format!(
            "the world needs {} MiB for its cells but only {} MiB of memory is available",
            needed >> 20,
            avail >> 20
        ))),
        _ => Ok(()),
    }
}

/// Bytes of memory available (`MemAvailable`), where the system says.
fn available_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Writes `fill` into the world, waking what it touches.
pub(crate) fn apply_fill(world: &mut VoxelWorld, table: &MaterialTable, fill: &Fill, seed: u64) {
    let size = world.layout().size;
    let all = ([0; 3], size.map(i64::from));
    fill_cells(table, fill, seed, size, all, |p, m, t| {
        world.set_cell(p, m, t);
    });
}

/// Calls `put(cell, material, temperature)` for each cell of `fill` inside
/// `clip` (`[min, max)`), in a world of `size`.
pub(crate) fn fill_cells(
    table: &MaterialTable,
    fill: &Fill,
    seed: u64,
    size: [u32; 3],
    clip: ([i64; 3], [i64; 3]),
    mut put: impl FnMut([u32; 3], u8, f32),
) {
    let temperature = fill
        .temperature
        .unwrap_or_else(|| spawn_temperature(table, fill.material));
    let surface = match fill.shape {
        crate::scenario::Shape::NoiseTerrain { surface, .. } => surface,
        _ => None,
    };
    fill.shape.for_each_cell_in(size, seed, clip, |p, depth| {
        let m = match surface {
            Some((s, d)) if depth < d => s,
            _ => fill.material,
        };
        let t = if m == fill.material {
            temperature
        } else {
            spawn_temperature(table, m)
        };
        put(p, m, t);
    });
}

fn spawn_temperature(table: &MaterialTable, m: u8) -> f32 {
    table.get(m).map_or(AMBIENT, |m| m.spawn_temperature)
}

/// The `commands` actor: applies the scenario's commands due this frame,
/// then the commands sent through [`CommandSender`]s, in arrival order.
fn commands_job() -> Job {
    Job::new("commands")
        .writes::<Inbox<Command>>()
        .writes::<ScheduledCommands>()
        .writes::<VoxelWorld>()
        .writes::<hecs::World>()
        .writes::<Fields>()
        .reads::<MaterialTable>()
        .reads::<loam_runtime::Seed>()
        .run(|ctx| {
            let frame = ctx.clock().frame;
            let seed = ctx.read::<loam_runtime::Seed>()?.0;
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

/// The `fields.commands` job: active winds set the kinetic field over their
/// box (with gusts, a deterministic function of the frame), and active
/// pressure holds set the pressure field over theirs.
fn field_commands_job() -> Job {
    Job::new("fields.commands")
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

/// The `fields.couple` job: fields move the world (see
/// [`loam_systems::fields::couple`]).
fn field_couple_job() -> Job {
    Job::new("fields.couple")
        .writes::<VoxelWorld>()
        .writes::<Fields>()
        .reads::<MaterialTable>()
        .reads::<PhaseConfig>()
        .reads::<loam_runtime::Seed>()
        .run(|ctx| {
            let seed = ctx.read::<loam_runtime::Seed>()?.0;
            let voxel = ctx.read::<PhaseConfig>()?.voxel_size;
            let mut fields = ctx.write::<Fields>()?;
            if fields.bricks() == 0 {
                return Ok(());
            }
            let table = ctx.read::<MaterialTable>()?;
            let mut world = ctx.write::<VoxelWorld>()?;
            couple(
                &mut world,
                &mut fields,
                &table,
                ctx.dt(),
                voxel,
                seed,
                ctx.clock().frame,
            );
            Ok(())
        })
}

/// The scenario's soft bodies, built.
fn soft_bodies(scenario: &Scenario) -> SoftBodies {
    let mut bodies = SoftBodies::default();
    for b in &scenario.soft_bodies {
        bodies.add_box(b, scenario.world.voxel_size as f32);
    }
    bodies
}

/// The `softbody.step` job: one frame of every soft body in `substeps`
/// substeps, colliding with the world as it is after the automaton, then
/// its push on water and sand written into the fields. `softbody.step.gpu`
/// (`on_gpu`) runs the substeps on the GPU backend's device.
fn soft_body_job(substeps: u32, on_gpu: bool) -> Job {
    const GPU: &str = "softbody.step.gpu";
    let job = Job::new(if on_gpu { GPU } else { "softbody.step" })
        .writes::<SoftBodies>()
        .reads::<VoxelWorld>()
        .reads::<MaterialTable>()
        .reads::<PhaseConfig>()
        .writes::<Fields>();
    let job = if on_gpu { job.reads::<Gpu>() } else { job };
    job.run(move |ctx| {
        let voxel = ctx.read::<PhaseConfig>()?.voxel_size as f32;
        let world = ctx.read::<VoxelWorld>()?;
        let table = ctx.read::<MaterialTable>()?;
        let mut fields = ctx.write::<Fields>()?;
        let mut bodies = ctx.write::<SoftBodies>()?;
        let env = Environment {
            dt: ctx.dt() as f32,
            substeps,
            gravity: 9.81 / voxel,
            voxel_size: voxel,
            fields: None,
        };
        let felt = Environment {
            fields: Some(&fields),
            ..env
        };
        if on_gpu {
            ctx.read::<Gpu>()?
                .step_soft_bodies(&mut bodies, &world, &table, &felt)
                .map_err(|e| JobError::failed(GPU, e))?;
        } else {
            bodies.step(&world, &table, &felt);
        }
        bodies.push_fields(&mut fields, &world, &table, &env);
        Ok(())
    })
}

/// The `fields.step` job: diffusion and decay in one pass
/// ([`Fields::step`]).
fn field_step_job() -> Job {
    Job::new("fields.step").writes::<Fields>().run(|ctx| {
        ctx.write::<Fields>()?.step(ctx.dt());
        Ok(())
    })
}

/// The `heat_baths` job: every active `heat` command holds its box at its
/// temperature (and wakes it), and the phase pass learns which cells are in
/// a bath. It runs after the automaton's conduction and before the phase
/// pass.
fn heat_baths_job() -> Job {
    Job::new("heat_baths")
        .reads::<hecs::World>()
        .writes::<VoxelWorld>()
        .writes::<HeatBaths>()
        .run(|ctx| {
            let frame = ctx.clock().frame;
            let actors = ctx.read::<hecs::World>()?;
            let mut query = actors.query::<&HeatBathSpec>();
            let active: Vec<HeatBath> = query
                .iter()
                .filter(|h| (h.frames[0]..h.frames[1]).contains(&frame))
                .map(|h| HeatBath {
                    min: h.min,
                    max: h.max,
                    temperature: h.temperature,
                })
                .collect();
            let mut baths = ctx.write::<HeatBaths>()?;
            if active.is_empty() && baths.0.is_empty() {
                return Ok(());
            }
            let mut world = ctx.write::<VoxelWorld>()?;
            for b in &active {
                hold(&mut world, b);
            }
            baths.0 = active;
            Ok(())
        })
}

/// Sets every resident cell of `bath`'s box to its temperature, and wakes
/// the pages it covers and their neighbours (conduction crosses page faces).
fn hold(world: &mut VoxelWorld, bath: &HeatBath) {
    let layout = *world.layout();
    let shift = layout.page.trailing_zeros();
    let (lo, hi) = (
        bath.min.map(|v| v >> shift),
        bath.max.map(|v| (v - 1) >> shift),
    );
    for pz in lo[2]..=hi[2] {
        for py in lo[1]..=hi[1] {
            for px in lo[0]..=hi[0] {
                let p = layout.page_index([px, py, pz]);
                let origin = [px, py, pz].map(|c| c << shift);
                let Some(view) = world.page_mut(p) else {
                    continue;
                };
                for z in bath.min[2].max(origin[2])..bath.max[2].min(origin[2] + layout.page) {
                    for y in bath.min[1].max(origin[1])..bath.max[1].min(origin[1] + layout.page) {
                        for x in
                            bath.min[0].max(origin[0])..bath.max[0].min(origin[0] + layout.page)
                        {
                            let i =
                                layout.local_offset([x - origin[0], y - origin[1], z - origin[2]]);
                            view.temperature[i] = bath.temperature;
                            // The bath supplies or takes any latent heat.
                            view.latent[i] = 0.0;
                        }
                    }
                }
                world.table.touch(p);
                world.wake_around(p);
            }
        }
    }
}

/// The `emitters` job: every active emitter fills the empty cells of its sphere.
fn emitters_job() -> Job {
    Job::new("emitters")
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
                let shape = crate::scenario::Shape::Sphere {
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
