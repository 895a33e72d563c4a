//! The command-line tool's pieces, apart from the library a game embeds
//! (feature `cli`, on by default): the benchmark groups `loam bench` runs,
//! `loam soak`, `loam stress`, and the pictures `loam run --snapshot`
//! draws.

pub mod bench;
pub mod materials;
pub mod pictures;
pub mod replay;
pub mod soak;
pub mod stress;
