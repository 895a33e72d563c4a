//! Field workloads.
//!
//! - `diffuse64`: one 1/60 s step of diffusion and decay over a dense 64³
//!   region of field cells (512 bricks, growing a layer of bricks around it
//!   as the fields spread), every cell holding all three fields; the step
//!   is cut into the substeps stability needs (three at the default
//!   pressure diffusion).

use std::time::Instant;

use loam_runtime::random::hash3;
use loam_systems::fields::{FieldConfig, Fields, Scalar};

use crate::Measurement;

/// The dense region: every field cell of 64³ (256³ voxels) written.
pub fn dense_fields() -> Fields {
    let mut f = Fields::new(FieldConfig::default());
    let cell = f.config().cell as f32;
    for z in 0..64u64 {
        for y in 0..64u64 {
            for x in 0..64u64 {
                let h = hash3(2, 0, x | y << 8 | z << 16);
                let p = [x, y, z].map(|v| (v as f32 + 0.5) * cell);
                let v = (h >> 40) as f32 / (1u64 << 24) as f32;
                f.add_scalar(Scalar::Pressure, p, 1000.0 * v);
                f.add_scalar(Scalar::Thermal, p, 100.0 * v);
                f.add_force(p, [v, 1.0 - v, 0.5]);
            }
        }
    }
    f
}

/// One step of diffusion and decay, as the runtime's `fields.step` job
/// takes it.
pub fn step(fields: &mut Fields) {
    fields.step(1.0 / 60.0);
}

/// Mean ms of the second step from the dense region, over `steps` fresh
/// copies, on `threads` threads. (Stepping on and on would time a region
/// that keeps growing as the fields spread.)
pub fn diffuse64_ms(threads: usize, steps: u32) -> f64 {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a small rayon pool");
    let dense = dense_fields();
    pool.install(|| {
        let mut total = 0.0;
        for _ in 0..=steps {
            // The first step grows the layer of bricks the spread needs and
            // the diffusion's second buffer; the second is the steady state.
            let mut f = dense.clone();
            step(&mut f);
            let start = Instant::now();
            step(&mut f);
            total += start.elapsed().as_secs_f64();
        }
        total * 1000.0 / f64::from(steps + 1)
    })
}

/// The `fields` group for `loam bench`.
pub fn measurements() -> Vec<Measurement> {
    [1, 2]
        .into_iter()
        .map(|t| Measurement {
            name: format!("fields.diffuse64.ms.t{t}"),
            value: diffuse64_ms(t, 20),
            unit: "ms",
        })
        .collect()
}
