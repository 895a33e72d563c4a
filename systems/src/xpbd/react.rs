//! What the world feels of soft bodies.
//!
//! - A particle moving through a liquid writes the dynamic pressure ½ρv²
//!   of its motion into the pressure field, and a share of its velocity
//!   (by volume), turned into a splash — up and out, carrying its sideways
//!   motion — into the kinetic field. The coupling pass
//!   (`fields::couple`) then throws the water in its way, as it does for
//!   a blast.
//! - A particle pressing into a powder finds the pressure of its push over
//!   the frame, m·|push| / (h·dt) over a cell face: a body resting on sand
//!   presses with its weight, a landing one much harder. Pressures above
//!   the grains' strength (an impact) go into the pressure field. The
//!   grains are not thrown: moved from under a body they would land in it
//!   and feed back into its collisions.
//!
//! Field cells take the largest pressure of the particles in them.

use loam_storage::VoxelWorld;

use super::{collide, Environment, SoftBodies};
use crate::fields::{Fields, Scalar};
use crate::materials::{Kind, MaterialTable};

impl SoftBodies {
    /// Writes this frame's reactions of every awake particle into `fields`
    /// (after [`SoftBodies::step`] with the same `env`). Each body remembers
    /// the largest pressure it wrote: a pressure no larger cannot wake it
    /// once it sleeps, so a body whose own weight bears on sand (more than
    /// the grains' strength, for a heavy body) is not woken by it.
    pub fn push_fields(
        &mut self,
        fields: &mut Fields,
        world: &VoxelWorld,
        table: &MaterialTable,
        env: &Environment<'_>,
    ) {
        let vs = env.voxel_size;
        let h = env.dt / env.substeps.max(1) as f32;
        let cell_m3 = (fields.config().cell as f32 * vs).powi(3);
        for body in self.bodies.iter_mut().filter(|b| !b.sleeping) {
            body.pressure_written = 0.0;
            let density = body.material.density;
            for p in body.particles.0..body.particles.1 {
                if self.w[p] == 0.0 {
                    continue;
                }
                let mass = 1.0 / self.w[p];
                let pressed = self.pressed[p];
                // The pressure on what is in the way, and the velocity the
                // particle drove into it with, m/s.
                if pressed != [0.0; 3] {
                    // The grains pressed are half a cell back along the
                    // push. They feel the pressure, but are not thrown:
                    // grains moved from under a body land in it and feed
                    // back into its collisions.
                    let push = pressed.iter().map(|c| c * c).sum::<f32>().sqrt();
                    let pressure = mass * push * vs / (h * env.dt) / (vs * vs);
                    let at = [0, 1, 2].map(|a| self.x[p][a] - 0.5 * pressed[a] / push);
                    // Only an impact the grains' strength does not bear is
                    // written: a body resting on sand costs the fields
                    // nothing.
                    if collide::material_at(world, at)
                        .is_some_and(|m| pressure >= table.strength[m as usize])
                    {
                        fields.raise_scalar(Scalar::Pressure, at, pressure);
                        body.pressure_written = body.pressure_written.max(pressure);
                    }
                    continue;
                }
                let Some(m) = collide::material_at(world, self.x[p])
                    .filter(|&m| table.kind[m as usize] == Kind::Liquid)
                else {
                    continue;
                };
                // A liquid goes where there is room: up and out, a splash
                // carrying the sideways motion. The body does not feel it:
                // particles in a liquid feel no air drag.
                let v = self.v[p].map(|c| c * vs);
                let v2 = v.iter().map(|c| c * c).sum::<f32>();
                let splash = [v[0], v2.sqrt(), v[2]];
                let share = mass / density / cell_m3;
                fields.raise_scalar(
                    Scalar::Pressure,
                    self.x[p],
                    0.5 * table.density[m as usize] * v2,
                );
                fields.add_force(self.x[p], splash.map(|c| c * share));
            }
        }
    }
}
