//! Loam's CPU simulation systems. Each system runs named phases in a fixed
//! order over flat arrays, and gets its parallelism from checkerboards, so
//! results never depend on the thread count.
//!
//! - [`materials`]: the material table every system reads.
//! - [`ca`]: falling-sand cellular automata with reactions and heat.
//! - [`phase`]: phase transitions from phase diagrams (Metropolis).
//! - [`fields`]: sparse kinetic, pressure and thermal fields, and how they
//!   move the world.
//! - [`lod`]: which pages far from every observer run less often.
//! - [`scale`]: the world's cell size and gravity, shared by all.
//! - [`xpbd`]: soft bodies (distance and volume constraints, small steps,
//!   colouring, collision with the world).

pub mod ca;
pub mod fields;
pub mod lod;
pub mod materials;
pub mod phase;
pub mod scale;
pub mod xpbd;

pub use materials::{Kind, Material, MaterialId, MaterialTable};
pub use scale::WorldScale;
