//! Laplacian diffusion of the fields, in explicit substeps.
//!
//! One substep is `u' = u + α·Σ_faces (u_n − u)` with `α = D·h` for a
//! substep of length `h` (field cells as the unit of length); it is stable
//! for `α ≤ 1/6`, so each field's step of `dt` is cut into
//! `ceil(6·D·dt / 0.9)` substeps of its own, however large `dt` is. Each substep
//! reads the old values and writes new ones (Jacobi), bricks in parallel,
//! so the result does not depend on the thread count. Before each substep,
//! bricks grow into their neighbours where a face holds more than
//! `epsilon`, so nothing leaks off the edge of the allocated region. Every
//! exchange is pairwise and symmetric, so diffusion alone conserves each
//! field's sum.

use rayon::prelude::*;

use super::{Brick, Fields, BRICK};

/// Faces of a brick: offset, and which local axis and end it lies on.
const FACES: [([i32; 3], usize, usize); 6] = [
    ([-1, 0, 0], 0, 0),
    ([1, 0, 0], 0, BRICK - 1),
    ([0, -1, 0], 1, 0),
    ([0, 1, 0], 1, BRICK - 1),
    ([0, 0, -1], 2, 0),
    ([0, 0, 1], 2, BRICK - 1),
];

impl Fields {
    /// Diffuses every field over `dt` seconds.
    pub fn diffuse(&mut self, dt: f64) {
        if self.bricks.is_empty() {
            return;
        }
        // Each field takes the substeps its own coefficient needs.
        let substeps = self
            .config
            .diffusion
            .map(|d| ((6.0 * f64::from(d) * dt) / 0.9).ceil().max(1.0) as usize);
        let alpha = [0, 1, 2].map(|c| self.config.diffusion[c] * (dt / substeps[c] as f64) as f32);
        for s in 0..substeps.iter().copied().max().unwrap_or(1) {
            self.grow();
            self.substep(alpha, substeps.map(|n| s < n));
        }
    }

    /// Allocates the neighbour bricks that a face with values needs.
    fn grow(&mut self) {
        // Grow well before values reach `epsilon`, so what spreads past the
        // last brick is a small fraction of what the bricks free.
        let eps = self.config.epsilon.map(|e| e * 0.01);
        let mut wanted = Vec::new();
        for (b, br) in self.coords.iter().zip(&self.bricks) {
            for (d, axis, end) in FACES {
                let n = [0, 1, 2].map(|a| b[a] + d[a]);
                if self.index.contains_key(&n) {
                    continue;
                }
                // The face's cells: `axis` fixed at `end`, the other two free.
                let on_face = (0..BRICK * BRICK).map(|k| {
                    let (u, v) = (k % BRICK, k / BRICK);
                    let lc = match axis {
                        0 => [end, u, v],
                        1 => [u, end, v],
                        _ => [u, v, end],
                    };
                    lc[0] + BRICK * (lc[1] + BRICK * lc[2])
                });
                let busy = on_face.into_iter().any(|l| br.holds(l, eps));
                if busy {
                    wanted.push(n);
                }
            }
        }
        wanted.sort_unstable();
        wanted.dedup();
        self.insert_bricks(wanted);
    }

    /// One Jacobi substep of the fields marked `active` (kinetic, pressure,
    /// thermal).
    fn substep(&mut self, alpha: [f32; 3], active: [bool; 3]) {
        let old = &*self;
        // Each brick's six neighbours, looked up once per substep.
        let neighbours: Vec<[Option<usize>; 6]> = old
            .coords
            .iter()
            .map(|b| FACES.map(|(d, _, _)| old.index.get(&[0, 1, 2].map(|a| b[a] + d[a])).copied()))
            .collect();
        let mut next = std::mem::take(&mut self.scratch);
        next.truncate(self.bricks.len());
        next.resize_with(self.bricks.len(), Brick::zero);
        let old = &*self;
        next.par_iter_mut()
            .zip(&old.bricks)
            .zip(&neighbours)
            .for_each(|((out, br), nb)| {
                // Only the active fields are written, every cell of them;
                // they are swapped in below, the others stay where they are.
                let n = BRICK;
                for z in 0..n {
                    for y in 0..n {
                        for x in 0..n {
                            let l = x + n * (y + n * z);
                            if (1..n - 1).contains(&x)
                                && (1..n - 1).contains(&y)
                                && (1..n - 1).contains(&z)
                            {
                                // Interior: all six neighbours are in this brick.
                                let js = [l - 1, l + 1, l - n, l + n, l - n * n, l + n * n];
                                let lap =
                                    |v: &[f32]| js.iter().map(|&j| v[j]).sum::<f32>() - 6.0 * v[l];
                                if active[1] {
                                    out.pressure[l] =
                                        br.pressure[l] + alpha[1] * lap(&br.pressure[..]);
                                }
                                if active[2] {
                                    out.thermal[l] =
                                        br.thermal[l] + alpha[2] * lap(&br.thermal[..]);
                                }
                                if active[0] {
                                    for a in 0..3 {
                                        let sum: f32 = js.iter().map(|&j| br.kinetic[j][a]).sum();
                                        let v = br.kinetic[l][a];
                                        out.kinetic[l][a] = v + alpha[0] * (sum - 6.0 * v);
                                    }
                                }
                                continue;
                            }
                            // The six face neighbours: (brick, index) pairs,
                            // from this brick or the next one over.
                            let at = |face: usize, inside: bool, j: usize, wrapped: usize| {
                                if inside {
                                    Some((br, j))
                                } else {
                                    nb[face].map(|k| (&old.bricks[k], wrapped))
                                }
                            };
                            // Each address is used only on its side of the
                            // test (inside, or wrapped into the neighbour),
                            // where it is in range; wrapping keeps the other
                            // from overflowing.
                            let cells = [
                                at(0, x > 0, l.wrapping_sub(1), l + n - 1),
                                at(1, x + 1 < n, l + 1, (l + 1).wrapping_sub(n)),
                                at(2, y > 0, l.wrapping_sub(n), l + n * (n - 1)),
                                at(3, y + 1 < n, l + n, l.wrapping_sub(n * (n - 1))),
                                at(4, z > 0, l.wrapping_sub(n * n), l + n * n * (n - 1)),
                                at(5, z + 1 < n, l + n * n, l.wrapping_sub(n * n * (n - 1))),
                            ];
                            let mut lap_k = [0.0f32; 3];
                            let (mut lap_p, mut lap_t) = (0.0f32, 0.0f32);
                            for (b, j) in cells.into_iter().flatten() {
                                for (sum, v) in lap_k.iter_mut().zip(b.kinetic[j]) {
                                    *sum += v;
                                }
                                lap_p += b.pressure[j];
                                lap_t += b.thermal[j];
                            }
                            // Missing neighbours hold zero: six faces in all.
                            if active[0] {
                                for ((o, sum), v) in
                                    out.kinetic[l].iter_mut().zip(lap_k).zip(br.kinetic[l])
                                {
                                    *o = v + alpha[0] * (sum - 6.0 * v);
                                }
                            }
                            if active[1] {
                                let v = br.pressure[l];
                                out.pressure[l] = v + alpha[1] * (lap_p - 6.0 * v);
                            }
                            if active[2] {
                                let v = br.thermal[l];
                                out.thermal[l] = v + alpha[2] * (lap_t - 6.0 * v);
                            }
                        }
                    }
                }
            });
        for (b, o) in self.bricks.iter_mut().zip(&mut next) {
            if active[0] {
                std::mem::swap(&mut b.kinetic, &mut o.kinetic);
            }
            if active[1] {
                std::mem::swap(&mut b.pressure, &mut o.pressure);
            }
            if active[2] {
                std::mem::swap(&mut b.thermal, &mut o.thermal);
            }
        }
        self.scratch = next;
    }
}

#[cfg(test)]
mod tests {
    use super::super::{FieldConfig, Fields, Scalar};

    fn config(decay: f32) -> FieldConfig {
        FieldConfig {
            decay: [decay; 3],
            ..FieldConfig::default()
        }
    }

    #[test]
    fn diffusion_conserves_the_sum_spreads_and_is_stable_for_any_step() {
        // A step 30 times the explicit limit still diffuses stably (it is
        // cut into substeps).
        for dt in [1.0 / 60.0, 0.1, 0.5] {
            let mut f = Fields::new(config(0.0));
            f.add_scalar(Scalar::Thermal, [30.0, 30.0, 30.0], 1000.0);
            let before = f.total(Scalar::Thermal);
            for _ in 0..4 {
                f.diffuse(dt);
            }
            let after = f.total(Scalar::Thermal);
            assert!(
                (after - before).abs() / before < 1e-3,
                "dt {dt}: {before} -> {after}"
            );
            let peak = f.sample([30.0, 30.0, 30.0]).thermal;
            assert!(peak < 1000.0 && peak > 0.0, "dt {dt}: peak {peak}");
            let side = f.sample([42.0, 30.0, 30.0]).thermal;
            assert!(
                side > 0.0 && side <= peak,
                "dt {dt}: spread {side} vs {peak}"
            );
            assert!(f.bricks() > 1, "grew past the first brick");
        }
    }

    #[test]
    fn diffusion_gives_the_same_fields_on_one_thread_and_two() {
        let run = |threads| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let mut f = Fields::new(config(1.0));
            f.add_explosion([50.0, 20.0, 50.0], 30.0, 2.0e6, 800.0);
            pool.install(|| {
                for _ in 0..20 {
                    f.diffuse(1.0 / 60.0);
                    f.decay(1.0 / 60.0);
                }
            });
            (
                f.total(Scalar::Pressure),
                f.total(Scalar::Thermal),
                f.bricks(),
            )
        };
        assert_eq!(run(1), run(2));
    }
}
