//! World-file and streaming workloads.
//!
//! - `load`: every page of the *mixed* world (below) read through a backend,
//!   CRC-checked and decoded straight into pool slots, pages in parallel on
//!   `t` threads; GB/s of raw cell data (6 bytes a cell), warm page cache
//!   (best of 5), and once right after the kernel dropped the file's cached
//!   pages (`.cold`). `uring-direct` reads with `O_DIRECT`, so its warm
//!   numbers are disk numbers too.
//! - `zstd_cli_ratio`: Loam loading the pages that hold zstd payloads, on one
//!   thread, against the `zstd -d` program decoding the same payloads
//!   (concatenated, repeated to 256 MB): raw bytes per second, Loam's over
//!   the program's.
//! - `save`: 1 GiB of dirty pages (the mixed world's pages, tiled) encoded on
//!   two threads, written and committed with `fsync`.
//! - `stream`: an observer flying at 14 cells a frame across a 2048 × 256 ×
//!   2048 world whose every page along the way is in the file, 2048 pages
//!   resident; frame time p95 per backend, with a warm page cache and (where
//!   the kernel drops a file's cached pages on request) a cold one.
//!
//! The mixed world is 256 × 128 × 256 cells in pages of 32: noise terrain
//! of stone under sand, a lake, and 300 spheres of sand, gravel, water, oil
//! and lava at varied temperatures, run for 30 frames with heat and
//! reactions so that water meets lava and temperatures spread.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use loam_runtime::random::hash3;
use loam_storage::file::codec::Codec;
use loam_storage::file::header::CHANNEL_TYPES;
use loam_storage::file::{PageBuf, SaveOptions, WorldFile};
use loam_storage::io::{self, IoKind};
use loam_storage::stream::{wanted_pages, PageSource, Viewpoint};
use loam_storage::{VoxelWorld, WorldLayout};
use loam_systems::materials::id;

use super::Measurement;
use crate::scenario::{ObserverSpec, SavePolicy, StorageSpec};
use crate::streaming::ScenarioPages;
use crate::{Emitter, Fill, Runtime, Scenario, Shape};

/// Frames of the streaming run.
pub const STREAM_FRAMES: u64 = 180;

/// The mixed world's scenario.
pub fn mixed_scenario() -> Scenario {
    let mut s = Scenario::empty("mixed", [256, 128, 256]);
    s.world.seed = 3;
    s.run.threads = 2;
    s.fills.push(Fill {
        shape: Shape::NoiseTerrain {
            height: [30, 90],
            scale: 40.0,
            surface: Some((id::SAND, 4)),
        },
        material: id::STONE,
        temperature: None,
    });
    s.fills.push(Fill {
        shape: Shape::Box {
            min: [20, 60, 150],
            max: [120, 80, 240],
        },
        material: id::WATER,
        temperature: None,
    });
    let materials = [id::SAND, id::GRAVEL, id::WATER, id::OIL, id::LAVA];
    for k in 0..300u64 {
        let h = |i: u64| hash3(7, k, i);
        s.fills.push(Fill {
            shape: Shape::Sphere {
                center: [
                    (h(0) % 256) as f64,
                    (40 + h(1) % 80) as f64,
                    (h(2) % 256) as f64,
                ],
                radius: 2.0 + (h(3) % 60) as f64 / 10.0,
            },
            material: materials[(h(4) % 5) as usize],
            temperature: Some(280.0 + (h(5) % 400) as f32),
        });
    }
    s
}

/// The mixed world after 30 frames.
pub fn mixed_world() -> VoxelWorld {
    let mut rt = Runtime::new(mixed_scenario()).expect("the mixed scenario is valid");
    rt.run(30).expect("the mixed scenario runs");
    let world = rt.world().clone();
    world
}

/// Writes `world`, every page, to a new file at `path` (replacing one there).
pub fn write_world(path: &Path, world: &VoxelWorld) {
    let _ = std::fs::remove_file(path);
    let mut file = WorldFile::create(path, *world.layout(), 0).expect("a temporary world file");
    file.save(world, &world.resident_pages(), &SaveOptions::default())
        .expect("the benchmark world saves");
}

/// GB/s of raw cell data loading `pages` of `path` `reps` times (best pass).
pub fn load_gbps(path: &Path, kind: IoKind, threads: usize, reps: u32) -> f64 {
    let file = WorldFile::open(path).expect("the benchmark world opens");
    let layout = file.layout();
    let pages: Vec<usize> = (0..layout.page_count()).collect();
    let best = best_load(&file, &pages, kind, threads, reps);
    (pages.len() * layout.page_cells() * 6) as f64 / best.as_secs_f64() / 1e9
}

/// GB/s of one load of every page of `path` on 2 threads right after the
/// kernel dropped the file's cached pages; `None` where it cannot.
pub fn cold_load_gbps(path: &Path, kind: IoKind) -> Option<f64> {
    let file = WorldFile::open(path).expect("the benchmark world opens");
    let layout = file.layout();
    let pages: Vec<usize> = (0..layout.page_count()).collect();
    let (mut backend, _) = io::open(file.file(), kind).expect("the backend opens");
    let mut world = VoxelWorld::new(layout, 0, 0.0);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("a small rayon pool");
    // A first load touches the target's memory, so the timed one pays for
    // reads, not page faults.
    pool.install(|| file.load_pages(&mut world, &pages, backend.as_mut()))
        .expect("the benchmark world loads");
    if !drop_cached(path) {
        return None;
    }
    let start = Instant::now();
    pool.install(|| file.load_pages(&mut world, &pages, backend.as_mut()))
        .expect("the benchmark world loads");
    Some((pages.len() * layout.page_cells() * 6) as f64 / start.elapsed().as_secs_f64() / 1e9)
}

/// The fastest of `reps` loads of `pages` (after one to warm up).
fn best_load(
    file: &WorldFile,
    pages: &[usize],
    kind: IoKind,
    threads: usize,
    reps: u32,
) -> Duration {
    let layout = file.layout();
    let (mut backend, _) = io::open(file.file(), kind).expect("the backend opens");
    let mut world = VoxelWorld::new(layout, 0, 0.0);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a small rayon pool");
    pool.install(|| {
        let mut best = Duration::MAX;
        for _ in 0..=reps {
            let start = Instant::now();
            file.load_pages(&mut world, pages, backend.as_mut())
                .expect("the benchmark world loads");
            best = best.min(start.elapsed());
        }
        best
    })
}

/// Loam's single-thread decode rate over the `zstd -d` program's on the
/// same payloads; `None` when the program is not installed.
pub fn zstd_cli_ratio(path: &Path, dir: &Path) -> Option<f64> {
    let file = WorldFile::open(path).expect("the benchmark world opens");
    let layout = file.layout();
    let zstd: Vec<_> = file
        .entries()
        .iter()
        .filter(|e| e.codec == Codec::Zstd)
        .collect();
    let raw: u64 = zstd
        .iter()
        .map(|e| (layout.page_cells() * CHANNEL_TYPES[e.channel as usize] as usize) as u64)
        .sum();
    let mut payloads = Vec::new();
    for e in &zstd {
        let mut buf = vec![0u8; e.stored as usize];
        std::os::unix::fs::FileExt::read_exact_at(file.file(), &mut buf, e.offset).ok()?;
        payloads.extend_from_slice(&buf);
    }
    let copies = (256_000_000 / raw.max(1)).max(1);
    let concatenated = dir.join("payloads.zst");
    std::fs::write(&concatenated, payloads.repeat(copies as usize)).ok()?;
    let mut cli = Duration::MAX;
    for _ in 0..3 {
        let start = Instant::now();
        let status = std::process::Command::new("zstd")
            .args(["-d", "-q", "-c"])
            .arg(&concatenated)
            .stdout(std::process::Stdio::null())
            .status()
            .ok()?;
        if !status.success() {
            return None;
        }
        cli = cli.min(start.elapsed());
    }
    let cli_rate = (raw * copies) as f64 / cli.as_secs_f64();
    let mut pages: Vec<usize> = zstd
        .iter()
        .map(|e| layout.page_index(loam_storage::PageId(e.page_id).coord()))
        .collect();
    pages.dedup();
    let loam = best_load(&file, &pages, IoKind::Pread, 1, 5);
    let loam_rate = raw as f64 / loam.as_secs_f64();
    Some(loam_rate / cli_rate)
}

/// GB/s saving a world of 1 GiB of dirty raw cell data (the mixed world's
/// pages tiled over 5,504 pages of 32³) on two threads, `fsync` included.
pub fn save_gbps(dir: &Path, source: &VoxelWorld) -> f64 {
    let layout = WorldLayout::new([1024, 128, 1376], 32).expect("a valid layout");
    let mut world = VoxelWorld::new(layout, 0, 0.0);
    let from = source.resident_pages();
    for p in 0..layout.page_count() {
        let src = source.page(from[p % from.len()]).expect("resident");
        let dst = world.page_mut(p).expect("resident");
        dst.material.copy_from_slice(src.material);
        dst.temperature.copy_from_slice(src.temperature);
        dst.flags.copy_from_slice(src.flags);
        world.touch(p);
    }
    let path = dir.join("save.loam");
    let _ = std::fs::remove_file(&path);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("a small rayon pool");
    let pages: Vec<usize> = (0..layout.page_count()).collect();
    let start = Instant::now();
    pool.install(|| {
        let mut file = WorldFile::create(&path, layout, 0).expect("a temporary world file");
        file.save(&world, &pages, &SaveOptions::default())
            .expect("the benchmark world saves");
    });
    let elapsed = start.elapsed();
    let _ = std::fs::remove_file(&path);
    (layout.page_count() * layout.page_cells() * 6) as f64 / elapsed.as_secs_f64() / 1e9
}

/// The streaming scenario: a 2048 × 256 × 2048 world of stone terrain,
/// 2048 pages resident, an observer flying diagonally at 14 cells
/// a frame with a 128-cell radius, sand poured near its path.
pub fn stream_scenario(file: &Path, io: IoKind) -> Scenario {
    let mut s = Scenario::empty("stream-bench", [2048, 256, 2048]);
    s.world.seed = 3;
    s.world.storage = Some(StorageSpec {
        file: file.to_path_buf(),
        resident_pages: Some(2048),
        io,
        save: SavePolicy::Never,
        load_per_frame: 512,
        lookahead: 0.5,
    });
    s.run.threads = 2;
    s.systems.heat = false;
    // Stone only: loaded terrain is at rest, so the frame measures streaming
    // (and the one automaton pass every new page gets), not avalanches.
    s.fills.push(Fill {
        shape: Shape::NoiseTerrain {
            height: [40, 160],
            scale: 60.0,
            surface: None,
        },
        material: id::STONE,
        temperature: None,
    });
    s.observers.push(ObserverSpec {
        path: vec![
            [150.0, 120.0, 150.0, 0.0],
            [1900.0, 120.0, 1900.0, STREAM_FRAMES as f64],
        ],
        radius: 128.0,
    });
    s.emitters.push(Emitter {
        material: id::SAND,
        center: [700.0, 220.0, 700.0],
        radius: 3.0,
        frames: [30, 90],
        temperature: None,
    });
    s
}

/// Generates every page the stream scenario's observer will want and
/// writes them all to its file, so the run reads pages instead of
/// generating them.
pub fn materialize(scenario: &Scenario) {
    let storage = scenario
        .world
        .storage
        .as_ref()
        .expect("a streamed scenario");
    let layout = WorldLayout::new(scenario.world.size, scenario.world.page).expect("valid");
    let lookahead = storage.lookahead / scenario.run.dt;
    let mut pages: Vec<usize> = (0..=scenario.run.frames.max(STREAM_FRAMES))
        .flat_map(|f| {
            let viewpoints: Vec<Viewpoint> = scenario
                .observers
                .iter()
                .map(|o| crate::streaming::viewpoint(o, f))
                .collect();
            wanted_pages(&layout, &viewpoints, lookahead)
                .into_iter()
                .map(|w| w.page)
        })
        .collect();
    pages.sort_unstable();
    pages.dedup();
    let _ = std::fs::remove_file(&storage.file);
    let mut file = WorldFile::create(&storage.file, layout, scenario.world.seed).expect("a file");
    let source = ScenarioPages::new(scenario);
    let mut world = VoxelWorld::with_capacity(layout, 256);
    let mut buf = PageBuf::new(layout.page_cells());
    for batch in pages.chunks(256) {
        for &p in batch {
            world.install(p).expect("a free slot");
            source.generate(&layout, p, &mut buf);
            buf.install(&mut world, p);
        }
        file.write_pages(&world, batch, &SaveOptions::default())
            .expect("the stream world writes");
        batch.iter().for_each(|&p| world.evict(p));
    }
    file.commit().expect("the stream world commits");
}

/// Asks the kernel to drop `path`'s cached pages, so the next reads go to
/// the disk. Returns false where it cannot.
pub fn drop_cached(path: &Path) -> bool {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let Ok(file) = std::fs::File::open(path) else {
            return false;
        };
        if file.sync_all().is_err() {
            return false;
        }
        // SAFETY: a valid open descriptor; advice does not touch memory.
        unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) == 0 }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = path;
        false
    }
}

/// One streaming run's numbers.
#[derive(Clone, Copy, Debug)]
pub struct StreamRun {
    /// Frame time p95, ms.
    pub frame_p95_ms: f64,
    /// The `storage.stream` job's p95, ms.
    pub stream_p95_ms: f64,
    /// Frames that waited for the I/O thread.
    pub stalls: u64,
    /// Pages read from the file.
    pub pages_loaded: u64,
}

/// Runs the stream scenario (its file already materialized) with `io`.
pub fn stream_run(file: &Path, io: IoKind, cold: bool) -> StreamRun {
    if cold {
        drop_cached(file);
    }
    let mut rt = Runtime::new(stream_scenario(file, io)).expect("the stream scenario builds");
    rt.run(STREAM_FRAMES).expect("the stream scenario runs");
    let stream_p95_ms = rt
        .engine()
        .job_stats()
        .iter()
        .find(|j| j.name == "storage.stream")
        .map_or(0.0, |j| j.summary().p95_ms);
    let stats = rt.stream().expect("streamed").stats();
    StreamRun {
        frame_p95_ms: rt.engine().frame_summary().p95_ms,
        stream_p95_ms,
        stalls: stats.stalls,
        pages_loaded: stats.pages_loaded,
    }
}

/// Backends this machine can open, by name.
fn backends(path: &Path) -> Vec<(&'static str, IoKind)> {
    [
        ("uring", IoKind::Uring),
        ("uring-direct", IoKind::UringDirect),
        ("pread", IoKind::Pread),
        ("mmap", IoKind::Mmap),
    ]
    .into_iter()
    .filter(|(_, kind)| std::fs::File::open(path).is_ok_and(|f| io::open(&f, *kind).is_ok()))
    .collect()
}

/// A fresh scratch directory for benchmark files.
pub fn scratch_dir() -> Option<PathBuf> {
    let dir = std::env::temp_dir().join(format!("loam-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    Some(dir)
}

/// The `storage` group for `loam bench`.
pub fn measurements() -> Vec<Measurement> {
    let Some(dir) = scratch_dir() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let world = mixed_world();
    let path = dir.join("mixed.loam");
    write_world(&path, &world);
    for (name, kind) in backends(&path) {
        for t in [1, 2] {
            out.push(Measurement {
                name: format!("storage.load.gbps.{name}.t{t}"),
                value: load_gbps(&path, kind, t, 5),
                unit: "GB/s",
            });
        }
        if let Some(gbps) = cold_load_gbps(&path, kind) {
            out.push(Measurement {
                name: format!("storage.load.gbps.{name}.t2.cold"),
                value: gbps,
                unit: "GB/s",
            });
        }
    }
    if let Some(ratio) = zstd_cli_ratio(&path, &dir) {
        out.push(Measurement {
            name: "storage.zstd_cli_ratio".into(),
            value: ratio,
            unit: "x",
        });
    }
    out.push(Measurement {
        name: "storage.save.gbps".into(),
        value: save_gbps(&dir, &world),
        unit: "GB/s",
    });
    let stream_file = dir.join("stream.loam");
    materialize(&stream_scenario(&stream_file, IoKind::Pread));
    for (name, kind) in backends(&stream_file) {
        stream_run(&stream_file, kind, false); // warm the page cache
        let warm = stream_run(&stream_file, kind, false);
        out.push(Measurement {
            name: format!("storage.stream.frame_ms_p95.{name}"),
            value: warm.frame_p95_ms,
            unit: "ms",
        });
        if drop_cached(&stream_file) {
            let cold = stream_run(&stream_file, kind, true);
            out.push(Measurement {
                name: format!("storage.stream.frame_ms_p95.{name}.cold"),
                value: cold.frame_p95_ms,
                unit: "ms",
            });
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    out
}
