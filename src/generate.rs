//! World generation: a scenario's fills written into cells, for a world
//! held in memory and for the pages a streamed world generates.

use loam_storage::VoxelWorld;
use loam_systems::materials::AMBIENT;
use loam_systems::MaterialTable;

use crate::scenario::{Fill, Shape};

/// Writes `fill` into the world, waking what it touches.
pub(crate) fn apply_fill(world: &mut VoxelWorld, table: &MaterialTable, fill: &Fill, seed: u64) {
    let size = world.layout().size;
    let all = ([0; 3], size.map(i64::from));
    fill_cells(table, fill, seed, size, all, |p, m, t| {
        world.set_cell(p, m, t);
    });
}

/// Calls `put(cell, material, temperature)` for each cell of `fill` inside
/// `clip` (`[min, max)`), in a world of `size`.
pub(crate) fn fill_cells(
    table: &MaterialTable,
    fill: &Fill,
    seed: u64,
    size: [u32; 3],
    clip: ([i64; 3], [i64; 3]),
    mut put: impl FnMut([u32; 3], u8, f32),
) {
    let temperature = fill
        .temperature
        .unwrap_or_else(|| spawn_temperature(table, fill.material));
    let surface = match fill.shape {
        Shape::NoiseTerrain { surface, .. } => surface,
        _ => None,
    };
    fill.shape.for_each_cell_in(size, seed, clip, |p, depth| {
        let m = match surface {
            Some((s, d)) if depth < d => s,
            _ => fill.material,
        };
        let t = if m == fill.material {
            temperature
        } else {
            spawn_temperature(table, m)
        };
        put(p, m, t);
    });
}

/// The temperature a new cell of material `m` starts at.
pub(crate) fn spawn_temperature(table: &MaterialTable, m: u8) -> f32 {
    table.get(m).map_or(AMBIENT, |m| m.spawn_temperature)
}
