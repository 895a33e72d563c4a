//! Loam's job graph against bevy_ecs 0.16's multi-threaded executor, on the
//! same job sets, in one process, with two worker threads each.
//!
//! The workload is Loam's own benchmark module, included by path, so both
//! sides run exactly the jobs `job_set` describes: every job borrows the
//! resources it declares and adds one to the slots it writes, so frame time
//! per job is the scheduler's dispatch cost (see `bench/src/jobgraph.rs`).
//! After timing, every side checks that every slot holds the count that
//! running each job once per frame gives.
//!
//! How the bevy side is set up:
//!
//! - One `Schedule` with `ExecutorKind::MultiThreaded` (bevy_ecs's
//!   `multi_threaded` feature is on, see `Cargo.toml`) and the global
//!   `ComputeTaskPool` built with 2 threads before the first run. The calling
//!   thread only starts the executor and then waits, as Loam's caller waits
//!   in `pool.install`; systems run on the 2 pool threads.
//! - One system per job, registered in job order, in two variants:
//!   - **ordered** (the headline): each system is in its own `JobSet(i)` and
//!     runs `.after()` the jobs Loam orders it after: for every slot it
//!     writes, the slot's last earlier writer and the readers since; for
//!     every slot it reads, the slot's last earlier writer ([`predecessors`]).
//!     Every conflicting pair `i < j` is then ordered `i` before `j`, as Loam
//!     orders it by registration; bevy reduces the edges transitively as Loam
//!     does, and the built schedule is checked to have no ambiguous
//!     conflicting pairs left. Both schedulers then have the same graph to
//!     walk.
//!   - **ambiguous**: no ordering at all. Bevy does not order conflicting
//!     systems by registration: they stay ambiguous and its executor keeps
//!     them from overlapping at run time, rescanning the waiting systems'
//!     accesses as each one finishes, in whatever order it picks. That is
//!     bevy's default when nobody adds edges, but it is a different (and
//!     much slower) job than walking a graph, so it is shown for reference
//!     only. `Chain` is still serial and every job still runs once per
//!     frame; only the order of jobs on one slot may differ (it does not
//!     change the counts).
//! - Each system declares its slots through a `FilteredResourcesMut` builder
//!   (the same `with_slot` dispatch that declares Loam's access) and borrows
//!   them with `get::<Slot<K>>()` / `get_mut::<Slot<K>>()`, as Loam's jobs
//!   use `ctx.read::<T>()` / `ctx.write::<T>()`. Plain `Res`/`ResMut`
//!   parameters need the slot types in the system's signature: 16³ = 4096
//!   instantiations of a three-parameter system for `Random`, which took
//!   4.5 minutes to compile into a 212 MB binary. Measured once that way
//!   (ambiguous variant), on this 2-core machine, bevy's ns/job at 100 jobs
//!   was within noise of this version (chain 3604 vs 3692, fanout 1673 vs
//!   1535, random 2267 vs 1722): the per-system cost is the executor's, not
//!   the parameter fetch's.
//!
//! Run with `cargo run --release -p loam-peers --bin jobgraph`; the last two
//! lines are `speedup_vs_bevy_ambiguous: Y` and `speedup_vs_bevy: X`, X being
//! the ordered (like-for-like) comparison.
//!
//! With `LOAM_PEERS_QUICK=1` (any value but empty or `0`) it runs one round
//! of a fraction of the job runs: the same table in a few seconds, too noisy
//! to quote, for checking that the comparison still builds and runs (CI's
//! `.ci/readme.sh` does).

// The workload's own file, so that its slot types are local here and can
// be bevy resources.
#[path = "../../../bench/src/jobgraph.rs"]
mod jobgraph;

use std::hint::black_box;
use std::time::Instant;

use bevy_ecs::prelude::*;
use bevy_ecs::schedule::{ExecutorKind, ScheduleLabel};
use bevy_ecs::system::{FilteredResourcesMutParamBuilder, SystemParamBuilder};
use bevy_ecs::world::{FilteredResourcesMut, FilteredResourcesMutBuilder};
use bevy_tasks::{ComputeTaskPool, TaskPoolBuilder};

use jobgraph::{expected_counts, job_set, with_slot, JobAccess, Shape, Slot, SlotFn, SLOTS};

/// Worker threads for both schedulers.
const THREADS: usize = 2;

/// Job counts in the table.
const SIZES: [usize; 3] = [10, 100, 1000];

/// The job count the headline speedup is taken at.
const HEADLINE_JOBS: usize = 100;

/// Job runs per timed measurement: frames = this / jobs, so every row
/// costs about the same number of job runs.
const JOB_RUNS: usize = 150_000;

/// Job runs per timed measurement of bevy ambiguous, which is shown for
/// reference only and is up to ~100 times slower per job at 1000 jobs: with
/// [`JOB_RUNS`] it alone would take half a minute.
const AMBIGUOUS_JOB_RUNS: usize = 50_000;

/// Measurements per engine and row; the table shows their median.
const ROUNDS: usize = 3;

/// The environment variable that selects the [`Budget::QUICK`] run.
const QUICK_ENV: &str = "LOAM_PEERS_QUICK";

/// How much timing a run does.
#[derive(Clone, Copy, Debug)]
struct Budget {
    /// Job runs per timed measurement of Loam and bevy ordered.
    job_runs: usize,
    /// Job runs per timed measurement of bevy ambiguous.
    ambiguous_job_runs: usize,
    /// Measurements per engine and row.
    rounds: usize,
}

impl Budget {
    /// The run whose numbers `BENCHMARKS.md` quotes.
    const FULL: Budget = Budget {
        job_runs: JOB_RUNS,
        ambiguous_job_runs: AMBIGUOUS_JOB_RUNS,
        rounds: ROUNDS,
    };

    /// A smoke run: one round, a thirtieth of the job runs (a few frames a
    /// row at 1000 jobs).
    const QUICK: Budget = Budget {
        job_runs: JOB_RUNS / 30,
        ambiguous_job_runs: AMBIGUOUS_JOB_RUNS / 30,
        rounds: 1,
    };

    /// Whether [`QUICK_ENV`] asks for [`Budget::QUICK`]: set to anything but
    /// empty or `0`.
    fn quick_from_env() -> bool {
        std::env::var_os(QUICK_ENV).is_some_and(|v| !v.is_empty() && v != "0")
    }
}

impl<const K: usize> Resource for Slot<K> {}

/// The schedule every frame runs.
#[derive(ScheduleLabel, Clone, Debug, PartialEq, Eq, Hash)]
struct Frame;

/// The set holding only job `i`'s system, so other systems can be ordered
/// after it (the systems all have one closure type, so their type sets
/// cannot tell them apart).
#[derive(SystemSet, Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct JobSet(usize);

/// How the bevy schedule orders conflicting systems.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ordering {
    /// `.after()` edges matching Loam's registration-order graph.
    Ordered,
    /// No edges: conflicts are resolved by the executor at run time.
    Ambiguous,
}

/// For each job of `set`, the earlier jobs it must run after, as Loam orders
/// them: a write waits for the slot's last earlier writer and every reader
/// since; a read waits for the slot's last earlier writer. Every conflicting
/// pair `i < j` is ordered through these edges (writers of a slot form a
/// chain, each reader sits between two of them), which are not yet
/// transitively reduced; bevy reduces them when it builds the schedule.
fn predecessors(set: &[JobAccess]) -> Vec<Vec<usize>> {
    let mut last_writer: [Option<usize>; SLOTS] = [None; SLOTS];
    let mut readers_since: [Vec<usize>; SLOTS] = std::array::from_fn(|_| Vec::new());
    set.iter()
        .enumerate()
        .map(|(j, access)| {
            let mut preds: Vec<usize> = Vec::new();
            for &r in &access.reads {
                preds.extend(last_writer[r]);
            }
            for &w in &access.writes {
                preds.extend(last_writer[w]);
                preds.extend(&readers_since[w]);
            }
            for &r in &access.reads {
                readers_since[r].push(j);
            }
            for &w in &access.writes {
                last_writer[w] = Some(j);
                readers_since[w].clear();
            }
            preds.sort_unstable();
            preds.dedup();
            preds
        })
        .collect()
}

/// Adds a read of `Slot<K>` to a bevy system's declared access.
struct DeclareRead<'a, 'w>(&'a mut FilteredResourcesMutBuilder<'w>);
impl SlotFn for DeclareRead<'_, '_> {
    type Output = ();
    fn call<const K: usize>(self) {
        self.0.add_read::<Slot<K>>();
    }
}

/// Adds a write of `Slot<K>` to a bevy system's declared access.
struct DeclareWrite<'a, 'w>(&'a mut FilteredResourcesMutBuilder<'w>);
impl SlotFn for DeclareWrite<'_, '_> {
    type Output = ();
    fn call<const K: usize>(self) {
        self.0.add_write::<Slot<K>>();
    }
}

type ReadFn = fn(&FilteredResourcesMut<'_, '_>) -> u64;
type BumpFn = fn(&mut FilteredResourcesMut<'_, '_>);

/// Borrows `Slot<K>` for reading (`Res<Slot<K>>`) and returns its value.
struct ReadOf;
impl SlotFn for ReadOf {
    type Output = ReadFn;
    fn call<const K: usize>(self) -> ReadFn {
        |res| res.get::<Slot<K>>().expect("declared read").0
    }
}

/// Borrows `Slot<K>` for writing (`ResMut<Slot<K>>`) and adds one.
struct BumpOf;
impl SlotFn for BumpOf {
    type Output = BumpFn;
    fn call<const K: usize>(self) -> BumpFn {
        |res| {
            let mut slot = res.get_mut::<Slot<K>>().expect("declared write");
            slot.0 = black_box(slot.0) + 1;
        }
    }
}

/// The bevy system of one job: declares `access` through a
/// `FilteredResourcesMut` builder and, when run, borrows each slot as a
/// `Ref`/`Mut` (what `Res`/`ResMut` hold) and adds one to the written ones.
fn bevy_system(world: &mut World, access: &JobAccess) -> impl System<In = (), Out = ()> {
    let reads: Vec<ReadFn> = access.reads.iter().map(|&r| with_slot(r, ReadOf)).collect();
    let bumps: Vec<BumpFn> = access
        .writes
        .iter()
        .map(|&w| with_slot(w, BumpOf))
        .collect();
    let declare = FilteredResourcesMutParamBuilder::new(|b: &mut FilteredResourcesMutBuilder| {
        for &r in &access.reads {
            with_slot(r, DeclareRead(b));
        }
        for &w in &access.writes {
            with_slot(w, DeclareWrite(b));
        }
    });
    (declare,)
        .build_state(world)
        .build_system(move |mut res: FilteredResourcesMut| {
            let mut seen = 0u64;
            for read in &reads {
                seen = seen.wrapping_add(read(&res));
            }
            black_box(seen);
            for bump in &bumps {
                bump(&mut res);
            }
        })
}

struct InsertSlot<'a>(&'a mut World);
impl SlotFn for InsertSlot<'_> {
    type Output = ();
    fn call<const K: usize>(self) {
        self.0.insert_resource(Slot::<K>(0));
    }
}

struct SlotValue<'a>(&'a World);
impl SlotFn for SlotValue<'_> {
    type Output = u64;
    fn call<const K: usize>(self) -> u64 {
        self.0.resource::<Slot<K>>().0
    }
}

fn bevy_world(set: &[JobAccess], ordering: Ordering) -> (World, Schedule) {
    let mut world = World::new();
    for k in 0..SLOTS {
        with_slot(k, InsertSlot(&mut world));
    }
    let mut schedule = Schedule::new(Frame);
    schedule.set_executor_kind(ExecutorKind::MultiThreaded);
    match ordering {
        Ordering::Ambiguous => {
            for access in set {
                let system = bevy_system(&mut world, access);
                schedule.add_systems(system);
            }
        }
        Ordering::Ordered => {
            for (j, (access, preds)) in set.iter().zip(predecessors(set)).enumerate() {
                let mut system = bevy_system(&mut world, access).in_set(JobSet(j));
                for i in preds {
                    system = system.after(JobSet(i));
                }
                schedule.add_systems(system);
            }
        }
    }
    schedule
        .initialize(&mut world)
        .expect("bevy schedule builds");
    if ordering == Ordering::Ordered {
        assert!(
            schedule.graph().conflicting_systems().is_empty(),
            "the ordered bevy schedule leaves no conflicting pair ambiguous"
        );
    }
    (world, schedule)
}

fn bevy_ns_per_job(set: &[JobAccess], ordering: Ordering, frames: u32) -> f64 {
    let (mut world, mut schedule) = bevy_world(set, ordering);
    for _ in 0..jobgraph::WARMUP_FRAMES {
        schedule.run(&mut world);
    }
    let started = Instant::now();
    for _ in 0..frames {
        schedule.run(&mut world);
    }
    let elapsed = started.elapsed().as_nanos() as f64;
    let counts: [u64; SLOTS] = std::array::from_fn(|k| with_slot(k, SlotValue(&world)));
    let runs = u64::from(jobgraph::WARMUP_FRAMES + frames);
    assert_eq!(
        counts,
        expected_counts(set, runs),
        "bevy ({ordering:?}) ran every system once a frame"
    );
    elapsed / (f64::from(frames) * set.len() as f64)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// Geometric mean of `xs`.
fn geomean(xs: &[f64]) -> f64 {
    (xs.iter().map(|x| x.ln()).sum::<f64>() / xs.len() as f64).exp()
}

/// The three engines of a row.
const ENGINES: usize = 3;

/// ns/job of engine `e` (0 Loam, 1 bevy ordered, 2 bevy ambiguous) on `set`.
fn engine_ns_per_job(e: usize, set: &[JobAccess], budget: Budget) -> f64 {
    let frames = |job_runs: usize| (job_runs / set.len()).max(1) as u32;
    match e {
        0 => jobgraph::ns_per_job(set, THREADS, frames(budget.job_runs)),
        1 => bevy_ns_per_job(set, Ordering::Ordered, frames(budget.job_runs)),
        _ => bevy_ns_per_job(set, Ordering::Ambiguous, frames(budget.ambiguous_job_runs)),
    }
}

fn main() {
    let quick = Budget::quick_from_env();
    let budget = if quick { Budget::QUICK } else { Budget::FULL };
    ComputeTaskPool::get_or_init(|| TaskPoolBuilder::new().num_threads(THREADS).build());
    if quick {
        println!("{QUICK_ENV} is set: a quick run, too short and noisy to quote");
    }
    println!(
        "job-graph dispatch: trivial jobs, {THREADS} worker threads each, median of {} runs \
         of {} job runs ({} for bevy ambiguous); \
         frame = frame time (all overhead), ns/job = frame / jobs",
        budget.rounds, budget.job_runs, budget.ambiguous_job_runs
    );
    println!(
        "bevy ordered = systems given .after() edges for every conflicting pair, as Loam \
         derives them (like for like); bevy ambiguous = no edges, conflicts resolved by \
         bevy's executor at run time"
    );
    println!(
        "speedup_vs_bevy = bevy ordered frame / loam frame at {HEADLINE_JOBS} jobs, \
         geometric mean over {}; speedup_vs_bevy_ambiguous = the same for bevy ambiguous",
        Shape::ALL.map(Shape::name).join(", ")
    );
    println!(
        "{:<7} {:>5} {:>11} {:>19} {:>21} {:>13} {:>21} {:>23} {:>12} {:>14}",
        "shape",
        "jobs",
        "loam ns/job",
        "bevy ordered ns/job",
        "bevy ambiguous ns/job",
        "loam µs/frame",
        "bevy ordered µs/frame",
        "bevy ambiguous µs/frame",
        "ordered/loam",
        "ambiguous/loam"
    );
    let (mut ordered_ratios, mut ambiguous_ratios) = (Vec::new(), Vec::new());
    for shape in Shape::ALL {
        for n in SIZES {
            let set = job_set(shape, n);
            let mut samples: [Vec<f64>; ENGINES] = Default::default();
            for round in 0..budget.rounds {
                // Rotate which engine goes first, so none always runs right
                // after another's threads went idle.
                for k in 0..ENGINES {
                    let e = (round + k) % ENGINES;
                    samples[e].push(engine_ns_per_job(e, &set, budget));
                }
            }
            let [loam, ordered, ambiguous] = samples.map(median);
            let frame_us = |ns_per_job: f64| ns_per_job * n as f64 / 1000.0;
            println!(
                "{:<7} {:>5} {:>11.0} {:>19.0} {:>21.0} {:>13.1} {:>21.1} {:>23.1} {:>12.2} {:>14.2}",
                shape.name(),
                n,
                loam,
                ordered,
                ambiguous,
                frame_us(loam),
                frame_us(ordered),
                frame_us(ambiguous),
                ordered / loam,
                ambiguous / loam
            );
            if n == HEADLINE_JOBS {
                ordered_ratios.push(ordered / loam);
                ambiguous_ratios.push(ambiguous / loam);
            }
        }
    }
    println!(
        "speedup_vs_bevy_ambiguous: {:.2}",
        geomean(&ambiguous_ratios)
    );
    println!("speedup_vs_bevy: {:.2}", geomean(&ordered_ratios));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bevy_runs_every_system_once_per_frame() {
        ComputeTaskPool::get_or_init(|| TaskPoolBuilder::new().num_threads(THREADS).build());
        for shape in Shape::ALL {
            for ordering in [Ordering::Ordered, Ordering::Ambiguous] {
                // `bevy_ns_per_job` asserts the slot counts itself.
                let ns = bevy_ns_per_job(&job_set(shape, 40), ordering, 5);
                assert!(ns.is_finite() && ns > 0.0, "{} {ordering:?}", shape.name());
            }
        }
    }

    fn conflicting(a: &JobAccess, b: &JobAccess) -> bool {
        let touches = |x: &JobAccess, k: usize| x.reads.contains(&k) || x.writes.contains(&k);
        a.writes.iter().any(|&w| touches(b, w)) || b.writes.iter().any(|&w| touches(a, w))
    }

    #[test]
    fn predecessors_order_exactly_the_conflicting_pairs_by_registration() {
        for shape in Shape::ALL {
            let n = 80;
            let set = job_set(shape, n);
            let preds = predecessors(&set);
            // `reach[j][i]`: job `i` runs before job `j` through some edges.
            let mut reach = vec![vec![false; n]; n];
            for j in 0..n {
                for &i in &preds[j] {
                    assert!(i < j, "{}: edge against registration order", shape.name());
                    assert!(
                        conflicting(&set[i], &set[j]),
                        "{}: needless edge",
                        shape.name()
                    );
                    reach[j][i] = true;
                    let before = reach[i].clone();
                    for (r, b) in reach[j].iter_mut().zip(before) {
                        *r |= b;
                    }
                }
            }
            for j in 0..n {
                for i in 0..j {
                    if conflicting(&set[i], &set[j]) {
                        assert!(reach[j][i], "{}: job{i} must precede job{j}", shape.name());
                    }
                }
            }
        }
    }

    #[test]
    fn ambiguous_schedule_leaves_conflicts_to_the_executor() {
        let (_, schedule) = bevy_world(&job_set(Shape::Chain, 10), Ordering::Ambiguous);
        assert_eq!(schedule.graph().conflicting_systems().len(), 45);
        // The ordered one asserts in `bevy_world` that none are left.
        bevy_world(&job_set(Shape::Chain, 10), Ordering::Ordered);
    }
}
