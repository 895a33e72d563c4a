//! Soft-body workloads.
//!
//! - `grass5k`: 5,000 blades of grass, each a rooted 1 × 10 × 1 column of
//!   soft voxels with shared corners (`volume` solver, 220,000 particles),
//!   standing still on a stone floor; ms
//!   per frame once they have settled, with sleeping on (they are all
//!   asleep) and off.
//! - `jelly10k`: a 22 × 21 × 22 jelly (10,164 soft voxels with 8 corners
//!   each, 81,312 particles; a Gram-Schmidt shape constraint per voxel and
//!   29,568 face constraints) falling onto a stone floor, 4 substeps per
//!   60 Hz frame; ms per frame, and constraint projections per second (a
//!   face constraint, 4 corner pairs, counts once).

use std::time::Instant;

use loam_storage::{VoxelWorld, WorldLayout};
use loam_systems::materials::{id, MaterialTable, AMBIENT};
use loam_systems::xpbd::{materials, Environment, SoftBodies, SoftBox, Solver};

use crate::Measurement;

/// A 60 Hz frame in 4 substeps, 0.25 m cells, no fields.
pub const ENV: Environment<'static> = Environment {
    dt: 1.0 / 60.0,
    substeps: 4,
    gravity: 9.81 / 0.25,
    voxel_size: 0.25,
    fields: None,
};

/// An empty world of `size` cells on a 4-cell stone floor.
fn floor(size: [u32; 3]) -> VoxelWorld {
    let mut w = VoxelWorld::new(WorldLayout::new(size, 32).expect("valid"), id::AIR, AMBIENT);
    for x in 0..size[0] {
        for z in 0..size[2] {
            for y in 0..4 {
                w.set_cell([x, y, z], id::STONE, AMBIENT);
            }
        }
    }
    w
}

/// The floor world and the jelly above it.
pub fn jelly10k() -> (VoxelWorld, SoftBodies) {
    let w = floor([64, 64, 64]);
    let mut b = SoftBodies::default();
    b.add_box(
        &SoftBox {
            name: "jelly".into(),
            origin: [20.0, 8.0, 20.0],
            voxels: [22, 21, 22],
            voxel: 1.0,
            material: materials()[0],
            velocity: [0.0; 3],
            sphere: false,
            solver: Solver::GramSchmidt,
            rooted: false,
        },
        0.25,
    );
    (w, b)
}

/// Mean ms per frame over `frames` frames on `threads` threads, and
/// constraint projections per second.
pub fn jelly10k_ms(threads: usize, frames: u32) -> (f64, f64) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a small rayon pool");
    let (world, mut bodies) = jelly10k();
    let table = MaterialTable::default();
    pool.install(|| {
        bodies.step(&world, &table, &ENV);
        let start = Instant::now();
        for _ in 0..frames {
            bodies.step(&world, &table, &ENV);
        }
        let s = start.elapsed().as_secs_f64();
        let projections = (bodies.constraints() * 4) as f64 * f64::from(frames);
        (s * 1000.0 / f64::from(frames), projections / s)
    })
}

/// The floor and the 5,000 rooted blades.
pub fn grass5k() -> (VoxelWorld, SoftBodies) {
    let w = floor([224, 32, 128]);
    let mut b = SoftBodies::default();
    for i in 0..100 {
        for k in 0..50 {
            b.add_box(
                &SoftBox {
                    name: format!("blade{i}.{k}"),
                    origin: [10.0 + 2.0 * i as f32, 4.0, 10.0 + 2.0 * k as f32],
                    voxels: [1, 10, 1],
                    voxel: 1.0,
                    material: materials()[2],
                    velocity: [0.0; 3],
                    sphere: false,
                    solver: Solver::Volume,
                    rooted: true,
                },
                0.25,
            );
        }
    }
    (w, b)
}

/// Mean ms per frame of the grass after 90 frames to settle, over `frames`
/// frames on 2 threads, with sleeping on or off.
pub fn grass5k_ms(sleeping: bool, frames: u32) -> f64 {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("a small rayon pool");
    let (world, mut bodies) = grass5k();
    bodies.no_sleep = !sleeping;
    let table = MaterialTable::default();
    pool.install(|| {
        for _ in 0..90 {
            bodies.step(&world, &table, &ENV);
        }
        let start = Instant::now();
        for _ in 0..frames {
            bodies.step(&world, &table, &ENV);
        }
        start.elapsed().as_secs_f64() * 1000.0 / f64::from(frames)
    })
}

/// The `xpbd` group for `loam bench`.
pub fn measurements() -> Vec<Measurement> {
    let mut out = Vec::new();
    for t in [1, 2] {
        let (ms, rate) = jelly10k_ms(t, 30);
        out.push(Measurement {
            name: format!("xpbd.jelly10k.ms_per_frame.t{t}"),
            value: ms,
            unit: "ms",
        });
        if t == 2 {
            out.push(Measurement {
                name: "xpbd.jelly10k.projections_per_s.t2".into(),
                value: rate,
                unit: "1/s",
            });
        }
    }
    for (sleeping, name) in [(true, "sleeping_on"), (false, "sleeping_off")] {
        out.push(Measurement {
            name: format!("xpbd.grass5k.ms_per_frame.{name}"),
            value: grass5k_ms(sleeping, 10),
            unit: "ms",
        });
    }
    out
}
