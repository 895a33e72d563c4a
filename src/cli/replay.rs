//! Recording files: what `loam run --record` and `loam stress` write and
//! `loam replay` reads.
//!
//! A recording is JSON: the scenario file's path and its text as it was
//! run, the settings the command line changed (seed, frames, backend; a
//! stress run's resident budget and saves), the commands as they applied
//! ([`crate::recording`]), and the world hash the run ended with. The
//! scenario's text is kept so that editing the file afterwards does not
//! change what replays; a `materials = "FILE"` it names is read again,
//! relative to the scenario's path.

use std::path::{Path, PathBuf};

use crate::cli::stress::{stressed_scenario, StressConfig};
use crate::recording::RecordedCommand;
use crate::runtime::{LoamError, Runtime};
use crate::scenario::{Backend, Scenario};
use loam_systems::lod::LodChoice;

/// What a recording file holds.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordingFile {
    /// Always `"loam-recording"`.
    pub format: String,
    /// The format's version: 1.
    pub version: u32,
    /// The scenario file the run read.
    pub scenario_path: PathBuf,
    /// Its text as it was run.
    pub scenario: String,
    /// The world seed the run used.
    pub seed: u64,
    /// Frames the run stepped.
    pub frames: u64,
    /// The backend asked for: `cpu`, `gpu` or `auto`.
    pub backend: String,
    /// Whether the automaton ran on the GPU.
    pub gpu_automaton: bool,
    /// A stress run's changes to a streamed world: resident pages and
    /// frames between saves.
    pub stress: Option<[u64; 2]>,
    /// A stress run's observer jumps: frames between jumps and the stress
    /// seed they are drawn from (absent: the observers followed their
    /// paths, as in recordings made before stress runs made them jump).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observer_jumps: Option<[u64; 2]>,
    /// The world hash the run ended with.
    pub world_hash: String,
    /// The commands as they applied.
    pub commands: Vec<RecordedCommand>,
    /// What an adaptive LOD (`[run] lod = "adaptive"`) chose from measured
    /// frame times, applied again instead of measuring (absent: none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lod_choices: Vec<LodChoice>,
}

/// What a recording file's `format` says.
const FORMAT: &str = "loam-recording";

impl RecordingFile {
    /// The recording of `runtime`, which ran the scenario at `scenario_path`
    /// (text `text`) and recorded its commands from frame 0; `stress` when
    /// a stress run changed its world ([`stressed_scenario`]).
    pub fn of_run(
        scenario_path: &Path,
        text: String,
        runtime: &Runtime,
        stress: Option<&StressConfig>,
    ) -> Self {
        let scenario = runtime.scenario();
        Self::new(
            scenario_path,
            text,
            scenario,
            runtime.frame(),
            runtime.world_hash(),
            runtime.recorded_commands(),
            stress,
        )
        .with_lod_choices(runtime.lod_choices())
    }

    /// The recording, with what an adaptive LOD chose.
    pub fn with_lod_choices(self, lod_choices: Vec<LodChoice>) -> Self {
        Self {
            lod_choices,
            ..self
        }
    }

    /// A recording of a run of `scenario` (read from `scenario_path`, text
    /// `text`) that stepped `frames` frames to `world_hash` with `commands`.
    pub fn new(
        scenario_path: &Path,
        text: String,
        scenario: &Scenario,
        frames: u64,
        world_hash: String,
        commands: Vec<RecordedCommand>,
        stress: Option<&StressConfig>,
    ) -> Self {
        Self {
            format: FORMAT.into(),
            version: 1,
            scenario_path: std::path::absolute(scenario_path)
                .unwrap_or_else(|_| scenario_path.to_path_buf()),
            scenario: text,
            seed: scenario.world.seed,
            frames,
            backend: match scenario.run.backend {
                Backend::Cpu => "cpu",
                Backend::Gpu => "gpu",
                Backend::Auto => "auto",
            }
            .into(),
            gpu_automaton: scenario.run.gpu_automaton,
            stress: stress.map(|c| [c.resident_pages as u64, c.save_every]),
            observer_jumps: stress
                .filter(|c| c.observer_jump_every > 0)
                .map(|c| [c.observer_jump_every, c.seed]),
            world_hash,
            commands,
            lod_choices: Vec::new(),
        }
    }

    /// Writes the recording as JSON.
    pub fn write_to(&self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        serde_json::to_writer_pretty(&mut *out, self).map_err(std::io::Error::other)?;
        writeln!(out)
    }

    /// Reads a recording, naming the file and where it is wrong.
    pub fn read(path: &Path) -> Result<Self, LoamError> {
        let wrong = |what: String| LoamError::Invalid(format!("{}: {what}", path.display()));
        let text = std::fs::read_to_string(path)
            .map_err(|e| wrong(format!("cannot read the recording: {e}")))?;
        let file: Self = serde_json::from_str(&text).map_err(|e| {
            wrong(format!(
                "not a Loam recording: {e} (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        if file.format != FORMAT || file.version != 1 {
            return Err(wrong(format!(
                "a recording of format `{}` version {}; this build reads `{FORMAT}` version 1",
                file.format, file.version
            )));
        }
        Ok(file)
    }

    /// The scenario to replay into, as the recorded run ran it; a streamed
    /// world streams from a fresh file at `file` (which must not exist),
    /// from its fills, as the recorded run did.
    pub fn scenario(&self, file: PathBuf) -> Result<Scenario, LoamError> {
        let mut scenario = Scenario::parse(&self.scenario, &self.scenario_path)?;
        scenario.world.seed = self.seed;
        scenario.run.frames = self.frames;
        scenario.run.backend = Backend::parse(&self.backend).ok_or_else(|| {
            LoamError::Invalid(format!(
                "the recording's backend `{}` is not cpu, gpu or auto",
                self.backend
            ))
        })?;
        scenario.run.gpu_automaton = self.gpu_automaton;
        Ok(match self.stress {
            Some([resident_pages, save_every]) => {
                let [observer_jump_every, seed] = self.observer_jumps.unwrap_or([0, 0]);
                let config = StressConfig {
                    frames: self.frames,
                    resident_pages: usize::try_from(resident_pages).unwrap_or(usize::MAX),
                    save_every,
                    observer_jump_every,
                    seed,
                    ..StressConfig::default()
                };
                stressed_scenario(&scenario, &config, file)
            }
            None => {
                if let Some(storage) = scenario.world.storage.as_mut() {
                    storage.file = file;
                    storage.resume = false;
                }
                scenario
            }
        })
    }
}
