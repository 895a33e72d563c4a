//! Taking a body out while the others go on: the others are built again
//! from what they were built from, in order, and carry over their motion,
//! sleep and torn faces, so nothing of them changes but their indices.

use super::{SoftBodies, SoftBox};

impl SoftBodies {
    /// The index of the body added with `tag` ([`SoftBodies::add_tagged`]).
    pub fn tagged(&self, tag: u64) -> Option<usize> {
        self.bodies.iter().position(|b| b.tag == Some(tag))
    }

    /// Removes body `b`; the bodies after it move down an index. Does
    /// nothing for an index past the last body.
    pub fn remove(&mut self, b: usize) {
        if b >= self.bodies.len() {
            return;
        }
        let keep: Vec<usize> = (0..self.bodies.len()).filter(|&k| k != b).collect();
        let mut fresh = Self::built_from(
            keep.iter().map(|&k| {
                let body = &self.bodies[k];
                (&body.spec.0, body.spec.1, body.tag)
            }),
            self.no_sleep,
        );
        for (n, &k) in keep.iter().enumerate() {
            let (old, new) = (&self.bodies[k], &mut fresh.bodies[n]);
            let (from, to) = (old.particles, new.particles.0);
            let len = from.1 - from.0;
            fresh.x[to..to + len].copy_from_slice(&self.x[from.0..from.1]);
            fresh.prev[to..to + len].copy_from_slice(&self.prev[from.0..from.1]);
            fresh.v[to..to + len].copy_from_slice(&self.v[from.0..from.1]);
            fresh.asleep[to..to + len].copy_from_slice(&self.asleep[from.0..from.1]);
            let (from, to) = (old.faces, new.faces.0);
            fresh.faces.broken[to..to + from.1 - from.0]
                .copy_from_slice(&self.faces.broken[from.0..from.1]);
            new.sleeping = old.sleeping;
            new.still_frames = old.still_frames;
            new.pressure_written = old.pressure_written;
            new.resting_depth = old.resting_depth;
        }
        // What a frame measures (wind, buoyancy, what pressed on each
        // particle, the free cells) it measures again at its start.
        *self = fresh;
    }

    /// Bodies built from `(spec, voxel size, tag)`, in order, at rest.
    pub(crate) fn built_from<'a>(
        specs: impl Iterator<Item = (&'a SoftBox, f32, Option<u64>)>,
        no_sleep: bool,
    ) -> Self {
        let mut bodies = SoftBodies {
            no_sleep,
            ..SoftBodies::default()
        };
        for (spec, voxel_size_m, tag) in specs {
            bodies.add_tagged(spec, voxel_size_m, tag);
        }
        bodies
    }
}
