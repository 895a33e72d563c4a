//! World-file throughput (criterion): the same workloads as `loam bench
//! storage`; see `loam_bench::storage` and `loam::cli::bench::streaming`.

// `criterion_group!` makes an undocumented `pub fn`.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use loam::cli::bench::streaming::{
    materialize, mixed_world, save_hitch_run, stream_run, stream_scenario, STREAM_FRAMES,
};
use loam::loam_storage::file::{SaveOptions, WorldFile};
use loam::loam_storage::io::{self, IoKind};
use loam::loam_storage::VoxelWorld;
use loam_bench::storage::{scratch_dir, write_world};

fn load(c: &mut Criterion) {
    let dir = scratch_dir().expect("a scratch directory");
    let path = dir.join("mixed.loam");
    let world = mixed_world();
    write_world(&path, &world);
    let mut file = WorldFile::open_read_only(&path).unwrap();
    let layout = file.layout();
    let pages: Vec<usize> = (0..layout.page_count()).collect();
    let mut group = c.benchmark_group("storage.load");
    group.throughput(Throughput::Bytes(
        (pages.len() * layout.page_cells() * 6) as u64,
    ));
    // `trusted`: the same reads without checking each payload's CRC.
    for (name, kind, trusted) in [
        ("uring", IoKind::Uring, false),
        ("uring-direct", IoKind::UringDirect, false),
        ("pread", IoKind::Pread, false),
        ("mmap", IoKind::Mmap, false),
        ("uring-trusted", IoKind::Uring, true),
        ("mmap-trusted", IoKind::Mmap, true),
    ] {
        file.trust(trusted);
        let Ok((mut backend, _)) = io::open(file.file(), kind) else {
            eprintln!("storage.load.{name}: backend not available here, skipped");
            continue;
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let mut target = VoxelWorld::new(layout, 0, 0.0);
        group.bench_function(format!("{name}.t2"), |b| {
            b.iter(|| {
                pool.install(|| {
                    file.load_pages(&mut target, &pages, backend.as_mut())
                        .unwrap()
                })
            })
        });
    }
    group.finish();

    // Saving: every page of the mixed world, encoded on two threads, written,
    // committed with fsync.
    let mut group = c.benchmark_group("storage.save");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(
        (pages.len() * layout.page_cells() * 6) as u64,
    ));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let save_path = dir.join("save.loam");
    group.bench_function("mixed.t2", |b| {
        b.iter(|| {
            let _ = std::fs::remove_file(&save_path);
            pool.install(|| {
                let mut f = WorldFile::create(&save_path, layout, 0).unwrap();
                f.save(&world, &pages, &SaveOptions::default()).unwrap();
            })
        })
    });
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

fn stream(c: &mut Criterion) {
    let dir = scratch_dir().expect("a scratch directory");
    let path = dir.join("stream.loam");
    materialize(&stream_scenario(&path, IoKind::Pread));
    let mut group = c.benchmark_group("storage.stream");
    group.sample_size(10);
    group.throughput(Throughput::Elements(STREAM_FRAMES));
    for (name, kind) in [
        ("uring", IoKind::Uring),
        ("uring-direct", IoKind::UringDirect),
        ("pread", IoKind::Pread),
        ("mmap", IoKind::Mmap),
    ] {
        if std::fs::File::open(&path).is_ok_and(|f| io::open(&f, kind).is_err()) {
            eprintln!("storage.stream.{name}: backend not available here, skipped");
            continue;
        }
        group.bench_function(format!("{name}.frames{STREAM_FRAMES}"), |b| {
            b.iter(|| stream_run(&path, kind, false))
        });
    }
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

/// The streaming run with saves every 5 frames and without: a save's cost
/// to the frames, with the I/O thread writing and committing meanwhile.
fn save_hitch(c: &mut Criterion) {
    let dir = scratch_dir().expect("a scratch directory");
    let path = dir.join("stream.loam");
    materialize(&stream_scenario(&path, IoKind::Pread));
    let mut group = c.benchmark_group("storage.save_hitch");
    group.sample_size(10);
    group.throughput(Throughput::Elements(STREAM_FRAMES));
    for (name, every) in [("none", None), ("every5", Some(5))] {
        group.bench_function(format!("{name}.frames{STREAM_FRAMES}"), |b| {
            b.iter(|| save_hitch_run(&path, every))
        });
    }
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, load, stream, save_hitch);
criterion_main!(benches);
