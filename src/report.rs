//! Run reports: a table for people, JSON for scripts.
//!
//! The JSON schema (all keys always present):
//! `scenario`, `frames`, `seed`, `threads`, `backend`, `adapter` (the GPU's
//! name, or null), `world_hash` (16 hex digits over every cell channel;
//! of a streamed world, its resident pages and those its file holds:
//! [`crate::Runtime::world_hash`]), `frame_ms` {`mean`, `p95`, `max`},
//! `jobs` [{`name`, `runs`, `mean_ms`, `p95_ms`, `max_ms`, `over_budget`,
//! `phases` [{`name`, `runs`, `mean_ms`, `p95_ms`, `max_ms`}] (the zones the
//! job opens directly inside itself, on its own thread: per run that
//! entered one, the time in it)}],
//! `active_pages`, `materials` {name: {`count`, `center_of_mass`, `min_y`,
//! `max_y`}} for materials present, `checks` [{`kind`, `passed`, `detail`}],
//! `wall_s`, `notes`, `phases` {substance: {phase: cells}} for the
//! materials with a phase diagram, `transitions` {"from->to": count}
//! accepted by the phase pass since the start, and `storage` (`null` for a world held wholly in
//! memory): {`io_backend`, `resident_pages`, `capacity_pages`,
//! `pages_loaded`, `pages_generated`, `pages_evicted`, `pages_written`,
//! `bytes_read`, `bytes_written`, `load_ms` {`mean`, `p95`, `max`} (from a
//! frame asking for pages to the I/O actor having them), `stalls` (frames
//! that waited for the actor), `requests_cancelled`, `over_budget_frames`,
//! `pages_asked` (absent pages the phase pass's columns reached, loaded for
//! it), `page_table_bytes`}, `lod` (`null` without `[run]
//! frame_budget_ms`): {`frame_budget_ms`, `within_budget` (frame p95 at
//! most the budget), `mode` (`fixed` or `adaptive`), `near` (cells, at the
//! end), `choices` (times the adaptive mode changed `near` and the page
//! loads a frame), `load_per_frame` (the adaptive mode's page loads a frame
//! at the end; null when fixed), `page_updates` {"1", "2", "4", "8":
//! automaton page updates run at each period}, `pages_deferred` (awake
//! pages put off to a later frame)}, and `save_error` (why the final save
//! of a streamed world failed, leaving its file at the last commit; else
//! null).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use loam_runtime::{Engine, Summary};
use loam_storage::VoxelWorld;
use loam_systems::lod::SimulationLod;
use loam_systems::MaterialTable;

use crate::scenario::{Check, Scenario};
use crate::streaming::StreamState;

/// How a run was set up, as its report tells it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Setup {
    /// `cpu` or `gpu`.
    pub backend: &'static str,
    /// The GPU adapter's name, when running on one.
    pub adapter: Option<String>,
    /// Notes on what was chosen (fallbacks and the like).
    pub notes: Vec<String>,
}

/// Frame time summary, ms.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Timing {
    /// Mean.
    pub mean: f64,
    /// 95th percentile.
    pub p95: f64,
    /// Maximum.
    pub max: f64,
}

/// One job's timings.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct JobReport {
    /// Job name.
    pub name: String,
    /// Times it ran.
    pub runs: u64,
    /// Mean wall time, ms.
    pub mean_ms: f64,
    /// 95th percentile wall time, ms.
    pub p95_ms: f64,
    /// Maximum wall time, ms.
    pub max_ms: f64,
    /// Runs over the job's budget.
    pub over_budget: u64,
    /// Its phases: the zones it opens directly inside itself, on its own
    /// thread, in the order first seen.
    pub phases: Vec<PhaseTiming>,
}

/// The time a job spent in one of its phases, per run that entered it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct PhaseTiming {
    /// The zone's name (`ca.checkerboard_phase`, `ca.level`, ...).
    pub name: String,
    /// Job runs that entered it.
    pub runs: u64,
    /// Mean time per such run, ms (a phase entered several times in a run
    /// counts its total).
    pub mean_ms: f64,
    /// 95th percentile, ms.
    pub p95_ms: f64,
    /// Maximum, ms.
    pub max_ms: f64,
}

/// One material's census.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct MaterialReport {
    /// Cells.
    pub count: u64,
    /// Mean cell centre, cells.
    pub center_of_mass: [f64; 3],
    /// Lowest y.
    pub min_y: u32,
    /// Highest y.
    pub max_y: u32,
}

/// The outcome of one check.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct CheckResult {
    /// `count`, `settled` or `finite`.
    pub kind: String,
    /// Whether it held.
    pub passed: bool,
    /// What was found.
    pub detail: String,
}

/// Everything about a finished (or paused) run.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Report {
    /// Scenario name.
    pub scenario: String,
    /// Frames run.
    pub frames: u64,
    /// World seed.
    pub seed: u64,
    /// Worker threads.
    pub threads: usize,
    /// Backend that ran the systems: `cpu`, or `gpu` (field diffusion on
    /// the GPU so far).
    pub backend: String,
    /// The GPU adapter's name with the `gpu` backend (e.g. "llvmpipe (LLVM
    /// 15.0.6, 256 bits)"), else null.
    pub adapter: Option<String>,
    /// Hash of every cell channel, hex.
    pub world_hash: String,
    /// Frame wall times.
    pub frame_ms: Timing,
    /// Per-job wall times, in registration order.
    pub jobs: Vec<JobReport>,
    /// Pages awake at the end.
    pub active_pages: u64,
    /// Materials present at the end.
    pub materials: BTreeMap<String, MaterialReport>,
    /// The scenario's checks.
    pub checks: Vec<CheckResult>,
    /// Wall time since the runtime was built, s.
    pub wall_s: f64,
    /// Setup notes (fallbacks and the like).
    pub notes: Vec<String>,
    /// Cells per phase of each substance with a phase diagram.
    pub phases: BTreeMap<String, BTreeMap<String, u64>>,
    /// Phase transitions accepted since the start, `"from->to"`.
    pub transitions: BTreeMap<String, u64>,
    /// Streaming counters of a streamed world.
    pub storage: Option<StorageReport>,
    /// What the simulation LOD coarsened, with a frame budget.
    pub lod: Option<LodReport>,
    /// Each soft body's state at the end.
    pub soft_bodies: Vec<SoftBodyReport>,
    /// Why the final save of a streamed world failed (the file stays at
    /// its last commit); `None` when it saved, or had nothing to save.
    pub save_error: Option<String>,
}

/// One soft body at the end of a run.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SoftBodyReport {
    /// Its name.
    pub name: String,
    /// Corner particles.
    pub particles: u64,
    /// Constraints of every type (a face constraint counts once).
    pub constraints: u64,
    /// Current over rest volume.
    pub volume_ratio: f64,
    /// Lowest particle, cells.
    pub min_y: f64,
    /// Mass-weighted centre, cells.
    pub center_of_mass: [f64; 3],
    /// Fastest particle, cells/s.
    pub max_speed: f64,
    /// Face constraints torn (`gram_schmidt` bodies).
    pub broken_constraints: u64,
    /// Whether it sleeps.
    pub sleeping: bool,
}

/// What streaming did (see the module docs for each key).
#[derive(Clone, Debug, Serialize, PartialEq)]
#[allow(missing_docs)]
pub struct StorageReport {
    pub io_backend: String,
    pub resident_pages: u64,
    pub capacity_pages: u64,
    pub pages_loaded: u64,
    pub pages_generated: u64,
    pub pages_evicted: u64,
    pub pages_written: u64,
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub load_ms: Timing,
    pub stalls: u64,
    pub requests_cancelled: u64,
    pub over_budget_frames: u64,
    pub pages_asked: u64,
    pub page_table_bytes: u64,
}

/// What the simulation LOD did (see the module docs for each key).
#[derive(Clone, Debug, Serialize, PartialEq)]
#[allow(missing_docs)]
pub struct LodReport {
    pub frame_budget_ms: f64,
    pub within_budget: bool,
    pub mode: &'static str,
    pub near: f64,
    pub choices: usize,
    pub load_per_frame: Option<usize>,
    pub page_updates: BTreeMap<String, u64>,
    pub pages_deferred: u64,
}

impl Report {
    /// The report of the run in `engine`, of `scenario`, set up as `setup`,
    /// `wall` after it started, its world hashing to `world_hash`
    /// ([`crate::Runtime::world_hash`]).
    pub(crate) fn build(
        engine: &Engine,
        scenario: &Scenario,
        setup: &Setup,
        wall: Duration,
        world_hash: String,
    ) -> Self {
        const BUILT: &str = "a runtime is built with its world and materials";
        let frame = engine.frame_summary();
        let jobs = engine
            .job_stats()
            .iter()
            .map(|s| {
                let Summary {
                    runs,
                    mean_ms,
                    p95_ms,
                    max_ms,
                } = s.summary();
                JobReport {
                    name: s.name.clone(),
                    runs,
                    mean_ms,
                    p95_ms,
                    max_ms,
                    over_budget: s.over_budget,
                    phases: s
                        .inner
                        .iter()
                        .map(|(name, samples)| {
                            let t = samples.summary();
                            PhaseTiming {
                                name: name.clone(),
                                runs: t.runs,
                                mean_ms: t.mean_ms,
                                p95_ms: t.p95_ms,
                                max_ms: t.max_ms,
                            }
                        })
                        .collect(),
                }
            })
            .collect();
        let world = engine.resource::<VoxelWorld>().expect(BUILT);
        let table = engine.resource::<MaterialTable>().expect(BUILT);
        let materials = world
            .census()
            .iter()
            .enumerate()
            .filter(|(_, s)| s.count > 0)
            .map(|(m, s)| {
                (
                    table.name(m as u8),
                    MaterialReport {
                        count: s.count,
                        center_of_mass: s.center_of_mass(),
                        min_y: s.min_y,
                        max_y: s.max_y,
                    },
                )
            })
            .collect();
        let checks = {
            let bodies = engine.resource::<loam_systems::xpbd::SoftBodies>();
            evaluate(&scenario.checks, &world, &table, bodies.as_deref())
        };
        let counts = world.material_counts();
        let phase_table = engine
            .resource::<loam_systems::phase::PhaseTable>()
            .map(|t| t.clone())
            .unwrap_or_default();
        let phases = phase_table
            .substances
            .iter()
            .map(|s| {
                let per_phase = s
                    .phases
                    .iter()
                    .map(|p| (table.name(p.material), counts[p.material as usize]))
                    .collect();
                (s.name.clone(), per_phase)
            })
            .collect();
        let transitions = engine
            .resource::<loam_systems::phase::PhaseState>()
            .map(|state| {
                state
                    .transitions
                    .iter()
                    .map(|(&(from, to), &n)| {
                        (format!("{}->{}", table.name(from), table.name(to)), n)
                    })
                    .collect()
            })
            .unwrap_or_default();
        Report {
            scenario: scenario.name.clone(),
            frames: engine.clock().frame,
            seed: scenario.world.seed,
            threads: engine.threads(),
            backend: setup.backend.to_string(),
            adapter: setup.adapter.clone(),
            world_hash,
            frame_ms: Timing {
                mean: frame.mean_ms,
                p95: frame.p95_ms,
                max: frame.max_ms,
            },
            jobs,
            active_pages: world.table().awake_count() as u64,
            materials,
            checks,
            wall_s: wall.as_secs_f64(),
            notes: setup.notes.clone(),
            phases,
            transitions,
            soft_bodies: engine
                .resource::<loam_systems::xpbd::SoftBodies>()
                .map(|b| {
                    (0..b.bodies.len())
                        .map(|k| {
                            let s = b.summary(k);
                            SoftBodyReport {
                                name: b.bodies[k].name.clone(),
                                particles: s.particles as u64,
                                constraints: s.constraints as u64,
                                volume_ratio: f64::from(b.volume_ratio(k)),
                                min_y: f64::from(s.min_y),
                                center_of_mass: s.center_of_mass.map(f64::from),
                                max_speed: f64::from(s.max_speed),
                                broken_constraints: s.broken_constraints as u64,
                                sleeping: b.bodies[k].sleeping,
                            }
                        })
                        .collect()
                })
                .unwrap_or_default(),
            storage: engine.resource::<StreamState>().map(|state| {
                let st = state.stats();
                let load = state.load_ms.summary();
                StorageReport {
                    io_backend: state.streamer.io_name().to_string(),
                    resident_pages: world.resident_count() as u64,
                    capacity_pages: world.capacity() as u64,
                    pages_loaded: st.pages_loaded,
                    pages_generated: st.pages_generated,
                    pages_evicted: st.pages_evicted,
                    pages_written: st.pages_written,
                    bytes_read: st.bytes_read,
                    bytes_written: st.bytes_written,
                    load_ms: Timing {
                        mean: load.mean_ms,
                        p95: load.p95_ms,
                        max: load.max_ms,
                    },
                    stalls: st.stalls,
                    requests_cancelled: st.requests_cancelled,
                    over_budget_frames: st.over_budget_frames,
                    pages_asked: st.pages_asked,
                    page_table_bytes: world.table().memory_bytes() as u64,
                }
            }),
            lod: scenario.run.frame_budget_ms.and_then(|budget| {
                let lod = engine.resource::<SimulationLod>()?;
                Some(LodReport {
                    frame_budget_ms: budget,
                    within_budget: frame.p95_ms <= budget,
                    mode: if lod.steering.is_some() {
                        "adaptive"
                    } else {
                        "fixed"
                    },
                    near: lod.near?,
                    choices: lod.steering.as_ref().map_or(0, |s| s.choices.len()),
                    load_per_frame: lod.steering.as_ref().map(|s| s.load_per_frame),
                    page_updates: [1, 2, 4, 8]
                        .iter()
                        .zip(lod.counts.updates)
                        .map(|(k, n)| (k.to_string(), n))
                        .collect(),
                    pages_deferred: lod.counts.deferred,
                })
            }),
            save_error: None,
        }
    }

    /// Whether every check passed and the final save, if any, succeeded.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.passed) && self.save_error.is_none()
    }

    /// The summary table printed at the end of `loam run`.
    pub fn to_table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "scenario {}  frames {}  seed {}  threads {}  backend {}",
            self.scenario, self.frames, self.seed, self.threads, self.backend
        );
        for n in &self.notes {
            let _ = writeln!(s, "{}", note_line(n));
        }
        let _ = writeln!(
            s,
            "\n{:<24} {:>7} {:>10} {:>10} {:>10}",
            "job", "runs", "mean ms", "p95 ms", "max ms"
        );
        for j in &self.jobs {
            let _ = writeln!(
                s,
                "{:<24} {:>7} {:>10.3} {:>10.3} {:>10.3}",
                j.name, j.runs, j.mean_ms, j.p95_ms, j.max_ms
            );
            for p in &j.phases {
                let _ = writeln!(
                    s,
                    "  {:<22} {:>7} {:>10.3} {:>10.3} {:>10.3}",
                    p.name, p.runs, p.mean_ms, p.p95_ms, p.max_ms
                );
            }
        }
        let _ = writeln!(
            s,
            "{:<24} {:>7} {:>10.3} {:>10.3} {:>10.3}",
            "frame", self.frames, self.frame_ms.mean, self.frame_ms.p95, self.frame_ms.max
        );
        let _ = writeln!(
            s,
            "\nactive pages {}   world hash {}",
            self.active_pages, self.world_hash
        );
        if !self.transitions.is_empty() {
            let list: Vec<String> = self
                .transitions
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect();
            let _ = writeln!(s, "phase transitions: {}", list.join(", "));
        }
        if let Some(st) = &self.storage {
            let _ = writeln!(
                s,
                "storage ({}): {}/{} pages resident, {} loaded, {} generated, {} evicted, \
                 {} written; {:.1} MB read, {:.1} MB written; load ms mean {:.2} p95 {:.2} \
                 max {:.2}; {} stalls, {} frames over budget",
                st.io_backend,
                st.resident_pages,
                st.capacity_pages,
                st.pages_loaded,
                st.pages_generated,
                st.pages_evicted,
                st.pages_written,
                st.bytes_read as f64 / 1e6,
                st.bytes_written as f64 / 1e6,
                st.load_ms.mean,
                st.load_ms.p95,
                st.load_ms.max,
                st.stalls,
                st.over_budget_frames
            );
        }
        if let Some(lod) = &self.lod {
            let updates: Vec<String> = lod
                .page_updates
                .iter()
                .map(|(k, n)| format!("{n} every {k}"))
                .collect();
            let _ = writeln!(
                s,
                "lod: frame p95 {:.2} ms {} the {} ms budget; page updates {}; {} deferred",
                self.frame_ms.p95,
                if lod.within_budget { "within" } else { "over" },
                lod.frame_budget_ms,
                updates.join(", "),
                lod.pages_deferred
            );
            if let Some(loads) = lod.load_per_frame {
                let _ = writeln!(
                    s,
                    "lod adaptive: {} choices; near {:.1} cells, {loads} page loads a frame at the end",
                    lod.choices, lod.near
                );
            }
        }
        let _ = writeln!(
            s,
            "\n{:<10} {:>12} {:>26} {:>11}",
            "material", "cells", "centre of mass", "y range"
        );
        for (name, m) in &self.materials {
            let c = m.center_of_mass;
            let _ = writeln!(
                s,
                "{:<10} {:>12} {:>8.1} {:>8.1} {:>8.1} {:>5}..{:<5}",
                name, m.count, c[0], c[1], c[2], m.min_y, m.max_y
            );
        }
        if !self.checks.is_empty() {
            let _ = writeln!(s);
            for c in &self.checks {
                let _ = writeln!(
                    s,
                    "check {:<8} {}  {}",
                    c.kind,
                    if c.passed { "PASS" } else { "FAIL" },
                    c.detail
                );
            }
        }
        s
    }
}

/// The fewest and most cells of `material` in the columns of the box
/// `min..max` that hold no solid cell (nor a cell outside the resident
/// world) in it; `None` when there is no such column.
fn column_counts(
    world: &VoxelWorld,
    table: &MaterialTable,
    material: u8,
    min: [u32; 3],
    max: [u32; 3],
) -> Option<(u32, u32)> {
    use loam_systems::materials::Kind;
    let mut range: Option<(u32, u32)> = None;
    for z in min[2]..max[2] {
        for x in min[0]..max[0] {
            let mut n = 0;
            let open = (min[1]..max[1]).all(|y| match world.material([x, y, z]) {
                Some(m) => {
                    n += u32::from(m == material);
                    table.kind[m as usize] != Kind::Solid
                }
                None => false,
            });
            if open {
                let (lo, hi) = range.unwrap_or((n, n));
                range = Some((lo.min(n), hi.max(n)));
            }
        }
    }
    range
}

/// Cells of `material` in the box `min..max` (resident cells only).
fn cells_in(world: &VoxelWorld, material: u8, min: [u32; 3], max: [u32; 3]) -> u64 {
    let mut n = 0;
    for z in min[2]..max[2] {
        for y in min[1]..max[1] {
            for x in min[0]..max[0] {
                n += u64::from(world.material([x, y, z]) == Some(material));
            }
        }
    }
    n
}

/// Evaluates `checks` against `world` and its soft `bodies`.
pub fn evaluate(
    checks: &[Check],
    world: &VoxelWorld,
    table: &MaterialTable,
    bodies: Option<&loam_systems::xpbd::SoftBodies>,
) -> Vec<CheckResult> {
    let counts = if checks
        .iter()
        .any(|c| matches!(c, Check::Count { region: None, .. }))
    {
        world.material_counts()
    } else {
        [0; 256]
    };
    checks
        .iter()
        .map(|c| match *c {
            Check::Count {
                material,
                min,
                max,
                region,
            } => {
                let (n, place) = match region {
                    None => (counts[material as usize], String::new()),
                    Some((lo, hi)) => (
                        cells_in(world, material, lo, hi),
                        format!(" in {lo:?}..{hi:?}"),
                    ),
                };
                let passed = min.is_none_or(|lo| n >= lo) && max.is_none_or(|hi| n <= hi);
                let bound = match (min, max) {
                    (Some(lo), Some(hi)) => format!("in [{lo}, {hi}]"),
                    (Some(lo), None) => format!(">= {lo}"),
                    (None, Some(hi)) => format!("<= {hi}"),
                    (None, None) => "any".into(),
                };
                CheckResult {
                    kind: "count".into(),
                    passed,
                    detail: format!("{}{place} = {n}, expected {bound}", table.name(material)),
                }
            }
            Check::Level {
                material,
                min,
                max,
                tolerance,
            } => {
                let (passed, detail) = match column_counts(world, table, material, min, max) {
                    Some((lo, hi)) => (
                        hi - lo <= tolerance,
                        format!(
                            "{} columns hold {lo}..={hi} cells, expected within {tolerance}",
                            table.name(material)
                        ),
                    ),
                    None => (false, "no open column in the box".into()),
                };
                CheckResult {
                    kind: "level".into(),
                    passed,
                    detail,
                }
            }
            Check::Settled => {
                let active = world.table().awake_count();
                CheckResult {
                    kind: "settled".into(),
                    passed: active == 0,
                    detail: format!("{active} active pages"),
                }
            }
            Check::AtRest => {
                let moving: Vec<&str> = bodies
                    .map(|b| {
                        b.bodies
                            .iter()
                            .filter(|body| !body.sleeping)
                            .map(|body| body.name.as_str())
                            .collect()
                    })
                    .unwrap_or_default();
                let total = bodies.map_or(0, |b| b.bodies.len());
                CheckResult {
                    kind: "at_rest".into(),
                    passed: moving.is_empty(),
                    detail: if moving.is_empty() {
                        format!("all {total} soft bodies asleep")
                    } else {
                        format!(
                            "{} of {total} soft bodies still moving: {}",
                            moving.len(),
                            moving.join(", ")
                        )
                    },
                }
            }
            Check::Finite => {
                let bad = world.first_non_finite_temperature();
                CheckResult {
                    kind: "finite".into(),
                    passed: bad.is_none(),
                    detail: bad.map_or("all temperatures finite".into(), |p| {
                        format!("non-finite temperature at cell {p:?}")
                    }),
                }
            }
        })
        .collect()
}
/// A setup note as a line of text: `note: …`, or the warning itself where
/// the note is one (`warning: …`).
pub fn note_line(note: &str) -> String {
    if note.starts_with("warning: ") {
        note.to_string()
    } else {
        format!("note: {note}")
    }
}
