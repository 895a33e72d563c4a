//! Soft bodies stepped by another backend (the GPU's) on a copy of their
//! arrays it keeps: the [`BodyMirror`] protocol, which
//! [`SoftBodies::step_mirrored`] drives.
//!
//! The CPU stays the authority between frames. A frame on a mirror goes:
//!
//! 1. the CPU feels the world (`feel`: the kinetic field's velocity and
//!    the buoyancy at every particle, and which bodies a field wakes);
//! 2. [`BodyMirror::step`] is handed a [`Mirror`] of the arrays: the
//!    mirror sends what it does not hold yet (everything when the bodies'
//!    [`generation`](Mirror::generation) changed, else the positions,
//!    velocities and torn faces of the bodies marked `unsent`, the
//!    per-frame inputs that changed, the sleeping flags and resting
//!    depths), then runs the frame's substeps;
//! 3. [`BodyMirror::read`] writes the positions, velocities, powder
//!    pushes, torn faces, sleeping flags and resting depths back;
//! 4. the CPU wakes the bodies a contact woke and puts still bodies to
//!    sleep (`settle`), which zeroes their velocities, so they are marked
//!    `unsent` for the next frame.
//!
//! The mirror's substeps must be the CPU's: predict, distance and volume
//! constraints, shapes, faces, contacts, collision, velocities and the
//! contacts' velocities, in that order.

use super::{SoftBodies, Span};
use crate::materials::MaterialTable;
use loam_storage::VoxelWorld;

/// A read-only view of the arrays a frame of substeps works on, and the
/// frame's inputs.
#[derive(Clone, Debug)]
pub struct Mirror<'a> {
    /// Changes whenever bodies are added: a mirror holding another
    /// generation must take everything again.
    pub generation: u64,
    /// Per body: its positions and velocities (and torn faces) changed on
    /// the CPU since a mirror last had them.
    pub unsent: &'a [bool],
    /// Positions, cells.
    pub x: &'a [[f32; 3]],
    /// Velocities, cells/s.
    pub v: &'a [[f32; 3]],
    /// Inverse masses, 1/kg (0: pinned).
    pub w: &'a [f32],
    /// Per particle: Coulomb friction against the world.
    pub friction: &'a [f32],
    /// Per particle: how fast it takes on the kinetic field's velocity, per second.
    pub drag: &'a [f32],
    /// Per particle, this frame: the kinetic field's velocity, cells/s.
    pub wind: &'a [[f32; 3]],
    /// Per particle, this frame: the density of the liquid it is in over its own.
    pub buoyancy: &'a [f32],
    /// Per particle: its body.
    pub owner: &'a [u32],
    /// Per body: its particles.
    pub bodies: Vec<Span>,
    /// Per body: its face constraints.
    pub body_faces: Vec<Span>,
    /// Per body: asleep (after this frame's `feel`).
    pub sleeping: Vec<bool>,
    /// Per body: damping of its motion relative to its mean, per second.
    pub damping: Vec<f32>,
    /// Per body: its skin faces.
    pub body_skin: Vec<Span>,
    /// Per body: the deepest contact it was in while awake, cells (reset
    /// to 0 for awake bodies as the frame begins): a sleeping body wakes
    /// only under a deeper one.
    pub resting_depth: Vec<f32>,
    /// The skin faces, 4 corner particles each, wound so that their
    /// normals point out of their bodies.
    pub skin: &'a [[u32; 4]],
    /// Per skin face: the joints of its corners (Gram-Schmidt bodies;
    /// `u32::MAX` for the others). See `gram_schmidt::body_volumes`.
    pub skin_joints: &'a [[u32; 4]],
    /// Per joint: where its particles start in `joint_members`.
    pub joint_start: &'a [u32],
    /// The joints' particles.
    pub joint_members: &'a [u32],
    /// Per body: its joints.
    pub body_joints: Vec<Span>,
    /// Per body: its rest volume, cells³.
    pub body_rest_volume: Vec<f32>,
    /// Per distance constraint: its first particle.
    pub distance_a: &'a [u32],
    /// Per distance constraint: its second particle.
    pub distance_b: &'a [u32],
    /// Per distance constraint: rest length, cells.
    pub distance_rest: &'a [f32],
    /// Per distance constraint: XPBD compliance.
    pub distance_compliance: &'a [f32],
    /// Distance constraints by colour.
    pub distance_colours: &'a [Vec<u32>],
    /// Per volume constraint: its 8 corners (x fastest).
    pub volume_corners: &'a [[u32; 8]],
    /// Per volume constraint: rest volume, cells³.
    pub volume_rest: &'a [f32],
    /// Per volume constraint: XPBD compliance.
    pub volume_compliance: &'a [f32],
    /// Volume constraints by colour.
    pub volume_colours: &'a [Vec<u32>],
    /// Per shape constraint: its first corner particle (8 in a row).
    pub shape_first: &'a [u32],
    /// Per shape constraint: rest edge, cells.
    pub shape_edge: &'a [f32],
    /// Per shape constraint: XPBD compliance.
    pub shape_compliance: &'a [f32],
    /// Per face constraint: the 4 particles on its low side.
    pub face_a: &'a [[u32; 4]],
    /// Per face constraint: the 4 coincident particles on its high side.
    pub face_b: &'a [[u32; 4]],
    /// Per face constraint: XPBD compliance.
    pub face_compliance: &'a [f32],
    /// Per face constraint: root-mean-square gap at which it tears, cells.
    pub face_tear: &'a [f32],
    /// Per face constraint: torn.
    pub face_broken: &'a [bool],
    /// Face constraints by colour (no two in a colour share a particle).
    pub face_colours: &'a [Vec<u32>],
}

/// A frame's substeps.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MirrorStep {
    /// Substep length, s.
    pub h: f32,
    /// Substeps.
    pub substeps: u32,
    /// Gravity, cells/s².
    pub gravity: f32,
}

/// Where a mirror writes a frame's results.
#[derive(Debug)]
pub struct MirrorRead<'a> {
    /// Positions, cells.
    pub x: &'a mut [[f32; 3]],
    /// Velocities, cells/s.
    pub v: &'a mut [[f32; 3]],
    /// Per particle: how far collisions with powders pushed it this frame.
    pub pressed: &'a mut [[f32; 3]],
    /// Per face constraint: torn.
    pub face_broken: &'a mut [bool],
    /// Per body: asleep (a contact may have woken it).
    pub sleeping: &'a mut [bool],
    /// Per body: the deepest contact it was in while awake, cells.
    pub resting_depth: &'a mut [f32],
}

/// A copy of soft bodies that another backend steps (see the module docs).
pub trait BodyMirror {
    /// What goes wrong on the other side.
    type Error;

    /// Brings the copy up to `bodies` and runs `step` on it.
    fn step(&mut self, bodies: &Mirror<'_>, step: MirrorStep) -> Result<(), Self::Error>;

    /// Writes the results of the last [`BodyMirror::step`] into `out`, all
    /// of them or, on an error, none. `out` holds the CPU's arrays as they
    /// were sent, with `pressed` zeroed, so a mirror may leave alone the
    /// bodies its substeps did not move.
    fn read(&mut self, out: MirrorRead<'_>) -> Result<(), Self::Error>;
}

impl SoftBodies {
    /// The arrays of every solver, coloured, and this frame's inputs.
    pub fn mirror(&mut self) -> Mirror<'_> {
        self.prepare();
        Mirror {
            generation: self.generation,
            unsent: &self.unsent,
            x: &self.x,
            v: &self.v,
            w: &self.w,
            friction: &self.friction,
            drag: &self.drag,
            wind: &self.wind,
            buoyancy: &self.buoyancy,
            owner: &self.owner,
            bodies: self.bodies.iter().map(|b| b.particles).collect(),
            body_faces: self.bodies.iter().map(|b| b.faces).collect(),
            sleeping: self.bodies.iter().map(|b| b.sleeping).collect(),
            damping: self.bodies.iter().map(|b| b.material.damping).collect(),
            body_skin: self.bodies.iter().map(|b| b.skin).collect(),
            resting_depth: self.bodies.iter().map(|b| b.resting_depth).collect(),
            skin: &self.skin,
            skin_joints: &self.joints.of_skin,
            joint_start: &self.joints.start,
            joint_members: &self.joints.members,
            body_joints: self.bodies.iter().map(|b| b.joints).collect(),
            body_rest_volume: self.bodies.iter().map(|b| b.rest_volume).collect(),
            distance_a: &self.distances.a,
            distance_b: &self.distances.b,
            distance_rest: &self.distances.rest,
            distance_compliance: &self.distances.compliance,
            distance_colours: &self.distance_colours,
            volume_corners: &self.volumes.corners,
            volume_rest: &self.volumes.rest,
            volume_compliance: &self.volumes.compliance,
            volume_colours: &self.volume_colours,
            shape_first: &self.shapes.first,
            shape_edge: &self.shapes.edge,
            shape_compliance: &self.shapes.compliance,
            face_a: &self.faces.a,
            face_b: &self.faces.b,
            face_compliance: &self.faces.compliance,
            face_tear: &self.faces.tear,
            face_broken: &self.faces.broken,
            face_colours: &self.face_colours,
        }
    }

    /// [`SoftBodies::step`] with the substeps run by `mirror`: the CPU
    /// feels the world before them and settles bodies after them. On an
    /// error the bodies keep their positions and velocities (the frame's
    /// field samples and wakes are kept), and the next frame sends the
    /// mirror every body again.
    ///
    /// A mirror takes the masses, materials and constraints when bodies
    /// are added. Between mirrored frames, call [`SoftBodies::touch`] after
    /// writing a body's positions or velocities directly, so the mirror is
    /// sent them.
    ///
    /// ```
    /// use loam_storage::{VoxelWorld, WorldLayout};
    /// use loam_systems::materials::{id, MaterialTable, AMBIENT};
    /// use loam_systems::xpbd::{
    ///     materials, BodyMirror, Environment, Mirror, MirrorRead, MirrorStep, SoftBodies, SoftBox,
    /// };
    ///
    /// /// A mirror whose device is gone.
    /// struct Lost;
    ///
    /// impl BodyMirror for Lost {
    ///     type Error = &'static str;
    ///
    ///     fn step(&mut self, bodies: &Mirror<'_>, _: MirrorStep) -> Result<(), Self::Error> {
    ///         assert!(bodies.unsent.iter().all(|&u| u), "new bodies are all to be sent");
    ///         Err("device lost")
    ///     }
    ///
    ///     fn read(&mut self, _: MirrorRead<'_>) -> Result<(), Self::Error> {
    ///         unreachable!("not after a failed step")
    ///     }
    /// }
    ///
    /// let layout = WorldLayout::new([16, 16, 16], 16).unwrap();
    /// let world = VoxelWorld::new(layout, id::AIR, AMBIENT);
    /// let mut bodies = SoftBodies::default();
    /// bodies.add_box(&SoftBox::new("jelly", [4.0, 8.0, 4.0], [2, 2, 2], materials()[0]), 0.25);
    /// let before = bodies.x.clone();
    /// let env = Environment { dt: 1.0 / 60.0, substeps: 4, gravity: 9.81 / 0.25, voxel_size: 0.25, fields: None };
    /// let table = MaterialTable::default();
    /// assert_eq!(bodies.step_mirrored(&world, &table, &env, &mut Lost), Err("device lost"));
    /// assert_eq!(bodies.x, before, "the bodies keep the last frame");
    /// ```
    pub fn step_mirrored<M: BodyMirror>(
        &mut self,
        world: &VoxelWorld,
        table: &MaterialTable,
        env: &super::Environment<'_>,
        mirror: &mut M,
    ) -> Result<(), M::Error> {
        let (h, substeps) = self.begin_frame(world, table, env);
        let step = MirrorStep {
            h,
            substeps,
            gravity: env.gravity,
        };
        let mut sleeping: Vec<bool> = self.bodies.iter().map(|b| b.sleeping).collect();
        let mut resting: Vec<f32> = self.bodies.iter().map(|b| b.resting_depth).collect();
        let stepped = mirror.step(&self.mirror(), step);
        let read = stepped.and_then(|()| {
            mirror.read(MirrorRead {
                x: &mut self.x,
                v: &mut self.v,
                pressed: &mut self.pressed,
                face_broken: &mut self.faces.broken,
                sleeping: &mut sleeping,
                resting_depth: &mut resting,
            })
        });
        if read.is_err() {
            self.unsent.fill(true);
            return read;
        }
        for (body, depth) in self.bodies.iter_mut().zip(resting) {
            body.resting_depth = depth;
        }
        self.unsent.fill(false);
        for (b, asleep) in sleeping.into_iter().enumerate() {
            if self.bodies[b].sleeping && !asleep {
                self.wake(b);
            }
        }
        for b in self.settle() {
            // Its velocities were zeroed.
            self.unsent[b] = true;
        }
        Ok(())
    }

    /// Marks body `b`'s positions and velocities changed by the caller, so
    /// a mirror is sent them again.
    pub fn touch(&mut self, b: usize) {
        self.unsent[b] = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::{FieldConfig, Fields};
    use crate::materials::{id, AMBIENT};
    use crate::xpbd::collide;
    use crate::xpbd::{materials, Environment, SoftBox, Solver};
    use loam_storage::WorldLayout;

    /// A mirror in host memory: a copy of the bodies that takes what a
    /// mirror is sent and runs the CPU's substeps. It fails the frames
    /// in `fail`.
    struct HostMirror<'w> {
        copy: SoftBodies,
        world: &'w VoxelWorld,
        generation: Option<u64>,
        /// Particles sent after the first frame.
        sent: usize,
        frame: u32,
        fail: Vec<u32>,
    }

    impl BodyMirror for HostMirror<'_> {
        type Error = String;

        fn step(&mut self, b: &Mirror<'_>, step: MirrorStep) -> Result<(), String> {
            let c = &mut self.copy;
            assert_eq!(self.generation.unwrap_or(b.generation), b.generation);
            for (k, body) in c.bodies.iter_mut().enumerate() {
                let (lo, hi) = body.particles;
                if b.unsent[k] || self.generation.is_none() {
                    c.x[lo..hi].copy_from_slice(&b.x[lo..hi]);
                    c.v[lo..hi].copy_from_slice(&b.v[lo..hi]);
                    let (flo, fhi) = body.faces;
                    c.faces.broken[flo..fhi].copy_from_slice(&b.face_broken[flo..fhi]);
                    if self.generation.is_some() {
                        self.sent += hi - lo;
                    }
                }
                body.sleeping = b.sleeping[k];
                body.resting_depth = b.resting_depth[k];
                c.asleep[lo..hi].fill(b.sleeping[k]);
            }
            self.generation = Some(b.generation);
            c.wind.copy_from_slice(b.wind);
            c.buoyancy.copy_from_slice(b.buoyancy);
            c.pressed.fill([0.0; 3]);
            c.free.fill(collide::NO_CELL);
            c.substeps(
                self.world,
                &MaterialTable::default(),
                step.h,
                step.substeps,
                step.gravity,
            );
            Ok(())
        }

        fn read(&mut self, out: MirrorRead<'_>) -> Result<(), String> {
            self.frame += 1;
            if self.fail.contains(&self.frame) {
                // The copy stepped, but the results are lost.
                return Err("lost".into());
            }
            let c = &self.copy;
            out.x.copy_from_slice(&c.x);
            out.v.copy_from_slice(&c.v);
            out.pressed.copy_from_slice(&c.pressed);
            out.face_broken.copy_from_slice(&c.faces.broken);
            for ((s, r), body) in out
                .sleeping
                .iter_mut()
                .zip(out.resting_depth.iter_mut())
                .zip(&c.bodies)
            {
                *s = body.sleeping;
                *r = body.resting_depth;
            }
            Ok(())
        }
    }

    /// A stone floor, a sleeping-prone slab, a jelly that falls onto it
    /// late, and a cube on sand.
    fn scene() -> (VoxelWorld, SoftBodies) {
        let layout = WorldLayout::new([32, 32, 32], 16).expect("a valid layout");
        let mut world = VoxelWorld::new(layout, id::AIR, AMBIENT);
        for x in 0..32 {
            for z in 0..32 {
                world.set_cell([x, 0, z], id::STONE, AMBIENT);
                let m = if x >= 20 { id::SAND } else { id::STONE };
                world.set_cell([x, 1, z], m, AMBIENT);
            }
        }
        let [jelly, rubber, _] = materials();
        let mut bodies = SoftBodies::default();
        for b in [
            SoftBox {
                solver: Solver::Volume,
                ..SoftBox::new("slab", [4.0, 2.0, 4.0], [4, 2, 4], rubber)
            },
            SoftBox::new("falling", [5.0, 24.0, 5.0], [2, 2, 2], jelly),
            SoftBox {
                velocity: [0.0, -10.0, 0.0],
                ..SoftBox::new("cube", [24.0, 5.0, 10.0], [2, 2, 2], jelly)
            },
        ] {
            bodies.add_box(&b, 0.25);
        }
        (world, bodies)
    }

    /// What [`run`] saw.
    struct Run {
        cpu: SoftBodies,
        mirrored: SoftBodies,
        /// Particles the mirror was sent after its first frame.
        sent: usize,
        /// Frames in which a particle pressed into the sand.
        pressed: u32,
        /// Frames in which body 0 slept, and times it woke.
        slept: u32,
        woke: u32,
    }

    /// Runs `frames` frames on the CPU and on a host mirror failing the
    /// frames in `fail`, comparing them frame by frame.
    fn run(frames: u32, fail: Vec<u32>) -> Run {
        let (world, mut cpu) = scene();
        let mut mirrored = cpu.clone();
        let mut copy = cpu.clone();
        copy.prepare();
        let mut mirror = HostMirror {
            copy,
            world: &world,
            generation: None,
            sent: 0,
            frame: 0,
            fail,
        };
        let mut fields = Fields::new(FieldConfig::default());
        let table = MaterialTable::default();
        let (mut pressed, mut slept, mut woke) = (0, 0, 0);
        for frame in 0..frames {
            let asleep = cpu.bodies[0].sleeping;
            if frame == 10 {
                fields.add_explosion([28.0, 4.0, 10.0], 6.0, 1.0e4, 0.0);
            }
            let env = Environment {
                dt: 1.0 / 60.0,
                substeps: 4,
                gravity: 9.81 / 0.25,
                voxel_size: 0.25,
                fields: Some(&fields),
            };
            let result = mirrored.step_mirrored(&world, &table, &env, &mut mirror);
            assert_eq!(result.is_err(), mirror.fail.contains(&(frame + 1)));
            if result.is_ok() {
                cpu.step(&world, &table, &env);
            } else {
                // The frame is lost: the bodies keep the last one's state.
                cpu.pressed.fill([0.0; 3]);
            }
            fields.step(1.0 / 60.0);
            assert_eq!(cpu.x, mirrored.x, "frame {frame}");
            assert_eq!(cpu.v, mirrored.v, "frame {frame}");
            assert_eq!(cpu.pressed, mirrored.pressed, "frame {frame}");
            let sleeping = |b: &SoftBodies| b.bodies.iter().map(|b| b.sleeping).collect::<Vec<_>>();
            assert_eq!(sleeping(&cpu), sleeping(&mirrored), "frame {frame}");
            pressed += u32::from(cpu.pressed.iter().any(|p| *p != [0.0; 3]));
            slept += u32::from(cpu.bodies[0].sleeping);
            woke += u32::from(asleep && !cpu.bodies[0].sleeping);
        }
        Run {
            cpu,
            mirrored,
            sent: mirror.sent,
            pressed,
            slept,
            woke,
        }
    }

    #[test]
    fn mirrored_frames_are_the_cpus_bit_for_bit_and_only_settled_bodies_are_sent_again() {
        let run = run(150, Vec::new());
        assert!(run.pressed > 0, "the cube pressed into the sand");
        assert!(
            run.slept > 0 && run.woke > 0,
            "the slab slept {} frames, woke {} times",
            run.slept,
            run.woke
        );
        // Bodies that fell asleep were sent once (their velocities zeroed).
        assert!(
            run.sent > 0 && run.sent < run.cpu.x.len() * 2,
            "{} particles sent",
            run.sent
        );
        assert_eq!(run.cpu.x, run.mirrored.x);
    }

    #[test]
    fn after_a_failed_frame_every_body_is_sent_again_and_the_runs_agree() {
        let run = run(60, vec![30]);
        assert!(
            run.sent >= run.cpu.x.len(),
            "every particle sent again: {}",
            run.sent
        );
    }
}
