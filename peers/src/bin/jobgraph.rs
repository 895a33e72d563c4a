//! Loam's job graph against bevy_ecs 0.16's multi-threaded executor, on the
//! same job sets, in one process, with two worker threads each.
//!
//! The workload is Loam's own benchmark module, included by path, so both
//! sides run exactly the jobs `job_set` describes. Every job borrows the
//! resources it declares and adds one to the slots it writes; frame time per
//! job is then the scheduler's dispatch cost. See `src/bench/jobgraph.rs`.
//!
//! Run with `cargo run --release -p loam-peers --bin jobgraph`.

#[path = "../../../src/bench/jobgraph.rs"]
mod jobgraph;

use std::hint::black_box;
use std::time::Instant;

use bevy_ecs::prelude::*;
use bevy_ecs::schedule::{ExecutorKind, ScheduleConfigs, ScheduleLabel};
use bevy_ecs::system::ScheduleSystem;
use bevy_tasks::{ComputeTaskPool, TaskPoolBuilder};

use jobgraph::{expected_counts, job_set, with_slot, JobAccess, Shape, Slot, SlotFn, SLOTS};

/// Worker threads for both schedulers.
const THREADS: usize = 2;

/// Job sizes in the table.
const SIZES: [usize; 3] = [10, 100, 1000];

/// Job runs per measurement: frames = this / jobs, so every row costs
/// about the same time.
const JOB_RUNS: usize = 1_000_000;

impl<const K: usize> Resource for Slot<K> {}

/// The schedule every frame runs.
#[derive(ScheduleLabel, Clone, Debug, PartialEq, Eq, Hash)]
struct Frame;

fn write_only<const W: usize>(mut w: ResMut<Slot<W>>) {
    w.0 = black_box(w.0) + 1;
}

fn read_write<const R: usize, const W: usize>(r: Res<Slot<R>>, mut w: ResMut<Slot<W>>) {
    black_box(r.0);
    w.0 = black_box(w.0) + 1;
}

fn read2_write<const R0: usize, const R1: usize, const W: usize>(
    r0: Res<Slot<R0>>,
    r1: Res<Slot<R1>>,
    mut w: ResMut<Slot<W>>,
) {
    black_box(r0.0.wrapping_add(r1.0));
    w.0 = black_box(w.0) + 1;
}

type Config = ScheduleConfigs<ScheduleSystem>;

struct WriteOnly;
impl SlotFn for WriteOnly {
    type Output = Config;
    fn call<const W: usize>(self) -> Config {
        write_only::<W>.into_configs()
    }
}

struct ReadThen {
    w: usize,
}
impl SlotFn for ReadThen {
    type Output = Config;
    fn call<const R: usize>(self) -> Config {
        with_slot(self.w, ReadWrite::<R>)
    }
}

struct ReadWrite<const R: usize>;
impl<const R: usize> SlotFn for ReadWrite<R> {
    type Output = Config;
    fn call<const W: usize>(self) -> Config {
        read_write::<R, W>.into_configs()
    }
}

struct Read2Then {
    r1: usize,
    w: usize,
}
impl SlotFn for Read2Then {
    type Output = Config;
    fn call<const R0: usize>(self) -> Config {
        with_slot(self.r1, Read2ThenW::<R0> { w: self.w })
    }
}

struct Read2ThenW<const R0: usize> {
    w: usize,
}
impl<const R0: usize> SlotFn for Read2ThenW<R0> {
    type Output = Config;
    fn call<const R1: usize>(self) -> Config {
        with_slot(self.w, Read2Write::<R0, R1>)
    }
}

struct Read2Write<const R0: usize, const R1: usize>;
impl<const R0: usize, const R1: usize> SlotFn for Read2Write<R0, R1> {
    type Output = Config;
    fn call<const W: usize>(self) -> Config {
        read2_write::<R0, R1, W>.into_configs()
    }
}

fn bevy_system(access: &JobAccess) -> Config {
    match (access.reads.as_slice(), access.writes.as_slice()) {
        ([], [w]) => with_slot(*w, WriteOnly),
        ([r], [w]) => with_slot(*r, ReadThen { w: *w }),
        ([r0, r1], [w]) => with_slot(*r0, Read2Then { r1: *r1, w: *w }),
        _ => panic!("no bevy system for access {access:?}"),
    }
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
        schedule.add_systems(bevy_system(access));
    }
    schedule.initialize(&mut world).expect("bevy schedule builds");
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
    assert_eq!(counts, expected_counts(set, runs), "bevy ran every system once a frame");
    elapsed / (f64::from(frames) * set.len() as f64)
}

fn main() {
    ComputeTaskPool::get_or_init(|| TaskPoolBuilder::new().num_threads(THREADS).build());
    for shape in Shape::ALL {
        for n in SIZES {
            let set = job_set(shape, n);
            let frames = (JOB_RUNS / n) as u32;
            let loam = jobgraph::ns_per_job(&set, THREADS, frames);
            let bevy = bevy_ns_per_job(&set, frames);
            println!("{} {n} {loam:.0} {bevy:.0}", shape.name());
        }
    }
}
