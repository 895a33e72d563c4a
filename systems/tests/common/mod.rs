//! What the automaton's tests of moving fluids share: a frame as the
//! runtime's `ca.step` job runs it, settling with the counts checked every
//! frame, and the same world on 1, 2 and 4 threads.

// Each test file uses its own part of this module.
#![allow(dead_code)]

use loam_storage::{VoxelWorld, WorldLayout};
use loam_systems::ca::{self, CaConfig};
use loam_systems::materials::{id, MaterialTable, AMBIENT};
use loam_systems::phase::{metropolis_pass, HeatBath, PhaseConfig, PhaseState, PhaseTable};

/// Movement alone: no reactions, no heat, no phase changes.
pub const CONFIG: CaConfig = CaConfig {
    reactions: false,
    heat: false,
    thermal_transitions: false,
    skip_stuck_rows: true,
};

/// Fills the box `min..max` with `m`.
pub fn fill(w: &mut VoxelWorld, min: [u32; 3], max: [u32; 3], m: u8) {
    for z in min[2]..max[2] {
        for y in min[1]..max[1] {
            for x in min[0]..max[0] {
                w.set_cell([x, y, z], m, AMBIENT);
            }
        }
    }
}

/// One frame as the `ca.step` job runs it: the sweep, then levelling from
/// the pages swept and woken.
pub fn frame(w: &mut VoxelWorld, table: &MaterialTable, seed: u64, f: u64) -> ca::LevelStats {
    let swept = w.table().woken().to_vec();
    ca::step(w, table, &CONFIG, seed, f);
    ca::level(w, table, seed, f, &swept)
}

/// Runs frames until every page sleeps (or `limit` frames) on `threads`
/// threads, checking the counts every frame. Returns the frames run.
pub fn settle(w: &mut VoxelWorld, seed: u64, limit: u64, threads: usize) -> u64 {
    let table = MaterialTable::default();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    let counts = w.material_counts();
    pool.install(|| {
        for f in 0..limit {
            frame(w, &table, seed, f);
            assert_eq!(w.material_counts(), counts, "frame {f}: counts changed");
            if w.table().awake_count() == 0 {
                return f + 1;
            }
        }
        limit
    })
}

/// Asserts that the world `make` builds, settled for `limit` frames, ends
/// the same on 1, 2 and 4 threads.
pub fn assert_same_on_any_thread_count(make: impl Fn() -> VoxelWorld, seed: u64, limit: u64) {
    let hashes: Vec<u64> = [1, 2, 4]
        .iter()
        .map(|&t| {
            let mut w = make();
            settle(&mut w, seed, limit, t);
            w.hash()
        })
        .collect();
    assert!(hashes.windows(2).all(|h| h[0] == h[1]), "{hashes:x?}");
}

/// Σ over cells of energy, J: `n·(a + cp·(T + latent held))` for materials
/// with a phase diagram (sensible and latent heat), capacity × volume × T
/// for the rest. Conduction and the phase pass each conserve it.
pub fn energy(w: &VoxelWorld, phases: &PhaseTable, materials: &MaterialTable, voxel: f64) -> f64 {
    let m = w.pools().material;
    let t = w.pools().temperature;
    let latent = w.pools().latent;
    m.iter()
        .zip(t)
        .zip(latent)
        .map(|((&m, &t), &latent)| {
            let t = f64::from(t) + f64::from(latent);
            match phases.of_material[m as usize] {
                Some((s, k)) => {
                    let ph = &phases.substances[s as usize].phases[k as usize];
                    phases.moles(s as usize, voxel) * (ph.a + ph.cp * t)
                }
                None => f64::from(materials.heat_capacity[m as usize]) * voxel.powi(3) * t,
            }
        })
        .sum()
}

/// Holds a one-cell-thick 4 × 4 block of `material` at `t` K and ambient
/// pressure `pressure` (Pa) in a heat bath for 20 phase passes over the
/// diagrams of `materials`, and returns the fraction that ended as `target`.
pub fn fraction_in_bath(
    materials: &MaterialTable,
    material: u8,
    target: u8,
    t: f32,
    pressure: f64,
) -> f64 {
    let mut w = VoxelWorld::new(WorldLayout::new([16, 16, 16], 8).unwrap(), id::AIR, AMBIENT);
    let bath = HeatBath {
        min: [6, 8, 6],
        max: [10, 9, 10],
        temperature: t,
    };
    let phases = PhaseTable::of(materials);
    let config = PhaseConfig {
        ambient_pressure: pressure,
        ..PhaseConfig::default()
    };
    let mut state = PhaseState::default();
    for x in 6..10 {
        for z in 6..10 {
            w.set_cell([x, 8, z], material, t);
        }
    }
    for frame in 0..20 {
        metropolis_pass(
            &mut w,
            &mut state,
            &phases,
            materials,
            &config,
            &[bath],
            None,
            3,
            frame,
        );
        w.take_woken();
    }
    f64::from(w.material_counts()[target as usize] as u32) / 16.0
}
