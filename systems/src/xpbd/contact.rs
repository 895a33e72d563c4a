//! Contact between soft bodies, of two kinds:
//!
//! - **particle and particle**: particles of different bodies closer than
//!   two contact radii are pushed apart along the line between them;
//! - **particle and skin**: a particle closer than two contact radii to a
//!   face of another body's skin (a voxel face on its surface), over the
//!   face and not deeper than half an edge behind it, is pushed out along
//!   the face's normal, and the face's corners back, by their bilinear
//!   weights at the particle's foot.
//!
//! An intact Gram-Schmidt body presses on skins with its skin joints, not
//! its particles: a joint is the mean of the voxel corners that meet at a
//! lattice point of its surface (4 on a face, 2 on an edge, 1 at a
//! corner), and its push is shared by them alike. Pressing with each
//! corner counted a point of a flat face four times and one at its edge
//! once or twice, and with the contact scaling below a body standing off
//! the centre of a shared-corner body's face was held up unevenly: every
//! stack of a Gram-Schmidt body, a shared-corner body and a third tilted
//! and toppled. A torn body presses with its particles again, since the
//! corners at a joint may then be apart.
//!
//! Particles alone leave holes: a particle at the centre of another body's
//! voxel is 0.87 edges from all 8 corners, more than two radii, so a body
//! pressed onto another nests its particles in the hollows between the
//! other's and, under a third body's weight, sinks through them one layer
//! at a time. A skin has no holes, and pushes along its normal have no
//! sideways part to slide a body into the hollows.
//!
//! Each contact is a constraint `C = 2·RADIUS − distance ≤ 0`, found once a
//! substep and solved in [`ITERATIONS`] Jacobi passes (weighted by inverse
//! mass), with Coulomb friction stopping the slide along it up to the
//! friction coefficient times its depth; after the velocities are updated,
//! as many passes take the velocity along each contact's normal away:
//! contacts are inelastic, so a resting stack does not bounce on its own
//! pushes.
//!
//! Broad phase: bodies' bounding boxes (grown by a radius) are swept along
//! x for overlapping pairs. Narrow phase, per pair: only the particles
//! (and skin faces) inside the two boxes' intersection can touch. Small
//! pairs (two blades of grass) are compared all against all; large ones go
//! through a hash grid of cells one contact diameter wide.
//!
//! Jacobi: every contact is found from the positions before any push, and
//! each contact's pushes are scaled by one over the most contacts any of
//! its particles is in, alike on both sides, so that momentum is kept and
//! a particle in many contacts is not pushed many times over. Sums are
//! taken in a fixed order (bodies in index order, then their particles in
//! index order), so the result depends neither on the thread count nor on
//! the narrow phase. A sleeping body does not move; a contact pressing into
//! it deeper than a resting one wakes it.

use rustc_hash::FxHashMap;

use super::solve::{cross, dot, sub};
use super::SoftBodies;

/// Contact radius of a particle, cells: bodies rest two radii (0.8) apart.
pub const RADIUS: f32 = 0.4;

/// Overlap (cells) beyond the deepest a sleeping body rested under: a
/// contact this much deeper wakes it.
pub const WAKE_DEPTH: f32 = 0.02;

/// Jacobi passes over a substep's contacts, for positions and for
/// velocities: one pass resolves what a particle in many contacts shares
/// out only in part (see `Contacts::apply`).
pub const ITERATIONS: usize = 4;

/// How far behind a skin face a particle still counts as touching it, in
/// edges of the face: deeper, it is taken to be reaching the body from
/// another side.
pub const BEHIND: f32 = 0.5;

/// Bilinear coordinates within this of a skin face's edge are on it.
pub const EDGE: f32 = 1e-3;

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

/// The contacts of a substep: each a normal, the particles it moves with
/// their weights along it (+1 for the particle pushed, −1 or the bilinear
/// weights for what it is pushed off), how deep it is and how far the
/// particles slid along it. Kept from the position pass for the velocity
/// pass.
#[derive(Debug, Default)]
pub(crate) struct Contacts {
    contacts: Vec<Contact>,
    /// Per contact, its particles and their weights, in order.
    parts: Vec<(u32, f32)>,
    /// Per contact, one over the most contacts any of its particles is in.
    scale: Vec<f32>,
    /// The particles in any contact, ascending.
    touched: Vec<u32>,
    /// Per part, its particle's index in `touched`.
    slot: Vec<u32>,
}

#[derive(Debug)]
struct Contact {
    /// Unit normal, out of what the particle is pushed off.
    n: [f32; 3],
    /// The longest slide friction stops, cells.
    grip: f32,
    /// Its parts end here in `Contacts::parts`.
    end: usize,
}

impl Contacts {
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.contacts.is_empty()
    }

    /// The parts of contact `c`.
    fn parts(&self, c: usize) -> &[(u32, f32)] {
        let start = if c == 0 { 0 } else { self.contacts[c - 1].end };
        &self.parts[start..self.contacts[c].end]
    }

    /// Adds a contact between `pressing` and `under` (particles and
    /// weights) along `n`, `depth` deep. Which contacts there are depends
    /// on the positions alone (not on which bodies sleep), so that another
    /// backend finding them afresh in each pass finds the same ones.
    fn add(
        &mut self,
        b: &SoftBodies,
        pressing: &[(usize, f32)],
        under: &[(usize, f32)],
        n: [f32; 3],
        depth: f32,
    ) {
        // Coulomb friction: the contact holds against a slide up to the
        // friction coefficient times how deep it is pressed.
        let grip = (b.friction[pressing[0].0] * b.friction[under[0].0]).sqrt() * depth;
        self.parts
            .extend(pressing.iter().map(|&(i, k)| (i as u32, k)));
        self.parts.extend(
            under
                .iter()
                .filter(|&&(_, k)| k != 0.0)
                .map(|&(i, k)| (i as u32, -k)),
        );
        self.contacts.push(Contact {
            n,
            grip,
            end: self.parts.len(),
        });
    }

    /// Each contact's `target` minus the distance of its particles along
    /// its normal, by their weights: the overlap at positions `x`, or at
    /// velocities `x` and `target` 0, minus the velocity along the normal.
    fn measure(&self, x: &[[f32; 3]], target: f32) -> Vec<f32> {
        (0..self.contacts.len())
            .map(|c| {
                let n = self.contacts[c].n;
                let along: f32 = self
                    .parts(c)
                    .iter()
                    .map(|&(i, k)| k * (0..3).map(|a| x[i as usize][a] * n[a]).sum::<f32>())
                    .sum();
                target - along
            })
            .collect()
    }

    /// Each contact's slide since the substep began (from `prev` to `x`)
    /// along its plane, as much of it as friction stops: all of it up to
    /// its grip, that much of a longer one.
    fn slides(&self, x: &[[f32; 3]], prev: &[[f32; 3]]) -> Vec<[f32; 3]> {
        (0..self.contacts.len())
            .map(|c| {
                let Contact { n, grip, .. } = self.contacts[c];
                let mut r = [0.0f32; 3];
                for &(i, k) in self.parts(c) {
                    let i = i as usize;
                    for a in 0..3 {
                        r[a] += k * (x[i][a] - prev[i][a]);
                    }
                }
                let along = r[0] * n[0] + r[1] * n[1] + r[2] * n[2];
                let slide = [0, 1, 2].map(|a| r[a] - along * n[a]);
                let length =
                    (slide[0] * slide[0] + slide[1] * slide[1] + slide[2] * slide[2]).sqrt();
                if length <= grip {
                    slide
                } else {
                    slide.map(|v| v * grip / length)
                }
            })
            .collect()
    }

    /// Finds each contact's scale (see the module docs).
    fn count(&mut self) {
        self.touched = self.parts.iter().map(|&(p, _)| p).collect();
        self.touched.sort_unstable();
        self.touched.dedup();
        let mut count = vec![0u32; self.touched.len()];
        self.slot = self
            .parts
            .iter()
            .map(|(p, _)| {
                let slot = self
                    .touched
                    .binary_search(p)
                    .expect("every part's particle") as u32;
                count[slot as usize] += 1;
                slot
            })
            .collect();
        let slot = &self.slot;
        let mut start = 0;
        self.scale = self
            .contacts
            .iter()
            .map(|contact| {
                let most = slot[start..contact.end]
                    .iter()
                    .map(|&k| count[k as usize])
                    .max()
                    .unwrap_or(1);
                start = contact.end;
                1.0 / most as f32
            })
            .collect();
    }

    /// Moves the particles of every contact by `along(contact, weight sum)`
    /// times their mobility and weight, summed contact by contact and
    /// applied in particle order.
    fn apply(
        &self,
        b: &SoftBodies,
        target: &mut [[f32; 3]],
        along: impl Fn(&Contact, usize) -> [f32; 3],
    ) {
        let mobility = |i: usize| if b.asleep[i] { 0.0 } else { b.w[i] };
        // Summed per particle in contact order, applied in particle order.
        let mut sum = vec![[0.0f32; 3]; self.touched.len()];
        let mut start = 0;
        for (c, contact) in self.contacts.iter().enumerate() {
            let (parts, slots) = (
                &self.parts[start..contact.end],
                &self.slot[start..contact.end],
            );
            start = contact.end;
            let mobile: f32 = parts
                .iter()
                .map(|&(i, k)| k * k * mobility(i as usize))
                .sum();
            if mobile == 0.0 {
                // Nothing in it can move: asleep, or pinned.
                continue;
            }
            let d = along(contact, c);
            let scale = self.scale[c] / mobile;
            for (&(i, k), &slot) in parts.iter().zip(slots) {
                let m = scale * k * mobility(i as usize);
                let e = &mut sum[slot as usize];
                for a in 0..3 {
                    e[a] += m * d[a];
                }
            }
        }
        for (&p, d) in self.touched.iter().zip(&sum) {
            for a in 0..3 {
                target[p as usize][a] += d[a];
            }
        }
    }
}

/// Finds the contacts between bodies and pushes them apart (see the module
/// docs); returns the contacts, for [`damp`], and the bodies a contact
/// woke.
pub(crate) fn contacts(b: &mut SoftBodies) -> (Contacts, Vec<usize>) {
    let mut found = Contacts::default();
    if b.bodies.len() < 2 || b.bodies.iter().all(|body| body.sleeping) {
        return (found, Vec::new());
    }
    let boxes = boxes(b);
    let pairs = overlapping(b, &boxes);
    // Per contact: its bodies and depth.
    let mut felt: Vec<(usize, usize, f32)> = Vec::new();
    let (mut left, mut right) = (Vec::new(), Vec::new());
    for &(bi, bj, (lo, hi)) in &pairs {
        let inside = |p: &usize| (0..3).all(|a| b.x[*p][a] >= lo[a] && b.x[*p][a] <= hi[a]);
        left.clear();
        right.clear();
        left.extend((b.bodies[bi].particles.0..b.bodies[bi].particles.1).filter(inside));
        right.extend((b.bodies[bj].particles.0..b.bodies[bj].particles.1).filter(inside));
        let mut touch = |i: usize, j: usize| {
            if let Some(depth) = separate(b, i, j, &mut found) {
                felt.push((bi, bj, depth));
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
                // contacts are found in one order, whichever way they were
                // found (and a GPU gathering them in that order agrees).
                near.sort_unstable();
                for &j in &near {
                    touch(i, j as usize);
                }
            }
        }
        // What of each body is in the box against the other's skin.
        let mut parts = Vec::new();
        for (mine, other, particles) in [(bi, bj, &left), (bj, bi, &right)] {
            let pressing = pressing_points(b, mine, particles, (lo, hi));
            let (skin_lo, skin_hi) = b.bodies[other].skin;
            for q in skin_lo..skin_hi {
                let corners = b.skin[q].map(|c| b.x[c as usize]);
                let near = (0..3).all(|a| {
                    let (l, h) = corners
                        .iter()
                        .fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), c| {
                            (l.min(c[a]), h.max(c[a]))
                        });
                    l - 2.0 * RADIUS <= hi[a] && lo[a] <= h + 2.0 * RADIUS
                });
                if !near {
                    continue;
                }
                let Some(face) = Face::of(&corners) else {
                    continue;
                };
                for &(at, point) in &pressing {
                    if let Some(depth) =
                        press_on_skin(b, (at, point), &mut parts, q, &face, &mut found)
                    {
                        felt.push((mine, other, depth));
                    }
                }
            }
        }
    }
    found.count();
    for _ in 0..ITERATIONS {
        // The overlap and the slide left after the passes before.
        let depth = found.measure(&b.x, 2.0 * RADIUS);
        let slide = found.slides(&b.x, &b.prev);
        let mut x = std::mem::take(&mut b.x);
        found.apply(b, &mut x, |c, k| {
            let push = depth[k].max(0.0);
            [0, 1, 2].map(|a| push * c.n[a] - slide[k][a])
        });
        b.x = x;
    }
    // A sleeping body wakes when pressed deeper than it was pressed while
    // it came to rest (a body's weight on the one under it keeps a small
    // overlap); an awake body remembers how deep it is pressed.
    let mut woken = Vec::new();
    for (bi, bj, depth) in felt {
        for k in [bi, bj] {
            let body = &mut b.bodies[k];
            if !body.sleeping {
                body.resting_depth = body.resting_depth.max(depth);
            } else if depth > body.resting_depth + WAKE_DEPTH {
                woken.push(k);
            }
        }
    }
    woken.sort_unstable();
    woken.dedup();
    (found, woken)
}

/// After the velocities are updated: takes away the velocity along each
/// contact's normal (inelastic contacts).
pub(crate) fn damp(b: &mut SoftBodies, found: &Contacts) {
    if found.is_empty() {
        return;
    }
    for _ in 0..ITERATIONS {
        let gap = found.measure(&b.v, 0.0);
        let mut v = std::mem::take(&mut b.v);
        found.apply(b, &mut v, |c, k| c.n.map(|n| gap[k] * n));
        b.v = v;
    }
}

/// Whether particles `i` and `j` of different bodies touch; if they do, the
/// contact is added to `found` and its depth returned.
fn separate(b: &SoftBodies, i: usize, j: usize, found: &mut Contacts) -> Option<f32> {
    let size = 2.0 * RADIUS;
    let d = [0, 1, 2].map(|a| b.x[i][a] - b.x[j][a]);
    let len = d.iter().map(|v| v * v).sum::<f32>().sqrt();
    if len >= size || len < 1e-6 {
        return None;
    }
    found.add(b, &[(i, 1.0)], &[(j, 1.0)], d.map(|v| v / len), size - len);
    Some(size - len)
}

/// What presses on another body's skin: a particle, or a skin joint of an
/// intact Gram-Schmidt body (see the module docs).
#[derive(Clone, Copy)]
enum Presser {
    Particle(usize),
    Joint(usize),
}

impl Presser {
    /// Its particles and their weights (a joint's corners share it alike),
    /// into `parts`.
    fn parts(self, b: &SoftBodies, parts: &mut Vec<(usize, f32)>) {
        parts.clear();
        match self {
            Presser::Particle(p) => parts.push((p, 1.0)),
            Presser::Joint(j) => {
                let members = b.joints.members(j);
                let w = 1.0 / members.len() as f32;
                parts.extend(members.iter().map(|&m| (m as usize, w)));
            }
        }
    }
}

/// Where body `k` presses on other bodies' skins inside the box `(lo, hi)`
/// (`particles`: its particles in the box): each point and what presses
/// there, in index order. A Gram-Schmidt body presses with the means of
/// its skin joints, until it tears: its skin no longer bounds it then, and
/// the corners at a joint may be apart.
fn pressing_points(
    b: &SoftBodies,
    k: usize,
    particles: &[usize],
    (lo, hi): Aabb,
) -> Vec<([f32; 3], Presser)> {
    let body = &b.bodies[k];
    let (j0, j1) = body.joints;
    if j0 == j1 || b.faces.broken[body.faces.0..body.faces.1].contains(&true) {
        return particles
            .iter()
            .map(|&p| (b.x[p], Presser::Particle(p)))
            .collect();
    }
    (j0..j1)
        .filter_map(|j| {
            let members = b.joints.members(j);
            let w = 1.0 / members.len() as f32;
            let mut at = [0.0f32; 3];
            for &m in members {
                for (at, x) in at.iter_mut().zip(b.x[m as usize]) {
                    *at += w * x;
                }
            }
            (0..3)
                .all(|a| at[a] >= lo[a] && at[a] <= hi[a])
                .then_some((at, Presser::Joint(j)))
        })
        .collect()
}

/// Whether `point`, pressing at `at`, touches skin face `q` (`face`) of
/// another body; if it does, the contact is added to `found` (its
/// particles gathered in `parts`) and its depth returned.
fn press_on_skin(
    b: &SoftBodies,
    (at, point): ([f32; 3], Presser),
    parts: &mut Vec<(usize, f32)>,
    q: usize,
    face: &Face,
    found: &mut Contacts,
) -> Option<f32> {
    let size = 2.0 * RADIUS;
    let foot = face.foot(at, size)?;
    let beta = foot.weights();
    let quad = b.skin[q];
    let under: [(usize, f32); 4] = std::array::from_fn(|k| (quad[k] as usize, beta[k]));
    point.parts(b, parts);
    found.add(b, parts, &under, face.n, size - foot.height);
    Some(size - foot.height)
}

/// A skin face's frame, found once for every particle tested against it.
struct Face {
    centre: [f32; 3],
    /// Unit outward normal.
    n: [f32; 3],
    /// From side 0-3 to side 1-2, and from side 0-1 to side 3-2, and their
    /// squared lengths.
    e1: [f32; 3],
    e2: [f32; 3],
    l1: f32,
    l2: f32,
    /// Length of its first side.
    edge: f32,
}

impl Face {
    /// The face with corners `c` (cyclic order); `None` for a face
    /// collapsed to a line or a point.
    fn of(c: &[[f32; 3]; 4]) -> Option<Face> {
        let centre = [0, 1, 2].map(|k| (c[0][k] + c[1][k] + c[2][k] + c[3][k]) / 4.0);
        // The diagonals' cross product: the normal of a bent face too.
        let n = cross(sub(c[2], c[0]), sub(c[3], c[1]));
        let len = dot(n, n).sqrt();
        let e1 = [0, 1, 2].map(|k| (c[1][k] + c[2][k] - c[0][k] - c[3][k]) / 2.0);
        let e2 = [0, 1, 2].map(|k| (c[2][k] + c[3][k] - c[0][k] - c[1][k]) / 2.0);
        let (l1, l2) = (dot(e1, e1), dot(e2, e2));
        if len < 1e-6 || l1 < 1e-6 || l2 < 1e-6 {
            return None;
        }
        let side = sub(c[1], c[0]);
        Some(Face {
            centre,
            n: n.map(|v| v / len),
            e1,
            e2,
            l1,
            l2,
            edge: dot(side, side).sqrt(),
        })
    }

    /// The foot of `x` on the face, if it is over the face, less than
    /// `size` in front of it and not deeper behind it than `BEHIND` of an
    /// edge.
    fn foot(&self, x: [f32; 3], size: f32) -> Option<Foot> {
        let r = sub(x, self.centre);
        let height = dot(r, self.n);
        if height >= size || height < -BEHIND * self.edge {
            return None;
        }
        // Snapped to the face's edges within a hair, so that a particle
        // over a corner or an edge (as between stacked lattices) is over
        // every face there, whatever the rounding.
        let snap = |t: f32| {
            if t.abs() <= EDGE {
                0.0
            } else if (t - 1.0).abs() <= EDGE {
                1.0
            } else {
                t
            }
        };
        let u = snap(dot(r, self.e1) / self.l1 + 0.5);
        let v = snap(dot(r, self.e2) / self.l2 + 0.5);
        let over = (0.0..=1.0).contains(&u) && (0.0..=1.0).contains(&v);
        over.then_some(Foot { height, u, v })
    }
}

/// Where a particle is over a skin face: its height along the face's
/// outward normal from the face's centre, and its bilinear coordinates
/// `(u, v)` across the face, in `[0, 1]` over it.
struct Foot {
    height: f32,
    u: f32,
    v: f32,
}

impl Foot {
    /// The corners' bilinear weights at the foot.
    fn weights(&self) -> [f32; 4] {
        let (u, v) = (self.u, self.v);
        [(1.0 - u) * (1.0 - v), u * (1.0 - v), u * v, (1.0 - u) * v]
    }
}
