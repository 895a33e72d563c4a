//! Soft-body solver cost (criterion): the same workloads as `loam bench
//! xpbd`; see `loam_bench::xpbd`.

// `criterion_group!` makes an undocumented `pub fn`.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion};

use loam::loam_systems::MaterialTable;
use loam_bench::xpbd::{grass5k, jelly10k, ENV};

fn jelly(c: &mut Criterion) {
    let mut group = c.benchmark_group("xpbd.jelly10k");
    group.sample_size(10);
    let table = MaterialTable::default();
    for threads in [1usize, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let (world, mut bodies) = jelly10k();
        // Frame after frame the jelly lands and would fall asleep; keep it
        // awake so every sample times the solver.
        bodies.no_sleep = true;
        group.bench_function(format!("frame.t{threads}"), |b| {
            b.iter(|| pool.install(|| bodies.step(&world, &table, &ENV)))
        });
    }
    group.finish();
}

fn grass(c: &mut Criterion) {
    let mut group = c.benchmark_group("xpbd.grass5k");
    group.sample_size(10);
    let table = MaterialTable::default();
    for (sleeping, name) in [(true, "sleeping_on"), (false, "sleeping_off")] {
        let (world, mut bodies) = grass5k();
        bodies.no_sleep = !sleeping;
        for _ in 0..90 {
            bodies.step(&world, &table, &ENV);
        }
        group.bench_function(format!("frame.{name}"), |b| {
            b.iter(|| bodies.step(&world, &table, &ENV))
        });
    }
    group.finish();
}

criterion_group!(benches, jelly, grass);
criterion_main!(benches);
