//! Killing a saving run: `loam stress --kill-every`.
//!
//! A child process (this binary again, `loam stress --kill-child FILE`)
//! runs the stressed world on FILE, saving every frame, its senders firing
//! commands, and going on from the commit an earlier child left. Once it
//! has begun stepping it says so on stdout; the parent waits a random
//! while and kills it with SIGKILL, wherever it is — most often in a save,
//! since a save follows every frame. Then FILE must open, verify every
//! page and its run state, and hold a commit and a frame no older than the
//! last kill's: a crash never loses what was committed nor leaves the file
//! unreadable. The number of kills survived is the result.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use loam_runtime::random::unit3;
use loam_runtime::state::SavedState;
use loam_storage::file::WorldFile;

use crate::cli::stress::{stress, StressConfig};
use crate::runtime::LoamError;
use crate::scenario::Scenario;

/// What the child prints once its runtime steps: from then on a kill
/// lands in the run, not in its start.
pub const READY: &str = "loam-kill-child: stepping";

/// How to kill.
#[derive(Clone, Debug)]
pub struct KillConfig {
    /// The mean time from a child's first frame to its kill; each kill
    /// waits between half of it and one and a half times it.
    pub every: Duration,
    /// Kills to make.
    pub kills: u64,
    /// Stop after this long, even before `kills`.
    pub duration: Option<Duration>,
}

/// What the kills found.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct KillOutcome {
    /// Kills after which the file opened, verified and had not gone back.
    pub kills_survived: u64,
    /// Children that ended by themselves before their kill (a child ends
    /// after `--frames` frames).
    pub children_ended: u64,
    /// The file's commit sequence after the last kill.
    pub commit: u64,
    /// The frame the file's run state had reached after the last kill.
    pub frame: u64,
    /// The file's size at the end, bytes.
    pub file_bytes: u64,
    /// Seconds the trials took.
    pub seconds: f64,
    /// What broke, if anything.
    pub violation: Option<String>,
}

/// Kills children running `scenario_path` under stress on `file` (which
/// must not exist) as `kill` says; `config` is the stress each child runs
/// (saving every frame whatever it says). `progress` hears each kill.
pub fn kill_trials(
    scenario_path: &Path,
    config: &StressConfig,
    kill: &KillConfig,
    file: &Path,
    mut progress: impl FnMut(u64),
) -> Result<KillOutcome, LoamError> {
    let exe = std::env::current_exe()
        .map_err(|e| LoamError::Unsupported(format!("cannot find the loam binary: {e}")))?;
    let start = Instant::now();
    let mut out = KillOutcome::default();
    for k in 0..kill.kills {
        if kill.duration.is_some_and(|d| start.elapsed() >= d) {
            break;
        }
        let mut child = spawn_child(&exe, scenario_path, config, k, file)?;
        let ready = wait_ready(&mut child);
        let wait = kill
            .every
            .mul_f64(0.5 + f64::from(unit3(config.seed, k, 0x6b11)));
        let ended_early = match ready {
            Ok(true) => !sleep_unless_exited(&mut child, wait)?,
            _ => true,
        };
        let _ = child.kill();
        let status = child.wait().map_err(|e| spawn_error(&exe, e))?;
        if ended_early {
            if !status.success() {
                out.violation = Some(format!(
                    "kill {k}: the child failed by itself ({status}): {}",
                    child_stderr(&mut child)
                ));
                break;
            }
            out.children_ended += 1;
        }
        match check_file(file, (out.commit, out.frame)) {
            Ok((commit, frame)) => {
                out.commit = commit;
                out.frame = frame;
                if !ended_early {
                    out.kills_survived += 1;
                }
            }
            Err(v) => {
                out.violation = Some(format!("after kill {k}: {v}"));
                break;
            }
        }
        progress(k + 1);
    }
    out.file_bytes = std::fs::metadata(file).map_or(0, |m| m.len());
    out.seconds = start.elapsed().as_secs_f64();
    Ok(out)
}

/// The child that runs a stress run on `file` until it is killed.
pub fn kill_child(
    scenario: &Scenario,
    config: &StressConfig,
    file: PathBuf,
) -> Result<Option<String>, LoamError> {
    let config = StressConfig {
        save_every: 1,
        resume: true,
        ..config.clone()
    };
    let outcome = stress(scenario, &config, file, |frame| {
        if frame == 1 {
            println!("{READY}");
        }
    })?;
    Ok(outcome.violation)
}

/// Starts the `k`th child.
fn spawn_child(
    exe: &Path,
    scenario: &Path,
    config: &StressConfig,
    k: u64,
    file: &Path,
) -> Result<Child, LoamError> {
    Command::new(exe)
        .arg("stress")
        .arg(scenario)
        .arg("--kill-child")
        .arg(file)
        .args(["--frames", &config.frames.to_string()])
        .args(["--senders", &config.senders.to_string()])
        .args(["--per-frame", &config.per_frame.to_string()])
        // Each child's senders differ; its world goes on from the file.
        .args(["--seed", &config.seed.wrapping_add(k).to_string()])
        .args(["--resident-pages", &config.resident_pages.to_string()])
        .args(["--jump-every", &config.observer_jump_every.to_string()])
        .args(["--faults", &config.faults.to_string()])
        .arg("--quiet")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| spawn_error(exe, e))
}

fn spawn_error(exe: &Path, e: std::io::Error) -> LoamError {
    LoamError::Unsupported(format!("cannot run the child {}: {e}", exe.display()))
}

/// Waits for the child's [`READY`] line: true once seen, false if its
/// stdout closed first (it ended).
fn wait_ready(child: &mut Child) -> std::io::Result<bool> {
    let Some(stdout) = child.stdout.take() else {
        return Ok(false);
    };
    let mut lines = std::io::BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        if line? == READY {
            // Keep draining the pipe so the child never blocks on it.
            std::thread::spawn(move || lines.for_each(drop));
            return Ok(true);
        }
    }
    Ok(false)
}

/// Sleeps `wait`, or less if the child exits first: true if it is still
/// running at the end.
fn sleep_unless_exited(child: &mut Child, wait: Duration) -> Result<bool, LoamError> {
    let until = Instant::now() + wait;
    while Instant::now() < until {
        if child
            .try_wait()
            .map_err(|e| LoamError::Unsupported(format!("cannot watch the child: {e}")))?
            .is_some()
        {
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(5).min(wait));
    }
    Ok(true)
}

/// The last lines the child wrote to stderr.
fn child_stderr(child: &mut Child) -> String {
    let mut text = String::new();
    if let Some(mut err) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut err, &mut text);
    }
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(5)..].join(" | ")
}

/// Opens `file` after a kill: it must open read-only, verify, and hold a
/// commit and a frame no older than `before`'s. Returns them. A file the
/// child never got to create is no commit at all: `before` again.
fn check_file(file: &Path, before: (u64, u64)) -> Result<(u64, u64), String> {
    if !file.exists() {
        return if before == (0, 0) {
            Ok(before)
        } else {
            Err(format!("{} is gone", file.display()))
        };
    }
    let name = file.display();
    let opened =
        WorldFile::open_read_only(file).map_err(|e| format!("{name} does not open: {e}"))?;
    let problems = opened.verify();
    if let Some(problem) = problems.first() {
        return Err(format!(
            "{name} fails to verify ({} problems): {problem}",
            problems.len()
        ));
    }
    let commit = opened.header().sequence;
    let frame = match opened.state() {
        Ok(Some(bytes)) => {
            SavedState::decode(&bytes)
                .map_err(|e| format!("{name}'s run state does not decode: {e}"))?
                .frame
        }
        Ok(None) => 0,
        Err(e) => return Err(format!("{name}'s run state does not read: {e}")),
    };
    if commit < before.0 || frame < before.1 {
        return Err(format!(
            "{name} went back from commit {} (frame {}) to commit {commit} (frame {frame})",
            before.0, before.1
        ));
    }
    Ok((commit, frame))
}
