//! Loam's world-file reader against zarr-python on the same world, in one run.
//!
//! The world is Loam's benchmark *mixed* world (see `loam::cli::bench::streaming`),
//! saved as a `.loam` file and exported channel by channel with
//! `loam export-zarr`'s code: one Zarr v3 array per channel, one zstd chunk
//! per page, most chunks the very zstd frames the `.loam` file holds. Both
//! sides read every cell of every channel into memory from a warm page
//! cache, best of 5:
//!
//! - Loam: `WorldFile::load_pages` with `pread` on 2 rayon threads (read,
//!   CRC check, decode into pool slots).
//! - zarr-python: `zarr.open_array(...)[:]` for each channel, timed inside
//!   Python (interpreter start-up excluded), with zarr's default settings.
//!
//! Needs `python3` with `zarr` 3 (`pip install 'zarr>=3,<4'`). The last line
//! printed is `speedup_vs_zarr: X`, zarr's time over Loam's.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use loam::cli::bench::streaming::mixed_world;
use loam::loam_bench::storage::{scratch_dir, write_world};
use loam::loam_storage::file::WorldFile;
use loam::loam_storage::io::{self, IoKind};
use loam::loam_storage::zarr;
use loam::loam_storage::VoxelWorld;

const READ_ALL: &str = r#"
import sys, time
import zarr
paths = sys.argv[1:]
best = float("inf")
for _ in range(6):
    start = time.perf_counter()
    total = 0
    for p in paths:
        total += zarr.open_array(p, mode="r")[:].nbytes
    best = min(best, time.perf_counter() - start)
print(best, total)
"#;

fn main() -> ExitCode {
    let dir = scratch_dir().expect("a scratch directory");
    let path = dir.join("mixed.loam");
    let world = mixed_world();
    write_world(&path, &world);
    let file = WorldFile::open_read_only(&path).expect("the world opens");
    let layout = file.layout();
    let raw_bytes = (layout.page_count() * layout.page_cells() * 6) as f64;

    let mut arrays = Vec::new();
    for channel in ["material", "temperature", "flags"] {
        let out = dir.join(format!("{channel}.zarr"));
        let c = zarr::channel_index(channel).expect("a known channel");
        zarr::export(&file, c, &out, 3).expect("the export succeeds");
        arrays.push(out);
    }

    let pages: Vec<usize> = (0..layout.page_count()).collect();
    let (mut backend, _) = io::open(file.file(), IoKind::Pread).expect("pread opens");
    let mut target = VoxelWorld::new(layout, 0, 0.0);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("a pool");
    let loam = pool.install(|| {
        (0..6)
            .map(|_| {
                let start = Instant::now();
                file.load_pages(&mut target, &pages, backend.as_mut())
                    .expect("the world loads");
                start.elapsed()
            })
            .min()
            .unwrap_or(Duration::MAX)
    });
    assert_eq!(target.hash(), world.hash(), "Loam read the world it wrote");

    let python = std::process::Command::new("python3")
        .arg("-c")
        .arg(READ_ALL)
        .args(&arrays)
        .output();
    let output = match python {
        Ok(o) if o.status.success() => o,
        Ok(o) => {
            eprintln!(
                "zarr-python failed (is `zarr` 3 installed? pip install 'zarr>=3,<4'):\n{}",
                String::from_utf8_lossy(&o.stderr)
            );
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("cannot run python3: {e}");
            return ExitCode::FAILURE;
        }
    };
    let text = String::from_utf8_lossy(&output.stdout);
    let mut fields = text.split_whitespace();
    let zarr_s: f64 = fields
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN);
    let zarr_bytes: f64 = fields
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN);
    assert_eq!(
        zarr_bytes, raw_bytes,
        "zarr read every cell of every channel"
    );
    let _ = std::fs::remove_dir_all(&dir);

    println!(
        "world: {:?} cells, {} pages of {}³, {:.1} MB of raw cells",
        layout.size,
        layout.page_count(),
        layout.page,
        raw_bytes / 1e6
    );
    println!(
        "loam   (pread, 2 threads): {:8.2} ms  {:6.2} GB/s",
        loam.as_secs_f64() * 1e3,
        raw_bytes / loam.as_secs_f64() / 1e9
    );
    println!(
        "zarr-python (defaults):    {:8.2} ms  {:6.2} GB/s",
        zarr_s * 1e3,
        raw_bytes / zarr_s / 1e9
    );
    println!("speedup_vs_zarr: {:.1}", zarr_s / loam.as_secs_f64());
    ExitCode::SUCCESS
}
