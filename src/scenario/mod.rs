//! Scenario files (format v1, TOML): a world, a run, initial fills,
//! workload (emitters, scheduled commands) and end-of-run checks.
//!
//! [`Scenario::load`] reads and checks a file; every mistake is a
//! [`ScenarioError`] with the file, line and column of the offending value.
//! A [`Scenario`] can also be built in code and handed to
//! [`Runtime::new`](crate::Runtime::new). The README documents every key.

mod raw;
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

use std::path::{Path, PathBuf};

pub use shape::Shape;

use crate::command::Command;

/// A checked scenario, ready to run.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// Name for reports (the file stem when loaded from a file).
    pub name: String,
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
}

/// Which compute backend runs the systems.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The CPU kernels.
    Cpu,
    /// The GPU kernels (not in this build yet).
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
}

impl Default for SystemsSpec {
    fn default() -> Self {
        Self {
            ca: true,
            reactions: true,
            heat: true,
        }
    }
}

/// Material put into a shape.
#[derive(Clone, Debug, PartialEq)]
pub struct Fill {
    /// Where.
    pub shape: Shape,
    /// What.
    pub material: u8,
    /// At which temperature (K); the material's own default when `None`.
    pub temperature: Option<f32>,
}

/// A sphere that fills its empty cells with a material every frame of a range.
#[derive(Clone, Debug, PartialEq)]
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
    },
    /// No page is active any more.
    Settled,
    /// Every temperature is finite.
    Finite,
}

/// A mistake in a scenario file, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}:{column}: {message}", path.display())]
pub struct ScenarioError {
    /// The file.
    pub path: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

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
}

impl Scenario {
    /// Reads and checks a scenario file.
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
            path: path.to_path_buf(),
            line: 0,
            column: 0,
            message: format!("cannot read the file: {e}"),
        })?;
        Self::parse(&text, path)
    }

    /// Checks scenario `text`; `path` is used in messages and for the name.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ScenarioError> {
        raw::parse(text, path)
    }

    /// A scenario with an empty world of `size` and nothing else, to build on in code.
    pub fn empty(name: &str, size: [u32; 3]) -> Self {
        Self {
            name: name.to_string(),
            world: WorldSpec {
                size,
                page: 32,
                seed: 0,
            },
            run: RunSpec::default(),
            systems: SystemsSpec::default(),
            fills: Vec::new(),
            emitters: Vec::new(),
            commands: Vec::new(),
            checks: Vec::new(),
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
    }

    /// Checks a scenario built in code the way [`Scenario::parse`] checks a
    /// file (without positions): geometry, run settings, materials,
    /// temperatures and shapes. [`crate::Runtime::new`] calls it.
    pub fn validate(&self) -> Result<(), String> {
        let size = self.world.size;
        loam_storage::WorldLayout::new(size, self.world.page).map_err(|e| e.to_string())?;
        let cells: u64 = size.iter().map(|&s| u64::from(s)).product();
        if cells > limits::MAX_RESIDENT_CELLS {
            return Err(format!(
                "a world of {cells} cells is too large (at most 2^31)"
            ));
        }
        let run = &self.run;
        if !(run.dt.is_finite() && run.dt > 0.0 && run.dt <= 1.0) {
            return Err(format!("dt {} must be in (0, 1] seconds", run.dt));
        }
        if !(1..=64).contains(&run.substeps) || run.threads > 1024 {
            return Err("substeps must be 1..=64 and threads 0..=1024".into());
        }
        let materials = loam_systems::MaterialTable::default().len();
        let material = |m: u8| -> Result<(), String> {
            ((m as usize) < materials)
                .then_some(())
                .ok_or(format!("material id {m} is not in the table"))
        };
        let temperature = |t: Option<f32>| -> Result<(), String> {
            match t {
                Some(t) if !(0.0..=limits::MAX_TEMPERATURE as f32).contains(&t) => Err(format!(
                    "temperature {t} K is outside [0, {}]",
                    limits::MAX_TEMPERATURE
                )),
                _ => Ok(()),
            }
        };
        let fill = |f: &Fill| -> Result<(), String> {
            material(f.material)?;
            temperature(f.temperature)?;
            if let Shape::NoiseTerrain {
                surface: Some((m, _)),
                ..
            } = f.shape
            {
                material(m)?;
            }
            f.shape.check(size)
        };
        let emitter = |e: &Emitter| -> Result<(), String> {
            material(e.material)?;
            temperature(e.temperature)?;
            if e.frames[0] > e.frames[1] {
                return Err(format!("emitter frames {:?} need start <= end", e.frames));
            }
            Shape::Sphere {
                center: e.center,
                radius: e.radius,
            }
            .check(size)
        };
        self.fills.iter().try_for_each(fill)?;
        self.emitters.iter().try_for_each(emitter)?;
        for c in &self.commands {
            match &c.command {
                Command::Place(f) => fill(f)?,
                Command::SpawnEmitter(e) => emitter(e)?,
            }
        }
        for c in &self.checks {
            if let Check::Count { material: m, .. } = c {
                material(*m)?;
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
