//! Liquids find their level: heaps flatten in basins of many shapes, water
//! poured into one of two joined basins ends at one level in both, oil on
//! water ends as two flat layers, and still water sleeps. Every frame,
//! every material is conserved; the result is the same on 1, 2 and 4
//! threads.
//!
//! A frame here is what the runtime's `ca.step` job runs: the sweep, then
//! levelling.

mod common;

use common::{fill, frame};
use loam_runtime::random::hash3;
use loam_storage::{VoxelWorld, WorldLayout};
use loam_systems::ca;
use loam_systems::materials::{id, MaterialTable, AMBIENT};

/// The seed of every world here.
const SEED: u64 = 5;

fn settle(w: &mut VoxelWorld, limit: u64, threads: usize) -> u64 {
    common::settle(w, SEED, limit, threads)
}

fn world(size: [u32; 3], page: u32) -> VoxelWorld {
    VoxelWorld::new(WorldLayout::new(size, page).unwrap(), id::AIR, AMBIENT)
}

/// Cells of `m` in column (x, z).
fn column(w: &VoxelWorld, m: u8, x: u32, z: u32) -> u32 {
    (0..w.layout().size[1])
        .filter(|&y| w.material([x, y, z]) == Some(m))
        .count() as u32
}

/// The lowest and highest count of `m` over the columns (x, z) that are
/// open to it (no stone in them above the floor).
fn spread(w: &VoxelWorld, m: u8, open: &dyn Fn(u32, u32) -> bool) -> (u32, u32) {
    let [sx, _, sz] = w.layout().size;
    let mut lo = u32::MAX;
    let mut hi = 0;
    for z in 0..sz {
        for x in 0..sx {
            if open(x, z) {
                let n = column(w, m, x, z);
                lo = lo.min(n);
                hi = hi.max(n);
            }
        }
    }
    (lo, hi)
}

/// A basin: stone floor (y < 2) and walls one cell thick around
/// `0..width` × `0..depth`, open above, `height` cells high, with stone
/// columns where `solid(x, z)` says. Returns the world.
fn basin(width: u32, depth: u32, page: u32, solid: &dyn Fn(u32, u32) -> bool) -> VoxelWorld {
    let size = [
        (width + 2).next_multiple_of(page),
        32,
        (depth + 2).next_multiple_of(page),
    ];
    let mut w = world(size, page);
    for z in 0..size[2] {
        for x in 0..size[0] {
            let inside = (1..=width).contains(&x) && (1..=depth).contains(&z);
            let top = if inside && !solid(x - 1, z - 1) {
                2
            } else {
                30
            };
            fill(&mut w, [x, 0, z], [x + 1, top, z + 1], id::STONE);
        }
    }
    w
}

#[test]
fn a_heap_of_water_levels_in_basins_of_many_shapes_and_sizes() {
    type Shape = fn(u32, u32, u32) -> bool;
    let shapes: [(&str, Shape); 3] = [
        ("box", |_, _, _| false),
        // An L: the far quarter is stone.
        ("L", |x, z, n| x >= n / 2 && z >= n / 2),
        // Pillars every 5 cells.
        ("pillars", |x, z, _| x % 5 == 2 && z % 5 == 2),
    ];
    let mut worst = 0.0f64;
    for (case, &width) in [12u32, 20, 30, 46].iter().enumerate() {
        for (name, shape) in shapes {
            let solid = move |x: u32, z: u32| shape(x, z, width);
            let mut w = basin(width, width, 16, &solid);
            // A heap: a block of water dropped at a random place, tall
            // enough to stand well above the level it ends at.
            let r = |i: u64| hash3(3, case as u64, i);
            let side = (width / 3).max(3);
            let (x0, z0) = (
                1 + (r(0) % u64::from(width / 3)) as u32,
                1 + (r(1) % u64::from(width / 3)) as u32,
            );
            for z in z0..z0 + side {
                for y in 8..8 + side.min(18) {
                    for x in x0..x0 + side {
                        if !solid(x - 1, z - 1) {
                            w.set_cell([x, y, z], id::WATER, AMBIENT);
                        }
                    }
                }
            }
            let limit = 60 * u64::from(width) + 400;
            let frames = settle(&mut w, limit, 2);
            let open = |x: u32, z: u32| {
                (1..=width).contains(&x) && (1..=width).contains(&z) && !solid(x - 1, z - 1)
            };
            let (lo, hi) = spread(&w, id::WATER, &open);
            assert!(
                hi - lo <= 1,
                "{name} basin {width} wide: columns hold {lo}..={hi} water cells after {frames} frames"
            );
            assert!(
                frames < limit,
                "{name} basin {width} wide: still awake after {limit} frames"
            );
            worst = worst.max(frames as f64 / f64::from(width));
        }
    }
    println!("levelled and asleep within {worst:.1} frames per cell of basin width");
}

#[test]
fn two_basins_joined_by_a_pipe_at_the_bottom_end_at_one_level() {
    for (case, &(gap, page)) in [(6u32, 16u32), (14, 16), (20, 8)].iter().enumerate() {
        // Basins 10 × 10 at x in 1..=10 and at x in 11+gap..=20+gap, a wall
        // between them, and a pipe one cell high and two wide joining them at
        // the floor.
        let right = 11 + gap;
        let width = right + 10;
        let solid = move |x: u32, _z: u32| (10..right - 1).contains(&x);
        let mut w = basin(width, 10, page, &solid);
        fill(&mut w, [11, 2, 5], [right, 3, 7], id::AIR);
        // Poured into the left basin only.
        fill(&mut w, [1, 6, 1], [11, 26, 11], id::WATER);
        let frames = settle(&mut w, 4000, 2);
        let basin_columns = |x: u32, z: u32| {
            (1..=10).contains(&z) && (1..=width).contains(&x) && !solid(x - 1, z - 1)
        };
        let (lo, hi) = spread(&w, id::WATER, &|x, z| {
            basin_columns(x, z) && !(11..right).contains(&x)
        });
        assert!(
            hi - lo <= 1,
            "case {case}: the basins hold {lo}..={hi} water cells a column after {frames} frames"
        );
        assert!(frames < 4000, "case {case}: still awake");
    }
}

/// The highest cell of `m` in column (x, z), if any.
fn surface(w: &VoxelWorld, m: u8, x: u32, z: u32) -> Option<u32> {
    (0..w.layout().size[1])
        .rev()
        .find(|&y| w.material([x, y, z]) == Some(m))
}

#[test]
fn oil_on_water_ends_as_two_flat_layers() {
    for (case, &width) in [14u32, 30].iter().enumerate() {
        let mut w = basin(width, width, 16, &|_, _| false);
        let c = width / 2;
        // A heap of oil over a heap of water in the middle, each enough for
        // more than two layers.
        let (water, oil) = (width * width * 5 / 2, width * width * 9 / 4);
        let (hw, ho) = (width / 2, width * 2 / 5);
        let tall = |n: u32, side: u32| n.div_ceil(side * side);
        let (tw, to) = (tall(water, hw), tall(oil, ho));
        fill(
            &mut w,
            [c - hw / 2, 2, c - hw / 2],
            [c + hw - hw / 2, 2 + tw, c + hw - hw / 2],
            id::WATER,
        );
        fill(
            &mut w,
            [c - ho / 2, 2 + tw, c - ho / 2],
            [c + ho - ho / 2, 2 + tw + to, c + ho - ho / 2],
            id::OIL,
        );
        let frames = settle(&mut w, 3000, 2);
        assert!(frames < 3000, "case {case}: still awake");
        for (m, name) in [(id::WATER, "water"), (id::OIL, "oil")] {
            let mut tops = Vec::new();
            for z in 1..=width {
                for x in 1..=width {
                    tops.push(surface(&w, m, x, z).unwrap_or(0));
                }
            }
            let (lo, hi) = (tops.iter().min().unwrap(), tops.iter().max().unwrap());
            assert!(
                hi - lo <= 1,
                "case {case}: the {name} surface spans y {lo}..={hi} after {frames} frames"
            );
        }
        // Oil over water: no oil below the highest water.
        let census = w.census();
        assert!(
            census[id::OIL as usize].min_y + 1 >= census[id::WATER as usize].max_y,
            "case {case}: oil from y {} over water up to y {}",
            census[id::OIL as usize].min_y,
            census[id::WATER as usize].max_y
        );
    }
}

#[test]
fn levelling_is_the_same_on_one_two_and_four_threads() {
    let make = || {
        let mut w = basin(40, 40, 8, &|x, z| x % 7 == 3 && z % 9 == 4);
        fill(&mut w, [3, 4, 3], [15, 20, 15], id::WATER);
        fill(&mut w, [25, 4, 20], [35, 14, 30], id::OIL);
        w
    };
    common::assert_same_on_any_thread_count(make, SEED, 300);
}

#[test]
fn still_water_sleeps_and_a_drop_wakes_only_what_it_touches() {
    let mut w = basin(40, 40, 16, &|_, _| false);
    fill(&mut w, [1, 2, 1], [41, 7, 41], id::WATER);
    // Half a layer more on one side: it spreads to a partial layer, then
    // every page sleeps.
    fill(&mut w, [1, 7, 1], [21, 8, 41], id::WATER);
    let frames = settle(&mut w, 1000, 2);
    assert!(
        frames < 1000,
        "a flat lake with a partial top layer still awake"
    );
    let h = w.hash();
    let table = MaterialTable::default();
    for f in 0..10 {
        frame(&mut w, &table, SEED, 5000 + f);
    }
    assert_eq!(w.hash(), h, "asleep means nothing changes");
    // A drop lands, spreads into the top layer, and all sleeps again.
    w.set_cell([30, 20, 30], id::WATER, AMBIENT);
    let again = settle(&mut w, 1000, 2);
    assert!(
        again < 200,
        "woken by one drop, asleep after {again} frames"
    );
}

#[test]
fn no_cell_is_traded_after_it_moved_in_the_sweep() {
    // Water falling as a column moves every frame; the sweep's moves are
    // final for the frame, so levelling leaves those cells alone: a falling
    // column arrives whole.
    let table = MaterialTable::default();
    let mut w = basin(20, 20, 16, &|_, _| false);
    fill(&mut w, [2, 2, 2], [20, 4, 20], id::WATER);
    fill(&mut w, [10, 20, 10], [11, 28, 11], id::WATER);
    for f in 0..6 {
        let swept = w.table().woken().to_vec();
        ca::step(&mut w, &table, &common::CONFIG, SEED, f);
        let before = w.pools().material.to_vec();
        let stats = ca::level(&mut w, &table, SEED, f, &swept);
        let after = w.pools().material.to_vec();
        // Levelling trades only resting cells: the falling column (x = 10,
        // z = 10, above y = 8) is untouched.
        for y in 8..30 {
            let i = w.cell_index([10, y, 10]).unwrap();
            assert_eq!(
                before[i], after[i],
                "frame {f}: falling cell at y {y} traded ({stats:?})"
            );
        }
    }
}
