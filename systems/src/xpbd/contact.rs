//! Contact between soft bodies: particles of different bodies closer than
//! two contact radii are pushed apart, weighted by inverse mass.
//!
//! Bodies whose bounding boxes (grown by a radius) overlap are found by a
//! sweep along x; a hash grid of cells one contact diameter wide then finds
//! the pairs among their particles inside the overlaps. Pushes are
//! averaged per particle (Jacobi), so the result does not depend on the
//! order of pairs, and it is deterministic. A sleeping body does not move; a contact pressing
//! into it deeper than a resting one wakes it.

use rustc_hash::FxHashMap;

use super::SoftBodies;

/// Contact radius of a particle, cells. Two radii (0.8) exceed the
/// half-diagonal of a unit face (0.707), so a corner cannot slip between
/// the four corners of another body's face.
pub const RADIUS: f32 = 0.4;

/// Overlap (cells) beyond that of a resting contact: a contact this deep
/// wakes a sleeping body.
const WAKE_DEPTH: f32 = 0.02;

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
    // Where each body overlaps the others: the union of its box's
    // intersections with theirs. Only particles in it can touch.
    type Aabb = ([f32; 3], [f32; 3]);
    let mut overlap: Vec<Option<Aabb>> = vec![None; boxes.len()];
    for (n, &i) in order.iter().enumerate() {
        for &j in &order[n + 1..] {
            if boxes[j].0[0] > boxes[i].1[0] {
                break;
            }
            if (0..3).all(|a| boxes[i].0[a] <= boxes[j].1[a] && boxes[j].0[a] <= boxes[i].1[a]) {
                let both = (
                    [0, 1, 2].map(|a| boxes[i].0[a].max(boxes[j].0[a]) - RADIUS),
                    [0, 1, 2].map(|a| boxes[i].1[a].min(boxes[j].1[a]) + RADIUS),
                );
                for k in [i, j] {
                    overlap[k] = Some(match overlap[k] {
                        None => both,
                        Some((lo, hi)) => (
                            [0, 1, 2].map(|a| lo[a].min(both.0[a])),
                            [0, 1, 2].map(|a| hi[a].max(both.1[a])),
                        ),
                    });
                }
            }
        }
    }
    let x = &b.x;
    let candidates: Vec<usize> = b
        .bodies
        .iter()
        .zip(&overlap)
        .filter_map(|(body, o)| o.map(|o| (body, o)))
        .flat_map(|(body, (lo, hi))| {
            (body.particles.0..body.particles.1)
                .filter(move |&p| (0..3).all(|a| x[p][a] >= lo[a] && x[p][a] <= hi[a]))
        })
        .collect();
    if candidates.is_empty() {
        return Vec::new();
    }
    let key = |x: [f32; 3]| x.map(|v| (v / size).floor() as i32);
    let mut grid: FxHashMap<[i32; 3], Vec<u32>> = FxHashMap::default();
    for &p in &candidates {
        grid.entry(key(b.x[p])).or_default().push(p as u32);
    }
    let body_of = |p: usize| b.bodies.partition_point(|body| body.particles.1 <= p);
    let mut woken = Vec::new();
    // Jacobi: every pair's push is found from the positions before any
    // push, and a particle moves by the mean of its pushes. Particles that
    // coincide (the corners voxels share under `gram_schmidt`) see the same
    // pairs and so move together, instead of being split apart one pair at
    // a time and snapped back by their face constraints.
    let mut push: FxHashMap<u32, ([f32; 3], [f32; 3], u32)> = FxHashMap::default();
    for &i in &candidates {
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
                        if len >= size || len < 1e-6 {
                            continue;
                        }
                        // A sleeping body is a wall until something
                        // presses into it deeper than a resting contact.
                        if size - len > WAKE_DEPTH {
                            for body in [bi, body_of(j)] {
                                if b.bodies[body].sleeping {
                                    woken.push(body);
                                }
                            }
                        }
                        let mobility = |p: usize| if b.asleep[p] { 0.0 } else { b.w[p] };
                        let (wi, wj) = (mobility(i), mobility(j));
                        if wi + wj == 0.0 {
                            continue;
                        }
                        // The overlap the pair already had at the start
                        // of the substep is moved out of `prev` too, so
                        // resolving it adds no velocity: resting contacts
                        // come to rest instead of bouncing on the spot.
                        let dp = [0, 1, 2].map(|a| b.prev[i][a] - b.prev[j][a]);
                        let plen = dp.iter().map(|v| v * v).sum::<f32>().sqrt();
                        let old = (size - plen).clamp(0.0, size - len);
                        let s = (size - len) / (wi + wj) / len;
                        let so = old / (wi + wj) / len;
                        for (p, sign, wp) in [(i, 1.0, wi), (j, -1.0, wj)] {
                            let e = push.entry(p as u32).or_insert(([0.0; 3], [0.0; 3], 0));
                            for (a, da) in d.iter().enumerate() {
                                e.0[a] += sign * wp * s * da;
                                e.1[a] += sign * wp * so * da;
                            }
                            e.2 += 1;
                        }
                    }
                }
            }
        }
    }
    for (p, (d, old, n)) in push {
        let p = p as usize;
        for a in 0..3 {
            b.x[p][a] += d[a] / n as f32;
            b.prev[p][a] += old[a] / n as f32;
        }
    }
    woken.sort_unstable();
    woken.dedup();
    woken
}
