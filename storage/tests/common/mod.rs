//! What the world-file tests share: scratch files, seeded draws, reading a
//! whole file back.

use std::path::PathBuf;

use loam_storage::file::WorldFile;
use loam_storage::VoxelWorld;

/// A fresh directory for test `name`, and the world file's path in it.
pub fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("loam-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("world.loam")
}

/// SplitMix64: counter-based randomness.
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Every stored page of the file read into a fresh world.
pub fn read_all(file: &WorldFile) -> VoxelWorld {
    let layout = file.layout();
    let mut w = VoxelWorld::new(layout, 0, 293.15);
    for p in 0..layout.page_count() {
        file.load_page(&mut w, p).unwrap();
    }
    w
}
