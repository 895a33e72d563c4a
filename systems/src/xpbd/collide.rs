//! Collision with the voxel world: no particle ends a substep inside a
//! solid cell (solids and powders, cells outside the world and pages that
//! are not resident); it is put back out through the face it came in by,
//! and friction takes away part of its sliding along that face. Pushes out
//! of powders are summed per particle, for the grains to feel (`react`).

use loam_storage::VoxelWorld;
use rayon::prelude::*;

use super::SoftBodies;
use crate::materials::{Kind, MaterialTable};

/// Distance a particle pushed out of a blocked cell is kept from its
/// face, cells.
pub const SKIN: f32 = 1e-3;

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

/// No particle has been found free in a cell yet this frame.
pub(crate) const NO_CELL: [i32; 3] = [i32::MIN; 3];

/// `v.floor() as i32` without a call into libm (x86-64's baseline has no
/// rounding instruction): truncate, then step down below zero. Saturates
/// like `as` for values out of range.
fn cell_of(v: f32) -> i32 {
    let t = v as i32;
    if (t as f32) > v {
        t - 1
    } else {
        t
    }
}

/// Moves every particle that ended inside a solid cell back out. The
/// world does not change during a frame's substeps, so a particle still in
/// the cell it was last found free in needs no lookup (`free`, reset to
/// [`NO_CELL`] each frame). Particles are independent: all run in
/// parallel.
pub(crate) fn collide(b: &mut SoftBodies, world: &VoxelWorld, table: &MaterialTable) {
    let (asleep, friction) = (&b.asleep, &b.friction);
    b.x.par_iter_mut()
        .zip(b.prev.par_iter_mut())
        .zip(b.pressed.par_iter_mut())
        .zip(b.free.par_iter_mut())
        .enumerate()
        .with_min_len(1024)
        .for_each(|(p, (((x, prev), pressed), free))| {
            if asleep[p] {
                return;
            }
            let cell = x.map(cell_of);
            if cell == *free {
                return;
            }
            if push_out(x, prev, pressed, friction[p], world, table) {
                *free = x.map(cell_of);
            }
        });
}

/// Puts one particle back out of solid cells (at most 3 in a row);
/// returns whether it ended free.
fn push_out(
    x: &mut [f32; 3],
    prev: &mut [f32; 3],
    pressed: &mut [f32; 3],
    friction: f32,
    world: &VoxelWorld,
    table: &MaterialTable,
) -> bool {
    for _ in 0..3 {
        let Some(loose) = blocked(world, table, *x) else {
            return true;
        };
        let before = *x;
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
        let keep = 1.0 - friction;
        for a in (0..3).filter(|&a| a != axis) {
            x[a] = prev[a] + (x[a] - prev[a]) * keep;
        }
        if loose {
            for a in 0..3 {
                pressed[a] += x[a] - before[a];
            }
        }
    }
    blocked(world, table, *x).is_none()
}

#[cfg(test)]
mod tests {
    #[test]
    fn cell_of_is_floor() {
        for v in [-2.5f32, -1.0, -0.25, 0.0, 0.25, 1.0, 3.75, 1e9, -1e9] {
            assert_eq!(super::cell_of(v), v.floor() as i32, "{v}");
        }
    }
}
