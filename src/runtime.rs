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
use loam_runtime::{Engine, EngineConfig, EngineError, Notes, Plugins, Res};
use loam_storage::stream::PageSource;
use loam_storage::VoxelWorld;
use loam_systems::xpbd::SoftBodies;
use loam_systems::MaterialTable;

use crate::command::{Command, CommandSender};
use crate::report::{self, CheckResult, Report, Setup};
use crate::scenario::{SavePolicy, Scenario};
use crate::streaming::StreamState;

pub use crate::error::LoamError;

/// A running scenario: step it, send it commands, read its world and report.
pub struct Runtime {
    engine: Engine,
    scenario: Scenario,
    commands: CommandSender,
    setup: Setup,
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

    /// Builds the world of `scenario` and the systems that simulate it,
    /// from [`Runtime::default_plugins`].
    pub fn new(scenario: Scenario) -> Result<Self, LoamError> {
        // `default_plugins` validated the scenario.
        let (plugins, notes) = Self::default_plugins(&scenario)?;
        let mut runtime = Self::build(scenario, plugins)?;
        runtime.setup.notes.splice(0..0, notes);
        Ok(runtime)
    }

    /// The plugins that run `scenario` as its file says, in the order they
    /// are installed (each after what it reads at build time), and notes
    /// on what was chosen (backend fallbacks). Keep them, take one out,
    /// replace one or add your own, then build with
    /// [`Runtime::with_plugins`].
    pub fn default_plugins(scenario: &Scenario) -> Result<(Plugins, Vec<String>), LoamError> {
        crate::plugins::for_scenario(scenario)
    }

    /// Builds a runtime for `scenario` from `plugins` (see
    /// [`Runtime::default_plugins`]): the scenario gives the engine its
    /// threads, step and seed, and the checks and report; the plugins give
    /// the world and everything that happens to it.
    pub fn with_plugins(scenario: Scenario, plugins: Plugins) -> Result<Self, LoamError> {
        scenario.validate().map_err(LoamError::Invalid)?;
        Self::build(scenario, plugins)
    }

    /// [`Runtime::with_plugins`] for a scenario already validated.
    fn build(scenario: Scenario, plugins: Plugins) -> Result<Self, LoamError> {
        check_memory(scenario.resident_cells())?;
        let mut engine = Engine::new(EngineConfig {
            threads: scenario.run.threads,
            dt: scenario.run.dt,
            substeps: scenario.run.substeps,
            seed: scenario.world.seed,
        })?;
        engine.insert_resource(Notes::default());
        plugins.install(&mut engine)?;
        if engine.resource::<VoxelWorld>().is_none() {
            return Err(LoamError::Invalid(
                "no plugin made a world (add `WorldPlugin` or `StreamingPlugin`)".into(),
            ));
        }
        engine.compile().map_err(EngineError::from)?;
        let notes = engine.remove_resource::<Notes>().unwrap_or_default().0;
        let commands = CommandSender {
            mailbox: engine.mailbox::<Command>(),
        };
        let adapter = crate::backend::adapter(&engine);
        Ok(Self {
            engine,
            scenario,
            commands,
            setup: Setup {
                backend: if adapter.is_some() { "gpu" } else { "cpu" },
                adapter,
                notes,
            },
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
            self.active_pages_plot
                .set(world.table().awake_count() as f64);
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
        &self.setup.notes
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
        Report::build(
            &self.engine,
            &self.scenario,
            &self.setup,
            self.started.elapsed(),
        )
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
        self.setup.adapter.as_deref()
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
