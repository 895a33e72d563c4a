//! Falling-sand throughput (criterion). The same workloads as `loam bench ca`;
//! see `loam_bench::ca` and `loam::cli::bench::sleeping`.

// `criterion_group!` makes an undocumented `pub fn`.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

use loam::cli::bench::sleeping::sleeping_runtime;
use loam::loam_systems::MaterialTable;
use loam_bench::ca::{dense_frame, dense_world};

/// Frames per measured batch, each batch starting from the same fresh world.
const FRAMES: u64 = 8;

fn dense(c: &mut Criterion) {
    let mut group = c.benchmark_group("ca.dense128");
    group.sample_size(20);
    let world = dense_world(128);
    let table = MaterialTable::default();
    group.throughput(Throughput::Elements(FRAMES * 128 * 128 * 128));
    for threads in [1usize, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        group.bench_function(format!("t{threads}"), |b| {
            b.iter_batched(
                || world.clone(),
                |mut w| {
                    pool.install(|| {
                        for f in 0..FRAMES {
                            dense_frame(&mut w, &table, f);
                        }
                    })
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

fn sleeping(c: &mut Criterion) {
    let mut rt = sleeping_runtime(2, 60, 1);
    c.bench_function("ca.sleeping.frame", |b| {
        b.iter(|| rt.step().expect("the scenario runs"))
    });
}

criterion_group!(benches, dense, sleeping);
criterion_main!(benches);
