//! Reading the fields: a field cell, a trilinear sample at a point, and
//! the net force and torque over a box.

use super::{field_cell, split, Fields, Sample};

impl Fields {
    /// The value of field cell `c`, zero where nothing was written.
    pub fn cell(&self, c: [i32; 3]) -> Sample {
        let (b, l) = split(c);
        self.index
            .get(&b)
            .map_or(Sample::default(), |&k| self.sample_at(k, l))
    }

    /// The fields at voxel-space point `p`, trilinear between field-cell centres.
    pub fn sample(&self, p: [f32; 3]) -> Sample {
        let cell = self.config.cell as f32;
        let g = p.map(|v| v / cell - 0.5);
        let base = g.map(|v| v.floor() as i32);
        let f = [0, 1, 2].map(|a| g[a] - base[a] as f32);
        let mut out = Sample::default();
        for corner in 0..8 {
            let d = [corner & 1, (corner >> 1) & 1, (corner >> 2) & 1];
            let w: f32 = (0..3)
                .map(|a| if d[a] == 1 { f[a] } else { 1.0 - f[a] })
                .product();
            if w == 0.0 {
                continue;
            }
            let s = self.cell([0, 1, 2].map(|a| base[a] + d[a]));
            out.pressure += w * s.pressure;
            out.thermal += w * s.thermal;
            for (o, k) in out.kinetic.iter_mut().zip(s.kinetic) {
                *o += w * k;
            }
        }
        out
    }

    /// Net force (the sum of kinetic values × field-cell volume in voxels)
    /// and torque about `about` over the field cells whose centres lie in
    /// the voxel box `[min, max)`.
    pub fn net_force(&self, min: [f32; 3], max: [f32; 3], about: [f32; 3]) -> ([f32; 3], [f32; 3]) {
        let cell = self.config.cell as f32;
        let volume = cell * cell * cell;
        let lo = field_cell(min, self.config.cell);
        let hi = field_cell(max, self.config.cell);
        let (mut force, mut torque) = ([0.0f32; 3], [0.0f32; 3]);
        for z in lo[2]..=hi[2] {
            for y in lo[1]..=hi[1] {
                for x in lo[0]..=hi[0] {
                    let c = [x, y, z];
                    let centre = c.map(|v| (v as f32 + 0.5) * cell);
                    if (0..3).any(|a| centre[a] < min[a] || centre[a] >= max[a]) {
                        continue;
                    }
                    let f = self.cell(c).kinetic.map(|v| v * volume);
                    let r = [0, 1, 2].map(|a| centre[a] - about[a]);
                    for a in 0..3 {
                        force[a] += f[a];
                    }
                    torque[0] += r[1] * f[2] - r[2] * f[1];
                    torque[1] += r[2] * f[0] - r[0] * f[2];
                    torque[2] += r[0] * f[1] - r[1] * f[0];
                }
            }
        }
        (force, torque)
    }
}
