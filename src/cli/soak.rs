//! Soak testing: run a scenario again and again, checking invariants.
//!
//! A streamed scenario's runs each use a fresh world file in the temporary
//! directory, removed after the run; or, with [`SoakConfig::own_file`],
//! they all use the scenario's own file, each resuming from the save the
//! run before made, and the file must verify after every run.
//!
//! Each run uses the scenario's seed plus the run number, except every third
//! run, which repeats the previous run's seed on one thread (the others use
//! the scenario's thread count) and must end with the same world hash. During a run, every `check_every` frames: every temperature is
//! finite, and when the scenario cannot create or destroy material (no
//! reactions, emitters or commands) every material count equals the start's.
//! Between runs: the process's resident memory must not keep growing.

use std::time::{Duration, Instant};

use loam_storage::file::WorldFile;

use crate::runtime::{LoamError, Runtime};
use crate::scenario::{SavePolicy, Scenario};

/// How to soak.
#[derive(Clone, Debug)]
pub struct SoakConfig {
    /// Keep starting runs until this much time has passed.
    pub duration: Duration,
    /// Frames per run (the scenario's own when `None`).
    pub frames: Option<u64>,
    /// Check in-run invariants every this many frames.
    pub check_every: u64,
    /// A streamed scenario's runs reopen its own world file, one after
    /// another, each going on from the last one's save (`[world] resume`),
    /// with the scenario's seed; after each run every page and the run
    /// state must verify. No seed is repeated: the world goes on.
    pub own_file: bool,
}

/// Where a soak is, for progress display.
#[derive(Clone, Debug)]
pub struct SoakProgress {
    /// Runs finished.
    pub runs: u64,
    /// Frames stepped in all runs.
    pub frames: u64,
    /// Resident memory after the last run, bytes.
    pub rss_bytes: u64,
    /// Time since the soak started.
    pub elapsed: Duration,
}

/// What a soak found.
#[derive(Clone, Debug)]
pub struct SoakOutcome {
    /// Runs finished.
    pub runs: u64,
    /// Frames stepped.
    pub frames: u64,
    /// Runs that repeated a seed and matched its hash.
    pub repeats_matched: u64,
    /// Resident memory after each run, bytes.
    pub rss_bytes: Vec<u64>,
    /// The first invariant that failed, if any.
    pub violation: Option<String>,
}

/// Resident set size of this process, bytes (0 where `/proc` is missing).
pub fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// Soaks `scenario`; stops at the first violation.
pub fn soak(
    scenario: &Scenario,
    config: &SoakConfig,
    mut progress: impl FnMut(&SoakProgress),
) -> Result<SoakOutcome, LoamError> {
    let start = Instant::now();
    let frames = config.frames.unwrap_or(scenario.run.frames);
    let own_file = match (&scenario.world.storage, config.own_file) {
        (_, false) => None,
        (Some(storage), true) if storage.save != SavePolicy::Never => Some(storage.file.clone()),
        (Some(_), true) => {
            return Err(LoamError::Unsupported(
                "--own-file reopens the scenario's world file after each run's save, and this \
                 scenario says `save = \"never\"`"
                    .into(),
            ))
        }
        (None, true) => {
            return Err(LoamError::Unsupported(
                "--own-file needs a streamed scenario (`[world] file`)".into(),
            ))
        }
    };
    // Counts over resident pages change as a streamed world's pages come and go.
    let conserving = scenario.conserves_materials() && scenario.world.storage.is_none();
    let mut out = SoakOutcome {
        runs: 0,
        frames: 0,
        repeats_matched: 0,
        rss_bytes: Vec::new(),
        violation: None,
    };
    let mut previous: Option<(u64, String)> = None;
    while out.runs == 0 || start.elapsed() < config.duration {
        let k = out.runs;
        let repeat = k % 3 == 2 && own_file.is_none();
        let seed = match (&previous, repeat) {
            // The file is of the scenario's seed, and the world goes on.
            _ if own_file.is_some() => scenario.world.seed,
            (Some((s, _)), true) => *s,
            _ => scenario.world.seed.wrapping_add(k),
        };
        let mut s = scenario.clone();
        s.world.seed = seed;
        if repeat {
            s.run.threads = 1;
        }
        if let Some(storage) = s.world.storage.as_mut().filter(|_| own_file.is_some()) {
            storage.resume = true;
        }
        // Otherwise a streamed world starts each run from a fresh file of
        // its own seed; the scenario's file is never touched.
        let scratch = s
            .world
            .storage
            .as_mut()
            .filter(|_| own_file.is_none())
            .map(|storage| {
                let path = std::env::temp_dir()
                    .join(format!("loam-soak-{}-run{k}.loam", std::process::id()));
                let _ = std::fs::remove_file(&path);
                storage.file = path.clone();
                path
            });
        let mut rt = Runtime::new(s)?;
        let initial = rt.world().material_counts();
        for f in 0..frames {
            rt.step()?;
            out.frames += 1;
            if (f + 1) % config.check_every.max(1) == 0 || f + 1 == frames {
                let world = rt.world();
                if let Some(p) = world.first_non_finite_temperature() {
                    out.violation = Some(format!(
                        "run {k} (seed {seed}), frame {}: non-finite temperature at cell {p:?}",
                        f + 1
                    ));
                    return Ok(out);
                }
                if conserving {
                    let now = world.material_counts();
                    if let Some(m) = (0..256).find(|&m| now[m] != initial[m]) {
                        out.violation = Some(format!(
                            "run {k} (seed {seed}), frame {}: material {} count {} changed from {} with reactions, emitters and commands off",
                            f + 1,
                            rt.materials().name(m as u8),
                            now[m],
                            initial[m]
                        ));
                        return Ok(out);
                    }
                }
            }
        }
        if let Some(path) = &own_file {
            rt.finish()?;
            drop(rt);
            let problems = WorldFile::open_read_only(path)?.verify();
            if let Some(problem) = problems.first() {
                out.violation = Some(format!(
                    "run {k}: after its save, {} fails to verify ({} problems): {problem}",
                    path.display(),
                    problems.len()
                ));
                return Ok(out);
            }
        } else {
            let hash = rt.world_hash();
            if repeat {
                if let Some((s, h)) = &previous {
                    if *h != hash {
                        out.violation = Some(format!(
                            "run {k}: seed {s} gave world hash {hash}, but {h} the run before"
                        ));
                        return Ok(out);
                    }
                    out.repeats_matched += 1;
                }
            }
            previous = Some((seed, hash));
            drop(rt);
            if let Some(path) = scratch {
                let _ = std::fs::remove_file(path);
            }
        }
        out.runs += 1;
        out.rss_bytes.push(resident_bytes());
        if let Some(v) = memory_growth(&out.rss_bytes) {
            out.violation = Some(v);
            return Ok(out);
        }
        progress(&SoakProgress {
            runs: out.runs,
            frames: out.frames,
            rss_bytes: *out.rss_bytes.last().unwrap_or(&0),
            elapsed: start.elapsed(),
        });
    }
    Ok(out)
}

/// Resident memory is allowed to settle over the first three runs (allocator
/// pools, thread stacks); after that it must stay within a quarter (and at
/// least 64 MiB) above the lower of runs 2 and 3.
fn memory_growth(rss: &[u64]) -> Option<String> {
    if rss.len() <= 3 {
        return None;
    }
    let baseline = rss[1..3].iter().copied().min()?;
    let last = *rss.last()?;
    let allowed = baseline + (baseline / 4).max(64 << 20);
    (last > allowed).then(|| {
        format!(
            "resident memory grew run over run: {} MiB after run 2, {} MiB after run {} (limit {} MiB)",
            baseline >> 20,
            last >> 20,
            rss.len(),
            allowed >> 20
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steady_memory_passes_and_growth_is_caught() {
        let mib = 1u64 << 20;
        assert_eq!(
            memory_growth(&[100 * mib, 120 * mib, 120 * mib, 121 * mib, 119 * mib]),
            None
        );
        let growing: Vec<u64> = (0..10).map(|i| (100 + 40 * i) * mib).collect();
        assert!(memory_growth(&growing).unwrap().contains("grew"));
    }
}
