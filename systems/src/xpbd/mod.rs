//! XPBD soft bodies (first part of issue #5): voxelised bodies whose voxels
//! share their 8 corner particles, held together by distance constraints
//! (edges and face diagonals) and a volume constraint per voxel, solved in
//! small steps (many substeps, one iteration each) colour by colour, and
//! kept out of the world's solid cells.
//!
//! Data is SoA: positions, previous positions, velocities and inverse
//! masses per particle; per constraint type its own arrays. Constraints of
//! one colour share no particle, so a colour is solved in parallel without
//! races and the result does not depend on the thread count.
//!
//! Units: positions in cells, time in seconds.

mod collide;
mod solve;

use loam_storage::VoxelWorld;

use crate::materials::MaterialTable;

/// A soft material.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SoftMaterial {
    /// Name in scenarios and reports.
    pub name: &'static str,
    /// kg/m³.
    pub density: f32,
    /// XPBD compliance of the distance constraints (inverse stiffness).
    pub compliance: f32,
    /// XPBD compliance of the volume constraints.
    pub volume_compliance: f32,
    /// Velocity damping, per second.
    pub damping: f32,
    /// Coulomb friction against the world.
    pub friction: f32,
}

/// The built-in soft materials.
pub fn materials() -> [SoftMaterial; 3] {
    [
        SoftMaterial {
            name: "jelly",
            density: 1050.0,
            compliance: 1e-5,
            volume_compliance: 1e-6,
            damping: 0.5,
            friction: 0.4,
        },
        SoftMaterial {
            name: "rubber",
            density: 1100.0,
            compliance: 1e-6,
            volume_compliance: 1e-7,
            damping: 1.0,
            friction: 0.9,
        },
        SoftMaterial {
            name: "flesh",
            density: 1060.0,
            compliance: 3e-6,
            volume_compliance: 3e-7,
            damping: 2.0,
            friction: 0.6,
        },
    ]
}

/// A box-shaped soft body to add.
#[derive(Clone, Debug, PartialEq)]
pub struct SoftBox {
    /// Name in reports.
    pub name: String,
    /// Low corner, cells.
    pub origin: [f32; 3],
    /// Soft voxels along x, y, z.
    pub voxels: [u32; 3],
    /// Edge of a soft voxel, cells.
    pub voxel: f32,
    /// The material.
    pub material: SoftMaterial,
    /// Initial velocity, cells/s.
    pub velocity: [f32; 3],
}

/// One body: a range of particles and of each constraint type.
#[derive(Clone, Debug, PartialEq)]
pub struct Body {
    /// Name in reports.
    pub name: String,
    /// Its particles, `particles.0..particles.1`.
    pub particles: (usize, usize),
    /// Its volume constraints (one per voxel), `volumes.0..volumes.1`.
    pub volumes: (usize, usize),
    /// The material.
    pub material: SoftMaterial,
}

/// Distance constraints, SoA.
#[derive(Clone, Debug, Default)]
pub(crate) struct Distances {
    pub a: Vec<u32>,
    pub b: Vec<u32>,
    pub rest: Vec<f32>,
    pub compliance: Vec<f32>,
}

/// Volume constraints over a voxel's 8 corners, SoA.
#[derive(Clone, Debug, Default)]
pub(crate) struct Volumes {
    /// Corners in x-fastest order: (0,0,0), (1,0,0), (0,1,0), ... (1,1,1).
    pub corners: Vec<[u32; 8]>,
    pub rest: Vec<f32>,
    pub compliance: Vec<f32>,
}

/// All soft bodies of a world.
#[derive(Clone, Debug, Default)]
pub struct SoftBodies {
    /// Positions, cells.
    pub x: Vec<[f32; 3]>,
    /// Positions at the start of the substep.
    pub prev: Vec<[f32; 3]>,
    /// Velocities, cells/s.
    pub v: Vec<[f32; 3]>,
    /// Inverse masses, 1/kg.
    pub w: Vec<f32>,
    /// Per particle: damping and friction of its body's material.
    pub(crate) damping: Vec<f32>,
    pub(crate) friction: Vec<f32>,
    /// The bodies.
    pub bodies: Vec<Body>,
    pub(crate) distances: Distances,
    pub(crate) volumes: Volumes,
    /// Constraint indices by colour (no two in a colour share a particle).
    pub(crate) distance_colours: Vec<Vec<u32>>,
    pub(crate) volume_colours: Vec<Vec<u32>>,
}

impl SoftBodies {
    /// Adds a box-shaped body, in a world of `voxel_size_m`-metre cells
    /// (for its mass). Returns the body's index.
    pub fn add_box(&mut self, body: &SoftBox, voxel_size_m: f32) -> usize {
        let SoftBox {
            ref name,
            origin,
            voxels,
            voxel,
            material,
            velocity,
        } = *body;
        let [nx, ny, nz] = voxels.map(|v| v as usize);
        let (px, py) = (nx + 1, ny + 1);
        let first = self.x.len();
        let index = |i: usize, j: usize, k: usize| (first + i + px * (j + py * k)) as u32;
        let particles = (nx + 1) * (ny + 1) * (nz + 1);
        let mut mass = vec![0.0f32; particles];
        // Each voxel's mass goes in eighths to its corners.
        let voxel_mass = material.density * (voxel * voxel_size_m).powi(3);
        for k in 0..nz {
            for j in 0..ny {
                for i in 0..nx {
                    for c in 0..8 {
                        let p = index(i + (c & 1), j + ((c >> 1) & 1), k + ((c >> 2) & 1)) as usize;
                        mass[p - first] += voxel_mass / 8.0;
                    }
                }
            }
        }
        for k in 0..=nz {
            for j in 0..=ny {
                for i in 0..=nx {
                    let p = [i, j, k].map(|v| v as f32 * voxel);
                    let x = [0, 1, 2].map(|a| origin[a] + p[a]);
                    self.x.push(x);
                    self.prev.push(x);
                    self.v.push(velocity);
                    self.damping.push(material.damping);
                    self.friction.push(material.friction);
                }
            }
        }
        self.w
            .extend(mass.iter().map(|&m| if m > 0.0 { 1.0 / m } else { 0.0 }));
        // Edges along each axis, and both diagonals of every face.
        let mut link = |a: u32, b: u32| {
            let (pa, pb) = (self.x[a as usize], self.x[b as usize]);
            let d = (0..3).map(|k| (pa[k] - pb[k]).powi(2)).sum::<f32>().sqrt();
            self.distances.a.push(a);
            self.distances.b.push(b);
            self.distances.rest.push(d);
            self.distances.compliance.push(material.compliance);
        };
        for k in 0..=nz {
            for j in 0..=ny {
                for i in 0..=nx {
                    let p = index(i, j, k);
                    if i < nx {
                        link(p, index(i + 1, j, k));
                    }
                    if j < ny {
                        link(p, index(i, j + 1, k));
                    }
                    if k < nz {
                        link(p, index(i, j, k + 1));
                    }
                    if i < nx && j < ny {
                        link(p, index(i + 1, j + 1, k));
                        link(index(i + 1, j, k), index(i, j + 1, k));
                    }
                    if i < nx && k < nz {
                        link(p, index(i + 1, j, k + 1));
                        link(index(i + 1, j, k), index(i, j, k + 1));
                    }
                    if j < ny && k < nz {
                        link(p, index(i, j + 1, k + 1));
                        link(index(i, j + 1, k), index(i, j, k + 1));
                    }
                }
            }
        }
        let volumes_from = self.volumes.corners.len();
        for k in 0..nz {
            for j in 0..ny {
                for i in 0..nx {
                    let corners: [u32; 8] = std::array::from_fn(|c| {
                        index(i + (c & 1), j + ((c >> 1) & 1), k + ((c >> 2) & 1))
                    });
                    let rest = solve::hex_volume(&self.x, &corners);
                    self.volumes.corners.push(corners);
                    self.volumes.rest.push(rest);
                    self.volumes.compliance.push(material.volume_compliance);
                }
            }
        }
        self.bodies.push(Body {
            name: name.clone(),
            particles: (first, first + particles),
            volumes: (volumes_from, self.volumes.corners.len()),
            material,
        });
        self.colour();
        self.bodies.len() - 1
    }

    /// Greedy colouring of every constraint type: a constraint takes the
    /// first colour none of its particles has yet.
    fn colour(&mut self) {
        let n = self.x.len();
        let greedy = |count: usize, particles_of: &dyn Fn(usize, &mut Vec<u32>)| -> Vec<Vec<u32>> {
            let mut used: Vec<u64> = vec![0; n];
            let mut colours: Vec<Vec<u32>> = Vec::new();
            let mut ps = Vec::new();
            for c in 0..count {
                ps.clear();
                particles_of(c, &mut ps);
                let taken = ps.iter().fold(0u64, |m, &p| m | used[p as usize]);
                let colour = (!taken).trailing_zeros() as usize;
                assert!(colour < 64, "more than 64 colours");
                for &p in &ps {
                    used[p as usize] |= 1 << colour;
                }
                if colours.len() <= colour {
                    colours.resize(colour + 1, Vec::new());
                }
                colours[colour].push(c as u32);
            }
            colours
        };
        let d = &self.distances;
        self.distance_colours = greedy(d.a.len(), &|c, ps| ps.extend([d.a[c], d.b[c]]));
        let v = &self.volumes;
        self.volume_colours = greedy(v.corners.len(), &|c, ps| ps.extend(v.corners[c]));
    }

    /// Number of distance and volume constraints.
    pub fn constraints(&self) -> usize {
        self.distances.a.len() + self.volumes.corners.len()
    }

    /// Current over rest volume of body `b`.
    pub fn volume_ratio(&self, b: usize) -> f32 {
        let (lo, hi) = self.bodies[b].volumes;
        let now: f32 = (lo..hi)
            .map(|k| solve::hex_volume(&self.x, &self.volumes.corners[k]))
            .sum();
        let rest: f32 = self.volumes.rest[lo..hi].iter().sum();
        now / rest
    }

    /// Kinetic energy of body `b`, in kg·cells²/s².
    pub fn kinetic_energy(&self, b: usize) -> f32 {
        let (lo, hi) = self.bodies[b].particles;
        (lo..hi)
            .map(|p| {
                let m = if self.w[p] > 0.0 {
                    1.0 / self.w[p]
                } else {
                    0.0
                };
                0.5 * m * self.v[p].iter().map(|c| c * c).sum::<f32>()
            })
            .sum()
    }

    /// One frame of `dt` seconds in `substeps` substeps: predict under
    /// `gravity` (cells/s²), solve each constraint colour once, collide with
    /// the world's solid cells, update velocities.
    pub fn step(
        &mut self,
        world: &VoxelWorld,
        table: &MaterialTable,
        dt: f32,
        substeps: u32,
        gravity: f32,
    ) {
        let h = dt / substeps.max(1) as f32;
        for _ in 0..substeps.max(1) {
            solve::predict(self, h, gravity);
            solve::distances(self, h);
            solve::volumes(self, h);
            collide::collide(self, world, table);
            solve::update_velocities(self, h);
        }
    }
}
