//! Collision with the voxel world: no particle ends a substep inside a
//! solid cell (solids and powders, cells outside the world and pages that
//! are not resident); it is put back out through the face it came in by,
//! and friction takes away part of its sliding along that face.

use loam_storage::VoxelWorld;

use super::SoftBodies;
use crate::materials::{Kind, MaterialTable};

/// Distance kept from a face, cells.
const SKIN: f32 = 1e-3;

fn solid(world: &VoxelWorld, table: &MaterialTable, p: [f32; 3]) -> bool {
    if p.iter().any(|&v| v < 0.0 || !v.is_finite()) {
        return true;
    }
    let c = p.map(|v| v as u32);
    match world.material(c) {
        Some(m) => matches!(table.kind[m as usize], Kind::Solid | Kind::Powder),
        None => true,
    }
}

/// Moves every particle that ended inside a solid cell back out.
pub(crate) fn collide(b: &mut SoftBodies, world: &VoxelWorld, table: &MaterialTable) {
    for p in 0..b.x.len() {
        if b.asleep[p] {
            continue;
        }
        let mut x = b.x[p];
        let prev = b.prev[p];
        for _ in 0..3 {
            if !solid(world, table, x) {
                break;
            }
            let lo = x.map(|v| v.floor());
            // The axis along which the particle entered this cell with the
            // shortest way back; straight up when it was already inside.
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
            let (axis, target, _) = best.unwrap_or((1, lo[1] + 1.0 + SKIN, 0.0));
            x[axis] = target;
            // Friction: keep only part of the slide along the face.
            let keep = 1.0 - b.friction[p];
            for a in (0..3).filter(|&a| a != axis) {
                x[a] = prev[a] + (x[a] - prev[a]) * keep;
            }
        }
        b.x[p] = x;
    }
}
