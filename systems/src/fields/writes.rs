//! Writing into the fields: forces, scalars, blasts, and boxes held at a
//! value. Writers accumulate; each creates the bricks it touches.

use super::{field_cell, Channels, Fields, Scalar, PRESSURE, THERMAL};

impl Fields {
    /// Adds `force` (m/s) to the kinetic field at voxel-space point `p`.
    pub fn add_force(&mut self, p: [f32; 3], force: [f32; 3]) {
        let Some((k, l)) = self.held_cell_mut(p) else {
            return;
        };
        for (a, f) in force.into_iter().enumerate() {
            self.channels[a][k][l] += f;
        }
    }

    /// Adds `value` to a scalar field at voxel-space point `p`.
    pub fn add_scalar(&mut self, field: Scalar, p: [f32; 3], value: f32) {
        let Some((k, l)) = self.held_cell_mut(p) else {
            return;
        };
        self.channels[field.channel()][k][l] += value;
    }

    /// Sets a scalar field at `p` to at least `value`.
    pub fn raise_scalar(&mut self, field: Scalar, p: [f32; 3], value: f32) {
        let Some((k, l)) = self.held_cell_mut(p) else {
            return;
        };
        let v = &mut self.channels[field.channel()][k][l];
        *v = v.max(value);
    }

    /// The (brick, cell) indices of the field cell holding voxel-space
    /// point `p`, its brick allocated if absent, to be written; `None`
    /// where the fields may hold nothing there.
    fn held_cell_mut(&mut self, p: [f32; 3]) -> Option<(usize, usize)> {
        let c = field_cell(p, self.config.cell);
        self.holds_cell(c).then(|| self.cell_mut(c))
    }

    /// The field cells (as voxel-space centres and cell coordinates) whose
    /// centres lie within `radius` voxels of `center`, and which may hold
    /// values.
    fn cells_in_sphere(&self, center: [f32; 3], radius: f32) -> Vec<([i32; 3], [f32; 3], f32)> {
        let cell = self.config.cell as f32;
        let (lo, hi) = self.clip(
            field_cell(center.map(|v| v - radius), self.config.cell),
            field_cell(center.map(|v| v + radius), self.config.cell),
        );
        let mut out = Vec::new();
        for z in lo[2]..=hi[2] {
            for y in lo[1]..=hi[1] {
                for x in lo[0]..=hi[0] {
                    let c = [x, y, z];
                    let centre = c.map(|v| (v as f32 + 0.5) * cell);
                    let r = (0..3)
                        .map(|a| (centre[a] - center[a]).powi(2))
                        .sum::<f32>()
                        .sqrt();
                    if r <= radius {
                        out.push((c, centre, r));
                    }
                }
            }
        }
        out
    }

    /// A blast: overpressure `peak` (Pa) at `center` falling as (1 − r/R)²
    /// to nothing at `radius` voxels, an outward kinetic impulse (the
    /// acoustic particle velocity Δp / (ρ_air·c), m/s), and `heat` K of
    /// thermal excess falling the same way.
    pub fn add_explosion(&mut self, center: [f32; 3], radius: f32, peak: f32, heat: f32) {
        const AIR_IMPEDANCE: f32 = 1.2 * 343.0;
        if !(radius.is_finite() && radius > 0.0) || center.iter().any(|c| !c.is_finite()) {
            return;
        }
        for (c, centre, r) in self.cells_in_sphere(center, radius) {
            let fall = 1.0 - r / radius;
            let p = peak * fall * fall;
            let dir = if r > 1e-3 {
                [0, 1, 2].map(|a| (centre[a] - center[a]) / r)
            } else {
                [0.0, 1.0, 0.0]
            };
            let speed = p / AIR_IMPEDANCE;
            let (k, l) = self.cell_mut(c);
            let ch = &mut self.channels;
            ch[PRESSURE][k][l] += p;
            ch[THERMAL][k][l] += heat * fall * fall;
            for (a, d) in dir.into_iter().enumerate() {
                ch[a][k][l] += d * speed;
            }
        }
    }

    /// Calls `set(channels, brick, cell)` for every field cell covering
    /// the voxel box `[min, max)`, allocating bricks as needed.
    fn each_cell_in_box(
        &mut self,
        min: [u32; 3],
        max: [u32; 3],
        mut set: impl FnMut(&mut Channels, usize, usize),
    ) {
        let cell = self.config.cell;
        let (lo, hi) = self.clip(
            min.map(|v| cell_index(v / cell)),
            max.map(|v| cell_index(v.div_ceil(cell)) - 1),
        );
        for z in lo[2]..=hi[2] {
            for y in lo[1]..=hi[1] {
                for x in lo[0]..=hi[0] {
                    let (k, l) = self.cell_mut([x, y, z]);
                    set(&mut self.channels, k, l);
                }
            }
        }
    }

    /// Sets the kinetic field of the field cells covering the voxel box
    /// `[min, max)` to `velocity` (m/s): a wind.
    pub fn set_wind(&mut self, min: [u32; 3], max: [u32; 3], velocity: [f32; 3]) {
        self.each_cell_in_box(min, max, |ch, k, l| {
            for (a, v) in velocity.into_iter().enumerate() {
                ch[a][k][l] = v;
            }
        });
    }

    /// Sets a scalar field to `value` in the field cells covering the voxel
    /// box `[min, max)`.
    pub fn set_scalar_box(&mut self, field: Scalar, min: [u32; 3], max: [u32; 3], value: f32) {
        self.each_cell_in_box(min, max, |ch, k, l| ch[field.channel()][k][l] = value);
    }
}

/// A field cell index along an axis, saturating: no world is that large.
fn cell_index(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}
