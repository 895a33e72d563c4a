//! Turning a [`SoftBox`] into particles and constraints.
//!
//! Two ways to give a voxel its corners:
//! - **shared** (the `distance` and `volume` solvers): neighbouring voxels
//!   share corner particles, so the body cannot come apart; edges and face
//!   diagonals are distance constraints, and with `volume` each voxel also
//!   keeps its volume;
//! - **own** (the `gram_schmidt` solver): every voxel has 8 corner
//!   particles of its own, kept in the shape of a cube by a Gram-Schmidt
//!   shape constraint, and joined to each face neighbour by a face
//!   constraint that pulls the 4 coincident corner pairs together and tears
//!   when they are pulled too far apart.

use super::{solve, Faces, SoftBodies, SoftBox, Solver};

/// Corner `c` (0..8, x fastest, then y, then z) of the voxel at `v`.
pub(crate) fn corner(v: [usize; 3], c: usize) -> [usize; 3] {
    [v[0] + (c & 1), v[1] + ((c >> 1) & 1), v[2] + ((c >> 2) & 1)]
}

/// A voxel's 12 edges and 12 face diagonals, as corner pairs.
const PAIRS: [(usize, usize); 24] = [
    (0, 1),
    (2, 3),
    (4, 5),
    (6, 7),
    (0, 2),
    (1, 3),
    (4, 6),
    (5, 7),
    (0, 4),
    (1, 5),
    (2, 6),
    (3, 7),
    (0, 3),
    (1, 2),
    (4, 7),
    (5, 6),
    (0, 5),
    (1, 4),
    (2, 7),
    (3, 6),
    (0, 6),
    (2, 4),
    (1, 7),
    (3, 5),
];

/// The 4 corners (0..8, as for [`corner`]) of a voxel's face across
/// `axis` on `side` (0 low, 1 high), in cyclic order, wound so that the
/// face's normal (see `contact::face_normal`) points out of the voxel.
fn face_corners(axis: usize, side: usize) -> [usize; 4] {
    let (u, v) = (1 << ((axis + 1) % 3), 1 << ((axis + 2) % 3));
    let base = side << axis;
    // Around the face: (0, 0), (1, 0), (1, 1), (0, 1) in (u, v) turns
    // about +axis; the low face goes the other way round.
    let order = if side == 1 {
        [0, u, u | v, v]
    } else {
        [0, v, u | v, u]
    };
    order.map(|c| base | c)
}

/// The faces of `cells` that no other of them covers: the body's skin, as
/// (voxel, axis, side).
fn skin_faces(cells: &[[usize; 3]]) -> Vec<([usize; 3], usize, usize)> {
    let kept: rustc_hash::FxHashSet<[usize; 3]> = cells.iter().copied().collect();
    let mut faces = Vec::new();
    for &v in cells {
        for axis in 0..3 {
            for side in 0..2 {
                let mut n = v;
                let covered = if side == 1 {
                    n[axis] += 1;
                    kept.contains(&n)
                } else {
                    n[axis] > 0 && {
                        n[axis] -= 1;
                        kept.contains(&n)
                    }
                };
                if !covered {
                    faces.push((v, axis, side));
                }
            }
        }
    }
    faces
}

impl SoftBox {
    /// The soft voxels it keeps (grid coordinates, x fastest): all of the
    /// box, or those whose centre lies in the sphere inscribed in it.
    pub(crate) fn cells(&self) -> Vec<[usize; 3]> {
        let [nx, ny, nz] = self.voxels.map(|v| v as usize);
        let r = self.voxels.iter().copied().min().unwrap_or(0) as f32 / 2.0;
        let kept = |c: [usize; 3]| {
            !self.sphere
                || c.iter()
                    .zip(self.voxels)
                    .map(|(&v, n)| (v as f32 + 0.5 - n as f32 / 2.0).powi(2))
                    .sum::<f32>()
                    <= r * r
        };
        (0..nz)
            .flat_map(|k| (0..ny).flat_map(move |j| (0..nx).map(move |i| [i, j, k])))
            .filter(|&c| kept(c))
            .collect()
    }

    /// Position of grid corner `c`, cells.
    fn position(&self, c: [usize; 3]) -> [f32; 3] {
        [0, 1, 2].map(|a| self.origin[a] + c[a] as f32 * self.voxel)
    }
}

impl SoftBodies {
    /// Appends a particle of mass `mass` kg at `x`; pinned particles (or
    /// massless ones) do not move.
    fn push_particle(&mut self, body: &SoftBox, x: [f32; 3], mass: f32, pinned: bool) {
        let m = body.material;
        self.x.push(x);
        self.prev.push(x);
        self.v.push(body.velocity);
        self.w.push(if mass > 0.0 && !pinned {
            1.0 / mass
        } else {
            0.0
        });
        self.friction.push(m.friction);
        self.drag.push(m.drag);
        self.asleep.push(false);
        self.wind.push([0.0; 3]);
        self.buoyancy.push(0.0);
        self.pressed.push([0.0; 3]);
        self.free.push(super::collide::NO_CELL);
        self.owner.push(self.bodies.len() as u32);
    }

    /// Particles and constraints of `body` with corners shared between
    /// neighbouring voxels.
    pub(crate) fn build_shared(&mut self, body: &SoftBox, cells: &[[usize; 3]], voxel_mass: f32) {
        let [nx, ny, nz] = body.voxels.map(|v| v as usize);
        let (px, py) = (nx + 1, ny + 1);
        let grid = |c: [usize; 3]| c[0] + px * (c[1] + py * c[2]);
        // Each voxel's mass goes in eighths to its corners.
        let mut mass = vec![0.0f32; px * py * (nz + 1)];
        for &v in cells {
            for c in 0..8 {
                mass[grid(corner(v, c))] += voxel_mass / 8.0;
            }
        }
        let mut id = vec![u32::MAX; mass.len()];
        for (g, &m) in mass.iter().enumerate() {
            if m > 0.0 {
                id[g] = self.x.len() as u32;
                let c = [g % px, (g / px) % py, g / (px * py)];
                self.push_particle(body, body.position(c), m, body.rooted && c[1] == 0);
            }
        }
        let mut links: Vec<(u32, u32)> = cells
            .iter()
            .flat_map(|&v| {
                PAIRS.map(|(a, b)| {
                    let (pa, pb) = (id[grid(corner(v, a))], id[grid(corner(v, b))]);
                    (pa.min(pb), pa.max(pb))
                })
            })
            .collect();
        links.sort_unstable();
        links.dedup();
        for (a, b) in links {
            let (pa, pb) = (self.x[a as usize], self.x[b as usize]);
            let d = (0..3).map(|k| (pa[k] - pb[k]).powi(2)).sum::<f32>().sqrt();
            self.distances.a.push(a);
            self.distances.b.push(b);
            self.distances.rest.push(d);
            self.distances.compliance.push(body.material.compliance);
        }
        for &v in cells {
            let corners: [u32; 8] = std::array::from_fn(|c| id[grid(corner(v, c))]);
            let rest = solve::hex_volume(&self.x, &corners);
            if body.solver == Solver::Volume {
                self.volumes.corners.push(corners);
                self.volumes.rest.push(rest);
                self.volumes
                    .compliance
                    .push(body.material.volume_compliance);
            } else {
                // No constraint: kept only to measure the body's volume.
                self.hulls.push((corners, rest));
            }
        }
        for (v, axis, side) in skin_faces(cells) {
            self.skin
                .push(face_corners(axis, side).map(|c| id[grid(corner(v, c))]));
        }
        // Its corners are already one per lattice point: no joints.
        self.joints.of_skin.resize(self.skin.len(), [u32::MAX; 4]);
    }

    /// Particles and constraints of `body` with 8 corners of its own per
    /// voxel: a shape constraint per voxel, a face constraint per pair of
    /// face neighbours.
    pub(crate) fn build_own(&mut self, body: &SoftBox, cells: &[[usize; 3]], voxel_mass: f32) {
        let m = body.material;
        // Index of each kept voxel's shape constraint, by grid position.
        let mut shape_of = rustc_hash::FxHashMap::default();
        for &v in cells {
            let first = self.x.len() as u32;
            for c in 0..8 {
                let g = corner(v, c);
                let pinned = body.rooted && g[1] == 0;
                self.push_particle(body, body.position(g), voxel_mass / 8.0, pinned);
            }
            shape_of.insert(v, self.shapes.first.len());
            self.shapes.first.push(first);
            self.shapes.edge.push(body.voxel);
            self.shapes.compliance.push(m.shape_compliance);
        }
        let faces: &mut Faces = &mut self.faces;
        for &v in cells {
            let low = shape_of[&v];
            for axis in 0..3 {
                let mut n = v;
                n[axis] += 1;
                if n[axis] == body.voxels[axis] as usize {
                    continue;
                }
                let Some(&high) = shape_of.get(&n) else {
                    continue;
                };
                // The low voxel's corners on its +axis face meet the high
                // voxel's corners on its −axis face.
                let bit = 1 << axis;
                let on_face: Vec<usize> = (0..8).filter(|c| c & bit == 0).collect();
                let (a, b) = (self.shapes.corners(low), self.shapes.corners(high));
                faces.a.push(std::array::from_fn(|k| a[on_face[k] | bit]));
                faces.b.push(std::array::from_fn(|k| b[on_face[k]]));
                faces.compliance.push(m.face_compliance);
                faces.tear.push(m.tear_strain * body.voxel);
                faces.broken.push(false);
            }
        }
        // The skin, and its joints: the corners at one lattice point of it.
        let base = self.joints.start.len() as u32;
        let mut joint_at = rustc_hash::FxHashMap::default();
        let mut members: Vec<Vec<u32>> = Vec::new();
        for (v, axis, side) in skin_faces(cells) {
            let first = self.shapes.first[shape_of[&v]];
            let corners = face_corners(axis, side);
            self.skin.push(corners.map(|c| first + c as u32));
            self.joints.of_skin.push(corners.map(|c| {
                let j = *joint_at.entry(corner(v, c)).or_insert_with(|| {
                    members.push(Vec::new());
                    members.len() - 1
                });
                base + j as u32
            }));
        }
        // Every voxel corner at a skin joint's lattice point, in voxel order.
        for &v in cells {
            let first = self.shapes.first[shape_of[&v]];
            for c in 0..8 {
                if let Some(&j) = joint_at.get(&corner(v, c)) {
                    members[j].push(first + c as u32);
                }
            }
        }
        for list in members {
            self.joints.start.push(self.joints.members.len() as u32);
            self.joints.members.extend(list);
        }
    }
}
