//! Soft bodies as part of a run's saved state (see
//! [`loam_runtime::state`]): what each body was built from, and what moves
//! and what breaks. Their structure (particles' masses, constraints,
//! skins, colours) is built again from the saved bodies, so bodies added
//! or removed during the run restore too.

use loam_runtime::Persistent;
use serde::{Deserialize, Serialize};

use super::{SoftBodies, SoftBox};

/// The soft bodies' saved specs, motion, sleep and tears.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SavedBodies {
    /// Per body: what it was built from, the cell size, its tag.
    specs: Vec<(SoftBox, f32, Option<u64>)>,
    x: Vec<[f32; 3]>,
    prev: Vec<[f32; 3]>,
    v: Vec<[f32; 3]>,
    asleep: Vec<bool>,
    wind: Vec<[f32; 3]>,
    buoyancy: Vec<f32>,
    pressed: Vec<[f32; 3]>,
    free: Vec<[i32; 3]>,
    /// Per body: sleeping, frames still, pressure written, resting depth.
    bodies: Vec<(bool, u32, f32, f32)>,
    broken: Vec<bool>,
}

impl Persistent for SoftBodies {
    type Saved = SavedBodies;

    fn save(&self) -> SavedBodies {
        SavedBodies {
            specs: self
                .bodies
                .iter()
                .map(|b| (b.spec.0.clone(), b.spec.1, b.tag))
                .collect(),
            x: self.x.clone(),
            prev: self.prev.clone(),
            v: self.v.clone(),
            asleep: self.asleep.clone(),
            wind: self.wind.clone(),
            buoyancy: self.buoyancy.clone(),
            pressed: self.pressed.clone(),
            free: self.free.clone(),
            bodies: self
                .bodies
                .iter()
                .map(|b| {
                    (
                        b.sleeping,
                        b.still_frames,
                        b.pressure_written,
                        b.resting_depth,
                    )
                })
                .collect(),
            broken: self.faces.broken.clone(),
        }
    }

    fn restore(&mut self, saved: SavedBodies) -> Result<(), String> {
        let mut fresh = SoftBodies::built_from(
            saved
                .specs
                .iter()
                .map(|(spec, size, tag)| (spec, *size, *tag)),
            self.no_sleep,
        );
        let n = fresh.x.len();
        // The per-frame arrays may be sized lazily; those that last a
        // body's life are not.
        let per_particle = [
            saved.x.len(),
            saved.prev.len(),
            saved.v.len(),
            saved.asleep.len(),
        ];
        if per_particle.iter().any(|&len| len != n)
            || saved.bodies.len() != fresh.bodies.len()
            || saved.broken.len() != fresh.faces.broken.len()
        {
            return Err(format!(
                "it saved {} bodies of {} particles and {} faces, which build {} of {n} \
                 and {}: the soft bodies' build changed",
                saved.bodies.len(),
                saved.x.len(),
                saved.broken.len(),
                fresh.bodies.len(),
                fresh.faces.broken.len()
            ));
        }
        fresh.x = saved.x;
        fresh.prev = saved.prev;
        fresh.v = saved.v;
        fresh.asleep = saved.asleep;
        fresh.wind = saved.wind;
        fresh.buoyancy = saved.buoyancy;
        fresh.pressed = saved.pressed;
        fresh.free = saved.free;
        for (body, (sleeping, still, pressure, depth)) in fresh.bodies.iter_mut().zip(saved.bodies)
        {
            body.sleeping = sleeping;
            body.still_frames = still;
            body.pressure_written = pressure;
            body.resting_depth = depth;
        }
        fresh.faces.broken = saved.broken;
        // Everything changed for a mirror.
        fresh.unsent.fill(true);
        *self = fresh;
        Ok(())
    }
}
