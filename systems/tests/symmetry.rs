//! Fluids move without a preferred direction: a plume of gas rising from a
//! source in still air, and water poured on a floor, stay centred on their
//! source on average over seeds, along x and along z. (The sweep visits
//! cells in a fixed order; a rule that lets a cell follow into the air a
//! neighbour left in the same frame favours the direction the sweep came
//! from.)

mod common;

use loam_storage::{VoxelWorld, WorldLayout};
use loam_systems::materials::{id, MaterialTable, AMBIENT};

/// The centre of mass (x, z) of `material` after `frames` frames of a 2 × 2
/// source at the middle of a 64³ box (so the centre is 31.5), at height `y`.
fn centre(material: u8, y: u32, frames: u64, seed: u64) -> [f64; 2] {
    let layout = WorldLayout::new([64, 64, 64], 16).unwrap();
    let mut w = VoxelWorld::new(layout, id::AIR, AMBIENT);
    let table = MaterialTable::default();
    for f in 0..frames {
        for (x, z) in [(31, 31), (32, 31), (31, 32), (32, 32)] {
            if w.material([x, y, z]) == Some(id::AIR) {
                w.set_cell([x, y, z], material, AMBIENT);
            }
        }
        common::frame(&mut w, &table, seed, f);
    }
    let c = w.census()[material as usize].center_of_mass();
    [c[0], c[2]]
}

fn assert_centred(name: &str, material: u8, y: u32, frames: u64) {
    let seeds = 8;
    let mut mean = [0.0; 2];
    for seed in 1..=seeds {
        let c = centre(material, y, frames, seed);
        for a in 0..2 {
            mean[a] += (c[a] - 31.5) / seeds as f64;
        }
    }
    println!(
        "{name}: mean offset from the source over {seeds} seeds: x {:+.3}, z {:+.3}",
        mean[0], mean[1]
    );
    for (a, axis) in ["x", "z"].iter().enumerate() {
        assert!(
            mean[a].abs() <= 0.5,
            "{name}: centre of mass off the source by {:+.2} cells along {axis} on average",
            mean[a]
        );
    }
}

#[test]
fn smoke_plumes_rise_straight() {
    assert_centred("smoke", id::SMOKE, 2, 300);
}

#[test]
fn steam_plumes_rise_straight() {
    assert_centred("steam", id::STEAM, 2, 300);
}

#[test]
fn water_poured_on_a_floor_spreads_evenly() {
    assert_centred("water", id::WATER, 30, 300);
}
