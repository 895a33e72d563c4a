//! Gases by density: a gas heavier than air sinks, flows downhill and pools
//! in the lowest place it can reach, under the air; lighter ones rise;
//! mixed gases end layered by density; and settled gas sleeps. Counts are
//! checked every frame.

mod common;

use common::fill;
use loam_storage::{VoxelWorld, WorldLayout};
use loam_systems::materials::{id, AMBIENT};

/// The seed of every world here.
const SEED: u64 = 9;

fn settle(w: &mut VoxelWorld, limit: u64, threads: usize) -> u64 {
    common::settle(w, SEED, limit, threads)
}

/// A closed stone room 48 × 32 × 48 (walls, floor and ceiling one cell
/// thick) in a world of that size.
fn room() -> VoxelWorld {
    let layout = WorldLayout::new([48, 32, 48], 16).unwrap();
    let mut w = VoxelWorld::new(layout, id::STONE, AMBIENT);
    fill(&mut w, [1, 1, 1], [47, 31, 47], id::AIR);
    w
}

/// Cells of `m` inside the box.
fn inside(w: &VoxelWorld, m: u8, min: [u32; 3], max: [u32; 3]) -> u64 {
    let mut n = 0;
    for z in min[2]..max[2] {
        for y in min[1]..max[1] {
            for x in min[0]..max[0] {
                n += u64::from(w.material([x, y, z]) == Some(m));
            }
        }
    }
    n
}

#[test]
fn carbon_dioxide_released_high_sinks_and_pools_in_the_lowest_place() {
    // Three rooms: a flat floor, a pit in the floor, a slope down into a
    // valley along x.
    type Shape = fn(&mut VoxelWorld);
    let rooms: [(&str, Shape, [u32; 3], [u32; 3]); 3] = [
        ("flat floor", |_| {}, [1, 1, 1], [47, 5, 47]),
        (
            "pit",
            |w| {
                // A raised floor 8 high, with a 10 × 10 pit down to the real floor.
                fill(w, [1, 1, 1], [47, 9, 47], id::STONE);
                fill(w, [30, 1, 30], [40, 9, 40], id::AIR);
            },
            [30, 1, 30],
            [40, 9, 40],
        ),
        (
            "valley",
            |w| {
                // The floor rises a cell every 2 cells of x from the valley at
                // x < 8.
                for x in 8..47 {
                    fill(w, [x, 1, 1], [x + 1, 1 + (x - 6) / 2, 47], id::STONE);
                }
            },
            [1, 1, 1],
            [12, 6, 47],
        ),
    ];
    for (name, shape, low_min, low_max) in rooms {
        let mut w = room();
        shape(&mut w);
        // A cloud of CO2 under the ceiling, far from the low place, and
        // less than it holds.
        fill(&mut w, [32, 24, 4], [42, 30, 14], id::CO2);
        let released = w.material_counts()[id::CO2 as usize];
        let frames = settle(&mut w, 3000, 2);
        let pooled = inside(&w, id::CO2, low_min, low_max);
        let census = w.census();
        let co2 = census[id::CO2 as usize];
        println!("{name}: {pooled} of {released} cells of CO2 in the low place after {frames} frames, y {}..={}", co2.min_y, co2.max_y);
        assert!(
            pooled * 10 >= released * 9,
            "{name}: only {pooled} of {released} CO2 cells reached the low place"
        );
        assert!(frames < 3000, "{name}: the room is still awake");
    }
}

#[test]
fn three_gases_mixed_end_layered_by_density() {
    // Steam (0.6 kg/m³), smoke (0.9), air (1.2), carbon dioxide (1.98),
    // mixed at random through the middle of the room.
    let mut w = room();
    let gases = [id::STEAM, id::SMOKE, id::CO2];
    for z in 1..47u32 {
        for y in 8..24u32 {
            for x in 1..47u32 {
                let h = loam_runtime::random::hash3(4, 0, u64::from(x + 48 * (y + 32 * z)));
                if h % 4 != 0 {
                    w.set_cell([x, y, z], gases[(h >> 8) as usize % 3], AMBIENT);
                }
            }
        }
    }
    let frames = settle(&mut w, 4000, 2);
    let census = w.census();
    let [steam, smoke, co2] = gases.map(|g| census[g as usize]);
    println!(
        "after {frames} frames: CO2 y {}..={}, smoke y {}..={}, steam y {}..={}",
        co2.min_y, co2.max_y, smoke.min_y, smoke.max_y, steam.min_y, steam.max_y
    );
    // Layers in order, each within one cell of the next (a partial layer
    // may share its row).
    assert!(co2.max_y < smoke.min_y, "CO2 below smoke, with air between");
    assert!(smoke.max_y <= steam.min_y, "smoke below steam");
    assert!(
        co2.min_y == 1 && steam.max_y == 30,
        "CO2 on the floor, steam under the ceiling"
    );
    assert!(frames < 4000, "the layers settle and sleep");
}

#[test]
fn gases_settle_the_same_on_one_two_and_four_threads() {
    let make = || {
        let mut w = room();
        fill(&mut w, [10, 20, 10], [20, 28, 20], id::CO2);
        fill(&mut w, [30, 3, 30], [38, 9, 38], id::STEAM);
        w
    };
    common::assert_same_on_any_thread_count(make, SEED, 400);
}
