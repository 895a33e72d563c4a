//! Loam's job graph against bevy_ecs 0.16's multi-threaded executor, on the
//! same job sets, in one process, with two worker threads each.
//!
//! The workload is Loam's own benchmark module, included by path, so both
//! sides run exactly the jobs `job_set` describes: every job borrows the
//! resources it declares and adds one to the slots it writes, so frame time
//! per job is the scheduler's dispatch cost (see `src/bench/jobgraph.rs`).
//! After timing, both sides check that every slot holds the count that
//! running each job once per frame gives.
//!
//! How the bevy side is set up:
//!
//! - One `Schedule` with `ExecutorKind::MultiThreaded` (bevy_ecs's
//!   `multi_threaded` feature is on, see `Cargo.toml`) and the global
//!   `ComputeTaskPool` built with 2 threads before the first run. The calling
//!   thread only starts the executor and then waits, as Loam's caller waits
//!   in `pool.install`; systems run on the 2 pool threads.
//! - One system per job, registered in job order with no explicit ordering.
//!   Bevy does not order conflicting systems by registration as Loam does:
//!   they stay ambiguous and its executor keeps them from overlapping at run
//!   time, in whatever order it picks. So `Chain` is still serial on both
//!   sides, and every job still runs once per frame; only the order of jobs
//!   on one slot may differ (it does not change the counts).
//! - Each system declares its slots through a `FilteredResourcesMut` builder
//!   (the same `with_slot` dispatch that declares Loam's access) and borrows
//!   them with `get::<Slot<K>>()` / `get_mut::<Slot<K>>()`, as Loam's jobs
//!   use `ctx.read::<T>()` / `ctx.write::<T>()`. Plain `Res`/`ResMut`
//!   parameters need the slot types in the system's signature: 16³ = 4096
//!   instantiations of a three-parameter system for `Random`, which took
//!   4.5 minutes to compile into a 212 MB binary. Measured once that way, on
//!   this 2-core machine, bevy's ns/job at 100 jobs was within noise of this
//!   version (chain 3604 vs 3692, fanout 1673 vs 1535, random 2267 vs 1722):
//!   the per-system cost is the executor's, not the parameter fetch's.
//!
//! Run with `cargo run --release -p loam-peers --bin jobgraph`; the last line
//! is `speedup_vs_bevy: X`.

#[path = "../../../src/bench/jobgraph.rs"]
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

/// Measurements per engine and row; the table shows their median.
const ROUNDS: usize = 3;

impl<const K: usize> Resource for Slot<K> {}

/// The schedule every frame runs.
#[derive(ScheduleLabel, Clone, Debug, PartialEq, Eq, Hash)]
struct Frame;

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

fn bevy_world(set: &[JobAccess]) -> (World, Schedule) {
    let mut world = World::new();
    for k in 0..SLOTS {
        with_slot(k, InsertSlot(&mut world));
    }
    let mut schedule = Schedule::new(Frame);
    schedule.set_executor_kind(ExecutorKind::MultiThreaded);
    for access in set {
        let system = bevy_system(&mut world, access);
        schedule.add_systems(system);
    }
    schedule
        .initialize(&mut world)
        .expect("bevy schedule builds");
    (world, schedule)
}

fn bevy_ns_per_job(set: &[JobAccess], frames: u32) -> f64 {
    let (mut world, mut schedule) = bevy_world(set);
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
        "bevy ran every system once a frame"
    );
    elapsed / (f64::from(frames) * set.len() as f64)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    ComputeTaskPool::get_or_init(|| TaskPoolBuilder::new().num_threads(THREADS).build());
    println!(
        "job-graph dispatch: trivial jobs, {THREADS} worker threads each, median of {ROUNDS} runs; \
         frame = frame time (all overhead), ns/job = frame / jobs"
    );
    println!(
        "speedup_vs_bevy = bevy frame / loam frame at {HEADLINE_JOBS} jobs, \
         geometric mean over {}",
        Shape::ALL.map(Shape::name).join(", ")
    );
    println!(
        "{:<7} {:>5} {:>12} {:>12} {:>14} {:>14} {:>10}",
        "shape",
        "jobs",
        "loam ns/job",
        "bevy ns/job",
        "loam µs/frame",
        "bevy µs/frame",
        "bevy/loam"
    );
    let mut headline = Vec::new();
    for shape in Shape::ALL {
        for n in SIZES {
            let set = job_set(shape, n);
            let frames = (JOB_RUNS / n) as u32;
            let (mut loam, mut bevy) = (Vec::new(), Vec::new());
            for round in 0..ROUNDS {
                // Alternate which side goes first, so neither always runs
                // right after the other's threads went idle.
                if round % 2 == 0 {
                    loam.push(jobgraph::ns_per_job(&set, THREADS, frames));
                    bevy.push(bevy_ns_per_job(&set, frames));
                } else {
                    bevy.push(bevy_ns_per_job(&set, frames));
                    loam.push(jobgraph::ns_per_job(&set, THREADS, frames));
                }
            }
            let (loam, bevy) = (median(loam), median(bevy));
            let frame_us = |ns_per_job: f64| ns_per_job * n as f64 / 1000.0;
            println!(
                "{:<7} {:>5} {:>12.0} {:>12.0} {:>14.1} {:>14.1} {:>10.2}",
                shape.name(),
                n,
                loam,
                bevy,
                frame_us(loam),
                frame_us(bevy),
                bevy / loam
            );
            if n == HEADLINE_JOBS {
                headline.push(bevy / loam);
            }
        }
    }
    let geomean = headline.iter().map(|r| r.ln()).sum::<f64>() / headline.len() as f64;
    println!("speedup_vs_bevy: {:.2}", geomean.exp());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bevy_runs_every_system_once_per_frame() {
        ComputeTaskPool::get_or_init(|| TaskPoolBuilder::new().num_threads(THREADS).build());
        for shape in Shape::ALL {
            // `bevy_ns_per_job` asserts the slot counts itself.
            let ns = bevy_ns_per_job(&job_set(shape, 40), 5);
            assert!(ns.is_finite() && ns > 0.0, "{}", shape.name());
        }
    }
}
