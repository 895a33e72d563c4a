//! A scenario's streamed world as a plugin: the world file, the pages its
//! fills generate, observers as entities, and the `observers` and
//! `storage.stream` jobs.

use std::path::PathBuf;
use std::sync::Arc;

use loam_runtime::state::{decode, encode, read, write};
use loam_runtime::{Engine, Job, Notes, Plugin, PluginError, Samples, Stage, StateError};
use loam_storage::file::{Access, FileError, PageBuf, WorldFile};
use loam_storage::stream::{
    wanted_pages, PageRequests, PageSource, StreamConfig, StreamStats, Streamer, StreamerState,
    Viewpoint,
};
use loam_storage::{VoxelWorld, WorldLayout};
use loam_systems::materials::{id, AMBIENT};
use loam_systems::MaterialTable;

use crate::generate::{PageCells, PageFill};
use crate::scenario::{Fill, ObserverSpec, SavePolicy, Scenario, StorageSpec};

/// Where an observer is, cells.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Position(pub [f64; 3]);

/// How an observer moves, cells per frame.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Velocity(pub [f64; 3]);

/// An observer: pages within `radius` cells of it, now and where its
/// velocity takes it, are kept resident. Spawn one into the runtime's
/// `hecs::World` with a [`Position`] and [`Velocity`] to stream around
/// anything of your own (a camera, a player).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Observer {
    /// Cells.
    pub radius: f64,
}

/// The scenario's observer path, for observers that follow one.
#[derive(Clone, Debug, PartialEq)]
pub struct ObserverPath(pub ObserverSpec);

/// Generates a page from the scenario's fills: the world's implicit data.
pub struct ScenarioPages {
    fills: Vec<Fill>,
    table: MaterialTable,
    seed: u64,
}

impl ScenarioPages {
    /// The generator for `scenario`'s fills.
    pub fn new(scenario: &Scenario) -> Self {
        Self {
            fills: scenario.fills.clone(),
            table: MaterialTable::clone(&scenario.materials),
            seed: scenario.world.seed,
        }
    }
}

impl PageSource for ScenarioPages {
    fn generate(&self, layout: &WorldLayout, p: usize, buf: &mut PageBuf) {
        buf.material.fill(id::AIR);
        buf.temperature.fill(AMBIENT);
        buf.flags.fill(0);
        let page = PageCells::of(layout, p);
        for fill in &self.fills {
            PageFill::new(&self.table, fill, self.seed, layout.size, false).write(
                &page,
                &mut buf.material,
                &mut buf.temperature,
            );
        }
    }
}

/// A world streamed from its file (instead of a [`WorldPlugin`](crate::world::WorldPlugin)):
/// opens or creates the file, inserts the world with what the observers
/// want at frame 0 resident, the [`StreamState`], the shared resources and
/// the observers; adds `observers` and `storage.stream` (stage `storage`).
pub struct StreamingPlugin {
    scenario: Scenario,
    layout: WorldLayout,
}

impl StreamingPlugin {
    /// Streams `scenario`'s world, which must have `[world.storage]`.
    pub fn new(scenario: &Scenario, layout: WorldLayout) -> Self {
        Self {
            scenario: scenario.clone(),
            layout,
        }
    }
}

impl Plugin for StreamingPlugin {
    fn name(&self) -> &str {
        "streaming"
    }

    fn build(self: Box<Self>, engine: &mut Engine) -> Result<(), PluginError> {
        let error = |e: &dyn std::fmt::Display| PluginError::new("streaming", e);
        let spec = self
            .scenario
            .world
            .storage
            .as_ref()
            .ok_or_else(|| error(&"the scenario has no `[world.storage]`"))?;
        let (world, state, notes) = open(&self.scenario, spec, self.layout)?;
        if let Some(all) = engine.resource_mut::<Notes>() {
            all.0.extend(notes);
        }
        let scale = self.scenario.world_scale();
        let table = MaterialTable::clone(&self.scenario.materials);
        crate::world::insert_shared(engine, world, table, scale);
        engine.insert_resource(state);
        if engine.resource::<PageRequests>().is_none() {
            engine.insert_resource(PageRequests::default());
        }
        persist_requests(engine);
        let actors = engine
            .resource_mut::<hecs::World>()
            .ok_or_else(|| error(&"no actors"))?;
        spawn_observers(actors, &self.scenario);
        // The streamer puts the pages back before the world's activity is
        // restored over them.
        persist_stream(engine);
        crate::world::persist_activity(engine);
        persist_observers(engine);
        engine.add_job(observers_job());
        engine.add_job(stream_job());
        Ok(())
    }
}

/// The streamed world's machinery, a resource of the engine.
pub struct StreamState {
    /// Moves pages in and out.
    pub streamer: Streamer,
    /// When to commit.
    pub save: SavePolicy,
    /// Time from asking for a frame's pages to having them, per frame that asked.
    pub load_ms: Samples,
    /// With `save = "never"`: the temporary copy the streamer writes to.
    _scratch: Option<ScratchCopy>,
}

/// The temporary file a run with `save = "never"` streams from: a copy of
/// the world file (or a new file, where there is none), so that the pages
/// it evicts are written there and the world file is only read. It holds a
/// read lock on the world file, beside other readers, and is removed when
/// the run ends.
struct ScratchCopy {
    path: PathBuf,
    _origin: Option<WorldFile>,
}

impl Drop for ScratchCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Opens what a run with `save = "never"` streams from (see
/// [`ScratchCopy`]), and a note saying so.
fn open_scratch(
    scenario: &Scenario,
    spec: &StorageSpec,
    layout: WorldLayout,
) -> Result<(WorldFile, ScratchCopy, String), FileError> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let path = std::env::temp_dir().join(format!(
        "loam-scratch-{}-{}.loam",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_file(&path);
    let io = |source| FileError::Io {
        path: path.clone(),
        source,
    };
    let shown = spec.file.display();
    if let (Some(k), false) = (spec.commit, spec.file.exists()) {
        return Err(FileError::Io {
            path: spec.file.clone(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!(
                    "[world] commit = {k} runs from a commit of this file, which does not exist"
                ),
            ),
        });
    }
    if !spec.file.exists() {
        let generator = scenario.generator_fingerprint();
        let file = WorldFile::create_for(&path, layout, scenario.world.seed, generator)?;
        let note = format!(
            "save = \"never\" and {shown} does not exist: the run streams from a temporary \
             file, removed at exit, and creates none"
        );
        let scratch = ScratchCopy {
            path,
            _origin: None,
        };
        return Ok((file, scratch, note));
    }
    let origin = match spec.commit {
        // The commit's own fingerprint is the one its pages were made with.
        Some(k) => {
            let origin = WorldFile::open_commit(&spec.file, k)?;
            check_world_file(scenario, &origin, spec.accept_other_fills)?;
            origin
        }
        None => open_existing_world_file(scenario, spec, Access::Read)?,
    };
    let scratch = ScratchCopy {
        path: path.clone(),
        _origin: Some(origin),
    };
    let bytes = std::fs::copy(&spec.file, &path).map_err(io)?;
    // The copy is this run's to write, whatever the world file's mode.
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    }
    let (file, which) = match spec.commit {
        Some(k) => (
            WorldFile::open_commit_to_write(&path, k)?,
            format!(" at commit {k}"),
        ),
        None => (WorldFile::open(&path)?, String::new()),
    };
    let note = format!(
        "save = \"never\": {shown} is only read{which}; the pages the run evicts go to a \
         temporary copy of it ({} MiB in {}), removed at exit",
        bytes.div_ceil(1 << 20),
        std::env::temp_dir().display()
    );
    Ok((file, scratch, note))
}

impl StreamState {
    /// Counters so far.
    pub fn stats(&self) -> StreamStats {
        self.streamer.stats()
    }
}

/// Opens the file of `scenario`'s streamed world (`spec`, of `layout`), or
/// creates it when absent, and checks it describes the scenario's world.
pub fn open_world_file(
    scenario: &Scenario,
    spec: &StorageSpec,
    layout: WorldLayout,
) -> Result<WorldFile, FileError> {
    if spec.file.exists() {
        return open_existing_world_file(scenario, spec, Access::Write);
    }
    if let Some(dir) = spec.file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| FileError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    let generator = scenario.generator_fingerprint();
    WorldFile::create_for(&spec.file, layout, scenario.world.seed, generator)
}

/// Opens the file of `scenario`'s streamed world (`spec`), which must
/// exist, for `access`, and checks it describes the scenario's
/// world, so that pages generated from the scenario match the stored ones:
/// the same seed and layout, and the same fills (the file's generator
/// fingerprint), unless `spec.accept_other_fills`. A file that recorded no
/// fingerprint (made before there were any) takes the scenario's with its
/// next commit, as does one accepted with other fills.
pub fn open_existing_world_file(
    scenario: &Scenario,
    spec: &StorageSpec,
    access: Access,
) -> Result<WorldFile, FileError> {
    let mut file = match access {
        Access::Read => WorldFile::open_read_only(&spec.file)?,
        Access::Write => WorldFile::open(&spec.file)?,
    };
    check_world_file(scenario, &file, spec.accept_other_fills)?;
    if access == Access::Write {
        file.set_generator(scenario.generator_fingerprint());
    }
    Ok(file)
}

/// Checks that `file` holds `scenario`'s world, so that pages generated
/// from the scenario match the stored ones: the same seed and layout, and
/// the same fills (the file's generator fingerprint, where it recorded
/// one), unless `accept_other_fills`.
pub fn check_world_file(
    scenario: &Scenario,
    file: &WorldFile,
    accept_other_fills: bool,
) -> Result<(), FileError> {
    let seed = scenario.world.seed;
    let path = file.path().to_path_buf();
    if file.seed() != seed {
        return Err(FileError::Corrupt {
            path,
            what: format!(
                "the file was made with seed {}, the scenario asks for seed {seed}: pages \
                 generated from the scenario would not match the stored ones",
                file.seed()
            ),
        });
    }
    let layout = scenario.layout().map_err(|e| FileError::Corrupt {
        path: path.clone(),
        what: e.to_string(),
    })?;
    if file.layout() != layout {
        return Err(FileError::Corrupt {
            path,
            what: format!(
                "the file holds a world of {:?} cells in pages of {}, the scenario asks for {:?} in pages of {}",
                file.layout().size,
                file.layout().page,
                layout.size,
                layout.page
            ),
        });
    }
    let (recorded, generator) = (file.generator(), scenario.generator_fingerprint());
    if recorded != 0 && recorded != generator && !accept_other_fills {
        return Err(FileError::Corrupt {
            path,
            what: format!(
                "the file was made from other [[fill]]s or materials than the scenario's \
                 (generator fingerprint {recorded:#018x}, the scenario's {generator:#018x}): its \
                 stored pages would sit beside pages generated from these fills, a mix of two \
                 worlds; set [world] accept_other_fills = true to use it anyway"
            ),
        });
    }
    Ok(())
}

/// Builds the streamed world: a pool of `resident_pages` slots, filled with
/// what the observers want at frame 0 (read or generated, all of it, before
/// the first frame). Returns the world, the streaming state and notes: one
/// naming the I/O backend, and a warning where the budget is smaller than
/// what the observers want.
pub fn open(
    scenario: &Scenario,
    spec: &StorageSpec,
    layout: WorldLayout,
) -> Result<(VoxelWorld, StreamState, Vec<String>), PluginError> {
    let error = |e: &dyn std::fmt::Display| PluginError::new("streaming", e);
    let mut notes = Vec::new();
    let (mut file, scratch) = if spec.save == SavePolicy::Never {
        let (file, scratch, note) = open_scratch(scenario, spec, layout).map_err(|e| error(&e))?;
        notes.push(note);
        (file, Some(scratch))
    } else {
        let file = open_world_file(scenario, spec, layout).map_err(|e| error(&e))?;
        (file, None)
    };
    file.trust(spec.trusted);
    let (io, note) = loam_storage::io::open(file.file(), spec.io).map_err(|e| {
        error(&format!(
            "io `{}` is not available here: {e}",
            spec.io.name()
        ))
    })?;
    notes.insert(0, note.unwrap_or_else(|| format!("io: {}", io.name())));
    let slots = spec
        .resident_pages
        .unwrap_or(usize::MAX)
        .min(layout.page_count());
    let lookahead = spec.lookahead / scenario.run.dt;
    let around = observers_need(scenario, &layout, 0.0);
    let ahead = observers_need(scenario, &layout, lookahead);
    match (around, ahead) {
        (Some((need, frame)), _) if need > slots => notes.push(format!(
            "warning: resident_pages = {slots} holds fewer pages than the observers need \
             around them ({need} at frame {frame}): the pages beyond the budget are not \
             simulated, emitters and commands there do nothing, and each frame that runs \
             short is counted as over budget; set resident_pages = {need} or more"
        )),
        (_, Some((need, frame))) if need > slots => notes.push(format!(
            "resident_pages = {slots} holds the pages around the observers but not all those \
             `lookahead` ahead of them ({need} at frame {frame}): those load as the observers \
             come, and each frame that runs short is counted as over budget; \
             resident_pages = {need} loads them all ahead"
        )),
        _ => {}
    }
    let mut world = VoxelWorld::with_capacity(layout, slots);
    let config = StreamConfig {
        load_per_frame: spec.load_per_frame,
        lookahead,
        ..StreamConfig::default()
    };
    let source = Arc::new(ScenarioPages::new(scenario));
    let mut streamer = Streamer::new(file, io, source, config)
        .map_err(|e| error(&format!("cannot start the I/O thread: {e}")))?;
    let viewpoints: Vec<Viewpoint> = scenario.observers.iter().map(|o| viewpoint(o, 0)).collect();
    streamer
        .plan(&mut world, &viewpoints, 0, Some(usize::MAX))
        .map_err(|e| error(&e))?;
    streamer.install(&mut world).map_err(|e| error(&e))?;
    let state = StreamState {
        streamer,
        save: spec.save,
        load_ms: Samples::default(),
        _scratch: scratch,
    };
    Ok((world, state, notes))
}

/// The most pages the scenario's observers want at once over its run (as
/// the streamer asks for them, `lookahead` frames ahead), and the first
/// frame they want that many; `None` without observers. Its cost grows
/// with the frames the observers move in, not the run's length.
fn observers_need(
    scenario: &Scenario,
    layout: &WorldLayout,
    lookahead: f64,
) -> Option<(usize, u64)> {
    // After its last keyframe an observer stands still: the frames after
    // every observer's last want what that frame wants.
    let still_from = scenario
        .observers
        .iter()
        .map(|o| o.path.last().map_or(0.0, |k| k[3].max(0.0).ceil()) as u64)
        .max()?;
    // Every frame of a path, or (a path of thousands of frames) a sample
    // of 4096 evenly spaced: this only words a note.
    let last = scenario.run.frames.min(still_from);
    let stride = (last / 4096).max(1);
    (0..=last)
        .step_by(usize::try_from(stride).unwrap_or(usize::MAX))
        .map(|f| {
            let viewpoints: Vec<Viewpoint> =
                scenario.observers.iter().map(|o| viewpoint(o, f)).collect();
            (wanted_pages(layout, &viewpoints, lookahead).len(), f)
        })
        .max_by_key(|&(need, f)| (need, std::cmp::Reverse(f)))
}

/// Where an observer following `o`'s path is at `frame`, as the streamer sees it.
pub fn viewpoint(o: &ObserverSpec, frame: u64) -> Viewpoint {
    let (position, velocity) = o.at(frame);
    Viewpoint {
        position,
        velocity,
        radius: o.radius,
    }
}

/// Saves which pages are resident, loading and queued as section `stream`
/// of the run's state (see [`Streamer::saved`]).
fn persist_stream(engine: &mut Engine) {
    engine.persist_with(
        "stream",
        |resources| {
            let state = read::<StreamState>(resources, "stream")?;
            let world = read::<VoxelWorld>(resources, "stream")?;
            encode(&state.streamer.saved(&world))
        },
        |resources, bytes| {
            let saved: StreamerState = decode(bytes)?;
            let mut state = write::<StreamState>(resources, "stream")?;
            let mut world = write::<VoxelWorld>(resources, "stream")?;
            state
                .streamer
                .restore(&mut world, &saved)
                .map_err(|e| StateError::Section {
                    section: "stream".into(),
                    message: e.to_string(),
                })
        },
    );
}

/// Saves the pages systems asked for as section `page_requests` of the
/// run's state: streaming (stage `storage`, the first) reads them in the
/// frame after they were asked for.
fn persist_requests(engine: &mut Engine) {
    engine.persist_with(
        "page_requests",
        |resources| encode(&read::<PageRequests>(resources, "page_requests")?.pages),
        |resources, bytes| {
            write::<PageRequests>(resources, "page_requests")?.pages = decode(bytes)?;
            Ok(())
        },
    );
}

/// An observer as saved: where it is, how it moves, how far it sees, and
/// the path it follows, if any.
#[derive(serde::Serialize, serde::Deserialize)]
struct SavedObserver {
    position: [f64; 3],
    velocity: [f64; 3],
    radius: f64,
    path: Option<ObserverSpec>,
}

/// Saves the observers (in the order the streamer sees them) as section
/// `observers` of the run's state; restoring replaces every observer.
fn persist_observers(engine: &mut Engine) {
    engine.persist_with(
        "observers",
        |resources| {
            let actors = read::<hecs::World>(resources, "observers")?;
            let mut query =
                actors.query::<(&Observer, &Position, &Velocity, Option<&ObserverPath>)>();
            let saved: Vec<SavedObserver> = query
                .iter()
                .map(|(o, p, v, path)| SavedObserver {
                    position: p.0,
                    velocity: v.0,
                    radius: o.radius,
                    path: path.map(|p| p.0.clone()),
                })
                .collect();
            encode(&saved)
        },
        |resources, bytes| {
            let saved: Vec<SavedObserver> = decode(bytes)?;
            let mut actors = write::<hecs::World>(resources, "observers")?;
            crate::world::despawn_all::<Observer>(&mut actors);
            for o in saved {
                let (observer, position, velocity) = (
                    Observer { radius: o.radius },
                    Position(o.position),
                    Velocity(o.velocity),
                );
                match o.path {
                    Some(path) => actors.spawn((observer, position, velocity, ObserverPath(path))),
                    None => actors.spawn((observer, position, velocity)),
                };
            }
            Ok(())
        },
    );
}

/// Spawns the scenario's observers into `actors`.
pub fn spawn_observers(actors: &mut hecs::World, scenario: &Scenario) {
    for o in &scenario.observers {
        let (p, v) = o.at(0);
        actors.spawn((
            Observer { radius: o.radius },
            Position(p),
            Velocity(v),
            ObserverPath(o.clone()),
        ));
    }
}

/// The `observers` job: observers that follow a path move along it.
pub fn observers_job() -> Job {
    Job::new("observers")
        .in_stage(Stage::Storage)
        .writes::<hecs::World>()
        .run(|ctx| {
            let frame = ctx.clock().frame;
            let mut actors = ctx.write::<hecs::World>()?;
            for (path, pos, vel) in
                actors.query_mut::<(&ObserverPath, &mut Position, &mut Velocity)>()
            {
                let (p, v) = path.0.at(frame);
                pos.0 = p;
                vel.0 = v;
            }
            Ok(())
        })
}

/// The `storage.stream` job: installs last frame's pages and asks for the
/// pages the observers want next, then for the absent pages systems asked
/// for last frame ([`PageRequests`]). (Saves happen between frames, in
/// [`Runtime::step`](crate::Runtime::step), so that they record the run's
/// state with the pages.)
pub fn stream_job() -> Job {
    Job::new("storage.stream")
        .in_stage(Stage::Storage)
        .after("observers")
        .writes::<VoxelWorld>()
        .writes::<StreamState>()
        .reads::<hecs::World>()
        .reads::<PageRequests>()
        .run(|ctx| {
            let frame = ctx.clock().frame;
            let mut state = ctx.write::<StreamState>()?;
            let mut world = ctx.write::<VoxelWorld>()?;
            let installed = state
                .streamer
                .install(&mut world)
                .map_err(|e| ctx.fail(e))?;
            if let Some(latency) = installed.latency {
                state.load_ms.push(latency.as_secs_f32() * 1e3);
            }
            let viewpoints: Vec<Viewpoint> = {
                let actors = ctx.read::<hecs::World>()?;
                let mut query = actors.query::<(&Observer, &Position, &Velocity)>();
                query
                    .iter()
                    .map(|(o, p, v)| Viewpoint {
                        position: p.0,
                        velocity: v.0,
                        radius: o.radius,
                    })
                    .collect()
            };
            state.streamer.ask(&ctx.read::<PageRequests>()?.pages);
            state
                .streamer
                .plan(&mut world, &viewpoints, frame, None)
                .map_err(|e| ctx.fail(e))?;
            Ok(())
        })
}
