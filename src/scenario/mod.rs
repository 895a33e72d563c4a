//! Scenario files (format v1, TOML): a world, a run, initial fills,
//! workload (emitters, scheduled commands) and end-of-run checks.
//!
//! [`Scenario::load`] reads and checks a file; every mistake is a
//! [`ScenarioError`] with the file, line and column of the offending value.
//! A [`Scenario`] can also be built in code and handed to
//! [`Runtime::new`](crate::Runtime::new). The README documents every key.

mod configs;
#[cfg(feature = "scenario-files")]
mod raw;
mod rules;
pub mod shape;

/// Bounds on what a scenario may ask for.
pub mod limits {
    /// Hottest temperature a scenario may set, K: far above anything the
    /// materials react to, far below where f32 heat exchange loses precision.
    pub const MAX_TEMPERATURE: f64 = 100_000.0;
    /// Largest world held wholly in memory: 2^31 cells, 12 GiB of channels.
    pub const MAX_RESIDENT_CELLS: u64 = 1 << 31;
    /// Largest sphere radius, cells.
    pub const MAX_RADIUS: f64 = 4096.0;
}

#[cfg(feature = "scenario-files")]
use std::path::Path;
use std::path::PathBuf;
use std::sync::Arc;

use loam_systems::MaterialTable;

pub use shape::Shape;

/// A checked scenario, ready to run.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// Name for reports (the file stem when loaded from a file).
    pub name: String,
    /// The materials and reactions: the built-in ones and the scenario's
    /// own (`[[material]]`, `[[reaction]]`, `materials = "FILE"`).
    pub materials: Arc<MaterialTable>,
    /// The world's geometry and seed.
    pub world: WorldSpec,
    /// How long and how to run.
    pub run: RunSpec,
    /// Which systems run.
    pub systems: SystemsSpec,
    /// Initial content, applied in order.
    pub fills: Vec<Fill>,
    /// Material sources active over frame ranges.
    pub emitters: Vec<Emitter>,
    /// Commands applied at given frames.
    pub commands: Vec<ScheduledCommand>,
    /// Checks evaluated after the run.
    pub checks: Vec<Check>,
    /// Observers whose surroundings a streamed world keeps resident.
    pub observers: Vec<ObserverSpec>,
    /// Soft bodies (`[[softbody]]`), as the soft-body system builds them.
    pub soft_bodies: Vec<loam_systems::xpbd::SoftBox>,
}

/// `[world] file` and the keys that go with it: a world streamed from (and
/// saved to) a `.loam` file, with a bounded number of resident pages.
#[derive(Clone, Debug, PartialEq)]
pub struct StorageSpec {
    /// The world file, created if absent (relative paths are resolved
    /// against the scenario file's folder when loaded from a file).
    pub file: PathBuf,
    /// Most pages in memory at once; `None`: every page of the world.
    pub resident_pages: Option<usize>,
    /// How pages are read.
    pub io: loam_storage::io::IoKind,
    /// When the world is written back.
    pub save: SavePolicy,
    /// Most page loads asked for per frame.
    pub load_per_frame: usize,
    /// How far ahead observers' velocities are followed, seconds.
    pub lookahead: f64,
    /// Use a world file made from other `[[fill]]`s than the scenario's
    /// (its stored pages stay as they are, the others come from the
    /// scenario's fills); otherwise such a file is refused.
    pub accept_other_fills: bool,
    /// Go on from the run state the file's last save recorded (its frame,
    /// fields, bodies, emitters, observers...) instead of starting at frame
    /// 0 from its pages; a new file starts at frame 0.
    pub resume: bool,
    /// Read the file's pages without checking their CRCs, for a file its
    /// user trusts ([`WorldFile::trust`](loam_storage::file::WorldFile::trust)):
    /// faster loads, and damage goes unnoticed. `loam inspect --verify`
    /// still checks it all.
    pub trusted: bool,
    /// Run from this commit of the file, one it keeps
    /// ([`WorldFile::open_commit`](loam_storage::file::WorldFile::open_commit)),
    /// instead of its newest: read-only, so `save` is `never` (the pages
    /// the run evicts go to a private copy).
    pub commit: Option<u64>,
    /// The game spawns the observers from code
    /// ([`Runtime::spawn_observer`](crate::Runtime::spawn_observer)), so
    /// the world needs no `[[observer]]` to hold fewer pages than it has.
    pub observers_from_code: bool,
}

impl StorageSpec {
    /// Streaming from `file` with the defaults a scenario file gets: every
    /// page resident, the best I/O, saved on exit, 256 loads a frame, a
    /// second's lookahead.
    pub fn new(file: impl Into<PathBuf>) -> Self {
        Self {
            file: file.into(),
            resident_pages: None,
            io: loam_storage::io::IoKind::Auto,
            save: SavePolicy::OnExit,
            load_per_frame: 256,
            lookahead: 1.0,
            accept_other_fills: false,
            resume: false,
            trusted: false,
            commit: None,
            observers_from_code: false,
        }
    }
}

/// `[world] save`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SavePolicy {
    /// Never commit (evicted pages are still written, uncommitted).
    Never,
    /// Commit when the run ends.
    OnExit,
    /// Commit every N frames, and when the run ends.
    EveryNFrames(u64),
}

/// `[[observer]]`: a point that moves along keyframes and wants the pages
/// around it resident.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ObserverSpec {
    /// `[x, y, z, frame]` keyframes, frames increasing; linear between,
    /// still before the first and after the last.
    pub path: Vec<[f64; 4]>,
    /// Pages within this many cells must be resident.
    pub radius: f64,
}

impl ObserverSpec {
    /// Position (cells) and velocity (cells per frame) at `frame`.
    pub fn at(&self, frame: u64) -> ([f64; 3], [f64; 3]) {
        let f = frame as f64;
        let xyz = |k: &[f64; 4]| [k[0], k[1], k[2]];
        let (Some(first), Some(last)) = (self.path.first(), self.path.last()) else {
            return ([0.0; 3], [0.0; 3]);
        };
        if f <= first[3] {
            return (xyz(first), [0.0; 3]);
        }
        // The first keyframe after `f` (frames increase): a search, not a
        // scan, for paths of thousands of keyframes (a stress run's jumps).
        let next = self.path.partition_point(|k| k[3] <= f);
        let before = next.checked_sub(1).and_then(|k| self.path.get(k));
        let (Some(a), Some(b)) = (before, self.path.get(next)) else {
            return (xyz(last), [0.0; 3]);
        };
        let v = [0, 1, 2].map(|i| (b[i] - a[i]) / (b[3] - a[3]));
        ([0, 1, 2].map(|i| a[i] + v[i] * (f - a[3])), v)
    }
}

/// `[world]`.
#[derive(Clone, Debug, PartialEq)]
pub struct WorldSpec {
    /// Cells along x, y (up), z.
    pub size: [u32; 3],
    /// Page edge in cells.
    pub page: u32,
    /// World seed.
    pub seed: u64,
    /// Streaming from a world file; `None` keeps the whole world in memory.
    pub storage: Option<StorageSpec>,
    /// Ambient pressure, Pa (default 101325).
    pub pressure: f64,
    /// Edge of a cell, m (default 0.25): hydrostatic pressure and the moles
    /// a cell holds.
    pub voxel_size: f64,
}

/// Which compute backend runs the systems.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The CPU kernels.
    Cpu,
    /// The GPU kernels where they pay (field diffusion and decay, the phase
    /// pass; builds with the `gpu` feature), the CPU for the rest.
    Gpu,
    /// The GPU when there is one, else the CPU.
    Auto,
}

impl Backend {
    /// The name used in files and reports.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Cpu => "cpu",
            Backend::Gpu => "gpu",
            Backend::Auto => "auto",
        }
    }

    /// Parses `cpu`, `gpu` or `auto`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "cpu" => Some(Backend::Cpu),
            "gpu" => Some(Backend::Gpu),
            "auto" => Some(Backend::Auto),
            _ => None,
        }
    }
}

/// `[run]`.
#[derive(Clone, Debug, PartialEq)]
pub struct RunSpec {
    /// Frames to run.
    pub frames: u64,
    /// Frame length, seconds.
    pub dt: f64,
    /// Substeps per frame for substep groups.
    pub substeps: u32,
    /// Worker threads, 0 = one per core.
    pub threads: usize,
    /// Compute backend.
    pub backend: Backend,
    /// With the GPU backend, run the automaton on the GPU too. Its kernel
    /// is the CPU's page-serial update, bit for bit, which makes it far
    /// slower than the CPU: it is there to check the GPU, not to speed up.
    pub gpu_automaton: bool,
    /// The frame time the run aims for, ms: set, it turns on simulation
    /// LOD (see [`loam_systems::lod`]), pages far from every observer
    /// simulated every 2, 4 or 8 frames, and the report says whether the
    /// frame p95 kept within it. The schedule depends on distances and frame
    /// numbers only, never on time measured.
    pub frame_budget_ms: Option<f64>,
    /// With a frame budget: cells from the nearest observer within which
    /// pages are simulated every frame (twice as far, every 2 frames, and
    /// so on).
    pub lod_near: f64,
    /// With a frame budget: whether `lod_near` stays as set or is steered
    /// from measured frame times.
    pub lod: LodMode,
    /// Cells a frame's `place` commands may write (see
    /// [`crate::placement`]): a larger one is spread over frames, in
    /// order. `None`: each is written whole in its frame.
    pub place_cells_per_frame: Option<u64>,
}

/// `[run] lod`: how the simulation LOD picks `near`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LodMode {
    /// `lod_near` as set: the schedule depends on distances and frame
    /// numbers only, and a run is deterministic without help.
    #[default]
    Fixed,
    /// `near` (and a streamed world's page loads per frame) steered from
    /// measured frame times toward the budget
    /// ([`loam_systems::lod::steering`]); the choices are recorded with the
    /// run's commands and replayed with them.
    Adaptive,
}

/// `[run] lod_near` when the file leaves it out, cells.
pub const DEFAULT_LOD_NEAR: f64 = 64.0;

impl RunSpec {
    /// The frame budget an adaptive LOD steers toward, ms: `None` unless
    /// there is a budget and `lod` is [`LodMode::Adaptive`].
    pub fn adaptive_budget_ms(&self) -> Option<f64> {
        self.frame_budget_ms
            .filter(|_| self.lod == LodMode::Adaptive)
    }
}

impl Default for RunSpec {
    /// The values a scenario file gets for keys it leaves out.
    fn default() -> Self {
        Self {
            frames: 600,
            dt: 1.0 / 60.0,
            substeps: 1,
            threads: 0,
            backend: Backend::Cpu,
            gpu_automaton: false,
            frame_budget_ms: None,
            lod_near: DEFAULT_LOD_NEAR,
            lod: LodMode::Fixed,
            place_cells_per_frame: None,
        }
    }
}

/// `[systems]`: which systems run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SystemsSpec {
    /// The falling-sand automaton.
    pub ca: bool,
    /// Its reactions.
    pub reactions: bool,
    /// Its heat conduction.
    pub heat: bool,
    /// Phase transitions from phase diagrams (Metropolis); when off, the
    /// automaton's fixed-temperature rules decide boiling and freezing.
    pub phase: bool,
    /// Visit pages near a transition but not woken every this many frames.
    pub phase_stagger: u32,
}

impl Default for SystemsSpec {
    fn default() -> Self {
        Self {
            ca: true,
            reactions: true,
            heat: true,
            phase: true,
            phase_stagger: 1,
        }
    }
}

/// A blast (an `explode` command).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ExplosionSpec {
    /// Centre, cells.
    pub center: [f64; 3],
    /// Radius, cells.
    pub radius: f64,
    /// Peak overpressure, Pa.
    pub strength: f64,
    /// Thermal excess at the centre, K (0: none).
    pub heat: f64,
}

/// A wind over a box for a frame range (a `wind` command).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WindSpec {
    /// Inclusive lower corner, cells.
    pub min: [u32; 3],
    /// Exclusive upper corner, cells.
    pub max: [u32; 3],
    /// Unit direction.
    pub direction: [f64; 3],
    /// Speed, m/s.
    pub strength: f64,
    /// Relative amplitude of gusts (0: steady).
    pub gust: f64,
    /// Active for `frames[0] <= frame < frames[1]`.
    pub frames: [u64; 2],
}

/// A region whose pressure field is held at an overpressure (negative for
/// thinner air) for a frame range (a `pressure` command).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PressureSpec {
    /// Inclusive lower corner, cells.
    pub min: [u32; 3],
    /// Exclusive upper corner, cells.
    pub max: [u32; 3],
    /// Overpressure, Pa (ambient + this is the pressure there).
    pub pressure: f64,
    /// Active for `frames[0] <= frame < frames[1]`.
    pub frames: [u64; 2],
}

/// A region held at a temperature for a frame range (a `heat` command).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HeatBathSpec {
    /// Inclusive lower corner, cells.
    pub min: [u32; 3],
    /// Exclusive upper corner, cells.
    pub max: [u32; 3],
    /// K.
    pub temperature: f32,
    /// Active for `frames[0] <= frame < frames[1]`.
    pub frames: [u64; 2],
}

/// Material put into a shape.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Fill {
    /// Where.
    pub shape: Shape,
    /// What.
    pub material: u8,
    /// At which temperature (K); the material's own default when `None`.
    pub temperature: Option<f32>,
}

/// A sphere that fills its empty cells with a material every frame of a range.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Emitter {
    /// What it emits.
    pub material: u8,
    /// Centre, in cells.
    pub center: [f64; 3],
    /// Radius, in cells.
    pub radius: f64,
    /// Active for frames `frames[0] .. frames[1]`.
    pub frames: [u64; 2],
    /// Temperature of emitted cells (material default when `None`).
    pub temperature: Option<f32>,
}

/// Something to do to the world at the start of a frame.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
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
    /// Add a soft body (in code only; a scenario file's bodies are its
    /// `[[softbody]]`s). Sent, it is removed by cancelling its handle.
    SpawnBody(Box<loam_systems::xpbd::SoftBox>),
}

/// A command applied at the start of frame `frame`.
#[derive(Clone, Debug, PartialEq)]
pub struct ScheduledCommand {
    /// The frame it applies in.
    pub frame: u64,
    /// What it does.
    pub command: Command,
}

/// A condition checked at the end of a run.
#[derive(Clone, Debug, PartialEq)]
pub enum Check {
    /// The number of cells of a material is within bounds.
    Count {
        /// The material.
        material: u8,
        /// At least this many.
        min: Option<u64>,
        /// At most this many.
        max: Option<u64>,
        /// Only the cells in the box `from..to` (inclusive, exclusive
        /// corners) count; the whole world when `None`.
        region: Option<([u32; 3], [u32; 3])>,
    },
    /// A liquid lies level: over the columns of the box `min..max` that
    /// hold no solid cell in it, the cells of `material` in each column
    /// differ by at most `tolerance` (default 1).
    Level {
        /// The material.
        material: u8,
        /// Inclusive lower corner, cells.
        min: [u32; 3],
        /// Exclusive upper corner, cells.
        max: [u32; 3],
        /// Most difference between columns, cells.
        tolerance: u32,
    },
    /// No page is active any more.
    Settled,
    /// Every soft body has come to rest and sleeps.
    AtRest,
    /// Every temperature is finite.
    Finite,
}

/// A mistake in a scenario file, with where it is: `path:line:column:
/// message`, or `path: message` when it has no place in the text (a file
/// that cannot be read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    /// The file.
    pub path: PathBuf,
    /// 1-based line; 0 when the error has no place in the text.
    pub line: usize,
    /// 1-based column; 0 when the error has no place in the text.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.path.display(), self.message)
        } else {
            let (path, line, column) = (self.path.display(), self.line, self.column);
            write!(f, "{path}:{line}:{column}: {}", self.message)
        }
    }
}

impl std::error::Error for ScenarioError {}

/// Values from the command line that replace the file's.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// `--frames`.
    pub frames: Option<u64>,
    /// `--threads`.
    pub threads: Option<usize>,
    /// `--seed`.
    pub seed: Option<u64>,
    /// `--backend`.
    pub backend: Option<Backend>,
    /// `--gpu-automaton` (only ever turns it on).
    pub gpu_automaton: bool,
    /// `--no-lod`: drops `[run] frame_budget_ms`.
    pub no_lod: bool,
    /// Replaces `[world] io` (streamed worlds only).
    pub io: Option<loam_storage::io::IoKind>,
    /// `--resume` (only ever turns it on; streamed worlds only).
    pub resume: bool,
}

impl Scenario {
    /// Reads and checks a scenario file (feature `scenario-files`, on with
    /// the default `cli`).
    #[cfg(feature = "scenario-files")]
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
            path: path.to_path_buf(),
            line: 0,
            column: 0,
            message: format!("cannot read the file: {e}"),
        })?;
        Self::parse(&text, path)
    }

    /// Checks scenario `text`; `path` is used in messages and for the name
    /// (feature `scenario-files`).
    #[cfg(feature = "scenario-files")]
    pub fn parse(text: &str, path: &Path) -> Result<Self, ScenarioError> {
        raw::parse(text, path)
    }

    /// A scenario with an empty world of `size` and nothing else, to build on in code.
    pub fn empty(name: &str, size: [u32; 3]) -> Self {
        Self {
            name: name.to_string(),
            materials: Arc::new(MaterialTable::default()),
            world: WorldSpec {
                size,
                page: 32,
                seed: 0,
                storage: None,
                pressure: 101_325.0,
                voxel_size: 0.25,
            },
            run: RunSpec::default(),
            systems: SystemsSpec::default(),
            fills: Vec::new(),
            emitters: Vec::new(),
            commands: Vec::new(),
            checks: Vec::new(),
            observers: Vec::new(),
            soft_bodies: Vec::new(),
        }
    }

    /// Applies command-line overrides.
    pub fn apply(&mut self, o: &Overrides) {
        if let Some(f) = o.frames {
            self.run.frames = f;
        }
        if let Some(t) = o.threads {
            self.run.threads = t;
        }
        if let Some(s) = o.seed {
            self.world.seed = s;
        }
        if let Some(b) = o.backend {
            self.run.backend = b;
        }
        self.run.gpu_automaton |= o.gpu_automaton;
        if o.no_lod {
            self.run.frame_budget_ms = None;
        }
        if let Some(storage) = self.world.storage.as_mut() {
            storage.io = o.io.unwrap_or(storage.io);
            storage.resume |= o.resume;
        }
    }

    /// Checks a scenario built in code the way [`Scenario::parse`] checks a
    /// file (without positions): geometry, run settings, materials,
    /// temperatures and shapes. [`crate::Runtime::new`] calls it.
    /// Cells held in memory at most: the whole world, or `resident_pages`
    /// pages of a streamed one.
    pub fn resident_cells(&self) -> u64 {
        let page_cells = u64::from(self.world.page).pow(3);
        let pages = self
            .world
            .size
            .map(|s| u64::from(s / self.world.page.max(1)));
        let all = pages.iter().product::<u64>();
        match self.world.storage.as_ref().and_then(|s| s.resident_pages) {
            Some(r) => (r as u64).min(all) * page_cells,
            None => all * page_cells,
        }
    }

    /// The rule a scenario's `[[observer]]` radius keeps, for observers
    /// spawned from code.
    pub(crate) fn check_observer_radius(radius: f64) -> Result<(), String> {
        rules::observer_radius(radius).map_err(|m| format!("observer {m}"))
    }

    fn validate_streaming(&self) -> Result<(), String> {
        for o in &self.observers {
            if o.path.is_empty()
                || o.path.iter().flatten().any(|v| !v.is_finite())
                || o.path.windows(2).any(|w| w[0][3] >= w[1][3])
            {
                return Err(
                    "an observer's path needs keyframes [x, y, z, frame], frames increasing".into(),
                );
            }
            rules::observer_radius(o.radius).map_err(|m| format!("observer {m}"))?;
        }
        let Some(storage) = &self.world.storage else {
            return if self.observers.is_empty() {
                Ok(())
            } else {
                Err("observers need a streamed world: set [world] file".into())
            };
        };
        rules::at_least_one("load_per_frame", storage.load_per_frame as u64)?;
        rules::lookahead(storage.lookahead)?;
        if let SavePolicy::EveryNFrames(n) = storage.save {
            rules::at_least_one("save_every", n)?;
        }
        let pages: u64 = self
            .world
            .size
            .iter()
            .map(|&s| u64::from(s / self.world.page))
            .product();
        if let Some(r) = storage.resident_pages {
            rules::at_least_one("resident_pages", r as u64)?;
        }
        match storage.resident_pages {
            Some(r)
                if (r as u64) < pages
                    && self.observers.is_empty()
                    && !storage.observers_from_code =>
            {
                Err(format!(
                    "resident_pages {r} is fewer than the world's {pages} pages, and no \
                     [[observer]] says which to keep (or set observers_from_code = true)"
                ))
            }
            _ => Ok(()),
        }
    }

    /// A frame budget's LOD needs observers to measure distance from, and
    /// the CPU automaton to schedule.
    fn validate_lod(&self) -> Result<(), String> {
        let Some(budget) = self.run.frame_budget_ms else {
            return Ok(());
        };
        rules::frame_budget_ms(budget)?;
        rules::lod_near(self.run.lod_near)?;
        let observed = self
            .world
            .storage
            .as_ref()
            .is_some_and(|s| s.observers_from_code || !self.observers.is_empty());
        rules::lod_fits(observed, self.run.gpu_automaton)
    }

    /// Checks the rules every scenario must keep, for one built in code
    /// (a file's are checked as it is read, with line and column); the
    /// error says what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        let size = self.world.size;
        self.layout().map_err(|e| e.to_string())?;
        let cells = self.resident_cells();
        if cells > limits::MAX_RESIDENT_CELLS {
            return Err(format!(
                "{cells} resident cells are too many (at most 2^31): set a smaller \
                 [world] resident_pages, with a [world] file to stream from"
            ));
        }
        self.validate_streaming()?;
        rules::ambient_pressure(self.world.pressure)?;
        rules::voxel_size(self.world.voxel_size)?;
        rules::phase_stagger(self.systems.phase_stagger)?;
        rules::dt(self.run.dt)?;
        rules::substeps(self.run.substeps)?;
        rules::threads(self.run.threads)?;
        self.validate_lod()?;
        if let Some(n) = self.run.place_cells_per_frame {
            rules::place_cells_per_frame(n)?;
        }
        for f in &self.fills {
            check_fill(f, size, &self.materials)?;
        }
        for e in &self.emitters {
            check_emitter(e, size, &self.materials)?;
        }
        for c in &self.commands {
            c.command
                .check(size, self.world.pressure, &self.materials)?;
        }
        for c in &self.checks {
            if let Check::Count { material: m, .. } = c {
                check_material(*m, &self.materials)?;
            }
        }
        Ok(())
    }

    /// Whether the run should conserve every material's count: no reactions,
    /// no emitters, no commands.
    pub fn conserves_materials(&self) -> bool {
        !self.systems.reactions && self.emitters.is_empty() && self.commands.is_empty()
    }
}

/// A material id must name a material of `materials`.
fn check_material(m: u8, materials: &MaterialTable) -> Result<(), String> {
    ((m as usize) < materials.len())
        .then_some(())
        .ok_or(format!("material id {m} is not in the table"))
}

fn check_temperature(t: Option<f32>) -> Result<(), String> {
    t.map_or(Ok(()), |t| rules::temperature(f64::from(t)))
}

fn check_fill(f: &Fill, size: [u32; 3], materials: &MaterialTable) -> Result<(), String> {
    check_material(f.material, materials)?;
    check_temperature(f.temperature)?;
    if let Shape::NoiseTerrain {
        surface: Some((m, _)),
        ..
    } = f.shape
    {
        check_material(m, materials)?;
    }
    f.shape.check(size)
}

fn check_emitter(e: &Emitter, size: [u32; 3], materials: &MaterialTable) -> Result<(), String> {
    check_material(e.material, materials)?;
    check_temperature(e.temperature)?;
    rules::frames(e.frames)?;
    Shape::Sphere {
        center: e.center,
        radius: e.radius,
    }
    .check(size)
}

/// A box given as corners.
fn check_box(min: [u32; 3], max: [u32; 3], size: [u32; 3]) -> Result<(), String> {
    Shape::Box {
        min: min.map(i64::from),
        max: max.map(i64::from),
    }
    .check(size)
}

impl Command {
    /// The command with its frame ranges (a wind's, a heat bath's, a
    /// pressure hold's, an emitter's) moved `by` frames later: a sent
    /// command's ranges count from the frame it applies in.
    pub(crate) fn delayed(mut self, by: u64) -> Self {
        let frames = match &mut self {
            Command::SpawnEmitter(e) => &mut e.frames,
            Command::Heat(h) => &mut h.frames,
            Command::Wind(w) => &mut w.frames,
            Command::Pressure(p) => &mut p.frames,
            Command::Place(_) | Command::Explode(_) | Command::SpawnBody(_) => return self,
        };
        *frames = frames.map(|f| f.saturating_add(by));
        self
    }

    /// Checks the command against a world of `size` cells at ambient
    /// pressure `pressure` (Pa) holding `materials`, with the rules a
    /// scenario file's `[[command]]`s are checked with: materials in the table, finite
    /// temperatures and strengths in range, shapes inside the world.
    /// [`CommandSender::send`](crate::CommandSender::send) checks every
    /// command with it.
    pub fn check(
        &self,
        size: [u32; 3],
        pressure: f64,
        materials: &MaterialTable,
    ) -> Result<(), String> {
        match self {
            Command::Place(f) => check_fill(f, size, materials),
            Command::SpawnEmitter(e) => check_emitter(e, size, materials),
            Command::Explode(e) => {
                rules::blast_strength(e.strength)?;
                rules::blast_heat(e.heat)?;
                Shape::Sphere {
                    center: e.center,
                    radius: e.radius,
                }
                .check(size)
            }
            Command::Wind(w) => {
                // The file's direction is normalised as it is read; one
                // given in code must be a unit vector already.
                rules::wind_direction(w.direction)?;
                let norm = w.direction.iter().map(|v| v * v).sum::<f64>().sqrt();
                if (norm - 1.0).abs() >= 1e-6 {
                    return Err(format!(
                        "wind direction {:?} must be a unit vector",
                        w.direction
                    ));
                }
                rules::wind_speed(w.strength)?;
                rules::gust(w.gust)?;
                rules::frames(w.frames)?;
                check_box(w.min, w.max, size)
            }
            Command::Pressure(p) => {
                rules::overpressure(p.pressure, pressure)?;
                rules::frames(p.frames)?;
                check_box(p.min, p.max, size)
            }
            Command::Heat(h) => {
                check_temperature(Some(h.temperature))?;
                rules::frames(h.frames)?;
                check_box(h.min, h.max, size)
            }
            Command::SpawnBody(b) => check_soft_body(b, size),
        }
    }
}

/// A soft body built in code, by the rules a `[[softbody]]` is read with.
fn check_soft_body(b: &loam_systems::xpbd::SoftBox, size: [u32; 3]) -> Result<(), String> {
    let known = loam_systems::xpbd::SoftMaterial::named(b.material.name);
    if known != Some(b.material) {
        let names: Vec<&str> = loam_systems::xpbd::materials()
            .iter()
            .map(|m| m.name)
            .collect();
        return Err(format!(
            "soft material `{}` is not one of the built-in materials ({}) as they are",
            b.material.name,
            names.join(", ")
        ));
    }
    if b.name.trim().is_empty() {
        return Err("a soft body needs a name".into());
    }
    if !(b.voxel.is_finite() && b.voxel > 0.0 && b.voxel <= 64.0) {
        return Err("voxel must be in (0, 64] cells".into());
    }
    let voxels: u64 = b.voxels.iter().map(|&v| u64::from(v)).product();
    if voxels == 0 || voxels > 1 << 20 {
        return Err(format!(
            "a soft body has 1 to 2^20 voxels, not {:?}",
            b.voxels
        ));
    }
    if b.velocity.iter().any(|v| !v.is_finite() || v.abs() > 1.0e4) {
        return Err("velocity must be finite, at most 10000 cells/s per axis".into());
    }
    let inside = (0..3).all(|a| {
        let (lo, hi) = (b.origin[a], b.origin[a] + b.voxels[a] as f32 * b.voxel);
        lo.is_finite() && lo >= 0.0 && hi.is_finite() && hi <= size[a] as f32
    });
    if !inside {
        return Err(format!(
            "a soft body from {:?} of {:?} voxels of {} cells must lie inside the world {size:?}",
            b.origin, b.voxels, b.voxel
        ));
    }
    Ok(())
}
