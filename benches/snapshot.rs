//! A render snapshot brought up to date each frame (criterion): the cost
//! of `Runtime::snapshot_into` after a frame of `sandbox` (a world in
//! memory) and of `streaming` (a streamed world, its observer moving), and
//! of a first, whole copy of `sandbox`. Each run also prints what the feed
//! found over its frames: how many pages the change stamps flagged, how
//! many had changed, and how tight the boxes were.

// `criterion_group!` makes an undocumented `pub fn`.
#![allow(missing_docs)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};

use loam::scenario::SavePolicy;
use loam::{RefreshStats, Runtime, Scenario, WorldSnapshot};

fn runtime(name: &str, dir: &Path) -> Runtime {
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "scenarios",
        &format!("{name}.toml"),
    ]
    .iter()
    .collect();
    let mut scenario = Scenario::load(&path).expect("a shipped scenario");
    if let Some(storage) = scenario.world.storage.as_mut() {
        storage.file = dir.join(format!("{name}.loam"));
        storage.save = SavePolicy::Never;
    }
    let mut rt = Runtime::new(scenario).expect("a shipped scenario runs");
    // Past the start, where everything settles at once.
    rt.run(30).expect("frames run");
    rt
}

/// Adds one refresh's stats to a running sum.
fn add(sum: &mut RefreshStats, s: RefreshStats) {
    sum.pages_flagged += s.pages_flagged;
    sum.pages_changed += s.pages_changed;
    sum.cells_changed += s.cells_changed;
    sum.cells_in_boxes += s.cells_in_boxes;
}

fn refresh(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("loam-bench-snapshot-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    let mut group = c.benchmark_group("snapshot");
    group.sample_size(20);
    for name in ["sandbox", "streaming"] {
        let mut rt = runtime(name, &dir);
        let mut snapshot = WorldSnapshot::default();
        rt.snapshot_into(&mut snapshot);
        let mut sum = RefreshStats::default();
        group.bench_function(format!("{name}.after_a_frame"), |b| {
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                for _ in 0..iters {
                    rt.step().expect("a frame");
                    let start = Instant::now();
                    rt.snapshot_into(&mut snapshot);
                    spent += start.elapsed();
                    add(&mut sum, snapshot.stats());
                }
                spent
            })
        });
        eprintln!(
            "{name}: {} resident pages; over every refresh, {} of {} flagged pages changed \
             ({:.1} %); changed cells fill {:.1} % of their boxes",
            rt.world().resident_count(),
            sum.pages_changed,
            sum.pages_flagged,
            100.0 * sum.pages_changed as f64 / sum.pages_flagged.max(1) as f64,
            100.0 * sum.cells_changed as f64 / sum.cells_in_boxes.max(1) as f64,
        );
    }
    let rt = runtime("sandbox", &dir);
    group.bench_function("sandbox.first_copy", |b| {
        b.iter_with_large_drop(|| {
            let mut snapshot = WorldSnapshot::default();
            rt.snapshot_into(&mut snapshot);
            snapshot
        })
    });
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, refresh);
criterion_main!(benches);
