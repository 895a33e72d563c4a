//! World building (criterion): a noise-terrain world of 512 x 256 x 512
//! cells (pages of 32) generated whole, in memory, on 2 threads, from
//! allocating its pools to the last page, as a scenario's world plugin
//! builds it. Reported as cells per second.

// `criterion_group!` makes an undocumented `pub fn`.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use loam::loam_storage::WorldLayout;
use loam::loam_systems::MaterialTable;
use loam::world::generate;
use loam::{Fill, Shape};

fn worldgen(c: &mut Criterion) {
    let size = [512, 256, 512];
    let layout = WorldLayout::new(size, 32).expect("a valid layout");
    let table = MaterialTable::default();
    let stone = table.id("stone").expect("built-in stone");
    let sand = table.id("sand").expect("built-in sand");
    let fills = [Fill {
        shape: Shape::NoiseTerrain {
            height: [40, 200],
            scale: 96.0,
            surface: Some((sand, 3)),
        },
        material: stone,
        temperature: None,
    }];
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("a pool of 2 threads");
    let mut group = c.benchmark_group("worldgen");
    group.sample_size(10);
    group.throughput(Throughput::Elements(layout.cell_count()));
    group.bench_function("cells_per_s.t2", |b| {
        b.iter(|| pool.install(|| generate(layout, &table, &fills, 1)));
    });
    group.finish();
}

criterion_group!(benches, worldgen);
criterion_main!(benches);
