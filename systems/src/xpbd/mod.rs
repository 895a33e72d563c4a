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
mod contact;
mod solve;

pub use contact::RADIUS as CONTACT_RADIUS;

use loam_storage::VoxelWorld;

use crate::materials::MaterialTable;

/// Below this speed (cells/s) every particle of a body is still.
pub const SLEEP_SPEED: f32 = 0.05;
/// Frames a body must stay still before it sleeps.
pub const SLEEP_FRAMES: u32 = 30;
/// A kinetic field faster than this (m/s) wakes a body.
pub const WAKE_WIND: f32 = 0.5;
/// An overpressure above this (Pa) wakes a body.
pub const WAKE_PRESSURE: f32 = 100.0;

/// What a frame of soft bodies needs from the rest of the world.
#[derive(Clone, Copy, Debug)]
pub struct Environment<'a> {
    /// Frame length, s.
    pub dt: f32,
    /// Substeps per frame.
    pub substeps: u32,
    /// Gravity, cells/s².
    pub gravity: f32,
    /// Cell edge, m (field speeds are in m/s).
    pub voxel_size: f32,
    /// The force fields, if any.
    pub fields: Option<&'a crate::fields::Fields>,
}

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
    /// How fast the body takes on the kinetic field's velocity (air drag), per second.
    pub drag: f32,
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
            drag: 3.0,
        },
        SoftMaterial {
            name: "rubber",
            density: 1100.0,
            compliance: 1e-6,
            volume_compliance: 1e-7,
            damping: 1.0,
            friction: 0.9,
            drag: 1.0,
        },
        SoftMaterial {
            name: "flesh",
            density: 1060.0,
            compliance: 3e-6,
            volume_compliance: 3e-7,
            damping: 2.0,
            friction: 0.6,
            drag: 2.0,
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
    /// Keep only the voxels inside the sphere inscribed in the box.
    pub sphere: bool,
    /// A volume constraint per voxel (else distance constraints only).
    pub volume: bool,
    /// Pin the particles of the bottom face in place (a blade of grass
    /// rooted in the ground).
    pub rooted: bool,
}

/// What [`SoftBodies::summary`] tells about a body.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BodySummary {
    /// Corner particles.
    pub particles: usize,
    /// Distance and volume constraints.
    pub constraints: usize,
    /// Lowest particle, cells.
    pub min_y: f32,
    /// Mass-weighted centre, cells.
    pub center_of_mass: [f32; 3],
    /// Fastest particle, cells/s.
    pub max_speed: f32,
}

/// One body: a range of particles and of each constraint type.
#[derive(Clone, Debug, PartialEq)]
pub struct Body {
    /// Name in reports.
    pub name: String,
    /// Its particles, `particles.0..particles.1`.
    pub particles: (usize, usize),
    /// Its volume constraints (one per voxel, if it has them), `volumes.0..volumes.1`.
    pub volumes: (usize, usize),
    /// Soft voxels.
    pub voxels: usize,
    /// Whether it sleeps: no solver work until a field or [`SoftBodies::wake`] wakes it.
    pub sleeping: bool,
    /// Frames it has been still for.
    still_frames: u32,
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
    pub(crate) drag: Vec<f32>,
    /// Per particle: its body sleeps.
    pub(crate) asleep: Vec<bool>,
    /// Per particle: the kinetic field's velocity there this frame, cells/s.
    pub(crate) wind: Vec<[f32; 3]>,
    /// The bodies.
    pub bodies: Vec<Body>,
    /// Keeps every body awake (to measure what sleeping saves); off by default.
    pub no_sleep: bool,
    /// Whether bodies were added since the constraints were last coloured.
    uncoloured: bool,
    pub(crate) distances: Distances,
    pub(crate) volumes: Volumes,
    /// Constraint indices by colour (no two in a colour share a particle).
    pub(crate) distance_colours: Vec<Vec<u32>>,
    pub(crate) volume_colours: Vec<Vec<u32>>,
}

impl SoftBodies {
    /// Adds a body, in a world of `voxel_size_m`-metre cells (for its
    /// mass). Returns the body's index.
    pub fn add_box(&mut self, body: &SoftBox, voxel_size_m: f32) -> usize {
        let SoftBox {
            ref name,
            origin,
            voxels,
            voxel,
            material,
            velocity,
            sphere,
            volume,
            rooted,
        } = *body;
        let [nx, ny, nz] = voxels.map(|v| v as usize);
        // Which soft voxels exist: all of the box, or those whose centre
        // lies in the sphere inscribed in it.
        let r = voxels.iter().copied().min().unwrap_or(0) as f32 / 2.0;
        let kept = |i: usize, j: usize, k: usize| {
            !sphere
                || [i, j, k]
                    .iter()
                    .zip(voxels)
                    .map(|(&v, n)| (v as f32 + 0.5 - n as f32 / 2.0).powi(2))
                    .sum::<f32>()
                    <= r * r
        };
        let cells: Vec<[usize; 3]> = (0..nz)
            .flat_map(|k| (0..ny).flat_map(move |j| (0..nx).map(move |i| [i, j, k])))
            .filter(|&[i, j, k]| kept(i, j, k))
            .collect();
        // Corner particles of the kept voxels, numbered in grid order.
        let (px, py) = (nx + 1, ny + 1);
        let grid = |c: [usize; 3]| c[0] + px * (c[1] + py * c[2]);
        let corner = |v: [usize; 3], c: usize| {
            [v[0] + (c & 1), v[1] + ((c >> 1) & 1), v[2] + ((c >> 2) & 1)]
        };
        let mut used = vec![false; px * py * (nz + 1)];
        for &v in &cells {
            for c in 0..8 {
                used[grid(corner(v, c))] = true;
            }
        }
        let first = self.x.len();
        let mut id = vec![u32::MAX; used.len()];
        let mut next = first as u32;
        for (g, &u) in used.iter().enumerate() {
            if u {
                id[g] = next;
                next += 1;
                let c = [g % px, (g / px) % py, g / (px * py)];
                let x = [0, 1, 2].map(|a| origin[a] + c[a] as f32 * voxel);
                self.x.push(x);
                self.prev.push(x);
                self.v.push(velocity);
                self.damping.push(material.damping);
                self.friction.push(material.friction);
                self.drag.push(material.drag);
                self.asleep.push(false);
                self.wind.push([0.0; 3]);
            }
        }
        let particles = next as usize - first;
        // Each voxel's mass goes in eighths to its corners.
        let voxel_mass = material.density * (voxel * voxel_size_m).powi(3);
        let mut mass = vec![0.0f32; particles];
        for &v in &cells {
            for c in 0..8 {
                mass[id[grid(corner(v, c))] as usize - first] += voxel_mass / 8.0;
            }
        }
        let rooted_y = origin[1];
        self.w.extend(mass.iter().enumerate().map(|(k, &m)| {
            let pinned = rooted && self.x[first + k][1] == rooted_y;
            if m > 0.0 && !pinned {
                1.0 / m
            } else {
                0.0
            }
        }));
        // Each voxel's 12 edges and 12 face diagonals, each pair once.
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
            self.distances.compliance.push(material.compliance);
        }
        let volumes_from = self.volumes.corners.len();
        if volume {
            for &v in &cells {
                let corners: [u32; 8] = std::array::from_fn(|c| id[grid(corner(v, c))]);
                let rest = solve::hex_volume(&self.x, &corners);
                self.volumes.corners.push(corners);
                self.volumes.rest.push(rest);
                self.volumes.compliance.push(material.volume_compliance);
            }
        }
        self.bodies.push(Body {
            name: name.clone(),
            particles: (first, first + particles),
            volumes: (volumes_from, self.volumes.corners.len()),
            voxels: cells.len(),
            sleeping: false,
            still_frames: 0,
            material,
        });
        // Colour once before the next step, not once per body added.
        self.uncoloured = true;
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

    /// Current over rest volume of body `b` (1 for a body without volume
    /// constraints).
    pub fn volume_ratio(&self, b: usize) -> f32 {
        let (lo, hi) = self.bodies[b].volumes;
        if lo == hi {
            return 1.0;
        }
        let now: f32 = (lo..hi)
            .map(|k| solve::hex_volume(&self.x, &self.volumes.corners[k]))
            .sum();
        let rest: f32 = self.volumes.rest[lo..hi].iter().sum();
        now / rest
    }

    /// Particles, constraints, lowest point, centre of mass and top speed
    /// of body `b`.
    pub fn summary(&self, b: usize) -> BodySummary {
        let body = &self.bodies[b];
        let (lo, hi) = body.particles;
        let in_body = |p: u32| (lo..hi).contains(&(p as usize));
        let distances = self.distances.a.iter().filter(|&&a| in_body(a)).count();
        let mut out = BodySummary {
            particles: hi - lo,
            constraints: distances + body.volumes.1 - body.volumes.0,
            min_y: f32::INFINITY,
            ..BodySummary::default()
        };
        let mut mass = 0.0;
        for p in lo..hi {
            let m = if self.w[p] > 0.0 {
                1.0 / self.w[p]
            } else {
                0.0
            };
            mass += m;
            for a in 0..3 {
                out.center_of_mass[a] += m * self.x[p][a];
            }
            out.min_y = out.min_y.min(self.x[p][1]);
            out.max_speed = out
                .max_speed
                .max(self.v[p].iter().map(|v| v * v).sum::<f32>().sqrt());
        }
        if mass > 0.0 {
            out.center_of_mass = out.center_of_mass.map(|c| c / mass);
        }
        out
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

    /// Wakes body `b`.
    pub fn wake(&mut self, b: usize) {
        let body = &mut self.bodies[b];
        body.sleeping = false;
        body.still_frames = 0;
        let (lo, hi) = body.particles;
        self.asleep[lo..hi].fill(false);
    }

    /// One frame of `dt` seconds in `substeps` substeps: wake bodies a
    /// field reaches, predict under `gravity` (cells/s²) and the kinetic
    /// field's drag, solve each constraint colour once, collide with the
    /// world's solid cells, update velocities; then put bodies that stayed
    /// still for [`SLEEP_FRAMES`] frames to sleep.
    pub fn step(&mut self, world: &VoxelWorld, table: &MaterialTable, env: &Environment<'_>) {
        if self.uncoloured {
            self.colour();
            self.uncoloured = false;
        }
        self.feel(env);
        let h = env.dt / env.substeps.max(1) as f32;
        for _ in 0..env.substeps.max(1) {
            solve::predict(self, h, env.gravity);
            solve::distances(self, h);
            solve::volumes(self, h);
            for b in contact::contacts(self) {
                self.wake(b);
            }
            collide::collide(self, world, table);
            solve::update_velocities(self, h);
        }
        self.settle();
    }

    /// Samples the kinetic field at every particle (into `wind`, cells/s)
    /// and wakes sleeping bodies that a field reaches.
    fn feel(&mut self, env: &Environment<'_>) {
        let Some(fields) = env.fields.filter(|f| f.bricks() > 0) else {
            self.wind.fill([0.0; 3]);
            return;
        };
        let to_cells = 1.0 / env.voxel_size;
        for b in 0..self.bodies.len() {
            let (lo, hi) = self.bodies[b].particles;
            let mut felt = false;
            for p in lo..hi {
                let s = fields.sample(self.x[p]);
                self.wind[p] = s.kinetic.map(|v| v * to_cells);
                let speed = s.kinetic.iter().map(|v| v * v).sum::<f32>().sqrt();
                felt |= speed > WAKE_WIND || s.pressure > WAKE_PRESSURE;
            }
            if felt && self.bodies[b].sleeping {
                self.wake(b);
            }
        }
    }

    /// Puts bodies to sleep that have been still long enough.
    fn settle(&mut self) {
        if self.no_sleep {
            return;
        }
        for b in 0..self.bodies.len() {
            if self.bodies[b].sleeping {
                continue;
            }
            let (lo, hi) = self.bodies[b].particles;
            let still = self.v[lo..hi]
                .iter()
                .all(|v| v.iter().map(|c| c * c).sum::<f32>() < SLEEP_SPEED * SLEEP_SPEED);
            let body = &mut self.bodies[b];
            body.still_frames = if still { body.still_frames + 1 } else { 0 };
            if body.still_frames >= SLEEP_FRAMES {
                body.sleeping = true;
                self.asleep[lo..hi].fill(true);
                self.v[lo..hi].fill([0.0; 3]);
            }
        }
    }
}
