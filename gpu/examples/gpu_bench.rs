//! The GPU benchmark set (so far: field diffusion, GPU against the CPU on
//! the same input, as cell updates per second; and the jelly10k soft body,
//! as ms per frame and constraint projections per second). On a machine
//! with a real GPU:
//!
//! ```text
//! cargo run --release -p loam-gpu --example gpu_bench
//! ```
//!
//! Times include upload and readback (one of each per run), as a frame
//! that hands the fields over would pay them.

use std::time::Instant;

use loam_gpu::{FieldDiffusion, GpuContext};
use loam_systems::fields::{diffuse_bricks, BRICK_CELLS};

/// A dense 10 × 10 × 10 block of bricks (the 64³ benchmark region of field
/// cells and the layer it grows), each brick's neighbours inside it.
fn block() -> (Vec<[f32; BRICK_CELLS]>, Vec<[Option<usize>; 6]>) {
    const N: i32 = 10;
    let index = |c: [i32; 3]| {
        c.iter()
            .all(|&v| (0..N).contains(&v))
            .then(|| (c[0] + N * (c[1] + N * c[2])) as usize)
    };
    let mut cells = Vec::new();
    let mut neighbours = Vec::new();
    for z in 0..N {
        for y in 0..N {
            for x in 0..N {
                cells.push(std::array::from_fn(|l| ((l * 7 + x as usize) % 101) as f32));
                let faces = [
                    [-1, 0, 0],
                    [1, 0, 0],
                    [0, -1, 0],
                    [0, 1, 0],
                    [0, 0, -1],
                    [0, 0, 1],
                ];
                neighbours.push(faces.map(|d| index([x + d[0], y + d[1], z + d[2]])));
            }
        }
    }
    (cells, neighbours)
}

fn main() -> Result<(), loam_gpu::GpuError> {
    let gpu = GpuContext::new()?;
    println!("adapter: {} ({:?})", gpu.adapter_name(), gpu.device_type());
    let (cells, neighbours) = block();
    let (alpha, substeps) = (0.1, 30u32);
    let updates = (cells.len() * BRICK_CELLS) as f64 * f64::from(substeps);

    let kernel = FieldDiffusion::new(&gpu);
    kernel.run(&gpu, &cells, &neighbours, alpha, 1)?; // warm up
    let start = Instant::now();
    kernel.run(&gpu, &cells, &neighbours, alpha, substeps)?;
    let gpu_s = start.elapsed().as_secs_f64();

    let start = Instant::now();
    let mut cpu = cells.clone();
    for _ in 0..substeps {
        cpu = diffuse_bricks(&cpu, &neighbours, alpha);
    }
    let cpu_s = start.elapsed().as_secs_f64();

    // The jelly10k workload of `loam bench xpbd`: 10,164 Gram-Schmidt
    // voxels, 4 substeps a frame, 30 frames.
    let (world, mut bodies) = loam::bench::xpbd::jelly10k();
    let table = loam_systems::materials::MaterialTable::default();
    let soft = loam_gpu::GpuSoftBodies::new(&gpu, &bodies.mirror(), &world, &table);
    let env = loam::bench::xpbd::ENV;
    let frames = 30;
    soft.step(&gpu, env.dt, env.substeps, env.gravity);
    soft.positions(&gpu)?;
    let start = Instant::now();
    for _ in 0..frames {
        soft.step(&gpu, env.dt, env.substeps, env.gravity);
    }
    soft.positions(&gpu)?;
    let soft_s = start.elapsed().as_secs_f64() / f64::from(frames);
    let projections = (bodies.constraints() * env.substeps as usize) as f64 / soft_s;

    println!("name                                    value unit");
    println!(
        "gpu.fields_diffuse.cell_updates_per_s  {:>12.3e} 1/s",
        updates / gpu_s
    );
    println!(
        "cpu.fields_diffuse.cell_updates_per_s  {:>12.3e} 1/s",
        updates / cpu_s
    );
    println!(
        "gpu.xpbd.jelly10k.ms_per_frame         {:>12.3} ms",
        soft_s * 1000.0
    );
    println!(
        "gpu.xpbd.jelly10k.projections_per_s    {:>12.3e} 1/s",
        projections
    );
    Ok(())
}
