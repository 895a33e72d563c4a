//! Simulation LOD (criterion): one frame of `scenarios/distant.toml` (a
//! 512 × 64 × 512 world, sand and water poured at sixteen places up to
//! 550 cells from the one observer) after 120 frames of pouring, with its
//! frame budget (far pages every 2, 4 or 8 frames) and without it (every
//! awake page every frame). Each iteration is the run's next frame, and
//! only frames 120 to 280 are timed: the showers stop at frame 300 and the
//! world then settles, so a run that went on would measure sleep. Past
//! frame 280 a fresh run is warmed up again, untimed.

// `criterion_group!` makes an undocumented `pub fn`.
#![allow(missing_docs)]

use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};

use loam::{Runtime, Scenario};

/// The distant scenario, warmed up: with LOD unless `no_lod`.
fn warmed(no_lod: bool) -> Runtime {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/distant.toml");
    let mut scenario = Scenario::load(&path).expect("distant.toml is valid");
    scenario.run.threads = 2;
    if no_lod {
        scenario.run.frame_budget_ms = None;
    }
    let mut rt = Runtime::new(scenario).expect("distant.toml runs");
    rt.run(120).expect("the warm-up runs");
    rt
}

/// Frames timed are below this; the showers stop at 300.
const LAST_TIMED: u64 = 280;

fn lod(c: &mut Criterion) {
    let mut group = c.benchmark_group("lod.distant");
    group.sample_size(20);
    for (name, no_lod) in [("frame", false), ("frame_no_lod", true)] {
        let mut rt = warmed(no_lod);
        group.bench_function(format!("{name}.t2"), |b| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                for _ in 0..iters {
                    if rt.frame() >= LAST_TIMED {
                        rt = warmed(no_lod);
                    }
                    let start = Instant::now();
                    rt.step().expect("a frame runs");
                    timed += start.elapsed();
                }
                timed
            })
        });
    }
    group.finish();
}

criterion_group!(benches, lod);
criterion_main!(benches);
