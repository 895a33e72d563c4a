//! Loam's GPU backend (issue #6, first part): a headless wgpu device and
//! compute kernels written in WGSL (`shaders/`, one file per kernel, each
//! validated by naga in a test), each checked against the CPU code it
//! mirrors.
//!
//! - [`GpuContext`]: the device, set up once.
//! - [`GpuAutomaton`]: the automaton (movement, reactions, heat) on the
//!   CPU's schedule of woken pages, bit for bit the CPU's.
//! - [`GpuFields`]: the fields kept on the GPU between frames, stepped
//!   there (diffusion and decay) and sent only the bricks the CPU wrote;
//!   the runtime's `fields.step.gpu` with `--backend gpu` (loam's `gpu`
//!   feature).
//! - [`FieldDiffusion`] (the kernel `GpuFields` steps with) and
//!   [`FieldDecay`] on host data in and out: diffusion within float
//!   rounding of `loam_systems::fields::diffuse_bricks`, decay bit for bit.
//! - [`WorldMirror`]: the world's blocked and loose cells per resident page and the
//!   page table, uploaded per changed page.
//! - [`GpuSoftBodies`]: soft bodies of every solver kept on the GPU,
//!   their substeps (contacts between bodies included) run there as a
//!   `loam_systems::xpbd::BodyMirror`, colliding with the mirror; bit for
//!   bit the CPU's on lavapipe.
//! - [`PageUse`]: GPU cache feedback after GigaVoxels: page uses and
//!   requests for absent pages, read back asynchronously.
//! - [`GpuPhase`]: the Metropolis phase pass, one invocation per cell, on
//!   the CPU's pages with the CPU's random draws; Gibbs energies in `f32`.
//! - [`plugins`]: all of these as the runtime's plugins, swapped in for
//!   the CPU's by `--backend gpu`.
//! - [`random`]: the CPU's counter-based randomness in WGSL (64-bit
//!   arithmetic from 32-bit words), bit for bit.
//!
//! ```no_run
//! use loam_gpu::{FieldDiffusion, GpuContext};
//!
//! let gpu = GpuContext::new()?;
//! println!("running on {}", gpu.adapter_name());
//! let kernel = FieldDiffusion::new(&gpu);
//! // One brick of 8³ cells with a spike in it, no neighbours.
//! let mut brick = [0.0f32; 512];
//! brick[300] = 1.0;
//! let out = kernel.run(&gpu, &[brick], &[[None; 6]], 0.1, 4)?;
//! assert!(out[0][300] < 1.0);
//! # Ok::<(), loam_gpu::GpuError>(())
//! ```

mod ca;
mod context;
mod decay;
mod diffuse;
mod fields;
mod page_use;
mod phase;
pub mod plugins;
mod pools;
pub mod random;
pub mod reaction_tables;
mod runs;
pub mod shaders;
mod timing;
mod world;
mod xpbd;

pub use ca::{runs_reactions_of, GpuAutomaton};
pub use context::{GpuContext, GpuError};
pub use decay::FieldDecay;
pub use diffuse::FieldDiffusion;
pub use fields::{FieldsOnGpu, GpuFields, MirrorStats};
pub use page_use::{PageFeedback, PageUse};
pub use phase::{GpuPhase, PhasePass};
pub use world::WorldMirror;
pub use xpbd::{BodiesOnGpu, BodyStats, GpuSoftBodies};

/// Set (to anything) to make a missing GPU adapter a test failure instead
/// of a skip: CI sets it, so GPU tests can never be skipped silently there.
pub const REQUIRE_GPU: &str = "LOAM_REQUIRE_GPU";
