//! World-file workloads: page load throughput per I/O backend.
//!
//! The world is `scenarios/sleeping.toml`'s terrain (512 pages of 32³: air,
//! stone, and the varied pages where they meet), saved with zstd level 3.
//! A load reads every stored page through the backend, checks its CRC and
//! decodes it straight into the pool slots, pages in parallel on `t` threads.
//! Throughput is raw cell data (6 bytes a cell) per second, warm page cache.

use std::path::{Path, PathBuf};
use std::time::Instant;

use loam_storage::file::{SaveOptions, WorldFile};
use loam_storage::io::{self, IoKind};
use loam_storage::VoxelWorld;

use super::Measurement;
use crate::bench::ca::SLEEPING_TOML;
use crate::{Runtime, Scenario};

/// Writes the benchmark world file into `dir`; returns its path and the world.
pub fn write_world_file(dir: &Path) -> (PathBuf, VoxelWorld) {
    let mut scenario = Scenario::parse(SLEEPING_TOML, "sleeping.toml".as_ref())
        .expect("the shipped sleeping scenario is valid");
    scenario.emitters.clear();
    scenario.run.threads = 1;
    let world = Runtime::new(scenario)
        .expect("the sleeping scenario builds")
        .world()
        .clone();
    let path = dir.join("bench.loam");
    let _ = std::fs::remove_file(&path);
    let layout = *world.layout();
    let mut file = WorldFile::create(&path, layout, 0).expect("a temporary world file");
    let pages: Vec<usize> = (0..layout.page_count()).collect();
    file.save(&world, &pages, &SaveOptions::default())
        .expect("the benchmark world saves");
    (path, world)
}

/// GB/s of raw cell data loading every page of `path` `reps` times.
pub fn load_gbps(path: &Path, kind: IoKind, threads: usize, reps: u32) -> f64 {
    let file = WorldFile::open(path).expect("the benchmark world opens");
    let layout = file.layout();
    let (mut backend, _) = io::open(file.file(), kind).expect("the backend opens");
    let pages: Vec<usize> = (0..layout.page_count()).collect();
    let mut world = VoxelWorld::new(layout, 0, 0.0);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a small rayon pool");
    pool.install(|| {
        file.load_pages(&mut world, &pages, backend.as_mut())
            .expect("the benchmark world loads");
        let start = Instant::now();
        for _ in 0..reps {
            file.load_pages(&mut world, &pages, backend.as_mut())
                .expect("the benchmark world loads");
        }
        let bytes = reps as f64 * (pages.len() * layout.page_cells() * 6) as f64;
        bytes / start.elapsed().as_secs_f64() / 1e9
    })
}

/// The `storage` group for `loam bench`.
pub fn measurements() -> Vec<Measurement> {
    let dir = std::env::temp_dir().join(format!("loam-bench-{}", std::process::id()));
    if std::fs::create_dir_all(&dir).is_err() {
        return Vec::new();
    }
    let (path, _) = write_world_file(&dir);
    let mut out = Vec::new();
    for (name, kind) in [
        ("uring", IoKind::Uring),
        ("pread", IoKind::Pread),
        ("mmap", IoKind::Mmap),
    ] {
        if io::open(&std::fs::File::open(&path).expect("just written"), kind).is_err() {
            continue; // io_uring refused on this machine
        }
        for t in [1, 2] {
            out.push(Measurement {
                name: format!("storage.load.gbps.{name}.t{t}"),
                value: load_gbps(&path, kind, t, 5),
                unit: "GB/s",
            });
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    out
}
