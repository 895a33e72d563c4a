//! The command-line tool's pieces, apart from the library a game embeds
//! (feature `cli`, on by default): the benchmark groups `loam bench` runs,
//! `loam soak`, `loam stress` (and its kill trials), and the pictures `loam run --snapshot`
//! draws.

pub mod bench;
pub mod frame_tenths;
pub mod kills;
pub mod materials;
pub mod pictures;
pub mod replay;
pub mod soak;
pub mod stress;

/// A fresh world file in the temporary directory for the streamed world of
/// a soak, stress or replay (`what` tells them apart), removed by the
/// caller.
pub fn scratch_file(what: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("loam-{what}-{}.loam", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}
