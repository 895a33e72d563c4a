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
use loam_storage::file::{FileError, WorldFile};
use loam_storage::stream::PageSource;
use loam_storage::{PageChange, PageState, VoxelWorld, WorldSnapshot};
use loam_systems::lod::{LodChoice, SimulationLod};
use loam_systems::xpbd::SoftBodies;
use loam_systems::MaterialTable;

use crate::command::{CommandSender, Sent};
use crate::recording::{CommandTape, RecordedCommand};
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
    dirty_pages_plot: Plot,
    stream_queue_plot: Plot,
}

impl Runtime {
    /// Loads a scenario file, applies `overrides`, and builds its runtime
    /// (feature `scenario-files`).
    #[cfg(feature = "scenario-files")]
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
        let shared = engine
            .resource::<crate::input::Senders>()
            .map(|s| s.0.clone())
            .unwrap_or_default();
        let commands = CommandSender {
            mailbox: engine.mailbox::<Sent>(),
            size: scenario.world.size,
            pressure: scenario.world.pressure,
            materials: scenario.materials.clone(),
            shared,
        };
        let adapter = crate::backend::adapter(&engine);
        let mut runtime = Self {
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
            dirty_pages_plot: Plot::new("dirty pages"),
            stream_queue_plot: Plot::new("page requests queued"),
        };
        runtime.resume()?;
        Ok(runtime)
    }

    /// Goes on from the state the world file's last save recorded, where
    /// the scenario asks to resume (`[world] resume`).
    fn resume(&mut self) -> Result<(), LoamError> {
        let Some(spec) = self.scenario.world.storage.as_ref().filter(|s| s.resume) else {
            return Ok(());
        };
        let file = spec.file.display().to_string();
        let saved = {
            let stream = self.stream().ok_or_else(|| {
                LoamError::Unsupported("`resume` needs the streaming plugin".into())
            })?;
            if stream.streamer.file_is_new() {
                return Ok(());
            }
            stream.streamer.committed_state()?
        };
        let saved = saved.ok_or_else(|| {
            LoamError::Unsupported(format!(
                "{file} holds no run state to resume from: its last save was made by a build \
                 before resumable saves, on the gpu backend, or by `compact` of such a file; \
                 run without `resume` to start at frame 0 from its pages"
            ))
        })?;
        self.restore(&saved)
    }

    /// Restores a run state into the engine, where the backend allows.
    fn restore(&mut self, saved: &[u8]) -> Result<(), LoamError> {
        self.check_state_backend()?;
        self.engine.load_state(saved)?;
        Ok(())
    }

    /// Saved run states are CPU state: a GPU backend keeps its fields and
    /// phase state on the device.
    fn check_state_backend(&self) -> Result<(), LoamError> {
        match self.setup.backend {
            "cpu" => Ok(()),
            other => Err(LoamError::Unsupported(format!(
                "saving and resuming a run's state needs the cpu backend (this run uses {other})"
            ))),
        }
    }

    /// The run's state between frames, as a world file saves it beside the
    /// pages (see [`loam_runtime::state`]); `None` on the gpu backend,
    /// whose state is on the device.
    pub fn state(&self) -> Result<Option<Vec<u8>>, LoamError> {
        if self.check_state_backend().is_err() {
            return Ok(None);
        }
        Ok(Some(self.engine.save_state()?))
    }

    /// Writes the whole run to a new world file at `path`, crash-safely:
    /// every page and the run's state (the frame, fields, soft bodies,
    /// emitters, winds, heat baths, observers...). [`Runtime::load_state`]
    /// of the same scenario goes on from it exactly: N frames, save, load,
    /// M frames gives the world N + M frames give. For a world held wholly
    /// in memory; a streamed world saves into its own file
    /// ([`Runtime::save`]) and resumes with `[world] resume`. The file is
    /// written beside `path` and renamed over it once complete.
    pub fn save_state(&self, path: &std::path::Path) -> Result<(), LoamError> {
        self.check_state_backend()?;
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".saving");
        let tmp = std::path::PathBuf::from(tmp);
        let _ = std::fs::remove_file(&tmp);
        let layout = *self.world().layout();
        let generator = self.scenario.generator_fingerprint();
        let mut file = WorldFile::create_for(&tmp, layout, self.scenario.world.seed, generator)?;
        let saved = self.save_state_to(&mut file);
        drop(file);
        let renamed = saved.and_then(|()| {
            std::fs::rename(&tmp, path).map_err(|source| {
                LoamError::World(FileError::Io {
                    path: path.to_path_buf(),
                    source,
                })
            })
        });
        if renamed.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        renamed
    }

    /// Writes every page of a world held in memory and the run's state to
    /// `file`, and commits: what [`Runtime::save_state`] writes, into a
    /// file of your own. On the gpu backend it writes the pages with no
    /// state (see [`Runtime::state`]).
    pub fn save_state_to(&self, file: &mut WorldFile) -> Result<(), LoamError> {
        if self.stream().is_some() {
            return Err(LoamError::Unsupported(
                "a streamed world saves its state into its own file: call `save` and resume \
                 with `[world] resume`"
                    .into(),
            ));
        }
        let state = self.state()?;
        let world = self.world();
        file.write_pages(&world, &world.resident_pages(), &Default::default())?;
        file.commit_with_state(state.as_deref())?;
        Ok(())
    }

    /// Goes on from a file [`Runtime::save_state`] (or `loam run
    /// --save-world`) wrote for the same scenario: its pages replace the
    /// world's, its state every system's, and the clock its frame. The
    /// runtime must be built as the saving one was (the same plugins); a
    /// file of another world (size, page, seed or fills) is refused. On an
    /// error the runtime may be part way: build it anew.
    pub fn load_state(&mut self, path: &std::path::Path) -> Result<(), LoamError> {
        if self.stream().is_some() {
            return Err(LoamError::Unsupported(
                "a streamed world resumes from its own file: set `[world] resume = true`".into(),
            ));
        }
        self.check_state_backend()?;
        let file = WorldFile::open_read_only(path)?;
        crate::streaming::check_world_file(&self.scenario, &file, false)?;
        let saved = file.state()?.ok_or_else(|| {
            LoamError::Unsupported(format!(
                "{} holds the world's pages but no run state to resume from (it was saved \
                 without one)",
                path.display()
            ))
        })?;
        {
            let resources = self.engine.resources();
            let mut world = resources
                .try_write::<VoxelWorld>()
                .map_err(|_| LoamError::Unsupported("the world is borrowed".into()))?;
            let pages = world.resident_pages();
            let mut io =
                loam_storage::io::Pread::new(file.file()).map_err(|source| FileError::Io {
                    path: path.to_path_buf(),
                    source,
                })?;
            let loaded = file.load_pages(&mut world, &pages, &mut io)?;
            if loaded != pages.len() {
                return Err(LoamError::World(FileError::Corrupt {
                    path: path.to_path_buf(),
                    what: format!(
                        "it holds {loaded} of the world's {} pages: not a whole saved run",
                        pages.len()
                    ),
                }));
            }
            // Mirrors of the world see every page change.
            for p in pages {
                world.touch(p);
            }
        }
        self.restore(&saved)
    }

    /// Runs one frame, then saves a streamed world when its `[world] save`
    /// policy says (every N frames). Such a save copies the changed pages
    /// and the run's state and returns: the I/O thread writes and commits
    /// them while the next frames run (a failure fails a later frame).
    pub fn step(&mut self) -> Result<(), LoamError> {
        let started = Instant::now();
        self.engine.step()?;
        self.steer_lod(started.elapsed());
        let every = self.stream().and_then(|s| match s.save {
            SavePolicy::EveryNFrames(n) => Some(n),
            _ => None,
        });
        if every.is_some_and(|n| self.frame() % n == 0) {
            self.save_with(false)?;
        }
        if let Some(world) = self.engine.resource::<VoxelWorld>() {
            self.active_pages_plot
                .set(world.table().awake_count() as f64);
            self.resident_pages_plot.set(world.resident_count() as f64);
            if self.dirty_pages_plot.is_on() {
                let dirty = world.table().pages_in(PageState::Dirty).count();
                self.dirty_pages_plot.set(dirty as f64);
            }
        }
        if let Some(stream) = self.engine.resource::<StreamState>() {
            self.stream_queue_plot.set(stream.streamer.queued() as f64);
        }
        Ok(())
    }

    /// Adaptive LOD (`[run] lod = "adaptive"`): hands the frame's measured
    /// time to the steering, and a changed cap on page loads to the
    /// streamer.
    fn steer_lod(&mut self, took: std::time::Duration) {
        let frame = self.frame() - 1;
        let resources = self.engine.resources();
        let Ok(mut lod) = resources.try_write::<SimulationLod>() else {
            return;
        };
        let Some(choice) = lod.after_frame(frame, took.as_secs_f32() * 1e3) else {
            return;
        };
        if let Ok(mut stream) = resources.try_write::<StreamState>() {
            stream.streamer.set_load_per_frame(choice.load_per_frame);
        }
    }

    /// What the adaptive LOD chose so far (`[run] lod = "adaptive"`), in
    /// frame order: replayed with [`Runtime::replay_lod`], they give the
    /// same run; empty for any other run.
    pub fn lod_choices(&self) -> Vec<LodChoice> {
        self.engine
            .resource::<SimulationLod>()
            .and_then(|lod| lod.steering.as_ref().map(|s| s.choices.clone()))
            .unwrap_or_default()
    }

    /// Makes the adaptive LOD apply `choices` (a recorded run's
    /// [`Runtime::lod_choices`]) at their frames instead of measuring frame
    /// times, so that a replay of the run's commands gives its world bit
    /// for bit. Refused unless the run's LOD is adaptive and the choices
    /// are in frame order, after the frames already run, within the
    /// bounds the steering keeps.
    pub fn replay_lod(&mut self, choices: Vec<LodChoice>) -> Result<(), LoamError> {
        let frame = self.frame();
        let resources = self.engine.resources();
        let mut lod = resources.try_write::<SimulationLod>().ok();
        let Some(steering) = lod.as_mut().and_then(|l| l.steering.as_mut()) else {
            return Err(LoamError::Unsupported(
                "LOD choices replay into a run whose [run] lod is \"adaptive\"".into(),
            ));
        };
        steering
            .check(&choices, frame)
            .map_err(|m| LoamError::Invalid(format!("the recording's LOD choices: {m}")))?;
        steering.replay(choices);
        Ok(())
    }

    /// Writes every changed page of a streamed world to its file and
    /// commits, crash-safely, with the run's state (see [`Runtime::state`])
    /// for `[world] resume`. Returns what was written; `None` for a world
    /// held wholly in memory, which has no file (see
    /// [`Runtime::save_state`]).
    pub fn save(&mut self) -> Result<Option<loam_storage::file::SaveStats>, LoamError> {
        self.save_with(true)
    }

    /// [`Runtime::save`], waiting for the I/O thread to finish with `wait`;
    /// without, what was written is not known yet (`Some` of nothing).
    fn save_with(
        &mut self,
        wait: bool,
    ) -> Result<Option<loam_storage::file::SaveStats>, LoamError> {
        match self.stream().map(|s| s.save) {
            None => return Ok(None),
            Some(SavePolicy::Never) => {
                return Err(LoamError::Unsupported(
                    "the scenario says `save = \"never\"`: its world file is only read (the \
                     run streams from a temporary copy), so there is nothing to save to"
                        .into(),
                ))
            }
            Some(_) => {}
        }
        let _zone = loam_runtime::profiling::zone("storage.save");
        let state = self.state()?;
        let resources = self.engine.resources();
        let Ok(mut stream) = resources.try_write::<StreamState>() else {
            return Ok(None);
        };
        let mut world = resources.try_write::<VoxelWorld>().expect(
            "the runtime inserts the world at construction; nothing holds it between frames",
        );
        if wait {
            return Ok(Some(stream.streamer.save(&mut world, state.as_deref())?));
        }
        stream
            .streamer
            .save_in_background(&mut world, state.as_deref())?;
        Ok(Some(loam_storage::file::SaveStats::default()))
    }

    /// Makes a streamed world's file fail reads and writes on purpose, as
    /// `faults` says (`None` stops it), to test what a failing disk does to
    /// a run: the frame that meets a failure returns an error naming the
    /// file, and the file stays at its last commit. An error for a world
    /// held wholly in memory, which has no file.
    pub fn inject_io_faults(
        &mut self,
        faults: Option<loam_storage::file::Faults>,
    ) -> Result<(), LoamError> {
        let stream = self.stream().ok_or_else(|| {
            LoamError::Unsupported("I/O faults need a streamed world, which has a file".into())
        })?;
        stream.streamer.inject_faults(faults);
        Ok(())
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

    /// From now on, keeps what the `commands` job does each frame (every
    /// command applied, the scenario's and those sent, and every cancel, in
    /// order) for [`Runtime::recorded_commands`]; see [`crate::recording`].
    /// A runtime without the commands plugin has nothing to record.
    pub fn record_commands(&mut self) {
        if let Ok(mut tape) = self.engine.resources().try_write::<CommandTape>() {
            *tape = CommandTape::Record(Vec::new());
        }
    }

    /// What [`Runtime::record_commands`] kept so far, in order.
    pub fn recorded_commands(&self) -> Vec<RecordedCommand> {
        match self.engine.resource::<CommandTape>().as_deref() {
            Some(CommandTape::Record(events)) => events.clone(),
            _ => Vec::new(),
        }
    }

    /// Replays `events` (a recording of a runtime of the same scenario and
    /// seed) instead of taking commands: from the next frame on, the
    /// scenario's commands and those sent through a [`CommandSender`] are
    /// dropped, and each frame applies what the recording says it did, so
    /// the run gives the recorded world bit for bit. Refused unless the
    /// events are in frame order, none is for a frame already begun, and
    /// every command keeps the rules a sent one is held to.
    pub fn replay_commands(&mut self, events: Vec<RecordedCommand>) -> Result<(), LoamError> {
        let frame = self.frame();
        crate::recording::check_recording(
            &events,
            frame,
            self.scenario.world.size,
            self.scenario.world.pressure,
            &self.scenario.materials,
        )
        .map_err(|m| LoamError::Invalid(format!("the recording: {m}")))?;
        let resources = self.engine.resources();
        let mut tape = resources.try_write::<CommandTape>().map_err(|_| {
            LoamError::Unsupported("replaying commands needs the commands plugin".into())
        })?;
        *tape = CommandTape::Replay { events, next: 0 };
        Ok(())
    }

    /// Commands sent for a frame ([`CommandSender::send_at`]) that arrived
    /// after that frame had taken its commands, each applied in the frame
    /// that took it: a lockstep game checks this stays 0.
    pub fn late_commands(&self) -> u64 {
        self.engine
            .resource::<crate::input::SentCommands>()
            .map_or(0, |s| s.late)
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

    /// Brings `snapshot` up to the world as it is now, copying only the
    /// pages that changed since it was last brought up, and returns what
    /// changed: each page with the channels that changed and the smallest
    /// box holding the changed cells (see [`WorldSnapshot`]). The snapshot
    /// is owned data: read it on another thread while the next frame
    /// steps, and keep two to swap for a double buffer.
    ///
    /// ```
    /// use loam::{Runtime, Scenario, WorldSnapshot};
    ///
    /// let mut runtime = Runtime::new(Scenario::empty("feed", [64, 64, 64])).unwrap();
    /// let mut snapshot = WorldSnapshot::default();
    /// runtime.snapshot_into(&mut snapshot); // the first: every page is new
    /// runtime.step().unwrap();
    /// for change in runtime.snapshot_into(&mut snapshot) {
    ///     // Redraw change.min..change.max of change.page.
    /// #   let _ = change;
    /// }
    /// ```
    pub fn snapshot_into<'s>(&self, snapshot: &'s mut WorldSnapshot) -> &'s [PageChange] {
        let world = self.world();
        let frame = self.frame();
        self.engine.install(|| snapshot.refresh(&world, frame));
        snapshot.changes()
    }

    /// The material table.
    pub fn materials(&self) -> Res<'_, MaterialTable> {
        self.engine
            .resource::<MaterialTable>()
            .expect("the runtime inserts the material table at construction")
    }

    /// The hash of every cell channel, as 16 hex digits.
    ///
    /// Of a streamed world, the hash covers the pages its file holds but
    /// memory does not (evicted pages written back, saved ones) as well as
    /// the resident pages: the pages in neither are as the scenario's fills
    /// make them. Two runs that differ only in what they evicted hash
    /// apart. Where the file cannot be read, the hash says so instead.
    pub fn world_hash(&self) -> String {
        let world = self.world();
        let resident = world.hash();
        let stored = self
            .engine
            .resource::<StreamState>()
            .map(|stream| stream.streamer.hash_stored(&world));
        match stored {
            None | Some(Ok(None)) => format!("{resident:016x}"),
            Some(Ok(Some(stored))) => {
                let mut h = xxhash_rust::xxh3::Xxh3::new();
                h.update(&resident.to_le_bytes());
                h.update(&stored.to_le_bytes());
                format!("{:016x}", h.digest())
            }
            Some(Err(e)) => format!("unreadable: {e}"),
        }
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
            self.world_hash(),
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
