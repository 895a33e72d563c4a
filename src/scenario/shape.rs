//! Shapes that fills, commands and emitters cover, and how they visit cells.

use loam_runtime::random::hash3;

/// A region of cells.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Shape {
    /// Cells with `min <= p < max` on every axis.
    Box {
        /// Inclusive lower corner.
        min: [i64; 3],
        /// Exclusive upper corner.
        max: [i64; 3],
    },
    /// Cells whose centre lies within `radius` of `center`.
    Sphere {
        /// Centre, in cells.
        center: [f64; 3],
        /// Radius, in cells.
        radius: f64,
    },
    /// Every column filled from y = 0 up to a seeded height field.
    NoiseTerrain {
        /// Lowest and highest surface height.
        height: [i64; 2],
        /// Horizontal feature size, in cells.
        scale: f64,
        /// Optional top layer: material and depth.
        surface: Option<(u8, u32)>,
    },
}

impl Shape {
    /// Checks the shape against a world of `size`: boxes inside the world,
    /// sphere centres inside with a sane radius, terrain within the height.
    pub fn check(&self, size: [u32; 3]) -> Result<(), String> {
        let inside = |v: i64, a: usize| (0..i64::from(size[a])).contains(&v);
        match *self {
            Shape::Box { min, max } => {
                if (0..3)
                    .all(|a| inside(min[a], a) && min[a] < max[a] && max[a] <= i64::from(size[a]))
                {
                    Ok(())
                } else {
                    Err(format!(
                        "box {min:?}..{max:?} is empty or leaves the world {size:?}"
                    ))
                }
            }
            Shape::Sphere { center, radius } => {
                let centred = (0..3).all(|a| {
                    center[a].is_finite() && center[a] >= 0.0 && center[a] < f64::from(size[a])
                });
                if centred
                    && radius.is_finite()
                    && radius > 0.0
                    && radius <= super::limits::MAX_RADIUS
                {
                    Ok(())
                } else {
                    Err(format!("sphere at {center:?} with radius {radius} is outside the world {size:?} or too large"))
                }
            }
            Shape::NoiseTerrain { height, scale, .. } => {
                if 0 <= height[0]
                    && height[0] <= height[1]
                    && height[1] <= i64::from(size[1])
                    && scale.is_finite()
                    && scale >= 1.0
                {
                    Ok(())
                } else {
                    Err(format!("terrain heights {height:?} (world height {}) or scale {scale} out of range", size[1]))
                }
            }
        }
    }

    /// The cells' bounding box, `[min, max)`, clipped to a world of `size`.
    pub fn bounds(&self, size: [u32; 3]) -> ([i64; 3], [i64; 3]) {
        let (min, max) = match *self {
            Shape::Box { min, max } => (min, max),
            Shape::Sphere { center, radius } => (
                center.map(|c| (c - radius).floor() as i64),
                center.map(|c| (c + radius).ceil() as i64 + 1),
            ),
            Shape::NoiseTerrain { height, .. } => (
                [0, 0, 0],
                [i64::from(size[0]), height[1] + 1, i64::from(size[2])],
            ),
        };
        let clip = |v: i64, a: usize| v.clamp(0, i64::from(size[a]));
        (
            [clip(min[0], 0), clip(min[1], 1), clip(min[2], 2)],
            [clip(max[0], 0), clip(max[1], 1), clip(max[2], 2)],
        )
    }

    /// Whether any cell of the shape lies inside a world of `size`.
    pub fn intersects(&self, size: [u32; 3]) -> bool {
        let (min, max) = self.bounds(size);
        (0..3).all(|a| min[a] < max[a])
    }

    /// Calls `visit(cell, depth_below_surface)` for every cell of the shape
    /// inside a world of `size`. `depth` is 0 except for terrain, where it is
    /// the distance from the column's top cell.
    pub fn for_each_cell(&self, size: [u32; 3], seed: u64, visit: impl FnMut([u32; 3], u32)) {
        let world = size.map(i64::from);
        self.for_each_cell_in(size, seed, ([0; 3], world), visit);
    }

    /// [`Shape::for_each_cell`] for the cells inside `clip` (`[min, max)`)
    /// only: generating one page visits that page's cells, not the shape's.
    pub fn for_each_cell_in(
        &self,
        size: [u32; 3],
        seed: u64,
        clip: ([i64; 3], [i64; 3]),
        mut visit: impl FnMut([u32; 3], u32),
    ) {
        let (mut min, mut max) = self.bounds(size);
        for a in 0..3 {
            min[a] = min[a].max(clip.0[a]);
            max[a] = max[a].min(clip.1[a]);
        }
        match *self {
            Shape::Box { .. } => {
                for z in min[2]..max[2] {
                    for y in min[1]..max[1] {
                        for x in min[0]..max[0] {
                            visit([x as u32, y as u32, z as u32], 0);
                        }
                    }
                }
            }
            Shape::Sphere { center, radius } => {
                let r2 = radius * radius;
                for z in min[2]..max[2] {
                    for y in min[1]..max[1] {
                        for x in min[0]..max[0] {
                            let d = [
                                x as f64 + 0.5 - center[0],
                                y as f64 + 0.5 - center[1],
                                z as f64 + 0.5 - center[2],
                            ];
                            if d[0] * d[0] + d[1] * d[1] + d[2] * d[2] <= r2 {
                                visit([x as u32, y as u32, z as u32], 0);
                            }
                        }
                    }
                }
            }
            Shape::NoiseTerrain { height, scale, .. } => {
                for z in min[2]..max[2] {
                    for x in min[0]..max[0] {
                        let top = terrain_top(height, scale, size, seed, x, z);
                        for y in min[1]..top.min(max[1]) {
                            visit([x as u32, y as u32, z as u32], (top - 1 - y) as u32);
                        }
                    }
                }
            }
        }
    }
}

/// The height of a noise terrain's column `(x, z)` (its cells are
/// `0..top`), in a world of `size`.
#[inline]
pub(crate) fn terrain_top(
    height: [i64; 2],
    scale: f64,
    size: [u32; 3],
    seed: u64,
    x: i64,
    z: i64,
) -> i64 {
    let n = fractal_noise(x as f64 / scale, z as f64 / scale, seed);
    let top = height[0] as f64 + (height[1] - height[0]) as f64 * n;
    (top.round() as i64).clamp(0, i64::from(size[1]))
}

/// Value noise at lattice point (i, j) in `[0, 1)`.
fn lattice(i: i64, j: i64, octave: u64, seed: u64) -> f64 {
    let id =
        (i as u64).wrapping_mul(0x9E37_79B9) ^ (j as u64).wrapping_mul(0x85EB_CA6B).rotate_left(32);
    (hash3(seed, octave, id) >> 11) as f64 / (1u64 << 53) as f64
}

/// Smoothly interpolated value noise.
fn value_noise(x: f64, z: f64, octave: u64, seed: u64) -> f64 {
    let (i, j) = (x.floor() as i64, z.floor() as i64);
    let (fx, fz) = (x - x.floor(), z - z.floor());
    let s = |t: f64| t * t * (3.0 - 2.0 * t);
    let (sx, sz) = (s(fx), s(fz));
    let a = lattice(i, j, octave, seed) * (1.0 - sx) + lattice(i + 1, j, octave, seed) * sx;
    let b = lattice(i, j + 1, octave, seed) * (1.0 - sx) + lattice(i + 1, j + 1, octave, seed) * sx;
    a * (1.0 - sz) + b * sz
}

/// Four octaves of value noise, normalised to `[0, 1]`.
pub fn fractal_noise(x: f64, z: f64, seed: u64) -> f64 {
    let (mut sum, mut amp, mut freq, mut norm) = (0.0, 1.0, 1.0, 0.0);
    for octave in 0..4 {
        sum += amp * value_noise(x * freq, z * freq, octave, seed);
        norm += amp;
        amp *= 0.5;
        freq *= 2.0;
    }
    sum / norm
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_visits_exactly_its_cells_clipped_to_the_world() {
        let s = Shape::Box {
            min: [-2, 0, 0],
            max: [3, 2, 1],
        };
        let mut n = 0;
        s.for_each_cell([8, 8, 8], 0, |_, _| n += 1);
        assert_eq!(n, 3 * 2);
    }

    #[test]
    fn clipped_visits_are_the_whole_visit_cut_into_boxes() {
        let shapes = [
            Shape::Sphere {
                center: [13.0, 9.0, 20.0],
                radius: 7.5,
            },
            Shape::NoiseTerrain {
                height: [3, 14],
                scale: 6.0,
                surface: None,
            },
        ];
        for s in shapes {
            let mut whole = Vec::new();
            s.for_each_cell([32, 16, 32], 9, |p, d| whole.push((p, d)));
            let mut cut = Vec::new();
            for z in (0..32).step_by(8) {
                for y in (0..16).step_by(8) {
                    for x in (0..32).step_by(8) {
                        let clip = ([x, y, z], [x + 8, y + 8, z + 8]);
                        s.for_each_cell_in([32, 16, 32], 9, clip, |p, d| cut.push((p, d)));
                    }
                }
            }
            whole.sort_unstable();
            cut.sort_unstable();
            assert_eq!(whole, cut);
        }
    }

    #[test]
    fn sphere_volume_is_close_to_four_thirds_pi_r_cubed() {
        let s = Shape::Sphere {
            center: [32.0, 32.0, 32.0],
            radius: 10.0,
        };
        let mut n = 0.0;
        s.for_each_cell([64; 3], 0, |_, _| n += 1.0);
        let v = 4.0 / 3.0 * std::f64::consts::PI * 1000.0;
        assert!((n - v).abs() / v < 0.02, "{n} vs {v}");
    }

    #[test]
    fn terrain_stays_in_its_height_range_and_depends_on_seed() {
        let s = Shape::NoiseTerrain {
            height: [4, 12],
            scale: 8.0,
            surface: None,
        };
        let mut tops = vec![0u32; 32 * 32];
        s.for_each_cell([32, 32, 32], 1, |p, d| {
            if d == 0 {
                tops[(p[0] + 32 * p[2]) as usize] = p[1] + 1;
            }
        });
        assert!(tops.iter().all(|&t| (4..=12).contains(&t)));
        assert!(tops.iter().max() > tops.iter().min(), "not flat");
        let mut other = 0u64;
        s.for_each_cell([32, 32, 32], 2, |p, _| other += u64::from(p[1]));
        let mut same = 0u64;
        s.for_each_cell([32, 32, 32], 1, |p, _| same += u64::from(p[1]));
        assert_ne!(other, same);
    }
}
