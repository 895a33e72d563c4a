//! Field diffusion and decay (criterion): the same workload as `loam bench
//! fields`; see `loam::bench::fields`.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};

use loam::bench::fields::{dense_fields, step};

fn diffuse64(c: &mut Criterion) {
    let mut group = c.benchmark_group("fields.diffuse64");
    group.sample_size(20);
    // The steady state: one step grows the layer of bricks the spread needs
    // (and diffusion's second buffer); the timed step is the next one, on a
    // fresh copy each time.
    let mut grown = dense_fields();
    step(&mut grown);
    for threads in [1usize, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        group.bench_function(format!("step.t{threads}"), |b| {
            b.iter_batched_ref(
                || grown.clone(),
                |f| pool.install(|| step(f)),
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, diffuse64);
criterion_main!(benches);
