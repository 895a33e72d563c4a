//! Field diffusion and decay, and the fields' mirror, against the CPU.

use super::*;

/// A 3 × 3 × 2 block of bricks with the middle of the top layer missing,
/// filled with a deterministic pattern of spikes and slopes; and each
/// brick's face neighbours.
pub(super) fn bricks() -> (Vec<[f32; BRICK_CELLS]>, Vec<[Option<usize>; 6]>) {
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

pub(super) fn field_diffusion_matches_the_cpu_within_1e_5() {
    let gpu = gpu();
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
    if gpu.timestamps() {
        let ns = kernel.last_gpu_ns().expect("timed");
        assert!(ns > 0, "the pass took {ns} ns on the GPU");
    }
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

pub(super) fn field_decay_matches_the_cpu_bit_for_bit_and_frees_the_same_bricks() {
    use loam_systems::fields::{Fields, Scalar};
    let gpu = gpu();
    let kernel = loam_gpu::FieldDecay::new(&gpu);
    let mut cpu = Fields::new(Default::default());
    cpu.add_explosion([50.0, 20.0, 50.0], 30.0, 2.0e6, 800.0);
    cpu.add_force([10.0, 10.0, 10.0], [3.0, 0.0, -1.0]);
    let mut on_gpu = cpu.clone();
    let before = cpu.bricks();
    for _ in 0..40 {
        cpu.decay(0.25);
        on_gpu
            .decay_with(0.25, |cells, factor| kernel.run(&gpu, cells, factor))
            .expect("the GPU decays");
    }
    assert!(cpu.bricks() < before, "some bricks decayed to nothing");
    assert_eq!(cpu.bricks(), on_gpu.bricks());
    for field in [Scalar::Pressure, Scalar::Thermal] {
        assert!(cpu.total(field) > 0.0);
        assert_eq!(cpu.total(field).to_bits(), on_gpu.total(field).to_bits());
    }
    for p in [[50.0, 20.0, 50.0], [60.0, 25.0, 44.0], [10.0, 10.0, 10.0]] {
        assert_eq!(cpu.sample(p), on_gpu.sample(p), "at {p:?}");
    }
}

pub(super) fn the_fields_step_on_the_gpu_matches_the_cpus_within_1e_5() {
    use loam_systems::fields::{Fields, Scalar};
    let gpu = gpu();
    let (diffusion, decay) = (FieldDiffusion::new(&gpu), loam_gpu::FieldDecay::new(&gpu));
    let mut cpu = Fields::new(Default::default());
    cpu.add_explosion([50.0, 20.0, 50.0], 30.0, 2.0e6, 800.0);
    cpu.set_wind([0, 0, 0], [32, 16, 32], [4.0, 0.0, 1.0]);
    let mut on_gpu = cpu.clone();
    let before = cpu.bricks();
    for _ in 0..30 {
        // As the runtime's `fields.step` and `fields.step.gpu` take it.
        cpu.step(1.0 / 60.0);
        on_gpu
            .step_with(
                1.0 / 60.0,
                |cells, neighbours, alpha| diffusion.run(&gpu, cells, neighbours, alpha, 1),
                |cells, factor| decay.run(&gpu, cells, factor),
            )
            .expect("the GPU steps");
    }
    assert!(cpu.bricks() > before, "the fields spread");
    assert_eq!(
        cpu.bricks(),
        on_gpu.bricks(),
        "the same bricks grown and freed"
    );
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-5 * a.abs().max(b.abs()).max(1e-3);
    for field in [Scalar::Pressure, Scalar::Thermal] {
        let (a, b) = (cpu.total(field), on_gpu.total(field));
        assert!(a > 0.0 && close(a, b), "{field:?}: {a} vs {b}");
    }
    for p in [[50.0, 20.0, 50.0], [60.0, 25.0, 44.0], [10.0, 10.0, 10.0]] {
        let (a, b) = (cpu.sample(p), on_gpu.sample(p));
        assert!(
            close(f64::from(a.pressure), f64::from(b.pressure)),
            "{p:?}: {a:?} vs {b:?}"
        );
        assert!(
            close(f64::from(a.thermal), f64::from(b.thermal)),
            "{p:?}: {a:?} vs {b:?}"
        );
        for axis in 0..3 {
            let (u, v) = (f64::from(a.kinetic[axis]), f64::from(b.kinetic[axis]));
            assert!(close(u, v), "{p:?}: {a:?} vs {b:?}");
        }
    }
}

pub(super) fn the_fields_mirror_steps_as_the_cpu_and_is_sent_only_what_the_cpu_wrote() {
    use loam_gpu::GpuFields;
    use loam_systems::fields::{Fields, Scalar};
    let gpu = gpu();
    let mut mirror = GpuFields::new(&gpu);
    let (mut cpu, mut mirrored) = (
        Fields::new(Default::default()),
        Fields::new(Default::default()),
    );
    let (mut most, mut freed) = (0, false);
    for frame in 0..60 {
        for f in [&mut cpu, &mut mirrored] {
            match frame {
                0 => f.add_explosion([50.0, 20.0, 50.0], 30.0, 2.0e6, 800.0),
                10 | 11 => {
                    f.set_wind([0, 0, 0], [32, 16, 32], [4.0, 0.0, 1.0]);
                    f.add_scalar(Scalar::Thermal, [90.0, 20.0, 10.0], 40.0);
                }
                _ => {}
            }
        }
        let before = mirror.stats();
        cpu.step(1.0 / 60.0);
        mirrored
            .step_mirrored(1.0 / 60.0, &mut mirror.on(&gpu))
            .expect("the GPU steps");
        let sent = mirror.stats().bricks_sent - before.bricks_sent;
        if matches!(frame, 0 | 10 | 11) {
            assert!(sent > 0, "frame {frame}: the CPU's writes were sent");
        } else {
            assert_eq!(sent, 0, "frame {frame}: nothing written, nothing sent");
        }
        assert_eq!(
            cpu.bricks(),
            mirrored.bricks(),
            "frame {frame}: the same bricks"
        );
        assert_eq!(mirror.bricks(), cpu.bricks());
        freed |= cpu.bricks() < most;
        most = most.max(cpu.bricks());
    }
    assert!(most > 50 && freed, "bricks grew to {most} and were freed");
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-5 * a.abs().max(b.abs()).max(1e-3);
    for field in [Scalar::Pressure, Scalar::Thermal] {
        let (a, b) = (cpu.total(field), mirrored.total(field));
        assert!(a > 0.0 && close(a, b), "{field:?}: {a} vs {b}");
    }
    for z in 0..32 {
        for y in 0..16 {
            for x in 0..32 {
                let (a, b) = (cpu.cell([x, y, z]), mirrored.cell([x, y, z]));
                let pairs = [
                    (a.pressure, b.pressure),
                    (a.thermal, b.thermal),
                    (a.kinetic[0], b.kinetic[0]),
                    (a.kinetic[1], b.kinetic[1]),
                    (a.kinetic[2], b.kinetic[2]),
                ];
                for (u, v) in pairs {
                    assert!(
                        close(f64::from(u), f64::from(v)),
                        "{:?}: {a:?} vs {b:?}",
                        [x, y, z]
                    );
                }
            }
        }
    }
    eprintln!("mirror: {:?}", mirror.stats());
}
