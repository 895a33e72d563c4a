//! Soft bodies: a jelly cube dropped on a stone floor comes to rest on it
//! with its volume kept, stays finite at any substep count, and moves the
//! same on 1 thread and 2.

use loam_storage::{VoxelWorld, WorldLayout};
use loam_systems::fields::{FieldConfig, Fields};
use loam_systems::materials::{id, MaterialTable, AMBIENT};
use loam_systems::xpbd::{materials, Environment, SoftBodies, SoftBox};

/// Gravity in cells/s² for 0.25 m cells.
const G: f32 = 9.81 / 0.25;

fn world() -> VoxelWorld {
    let mut w = VoxelWorld::new(
        WorldLayout::new([32, 32, 32], 16).unwrap(),
        id::AIR,
        AMBIENT,
    );
    for x in 0..32 {
        for z in 0..32 {
            for y in 0..4 {
                w.set_cell([x, y, z], id::STONE, AMBIENT);
            }
        }
    }
    w
}

fn jelly() -> SoftBodies {
    let mut b = SoftBodies::default();
    b.add_box(
        &SoftBox {
            name: "jelly".into(),
            origin: [12.0, 12.0, 12.0],
            voxels: [6, 6, 6],
            voxel: 1.0,
            material: materials()[0],
            velocity: [0.0; 3],
            sphere: false,
            volume: true,
            rooted: false,
        },
        0.25,
    );
    b
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
        let env = Environment {
            dt: 1.0 / 60.0,
            substeps,
            gravity: G,
            voxel_size: 0.25,
            fields: None,
        };
        for _ in 0..frames {
            b.step(&w, &table, &env);
            energy.push(b.kinetic_energy(0));
        }
    });
    energy
}

#[test]
fn a_jelly_cube_comes_to_rest_on_the_floor_with_its_volume() {
    let mut b = jelly();
    assert_eq!(b.x.len(), 7 * 7 * 7);
    let energy = run(&mut b, 300, 4, 2);
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
    for substeps in [1, 4, 16] {
        let mut b = jelly();
        run(&mut b, 1000, substeps, 2);
        assert!(
            b.x.iter().flatten().all(|v| v.is_finite()),
            "{substeps} substeps"
        );
        let top = b.x.iter().map(|p| p[1]).fold(f32::MIN, f32::max);
        assert!(top < 20.0, "{substeps} substeps: flew to {top}");
        let ratio = b.volume_ratio(0);
        assert!(
            (ratio - 1.0).abs() < 0.1,
            "{substeps} substeps: volume ratio {ratio}"
        );
    }
}

#[test]
fn the_same_motion_on_one_thread_and_two() {
    let (mut a, mut b) = (jelly(), jelly());
    for s in [&mut a, &mut b] {
        for v in &mut s.v {
            *v = [3.0, 5.0, -2.0];
        }
    }
    run(&mut a, 120, 4, 1);
    run(&mut b, 120, 4, 2);
    assert_eq!(a.x, b.x);
}

#[test]
fn a_resting_body_sleeps_until_a_blast_wakes_and_throws_it() {
    let mut b = jelly();
    let w = world();
    let table = MaterialTable::default();
    let mut fields = Fields::new(FieldConfig::default());
    let frame = |b: &mut SoftBodies, fields: &Fields| {
        let env = Environment {
            dt: 1.0 / 60.0,
            substeps: 4,
            gravity: G,
            voxel_size: 0.25,
            fields: Some(fields),
        };
        b.step(&w, &table, &env);
    };
    for _ in 0..400 {
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
            &SoftBox {
                name: name.into(),
                origin: [12.0, y, 12.0],
                voxels: [4, 4, 4],
                voxel: 1.0,
                material: materials()[1],
                velocity: [0.0; 3],
                sphere: false,
                volume: true,
                rooted: false,
            },
            0.25,
        );
    }
    let env = Environment {
        dt: 1.0 / 60.0,
        substeps: 4,
        gravity: G,
        voxel_size: 0.25,
        fields: None,
    };
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
        fastest_late < 0.2,
        "no jitter: top speed {fastest_late} cells/s over the last second"
    );
}
