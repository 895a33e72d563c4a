//! Workloads of the sleeping scenario's runtime (`scenarios/sleeping.toml`)
//! after it settled: a large world with a few active pages.
//!
//! - `ca.sleeping`: frame time, which should follow the few active pages,
//!   not the world's size (the same world grown 4× costs the same).
//! - `phase.settled`: the `phase.metropolis` job's mean time per frame; the
//!   lake is far from any transition, so it should cost next to nothing.

use std::time::Instant;

use loam_bench::Measurement;

use crate::{Runtime, Scenario};

/// The shipped sleeping scenario, embedded so `loam bench` runs anywhere.
pub const SLEEPING_TOML: &str = include_str!("../../../scenarios/sleeping.toml");

/// A runtime of the sleeping scenario after `settle` frames, its world
/// `grow` times wider and deeper (the active spot stays where it is).
pub fn sleeping_runtime(threads: usize, settle: u64, grow: u32) -> Runtime {
    let mut scenario = Scenario::parse(SLEEPING_TOML, "sleeping.toml".as_ref())
        .expect("the shipped sleeping scenario is valid");
    scenario.run.threads = threads;
    scenario.world.size[0] *= grow;
    scenario.world.size[2] *= grow;
    let mut rt = Runtime::new(scenario).expect("the sleeping scenario builds");
    rt.run(settle).expect("the sleeping scenario runs");
    rt
}

/// Mean ms per frame of the settled sleeping world (grown `grow` times per
/// horizontal axis), and the pages active at the end.
pub fn sleeping_ms_per_frame(threads: usize, frames: u64, grow: u32) -> (f64, usize) {
    let mut rt = sleeping_runtime(threads, 60, grow);
    let start = Instant::now();
    rt.run(frames).expect("the sleeping scenario runs");
    let ms = start.elapsed().as_secs_f64() * 1000.0 / frames as f64;
    let active = rt.world().table().awake_count();
    (ms, active)
}

/// Mean ms of the `phase.metropolis` job per frame in the settled sleeping world.
pub fn settled_ms_per_frame(frames: u64) -> f64 {
    let mut rt = sleeping_runtime(2, 60, 1);
    let before = job_total_ms(&rt);
    rt.run(frames).expect("the sleeping scenario runs");
    (job_total_ms(&rt) - before) / frames as f64
}

fn job_total_ms(rt: &Runtime) -> f64 {
    rt.engine()
        .job_stats()
        .iter()
        .find(|j| j.name == "phase.metropolis")
        .map_or(0.0, |j| {
            let s = j.summary();
            s.mean_ms * s.runs as f64
        })
}

/// The sleeping world's measurements of the `ca` group.
pub fn ca_measurements() -> Vec<Measurement> {
    let mut out = Vec::new();
    let (ms, active) = sleeping_ms_per_frame(2, 200, 1);
    out.push(Measurement {
        name: "ca.sleeping.ms_per_frame".into(),
        value: ms,
        unit: "ms",
    });
    out.push(Measurement {
        name: "ca.sleeping.active_pages".into(),
        value: active as f64,
        unit: "pages",
    });
    // The same activity in a world with 4x the cells: the frame should cost the same.
    let (ms4, _) = sleeping_ms_per_frame(2, 200, 2);
    out.push(Measurement {
        name: "ca.sleeping.ms_per_frame.world_x4".into(),
        value: ms4,
        unit: "ms",
    });
    out
}

/// The settled world's measurement of the `phase` group.
pub fn phase_measurements() -> Vec<Measurement> {
    vec![Measurement {
        name: "phase.settled.ms_per_frame".into(),
        value: settled_ms_per_frame(200),
        unit: "ms",
    }]
}
