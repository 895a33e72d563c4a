//! Fields held to a world: writers skip the field cells outside it and
//! diffusion grows no brick beyond it, so what a command's shape reaches
//! beyond the world costs nothing.

use super::{Fields, BRICK};

impl Fields {
    /// These fields, held to a world of `size` voxels: writers skip the
    /// field cells outside it and diffusion grows no brick beyond it, so
    /// a blast or a wind as large as a command allows costs what the
    /// world's own cells cost, not what its shape reaches. What diffuses
    /// across the world's faces is lost, as into open space.
    pub fn within(mut self, size: [u32; 3]) -> Self {
        let cell = self.config.cell;
        self.extent = Some(size.map(|s| s.div_ceil(cell).min(i32::MAX as u32) as i32));
        self
    }

    /// The field cells that may hold values, `[0, extent)` on each axis;
    /// `None` where the fields are not held to a world.
    pub fn extent(&self) -> Option<[i32; 3]> {
        self.extent
    }

    /// Whether field cell `c` may hold values.
    pub(super) fn holds_cell(&self, c: [i32; 3]) -> bool {
        self.extent
            .is_none_or(|e| (0..3).all(|a| (0..e[a]).contains(&c[a])))
    }

    /// Whether the brick at brick coordinates `b` may exist: whether it
    /// covers any field cell that may hold values.
    pub(crate) fn holds_brick(&self, b: [i32; 3]) -> bool {
        self.extent.is_none_or(|e| {
            (0..3)
                .all(|a| (0..e[a].saturating_add(BRICK as i32 - 1) / BRICK as i32).contains(&b[a]))
        })
    }

    /// The field cells `[lo, hi]` (inclusive) less those outside the
    /// extent; empty where `lo > hi` on any axis after clipping.
    pub(super) fn clip(&self, lo: [i32; 3], hi: [i32; 3]) -> ([i32; 3], [i32; 3]) {
        match self.extent {
            None => (lo, hi),
            Some(e) => (lo.map(|v| v.max(0)), [0, 1, 2].map(|a| hi[a].min(e[a] - 1))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{FieldConfig, Scalar};
    use super::*;

    /// The next draw of a counter, counter-based as the runtime's
    /// randomness is.
    fn draw(counter: &mut u64) -> u64 {
        *counter += 1;
        loam_runtime::random::hash3(7, 0, *counter)
    }

    /// Every brick lies in the world, and every value is finite.
    fn assert_inside(f: &Fields, case: &str) {
        for &b in f.brick_coords() {
            assert!(f.holds_brick(b), "{case}: a brick at {b:?}");
        }
        for field in [Scalar::Pressure, Scalar::Thermal] {
            assert!(f.total(field).is_finite(), "{case}: {field:?}");
        }
    }

    #[test]
    fn blasts_and_winds_of_any_size_stay_in_the_world_and_die_away() {
        let mut rng = 7u64;
        for case in 0..40 {
            let size = [0; 3].map(|_| 16 * (1 + draw(&mut rng) % 6) as u32);
            let mut f = Fields::new(FieldConfig::default()).within(size);
            let most = f.extent().unwrap().map(|e| (e as usize).div_ceil(BRICK));
            let most = most.iter().product::<usize>();
            // Anywhere from well outside the world to its corners and faces.
            let point = |rng: &mut u64, s: u32| match draw(rng) % 4 {
                0 => -((draw(rng) % 200) as f32),
                1 => (s + (draw(rng) % 200) as u32) as f32,
                2 => [0.0, s as f32 - 0.5][(draw(rng) % 2) as usize],
                _ => (draw(rng) % u64::from(s)) as f32,
            };
            let center = [0, 1, 2].map(|a| point(&mut rng, size[a]));
            let radius = [2.0, 20.0, 200.0, 4096.0][(draw(&mut rng) % 4) as usize];
            let case = format!("case {case}: {size:?}, blast at {center:?} of {radius}");
            f.add_explosion(center, radius, 1.0e6, 500.0);
            let corner = |rng: &mut u64| [0; 3].map(|_| (draw(rng) % 1000) as u32);
            f.set_wind(corner(&mut rng), corner(&mut rng), [3.0, 0.0, 1.0]);
            f.set_scalar_box(Scalar::Pressure, [0; 3], [u32::MAX; 3], 10.0);
            f.add_scalar(Scalar::Thermal, [-1.0, 0.0, 0.0], 100.0);
            f.add_force([0.0, size[1] as f32, 0.0], [1.0; 3]);
            assert_inside(&f, &case);
            // Two seconds of frames, then a minute in half seconds: the
            // thermal field decays slowest (e^-0.5t).
            for frame in 0..240 {
                f.step(if frame < 120 { 1.0 / 60.0 } else { 0.5 });
                assert_inside(&f, &format!("{case}, frame {frame}"));
                assert!(f.bricks() <= most, "{case}: {} bricks", f.bricks());
            }
            assert_eq!(f.bricks(), 0, "{case}: decayed to nothing in a minute");
        }
    }

    #[test]
    fn a_blast_that_never_reaches_the_edge_is_unchanged_by_it() {
        let run = |held: bool| {
            let f = Fields::new(FieldConfig::default());
            let mut f = if held { f.within([256; 3]) } else { f };
            f.add_explosion([128.0; 3], 12.0, 1.0e5, 300.0);
            for _ in 0..30 {
                f.step(1.0 / 60.0);
            }
            assert!(f.bricks() > 1);
            (
                f.total(Scalar::Pressure),
                f.brick_coords().to_vec(),
                f.cell([32; 3]),
            )
        };
        assert_eq!(run(true), run(false));
    }

    #[test]
    fn what_diffuses_across_the_world_s_face_is_lost() {
        let mut f = Fields::new(FieldConfig::default()).within([64; 3]);
        f.add_scalar(Scalar::Thermal, [1.0, 30.0, 30.0], 1000.0);
        let mut last = f.total(Scalar::Thermal);
        for _ in 0..30 {
            f.diffuse(1.0 / 60.0);
            let now = f.total(Scalar::Thermal);
            assert!(now < last, "{now} after {last}");
            last = now;
        }
        assert!(f.brick_coords().iter().all(|b| b[0] >= 0));
    }
}
