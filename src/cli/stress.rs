//! Stress testing: a run under fire from other threads.
//!
//! While one thread steps the scenario, [`StressConfig::senders`] threads
//! send it random valid commands through
//! [`CommandSender`](crate::CommandSender)s, at random moments: places,
//! blasts, winds, heat baths, pressure holds, emitters and soft bodies,
//! some for a later frame (`send_at`), some cancelled again. A streamed
//! world runs on a fresh file of its own with a tiny resident budget and a
//! save every few frames, its observers jumping across the world (see
//! [`StressConfig::observer_jump_every`]); its file can be made to fail
//! reads and writes ([`StressConfig::faults`]), and each failure restarts
//! the run from the file, which must verify and must not have gone back.
//! Every [`StressConfig::check_every`] frames the world must hold no
//! non-finite temperature and every soft body's particles must be finite;
//! at the end a streamed world's file must verify.
//!
//! The run records every command as it applied ([`crate::recording`]): the
//! order the senders' commands arrived in is the one thing a scenario and
//! seed do not fix, and with the recording
//! [`Runtime::replay_commands`](crate::Runtime::replay_commands)
//! reproduces the run, its world hash too (not a run a fault restarted:
//! where a fault lands depends on the disk's timing).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use loam_runtime::random::{hash3, unit3};
use loam_storage::file::{Faults, WorldFile};
use loam_systems::xpbd::{SoftBodies, SoftBox};

use crate::command::{CommandHandle, CommandSender, SendError};
use crate::recording::RecordedCommand;
use crate::runtime::{LoamError, Runtime};
use crate::scenario::{
    Command, Emitter, ExplosionSpec, Fill, HeatBathSpec, PressureSpec, SavePolicy, Scenario, Shape,
    WindSpec,
};
use loam_systems::lod::LodChoice;

/// How to stress.
#[derive(Clone, Debug)]
pub struct StressConfig {
    /// Frames to run.
    pub frames: u64,
    /// Stop after this long, even before `frames`.
    pub duration: Option<Duration>,
    /// Threads sending commands.
    pub senders: usize,
    /// Seeds the senders' choices (not the world's: that is the scenario's).
    pub seed: u64,
    /// Each sender sends up to this many commands a frame, at random
    /// moments while the frame runs.
    pub per_frame: u32,
    /// Each sender waits up to this long between two sends.
    pub interval: Duration,
    /// Check the world's invariants every this many frames.
    pub check_every: u64,
    /// A streamed world holds at most this many pages.
    pub resident_pages: usize,
    /// A streamed world saves every this many frames.
    pub save_every: u64,
    /// A streamed world's observers jump to a random place every this many
    /// frames instead of following their paths (0: they follow them).
    pub observer_jump_every: u64,
    /// The chance that each read and each write of a streamed world's file
    /// fails on purpose (0: none do).
    pub faults: f64,
    /// Go on from the commit the file holds (a killed run's; see
    /// [`crate::cli::kills`]) instead of starting on a fresh file.
    pub resume: bool,
}

impl Default for StressConfig {
    fn default() -> Self {
        Self {
            frames: 300,
            duration: None,
            senders: 3,
            seed: 1,
            per_frame: 3,
            interval: Duration::from_millis(2),
            check_every: 10,
            resident_pages: 16,
            save_every: 5,
            observer_jump_every: 30,
            faults: 0.0,
            resume: false,
        }
    }
}

/// What a stress run did and found.
#[derive(Clone, Debug, serde::Serialize)]
pub struct StressOutcome {
    /// The frame the world reached (fewer than `steps` when faults sent
    /// the run back to its file's last commit).
    pub frames: u64,
    /// Frames stepped.
    pub steps: u64,
    /// Seconds the frames took, in all.
    pub seconds: f64,
    /// Commands the senders sent (all accepted).
    pub sent: u64,
    /// Of them, sent for a later frame.
    pub sent_ahead: u64,
    /// Cancels sent.
    pub cancels: u64,
    /// Commands the runtime refused: a sender's bug, so a violation.
    pub refused: u64,
    /// The commands as they applied, to replay the run.
    #[serde(skip)]
    pub recording: Vec<RecordedCommand>,
    /// What an adaptive LOD chose, to replay the run.
    #[serde(skip)]
    pub lod_choices: Vec<LodChoice>,
    /// Events recorded (commands applied and cancels).
    pub recorded: usize,
    /// The world hash at the end.
    pub world_hash: String,
    /// The scenario as stressed (its budget, saves and file as changed
    /// here): the one to replay the recording into.
    #[serde(skip)]
    pub scenario: Scenario,
    /// A streamed world's file at the end: its size and the bytes its last
    /// commit uses.
    pub file_bytes: Option<[u64; 2]>,
    /// Faults injected into the file's reads and writes.
    pub faults_injected: u64,
    /// Times a fault stopped the run and it went on from its file.
    pub restarts: u64,
    /// The first invariant that failed, if any.
    pub violation: Option<String>,
}

impl StressOutcome {
    /// Whether the recording reproduces the run: not once a fault
    /// restarted it, since where a fault lands depends on timing.
    pub fn replayable(&self) -> bool {
        self.restarts == 0 && self.faults_injected == 0
    }
}

/// `scenario` as a stress run runs it: a streamed world on a fresh file at
/// `file`, with `config`'s budget and saves, its observers jumping.
pub fn stressed_scenario(scenario: &Scenario, config: &StressConfig, file: PathBuf) -> Scenario {
    let mut s = scenario.clone();
    s.run.frames = config.frames;
    if let Some(storage) = s.world.storage.as_mut() {
        storage.file = file;
        storage.resume = config.resume;
        storage.resident_pages = Some(config.resident_pages.max(1));
        storage.save = SavePolicy::EveryNFrames(config.save_every.max(1));
    }
    let size = s.world.size;
    for (k, observer) in s.observers.iter_mut().enumerate() {
        if config.observer_jump_every > 0 {
            observer.path = jumping_path(size, config, k as u64);
        }
    }
    s
}

/// At most this many jumps are planned; an observer rests after the last.
const MAX_JUMPS: u64 = 4096;

/// Keyframes that hold an observer still for `observer_jump_every` frames
/// at a time, at places drawn from the stress seed, and move it to the next
/// place in one frame: a game's teleport, where every page the observer
/// wants is new at once.
fn jumping_path(size: [u32; 3], config: &StressConfig, observer: u64) -> Vec<[f64; 4]> {
    let every = config.observer_jump_every.max(2);
    let jumps = (config.frames / every).clamp(1, MAX_JUMPS);
    let seed = hash3(config.seed, observer, 0x0b5e_5e4e);
    let mut path = Vec::with_capacity(2 * jumps as usize + 2);
    for j in 0..=jumps {
        let place: [f64; 3] =
            std::array::from_fn(|a| f64::from(unit3(seed, j, a as u64)) * f64::from(size[a]));
        let first = (j * every) as f64;
        path.push([place[0], place[1], place[2], first]);
        path.push([place[0], place[1], place[2], first + (every - 1) as f64]);
    }
    path
}

/// Runs `scenario` under fire; stops at the first violation. `file` is
/// where a streamed world's file goes (it must not exist).
pub fn stress(
    scenario: &Scenario,
    config: &StressConfig,
    file: PathBuf,
    mut progress: impl FnMut(u64),
) -> Result<StressOutcome, LoamError> {
    let scenario = stressed_scenario(scenario, config, file.clone());
    let mut rt = Runtime::new(scenario.clone())?;
    rt.record_commands();
    let faulty = config.faults > 0.0 && scenario.world.storage.is_some();
    let mut restarts = Restarts::default();
    if faulty {
        restarts.inject(&mut rt, config)?;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let frame = Arc::new(AtomicU64::new(0));
    // The senders' way in: a fault's restart replaces it with the new
    // runtime's.
    let commands = Arc::new(Mutex::new(rt.command_sender()));
    let senders: Vec<_> = (0..config.senders)
        .map(|k| {
            let sender = Sender {
                commands: commands.clone(),
                materials: scenario.materials.len() as u8,
                size: scenario.world.size,
                seed: hash3(config.seed, k as u64, 0x5eed),
                per_frame: config.per_frame,
                interval: config.interval,
                stop: stop.clone(),
                frame: frame.clone(),
            };
            std::thread::spawn(move || sender.run())
        })
        .collect();
    let mut violation = None;
    let mut steps = 0;
    let start = std::time::Instant::now();
    for f in 0..config.frames {
        if config.duration.is_some_and(|d| start.elapsed() >= d) {
            break;
        }
        if let Err(e) = rt.step() {
            if !faulty || restarts.injected(&rt) == 0 {
                violation = Some(format!("frame {}: {e}", rt.frame()));
                break;
            }
            // A fault stopped the frame: go on from the file, as a game
            // would after an I/O error.
            match restarts.restart(rt, &scenario, config, &file) {
                Ok(again) => rt = again,
                Err(v) => {
                    violation = Some(format!("after the fault \"{e}\": {v}"));
                    // Nothing to finish: the file was checked.
                    return Ok(restarts.outcome(&stop, senders, start, scenario, violation));
                }
            }
            *commands.lock().unwrap_or_else(|e| e.into_inner()) = rt.command_sender();
        }
        frame.store(rt.frame(), Ordering::Relaxed);
        steps = f + 1;
        progress(steps);
        if steps % config.check_every.max(1) == 0 {
            if let Some(v) = invariants(&rt) {
                violation = Some(format!("frame {}: {v}", rt.frame()));
                break;
            }
        }
    }
    if violation.is_none() {
        violation = invariants(&rt).map(|v| format!("frame {}: {v}", rt.frame()));
    }
    let mut file_bytes = None;
    if scenario.world.storage.is_some() && violation.is_none() {
        // The last save must land: no faults for it.
        rt.inject_io_faults(None)?;
        if let Err(e) = rt.finish() {
            if !faulty {
                return Err(e);
            }
            // A fault met by a save still in flight: go on from the file
            // once more and save from there.
            match restarts.restart(rt, &scenario, config, &file) {
                Ok(again) => rt = again,
                Err(v) => {
                    violation = Some(format!("after the fault \"{e}\": {v}"));
                    return Ok(restarts.outcome(&stop, senders, start, scenario, violation));
                }
            }
            rt.inject_io_faults(None)?;
            rt.finish()?;
        }
    }
    let frames = rt.frame();
    let world_hash = rt.world_hash();
    let recording = rt.recorded_commands();
    let lod_choices = rt.lod_choices();
    let faults_injected = restarts.total_injected(&rt);
    if scenario.world.storage.is_some() {
        drop(rt);
        let problems = WorldFile::open_read_only(&file)?.verify();
        if let (None, Some(problem)) = (&violation, problems.first()) {
            violation = Some(format!(
                "after the run, {} fails to verify ({} problems): {problem}",
                file.display(),
                problems.len()
            ));
        }
        // Reported, not watched: a stress run's run state grows with the
        // fields its commands leave, and holes of smaller ones are left
        // behind; `loam soak` watches the growth of a settled run.
        file_bytes = Some(crate::cli::soak::file_sizes(&file)?);
    }
    let mut outcome = restarts.outcome(&stop, senders, start, scenario, violation);
    outcome.frames = frames;
    outcome.steps = steps;
    outcome.world_hash = world_hash;
    outcome.recorded = recording.len();
    outcome.recording = recording;
    outcome.lod_choices = lod_choices;
    outcome.faults_injected = faults_injected;
    outcome.file_bytes = file_bytes;
    Ok(outcome)
}

/// The faults a stress run injects and the restarts they cause.
#[derive(Default)]
struct Restarts {
    /// Restarts so far.
    count: u64,
    /// Faults injected by runtimes already dropped.
    injected_before: u64,
    /// The file's commit sequence and the frame it resumed at, the last
    /// time the file was checked: neither may go back.
    committed: (u64, u64),
}

impl Restarts {
    /// Makes `rt`'s file fail as `config` says, differently each restart.
    fn inject(&self, rt: &mut Runtime, config: &StressConfig) -> Result<(), LoamError> {
        rt.inject_io_faults(Some(Faults {
            seed: hash3(config.seed, self.count, 0xfa17),
            reads: config.faults,
            writes: config.faults,
        }))
    }

    /// Faults `rt`'s file has injected.
    fn injected(&self, rt: &Runtime) -> u64 {
        rt.stream().map_or(0, |s| s.streamer.faults_injected())
    }

    fn total_injected(&self, rt: &Runtime) -> u64 {
        self.injected_before + self.injected(rt)
    }

    /// Drops `rt` after a fault, checks its file verifies and has not gone
    /// back to an older commit, and resumes a new runtime from it; or what
    /// is wrong.
    fn restart(
        &mut self,
        rt: Runtime,
        scenario: &Scenario,
        config: &StressConfig,
        file: &std::path::Path,
    ) -> Result<Runtime, String> {
        self.injected_before += self.injected(&rt);
        self.count += 1;
        drop(rt);
        let name = file.display();
        let opened =
            WorldFile::open_read_only(file).map_err(|e| format!("{name} does not open: {e}"))?;
        if let Some(problem) = opened.verify().first() {
            return Err(format!("{name} fails to verify: {problem}"));
        }
        let sequence = opened.header().sequence;
        drop(opened);
        let mut s = scenario.clone();
        if let Some(storage) = s.world.storage.as_mut() {
            storage.resume = true;
        }
        let mut rt = Runtime::new(s).map_err(|e| format!("{name} does not resume: {e}"))?;
        let now = (sequence, rt.frame());
        if now.0 < self.committed.0 || now.1 < self.committed.1 {
            return Err(format!(
                "{name} went back from commit {} (frame {}) to commit {} (frame {})",
                self.committed.0, self.committed.1, now.0, now.1
            ));
        }
        self.committed = now;
        rt.record_commands();
        self.inject(&mut rt, config).map_err(|e| e.to_string())?;
        Ok(rt)
    }

    /// Stops the senders and gathers what the run did; the caller fills in
    /// what the runtime ended with.
    fn outcome(
        &self,
        stop: &AtomicBool,
        senders: Vec<std::thread::JoinHandle<SenderCounts>>,
        start: std::time::Instant,
        scenario: Scenario,
        mut violation: Option<String>,
    ) -> StressOutcome {
        stop.store(true, Ordering::Relaxed);
        let mut sent = SenderCounts::default();
        for handle in senders {
            match handle.join() {
                Ok(counts) => sent.add(&counts),
                Err(_) => {
                    violation.get_or_insert_with(|| "a stress sender thread panicked".into());
                }
            }
        }
        if violation.is_none() && sent.refused > 0 {
            violation = Some(format!(
                "{} of the senders' commands were refused; the first: {}",
                sent.refused,
                sent.first_refusal.as_deref().unwrap_or("?")
            ));
        }
        StressOutcome {
            frames: self.committed.1,
            steps: 0,
            seconds: start.elapsed().as_secs_f64(),
            sent: sent.sent,
            sent_ahead: sent.ahead,
            cancels: sent.cancels,
            refused: sent.refused,
            recording: Vec::new(),
            lod_choices: Vec::new(),
            recorded: 0,
            world_hash: String::new(),
            scenario,
            file_bytes: None,
            faults_injected: self.injected_before,
            restarts: self.count,
            violation,
        }
    }
}

/// What must hold of a world under stress, or what broke.
fn invariants(rt: &Runtime) -> Option<String> {
    if let Some(p) = rt.world().first_non_finite_temperature() {
        return Some(format!("non-finite temperature at cell {p:?}"));
    }
    let bodies = rt.engine().resource::<SoftBodies>()?;
    let bad = bodies
        .x
        .iter()
        .position(|p| !p.iter().all(|v| v.is_finite()));
    bad.map(|k| format!("soft-body particle {k} has a non-finite position"))
}

/// What one sender thread did.
#[derive(Default)]
struct SenderCounts {
    sent: u64,
    ahead: u64,
    cancels: u64,
    refused: u64,
    first_refusal: Option<String>,
}

impl SenderCounts {
    fn add(&mut self, o: &SenderCounts) {
        self.sent += o.sent;
        self.ahead += o.ahead;
        self.cancels += o.cancels;
        self.refused += o.refused;
        if self.first_refusal.is_none() {
            self.first_refusal.clone_from(&o.first_refusal);
        }
    }
}

/// A thread sending random commands until told to stop.
struct Sender {
    /// The runtime's sender (replaced when a fault restarts the run).
    commands: Arc<Mutex<CommandSender>>,
    /// Materials the table has (ids below it are valid).
    materials: u8,
    size: [u32; 3],
    seed: u64,
    per_frame: u32,
    interval: Duration,
    stop: Arc<AtomicBool>,
    /// The frames the runtime has stepped.
    frame: Arc<AtomicU64>,
}

impl Sender {
    fn run(self) -> SenderCounts {
        let mut counts = SenderCounts::default();
        let mut handles: Vec<CommandHandle> = Vec::new();
        let mut k = 0u64;
        while !self.stop.load(Ordering::Relaxed) {
            let frame = self.frame.load(Ordering::Relaxed);
            let burst = (unit3(self.seed, frame, 1 << 40) * (self.per_frame + 1) as f32) as u32;
            for _ in 0..burst {
                k += 1;
                let pick = |stream: u64| unit3(self.seed, k, stream);
                std::thread::sleep(self.interval.mul_f32(pick(0)));
                self.send_one(k, &mut handles, &mut counts);
            }
            // The next burst goes to the next frame.
            while self.frame.load(Ordering::Relaxed) == frame && !self.stop.load(Ordering::Relaxed)
            {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        counts
    }

    /// Sends the `k`th command (or a cancel).
    fn send_one(&self, k: u64, handles: &mut Vec<CommandHandle>, counts: &mut SenderCounts) {
        let pick = |stream: u64| unit3(self.seed, k, stream);
        let commands = self
            .commands
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if pick(1) < 0.1 && !handles.is_empty() {
            let h = handles[(pick(2) * handles.len() as f32) as usize % handles.len()];
            if commands.cancel(h).is_ok() {
                counts.cancels += 1;
            }
            return;
        }
        let command = self.command(k);
        let result = if pick(3) < 0.2 {
            let ahead = 1 + (pick(4) * 8.0) as u64;
            let at = self.frame.load(Ordering::Relaxed) + ahead;
            commands.send_at(at, command).inspect(|_| counts.ahead += 1)
        } else {
            commands.send(command)
        };
        match result {
            Ok(h) => {
                counts.sent += 1;
                handles.push(h);
            }
            // The frame began while this was on its way, or a fault's
            // restart dropped the runtime: not an error.
            Err(SendError::Late { .. } | SendError::Disconnected) => {}
            Err(e @ SendError::Invalid { .. }) => {
                counts.refused += 1;
                counts.first_refusal.get_or_insert_with(|| e.to_string());
            }
        }
    }

    /// A random valid command (the `k`th of this sender).
    fn command(&self, k: u64) -> Command {
        let u = |stream: u64| f64::from(unit3(self.seed, k, 16 + stream));
        let size = self.size.map(f64::from);
        // A point at least `margin` cells inside the world on every axis
        // (or the middle of an axis shorter than twice that).
        let point = |margin: f64, stream: u64| -> [f64; 3] {
            std::array::from_fn(|a| {
                let span = (size[a] - 2.0 * margin).max(0.0);
                (size[a] - span) / 2.0 + u(stream + a as u64) * span
            })
        };
        let cell_box = |stream: u64| -> ([u32; 3], [u32; 3]) {
            // Below the size: `u` is below 1.
            let min: [u32; 3] =
                std::array::from_fn(|a| (u(stream + a as u64) * f64::from(self.size[a])) as u32);
            let max = std::array::from_fn(|a| {
                let span = 1 + (u(stream + 3 + a as u64) * 12.0) as u32;
                min[a].saturating_add(span).min(self.size[a])
            });
            (min, max)
        };
        let frames = [0, 1 + (u(30) * 120.0) as u64];
        let material = (u(31) * f64::from(self.materials)) as u8 % self.materials.max(1);
        // Soft bodies are the costliest to add and remove: one in 13.
        match (u(32) * 13.0) as u32 {
            0 | 1 => Command::Place(Fill {
                shape: Shape::Sphere {
                    center: point(4.0, 0),
                    radius: 1.0 + u(3) * 3.0,
                },
                material,
                temperature: None,
            }),
            2 | 3 => Command::Explode(ExplosionSpec {
                center: point(6.0, 0),
                radius: 2.0 + u(3) * 4.0,
                strength: 1.0e3 + u(4) * 1.0e6,
                heat: u(5) * 900.0,
            }),
            4 | 5 => {
                let (min, max) = cell_box(0);
                let d = [u(6) - 0.5, u(7) - 0.5, u(8) - 0.5];
                let n = d.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-3);
                let direction = if n > 1e-3 {
                    d.map(|v| v / n)
                } else {
                    [1.0, 0.0, 0.0]
                };
                Command::Wind(WindSpec {
                    min,
                    max,
                    direction,
                    strength: u(9) * 30.0,
                    gust: u(10),
                    frames,
                })
            }
            6 | 7 => {
                let (min, max) = cell_box(0);
                Command::Heat(HeatBathSpec {
                    min,
                    max,
                    temperature: (200.0 + u(6) * 1600.0) as f32,
                    frames,
                })
            }
            8 | 9 => {
                let (min, max) = cell_box(0);
                Command::Pressure(PressureSpec {
                    min,
                    max,
                    pressure: (u(6) - 0.3) * 5.0e4,
                    frames,
                })
            }
            10 | 11 => Command::SpawnEmitter(Emitter {
                material,
                center: point(3.0, 0),
                radius: 1.0 + u(3) * 2.0,
                frames,
                temperature: None,
            }),
            _ => {
                let soft = loam_systems::xpbd::materials();
                let edge = 2 + (u(3) * 2.0) as u32;
                let origin = point(f64::from(edge) + 1.0, 0)
                    .map(|v| (v - f64::from(edge) / 2.0).max(0.0) as f32);
                let mut body = SoftBox::new(
                    "stress",
                    origin,
                    [edge; 3],
                    soft[(u(4) * soft.len() as f64) as usize % soft.len()],
                );
                body.velocity = [0.0, -(u(5) * 20.0) as f32, 0.0];
                Command::SpawnBody(Box::new(body))
            }
        }
    }
}
