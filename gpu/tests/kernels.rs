//! Every kernel against the CPU code it mirrors. Without a GPU adapter the
//! parity tests print a notice and pass, unless `LOAM_REQUIRE_GPU` is set
//! (CI sets it, with Mesa's lavapipe installed), which makes a missing
//! adapter a failure: GPU tests are never skipped silently in CI.

use loam_gpu::{shaders, FieldDiffusion, GpuContext, REQUIRE_GPU};
use loam_systems::fields::{diffuse_bricks, BRICK_CELLS};

/// The device, or `None` (with a notice) where there is none and none is
/// required.
fn gpu() -> Option<GpuContext> {
    match GpuContext::new() {
        Ok(gpu) => {
            eprintln!(
                "GPU adapter: {} ({:?})",
                gpu.adapter_name(),
                gpu.device_type()
            );
            Some(gpu)
        }
        Err(e) if std::env::var_os(REQUIRE_GPU).is_some() => {
            panic!("{REQUIRE_GPU} is set but there is no GPU: {e}")
        }
        Err(e) => {
            eprintln!("notice: GPU test skipped, {e} (set {REQUIRE_GPU}=1 to make this a failure)");
            None
        }
    }
}

#[test]
fn every_shader_parses_and_validates_with_naga() {
    for (name, source) in shaders::ALL {
        let module = naga::front::wgsl::parse_str(source)
            .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(source)));
        naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::default(),
        )
        .validate(&module)
        .unwrap_or_else(|e| panic!("{name}: {e:?}"));
    }
}

/// A 3 × 3 × 2 block of bricks with the middle of the top layer missing,
/// filled with a deterministic pattern of spikes and slopes; and each
/// brick's face neighbours.
fn bricks() -> (Vec<[f32; BRICK_CELLS]>, Vec<[Option<usize>; 6]>) {
    let coords: Vec<[i32; 3]> = (0..2)
        .flat_map(|z| (0..3).flat_map(move |y| (0..3).map(move |x| [x, y, z])))
        .filter(|&c| c != [1, 1, 1])
        .collect();
    let cells = coords
        .iter()
        .enumerate()
        .map(|(k, _)| {
            std::array::from_fn(|l| {
                let h = (l as u32 ^ (k as u32).wrapping_mul(2_654_435_761)).wrapping_mul(40_503);
                (h % 1000) as f32 * if l % 37 == 0 { 10.0 } else { 1.0 }
            })
        })
        .collect();
    let faces = [
        [-1, 0, 0],
        [1, 0, 0],
        [0, -1, 0],
        [0, 1, 0],
        [0, 0, -1],
        [0, 0, 1],
    ];
    let neighbours = coords
        .iter()
        .map(|c| {
            faces.map(|d| {
                coords
                    .iter()
                    .position(|o| (0..3).all(|a| o[a] == c[a] + d[a]))
            })
        })
        .collect();
    (cells, neighbours)
}

#[test]
fn field_diffusion_matches_the_cpu_within_1e_5() {
    let Some(gpu) = gpu() else { return };
    let (cells, neighbours) = bricks();
    let (alpha, substeps) = (0.15, 12);
    let mut cpu = cells.clone();
    for _ in 0..substeps {
        cpu = diffuse_bricks(&cpu, &neighbours, alpha);
    }
    let kernel = FieldDiffusion::new(&gpu);
    let out = kernel
        .run(&gpu, &cells, &neighbours, alpha, substeps)
        .expect("the kernel runs");
    let scale = cpu.iter().flatten().fold(0.0f32, |m, v| m.max(v.abs()));
    let worst = cpu
        .iter()
        .flatten()
        .zip(out.iter().flatten())
        .map(|(a, b)| (a - b).abs() / scale)
        .fold(0.0f32, f32::max);
    assert!(
        worst < 1e-5,
        "largest difference {worst} of the largest value"
    );
    // And it diffused: the field changed, and (with zero outside) lost
    // only what flowed out of the missing brick's faces and the edges.
    let moved = cells
        .iter()
        .flatten()
        .zip(out.iter().flatten())
        .filter(|(a, b)| a != b)
        .count();
    assert!(
        moved > cells.len() * BRICK_CELLS / 2,
        "{moved} cells changed"
    );
}

/// A 32³ world with a 4-cell stone floor, and a 4³ jelly of `gram_schmidt`
/// voxels above it, moving sideways.
fn jelly() -> (loam_storage::VoxelWorld, loam_systems::xpbd::SoftBodies) {
    use loam_systems::materials::{id, AMBIENT};
    use loam_systems::xpbd::{materials, SoftBodies, SoftBox};
    let layout = loam_storage::WorldLayout::new([32, 32, 32], 16).expect("a valid layout");
    let mut world = loam_storage::VoxelWorld::new(layout, id::AIR, AMBIENT);
    for x in 0..32 {
        for z in 0..32 {
            for y in 0..4 {
                world.set_cell([x, y, z], id::STONE, AMBIENT);
            }
        }
    }
    let mut bodies = SoftBodies::default();
    bodies.add_box(
        &SoftBox {
            velocity: [6.0, 0.0, -3.0],
            ..SoftBox::new("jelly", [12.0, 6.0, 12.0], [4, 4, 4], materials()[0])
        },
        0.25,
    );
    (world, bodies)
}

#[test]
fn soft_body_substeps_match_the_cpu_within_1e_4_cells() {
    use loam_systems::materials::MaterialTable;
    use loam_systems::xpbd::Environment;
    let Some(gpu) = gpu() else { return };
    let (world, mut cpu) = jelly();
    let table = MaterialTable::default();
    let env = Environment {
        dt: 1.0 / 60.0,
        substeps: 4,
        gravity: 9.81 / 0.25,
        voxel_size: 0.25,
        fields: None,
    };
    let gpu_bodies = loam_gpu::GpuSoftBodies::new(&gpu, &cpu.mirror(), &world, &table);
    let start = cpu.x.clone();
    // 25 frames of 4 substeps: the fall, the landing on the stone and the
    // slide along it.
    for _ in 0..25 {
        cpu.step(&world, &table, &env);
        gpu_bodies.step(&gpu, env.dt, env.substeps, env.gravity);
    }
    let out = gpu_bodies.positions(&gpu).expect("positions read back");
    let worst = cpu
        .x
        .iter()
        .zip(&out)
        .flat_map(|(a, b)| (0..3).map(move |k| (a[k] - b[k]).abs()))
        .fold(0.0f32, f32::max);
    assert!(
        worst <= 1e-4,
        "largest difference {worst} cells after 100 substeps"
    );
    let lowest = out.iter().map(|p| p[1]).fold(f32::INFINITY, f32::min);
    assert!(
        (4.0..4.1).contains(&lowest),
        "it landed on the floor (lowest particle y = {lowest})"
    );
    let moved = start
        .iter()
        .zip(&out)
        .map(|(a, b)| (a[0] - b[0]).abs())
        .fold(0.0f32, f32::max);
    assert!(moved > 1.0, "and slid along it: {moved} cells");
    assert_eq!(gpu_bodies.broken(&gpu).expect("flags read back"), 0);
}
