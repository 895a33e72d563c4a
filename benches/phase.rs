//! Phase-transition throughput (criterion): the same workloads as `loam
//! bench phase`; see `loam_bench::phase`.

// `criterion_group!` makes an undocumented `pub fn`.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use loam::loam_systems::phase::{PhaseState, PhaseTable};
use loam::loam_systems::MaterialTable;
use loam_bench::phase::{dense_pass, dense_world, Ising};

fn dense(c: &mut Criterion) {
    let mut group = c.benchmark_group("phase.dense128");
    group.sample_size(20);
    group.throughput(Throughput::Elements(128 * 128 * 128));
    let tables = (PhaseTable::default(), MaterialTable::default());
    for threads in [1usize, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let mut world = dense_world();
        let mut state = PhaseState::default();
        let mut frame = 0;
        group.bench_function(format!("visits.t{threads}"), |b| {
            b.iter(|| {
                frame += 1;
                pool.install(|| dense_pass(&mut world, &mut state, &tables, frame))
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("phase.ising128");
    group.sample_size(20);
    group.throughput(Throughput::Elements(128 * 128 * 128));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let mut ising = Ising::new(128, 0.2);
    let mut frame = 0;
    group.bench_function("flips.t2", |b| {
        b.iter(|| {
            frame += 1;
            pool.install(|| ising.sweep(frame))
        })
    });
    group.finish();
}

criterion_group!(benches, dense);
criterion_main!(benches);
