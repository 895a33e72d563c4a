//! XPBD soft bodies: voxelised bodies solved in small steps (many
//! substeps, one iteration each), colour by colour, kept out of the
//! world's solid cells, pushed by the force fields and pushing back.
//!
//! Three solvers (see [`Solver`]): the default `gram_schmidt` gives every
//! voxel 8 corners of its own, held in shape by a Gram-Schmidt constraint
//! and joined to its neighbours by face constraints that tear
//! ([`gram_schmidt`](self) module docs); `volume` and `distance` share
//! corners between neighbouring voxels and join them by distance
//! constraints on every edge and face diagonal (`volume` adds a volume
//! constraint per voxel).
//!
//! Data is SoA: positions, previous positions, velocities and inverse
//! masses per particle; per constraint type its own arrays. Constraints of
//! one colour share no particle, so a colour is solved in parallel without
//! races and the result does not depend on the thread count.
//!
//! Units: positions in cells, time in seconds, masses in kg.
//!
//! [`SoftBodies::step_mirrored`] runs a frame's substeps on another
//! backend's copy of the arrays (the GPU's), through the [`BodyMirror`]
//! protocol; the CPU feels the world before them and settles after.
//!
//! ```
//! use loam_storage::{VoxelWorld, WorldLayout};
//! use loam_systems::materials::{id, MaterialTable, AMBIENT};
//! use loam_systems::xpbd::{materials, Environment, SoftBodies, SoftBox, Solver};
//!
//! let layout = WorldLayout::new([32, 32, 32], 16).unwrap();
//! let mut world = VoxelWorld::new(layout, id::AIR, AMBIENT);
//! for x in 0..32 {
//!     for z in 0..32 {
//!         world.set_cell([x, 0, z], id::STONE, AMBIENT);
//!     }
//! }
//! let mut bodies = SoftBodies::default();
//! let jelly = bodies.add_box(&SoftBox::new("jelly", [12.0, 4.0, 12.0], [4, 4, 4], materials()[0]), 0.25);
//! let env = Environment { dt: 1.0 / 60.0, substeps: 4, gravity: 9.81 / 0.25, voxel_size: 0.25, fields: None };
//! for _ in 0..120 {
//!     bodies.step(&world, &MaterialTable::default(), &env);
//! }
//! let body = bodies.summary(jelly);
//! assert!(body.min_y > 0.95 && body.min_y < 1.1, "it rests on the stone: {}", body.min_y);
//! assert!((bodies.volume_ratio(jelly) - 1.0).abs() < 0.05);
//! ```

mod build;
mod collide;
mod contact;
mod gram_schmidt;
mod mirror;
mod persist;
pub mod plugin;
mod react;
mod remove;
mod solve;

pub use collide::SKIN;
pub use contact::{
    BEHIND as CONTACT_BEHIND, EDGE as CONTACT_EDGE, ITERATIONS as CONTACT_ITERATIONS,
    RADIUS as CONTACT_RADIUS, WAKE_DEPTH,
};
pub use mirror::{BodyMirror, Mirror, MirrorRead, MirrorStep};
pub use persist::SavedBodies;
pub use plugin::SoftBodyPlugin;

use loam_runtime::profiling::zone;
use loam_storage::VoxelWorld;

use crate::materials::MaterialTable;

/// A body whose root-mean-square particle speed (its kinetic energy per
/// mass) stays below this (cells/s) is still.
pub const SLEEP_SPEED: f32 = 0.05;
/// Frames a body must stay still before it sleeps.
pub const SLEEP_FRAMES: u32 = 30;
/// A kinetic field faster than this (m/s) wakes a body.
pub const WAKE_WIND: f32 = 0.5;
/// An overpressure above this (Pa) wakes a body.
pub const WAKE_PRESSURE: f32 = 100.0;
/// How fast a particle in a liquid takes on the liquid's (zero) velocity,
/// per second: water drag.
pub const LIQUID_DRAG: f32 = 4.0;

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

impl Environment<'_> {
    /// This environment, feeling `fields`.
    pub fn feeling<'b>(&self, fields: &'b crate::fields::Fields) -> Environment<'b> {
        Environment {
            fields: Some(fields),
            ..*self
        }
    }
}

/// A soft material. Compliances are XPBD's (inverse stiffness, s²/kg with
/// positions in cells); smaller is stiffer, and the stiffness does not
/// depend on the substep count.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SoftMaterial {
    /// Name in scenarios and reports.
    pub name: &'static str,
    /// kg/m³.
    pub density: f32,
    /// Distance constraints (`distance` and `volume` solvers).
    pub compliance: f32,
    /// Volume constraints (`volume` solver).
    pub volume_compliance: f32,
    /// Gram-Schmidt shape constraints (`gram_schmidt` solver).
    pub shape_compliance: f32,
    /// Face constraints between voxels (`gram_schmidt` solver).
    pub face_compliance: f32,
    /// A face tears when its corner pairs are this many voxel edges apart
    /// (root mean square; `gram_schmidt` solver).
    pub tear_strain: f32,
    /// Damping of a body's motion relative to its mean velocity, per second.
    pub damping: f32,
    /// Coulomb friction against the world.
    pub friction: f32,
    /// How fast the body takes on the kinetic field's velocity (air drag), per second.
    pub drag: f32,
}

/// The built-in soft materials: a wobbly jelly, a stiff rubber that does
/// not tear, and a flesh between them that tears first.
pub fn materials() -> [SoftMaterial; 3] {
    [
        SoftMaterial {
            name: "jelly",
            density: 1050.0,
            compliance: 1e-5,
            volume_compliance: 1e-6,
            shape_compliance: 2e-5,
            face_compliance: 1e-7,
            tear_strain: 0.6,
            damping: 5.0,
            friction: 0.4,
            drag: 3.0,
        },
        SoftMaterial {
            name: "rubber",
            density: 1100.0,
            compliance: 1e-6,
            volume_compliance: 1e-7,
            shape_compliance: 2e-6,
            face_compliance: 1e-8,
            tear_strain: 2.0,
            damping: 1.0,
            friction: 0.9,
            drag: 1.0,
        },
        SoftMaterial {
            name: "flesh",
            density: 1060.0,
            compliance: 3e-6,
            volume_compliance: 3e-7,
            shape_compliance: 5e-6,
            face_compliance: 1e-7,
            tear_strain: 0.3,
            damping: 2.0,
            friction: 0.6,
            drag: 2.0,
        },
    ]
}

/// A material is saved (in a run's state, in a command waiting for its
/// frame) by its name: only the built-in [`materials`] restore.
impl serde::Serialize for SoftMaterial {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name)
    }
}

impl<'de> serde::Deserialize<'de> for SoftMaterial {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        SoftMaterial::named(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown soft material `{name}`")))
    }
}

impl SoftMaterial {
    /// The built-in material named `name`.
    pub fn named(name: &str) -> Option<Self> {
        materials().into_iter().find(|m| m.name == name)
    }
}

/// How a body's voxels are held together.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Solver {
    /// Own corners per voxel, a Gram-Schmidt shape constraint per voxel,
    /// breakable face constraints between voxels (McGraw, MIG 2024).
    #[default]
    GramSchmidt,
    /// Shared corners, distance constraints on edges and face diagonals,
    /// and a volume constraint per voxel.
    Volume,
    /// Shared corners, distance constraints only.
    Distance,
}

impl Solver {
    /// Its name in scenarios.
    pub fn name(self) -> &'static str {
        match self {
            Solver::GramSchmidt => "gram_schmidt",
            Solver::Volume => "volume",
            Solver::Distance => "distance",
        }
    }

    /// The solver named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        [Solver::GramSchmidt, Solver::Volume, Solver::Distance]
            .into_iter()
            .find(|s| s.name() == name)
    }
}

/// A box-shaped soft body to add.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
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
    /// How its voxels are held together.
    pub solver: Solver,
    /// Pin the particles of the bottom face in place (a blade of grass
    /// rooted in the ground).
    pub rooted: bool,
}

impl SoftBox {
    /// A resting box of unit voxels with the default solver.
    pub fn new(name: &str, origin: [f32; 3], voxels: [u32; 3], material: SoftMaterial) -> Self {
        SoftBox {
            name: name.into(),
            origin,
            voxels,
            voxel: 1.0,
            material,
            velocity: [0.0; 3],
            sphere: false,
            solver: Solver::default(),
            rooted: false,
        }
    }
}

/// What [`SoftBodies::summary`] tells about a body.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BodySummary {
    /// Corner particles.
    pub particles: usize,
    /// Constraints of every type (a face constraint counts once).
    pub constraints: usize,
    /// Face constraints torn.
    pub broken_constraints: usize,
    /// Lowest particle, cells.
    pub min_y: f32,
    /// Mass-weighted centre, cells.
    pub center_of_mass: [f32; 3],
    /// Fastest particle, cells/s.
    pub max_speed: f32,
}

/// A half-open range of indices into one of the SoA arrays.
pub type Span = (usize, usize);

/// One body: a range of particles and of each constraint type.
#[derive(Clone, Debug, PartialEq)]
pub struct Body {
    /// Name in reports.
    pub name: String,
    /// Its particles.
    pub particles: Span,
    /// Its distance constraints.
    pub distances: Span,
    /// Its volume constraints.
    pub volumes: Span,
    /// Its Gram-Schmidt shape constraints.
    pub shapes: Span,
    /// Its face constraints.
    pub faces: Span,
    /// Its measured-only hexahedra (`distance` bodies).
    hulls: Span,
    /// Its skin: the faces of its voxels on its surface.
    pub(crate) skin: Span,
    /// The joints on its skin (Gram-Schmidt bodies).
    pub(crate) joints: Span,
    /// Rest volume, cells³.
    pub(crate) rest_volume: f32,
    /// Soft voxels.
    pub voxels: usize,
    /// Whether it sleeps: no solver work until a field or [`SoftBodies::wake`] wakes it.
    pub sleeping: bool,
    /// Frames it has been still for.
    still_frames: u32,
    /// The largest pressure it wrote into the fields in its last awake
    /// frame (Pa): no larger pressure wakes it.
    pressure_written: f32,
    /// The deepest contact with another body it was in during its last
    /// awake frame (cells): no contact as shallow wakes it.
    resting_depth: f32,
    /// The material.
    pub material: SoftMaterial,
    /// Whoever added it may find it by this (a game's command handle).
    pub tag: Option<u64>,
    /// What it was built from, in a world of cells this many metres
    /// wide: what a rebuild builds it from again.
    pub(crate) spec: (SoftBox, f32),
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

/// Gram-Schmidt shape constraints, one per voxel with corners of its own, SoA.
#[derive(Clone, Debug, Default)]
pub(crate) struct Shapes {
    /// The first of the voxel's 8 consecutive corner particles (x-fastest
    /// order, as for [`Volumes`]).
    pub first: Vec<u32>,
    /// Rest edge, cells.
    pub edge: Vec<f32>,
    pub compliance: Vec<f32>,
}

impl Shapes {
    /// The corners of voxel `k`.
    pub fn corners(&self, k: usize) -> [u32; 8] {
        std::array::from_fn(|c| self.first[k] + c as u32)
    }
}

/// Face constraints: 4 corner pairs `(a[k], b[k])` pulled together, SoA.
#[derive(Clone, Debug, Default)]
pub(crate) struct Faces {
    pub a: Vec<[u32; 4]>,
    pub b: Vec<[u32; 4]>,
    pub compliance: Vec<f32>,
    /// Root-mean-square pair distance at which the face tears, cells.
    pub tear: Vec<f32>,
    pub broken: Vec<bool>,
}

/// A number no `SoftBodies` has had as its [`Mirror::generation`]: a
/// mirror that followed one set of bodies is not fooled by another.
fn next_generation() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
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
    /// Per particle: friction and air drag of its body's material.
    pub(crate) friction: Vec<f32>,
    pub(crate) drag: Vec<f32>,
    /// Per particle: its body sleeps.
    pub(crate) asleep: Vec<bool>,
    /// Per particle: the kinetic field's velocity there this frame, cells/s.
    pub(crate) wind: Vec<[f32; 3]>,
    /// Per particle: density of the liquid it is in over its own (0 out of
    /// liquids), this frame.
    pub(crate) buoyancy: Vec<f32>,
    /// Per particle: how far collisions with loose cells (powders) pushed
    /// it this frame, cells; what the grains felt.
    pub(crate) pressed: Vec<[f32; 3]>,
    /// Per particle: the index of its body.
    pub(crate) owner: Vec<u32>,
    /// Per particle: the cell it was last found free in this frame.
    pub(crate) free: Vec<[i32; 3]>,
    /// The bodies.
    pub bodies: Vec<Body>,
    /// Keeps every body awake (to measure what sleeping saves); off by default.
    pub no_sleep: bool,
    /// Whether bodies were added since the constraints were last coloured.
    uncoloured: bool,
    /// Changes whenever bodies are added, for mirrors (see
    /// [`Mirror::generation`]).
    generation: u64,
    /// Per body: changed on the CPU since a mirror last had it.
    unsent: Vec<bool>,
    pub(crate) distances: Distances,
    pub(crate) volumes: Volumes,
    pub(crate) shapes: Shapes,
    pub(crate) faces: Faces,
    /// Constraint indices by colour (no two in a colour share a particle).
    pub(crate) distance_colours: Vec<Vec<u32>>,
    pub(crate) volume_colours: Vec<Vec<u32>>,
    pub(crate) face_colours: Vec<Vec<u32>>,
    /// The voxels' hexahedra (corner particles, rest volume) of bodies whose
    /// solver keeps none (`distance`), to measure their volume only.
    pub(crate) hulls: Vec<([u32; 8], f32)>,
    /// The faces of voxels on bodies' surfaces, 4 corner particles each,
    /// wound so that their normals point out of the body: what other
    /// bodies' particles touch (see `contact`).
    pub(crate) skin: Vec<[u32; 4]>,
    /// The joints on Gram-Schmidt bodies' skins (see `gram_schmidt::body_volumes`).
    pub(crate) joints: Joints,
}

/// The joints on Gram-Schmidt bodies' skins: the voxel corners that meet at
/// one lattice point of a body's surface. Joint `j`'s particles are
/// `members[start[j]..start[j + 1]]` (`..members.len()` for the last).
#[derive(Clone, Debug, Default)]
pub(crate) struct Joints {
    pub start: Vec<u32>,
    pub members: Vec<u32>,
    /// Per skin face (as `skin`): the joints of its 4 corners, or nothing
    /// for bodies of other solvers.
    pub of_skin: Vec<[u32; 4]>,
}

impl Joints {
    /// Joint `j`'s particles.
    pub fn members(&self, j: usize) -> &[u32] {
        let lo = self.start[j] as usize;
        let hi = self
            .start
            .get(j + 1)
            .map_or(self.members.len(), |&s| s as usize);
        &self.members[lo..hi]
    }
}

impl SoftBodies {
    /// Adds a body, in a world of `voxel_size_m`-metre cells (for its
    /// mass). Returns the body's index.
    pub fn add_box(&mut self, body: &SoftBox, voxel_size_m: f32) -> usize {
        self.add_tagged(body, voxel_size_m, None)
    }

    /// Adds a body as [`SoftBodies::add_box`] does, with a tag its adder
    /// finds it by ([`SoftBodies::tagged`]).
    pub fn add_tagged(&mut self, body: &SoftBox, voxel_size_m: f32, tag: Option<u64>) -> usize {
        let cells = body.cells();
        let voxel_mass = body.material.density * (body.voxel * voxel_size_m).powi(3);
        let before = (
            self.x.len(),
            self.distances.a.len(),
            self.volumes.corners.len(),
            self.shapes.first.len(),
            self.faces.a.len(),
            self.hulls.len(),
            self.skin.len(),
            self.joints.start.len(),
        );
        match body.solver {
            Solver::GramSchmidt => self.build_own(body, &cells, voxel_mass),
            Solver::Volume | Solver::Distance => self.build_shared(body, &cells, voxel_mass),
        }
        self.bodies.push(Body {
            name: body.name.clone(),
            particles: (before.0, self.x.len()),
            distances: (before.1, self.distances.a.len()),
            volumes: (before.2, self.volumes.corners.len()),
            shapes: (before.3, self.shapes.first.len()),
            faces: (before.4, self.faces.a.len()),
            hulls: (before.5, self.hulls.len()),
            skin: (before.6, self.skin.len()),
            joints: (before.7, self.joints.start.len()),
            rest_volume: cells.len() as f32 * body.voxel.powi(3),
            voxels: cells.len(),
            sleeping: false,
            still_frames: 0,
            pressure_written: 0.0,
            resting_depth: 0.0,
            material: body.material,
            tag,
            spec: (body.clone(), voxel_size_m),
        });
        // Colour once before the next step, not once per body added.
        self.uncoloured = true;
        self.generation = next_generation();
        self.unsent.push(true);
        self.bodies.len() - 1
    }

    /// Colours the constraints of bodies added since the last call.
    fn prepare(&mut self) {
        if self.uncoloured {
            self.colour();
            self.uncoloured = false;
            // The arrays grew body by body, to up to twice what they hold:
            // give the room back once.
            self.shrink();
        }
    }

    /// Frees the per-particle arrays', the skin's and its joints' spare
    /// capacity.
    fn shrink(&mut self) {
        self.x.shrink_to_fit();
        self.prev.shrink_to_fit();
        self.v.shrink_to_fit();
        self.w.shrink_to_fit();
        self.friction.shrink_to_fit();
        self.drag.shrink_to_fit();
        self.asleep.shrink_to_fit();
        self.wind.shrink_to_fit();
        self.buoyancy.shrink_to_fit();
        self.pressed.shrink_to_fit();
        self.owner.shrink_to_fit();
        self.free.shrink_to_fit();
        self.skin.shrink_to_fit();
        self.joints.start.shrink_to_fit();
        self.joints.members.shrink_to_fit();
        self.joints.of_skin.shrink_to_fit();
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
        // Shape constraints need none: a voxel's corners are its own.
        let f = &self.faces;
        self.face_colours = greedy(f.a.len(), &|c, ps| ps.extend(f.a[c].iter().chain(&f.b[c])));
    }

    /// Number of constraints of every type (a face constraint counts once).
    pub fn constraints(&self) -> usize {
        self.distances.a.len()
            + self.volumes.corners.len()
            + self.shapes.first.len()
            + self.faces.a.len()
    }

    /// Current over rest volume of body `b`, the sum of its voxels'
    /// hexahedra: the volume solver's constraints, the Gram-Schmidt voxels,
    /// or, for `distance`, hexahedra kept to measure it.
    pub fn volume_ratio(&self, b: usize) -> f32 {
        let body = &self.bodies[b];
        let (now, rest): (f32, f32) = if body.volumes.0 < body.volumes.1 {
            let k = body.volumes.0..body.volumes.1;
            (
                k.clone()
                    .map(|k| solve::hex_volume(&self.x, &self.volumes.corners[k]))
                    .sum(),
                self.volumes.rest[k].iter().sum(),
            )
        } else if body.shapes.0 < body.shapes.1 {
            // Neighbouring voxels' own corners may part or overlap a little:
            // the body fills the voxels of its joints, the means of the
            // corners its intact faces hold together.
            let (lo, hi) = body.particles;
            let mut root: Vec<u32> = (0..(hi - lo) as u32).collect();
            fn find(root: &mut [u32], mut i: u32) -> u32 {
                while root[i as usize] != i {
                    root[i as usize] = root[root[i as usize] as usize];
                    i = root[i as usize];
                }
                i
            }
            for f in (body.faces.0..body.faces.1).filter(|&f| !self.faces.broken[f]) {
                for (a, b) in self.faces.a[f].iter().zip(&self.faces.b[f]) {
                    let (ra, rb) = (
                        find(&mut root, a - lo as u32),
                        find(&mut root, b - lo as u32),
                    );
                    root[ra.max(rb) as usize] = ra.min(rb);
                }
            }
            let mut joints = vec![([0.0f32; 3], 0.0f32); hi - lo];
            for p in 0..hi - lo {
                let (sum, n) = &mut joints[find(&mut root, p as u32) as usize];
                for (s, x) in sum.iter_mut().zip(self.x[lo + p]) {
                    *s += x;
                }
                *n += 1.0;
            }
            let at: Vec<[f32; 3]> = (0..hi - lo)
                .map(|p| {
                    let (sum, n) = joints[find(&mut root, p as u32) as usize];
                    sum.map(|v| v / n)
                })
                .collect();
            let k = body.shapes.0..body.shapes.1;
            (
                k.clone()
                    .map(|k| {
                        let corners = self.shapes.corners(k).map(|p| p - lo as u32);
                        solve::hex_volume(&at, &corners)
                    })
                    .sum(),
                body.rest_volume,
            )
        } else if body.hulls.0 < body.hulls.1 {
            let hulls = &self.hulls[body.hulls.0..body.hulls.1];
            (
                hulls
                    .iter()
                    .map(|(c, _)| solve::hex_volume(&self.x, c))
                    .sum(),
                hulls.iter().map(|(_, rest)| rest).sum(),
            )
        } else {
            return 1.0;
        };
        now / rest
    }

    /// Particles, constraints, lowest point, centre of mass and top speed
    /// of body `b`.
    pub fn summary(&self, b: usize) -> BodySummary {
        let body = &self.bodies[b];
        let (lo, hi) = body.particles;
        let len = |s: Span| s.1 - s.0;
        let mut out = BodySummary {
            particles: hi - lo,
            constraints: len(body.distances)
                + len(body.volumes)
                + len(body.shapes)
                + len(body.faces),
            broken_constraints: self.faces.broken[body.faces.0..body.faces.1]
                .iter()
                .filter(|&&b| b)
                .count(),
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
    /// field reaches, predict under `gravity` (cells/s²), buoyancy and the
    /// kinetic field's drag, solve each constraint colour once (faces may
    /// tear), push bodies apart, collide with the world's solid cells,
    /// update velocities; then put bodies that stayed still for
    /// [`SLEEP_FRAMES`] frames to sleep.
    pub fn step(&mut self, world: &VoxelWorld, table: &MaterialTable, env: &Environment<'_>) {
        let (h, substeps) = self.begin_frame(world, table, env);
        self.substeps(world, table, h, substeps, env.gravity);
        self.settle();
        // A mirror's copy is stale now.
        self.unsent.fill(true);
    }

    /// What a frame does before its substeps: colour new constraints, feel
    /// the world, forget the last frame's collisions. Returns the substep
    /// length and count.
    fn begin_frame(
        &mut self,
        world: &VoxelWorld,
        table: &MaterialTable,
        env: &Environment<'_>,
    ) -> (f32, u32) {
        self.prepare();
        for body in self.bodies.iter_mut().filter(|body| !body.sleeping) {
            body.resting_depth = 0.0;
        }
        self.feel(world, table, env);
        self.pressed.fill([0.0; 3]);
        self.free.fill(collide::NO_CELL);
        let substeps = env.substeps.max(1);
        (env.dt / substeps as f32, substeps)
    }

    /// `n` substeps of `h` seconds: what a frame does between feeling the
    /// world and settling.
    fn substeps(
        &mut self,
        world: &VoxelWorld,
        table: &MaterialTable,
        h: f32,
        n: u32,
        gravity: f32,
    ) {
        for _ in 0..n {
            let _substep = zone("softbody.substep");
            {
                let _zone = zone("softbody.constraints");
                solve::predict(self, h, gravity);
                solve::distances(self, h);
                solve::volumes(self, h);
                gram_schmidt::shapes(self, h);
                gram_schmidt::faces(self, h);
                gram_schmidt::body_volumes(self);
            }
            let found = {
                let _zone = zone("softbody.contacts");
                let (found, woken) = contact::contacts(self);
                for b in woken {
                    self.wake(b);
                }
                found
            };
            {
                let _zone = zone("softbody.collide");
                collide::collide(self, world, table);
            }
            let _zone = zone("softbody.velocities");
            solve::update_velocities(self, h);
            contact::damp(self, &found);
        }
    }

    /// Once a frame: samples the kinetic field at every particle (into
    /// `wind`, cells/s), wakes sleeping bodies that a field reaches, and
    /// finds which awake particles are in a liquid (into `buoyancy`).
    fn feel(&mut self, world: &VoxelWorld, table: &MaterialTable, env: &Environment<'_>) {
        use rayon::prelude::*;
        let fields = env.fields.filter(|f| f.bricks() > 0);
        let to_cells = 1.0 / env.voxel_size;
        let (x, pressed, owner, bodies) = (&self.x, &self.pressed, &self.owner, &self.bodies);
        // Per particle, in parallel: buoyancy, air drag, and whether a
        // field is strong enough to wake its body.
        let felt: Vec<bool> = self
            .buoyancy
            .par_iter_mut()
            .zip(self.wind.par_iter_mut())
            .enumerate()
            .with_min_len(1024)
            .map(|(p, (lift, wind))| {
                let body = &bodies[owner[p] as usize];
                if !body.sleeping {
                    *lift = match collide::material_at(world, x[p]) {
                        Some(m) if table.kind[m as usize] == crate::materials::Kind::Liquid => {
                            table.density[m as usize] / body.material.density
                        }
                        _ => 0.0,
                    };
                }
                *wind = [0.0; 3];
                let Some(fields) = fields else {
                    return false;
                };
                let s = fields.sample(x[p]);
                // Air drag only in the air: not under water, and not where
                // the particle pressed into sand last frame.
                if *lift == 0.0 && pressed[p] == [0.0; 3] {
                    *wind = s.kinetic.map(|v| v * to_cells);
                }
                let speed = s.kinetic.iter().map(|v| v * v).sum::<f32>().sqrt();
                speed > WAKE_WIND || s.pressure > WAKE_PRESSURE + body.pressure_written
            })
            .collect();
        if fields.is_none() {
            return;
        }
        for b in 0..self.bodies.len() {
            let (lo, hi) = self.bodies[b].particles;
            if self.bodies[b].sleeping && felt[lo..hi].contains(&true) {
                self.wake(b);
            }
        }
    }

    /// Puts bodies to sleep that have been still long enough; returns them.
    fn settle(&mut self) -> Vec<usize> {
        let mut slept = Vec::new();
        if self.no_sleep {
            return slept;
        }
        for b in 0..self.bodies.len() {
            if self.bodies[b].sleeping {
                continue;
            }
            let (lo, hi) = self.bodies[b].particles;
            // Kinetic energy per mass, as a mean square speed: a body is
            // still when its particles, weighted by mass, hardly move,
            // even if one of them trembles in a resting contact.
            let (mut energy, mut mass) = (0.0f32, 0.0f32);
            for p in lo..hi {
                if self.w[p] > 0.0 {
                    let m = 1.0 / self.w[p];
                    energy += m * self.v[p].iter().map(|c| c * c).sum::<f32>();
                    mass += m;
                }
            }
            let still = energy <= SLEEP_SPEED * SLEEP_SPEED * mass;
            let body = &mut self.bodies[b];
            body.still_frames = if still { body.still_frames + 1 } else { 0 };
            if body.still_frames >= SLEEP_FRAMES {
                body.sleeping = true;
                self.asleep[lo..hi].fill(true);
                self.v[lo..hi].fill([0.0; 3]);
                slept.push(b);
            }
        }
        slept
    }
}
