//! Field diffusion and decay (criterion): the same workload as `loam bench
//! fields`; see `loam_bench::fields`.

// `criterion_group!` makes an undocumented `pub fn`.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};

use loam_bench::fields::{dense_fields, step};

fn diffuse64(c: &mut Criterion) {
    let mut group = c.benchmark_group("fields.diffuse64");
    group.sample_size(20);
    let dense = dense_fields();
    for threads in [1usize, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        // The steady state, as the runtime steps the fields frame after
        // frame: a fresh copy, stepped once on the pool (which grows the
        // layer of bricks the spread needs and diffusion's second buffer,
        // and leaves them in the pool's caches), then the timed step.
        group.bench_function(format!("step.t{threads}"), |b| {
            b.iter_batched_ref(
                || {
                    pool.install(|| {
                        let mut f = dense.clone();
                        step(&mut f);
                        f
                    })
                },
                |f| pool.install(|| step(f)),
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, diffuse64);
criterion_main!(benches);
