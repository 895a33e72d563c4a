//! Every kernel against the CPU code it mirrors.
//!
//! This file is its own test harness (libtest-mimic), so that a machine with
//! no GPU adapter reports the GPU tests as *ignored*, with the reason on
//! stderr, instead of passing them without checking anything. With
//! `LOAM_REQUIRE_GPU` set (CI sets it, with Mesa's lavapipe installed) a
//! missing adapter fails every GPU test instead.

use std::process::ExitCode;

use libtest_mimic::{Arguments, Trial};
use loam_gpu::{shaders, FieldDiffusion, GpuContext, REQUIRE_GPU};
use loam_systems::fields::{diffuse_bricks, BRICK_CELLS};

/// The device. Only GPU tests call it, and they run only where the probe in
/// `main` found an adapter or `LOAM_REQUIRE_GPU` is set.
fn gpu() -> GpuContext {
    match GpuContext::new() {
        Ok(gpu) => {
            eprintln!(
                "GPU adapter: {} ({:?})",
                gpu.adapter_name(),
                gpu.device_type()
            );
            gpu
        }
        Err(e) => panic!("no GPU adapter: {e} ({REQUIRE_GPU} is set, or --include-ignored asked)"),
    }
}

/// The tests that need no GPU, and those that do.
fn main() -> ExitCode {
    let args = Arguments::from_args();
    let probe = GpuContext::new();
    let missing = probe.as_ref().err();
    let required = std::env::var_os(REQUIRE_GPU).is_some();
    let ignore = match &missing {
        Some(e) if !required => {
            eprintln!(
                "GPU tests ignored: no GPU adapter ({e}). Install a Vulkan driver (on Debian \
                 without a GPU: mesa-vulkan-drivers) and set {REQUIRE_GPU}=1 to make a missing \
                 adapter a failure."
            );
            true
        }
        _ => false,
    };
    let on_gpu = |name: &str, test: fn()| {
        Trial::test(name, move || {
            test();
            Ok(())
        })
        .with_ignored_flag(ignore)
    };
    let mut trials = vec![Trial::test(
        "every_shader_parses_and_validates_with_naga",
        || {
            every_shader_parses_and_validates_with_naga();
            Ok(())
        },
    )];
    #[cfg(feature = "tracy")]
    {
        // Tracy's GPU zones need timestamps inside encoders.
        let timestamps = probe.as_ref().is_ok_and(|gpu| {
            gpu.device
                .features()
                .contains(wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS)
        });
        if missing.is_none() && !timestamps {
            eprintln!(
                "Tracy GPU zone test ignored: the adapter cannot write timestamps in encoders"
            );
        }
        trials.push(
            on_gpu(
                "with_tracy_running_kernels_send_gpu_zones",
                with_tracy_running_kernels_send_gpu_zones,
            )
            .with_ignored_flag(ignore || missing.is_none() && !timestamps),
        );
    }
    trials.extend([
        on_gpu("field_diffusion_matches_the_cpu_within_1e_5", field_diffusion_matches_the_cpu_within_1e_5),
        on_gpu("field_decay_matches_the_cpu_bit_for_bit_and_frees_the_same_bricks", field_decay_matches_the_cpu_bit_for_bit_and_frees_the_same_bricks),
        on_gpu("the_fields_step_on_the_gpu_matches_the_cpus_within_1e_5", the_fields_step_on_the_gpu_matches_the_cpus_within_1e_5),
        on_gpu("the_fields_mirror_steps_as_the_cpu_and_is_sent_only_what_the_cpu_wrote", the_fields_mirror_steps_as_the_cpu_and_is_sent_only_what_the_cpu_wrote),
        on_gpu("the_world_mirror_sends_each_page_once_and_again_when_it_changes", the_world_mirror_sends_each_page_once_and_again_when_it_changes),
        on_gpu("soft_body_substeps_match_the_cpu_within_1e_4_cells", soft_body_substeps_match_the_cpu_within_1e_4_cells),
        on_gpu("soft_bodies_of_every_solver_in_contact_wind_water_sand_and_sleep_match_the_cpu", soft_bodies_of_every_solver_in_contact_wind_water_sand_and_sleep_match_the_cpu),
        on_gpu("a_row_of_cubes_landing_on_a_plank_touches_more_bodies_than_a_list_holds_and_matches_the_cpu", a_row_of_cubes_landing_on_a_plank_touches_more_bodies_than_a_list_holds_and_matches_the_cpu),
        on_gpu("a_stack_of_three_solvers_rests_and_sleeps_as_on_the_cpu", a_stack_of_three_solvers_rests_and_sleeps_as_on_the_cpu),
        on_gpu("a_torn_gram_schmidt_body_presses_with_its_particles_as_on_the_cpu", a_torn_gram_schmidt_body_presses_with_its_particles_as_on_the_cpu),
        on_gpu("page_use_counts_resident_pages_asks_for_absent_ones_once_and_reads_back_later", page_use_counts_resident_pages_asks_for_absent_ones_once_and_reads_back_later),
        on_gpu("page_use_requests_beyond_capacity_are_dropped_and_counted", page_use_requests_beyond_capacity_are_dropped_and_counted),
        on_gpu("a_soft_body_stops_on_pages_that_are_not_resident_and_asks_for_them", a_soft_body_stops_on_pages_that_are_not_resident_and_asks_for_them),
        on_gpu("random_numbers_on_the_gpu_are_the_cpus_bit_for_bit", random_numbers_on_the_gpu_are_the_cpus_bit_for_bit),
        on_gpu("automaton_movement_matches_the_cpu_bit_for_bit_over_200_frames", automaton_movement_matches_the_cpu_bit_for_bit_over_200_frames),
        on_gpu("automaton_on_the_cpus_schedule_wakes_the_same_pages_and_ends_in_the_same_world", automaton_on_the_cpus_schedule_wakes_the_same_pages_and_ends_in_the_same_world),
        on_gpu("automaton_with_reactions_and_heat_matches_the_cpu_bit_for_bit_on_its_schedule", automaton_with_reactions_and_heat_matches_the_cpu_bit_for_bit_on_its_schedule),
        on_gpu("phase_pass_matches_the_cpu_where_every_draw_is_clear", phase_pass_matches_the_cpu_where_every_draw_is_clear),
        on_gpu("phase_pass_near_the_boiling_point_agrees_with_the_cpu_statistically", phase_pass_near_the_boiling_point_agrees_with_the_cpu_statistically),
        on_gpu("phase_changes_held_part_way_agree_with_the_cpu", phase_changes_held_part_way_agree_with_the_cpu),
        on_gpu("automaton_matches_the_cpu_at_every_page_size", automaton_matches_the_cpu_at_every_page_size),
        on_gpu("the_phase_pass_asks_for_the_absent_pages_its_columns_reach_as_the_cpu_does", the_phase_pass_asks_for_the_absent_pages_its_columns_reach_as_the_cpu_does),
    ]);
    // Each test makes its own device.
    drop(probe);
    libtest_mimic::run(&args, trials).exit_code()
}

fn every_shader_parses_and_validates_with_naga() {
    for (name, source) in shaders::all() {
        let module = naga::front::wgsl::parse_str(&source)
            .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(&source)));
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

fn field_diffusion_matches_the_cpu_within_1e_5() {
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

fn field_decay_matches_the_cpu_bit_for_bit_and_frees_the_same_bricks() {
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

fn the_fields_step_on_the_gpu_matches_the_cpus_within_1e_5() {
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

fn the_fields_mirror_steps_as_the_cpu_and_is_sent_only_what_the_cpu_wrote() {
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

/// Soft bodies stepped on the CPU and, from the same start, on the GPU.
struct Twin {
    cpu: loam_systems::xpbd::SoftBodies,
    on_gpu: loam_systems::xpbd::SoftBodies,
    mirror: loam_gpu::GpuSoftBodies,
}

impl Twin {
    /// `bodies` in `world`, and a copy of them stepped on `gpu`, which
    /// records the pages it touches into `feedback`.
    fn new(
        gpu: &GpuContext,
        world: &loam_storage::VoxelWorld,
        bodies: loam_systems::xpbd::SoftBodies,
        feedback: Option<&loam_gpu::PageUse>,
    ) -> Self {
        let table = loam_systems::materials::MaterialTable::default();
        let mut mirror = loam_gpu::WorldMirror::new(gpu, world).expect("a small world");
        mirror.sync(gpu, world, &table);
        Twin {
            on_gpu: bodies.clone(),
            cpu: bodies,
            mirror: loam_gpu::GpuSoftBodies::new(gpu, &mirror, feedback),
        }
    }

    /// Asserts that the same bodies sleep on both and that they agree: 1e-4
    /// cells in the first 100 substeps; after that the bodies collide and
    /// rest, which may amplify rounding on other adapters (1e-3). Bit for
    /// bit on llvmpipe.
    fn assert_agrees(&self, gpu: &GpuContext, frame: u32) {
        let states = |b: &loam_systems::xpbd::SoftBodies| -> Vec<bool> {
            b.bodies.iter().map(|b| b.sleeping).collect()
        };
        let (cpu, on_gpu) = (&self.cpu, &self.on_gpu);
        assert_eq!(
            states(cpu),
            states(on_gpu),
            "the same bodies sleep, frame {frame}"
        );
        let tolerance = if frame < 25 { 1e-4 } else { 1e-3 };
        let when = format!("at frame {frame}");
        assert_bodies_agree(gpu, &cpu.x, &on_gpu.x, tolerance, &when);
        assert_bodies_agree(gpu, &cpu.v, &on_gpu.v, 100.0 * tolerance, &when);
    }

    /// A frame of both, of 4 substeps in a world of quarter-metre cells,
    /// feeling `fields`.
    fn step(
        &mut self,
        gpu: &GpuContext,
        world: &loam_storage::VoxelWorld,
        fields: Option<&loam_systems::fields::Fields>,
    ) {
        let table = loam_systems::materials::MaterialTable::default();
        let env = loam_systems::xpbd::Environment {
            dt: 1.0 / 60.0,
            substeps: 4,
            gravity: 9.81 / 0.25,
            voxel_size: 0.25,
            fields,
        };
        self.cpu.step(world, &table, &env);
        self.on_gpu
            .step_mirrored(world, &table, &env, &mut self.mirror.on(gpu))
            .expect("a frame on the GPU");
    }
}

fn the_world_mirror_sends_each_page_once_and_again_when_it_changes() {
    use loam_systems::materials::{id, MaterialTable, AMBIENT};
    let gpu = gpu();
    let (mut world, _) = jelly();
    let table = MaterialTable::default();
    let mut mirror = loam_gpu::WorldMirror::new(&gpu, &world).expect("a small world");
    assert_eq!(mirror.sync(&gpu, &world, &table), 8, "every page, once");
    assert_eq!(mirror.sync(&gpu, &world, &table), 0, "nothing changed");
    world.set_cell([20, 20, 20], id::SAND, AMBIENT);
    assert_eq!(mirror.sync(&gpu, &world, &table), 1, "the page changed");
}

fn soft_body_substeps_match_the_cpu_within_1e_4_cells() {
    let gpu = gpu();
    let (world, bodies) = jelly();
    let start = bodies.x.clone();
    let mut twin = Twin::new(&gpu, &world, bodies, None);
    // 25 frames of 4 substeps: the fall, the landing on the stone and the
    // slide along it.
    for _ in 0..25 {
        twin.step(&gpu, &world, None);
    }
    let (cpu, on_gpu) = (&twin.cpu, &twin.on_gpu);
    let out = &on_gpu.x;
    assert_bodies_agree(&gpu, &cpu.x, out, 1e-4, "after 100 substeps");
    let lowest = out.iter().map(|p| p[1]).fold(f32::INFINITY, f32::min);
    assert!(
        (4.0..4.1).contains(&lowest),
        "it landed on the floor (lowest particle y = {lowest})"
    );
    let moved = start
        .iter()
        .zip(out)
        .map(|(a, b)| (a[0] - b[0]).abs())
        .fold(0.0f32, f32::max);
    assert!(moved > 1.0, "and slid along it: {moved} cells");
    assert_eq!(on_gpu.summary(0).broken_constraints, 0);
    let stats = twin.mirror.stats();
    assert_eq!(stats.uploads, 1);
    assert_eq!(stats.particles_sent, 0, "nothing sent again: {stats:?}");
}

/// Asserts that the GPU's particles `got` agree with the CPU's: bit for
/// bit on llvmpipe, which rounds as the CPU does (the kernels keep the
/// CPU's order of operations), within `tolerance` cells on other adapters,
/// which may fuse or reorder float operations.
fn assert_bodies_agree(
    gpu: &GpuContext,
    cpu: &[[f32; 3]],
    got: &[[f32; 3]],
    tolerance: f32,
    when: &str,
) {
    let worst = largest_difference(cpu, got);
    if gpu.adapter_name().contains("llvmpipe") {
        assert!(worst == 0.0, "{worst} cells apart on llvmpipe {when}");
    } else {
        assert!(worst <= tolerance, "{worst} cells apart {when}");
    }
}

/// The largest difference of any coordinate of any particle.
fn largest_difference(a: &[[f32; 3]], b: &[[f32; 3]]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .flat_map(|(a, b)| (0..3).map(move |k| (a[k] - b[k]).abs()))
        .fold(0.0f32, f32::max)
}

/// An empty world of `size` cells on a stone floor a cell deep.
fn stone_floor(size: [u32; 3]) -> loam_storage::VoxelWorld {
    use loam_systems::materials::{id, AMBIENT};
    let layout = loam_storage::WorldLayout::new(size, 16).expect("a valid layout");
    let mut world = loam_storage::VoxelWorld::new(layout, id::AIR, AMBIENT);
    for x in 0..size[0] {
        for z in 0..size[2] {
            world.set_cell([x, 0, z], id::STONE, AMBIENT);
        }
    }
    world
}

/// A 48 × 32 × 32 world on a stone floor with a sand bed and a water pool,
/// and a body of each solver: a `volume` slab on the floor and a
/// `gram_schmidt` jelly that falls onto it late, a `distance` cube on the
/// sand, a jelly dropped into the water, and a rooted `volume` blade.
fn soft_world() -> (loam_storage::VoxelWorld, loam_systems::xpbd::SoftBodies) {
    use loam_systems::materials::{id, AMBIENT};
    use loam_systems::xpbd::{materials, SoftBodies, SoftBox, Solver};
    let layout = loam_storage::WorldLayout::new([48, 32, 32], 16).expect("a valid layout");
    let mut world = loam_storage::VoxelWorld::new(layout, id::AIR, AMBIENT);
    for x in 0..48 {
        for z in 0..32 {
            world.set_cell([x, 0, z], id::STONE, AMBIENT);
            for y in 1..4 {
                let m = match x {
                    20..=29 => id::SAND,
                    34..=45 => id::WATER,
                    _ => id::STONE,
                };
                world.set_cell([x, y, z], m, AMBIENT);
            }
        }
    }
    let [jelly, rubber, flesh] = materials();
    let body = |name: &str, origin: [f32; 3], voxels: [u32; 3], solver: Solver| SoftBox {
        solver,
        ..SoftBox::new(name, origin, voxels, jelly)
    };
    let mut bodies = SoftBodies::default();
    for b in [
        SoftBox {
            material: rubber,
            ..body("slab", [4.0, 4.0, 10.0], [5, 2, 5], Solver::Volume)
        },
        SoftBox {
            velocity: [0.0, -2.0, 0.0],
            ..body("falling", [5.0, 26.0, 11.0], [3, 3, 3], Solver::GramSchmidt)
        },
        SoftBox {
            material: flesh,
            velocity: [0.0, -12.0, 0.0],
            ..body("cube", [23.0, 8.0, 14.0], [2, 2, 2], Solver::Distance)
        },
        body("swimmer", [38.0, 6.0, 14.0], [2, 2, 2], Solver::GramSchmidt),
        SoftBox {
            rooted: true,
            material: flesh,
            ..body("blade", [12.0, 4.0, 22.0], [1, 5, 1], Solver::Volume)
        },
    ] {
        bodies.add_box(&b, 0.25);
    }
    (world, bodies)
}

fn soft_bodies_of_every_solver_in_contact_wind_water_sand_and_sleep_match_the_cpu() {
    use loam_systems::fields::{FieldConfig, Fields};
    let gpu = gpu();
    let (world, bodies) = soft_world();
    let mut twin = Twin::new(&gpu, &world, bodies, None);
    let mut fields = Fields::new(FieldConfig::default());
    let (mut slept, mut woke, mut bent) = (false, false, 0.0f32);
    for frame in 0..150 {
        if frame == 20 {
            // A gust over the blade and the slab.
            fields.add_explosion([10.0, 8.0, 18.0], 10.0, 2.0e4, 0.0);
        }
        let asleep = twin.cpu.bodies[0].sleeping;
        twin.step(&gpu, &world, Some(&fields));
        fields.step(1.0 / 60.0);
        let blade = twin.on_gpu.summary(4).center_of_mass;
        bent = bent.max(((blade[0] - 12.5).powi(2) + (blade[2] - 22.5).powi(2)).sqrt());
        slept |= twin.cpu.bodies[0].sleeping;
        woke |= asleep && !twin.cpu.bodies[0].sleeping;
        twin.assert_agrees(&gpu, frame);
    }
    // The physics the run is for, on the GPU.
    assert!(slept, "the slab fell asleep");
    assert!(woke, "and the jelly falling onto it woke it");
    eprintln!("{:?}", twin.mirror.stats());
    let on_gpu = &twin.on_gpu;
    assert!(bent > 0.1, "the gust bent the blade: {bent} cells");
    // A jelly slightly denser than water sinks at the speed where buoyancy
    // and water drag balance gravity: g (1 - 1000/1050) / LIQUID_DRAG.
    let terminal = 9.81 / 0.25 * (1.0 - 1000.0 / 1050.0) / loam_systems::xpbd::LIQUID_DRAG;
    let swimmer = on_gpu.summary(3).max_speed;
    assert!(
        (swimmer - terminal).abs() < 0.05,
        "the swimmer sinks at {swimmer} cells/s, terminal {terminal}"
    );
}

fn a_row_of_cubes_landing_on_a_plank_touches_more_bodies_than_a_list_holds_and_matches_the_cpu() {
    use loam_systems::xpbd::{materials, SoftBodies, SoftBox, Solver};
    let gpu = gpu();
    let world = stone_floor([48, 16, 16]);
    let [jelly, rubber, _] = materials();
    let mut cpu = SoftBodies::default();
    cpu.add_box(
        &SoftBox {
            solver: Solver::Volume,
            ..SoftBox::new("plank", [2.0, 1.0, 6.0], [40, 1, 3], rubber)
        },
        0.25,
    );
    // 20 cubes in a row, more than the 15 bodies a body lists as near it.
    for k in 0..20 {
        cpu.add_box(
            &SoftBox::new("cube", [3.0 + 2.0 * k as f32, 3.0, 7.0], [1, 1, 1], jelly),
            0.25,
        );
    }
    let mut twin = Twin::new(&gpu, &world, cpu, None);
    for _ in 0..25 {
        twin.step(&gpu, &world, None);
    }
    let on_gpu = &twin.on_gpu;
    assert_bodies_agree(&gpu, &twin.cpu.x, &on_gpu.x, 1e-4, "after 100 substeps");
    // Every cube rests on the plank (2 cells high, a contact diameter
    // above it) rather than falling through it.
    for k in 1..=20 {
        let low = on_gpu.summary(k).min_y;
        assert!((2.5..3.0).contains(&low), "cube {k} rests at y = {low}");
    }
}

fn a_stack_of_three_solvers_rests_and_sleeps_as_on_the_cpu() {
    use loam_systems::xpbd::{materials, SoftBodies, SoftBox, Solver};
    let gpu = gpu();
    let world = stone_floor([16, 32, 16]);
    let [jelly, rubber, _] = materials();
    let mut cpu = SoftBodies::default();
    // Shifted a little, so that particles land over skin faces, not
    // straight on particles.
    for (name, origin, material, solver) in [
        ("bottom", [5.0, 1.0, 5.0], rubber, Solver::Volume),
        ("middle", [5.3, 5.0, 4.8], rubber, Solver::GramSchmidt),
        ("top", [4.9, 9.0, 5.2], jelly, Solver::Distance),
    ] {
        cpu.add_box(
            &SoftBox {
                solver,
                ..SoftBox::new(name, origin, [3, 3, 3], material)
            },
            0.25,
        );
    }
    let mut twin = Twin::new(&gpu, &world, cpu, None);
    let mut slept = 0;
    for frame in 0..400 {
        twin.step(&gpu, &world, None);
        twin.assert_agrees(&gpu, frame);
        if twin.on_gpu.bodies.iter().all(|b| b.sleeping) {
            slept = frame;
            break;
        }
    }
    let on_gpu = &twin.on_gpu;
    assert!(slept > 0, "the stack came to rest and slept on the GPU");
    for k in 1..3 {
        let (below, above) = (on_gpu.summary(k - 1), on_gpu.summary(k));
        assert!(
            above.center_of_mass[1] > below.center_of_mass[1] + 2.5,
            "body {k} rests on the one below: {above:?} over {below:?}"
        );
    }
}

/// An intact Gram-Schmidt body presses on other skins with its skin
/// joints, a torn one with its particles: a body torn at its first substep
/// (one corner voxel pulled 2 cells out) falls onto another, on the GPU as
/// on the CPU.
fn a_torn_gram_schmidt_body_presses_with_its_particles_as_on_the_cpu() {
    use loam_systems::xpbd::{materials, SoftBodies, SoftBox, Solver};
    let gpu = gpu();
    let world = stone_floor([16, 32, 16]);
    let [_, rubber, flesh] = materials();
    let mut cpu = SoftBodies::default();
    cpu.add_box(
        &SoftBox {
            solver: Solver::Volume,
            ..SoftBox::new("under", [5.0, 1.0, 5.0], [3, 3, 3], rubber)
        },
        0.25,
    );
    let torn = cpu.add_box(
        &SoftBox::new("torn", [5.3, 5.0, 4.8], [3, 3, 3], flesh),
        0.25,
    );
    // The first voxel's 8 corners.
    let first = cpu.bodies[torn].particles.0;
    for p in &mut cpu.x[first..first + 8] {
        p[0] -= 2.0;
    }
    let mut twin = Twin::new(&gpu, &world, cpu, None);
    for frame in 0..90 {
        twin.step(&gpu, &world, None);
        twin.assert_agrees(&gpu, frame);
    }
    let (under, torn) = (twin.on_gpu.summary(0), twin.on_gpu.summary(torn));
    assert!(torn.broken_constraints > 0, "it tore: {torn:?}");
    assert!(
        torn.center_of_mass[1] > under.center_of_mass[1] + 2.5,
        "and rests on the other body: {torn:?} over {under:?}"
    );
}

/// Uploads `points` as a storage buffer, as a kernel's own buffer would be.
fn point_buffer(gpu: &GpuContext, points: &[[f32; 3]]) -> wgpu::Buffer {
    use wgpu::util::DeviceExt;
    gpu.device
        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("points"),
            contents: bytemuck::cast_slice(points),
            usage: wgpu::BufferUsages::STORAGE,
        })
}

fn page_use_counts_resident_pages_asks_for_absent_ones_once_and_reads_back_later() {
    use loam_gpu::PageUse;
    use loam_storage::{PageState, PageTable, WorldLayout};
    let gpu = gpu();
    // 4 × 2 × 4 pages of 16³ cells; the pages with x = 0 are resident.
    let world = WorldLayout::new([64, 32, 64], 16).expect("a valid layout");
    let resident: Vec<usize> = (0..world.page_count())
        .filter(|&p| world.page_coord(p)[0] == 0)
        .collect();
    let mut feedback = PageUse::new(&gpu, &world, 64);
    feedback.set_resident(
        &gpu,
        &resident.iter().map(|&p| (p, true)).collect::<Vec<_>>(),
    );
    // 3 touches of page (0,0,0), 5 of page (0,1,2), 40 of the absent page
    // (3,1,3), 2 of the absent page (1,0,0), and points outside the world.
    let mut points = vec![[1.0, 1.0, 1.0]; 3];
    points.extend(vec![[5.5, 20.0, 40.0]; 5]);
    points.extend((0..40).map(|k| [60.0, 17.0 + (k % 10) as f32, 50.0]));
    points.extend(vec![[20.0, 3.0, 3.0]; 2]);
    points.extend([[-1.0, 0.0, 0.0], [64.0, 0.0, 0.0], [f32::NAN, 1.0, 1.0]]);
    let buffer = point_buffer(&gpu, &points);
    feedback.record(&gpu, &buffer, points.len() as u32);
    assert!(feedback.start_readback(&gpu));
    assert!(feedback.pending(), "the readback is asynchronous");
    let got = feedback
        .take(&gpu, true)
        .expect("read back")
        .expect("a result");
    let page = |c: [u32; 3]| world.page_index(c);
    assert_eq!(got.uses, vec![(page([0, 0, 0]), 3), (page([0, 1, 2]), 5)]);
    let mut asked = vec![page([1, 0, 0]), page([3, 1, 3])];
    asked.sort_unstable();
    assert_eq!(got.requests, asked, "each absent page asked for once");
    assert_eq!(got.dropped, 0);
    assert!(!feedback.pending());

    // The next readback covers only what was recorded after the first.
    let again = point_buffer(&gpu, &[[1.0, 1.0, 1.0]]);
    feedback.record(&gpu, &again, 1);
    feedback.start_readback(&gpu);
    let got = feedback
        .take(&gpu, true)
        .expect("read back")
        .expect("a result");
    assert_eq!(got.uses, vec![(page([0, 0, 0]), 1)]);
    assert!(got.requests.is_empty());

    // Applied to a page table, uses refresh the LRU and requests come out.
    let mut table = PageTable::all_absent(world.page_count());
    table.set_state(page([0, 0, 0]), PageState::Resident);
    assert_eq!(got.apply(&mut table, 42), &[] as &[usize]);
    assert_eq!(table.last_use(page([0, 0, 0])), 42);
}

fn page_use_requests_beyond_capacity_are_dropped_and_counted() {
    use loam_gpu::PageUse;
    use loam_storage::WorldLayout;
    let gpu = gpu();
    let world = WorldLayout::new([128, 16, 16], 16).expect("a valid layout");
    let mut feedback = PageUse::new(&gpu, &world, 3);
    // Eight absent pages touched, room for three requests.
    let points: Vec<[f32; 3]> = (0..8).map(|k| [16.0 * k as f32 + 1.0, 1.0, 1.0]).collect();
    feedback.record(&gpu, &point_buffer(&gpu, &points), 8);
    feedback.start_readback(&gpu);
    let got = feedback
        .take(&gpu, true)
        .expect("read back")
        .expect("a result");
    assert_eq!(got.requests.len(), 3);
    assert_eq!(got.dropped, 5);
    assert!(got.requests.iter().all(|&p| p < 8));
}

fn a_soft_body_stops_on_pages_that_are_not_resident_and_asks_for_them() {
    use loam_gpu::PageUse;
    use loam_storage::{VoxelWorld, WorldLayout};
    use loam_systems::materials::id;
    use loam_systems::xpbd::{materials, SoftBodies, SoftBox};
    let gpu = gpu();
    // 2 × 2 × 2 pages of 16³; only the top four are resident, so the body
    // falls onto the absent bottom pages, a wall on the CPU and the GPU.
    let layout = WorldLayout::new([32, 32, 32], 16).expect("a valid layout");
    let mut world = VoxelWorld::with_capacity(layout, 4);
    let top: Vec<usize> = (0..8).filter(|&p| layout.page_coord(p)[1] == 1).collect();
    for &p in &top {
        world.install(p).expect("a free slot");
        for v in world.page_mut(p).expect("installed").material.iter_mut() {
            *v = id::AIR;
        }
    }
    let mut cpu = SoftBodies::default();
    cpu.add_box(
        &SoftBox::new("jelly", [10.0, 20.0, 10.0], [3, 3, 3], materials()[0]),
        0.25,
    );
    let mut feedback = PageUse::new(&gpu, &layout, 64);
    let mut twin = Twin::new(&gpu, &world, cpu, Some(&feedback));
    // The lowest any particle got over the run.
    let mut lowest = f32::INFINITY;
    for _ in 0..40 {
        twin.step(&gpu, &world, None);
        lowest = twin.on_gpu.x.iter().map(|p| p[1]).fold(lowest, f32::min);
    }
    assert!(
        (16.0 - 0.05..16.1).contains(&lowest),
        "it lands on the absent pages' top at y = 16 and never enters them: {lowest}"
    );
    assert_eq!(
        twin.cpu.x, twin.on_gpu.x,
        "the same as the CPU, which freezes pages that are not resident"
    );
    feedback.start_readback(&gpu);
    let got = feedback
        .take(&gpu, true)
        .expect("read back")
        .expect("a result");
    let below = layout.page_index([0, 0, 0]);
    assert!(
        got.requests.contains(&below),
        "it asked for the page under it: {:?}",
        got.requests
    );
    assert!(got
        .uses
        .iter()
        .any(|&(p, _)| p == layout.page_index([0, 1, 0])));
}

#[cfg(feature = "tracy")]
fn with_tracy_running_kernels_send_gpu_zones() {
    let _client = tracy_client::Client::start();
    let gpu = gpu();
    // `main` ignores this test on adapters without timestamps in encoders.
    assert!(gpu.traces_to_tracy(), "a Tracy GPU context was made");
    let (cells, neighbours) = bricks();
    let kernel = FieldDiffusion::new(&gpu);
    kernel
        .run(&gpu, &cells, &neighbours, 0.1, 3)
        .expect("the kernel runs and its zone is sent");
    assert!(kernel.last_gpu_ns().expect("timed") > 0);
    // The runtime's soft bodies time their substeps too.
    let (world, bodies) = jelly();
    let mut twin = Twin::new(&gpu, &world, bodies, None);
    for _ in 0..2 {
        twin.step(&gpu, &world, None);
    }
    let sent = gpu.tracy_zones_sent();
    assert_eq!(sent.get("fields.diffuse"), Some(&1), "{sent:?}");
    assert_eq!(sent.get("softbody.substeps"), Some(&2), "{sent:?}");
}

fn random_numbers_on_the_gpu_are_the_cpus_bit_for_bit() {
    use loam_runtime::random::{hash3, unit3};
    let gpu = gpu();
    // Edge values and a spread of counters, as the kernels will use them.
    let edges = [
        0,
        1,
        2,
        u64::from(u32::MAX),
        1 << 32,
        u64::MAX,
        0x9E37_79B9_7F4A_7C15,
    ];
    let mut triples = Vec::new();
    for &a in &edges {
        for &b in &edges {
            for &c in &edges {
                triples.push([a, b, c]);
            }
        }
    }
    triples.extend(
        (0..50_000u64).map(|k| [k.wrapping_mul(0x2545_F491_4F6C_DD1D), k / 7, k << 21 ^ k]),
    );
    let got = loam_gpu::random::hash3_on_gpu(&gpu, &triples).expect("the kernel runs");
    for (t, &(h, u)) in triples.iter().zip(&got) {
        assert_eq!(h, hash3(t[0], t[1], t[2]), "hash3{t:?}");
        assert_eq!(u.to_bits(), unit3(t[0], t[1], t[2]).to_bits(), "unit3{t:?}");
    }
}

/// 32³ cells in pages of `page`: a sand pile, a block of water and a puff of
/// smoke over a stone floor, every cell at its own temperature (so swaps
/// that lose one show), and a wall to pile against; with the automaton's
/// movement alone.
fn sandbox(
    page: u32,
) -> (
    loam_storage::VoxelWorld,
    loam_systems::materials::MaterialTable,
    loam_systems::ca::CaConfig,
) {
    use loam_storage::{VoxelWorld, WorldLayout};
    use loam_systems::materials::{id, MaterialTable, AMBIENT};
    let layout = WorldLayout::new([32, 32, 32], page).expect("a valid layout");
    let mut world = VoxelWorld::new(layout, id::AIR, AMBIENT);
    for z in 0..32u32 {
        for y in 0..32u32 {
            for x in 0..32u32 {
                let m = if y < 2 || (x == 20 && y < 12) {
                    id::STONE
                } else if (8..16).contains(&x) && (10..24).contains(&y) && (8..20).contains(&z) {
                    id::SAND
                } else if (22..30).contains(&x) && (4..12).contains(&y) && (10..26).contains(&z) {
                    id::WATER
                } else if (4..10).contains(&x) && (3..7).contains(&y) && (22..28).contains(&z) {
                    id::SMOKE
                } else {
                    continue;
                };
                world.set_cell(
                    [x, y, z],
                    m,
                    AMBIENT + ((x * 7 + y * 13 + z * 29) % 97) as f32,
                );
                // Fluids part way through a phase change carry the latent
                // heat they hold wherever they move.
                if m == id::WATER || m == id::SMOKE {
                    let i = world.cell_index([x, y, z]).expect("resident");
                    world.latent.as_mut_slice()[i] = ((x + 3 * y + 5 * z) % 7) as f32 - 3.0;
                }
            }
        }
    }
    let config = loam_systems::ca::CaConfig {
        reactions: false,
        heat: false,
        thermal_transitions: false,
        skip_stuck_rows: true,
    };
    (world, MaterialTable::default(), config)
}

/// The first cell where two worlds' materials, temperatures or latent
/// heats differ.
fn first_difference(a: &loam_storage::VoxelWorld, b: &loam_storage::VoxelWorld) -> Option<usize> {
    (0..a.material.as_slice().len()).find(|&i| {
        a.material.as_slice()[i] != b.material.as_slice()[i]
            || a.temperature.as_slice()[i].to_bits() != b.temperature.as_slice()[i].to_bits()
            || a.latent.as_slice()[i].to_bits() != b.latent.as_slice()[i].to_bits()
    })
}

fn automaton_movement_matches_the_cpu_bit_for_bit_over_200_frames() {
    use loam_systems::ca;
    let gpu = gpu();
    let (world, table, config) = sandbox(8);
    let seed = 0x5EED_u64;
    let automaton = loam_gpu::GpuAutomaton::new(&gpu, &world, &table, &config, seed);
    let mut cpu = world.clone();
    let mut moves = 0;
    for frame in 1..=200 {
        // `step` updates every page every frame; so does the CPU here.
        for p in 0..world.layout().page_count() {
            cpu.table.wake(p);
        }
        moves += ca::step(&mut cpu, &table, &config, seed, frame).moves;
        automaton.step(&gpu, frame).expect("the GPU steps");
    }
    assert!(moves > 5_000, "things moved: {moves} swaps");
    let mut out = world.clone();
    automaton.download(&gpu, &mut out).expect("read back");
    assert_eq!(
        first_difference(&cpu, &out),
        None,
        "the GPU's world is the CPU's, cell for cell"
    );
    assert_eq!(cpu.flags.as_slice(), out.flags.as_slice());
    assert_ne!(
        world.material.as_slice(),
        out.material.as_slice(),
        "and it is not the start"
    );
}

/// What 200 frames of the automaton did on the CPU and, on the CPU's
/// schedule, on the GPU.
struct ScheduleRun {
    cpu: loam_storage::VoxelWorld,
    gpu: loam_storage::VoxelWorld,
    reactions: u64,
    /// Whether at some frame fewer than half the pages were woken.
    slept: bool,
}

/// Runs `world` for 200 frames on the CPU and with `step_world` on the
/// GPU (each with its own copy of the world; the CPU pours sand into both
/// at frame 100), checking every frame that both report the same stats and
/// woke the same pages for the next, and at the end that the GPU holds
/// what it handed back and was sent only the pages the sand fell into.
fn on_the_cpus_schedule(
    gpu: &GpuContext,
    world: &loam_storage::VoxelWorld,
    table: &loam_systems::materials::MaterialTable,
    config: &loam_systems::ca::CaConfig,
    seed: u64,
) -> ScheduleRun {
    use loam_systems::materials::id;
    let automaton = loam_gpu::GpuAutomaton::new(gpu, world, table, config, seed);
    let (mut cpu, mut on_gpu) = (world.clone(), world.clone());
    let (mut reactions, mut slept) = (0, false);
    for frame in 1..=200 {
        if frame == 100 {
            // The CPU pours sand into both worlds: the GPU must be sent it.
            for w in [&mut cpu, &mut on_gpu] {
                for (x, z) in (12..15).flat_map(|x| (24..27).map(move |z| (x, z))) {
                    w.set_cell([x, 28, z], id::SAND, 300.0);
                }
            }
        }
        let stats = loam_systems::ca::step(&mut cpu, table, config, seed, frame);
        reactions += stats.reactions;
        let on = automaton
            .step_world(gpu, &mut on_gpu, frame)
            .expect("the GPU steps");
        assert_eq!(stats, on, "{config:?}, frame {frame}: the same stats");
        let (a, b) = (cpu.table.woken().to_vec(), on_gpu.table.woken().to_vec());
        assert_eq!(
            sorted(a.clone()),
            sorted(b),
            "{config:?}, frame {frame}: the same pages woken next"
        );
        slept |= a.len() < world.layout().page_count() / 2;
    }
    // What the GPU holds is what it handed back.
    let mut pools = on_gpu.clone();
    automaton.download(gpu, &mut pools).expect("read back");
    assert_eq!(first_difference(&pools, &on_gpu), None, "the GPU's pools");
    let uploaded = automaton.pages_uploaded();
    assert!(
        (1..=8).contains(&uploaded),
        "{uploaded} pages sent: those the sand was poured into"
    );
    ScheduleRun {
        cpu,
        gpu: on_gpu,
        reactions,
        slept,
    }
}

fn sorted(mut v: Vec<usize>) -> Vec<usize> {
    v.sort_unstable();
    v
}

fn automaton_on_the_cpus_schedule_wakes_the_same_pages_and_ends_in_the_same_world() {
    use loam_systems::ca;
    let gpu = gpu();
    // Movement alone, then movement and heat conduction.
    for heat in [false, true] {
        let (world, table, config) = sandbox(8);
        let config = ca::CaConfig { heat, ..config };
        let run = on_the_cpus_schedule(&gpu, &world, &table, &config, 77);
        assert!(
            run.slept || heat,
            "some pages slept, so the schedule was really followed"
        );
        assert_eq!(
            first_difference(&run.cpu, &run.gpu),
            None,
            "heat {heat}: the same world, cell for cell"
        );
        if heat {
            let spread = |w: &loam_storage::VoxelWorld| {
                let t = w.temperature.as_slice();
                t.iter().fold(f32::MIN, |a, &b| a.max(b))
                    - t.iter().fold(f32::MAX, |a, &b| a.min(b))
            };
            assert!(spread(&run.gpu) < spread(&world), "and heat evened out");
        }
    }
}

fn automaton_with_reactions_and_heat_matches_the_cpu_bit_for_bit_on_its_schedule() {
    use loam_storage::{VoxelWorld, WorldLayout};
    use loam_systems::ca::CaConfig;
    use loam_systems::materials::{id, MaterialTable, AMBIENT};
    let gpu = gpu();
    // Lava flowing into water (basalt and steam), a burning wooden block
    // (flames spread, fire burns out to smoke, smoke dissipates), ice in
    // warm air (it melts), steam cooling (it condenses), with heat.
    let layout = WorldLayout::new([32, 32, 32], 8).expect("a valid layout");
    let mut world = VoxelWorld::new(layout, id::AIR, AMBIENT);
    let boxes = [
        ([0, 0, 0], [32, 2, 32], id::STONE, AMBIENT),
        ([2, 2, 2], [12, 6, 12], id::WATER, 290.0),
        ([4, 10, 4], [9, 14, 9], id::LAVA, 1400.0),
        ([18, 2, 4], [26, 8, 10], id::WOOD, AMBIENT),
        ([20, 8, 6], [22, 9, 8], id::FIRE, 1200.0),
        ([4, 2, 20], [10, 6, 26], id::ICE, 265.0),
        ([18, 14, 18], [26, 18, 26], id::STEAM, 380.0),
    ];
    for (lo, hi, m, t) in boxes {
        for z in lo[2]..hi[2] {
            for y in lo[1]..hi[1] {
                for x in lo[0]..hi[0] {
                    world.set_cell([x, y, z], m, t);
                }
            }
        }
    }
    let run = on_the_cpus_schedule(
        &gpu,
        &world,
        &MaterialTable::default(),
        &CaConfig::default(),
        2026,
    );
    assert!(run.reactions > 100, "things reacted: {}", run.reactions);
    assert_eq!(
        first_difference(&run.cpu, &run.gpu),
        None,
        "the same world, cell for cell"
    );
    let count = |w: &VoxelWorld, m| w.material.as_slice().iter().filter(|&&c| c == m).count();
    for m in [id::BASALT, id::SMOKE, id::WATER] {
        assert_eq!(count(&run.cpu, m), count(&run.gpu, m));
    }
    assert!(count(&run.gpu, id::BASALT) > 0, "lava met water");
}

/// A 48 × 48 × 48 world in pages of 16 for the phase pass: a floor of
/// stone, a pool of water whose top half stands in a bath at `bath_t` K,
/// a block of ice and a slab of cold lava on the floor, with temperatures
/// per cell from `t` (x, y, z).
fn phase_world(
    bath_t: f32,
    t: impl Fn(u32, u32, u32) -> f32,
) -> (loam_storage::VoxelWorld, Vec<loam_systems::phase::HeatBath>) {
    use loam_storage::{VoxelWorld, WorldLayout};
    use loam_systems::materials::{id, AMBIENT};
    let layout = WorldLayout::new([48, 48, 48], 16).expect("a valid layout");
    let mut world = VoxelWorld::new(layout, id::AIR, AMBIENT);
    for z in 0..48u32 {
        for y in 0..48u32 {
            for x in 0..48u32 {
                let m = if y < 2 {
                    id::STONE
                } else if (4..28).contains(&x) && (2..30).contains(&y) && (4..40).contains(&z) {
                    id::WATER
                } else if (32..44).contains(&x) && (2..10).contains(&y) && (4..16).contains(&z) {
                    id::ICE
                } else if (32..44).contains(&x) && (2..4).contains(&y) && (24..40).contains(&z) {
                    id::LAVA
                } else {
                    continue;
                };
                world.set_cell([x, y, z], m, t(x, y, z));
            }
        }
    }
    let baths = vec![loam_systems::phase::HeatBath {
        min: [4, 16, 4],
        max: [28, 30, 40],
        temperature: bath_t,
    }];
    (world, baths)
}

/// Runs `passes` phase passes on the CPU and on the GPU from the same
/// world, waking every page before the first; halfway, the CPU pours a
/// little water at 383 K into both worlds. Returns both worlds and states,
/// the number of passes after which the two woke different pages, and the
/// pages the GPU mirror was sent.
fn phase_on_both(
    gpu: &GpuContext,
    world: loam_storage::VoxelWorld,
    baths: &[loam_systems::phase::HeatBath],
    config: loam_systems::phase::PhaseConfig,
    fields: Option<&loam_systems::fields::Fields>,
    passes: u64,
) -> (
    [(loam_storage::VoxelWorld, loam_systems::phase::PhaseState); 2],
    usize,
    u64,
) {
    use loam_systems::materials::MaterialTable;
    use loam_systems::phase::{metropolis_pass, PhaseState, PhaseTable};
    let (phases, materials) = (PhaseTable::default(), MaterialTable::default());
    let mut cpu = (world.clone(), PhaseState::default());
    let mut on_gpu = (world, PhaseState::default());
    for (w, _) in [&mut cpu, &mut on_gpu] {
        for p in 0..w.layout().page_count() {
            w.table.wake(p);
        }
    }
    let kernel = loam_gpu::GpuPhase::new(gpu, &on_gpu.0, &phases, &materials, &config)
        .expect("the world fits");
    let mut other_wakes = 0;
    for frame in 0..passes {
        if frame == passes / 2 {
            for (w, _) in [&mut cpu, &mut on_gpu] {
                for (x, z) in (8..12).flat_map(|x| (8..12).map(move |z| (x, z))) {
                    w.set_cell([x, 20, z], loam_systems::materials::id::WATER, 383.0);
                }
            }
        }
        let (w, s) = &mut cpu;
        metropolis_pass(w, s, &phases, &materials, &config, baths, fields, 7, frame);
        let (w, s) = &mut on_gpu;
        kernel
            .pass(gpu, w, s, &phases, baths, fields, 7, frame)
            .expect("the GPU pass runs");
        if cpu.0.table.take_woken() != on_gpu.0.table.take_woken() {
            other_wakes += 1;
        }
    }
    ([cpu, on_gpu], other_wakes, kernel.pages_uploaded())
}

fn phase_pass_matches_the_cpu_where_every_draw_is_clear() {
    use loam_systems::materials::{id, AMBIENT};
    let gpu = gpu();
    // Water boils in a bath at 383 K (above its boiling point under the
    // 3.5 m of water above the deepest bathed cell), and stays water below
    // it at 300 K, and where the pressure field adds 2 bar; ice at 200 K
    // and lava at 500 K are far from melting, so the lava solidifies and
    // the ice stays.
    let (world, baths) = phase_world(383.0, |x, y, _| {
        if x >= 32 && y < 4 {
            500.0
        } else if x >= 32 {
            200.0
        } else if y >= 16 {
            383.0
        } else {
            AMBIENT
        }
    });
    let config = loam_systems::phase::PhaseConfig::default();
    let mut fields = loam_systems::fields::Fields::new(Default::default());
    let squeezed = ([4, 16, 4], [28, 30, 20]);
    fields.set_scalar_box(
        loam_systems::fields::Scalar::Pressure,
        squeezed.0,
        squeezed.1,
        2.0e5,
    );
    let ([cpu, on_gpu], other_wakes, uploaded) =
        phase_on_both(&gpu, world, &baths, config, Some(&fields), 12);
    // The pages the CPU poured into, and no others: the GPU's own changes
    // are already on the GPU.
    assert_eq!(uploaded, 1, "pages sent to the GPU");
    assert_eq!(cpu.0.material([10, 28, 10]), Some(id::WATER), "squeezed");
    assert_eq!(
        cpu.0.material([10, 28, 30]),
        Some(id::STEAM),
        "not squeezed"
    );
    assert_eq!(other_wakes, 0, "the same pages woken after every pass");
    let counts = cpu.0.material_counts();
    assert!(
        counts[id::STEAM as usize] > 1000,
        "the bath boils: {} steam",
        counts[id::STEAM as usize]
    );
    assert!(counts[id::BASALT as usize] > 100, "the lava solidifies");
    assert_eq!(cpu.1.last, on_gpu.1.last, "the last pass's counts");
    assert_eq!(cpu.1.transitions, on_gpu.1.transitions);
    assert_eq!(
        cpu.0.material.as_slice(),
        on_gpu.0.material.as_slice(),
        "the same materials"
    );
    // Temperatures paid out of a voxel's own enthalpy are computed in f32
    // on the GPU.
    for (i, (a, b)) in cpu
        .0
        .temperature
        .as_slice()
        .iter()
        .zip(on_gpu.0.temperature.as_slice())
        .enumerate()
    {
        assert!(
            (a - b).abs() <= 1e-4 * a.abs(),
            "cell {i}: {a} K on the CPU, {b} K on the GPU"
        );
    }
}

fn phase_pass_near_the_boiling_point_agrees_with_the_cpu_statistically() {
    use loam_runtime::random::hash3;
    use loam_systems::materials::id;
    let gpu = gpu();
    // Each bathed cell holds its own temperature within ±0.15 K of boiling
    // at 1 atm, where the acceptance is anything from e^-5 to 1: decisions
    // that the f32 arithmetic can tip. The weight of water above keeps
    // cells from boiling until the cells above them have.
    let (world, baths) = phase_world(373.15, |x, y, z| {
        let h = hash3(9, 0, u64::from(x + 48 * (y + 48 * z)));
        373.0 + 0.3 * (h >> 40) as f32 / (1u64 << 24) as f32
    });
    let config = loam_systems::phase::PhaseConfig::default();
    let ([cpu, on_gpu], other_wakes, _) = phase_on_both(&gpu, world, &baths, config, None, 20);
    assert!(
        other_wakes <= 5,
        "other pages woken after {other_wakes} of 20 passes"
    );
    let steam = |w: &loam_storage::VoxelWorld| w.material_counts()[id::STEAM as usize] as f64;
    let (a, b) = (steam(&cpu.0), steam(&on_gpu.0));
    assert!(a > 500.0 && a < 9000.0, "a mixture: {a} steam of 12096");
    let accepted = |s: &loam_systems::phase::PhaseState| s.transitions.values().sum::<u64>() as f64;
    let (ta, tb) = (accepted(&cpu.1), accepted(&on_gpu.1));
    eprintln!("steam {a} / {b}, transitions {ta} / {tb}");
    // Binomial noise on ~5000 cells is about 1 %.
    assert!(
        (a - b).abs() <= 0.03 * a,
        "steam: {a} on the CPU, {b} on the GPU"
    );
    assert!((ta - tb).abs() <= 0.03 * ta, "transitions: {ta} / {tb}");
    // The same draws: almost every cell ends the same.
    let same = cpu
        .0
        .material
        .as_slice()
        .iter()
        .zip(on_gpu.0.material.as_slice())
        .filter(|(a, b)| a == b)
        .count() as f64;
    let all = cpu.0.material.as_slice().len() as f64;
    assert!(same / all > 0.99, "{} of the cells differ", all - same);
}

fn phase_changes_held_part_way_agree_with_the_cpu() {
    use loam_storage::{VoxelWorld, WorldLayout};
    use loam_systems::ca::{self, CaConfig};
    use loam_systems::materials::{id, MaterialTable};
    use loam_systems::phase::{metropolis_pass, PhaseConfig, PhaseState, PhaseTable};
    let gpu = gpu();
    // Water at 300 K around a ball of ice at 285 K (past melting: it holds
    // part of the latent heat at once and melts as the water heats it) and
    // a block of water at 262 K (past freezing: it holds heat toward ice,
    // then has it back as the warm water reaches it). Conduction runs on
    // the CPU for both worlds between the passes.
    let layout = WorldLayout::new([32, 32, 32], 16).expect("a valid layout");
    let mut world = VoxelWorld::new(layout, id::WATER, 300.0);
    for z in 0..32u32 {
        for y in 0..32u32 {
            for x in 0..32u32 {
                let d = [x, y, z].map(|v| v as i32 - 10);
                if d.iter().map(|v| v * v).sum::<i32>() <= 25 {
                    world.set_cell([x, y, z], id::ICE, 285.0);
                } else if (20..28).contains(&x) && (20..28).contains(&y) && (4..12).contains(&z) {
                    world.set_cell([x, y, z], id::WATER, 262.0);
                }
            }
        }
    }
    let (phases, materials) = (PhaseTable::default(), MaterialTable::default());
    let (config, ca_config) = (
        PhaseConfig::default(),
        CaConfig {
            reactions: false,
            heat: true,
            thermal_transitions: false,
            skip_stuck_rows: true,
        },
    );
    let mut cpu = (world.clone(), PhaseState::default());
    let mut on_gpu = (world, PhaseState::default());
    let kernel = loam_gpu::GpuPhase::new(&gpu, &on_gpu.0, &phases, &materials, &config)
        .expect("the world fits");
    let mut held_at_first = 0;
    for frame in 0..80 {
        for (w, _) in [&mut cpu, &mut on_gpu] {
            for p in 0..w.layout().page_count() {
                w.table.wake(p);
            }
            ca::step(w, &materials, &ca_config, 5, frame);
        }
        let (w, s) = &mut cpu;
        metropolis_pass(w, s, &phases, &materials, &config, &[], None, 5, frame);
        let (w, s) = &mut on_gpu;
        kernel
            .pass(&gpu, w, s, &phases, &[], None, 5, frame)
            .expect("the GPU pass runs");
        let held = |w: &VoxelWorld| w.latent.as_slice().iter().filter(|&&l| l != 0.0).count();
        if frame == 0 {
            held_at_first = held(&cpu.0);
            assert_eq!(held(&on_gpu.0), held_at_first, "held after the first pass");
        }
    }
    assert!(
        held_at_first > 500,
        "{held_at_first} cells held heat at once"
    );
    let melted = |s: &PhaseState| s.transitions.get(&(id::ICE, id::WATER)).copied();
    let (a, b) = (melted(&cpu.1), melted(&on_gpu.1));
    assert!(a.is_some_and(|n| n > 10), "ice melted on the CPU: {a:?}");
    // Melting finishes where a voxel has gathered the whole latent heat:
    // the f32 arithmetic can move that by a frame here and there.
    let (a, b) = (a.unwrap_or(0) as f64, b.unwrap_or(0) as f64);
    eprintln!("held at first {held_at_first}, melted {a} / {b}");
    assert!((a - b).abs() <= 0.05 * a + 2.0, "melted: {a} / {b}");
    assert_eq!(
        cpu.1.transitions.get(&(id::WATER, id::ICE)),
        None,
        "none froze"
    );
    assert_eq!(on_gpu.1.transitions.get(&(id::WATER, id::ICE)), None);
    let heat = |w: &VoxelWorld| {
        w.temperature
            .as_slice()
            .iter()
            .zip(w.latent.as_slice())
            .map(|(&t, &l)| f64::from(t) + f64::from(l))
            .sum::<f64>()
    };
    let (ha, hb) = (heat(&cpu.0), heat(&on_gpu.0));
    assert!((ha - hb).abs() <= 1e-5 * ha, "Σ T + latent: {ha} / {hb}");
}

fn automaton_matches_the_cpu_at_every_page_size() {
    // Pages of 4, 16 and 32 cells (the other tests use 8), with heat: a
    // page of 32³ in one invocation once ran past llvmpipe's limit of
    // 65,535 loop iterations an invocation, which silently ended its loops.
    let gpu = gpu();
    for page in [4u32, 16, 32] {
        let (world, table, config) = sandbox(page);
        let config = loam_systems::ca::CaConfig {
            heat: true,
            ..config
        };
        let automaton = loam_gpu::GpuAutomaton::new(&gpu, &world, &table, &config, 1);
        let (mut cpu, mut on_gpu) = (world.clone(), world);
        for frame in 0..4 {
            let a = loam_systems::ca::step(&mut cpu, &table, &config, 1, frame);
            let b = automaton
                .step_world(&gpu, &mut on_gpu, frame)
                .expect("the GPU steps");
            assert!(a.moves > 1000, "pages of {page}: things move");
            assert_eq!(a, b, "pages of {page}, frame {frame}");
            assert_eq!(
                first_difference(&cpu, &on_gpu),
                None,
                "pages of {page}, frame {frame}"
            );
        }
    }
}

fn the_phase_pass_asks_for_the_absent_pages_its_columns_reach_as_the_cpu_does() {
    use loam_storage::{VoxelWorld, WorldLayout};
    use loam_systems::materials::{id, MaterialTable, AMBIENT};
    use loam_systems::phase::{metropolis_pass, PhaseConfig, PhaseState, PhaseTable};
    let gpu = gpu();
    // 2 x 4 x 2 pages of 16. A lake fills y < 56 over x < 16 only; the
    // pages at page-y 2 over it are not resident, so the columns of the
    // pages below reach them and ask for them; those at page-y 3 are
    // behind them and not reached.
    let layout = WorldLayout::new([32, 64, 32], 16).expect("a valid layout");
    let mut world = VoxelWorld::with_capacity(layout, 16);
    let absent = |p: usize| {
        let c = layout.page_coord(p);
        c[0] == 0 && c[1] >= 2
    };
    for p in (0..layout.page_count()).filter(|&p| !absent(p)) {
        world.install(p).expect("room for every other page");
        let origin = layout.page_coord(p).map(|c| c * 16);
        for l in 0..layout.page_cells() {
            let q = [l % 16, (l / 16) % 16, l / 256].map(|v| v as u32);
            let g = [0, 1, 2].map(|a| origin[a] + q[a]);
            let m = if g[0] < 16 && g[1] < 56 {
                id::WATER
            } else {
                id::AIR
            };
            world.set_cell(g, m, AMBIENT);
        }
    }
    let (phases, materials) = (PhaseTable::default(), MaterialTable::default());
    let config = PhaseConfig::default();
    let kernel = loam_gpu::GpuPhase::new(&gpu, &world, &phases, &materials, &config)
        .expect("the world fits");
    let (mut cpu, mut on_gpu) = (world.clone(), world);
    let (mut cpu_state, mut gpu_state) = (PhaseState::default(), PhaseState::default());
    for w in [&mut cpu, &mut on_gpu] {
        for p in 0..layout.page_count() {
            w.table.wake(p);
        }
    }
    metropolis_pass(
        &mut cpu,
        &mut cpu_state,
        &phases,
        &materials,
        &config,
        &[],
        None,
        3,
        9,
    );
    kernel
        .pass(&gpu, &mut on_gpu, &mut gpu_state, &phases, &[], None, 3, 9)
        .expect("the GPU pass runs");
    let wanted: Vec<usize> = (0..layout.page_count())
        .filter(|&p| layout.page_coord(p)[1] == 2 && absent(p))
        .collect();
    assert_eq!(
        cpu_state.asked, wanted,
        "the CPU asks for the pages over the lake"
    );

    let mut feedback = kernel.page_use();
    assert!(feedback.start_readback(&gpu));
    let got = feedback
        .take(&gpu, true)
        .expect("the readback maps")
        .expect("a readback was pending");
    assert_eq!(
        got.requests, cpu_state.asked,
        "the GPU asks for the same pages"
    );
    assert_eq!(got.dropped, 0);
    // The pages used, visited or weighed, are those the CPU's pass marks in
    // the LRU; only resident pages.
    let used: Vec<usize> = got.uses.iter().map(|&(p, _)| p).collect();
    let marked: Vec<usize> = (0..layout.page_count())
        .filter(|&p| cpu.table.last_use(p) == 9)
        .collect();
    assert!(!used.is_empty());
    assert_eq!(used, marked, "the GPU uses the pages the CPU marks");
    assert!(used.iter().all(|&p| !absent(p)));
    let mut table = on_gpu.table.clone();
    let asked = got.apply(&mut table, 41).to_vec();
    assert_eq!(asked, wanted);
    assert!(used.iter().all(|&p| table.last_use(p) == 41));
}
