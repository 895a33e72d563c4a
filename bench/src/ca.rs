//! Falling-sand workloads.
//!
//! - `dense`: a 128³ world, a layer of sand sinking through a layer of
//!   water, with every page woken before each frame, so all 2,097,152 cells
//!   are updated every frame. Throughput counts every cell of every updated
//!   page, moving or not.
//! - `level`: the levelling pass over the dense world and over a 256-wide
//!   lake with a heap on it.
//!
//! The sleeping world's frame time, which needs a scenario's runtime, is
//! measured in the `loam` crate (`loam::bench::sleeping`).

use std::time::Instant;

use loam_runtime::random::hash3;
use loam_storage::{VoxelWorld, WorldLayout};
use loam_systems::ca::{self, CaConfig};
use loam_systems::materials::{id, AMBIENT};
use loam_systems::MaterialTable;

use crate::Measurement;

/// A world of `edge`³ cells (page 32): water in the bottom 7/16, sand above
/// it up to 7/8 of the height, air on top, with one cell in 64 of each layer
/// swapped for air so both layers start loose.
pub fn dense_world(edge: u32) -> VoxelWorld {
    let layout = WorldLayout::new([edge; 3], 32).expect("edge is a multiple of 32");
    let mut w = VoxelWorld::new(layout, id::AIR, AMBIENT);
    let (water_top, sand_top) = (edge * 7 / 16, edge * 7 / 8);
    for z in 0..edge {
        for y in 0..sand_top {
            for x in 0..edge {
                let hole = hash3(9, 0, u64::from(x + edge * (y + edge * z))) % 64 == 0;
                let m = match y {
                    _ if hole => id::AIR,
                    y if y < water_top => id::WATER,
                    _ => id::SAND,
                };
                w.set_cell([x, y, z], m, AMBIENT);
            }
        }
    }
    w
}

/// Runs one dense frame: wake every page, then step.
pub fn dense_frame(world: &mut VoxelWorld, table: &MaterialTable, frame: u64) -> ca::CaStats {
    for p in 0..world.layout().page_count() {
        world.wake(p);
    }
    ca::step(world, table, &CaConfig::default(), 9, frame)
}

/// Cell updates per second on `threads` threads over `frames` dense frames,
/// and the mean number of cells that moved per frame.
pub fn dense_cells_per_s(threads: usize, frames: u64) -> (f64, f64) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a small rayon pool");
    let table = MaterialTable::default();
    let mut world = dense_world(128);
    pool.install(|| {
        for f in 0..3 {
            dense_frame(&mut world, &table, f);
        }
        let start = Instant::now();
        let (mut cells, mut moves) = (0, 0);
        for f in 3..3 + frames {
            let stats = dense_frame(&mut world, &table, f);
            cells += stats.cells_updated;
            moves += stats.moves;
        }
        (
            cells as f64 / start.elapsed().as_secs_f64(),
            moves as f64 / frames as f64,
        )
    })
}

/// Mean ms of the levelling pass ([`ca::level`]) after a dense frame, over
/// `frames` frames, with every page swept (as `dense_frame` wakes them
/// all). The sweep is not timed: `dense_cells_per_s` times it.
pub fn dense_level_ms(frames: u64) -> f64 {
    let table = MaterialTable::default();
    let mut world = dense_world(128);
    let all: Vec<usize> = (0..world.layout().page_count()).collect();
    let mut spent = std::time::Duration::ZERO;
    for f in 0..3 + frames {
        dense_frame(&mut world, &table, f);
        let start = Instant::now();
        ca::level(&mut world, &table, 9, f, &all);
        if f >= 3 {
            spent += start.elapsed();
        }
    }
    spent.as_secs_f64() * 1000.0 / frames as f64
}

/// A lake to level: 256 × 256 cells of water 20 deep (1.3 M cells) on a
/// stone floor, with a heap two cells higher over an eighth of it, all
/// resting: the levelling pass floods the whole lake and trades.
pub fn lake_world() -> VoxelWorld {
    let layout = WorldLayout::new([256, 64, 256], 32).expect("a valid layout");
    let mut w = VoxelWorld::new(layout, id::AIR, AMBIENT);
    for z in 0..256 {
        for x in 0..256 {
            let top = if x < 32 { 24 } else { 22 };
            for y in 0..top {
                let m = if y < 2 { id::STONE } else { id::WATER };
                w.set_cell([x, y, z], m, AMBIENT);
            }
        }
    }
    w
}

/// Mean ms of one levelling pass over [`lake_world`], `runs` times from
/// the same start.
pub fn lake_level_ms(runs: u32) -> f64 {
    let table = MaterialTable::default();
    let lake = lake_world();
    let all: Vec<usize> = (0..lake.layout().page_count()).collect();
    let mut spent = std::time::Duration::ZERO;
    for r in 0..runs {
        let mut w = lake.clone();
        let start = Instant::now();
        let stats = ca::level(&mut w, &table, 9, u64::from(r), &all);
        spent += start.elapsed();
        assert!(stats.trades > 0, "the lake's heap levels");
    }
    spent.as_secs_f64() * 1000.0 / f64::from(runs)
}

/// The `ca` group for `loam bench`.
pub fn measurements() -> Vec<Measurement> {
    let mut out = Vec::new();
    for t in [1, 2] {
        let (rate, moves) = dense_cells_per_s(t, 60);
        out.push(Measurement {
            name: format!("ca.dense128.cells_per_s.t{t}"),
            value: rate,
            unit: "cells/s",
        });
        if t == 1 {
            out.push(Measurement {
                name: "ca.dense128.moves_per_frame".into(),
                value: moves,
                unit: "cells",
            });
        }
    }
    out.push(Measurement {
        name: "ca.level.dense128.ms_per_pass".into(),
        value: dense_level_ms(20),
        unit: "ms",
    });
    out.push(Measurement {
        name: "ca.level.lake256.ms_per_pass".into(),
        value: lake_level_ms(5),
        unit: "ms",
    });
    out
}
