//! Soft bodies of every solver on the GPU against the CPU: substeps, contacts, sleep.

use super::*;

/// A 32³ world with a 4-cell stone floor, and a 4³ jelly of `gram_schmidt`
/// voxels above it, moving sideways.
pub(super) fn jelly() -> (loam_storage::VoxelWorld, loam_systems::xpbd::SoftBodies) {
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
pub(super) struct Twin {
    pub(super) cpu: loam_systems::xpbd::SoftBodies,
    pub(super) on_gpu: loam_systems::xpbd::SoftBodies,
    mirror: loam_gpu::GpuSoftBodies,
}

impl Twin {
    /// `bodies` in `world`, and a copy of them stepped on `gpu`, which
    /// records the pages it touches into `feedback`.
    pub(super) fn new(
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
    pub(super) fn step(
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

pub(super) fn the_world_mirror_sends_each_page_once_and_again_when_it_changes() {
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

pub(super) fn soft_body_substeps_match_the_cpu_within_1e_4_cells() {
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
pub(super) fn assert_bodies_agree(
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
pub(super) fn largest_difference(a: &[[f32; 3]], b: &[[f32; 3]]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .flat_map(|(a, b)| (0..3).map(move |k| (a[k] - b[k]).abs()))
        .fold(0.0f32, f32::max)
}

/// An empty world of `size` cells on a stone floor a cell deep.
pub(super) fn stone_floor(size: [u32; 3]) -> loam_storage::VoxelWorld {
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
pub(super) fn soft_world() -> (loam_storage::VoxelWorld, loam_systems::xpbd::SoftBodies) {
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

pub(super) fn soft_bodies_of_every_solver_in_contact_wind_water_sand_and_sleep_match_the_cpu() {
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

pub(super) fn a_row_of_cubes_landing_on_a_plank_touches_more_bodies_than_a_list_holds_and_matches_the_cpu(
) {
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

pub(super) fn a_stack_of_three_solvers_rests_and_sleeps_as_on_the_cpu() {
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
pub(super) fn a_torn_gram_schmidt_body_presses_with_its_particles_as_on_the_cpu() {
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
