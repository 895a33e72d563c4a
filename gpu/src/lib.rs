//! Loam's GPU backend (issue #6, first part): a headless wgpu device and
//! compute kernels written in WGSL (`shaders/`, one file per kernel), each
//! checked against the CPU code it mirrors.
//!
//! Built so far: the device bootstrap ([`GpuContext`]) and the field
//! diffusion kernel ([`FieldDiffusion`]), which gives the CPU's
//! `loam_systems::fields::diffuse_bricks` within float rounding. The
//! runtime does not use the GPU yet; `--backend gpu` still reports it
//! unavailable.
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

mod context;
mod diffuse;
mod page_use;
pub mod shaders;
mod world;
mod xpbd;

pub use context::{GpuContext, GpuError};
pub use diffuse::FieldDiffusion;
pub use page_use::{PageFeedback, PageUse};
pub use world::WorldMirror;
pub use xpbd::GpuSoftBodies;

/// Set (to anything) to make a missing GPU adapter a test failure instead
/// of a skip: CI sets it, so GPU tests can never be skipped silently there.
pub const REQUIRE_GPU: &str = "LOAM_REQUIRE_GPU";
