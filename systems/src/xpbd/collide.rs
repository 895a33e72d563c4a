//! Collision with the voxel world: no particle ends a substep inside a
//! solid cell (solids and powders, cells outside the world and pages that
//! are not resident); it is put back out through the face it came in by,
//! and friction takes away part of its sliding along that face. Pushes out
//! of powders are summed per particle, for the grains to feel (`react`).

use loam_storage::VoxelWorld;

use super::SoftBodies;
use crate::materials::{Kind, MaterialTable};

/// Distance kept from a face, cells.
const SKIN: f32 = 1e-3;

/// The material of the cell holding `p`; `None` outside the world or in a
/// page that is not resident.
pub(crate) fn material_at(world: &VoxelWorld, p: [f32; 3]) -> Option<u8> {
    if p.iter().any(|&v| v < 0.0 || !v.is_finite()) {
        return None;
    }
    world.material(p.map(|v| v as u32))
}

/// What a particle at `p` meets: `None` if it may be there, else whether
/// the cell is loose (a powder, which feels the push).
fn blocked(world: &VoxelWorld, table: &MaterialTable, p: [f32; 3]) -> Option<bool> {
    match material_at(world, p).map(|m| table.kind[m as usize]) {
        Some(Kind::Powder) => Some(true),
        Some(Kind::Solid) | None => Some(false),
        Some(_) => None,
    }
}

/// Moves every particle that ended inside a solid cell back out.
pub(crate) fn collide(b: &mut SoftBodies, world: &VoxelWorld, table: &MaterialTable) {
    for p in 0..b.x.len() {
        if b.asleep[p] {
            continue;
        }
        let mut x = b.x[p];
        let mut prev = b.prev[p];
        for _ in 0..3 {
            let Some(loose) = blocked(world, table, x) else {
                break;
            };
            let before = x;
            let lo = x.map(|v| v.floor());
            // The axis along which the particle entered this cell with the
            // shortest way back.
            let mut best: Option<(usize, f32, f32)> = None;
            for a in 0..3 {
                let target = if prev[a] < lo[a] {
                    lo[a] - SKIN
                } else if prev[a] >= lo[a] + 1.0 {
                    lo[a] + 1.0 + SKIN
                } else {
                    continue;
                };
                let dist = (target - x[a]).abs();
                if best.is_none_or(|(_, _, d)| dist < d) {
                    best = Some((a, target, dist));
                }
            }
            let Some((axis, target, _)) = best else {
                // It was in this cell before the substep: the world moved
                // into it (sand fell on it, a cell was thrown into it). Out
                // the top, and `prev` with it, so it gains no speed.
                let up = lo[1] + 1.0 + SKIN - x[1];
                x[1] += up;
                prev[1] += up;
                continue;
            };
            x[axis] = target;
            // Friction: keep only part of the slide along the face.
            let keep = 1.0 - b.friction[p];
            for a in (0..3).filter(|&a| a != axis) {
                x[a] = prev[a] + (x[a] - prev[a]) * keep;
            }
            if loose {
                for a in 0..3 {
                    b.pressed[p][a] += x[a] - before[a];
                }
            }
        }
        b.x[p] = x;
        b.prev[p] = prev;
    }
}
