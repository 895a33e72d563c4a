//! Soak testing: run a scenario for a long time, checking invariants.
//!
//! By default one runtime runs for the whole duration (a streamed world on
//! a fresh file of its own in the temporary directory). Every
//! `check_every` frames: every temperature is finite; when the scenario
//! cannot create or destroy material (no reactions, emitters or commands,
//! a world held in memory) every material count equals the start's; and
//! once the run is past the scenario's own frame count, the scenario's
//! checks hold. At the end: resident memory did not keep growing (the last
//! tenth's samples against the first's, after the first tenth settles
//! allocators), the frame time's p95 did not drift (last tenth against
//! first), and a streamed world's file holds at most twice its live data.
//!
//! With [`SoakConfig::restart_every`] a fresh runtime starts every N
//! frames instead. Each run uses the scenario's seed plus the run number,
//! except every third run, which repeats the previous run's seed on one
//! thread (the others use the scenario's thread count) and must end with
//! the same world hash. With [`SoakConfig::own_file`] the runs all use the
//! scenario's own file, each resuming from the save the run before made,
//! and the file must verify after every run. Resident memory must not
//! keep growing run over run.

use std::path::Path;
use std::time::{Duration, Instant};

use loam_storage::file::WorldFile;

use crate::cli::frame_tenths::FrameTenths;
use crate::cli::scratch_file;
use crate::runtime::{LoamError, Runtime};
use crate::scenario::{SavePolicy, Scenario};

/// How to soak.
#[derive(Clone, Debug)]
pub struct SoakConfig {
    /// Keep going until this much time has passed.
    pub duration: Duration,
    /// Stop after this many frames in all, even before the duration.
    pub frames: Option<u64>,
    /// Start a fresh runtime every this many frames (one runtime for the
    /// whole soak when `None`).
    pub restart_every: Option<u64>,
    /// Check invariants every this many frames.
    pub check_every: u64,
    /// A streamed scenario's runs reopen its own world file, one after
    /// another, each going on from the last one's save (`[world] resume`),
    /// with the scenario's seed; after each run every page and the run
    /// state must verify. No seed is repeated: the world goes on. Runs
    /// restart every `restart_every` frames, or the scenario's own count.
    pub own_file: bool,
}

/// Where a soak is, for progress display.
#[derive(Clone, Debug)]
pub struct SoakProgress {
    /// Runs finished.
    pub runs: u64,
    /// Frames stepped in all runs.
    pub frames: u64,
    /// Resident memory at the last sample, bytes.
    pub rss_bytes: u64,
    /// Time since the soak started.
    pub elapsed: Duration,
}

/// What a soak found.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct SoakOutcome {
    /// Runs finished (1 for a soak of one runtime).
    pub runs: u64,
    /// Frames stepped.
    pub frames: u64,
    /// Runs that repeated a seed and matched its hash.
    pub repeats_matched: u64,
    /// Resident memory at each sample (after each run, or every
    /// `check_every` frames of one runtime), bytes.
    pub rss_bytes: Vec<u64>,
    /// Frame time p95 over about the first and the last tenth of the
    /// frames of one runtime ([`FrameTenths`]: memory that does not grow
    /// with the run), ms.
    pub frame_p95_ms: Option<[f64; 2]>,
    /// A streamed world's file at the end: its size and the bytes its
    /// committed pages hold.
    pub file_bytes: Option<[u64; 2]>,
    /// Times the scenario's checks were evaluated.
    pub checks_evaluated: u64,
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
    progress: impl FnMut(&SoakProgress),
) -> Result<SoakOutcome, LoamError> {
    match (config.restart_every, config.own_file) {
        (None, false) => soak_one_runtime(scenario, config, progress),
        (every, _) => soak_restarting(
            scenario,
            config,
            every.unwrap_or(scenario.run.frames),
            progress,
        ),
    }
}

/// What every check finds wrong with `rt`'s world, if anything: a
/// non-finite temperature, or (when `initial` counts are given) a changed
/// material count.
fn world_invariants(rt: &Runtime, initial: Option<&[u64; 256]>) -> Option<String> {
    let world = rt.world();
    if let Some(p) = world.first_non_finite_temperature() {
        return Some(format!("non-finite temperature at cell {p:?}"));
    }
    let initial = initial?;
    let now = world.material_counts();
    let m = (0..256).find(|&m| now[m] != initial[m])?;
    Some(format!(
        "material {} count {} changed from {} with reactions, emitters and commands off",
        rt.materials().name(m as u8),
        now[m],
        initial[m]
    ))
}

/// One runtime for the whole soak.
fn soak_one_runtime(
    scenario: &Scenario,
    config: &SoakConfig,
    mut progress: impl FnMut(&SoakProgress),
) -> Result<SoakOutcome, LoamError> {
    let start = Instant::now();
    let mut s = scenario.clone();
    let file = s.world.storage.as_mut().map(|storage| {
        storage.file = scratch_file("soak-run0");
        storage.resume = false;
        storage.file.clone()
    });
    let result = soak_runtime(s, config, start, &mut progress);
    if let Some(file) = file {
        let _ = std::fs::remove_file(file);
    }
    result
}

fn soak_runtime(
    scenario: Scenario,
    config: &SoakConfig,
    start: Instant,
    progress: &mut impl FnMut(&SoakProgress),
) -> Result<SoakOutcome, LoamError> {
    let conserving = scenario.conserves_materials() && scenario.world.storage.is_none();
    let checks_from = scenario.run.frames;
    // A world that never saves writes no file of its own (only a temporary
    // copy, removed with the runtime): there is no file to watch.
    let file = scenario
        .world
        .storage
        .as_ref()
        .filter(|s| s.save != SavePolicy::Never)
        .map(|s| s.file.clone());
    let mut rt = Runtime::new(scenario)?;
    let initial = conserving.then(|| rt.world().material_counts());
    let mut out = SoakOutcome {
        runs: 1,
        ..SoakOutcome::default()
    };
    let mut frame_ms = FrameTenths::default();
    let cap = config.frames.unwrap_or(u64::MAX);
    let every = config.check_every.max(1);
    while out.frames < cap && (out.frames == 0 || start.elapsed() < config.duration) {
        let t = Instant::now();
        rt.step()?;
        frame_ms.push(t.elapsed().as_secs_f64() * 1e3);
        out.frames += 1;
        if out.frames % every != 0 {
            continue;
        }
        let frame = out.frames;
        if let Some(v) = world_invariants(&rt, initial.as_ref()) {
            out.violation = Some(format!("frame {frame}: {v}"));
            return Ok(out);
        }
        if frame >= checks_from {
            out.checks_evaluated += 1;
            if let Some(c) = rt.checks().into_iter().find(|c| !c.passed) {
                out.violation = Some(format!(
                    "frame {frame}: the scenario's check `{}` fails ({}); the soak checks them \
                     from its frame {checks_from} on",
                    c.kind, c.detail
                ));
                return Ok(out);
            }
        }
        out.rss_bytes.push(resident_bytes());
        progress(&SoakProgress {
            runs: 0,
            frames: out.frames,
            rss_bytes: resident_bytes(),
            elapsed: start.elapsed(),
        });
    }
    out.rss_bytes.push(resident_bytes());
    out.frame_p95_ms = frame_ms.p95();
    if let Some(file) = file {
        rt.finish()?;
        drop(rt);
        let sizes = file_sizes(&file)?;
        out.file_bytes = Some(sizes);
        out.violation = file_growth(sizes);
        if out.violation.is_some() {
            return Ok(out);
        }
    }
    out.violation = memory_drift(&out.rss_bytes).or_else(|| frame_time_drift(out.frame_p95_ms));
    Ok(out)
}

/// A world file's size and the bytes its last commit uses
/// ([`WorldFile::live_bytes`]).
pub(crate) fn file_sizes(path: &Path) -> Result<[u64; 2], LoamError> {
    let file = WorldFile::open_read_only(path)?;
    let live = file.live_bytes();
    let size = std::fs::metadata(path)
        .map_err(|source| loam_storage::file::FileError::Io {
            path: path.to_path_buf(),
            source,
        })?
        .len();
    Ok([size, live])
}

/// A world file may hold up to twice its live data, and 4 MiB of header,
/// directory and padding.
fn file_growth([size, live]: [u64; 2]) -> Option<String> {
    let allowed = 2 * live + (4 << 20);
    (size > allowed).then(|| {
        format!(
            "the world file grew to {} MiB for {} MiB of live data (limit {} MiB): space two \
             later commits superseded is reused, so something holds more than it should; \
             `loam inspect` shows the free space and the commits kept",
            size >> 20,
            live >> 20,
            allowed >> 20
        )
    })
}

/// The last tenth's frame p95 may be at most twice the first's and 2 ms
/// more: a world that gets busier is slower, one that leaks work is slower
/// without end.
fn frame_time_drift(p95: Option<[f64; 2]>) -> Option<String> {
    let [first, last] = p95?;
    (last > 2.0 * first + 2.0).then(|| {
        format!(
            "frame time drifted: p95 {first:.2} ms over the first tenth of the frames, \
             {last:.2} ms over the last"
        )
    })
}

/// How far resident memory may rise over `baseline` (bytes): a quarter,
/// and at least 64 MiB.
fn memory_limit(baseline: u64) -> u64 {
    baseline + (baseline / 4).max(64 << 20)
}

/// Resident memory samples of one runtime: the first tenth settles
/// (allocator pools, thread stacks, pages coming in); the last tenth's
/// highest must stay within a quarter (and at least 64 MiB) above the
/// second tenth's highest.
fn memory_drift(rss: &[u64]) -> Option<String> {
    let tenth = rss.len() / 10;
    if tenth == 0 {
        return None;
    }
    let baseline = rss[tenth..2 * tenth].iter().copied().max()?;
    let last = rss[rss.len() - tenth..].iter().copied().max()?;
    let allowed = memory_limit(baseline);
    (last > allowed).then(|| {
        format!(
            "resident memory kept growing: {} MiB early in the soak, {} MiB at its end (limit {} MiB)",
            baseline >> 20,
            last >> 20,
            allowed >> 20
        )
    })
}

/// A fresh runtime every `run_frames` frames.
fn soak_restarting(
    scenario: &Scenario,
    config: &SoakConfig,
    run_frames: u64,
    mut progress: impl FnMut(&SoakProgress),
) -> Result<SoakOutcome, LoamError> {
    let start = Instant::now();
    let cap = config.frames.unwrap_or(u64::MAX);
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
    let mut out = SoakOutcome::default();
    let mut previous: Option<(u64, String)> = None;
    while out.frames < cap && (out.runs == 0 || start.elapsed() < config.duration) {
        let frames = run_frames.min(cap - out.frames);
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
                storage.file = scratch_file(&format!("soak-run{k}"));
                storage.file.clone()
            });
        let mut rt = Runtime::new(s)?;
        let initial = conserving.then(|| rt.world().material_counts());
        for f in 0..frames {
            rt.step()?;
            out.frames += 1;
            if (f + 1) % config.check_every.max(1) == 0 || f + 1 == frames {
                if let Some(v) = world_invariants(&rt, initial.as_ref()) {
                    out.violation = Some(format!("run {k} (seed {seed}), frame {}: {v}", f + 1));
                    return Ok(out);
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
            let sizes = file_sizes(path)?;
            out.file_bytes = Some(sizes);
            if let Some(v) = file_growth(sizes) {
                out.violation = Some(format!("run {k}: {v}"));
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
    let allowed = memory_limit(baseline);
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
    fn watches_pass_steady_runs_and_catch_drift() {
        let mib = 1u64 << 20;
        let steady: Vec<u64> = (0..100).map(|i| (200 + i % 3) * mib).collect();
        assert_eq!(memory_drift(&steady), None);
        let leaking: Vec<u64> = (0..100).map(|i| (200 + 4 * i) * mib).collect();
        assert!(memory_drift(&leaking).unwrap().contains("kept growing"));

        let tenths = |ms: &mut dyn Iterator<Item = f64>| {
            let mut t = FrameTenths::default();
            ms.for_each(|m| t.push(m));
            t.p95()
        };
        let flat = tenths(&mut std::iter::repeat_n(1.0, 400));
        assert!(flat.is_some_and(|[a, b]| a == b && (1.0..1.012).contains(&a)));
        assert_eq!(
            tenths(&mut std::iter::repeat_n(1.0, 100)),
            None,
            "too short to compare"
        );
        let slowing = tenths(&mut (0..400).map(|i| 1.0 + f64::from(i) * 0.05));
        assert!(frame_time_drift(slowing).unwrap().contains("drifted"));
        assert_eq!(frame_time_drift(flat), None);

        assert_eq!(file_growth([10 * mib, 5 * mib]), None);
        assert!(file_growth([40 * mib, 5 * mib])
            .unwrap()
            .contains("something holds more"));
    }

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
