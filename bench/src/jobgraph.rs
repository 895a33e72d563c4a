//! The job-graph benchmark workload: how much a frame costs per job when the
//! jobs themselves do (almost) nothing.
//!
//! Each job borrows the resources it declared and adds one to the slots it
//! writes, so nearly all of a frame's time is the runtime's own work:
//! walking the compiled graph, decrementing dependency counters, handing
//! ready jobs to worker threads, and the per-job bookkeeping around the body
//! (locks, borrow checks, statistics). Frame time divided by the number of
//! jobs is that dispatch cost, in ns per job. It bounds how finely work can
//! be split into jobs before the scheduler costs more than the work.
//!
//! Three shapes of job graph, over 16 resources [`Slot`]`<0>` to `Slot<15>`:
//!
//! - [`Shape::Chain`]: every job writes `Slot<0>`, so the graph is one serial
//!   chain and measures the cost of handing a job to its successor.
//! - [`Shape::FanOut`]: job 0 writes `Slot<0>`; every other job `i` reads
//!   `Slot<0>` and writes `Slot<1 + i % 15>`. Job 0 precedes all of them;
//!   after it, up to 15 jobs can run at once, and jobs whose indices are equal
//!   mod 15 share a written slot, so they form 15 chains (with 100 jobs,
//!   chains of 6 or 7).
//! - [`Shape::Random`]: job `i` reads two slots and writes a third, all
//!   distinct, drawn from `hash3(RANDOM_SEED, 0, i)`: a tangled graph with
//!   some parallelism, the same on every run.
//!
//! The workload depends on `loam_runtime` and `std` only, so the peer
//! comparison (`peers/src/bin/jobgraph.rs`) includes this very file and runs
//! the same job sets on other schedulers.

use std::hint::black_box;
use std::time::Instant;

use loam_runtime::random::hash3;
use loam_runtime::{Engine, EngineConfig, Job, JobContext, JobError};

/// Number of slot resources, `Slot<0>` to `Slot<15>`.
pub const SLOTS: usize = 16;

/// Seed of the random shape's slot choices.
pub const RANDOM_SEED: u64 = 0x10A4_5EED;

/// Frames run before timing starts, so pools, caches and branch predictors
/// are warm.
pub const WARMUP_FRAMES: u32 = 20;

/// A counter resource; the sixteen values of `K` are sixteen distinct types.
#[derive(Debug, Default)]
pub struct Slot<const K: usize>(pub u64);

/// Something to do with one slot type, chosen at run time by [`with_slot`].
pub trait SlotFn {
    /// What the call returns.
    type Output;
    /// Does it for `Slot<K>`.
    fn call<const K: usize>(self) -> Self::Output;
}

/// Expands to a `match` of `$k` calling `$f.call::<N>()` for each listed `N`.
macro_rules! slot_match {
    ($k:expr, $f:expr; $($n:literal)*) => {
        match $k {
            $($n => $f.call::<$n>(),)*
            k => panic!("slot index {k} is not below {SLOTS}"),
        }
    };
}

/// Calls `f` with the type `Slot<k>` for a run-time index `k` below [`SLOTS`].
///
/// # Panics
///
/// If `k >= SLOTS`.
pub fn with_slot<F: SlotFn>(k: usize, f: F) -> F::Output {
    slot_match!(k, f; 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15)
}

/// The shape of a job set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// Every job writes the same slot: one serial chain.
    Chain,
    /// One writer, then readers spread over 15 slots of their own.
    FanOut,
    /// Two reads and one write per job, at random.
    Random,
}

impl Shape {
    /// All shapes, in table order.
    pub const ALL: [Shape; 3] = [Shape::Chain, Shape::FanOut, Shape::Random];

    /// Short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Shape::Chain => "chain",
            Shape::FanOut => "fanout",
            Shape::Random => "random",
        }
    }
}

/// The slots one job reads and writes, by index (never both for one slot).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobAccess {
    /// Slots only read.
    pub reads: Vec<usize>,
    /// Slots written.
    pub writes: Vec<usize>,
}

/// The accesses of `n` jobs of `shape`, in registration order.
pub fn job_set(shape: Shape, n: usize) -> Vec<JobAccess> {
    (0..n)
        .map(|i| match shape {
            Shape::Chain => JobAccess {
                reads: vec![],
                writes: vec![0],
            },
            Shape::FanOut if i == 0 => JobAccess {
                reads: vec![],
                writes: vec![0],
            },
            Shape::FanOut => JobAccess {
                reads: vec![0],
                writes: vec![1 + i % (SLOTS - 1)],
            },
            Shape::Random => random_access(i),
        })
        .collect()
}

/// Three distinct slots for job `i`: a partial Fisher–Yates shuffle of the
/// slot indices, each draw taking 16 bits of one hash.
fn random_access(i: usize) -> JobAccess {
    let h = hash3(RANDOM_SEED, 0, i as u64);
    let mut slots: [usize; SLOTS] = std::array::from_fn(|k| k);
    for d in 0..3 {
        let bits = (h >> (16 * d)) as usize & 0xFFFF;
        slots.swap(d, d + bits % (SLOTS - d));
    }
    JobAccess {
        reads: vec![slots[0], slots[1]],
        writes: vec![slots[2]],
    }
}

/// How much each slot grows over `frames` frames of `set`: one per frame for
/// every job that writes it.
pub fn expected_counts(set: &[JobAccess], frames: u64) -> [u64; SLOTS] {
    let mut counts = [0; SLOTS];
    for &w in set.iter().flat_map(|a| &a.writes) {
        counts[w] += frames;
    }
    counts
}

/// Loam's operations on one slot type, as function pointers so that a job
/// body can hold them without being generic.
#[derive(Clone, Copy)]
struct LoamSlot {
    insert: fn(&mut Engine),
    declare_read: fn(Job) -> Job,
    declare_write: fn(Job) -> Job,
    read: fn(&JobContext<'_>) -> Result<u64, JobError>,
    bump: fn(&JobContext<'_>, u64) -> Result<(), JobError>,
    value: fn(&Engine) -> u64,
}

struct LoamSlotOf;

impl SlotFn for LoamSlotOf {
    type Output = LoamSlot;
    fn call<const K: usize>(self) -> LoamSlot {
        LoamSlot {
            insert: |engine| engine.insert_resource(Slot::<K>(0)),
            declare_read: |job| job.reads::<Slot<K>>(),
            declare_write: |job| job.writes::<Slot<K>>(),
            read: |ctx| Ok(ctx.read::<Slot<K>>()?.0),
            bump: |ctx, seen| {
                // Consuming `seen` keeps the reads from being optimised away.
                black_box(seen);
                let mut slot = ctx.write::<Slot<K>>()?;
                slot.0 = black_box(slot.0) + 1;
                Ok(())
            },
            value: |engine| engine.resource::<Slot<K>>().map_or(0, |s| s.0),
        }
    }
}

fn loam_slot(k: usize) -> LoamSlot {
    with_slot(k, LoamSlotOf)
}

/// Whether two jobs touch a slot that one of them writes.
fn conflicting(a: &JobAccess, b: &JobAccess) -> bool {
    let touches = |x: &JobAccess, k: usize| x.reads.contains(&k) || x.writes.contains(&k);
    a.writes.iter().any(|&w| touches(b, w)) || b.writes.iter().any(|&w| touches(a, w))
}

/// The job `job{i}` of `set`, with access `set[i]`: it borrows every
/// declared slot and adds one to each slot it writes. All jobs share a
/// stage, so it runs after each earlier job it conflicts with, explicitly
/// (the graph reduces those edges to the ones it needs).
fn loam_job(set: &[JobAccess], i: usize) -> Job {
    let access = &set[i];
    let mut job = Job::new(format!("job{i}"));
    for j in (0..i).filter(|&j| conflicting(access, &set[j])) {
        job = job.after(format!("job{j}"));
    }
    for &r in &access.reads {
        job = (loam_slot(r).declare_read)(job);
    }
    for &w in &access.writes {
        job = (loam_slot(w).declare_write)(job);
    }
    let reads: Vec<_> = access.reads.iter().map(|&r| loam_slot(r).read).collect();
    let bumps: Vec<_> = access.writes.iter().map(|&w| loam_slot(w).bump).collect();
    job.run(move |ctx| {
        let mut seen = 0u64;
        for read in &reads {
            seen = seen.wrapping_add(read(ctx)?);
        }
        for bump in &bumps {
            bump(ctx, seen)?;
        }
        Ok(())
    })
}

/// An engine on `threads` workers holding all slots and one job per entry of
/// `set`, with its graph already compiled.
pub fn loam_engine(set: &[JobAccess], threads: usize) -> Engine {
    let mut engine = Engine::new(EngineConfig {
        threads,
        ..EngineConfig::default()
    })
    .expect("thread pool for the benchmark engine");
    for k in 0..SLOTS {
        (loam_slot(k).insert)(&mut engine);
    }
    for i in 0..set.len() {
        engine.add_job(loam_job(set, i));
    }
    engine.compile().expect("benchmark job graph compiles");
    engine
}

/// The current value of every slot of `engine`.
pub fn slot_counts(engine: &Engine) -> [u64; SLOTS] {
    std::array::from_fn(|k| (loam_slot(k).value)(engine))
}

/// Wall time per job of one Loam frame of `set` on `threads` workers, in ns:
/// [`WARMUP_FRAMES`] untimed frames, then `frames` timed ones.
///
/// # Panics
///
/// If a frame fails, or if afterwards a slot does not hold the count that
/// running every job once per frame gives (the timed frames did the work).
pub fn ns_per_job(set: &[JobAccess], threads: usize, frames: u32) -> f64 {
    let mut engine = loam_engine(set, threads);
    engine
        .run(u64::from(WARMUP_FRAMES))
        .expect("warm-up frames run");
    let started = Instant::now();
    for _ in 0..frames {
        engine.step().expect("benchmark frame runs");
    }
    let elapsed = started.elapsed().as_nanos() as f64;
    let runs = u64::from(WARMUP_FRAMES + frames);
    assert_eq!(slot_counts(&engine), expected_counts(set, runs));
    elapsed / (f64::from(frames) * set.len().max(1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// The compiled graph of `engine` as (job, dependent) name pairs, read
    /// from `Engine::describe_graph` (`name -> [a, b]` per line).
    fn edges(engine: &mut Engine) -> Vec<(String, String)> {
        let listing = engine.describe_graph().unwrap();
        let mut out = Vec::new();
        // `stage job -> [next, ...]`, then a summary line.
        for line in listing.lines().filter(|l| l.contains(" -> ")) {
            let (from, to) = line.split_once(" -> ").unwrap();
            let from = from.split_whitespace().last().unwrap();
            let to = to.trim_start_matches('[').trim_end_matches(']');
            for d in to.split(", ").filter(|d| !d.is_empty()) {
                out.push((from.to_string(), d.to_string()));
            }
        }
        out
    }

    /// `reach[i][j]`: job `j` runs after job `i` through some path of edges.
    fn reachability(n: usize, edges: &[(String, String)]) -> Vec<Vec<bool>> {
        let index: HashMap<String, usize> = (0..n).map(|i| (format!("job{i}"), i)).collect();
        let mut succ = vec![Vec::new(); n];
        for (a, b) in edges {
            succ[index[a]].push(index[b]);
        }
        (0..n)
            .map(|start| {
                let mut seen = vec![false; n];
                let mut stack = succ[start].clone();
                while let Some(j) = stack.pop() {
                    if !std::mem::replace(&mut seen[j], true) {
                        stack.extend(&succ[j]);
                    }
                }
                seen
            })
            .collect()
    }

    #[test]
    fn job_sets_have_the_requested_size_and_valid_slots() {
        for shape in Shape::ALL {
            for n in [0, 1, 10, 100] {
                let set = job_set(shape, n);
                assert_eq!(set.len(), n, "{}", shape.name());
                for a in &set {
                    assert!(a.reads.iter().chain(&a.writes).all(|&k| k < SLOTS));
                    assert!(a.reads.iter().all(|r| !a.writes.contains(r)));
                }
            }
        }
    }

    #[test]
    fn random_jobs_read_two_and_write_a_third_slot_deterministically() {
        let set = job_set(Shape::Random, 200);
        assert_eq!(set, job_set(Shape::Random, 200));
        for a in &set {
            assert_eq!((a.reads.len(), a.writes.len()), (2, 1));
            assert_ne!(a.reads[0], a.reads[1]);
        }
        // Every slot gets written by someone: the draws are spread out.
        assert!(expected_counts(&set, 1).iter().all(|&c| c > 0));
    }

    #[test]
    fn chain_compiles_to_one_path_of_n_minus_one_edges() {
        let set = job_set(Shape::Chain, 10);
        let edges = edges(&mut loam_engine(&set, 1));
        assert_eq!(edges.len(), 9);
        for (i, (a, b)) in edges.iter().enumerate() {
            assert_eq!(
                (a.as_str(), b.as_str()),
                (&*format!("job{i}"), &*format!("job{}", i + 1))
            );
        }
    }

    #[test]
    fn fanout_root_precedes_all_and_readers_form_fifteen_chains() {
        let n = 100;
        let set = job_set(Shape::FanOut, n);
        let edges = edges(&mut loam_engine(&set, 1));
        let reach = reachability(n, &edges);
        assert!((1..n).all(|j| reach[0][j]), "job0 must precede every job");
        // After reduction job0 waits only on nothing and points at the head of
        // each of the 15 chains; each later reader follows the one 15 before.
        let from_root = edges.iter().filter(|(a, _)| a == "job0").count();
        assert_eq!(from_root, SLOTS - 1);
        assert_eq!(edges.len(), (SLOTS - 1) + (n - SLOTS));
        assert!(
            !reach[1][2] && !reach[2][1],
            "different slots run in parallel"
        );
    }

    #[test]
    fn every_conflicting_pair_is_ordered_by_registration() {
        for shape in Shape::ALL {
            let n = 60;
            let set = job_set(shape, n);
            let reach = reachability(n, &edges(&mut loam_engine(&set, 1)));
            for i in 0..n {
                for j in i + 1..n {
                    if conflicting(&set[i], &set[j]) {
                        assert!(reach[i][j], "{}: job{i} must precede job{j}", shape.name());
                    }
                    assert!(
                        !reach[j][i],
                        "{}: edge against registration order",
                        shape.name()
                    );
                }
            }
        }
    }

    #[test]
    fn each_job_increments_its_written_slots_once_per_frame() {
        let frames = 7;
        for threads in [1, 2] {
            let chain = job_set(Shape::Chain, 10);
            let mut engine = loam_engine(&chain, threads);
            engine.run(frames).unwrap();
            let mut want = [0; SLOTS];
            want[0] = 70;
            assert_eq!(slot_counts(&engine), want);

            // FanOut with 31 jobs: job0 writes slot 0, jobs 1..=30 write
            // slot 1 + i % 15, which is every slot 1..=15 exactly twice.
            let fanout = job_set(Shape::FanOut, 31);
            let mut engine = loam_engine(&fanout, threads);
            engine.run(frames).unwrap();
            let mut want = [14; SLOTS];
            want[0] = 7;
            assert_eq!(slot_counts(&engine), want);

            let random = job_set(Shape::Random, 100);
            let mut engine = loam_engine(&random, threads);
            engine.run(frames).unwrap();
            let counts = slot_counts(&engine);
            assert_eq!(counts, expected_counts(&random, frames));
            assert_eq!(counts.iter().sum::<u64>(), 700);
        }
    }

    #[test]
    fn timing_returns_a_positive_cost_per_job() {
        let set = job_set(Shape::FanOut, 20);
        let ns = ns_per_job(&set, 2, 5);
        assert!(ns.is_finite() && ns > 0.0);
    }
}
