//! Contact between soft bodies: particles of different bodies closer than
//! two contact radii are pushed apart, weighted by inverse mass.
//!
//! Broad phase: bodies' bounding boxes (grown by a radius) are swept along
//! x for overlapping pairs. Narrow phase, per pair: only the particles
//! inside the two boxes' intersection can touch. Small pairs (two blades
//! of grass) are compared all against all; large ones go through a hash
//! grid of cells one contact diameter wide.
//!
//! Pushes are averaged per particle (Jacobi) and summed in a fixed order
//! (bodies in index order, then their particles in index order), so the
//! result depends neither on the thread count nor on the narrow phase. A
//! sleeping body does not move; a contact pressing into it deeper than a
//! resting one wakes it.

use rustc_hash::FxHashMap;

use super::SoftBodies;

/// Contact radius of a particle, cells. Two radii (0.8) exceed the
/// half-diagonal of a unit face (0.707), so a corner cannot slip between
/// the four corners of another body's face.
pub const RADIUS: f32 = 0.4;

/// Overlap (cells) beyond that of a resting contact: a contact this deep
/// wakes a sleeping body.
pub const WAKE_DEPTH: f32 = 0.02;

/// Pairs with at most this many particle pairs in their overlap are
/// compared all against all; beyond, through a hash grid.
const BRUTE_FORCE: usize = 4096;

type Aabb = ([f32; 3], [f32; 3]);

/// Each body's bounding box, grown by a contact radius.
fn boxes(b: &SoftBodies) -> Vec<Aabb> {
    b.bodies
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
        .collect()
}

/// Pairs of bodies (lower index first, sorted) whose boxes overlap and
/// that are not both asleep, with the overlap grown by a radius.
fn overlapping(b: &SoftBodies, boxes: &[Aabb]) -> Vec<(usize, usize, Aabb)> {
    let mut order: Vec<usize> = (0..boxes.len()).collect();
    order.sort_by(|&i, &j| boxes[i].0[0].total_cmp(&boxes[j].0[0]).then(i.cmp(&j)));
    let mut pairs = Vec::new();
    for (n, &i) in order.iter().enumerate() {
        for &j in &order[n + 1..] {
            if boxes[j].0[0] > boxes[i].1[0] {
                break;
            }
            let (bi, bj) = (boxes[i], boxes[j]);
            if (0..3).all(|a| bi.0[a] <= bj.1[a] && bj.0[a] <= bi.1[a])
                && !(b.bodies[i].sleeping && b.bodies[j].sleeping)
            {
                let both = (
                    [0, 1, 2].map(|a| bi.0[a].max(bj.0[a]) - RADIUS),
                    [0, 1, 2].map(|a| bi.1[a].min(bj.1[a]) + RADIUS),
                );
                pairs.push((i.min(j), i.max(j), both));
            }
        }
    }
    pairs.sort_by_key(|&(i, j, _)| (i, j));
    pairs
}

/// What the pushes on one particle add up to this substep.
#[derive(Default)]
struct Push {
    /// Sum of its pushes, cells.
    x: [f32; 3],
    /// Sum of the parts that undo overlap it already had, cells.
    prev: [f32; 3],
    /// Number of pushes.
    count: u32,
}

/// Separates particles of different bodies; returns the bodies a contact
/// woke.
pub(crate) fn contacts(b: &mut SoftBodies) -> Vec<usize> {
    if b.bodies.len() < 2 || b.bodies.iter().all(|body| body.sleeping) {
        return Vec::new();
    }
    let boxes = boxes(b);
    let pairs = overlapping(b, &boxes);
    if pairs.is_empty() {
        return Vec::new();
    }
    // Jacobi: every pair's push is found from the positions before any
    // push, and a particle moves by the mean of its pushes. Particles that
    // coincide (the corners voxels share under `gram_schmidt`) see the same
    // pairs and so move together, instead of being split apart one pair at
    // a time and snapped back by their face constraints.
    let mut push: FxHashMap<u32, Push> = FxHashMap::default();
    let mut woken = Vec::new();
    let (mut left, mut right) = (Vec::new(), Vec::new());
    for (bi, bj, (lo, hi)) in pairs {
        let inside = |p: &usize| (0..3).all(|a| b.x[*p][a] >= lo[a] && b.x[*p][a] <= hi[a]);
        left.clear();
        right.clear();
        left.extend((b.bodies[bi].particles.0..b.bodies[bi].particles.1).filter(inside));
        right.extend((b.bodies[bj].particles.0..b.bodies[bj].particles.1).filter(inside));
        let mut touch = |i: usize, j: usize| {
            if let Some(deep) = separate(b, i, j, &mut push) {
                if deep {
                    woken.extend([bi, bj].into_iter().filter(|&k| b.bodies[k].sleeping));
                }
            }
        };
        if left.len() * right.len() <= BRUTE_FORCE {
            // Most pairs are far apart: their squared distance rules them
            // out before the exact test (the margin leaves every pair the
            // test could take to it).
            let far = (2.0 * RADIUS) * (2.0 * RADIUS) * (1.0 + 1e-5);
            for &i in &left {
                for &j in &right {
                    let d2: f32 = (0..3).map(|a| (b.x[i][a] - b.x[j][a]).powi(2)).sum();
                    if d2 <= far {
                        touch(i, j);
                    }
                }
            }
        } else {
            let size = 2.0 * RADIUS;
            let key = |x: [f32; 3]| x.map(|v| (v / size).floor() as i32);
            let mut grid: FxHashMap<[i32; 3], Vec<u32>> = FxHashMap::default();
            for &j in &right {
                grid.entry(key(b.x[j])).or_default().push(j as u32);
            }
            let mut near: Vec<u32> = Vec::new();
            for &i in &left {
                let k = key(b.x[i]);
                near.clear();
                for dz in -1..=1 {
                    for dy in -1..=1 {
                        for dx in -1..=1 {
                            near.extend(
                                grid.get(&[k[0] + dx, k[1] + dy, k[2] + dz])
                                    .into_iter()
                                    .flatten(),
                            );
                        }
                    }
                }
                // In index order, as all against all: every particle's
                // pushes are summed in one order, whichever way they were
                // found (and a GPU gathering them in that order agrees).
                near.sort_unstable();
                for &j in &near {
                    touch(i, j as usize);
                }
            }
        }
    }
    let mut moved: Vec<(u32, Push)> = push.into_iter().collect();
    moved.sort_unstable_by_key(|(p, _)| *p);
    for (p, d) in moved {
        let (p, n) = (p as usize, d.count as f32);
        for a in 0..3 {
            b.x[p][a] += d.x[a] / n;
            b.prev[p][a] += d.prev[a] / n;
        }
    }
    woken.sort_unstable();
    woken.dedup();
    woken
}

/// The push between particles `i` and `j` of different bodies, added to
/// `push`; `None` if they do not touch, else whether the contact is deeper
/// than a resting one.
fn separate(b: &SoftBodies, i: usize, j: usize, push: &mut FxHashMap<u32, Push>) -> Option<bool> {
    let size = 2.0 * RADIUS;
    let d = [0, 1, 2].map(|a| b.x[i][a] - b.x[j][a]);
    let len = d.iter().map(|v| v * v).sum::<f32>().sqrt();
    if len >= size || len < 1e-6 {
        return None;
    }
    let deep = size - len > WAKE_DEPTH;
    // A sleeping body is a wall until something presses into it deeper
    // than a resting contact.
    let mobility = |p: usize| if b.asleep[p] { 0.0 } else { b.w[p] };
    let (wi, wj) = (mobility(i), mobility(j));
    if wi + wj == 0.0 {
        return Some(deep);
    }
    // The overlap the pair already had at the start of the substep is
    // moved out of `prev` too, so resolving it adds no velocity: resting
    // contacts come to rest instead of bouncing on the spot.
    let dp = [0, 1, 2].map(|a| b.prev[i][a] - b.prev[j][a]);
    let plen = dp.iter().map(|v| v * v).sum::<f32>().sqrt();
    let old = (size - plen).clamp(0.0, size - len);
    let s = (size - len) / (wi + wj) / len;
    let so = old / (wi + wj) / len;
    for (p, sign, wp) in [(i, 1.0, wi), (j, -1.0, wj)] {
        let e = push.entry(p as u32).or_default();
        for (a, da) in d.iter().enumerate() {
            e.x[a] += sign * wp * s * da;
            e.prev[a] += sign * wp * so * da;
        }
        e.count += 1;
    }
    Some(deep)
}
