//! Job-graph frame overhead (criterion). The same workload as
//! `loam bench jobgraph`; see `loam_bench::jobgraph`.

// `criterion_group!` makes an undocumented `pub fn`.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

use loam_bench::jobgraph::{job_set, loam_engine, Shape};

fn frame_overhead(c: &mut Criterion) {
    let mut group = c.benchmark_group("jobgraph");
    for shape in Shape::ALL {
        for n in [10usize, 100, 1000] {
            let set = job_set(shape, n);
            let mut engine = loam_engine(&set, 2);
            group.throughput(Throughput::Elements(n as u64));
            group.bench_with_input(BenchmarkId::new(shape.name(), n), &n, |b, _| {
                b.iter(|| engine.step().expect("trivial jobs do not fail"))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, frame_overhead);
criterion_main!(benches);
