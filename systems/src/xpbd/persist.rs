//! Soft bodies as part of a run's saved state (see
//! [`loam_runtime::state`]): what moves and what breaks. Their structure
//! (particles' masses, constraints, skins, colours) is built again from
//! the same bodies, and checked to match.

use loam_runtime::Persistent;
use serde::{Deserialize, Serialize};

use super::SoftBodies;

/// The soft bodies' saved motion, sleep and tears.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SavedBodies {
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
        let n = self.x.len();
        // The per-frame arrays may be sized lazily; those that last a
        // body's life are not.
        let per_particle = [
            saved.x.len(),
            saved.prev.len(),
            saved.v.len(),
            saved.asleep.len(),
        ];
        if per_particle.iter().any(|&len| len != n)
            || saved.bodies.len() != self.bodies.len()
            || saved.broken.len() != self.faces.broken.len()
        {
            return Err(format!(
                "it saved {} bodies of {} particles and {} faces, this runtime has {} of {n} \
                 and {}: the scenario's soft bodies changed",
                saved.bodies.len(),
                saved.x.len(),
                saved.broken.len(),
                self.bodies.len(),
                self.faces.broken.len()
            ));
        }
        self.x = saved.x;
        self.prev = saved.prev;
        self.v = saved.v;
        self.asleep = saved.asleep;
        self.wind = saved.wind;
        self.buoyancy = saved.buoyancy;
        self.pressed = saved.pressed;
        self.free = saved.free;
        for (body, (sleeping, still, pressure, depth)) in self.bodies.iter_mut().zip(saved.bodies) {
            body.sleeping = sleeping;
            body.still_frames = still;
            body.pressure_written = pressure;
            body.resting_depth = depth;
        }
        self.faces.broken = saved.broken;
        // Everything changed for a mirror.
        self.unsent.fill(true);
        Ok(())
    }
}
