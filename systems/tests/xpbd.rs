//! Soft bodies: a jelly cube dropped on a stone floor comes to rest on it
//! with its volume kept, stays finite at any substep count, and moves the
//! same on 1 thread and 2.

use loam_storage::{VoxelWorld, WorldLayout};
use loam_systems::fields::{FieldConfig, Fields};
use loam_systems::materials::{id, MaterialTable, AMBIENT};
use loam_systems::xpbd::{materials, Environment, SoftBodies, SoftBox, Solver};

/// Gravity in cells/s² for 0.25 m cells.
const G: f32 = 9.81 / 0.25;

/// A 60 Hz frame of `substeps` substeps under gravity, 0.25 m cells.
fn env(substeps: u32, fields: Option<&Fields>) -> Environment<'_> {
    Environment {
        dt: 1.0 / 60.0,
        substeps,
        gravity: G,
        voxel_size: 0.25,
        fields,
    }
}

fn world() -> VoxelWorld {
    floored(32, id::STONE)
}

/// A cube world `edge` cells wide with a floor of `floor` 4 cells deep.
fn floored(edge: u32, floor: u8) -> VoxelWorld {
    let mut w = VoxelWorld::new(WorldLayout::new([edge; 3], 16).unwrap(), id::AIR, AMBIENT);
    for x in 0..edge {
        for z in 0..edge {
            for y in 0..4 {
                w.set_cell([x, y, z], floor, AMBIENT);
            }
        }
    }
    w
}

fn jelly_with(solver: Solver) -> SoftBodies {
    let mut b = SoftBodies::default();
    b.add_box(
        &SoftBox {
            solver,
            ..SoftBox::new("jelly", [12.0, 12.0, 12.0], [6, 6, 6], materials()[0])
        },
        0.25,
    );
    b
}

fn jelly() -> SoftBodies {
    jelly_with(Solver::GramSchmidt)
}

fn run(b: &mut SoftBodies, frames: u32, substeps: u32, threads: usize) -> Vec<f32> {
    let w = world();
    let table = MaterialTable::default();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    let mut energy = Vec::new();
    pool.install(|| {
        let env = env(substeps, None);
        for _ in 0..frames {
            b.step(&w, &table, &env);
            energy.push(b.kinetic_energy(0));
        }
    });
    energy
}

#[test]
fn a_jelly_cube_comes_to_rest_on_the_floor_with_its_volume() {
    for solver in [Solver::GramSchmidt, Solver::Volume] {
        let mut b = jelly_with(solver);
        let particles = if solver == Solver::Volume {
            7 * 7 * 7
        } else {
            8 * 216
        };
        assert_eq!(b.x.len(), particles);
        comes_to_rest(&mut b, solver);
    }
}

fn comes_to_rest(b: &mut SoftBodies, solver: Solver) {
    let energy = run(b, 300, 4, 2);
    assert_eq!(
        b.summary(0).broken_constraints,
        0,
        "{solver:?}: a drop tears nothing"
    );
    let lowest = b.x.iter().map(|p| p[1]).fold(f32::INFINITY, f32::min);
    assert!(lowest >= 4.0 - 0.05, "a particle sank to y = {lowest}");
    assert!(lowest < 4.2, "it rests on the floor (lowest y = {lowest})");
    let ratio = b.volume_ratio(0);
    assert!((ratio - 1.0).abs() < 0.05, "volume ratio {ratio}");
    let peak = energy.iter().copied().fold(0.0f32, f32::max);
    let last = *energy.last().unwrap();
    assert!(last < peak * 0.01, "kinetic energy {last} of a peak {peak}");
}

#[test]
fn no_nan_or_runaway_at_any_substep_count() {
    for (substeps, solver) in [1, 4, 16]
        .into_iter()
        .flat_map(|n| [(n, Solver::GramSchmidt), (n, Solver::Volume)])
    {
        let mut b = jelly_with(solver);
        run(&mut b, 5000, substeps, 2);
        assert!(
            b.x.iter().flatten().all(|v| v.is_finite()),
            "{substeps} substeps, {solver:?}"
        );
        let top = b.x.iter().map(|p| p[1]).fold(f32::MIN, f32::max);
        assert!(top < 20.0, "{substeps} substeps, {solver:?}: flew to {top}");
        // One iteration per substep: with a single substep a frame, the
        // column's support converges slowly and the body sags more.
        let ratio = b.volume_ratio(0);
        let sag = if substeps == 1 { 0.15 } else { 0.05 };
        assert!(
            (ratio - 1.0).abs() < sag,
            "{substeps} substeps, {solver:?}: volume ratio {ratio}"
        );
    }
}

#[test]
fn the_same_motion_on_one_thread_and_two() {
    for solver in [Solver::GramSchmidt, Solver::Volume] {
        let (mut a, mut b) = (jelly_with(solver), jelly_with(solver));
        for s in [&mut a, &mut b] {
            for v in &mut s.v {
                *v = [3.0, 5.0, -2.0];
            }
        }
        run(&mut a, 120, 4, 1);
        run(&mut b, 120, 4, 2);
        assert_eq!(a.x, b.x, "{solver:?}");
    }
}

/// Whether particle `k` of the bar belongs to a voxel of its left half
/// (voxels have 8 corners each, numbered x fastest).
fn left_half(k: usize) -> bool {
    (k / 8) % 12 < 6
}

/// A bar of `material` 12 voxels long in mid-air whose two halves fly
/// apart at `speed` cells/s each; frames until it is still, or 120.
fn pull_apart(material: usize, speed: f32) -> SoftBodies {
    let mut b = SoftBodies::default();
    b.add_box(
        &SoftBox::new("bar", [10.0, 20.0, 14.0], [12, 2, 2], materials()[material]),
        0.25,
    );
    for (k, v) in b.v.iter_mut().enumerate() {
        *v = [if left_half(k) { -speed } else { speed }, 0.0, 0.0];
    }
    let w = world();
    let table = MaterialTable::default();
    let env = Environment {
        gravity: 0.0,
        ..env(4, None)
    };
    for _ in 0..30 {
        b.step(&w, &table, &env);
    }
    b
}

#[test]
fn a_flesh_bar_pulled_apart_tears_in_two() {
    let b = pull_apart(2, 80.0);
    let torn = b.summary(0).broken_constraints;
    assert!(torn >= 4, "the middle faces tore: {torn}");
    // Two pieces flying apart: a wide gap between the particles left and
    // right of the middle.
    let (mut left, mut right) = (f32::MIN, f32::MAX);
    for (k, x) in b.x.iter().enumerate() {
        if left_half(k) {
            left = left.max(x[0]);
        } else {
            right = right.min(x[0]);
        }
    }
    assert!(
        right - left > 3.0,
        "the halves separated: gap {}",
        right - left
    );
}

#[test]
fn a_gentle_pull_stretches_flesh_without_tearing_and_rubber_holds_where_flesh_tears() {
    let gentle = pull_apart(2, 5.0);
    assert_eq!(gentle.summary(0).broken_constraints, 0);
    let rubber = pull_apart(1, 80.0);
    assert_eq!(rubber.summary(0).broken_constraints, 0);
    let span = |b: &SoftBodies| {
        let xs = b.x.iter().map(|p| p[0]);
        xs.clone().fold(f32::MIN, f32::max) - xs.fold(f32::MAX, f32::min)
    };
    assert!(
        span(&rubber) < 16.0,
        "rubber snapped back together: {}",
        span(&rubber)
    );
}

#[test]
fn a_resting_body_sleeps_until_a_blast_wakes_and_throws_it() {
    let mut b = jelly();
    let w = world();
    let table = MaterialTable::default();
    let mut fields = Fields::new(FieldConfig::default());
    let frame = |b: &mut SoftBodies, fields: &Fields| {
        let env = env(4, Some(fields));
        b.step(&w, &table, &env);
    };
    for _ in 0..600 {
        frame(&mut b, &fields);
    }
    assert!(b.bodies[0].sleeping, "at rest on the floor, it sleeps");
    let resting = b.x.clone();
    for _ in 0..100 {
        frame(&mut b, &fields);
    }
    assert_eq!(
        b.x, resting,
        "asleep, nothing moves and nothing is computed"
    );
    fields.add_explosion([8.0, 6.0, 15.0], 12.0, 2.0e5, 0.0);
    frame(&mut b, &fields);
    assert!(!b.bodies[0].sleeping, "the blast woke it");
    for _ in 0..5 {
        frame(&mut b, &fields);
        fields.decay(1.0 / 60.0);
    }
    let moved =
        b.x.iter()
            .zip(&resting)
            .map(|(p, q)| (p[0] - q[0]).abs())
            .fold(0.0f32, f32::max);
    assert!(
        moved > 0.2,
        "and pushed it away from the blast: {moved} cells"
    );
}

#[test]
fn a_stack_of_two_bodies_rests_without_sinking_into_each_other_or_jitter() {
    let w = world();
    let table = MaterialTable::default();
    let mut b = SoftBodies::default();
    for (name, y) in [("bottom", 4.0), ("top", 12.0)] {
        b.add_box(
            &SoftBox::new(name, [12.0, y, 12.0], [4, 4, 4], materials()[1]),
            0.25,
        );
    }
    let env = env(4, None);
    let mut fastest_late = 0.0f32;
    for f in 0..600 {
        b.step(&w, &table, &env);
        if f >= 540 {
            fastest_late = fastest_late.max(b.summary(1).max_speed);
        }
    }
    let (bottom, top) = (b.bodies[0].particles, b.bodies[1].particles);
    let bottom_top = b.x[bottom.0..bottom.1]
        .iter()
        .map(|p| p[1])
        .fold(f32::MIN, f32::max);
    let top_bottom = b.x[top.0..top.1]
        .iter()
        .map(|p| p[1])
        .fold(f32::MAX, f32::min);
    assert!(
        top_bottom > bottom_top,
        "the top body rests on the bottom one: its lowest point {top_bottom}, the other's highest {bottom_top}"
    );
    assert!(
        top_bottom < bottom_top + 1.0,
        "touching, not floating: {top_bottom} vs {bottom_top}"
    );
    for k in 0..2 {
        let r = b.volume_ratio(k);
        assert!((r - 1.0).abs() < 0.05, "body {k}: volume ratio {r}");
    }
    assert!(
        b.bodies.iter().all(|body| body.sleeping),
        "both came to rest and sleep"
    );
    assert!(
        fastest_late < 0.2,
        "no jitter: top speed {fastest_late} cells/s over the last second"
    );
}

/// The floor world with a pool of `liquid` (or a bed of powder) 12 cells
/// deep over all of it.
fn pool(material: u8) -> VoxelWorld {
    let mut w = world();
    for x in 0..32 {
        for z in 0..32 {
            for y in 4..16 {
                w.set_cell([x, y, z], material, AMBIENT);
            }
        }
    }
    w
}

#[test]
fn water_holds_a_jelly_up_and_slows_it_down() {
    let table = MaterialTable::default();
    let env = env(4, None);
    let fall = |w: &VoxelWorld| {
        let mut b = SoftBodies::default();
        b.add_box(
            &SoftBox::new("jelly", [12.0, 10.0, 12.0], [3, 3, 3], materials()[0]),
            0.25,
        );
        for _ in 0..30 {
            b.step(w, &table, &env);
        }
        10.0 - b.summary(0).min_y
    };
    let (in_air, in_water) = (fall(&world()), fall(&pool(id::WATER)));
    // Jelly is 5% denser than water: it sinks, slowly.
    assert!(in_water > 0.0, "it sinks: {in_water}");
    assert!(
        in_water < in_air / 10.0,
        "in water it fell {in_water} cells, in air {in_air}"
    );
}

#[test]
fn a_body_splashes_water_and_presses_on_sand() {
    use loam_systems::fields::couple;
    // A pool of water, and a pillar of sand as wide as the body: the sand
    // it presses can go out sideways over the pillar's edge.
    let mut pillar = world();
    for x in 11..18 {
        for z in 11..18 {
            for y in 4..16 {
                pillar.set_cell([x, y, z], id::SAND, AMBIENT);
            }
        }
    }
    for (material, name, mut w) in [
        (id::WATER, "water", pool(id::WATER)),
        (id::SAND, "sand", pillar),
    ] {
        let table = MaterialTable::default();
        let mut fields = Fields::new(FieldConfig::default());
        let mut b = SoftBodies::default();
        b.add_box(
            &SoftBox {
                velocity: [0.0, -60.0, 0.0],
                ..SoftBox::new("jelly", [12.0, 17.0, 12.0], [4, 4, 4], materials()[0])
            },
            0.25,
        );
        let count = |w: &VoxelWorld| {
            w.pools()
                .material
                .iter()
                .filter(|&&m| m == material)
                .count()
        };
        let before = count(&w);
        let (mut moved, mut impact) = (0, 0.0f32);
        let env = env(4, None);
        for frame in 0..20 {
            let felt = Environment {
                fields: Some(&fields),
                ..env
            };
            b.step(&w, &table, &felt);
            b.push_fields(&mut fields, &w, &table, &env);
            impact = impact.max(fields.sample([14.0, 15.5, 14.0]).pressure);
            moved += couple(&mut w, &mut fields, &table, 1.0 / 60.0, 0.25, 7, frame).moved;
            fields.decay(1.0 / 60.0);
        }
        if material == id::WATER {
            assert!(moved > 10, "water: the body threw {moved} cells");
        } else {
            // Sand feels the impact as pressure but is not thrown, and
            // bears the body once it rests (see `xpbd::react`).
            assert!(impact > 2.0e3, "sand: impact pressure {impact} Pa");
            assert_eq!(moved, 0, "sand: nothing thrown");
        }
        assert_eq!(count(&w), before, "{name}: every cell is still there");
    }
}

#[test]
fn a_distance_body_reports_its_measured_volume() {
    // The distance solver keeps no volume constraint; its hexahedra are
    // kept to measure the body, so the report says what happened to it.
    let mut b = jelly_with(Solver::Distance);
    assert_eq!(b.volume_ratio(0), 1.0, "at rest before any step");
    run(&mut b, 300, 4, 2);
    let ratio = b.volume_ratio(0);
    println!("distance jelly 6³ at rest on the floor: {ratio:.4} of its volume");
    assert!(ratio != 1.0 && (0.8..1.05).contains(&ratio), "{ratio}");
}

/// Issue #15 asks every solver to keep a resting body's volume within 2 %
/// for cubes of edge 4 to 16, bulging rather than shrinking. (A
/// Gram-Schmidt jelly cube of 16 rested at 92.6 % before its body-wide
/// volume constraint.)
#[test]
fn cubes_of_edge_4_to_16_of_every_solver_keep_their_volume_within_2_percent() {
    let table = MaterialTable::default();
    for solver in [Solver::GramSchmidt, Solver::Volume, Solver::Distance] {
        for (k, material) in materials().into_iter().enumerate() {
            for n in [4u32, 10, 16] {
                let w = floored(48, id::STONE);
                let mut b = SoftBodies::default();
                let o = (48 - n) as f32 / 2.0;
                b.add_box(
                    &SoftBox {
                        solver,
                        ..SoftBox::new("cube", [o, 5.0, o], [n, n, n], material)
                    },
                    0.25,
                );
                let env = env(4, None);
                for _ in 0..400 {
                    b.step(&w, &table, &env);
                }
                let what = format!("{solver:?}, material {k}, edge {n}");
                let ratio = b.volume_ratio(0);
                assert!(
                    (ratio - 1.0).abs() <= 0.02,
                    "{what}: {ratio:.4} of its volume"
                );
                // Under its own weight it sags and bulges: it is no stiffer
                // than its material, only incompressible.
                let extent = |a: usize| {
                    let v = b.x.iter().map(|p| p[a]);
                    v.clone().fold(f32::MIN, f32::max) - v.fold(f32::MAX, f32::min)
                };
                assert!(extent(1) < n as f32, "{what}: height {}", extent(1));
                assert!(
                    extent(0) > n as f32 && extent(2) > n as f32,
                    "{what}: widths {} and {}",
                    extent(0),
                    extent(2)
                );
            }
        }
    }
}

/// A body whose only disturbance is its own weight on sand falls asleep and
/// stays asleep: the pressure its weight puts on the grains (more than their
/// strength, under a heavy body) went into the fields while it was awake,
/// and used to wake it again every frame. A blast still wakes it.
#[test]
fn a_body_resting_on_sand_sleeps_until_a_blast_wakes_it() {
    for (k, material) in materials().into_iter().enumerate() {
        let w = floored(32, id::SAND);
        let table = MaterialTable::default();
        let mut fields = Fields::new(FieldConfig::default());
        let mut b = SoftBodies::default();
        b.add_box(
            &SoftBox::new("j", [12.0, 6.0, 12.0], [6, 6, 6], material),
            0.25,
        );
        let frame = |b: &mut SoftBodies, fields: &mut Fields| {
            b.step(&w, &table, &env(4, Some(fields)));
            b.push_fields(fields, &w, &table, &env(4, None));
            fields.decay(1.0 / 60.0);
        };
        for _ in 0..400 {
            frame(&mut b, &mut fields);
        }
        assert!(
            b.bodies[0].sleeping,
            "material {k}: at rest on sand, it sleeps"
        );
        let resting = b.x.clone();
        for _ in 0..100 {
            frame(&mut b, &mut fields);
            assert!(b.bodies[0].sleeping, "material {k}: and stays asleep");
        }
        assert_eq!(b.x, resting, "material {k}: asleep, nothing moves");
        fields.add_explosion([15.0, 8.0, 4.0], 12.0, 2.0e5, 0.0);
        frame(&mut b, &mut fields);
        assert!(!b.bodies[0].sleeping, "material {k}: a blast wakes it");
    }
}
