//! How the fields move the world: blasts throw cells whose strength the
//! overpressure beats, winds carry gases (smoke and steam, so a fire's
//! smoke goes downwind), fire and lava heat the air, and hot air heats what
//! it touches.
//!
//! The pass is serial: it walks field cells from the weakest pressure to
//! the strongest (so the rim of a blast clears the way for its core), and
//! voxels in index order, and every random choice is a hash of (seed,
//! frame, cell), so it gives the same world on any number of threads. A
//! cell moves only into empty cells, so every cell is conserved.

use loam_runtime::random::hash3;
use loam_storage::VoxelWorld;

use super::{Fields, Scalar};
use crate::materials::{id, Kind, MaterialTable, AMBIENT};

/// What one coupling pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CoupleStats {
    /// Cells thrown by pressure or carried by wind.
    pub moved: u64,
    /// Cells heated by the thermal field.
    pub heated: u64,
}

/// Farthest a blast throws a cell in one frame, cells.
const MAX_THROW: f32 = 6.0;
/// Heating rate of cells by the thermal field, per second.
const HEATING: f64 = 2.0;
/// Thermal excess a burning or molten cell keeps in its field cell, per K
/// above ambient.
const EMISSION: f32 = 0.5;

/// One coupling pass over `dt` seconds.
pub fn couple(
    world: &mut VoxelWorld,
    fields: &mut Fields,
    materials: &MaterialTable,
    dt: f64,
    voxel_size: f64,
    seed: u64,
    frame: u64,
) -> CoupleStats {
    let layout = *world.layout();
    // Fire and lava keep the air around them hot.
    for &p in world.table.woken() {
        let Some(view) = world.page(p) else { continue };
        let origin = layout.page_coord(p).map(|c| c * layout.page);
        let pe = layout.page as usize;
        for (i, (&m, &t)) in view.material.iter().zip(view.temperature).enumerate() {
            if m == id::FIRE || m == id::LAVA {
                let l = [i % pe, (i / pe) % pe, i / (pe * pe)];
                let pos = [0, 1, 2].map(|a| (origin[a] as usize + l[a]) as f32 + 0.5);
                fields.raise_scalar(Scalar::Thermal, pos, (t - AMBIENT).max(0.0) * EMISSION);
            }
        }
    }

    let mut stats = CoupleStats::default();
    let cell = fields.config().cell;
    let heat_k = (1.0 - (-HEATING * dt).exp()) as f32;
    let cells_per_s = (1.0 / voxel_size) as f32;
    // Weakest pressure first: the rim of a blast moves before its core, so
    // the core has somewhere to go.
    let mut active = fields.active_cells();
    active.sort_by(|a, b| a.1.pressure.total_cmp(&b.1.pressure).then(a.0.cmp(&b.0)));
    // Cells that already moved this pass, so none moves twice.
    let mut landed: rustc_hash::FxHashSet<[u32; 3]> = rustc_hash::FxHashSet::default();
    for (c, s) in active {
        let lo = c.map(|v| u32::try_from(v).ok().and_then(|v| v.checked_mul(cell)));
        let Some(lo) = (0..3)
            .all(|a| lo[a].is_some_and(|v| v < layout.size[a]))
            .then(|| lo.map(|v| v.unwrap_or(0)))
        else {
            continue;
        };
        let speed = s.kinetic.iter().map(|v| v * v).sum::<f32>().sqrt();
        if speed <= 0.0 && s.thermal <= 0.0 {
            continue; // pressure alone moves nothing
        }
        let mut heated = false;
        for z in lo[2]..(lo[2] + cell).min(layout.size[2]) {
            for y in lo[1]..(lo[1] + cell).min(layout.size[1]) {
                for x in lo[0]..(lo[0] + cell).min(layout.size[0]) {
                    let p = [x, y, z];
                    let Some(m) = world.material(p) else { continue };
                    if s.thermal > 0.0 {
                        let target = AMBIENT + s.thermal;
                        if let Some(t) = world.temperature(p).filter(|&t| t < target) {
                            let i = world
                                .cell_index(p)
                                .expect("resident: its material was read");
                            world.temperature.as_mut_slice()[i] = t + heat_k * (target - t);
                            stats.heated += 1;
                            heated = true;
                        }
                    }
                    if m == id::AIR || speed <= 0.0 || landed.contains(&p) {
                        continue;
                    }
                    let r = hash3(
                        seed ^ 0x4649_454c_4453,
                        frame,
                        u64::from(x) | u64::from(y) << 21 | u64::from(z) << 42,
                    );
                    let roll = (r >> 40) as f32 / (1u64 << 24) as f32;
                    let kind = materials.kind[m as usize];
                    let distance =
                        if s.pressure > 0.0 && s.pressure >= materials.strength[m as usize] {
                            // A blast: thrown along the kinetic field.
                            (speed * dt as f32 * cells_per_s).clamp(1.0, MAX_THROW)
                        } else if kind == Kind::Gas && roll < speed * dt as f32 * cells_per_s {
                            // Wind carries gases a cell at a time.
                            1.0
                        } else {
                            continue;
                        };
                    let dir = s.kinetic.map(|v| v / speed);
                    // Walk along the direction; stop before anything not empty.
                    let mut to = p;
                    for step in 1..=distance.round() as i32 {
                        let q =
                            [0, 1, 2].map(|a| (p[a] as f32 + 0.5 + dir[a] * step as f32).floor());
                        if (0..3).any(|a| q[a] < 0.0 || q[a] >= layout.size[a] as f32) {
                            break;
                        }
                        let q = q.map(|v| v as u32);
                        if q == to {
                            continue;
                        }
                        if world.material(q) != Some(id::AIR) {
                            break;
                        }
                        to = q;
                    }
                    if to != p {
                        let t = world.temperature(p).unwrap_or(AMBIENT);
                        let t_air = world.temperature(to).unwrap_or(AMBIENT);
                        world.set_cell(to, m, t);
                        world.set_cell(p, id::AIR, t_air);
                        landed.insert(to);
                        stats.moved += 1;
                    }
                }
            }
        }
        if heated {
            // Some cell of this field cell was read, so `lo` is in the world.
            let page = layout.locate(lo).0;
            world.table.touch(page);
            world.wake_around(page);
        }
    }
    stats
}
