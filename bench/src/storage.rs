//! World-file workloads, over any world (`loam bench` gives them the
//! *mixed* world of `loam::bench::streaming`).
//!
//! - `load`: every page of the world read through a backend,
//!   CRC-checked and decoded straight into pool slots, pages in parallel on
//!   `t` threads; GB/s of raw cell data (6 bytes a cell), warm page cache
//!   (best of 5), and once right after the kernel dropped the file's cached
//!   pages (`.cold`). `uring-direct` reads with `O_DIRECT`, so its warm
//!   numbers are disk numbers too.
//! - `zstd_cli_ratio`: Loam loading the pages that hold zstd payloads, on one
//!   thread, against the `zstd -d` program decoding the same payloads
//!   (concatenated, repeated to 256 MB): raw bytes per second, Loam's over
//!   the program's.
//! - `save`: 1 GiB of dirty pages (the world's pages, tiled) encoded on
//!   two threads, written and committed with `fsync`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use loam_storage::file::codec::Codec;
use loam_storage::file::header::CHANNEL_TYPES;
use loam_storage::file::{SaveOptions, WorldFile};
use loam_storage::io::{self, IoKind};
use loam_storage::{VoxelWorld, WorldLayout};

use crate::Measurement;

/// Writes `world`, every page, to a new file at `path` (replacing one there).
pub fn write_world(path: &Path, world: &VoxelWorld) {
    let _ = std::fs::remove_file(path);
    let mut file = WorldFile::create(path, *world.layout(), 0).expect("a temporary world file");
    file.save(world, &world.resident_pages(), &SaveOptions::default())
        .expect("the benchmark world saves");
}

/// GB/s of raw cell data loading `pages` of `path` `reps` times (best pass).
pub fn load_gbps(path: &Path, kind: IoKind, threads: usize, reps: u32) -> f64 {
    let file = WorldFile::open_read_only(path).expect("the benchmark world opens");
    let layout = file.layout();
    let pages: Vec<usize> = (0..layout.page_count()).collect();
    let best = best_load(&file, &pages, kind, threads, reps);
    (pages.len() * layout.page_cells() * 6) as f64 / best.as_secs_f64() / 1e9
}

/// GB/s of one load of every page of `path` on 2 threads right after the
/// kernel dropped the file's cached pages; `None` where it cannot.
pub fn cold_load_gbps(path: &Path, kind: IoKind) -> Option<f64> {
    let file = WorldFile::open_read_only(path).expect("the benchmark world opens");
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
    let file = WorldFile::open_read_only(path).expect("the benchmark world opens");
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

/// Backends this machine can open, by name.
pub fn backends(path: &Path) -> Vec<(&'static str, IoKind)> {
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

/// The world-file measurements of `world` (loads per backend, warm and
/// cold, against the `zstd` program, and saves), with files in `dir`.
pub fn file_measurements(world: &VoxelWorld, dir: &Path) -> Vec<Measurement> {
    let mut out = Vec::new();
    let path = dir.join("mixed.loam");
    write_world(&path, world);
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
    if let Some(ratio) = zstd_cli_ratio(&path, dir) {
        out.push(Measurement {
            name: "storage.zstd_cli_ratio".into(),
            value: ratio,
            unit: "x",
        });
    }
    out.push(Measurement {
        name: "storage.save.gbps".into(),
        value: save_gbps(dir, world),
        unit: "GB/s",
    });
    out
}
