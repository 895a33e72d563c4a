//! Contact between soft bodies: particles of different bodies closer than
//! two contact radii are pushed apart, weighted by inverse mass.
//!
//! A hash grid of cells one contact diameter wide finds the pairs. The
//! pass walks particles in index order and applies each push at once
//! (Gauss–Seidel), so it is deterministic. A contact with a sleeping body
//! wakes it.

use rustc_hash::FxHashMap;

use super::SoftBodies;

/// Contact radius of a particle, cells. Two radii (0.8) exceed the
/// half-diagonal of a unit face (0.707), so a corner cannot slip between
/// the four corners of another body's face.
pub const RADIUS: f32 = 0.4;

/// Separates particles of different bodies; returns the bodies a contact
/// woke.
pub(crate) fn contacts(b: &mut SoftBodies) -> Vec<usize> {
    if b.bodies.len() < 2 {
        return Vec::new();
    }
    let size = 2.0 * RADIUS;
    let key = |x: [f32; 3]| x.map(|v| (v / size).floor() as i32);
    let mut grid: FxHashMap<[i32; 3], Vec<u32>> = FxHashMap::default();
    for (p, x) in b.x.iter().enumerate() {
        grid.entry(key(*x)).or_default().push(p as u32);
    }
    let body_of = |p: usize| b.bodies.partition_point(|body| body.particles.1 <= p);
    let mut woken = Vec::new();
    for i in 0..b.x.len() {
        let bi = body_of(i);
        let k = key(b.x[i]);
        for dz in -1..=1 {
            for dy in -1..=1 {
                for dx in -1..=1 {
                    let Some(cell) = grid.get(&[k[0] + dx, k[1] + dy, k[2] + dz]) else {
                        continue;
                    };
                    for &j in cell {
                        let j = j as usize;
                        if j <= i || body_of(j) == bi {
                            continue;
                        }
                        let d = [0, 1, 2].map(|a| b.x[i][a] - b.x[j][a]);
                        let len = d.iter().map(|v| v * v).sum::<f32>().sqrt();
                        let (wi, wj) = (b.w[i], b.w[j]);
                        if len >= size || len < 1e-6 || wi + wj == 0.0 {
                            continue;
                        }
                        let push = (size - len) / (wi + wj);
                        for (a, da) in d.iter().enumerate() {
                            let n = da / len;
                            b.x[i][a] += wi * push * n;
                            b.x[j][a] -= wj * push * n;
                        }
                        for body in [bi, body_of(j)] {
                            if b.bodies[body].sleeping {
                                woken.push(body);
                            }
                        }
                    }
                }
            }
        }
    }
    woken.sort_unstable();
    woken.dedup();
    woken
}
