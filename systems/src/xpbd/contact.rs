//! Contact between soft bodies: particles of different bodies closer than
//! two contact radii are pushed apart, weighted by inverse mass.
//!
//! Bodies whose bounding boxes (grown by a radius) overlap are found by a
//! sweep along x; a hash grid of cells one contact diameter wide then finds
//! the particle pairs among them. The
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
    if b.bodies.len() < 2 || b.bodies.iter().all(|body| body.sleeping) {
        return Vec::new();
    }
    let size = 2.0 * RADIUS;
    // Broad phase: only bodies whose boxes, grown by a radius, overlap
    // another's can touch. Bodies sorted by their low x, swept.
    let boxes: Vec<([f32; 3], [f32; 3])> = b
        .bodies
        .iter()
        .map(|body| {
            let (lo, hi) = body.particles;
            b.x[lo..hi].iter().fold(
                ([f32::INFINITY; 3], [f32::NEG_INFINITY; 3]),
                |(mn, mx), p| {
                    (
                        [0, 1, 2].map(|a| mn[a].min(p[a] - RADIUS)),
                        [0, 1, 2].map(|a| mx[a].max(p[a] + RADIUS)),
                    )
                },
            )
        })
        .collect();
    let mut order: Vec<usize> = (0..boxes.len()).collect();
    order.sort_by(|&i, &j| boxes[i].0[0].total_cmp(&boxes[j].0[0]).then(i.cmp(&j)));
    let mut touching = vec![false; boxes.len()];
    for (n, &i) in order.iter().enumerate() {
        for &j in &order[n + 1..] {
            if boxes[j].0[0] > boxes[i].1[0] {
                break;
            }
            if (0..3).all(|a| boxes[i].0[a] <= boxes[j].1[a] && boxes[j].0[a] <= boxes[i].1[a]) {
                touching[i] = true;
                touching[j] = true;
            }
        }
    }
    if !touching.iter().any(|&t| t) {
        return Vec::new();
    }
    let key = |x: [f32; 3]| x.map(|v| (v / size).floor() as i32);
    let mut grid: FxHashMap<[i32; 3], Vec<u32>> = FxHashMap::default();
    for (_, body) in b.bodies.iter().enumerate().filter(|(k, _)| touching[*k]) {
        for p in body.particles.0..body.particles.1 {
            grid.entry(key(b.x[p])).or_default().push(p as u32);
        }
    }
    let body_of = |p: usize| b.bodies.partition_point(|body| body.particles.1 <= p);
    let mut woken = Vec::new();
    let candidates: Vec<usize> = b
        .bodies
        .iter()
        .enumerate()
        .filter(|(k, _)| touching[*k])
        .flat_map(|(_, body)| body.particles.0..body.particles.1)
        .collect();
    for i in candidates {
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
