//! Laplacian diffusion of the fields, in explicit substeps.
//!
//! One substep is `u' = u + α·Σ_faces (u_n − u)` with `α = D·h` for a
//! substep of length `h` (field cells as the unit of length); it is stable
//! for `α ≤ 1/6`, so each field's step of `dt` is cut into
//! `ceil(6·D·dt / 0.9)` substeps of its own, however large `dt` is.
//!
//! Each substep copies a brick's channel, with a one-cell halo from its six
//! neighbours (zero where there is none), into a padded 10³ block, and runs
//! the 7-point stencil over the block's interior in straight rows of 8: no
//! branch per cell, and the rows vectorise. It reads the old values and
//! writes new ones (Jacobi), bricks in parallel, so the result does not
//! depend on the thread count. Every exchange is pairwise and symmetric, so
//! diffusion alone conserves each field's sum.
//!
//! Values move one cell a substep. Before each substep, a brick grows a
//! neighbour behind every face that holds more than a hundredth of
//! `epsilon`, so nothing leaks off the edge of the allocated region.

use rayon::prelude::*;

use super::{channel_eps, Brick, Fields, BRICK, BRICK_CELLS, CHANNELS};

/// Faces of a brick: offset, and which local axis and end it lies on.
const FACES: [([i32; 3], usize, usize); 6] = [
    ([-1, 0, 0], 0, 0),
    ([1, 0, 0], 0, BRICK - 1),
    ([0, -1, 0], 1, 0),
    ([0, 1, 0], 1, BRICK - 1),
    ([0, 0, -1], 2, 0),
    ([0, 0, 1], 2, BRICK - 1),
];

/// Edge of a brick padded with its halo.
const PAD: usize = BRICK + 2;

/// Index of local cell `c` (each axis in `0..BRICK`) in a brick.
fn local(c: [usize; 3]) -> usize {
    c[0] + BRICK * (c[1] + BRICK * c[2])
}

/// Index of padded cell `c` (each axis in `0..PAD`) in a padded block.
fn padded(c: [usize; 3]) -> usize {
    c[0] + PAD * (c[1] + PAD * c[2])
}

/// The cells of a brick's plane `at` across `axis`, as local coordinates.
fn plane(axis: usize, at: usize) -> impl Iterator<Item = [usize; 3]> {
    (0..BRICK * BRICK).map(move |k| {
        let (u, v) = (k % BRICK, k / BRICK);
        match axis {
            0 => [at, u, v],
            1 => [u, at, v],
            _ => [u, v, at],
        }
    })
}

/// Fills `pad` with a brick's channel `src` and the halo from its
/// neighbours' same channel (`neighbour(face)`, faces in `FACES` order),
/// zero where a neighbour is missing. Rows of 8 are copied whole; only the
/// x faces go cell by cell.
fn fill<'a>(
    pad: &mut [f32],
    src: &[f32; BRICK_CELLS],
    neighbour: impl Fn(usize) -> Option<&'a [f32; BRICK_CELLS]>,
) {
    const B: usize = BRICK;
    let (x_lo, x_hi) = (neighbour(0), neighbour(1));
    let (y_lo, y_hi) = (neighbour(2), neighbour(3));
    let (z_lo, z_hi) = (neighbour(4), neighbour(5));
    for z in 0..B {
        for y in 0..B {
            let from = local([0, y, z]);
            let to = padded([1, y + 1, z + 1]);
            pad[to..to + B].copy_from_slice(&src[from..from + B]);
            // x halo: the neighbours' far column.
            pad[to - 1] = x_lo.map_or(0.0, |n| n[local([B - 1, y, z])]);
            pad[to + B] = x_hi.map_or(0.0, |n| n[local([0, y, z])]);
        }
        // y halo: the neighbours' far rows.
        for (n, y_theirs, y_pad) in [(y_lo, B - 1, 0), (y_hi, 0, PAD - 1)] {
            let to = padded([1, y_pad, z + 1]);
            match n {
                Some(n) => {
                    let from = local([0, y_theirs, z]);
                    pad[to..to + B].copy_from_slice(&n[from..from + B]);
                }
                None => pad[to..to + B].fill(0.0),
            }
        }
    }
    // z halo: the neighbours' far planes.
    for (n, z_theirs, z_pad) in [(z_lo, B - 1, 0), (z_hi, 0, PAD - 1)] {
        for y in 0..B {
            let to = padded([1, y + 1, z_pad]);
            match n {
                Some(n) => {
                    let from = local([0, y, z_theirs]);
                    pad[to..to + B].copy_from_slice(&n[from..from + B]);
                }
                None => pad[to..to + B].fill(0.0),
            }
        }
    }
}

/// One explicit diffusion substep of one channel over a set of bricks, as
/// the CPU backend does it: `channels[k]` holds brick `k`'s cells (x
/// fastest), `neighbours[k]` its face neighbours in (−x, +x, −y, +y, −z,
/// +z) order, and `alpha` is `D·h` in field cells. The reference other
/// backends (the GPU's) are checked against.
///
/// # Panics
/// If a neighbour index is out of range or the two slices differ in length.
pub fn diffuse_bricks(
    channels: &[[f32; BRICK_CELLS]],
    neighbours: &[[Option<usize>; 6]],
    alpha: f32,
) -> Vec<[f32; BRICK_CELLS]> {
    assert_eq!(
        channels.len(),
        neighbours.len(),
        "a neighbour row per brick"
    );
    channels
        .par_iter()
        .zip(neighbours)
        .map(|(src, nb)| {
            let mut pad = [0.0f32; PAD * PAD * PAD];
            let mut out = [0.0f32; BRICK_CELLS];
            fill(&mut pad, src, |face| nb[face].map(|k| &channels[k]));
            stencil(&pad, &mut out, alpha);
            out
        })
        .collect()
}

/// One explicit step of the 7-point stencil over the padded block, a row
/// of 8 at a time (fixed-length rows: no bounds checks, and they
/// vectorise).
fn stencil(pad: &[f32], out: &mut [f32; BRICK_CELLS], alpha: f32) {
    const SLAB: usize = PAD * PAD;
    let row = |at: usize| -> &[f32; BRICK] { pad[at..at + BRICK].try_into().expect("a row of 8") };
    for (k, o) in out.chunks_exact_mut(BRICK).enumerate() {
        let (y, z) = (k % BRICK, k / BRICK);
        let at = padded([1, y + 1, z + 1]);
        let (v, xm, xp) = (row(at), row(at - 1), row(at + 1));
        let (ym, yp, zm, zp) = (row(at - PAD), row(at + PAD), row(at - SLAB), row(at + SLAB));
        for x in 0..BRICK {
            let sum = xm[x] + xp[x] + ym[x] + yp[x] + zm[x] + zp[x];
            o[x] = v[x] + alpha * (sum - 6.0 * v[x]);
        }
    }
}

impl Fields {
    /// Diffuses every field over `dt` seconds.
    pub fn diffuse(&mut self, dt: f64) {
        let done: Result<(), std::convert::Infallible> =
            self.diffuse_by(dt, |fields, alpha, active, neighbours| {
                fields.substep(alpha, active, neighbours);
                Ok(())
            });
        let Ok(()) = done;
    }

    /// Diffuses as [`Fields::diffuse`] does, with the stencil of every
    /// substep of every field channel computed by `step` — another backend,
    /// such as the GPU's. `step(cells, neighbours, alpha)` gets one channel
    /// of every brick and each brick's face neighbours, and returns the
    /// channel's new cells, as [`diffuse_bricks`] does; its first error
    /// stops the step.
    pub fn diffuse_with<E>(
        &mut self,
        dt: f64,
        mut step: impl FnMut(
            &[[f32; BRICK_CELLS]],
            &[[Option<usize>; 6]],
            f32,
        ) -> Result<Vec<[f32; BRICK_CELLS]>, E>,
    ) -> Result<(), E> {
        self.diffuse_by(dt, |fields, alpha, active, neighbours| {
            let alpha = [alpha[0], alpha[0], alpha[0], alpha[1], alpha[2]];
            let active = [active[0], active[0], active[0], active[1], active[2]];
            for c in (0..CHANNELS).filter(|&c| active[c]) {
                let cells: Vec<[f32; BRICK_CELLS]> =
                    fields.bricks.iter().map(|b| *b.channels[c]).collect();
                let out = step(&cells, neighbours, alpha[c])?;
                for (b, o) in fields.bricks.iter_mut().zip(out) {
                    *b.channels[c] = o;
                }
            }
            Ok(())
        })
    }

    /// The substep loop of [`Fields::diffuse`]: growth, then `substep` with
    /// the fields' `alpha`, which of them take this substep, and each
    /// brick's neighbours.
    fn diffuse_by<E>(
        &mut self,
        dt: f64,
        mut substep: impl FnMut(&mut Self, [f32; 3], [bool; 3], &[[Option<usize>; 6]]) -> Result<(), E>,
    ) -> Result<(), E> {
        if self.bricks.is_empty() {
            return Ok(());
        }
        // Each field takes the substeps its own coefficient needs.
        let substeps = self
            .config
            .diffusion
            .map(|d| ((6.0 * f64::from(d) * dt) / 0.9).ceil().max(1.0) as usize);
        let alpha = [0, 1, 2].map(|c| self.config.diffusion[c] * (dt / substeps[c] as f64) as f32);
        let mut neighbours = self.neighbours();
        for s in 0..substeps.iter().copied().max().unwrap_or(1) {
            if self.grow(&neighbours) {
                neighbours = self.neighbours();
            }
            substep(self, alpha, substeps.map(|n| s < n), &neighbours)?;
        }
        Ok(())
    }

    /// Each brick's six neighbours (in `FACES` order), if allocated.
    fn neighbours(&self) -> Vec<[Option<usize>; 6]> {
        self.coords
            .iter()
            .map(|b| {
                FACES.map(|(d, _, _)| self.index.get(&[0, 1, 2].map(|a| b[a] + d[a])).copied())
            })
            .collect()
    }

    /// Allocates the missing neighbour bricks behind faces that hold
    /// values; returns whether it added any.
    fn grow(&mut self, neighbours: &[[Option<usize>; 6]]) -> bool {
        // Grow well before values reach `epsilon`, so what spreads past the
        // last brick is a small fraction of what the bricks free.
        let eps = channel_eps(self.config.epsilon.map(|e| e * 0.01));
        let mut wanted: Vec<[i32; 3]> = self
            .coords
            .par_iter()
            .zip(&self.bricks)
            .zip(neighbours)
            .flat_map_iter(|((b, br), nb)| {
                FACES
                    .into_iter()
                    .zip(nb)
                    .filter(move |&((_, axis, end), n)| {
                        n.is_none() && plane(axis, end).any(|c| br.holds(local(c), eps))
                    })
                    .map(move |((d, _, _), _)| [0, 1, 2].map(|a| b[a] + d[a]))
            })
            .collect();
        if wanted.is_empty() {
            return false;
        }
        wanted.sort_unstable();
        wanted.dedup();
        self.insert_bricks(wanted);
        true
    }

    /// One substep of the `active` fields (kinetic, pressure, thermal) with
    /// the fields' `alpha`, each brick's `neighbours` as given.
    fn substep(&mut self, alpha: [f32; 3], active: [bool; 3], neighbours: &[[Option<usize>; 6]]) {
        let alpha = [alpha[0], alpha[0], alpha[0], alpha[1], alpha[2]];
        let active = [active[0], active[0], active[0], active[1], active[2]];
        let mut next = std::mem::take(&mut self.scratch);
        next.truncate(self.bricks.len());
        next.resize_with(self.bricks.len(), Brick::zero);
        let old = &*self;
        next.par_iter_mut()
            .zip(&old.bricks)
            .zip(neighbours)
            .for_each(|((out, br), nb)| {
                let mut pad = [0.0f32; PAD * PAD * PAD];
                for c in (0..CHANNELS).filter(|&c| active[c]) {
                    fill(&mut pad, &br.channels[c], |face| {
                        nb[face].map(|k| &*old.bricks[k].channels[c])
                    });
                    stencil(&pad, &mut out.channels[c], alpha[c]);
                }
            });
        // The new values of the active channels swap in (by pointer); the
        // old ones become the next substep's scratch.
        for (b, o) in self.bricks.iter_mut().zip(&mut next) {
            for c in (0..CHANNELS).filter(|&c| active[c]) {
                std::mem::swap(&mut b.channels[c], &mut o.channels[c]);
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
    fn diffusing_with_the_reference_stencil_gives_the_same_fields() {
        let mut a = Fields::new(config(1.0));
        a.add_explosion([50.0, 20.0, 50.0], 30.0, 2.0e6, 800.0);
        let mut b = a.clone();
        for _ in 0..5 {
            a.diffuse(1.0 / 60.0);
            b.diffuse_with(1.0 / 60.0, |cells, nb, alpha| {
                Ok::<_, ()>(super::diffuse_bricks(cells, nb, alpha))
            })
            .unwrap();
        }
        assert_eq!(a.bricks(), b.bricks());
        for field in [Scalar::Pressure, Scalar::Thermal] {
            assert_eq!(a.total(field), b.total(field));
        }
        assert_eq!(a.sample([60.0, 25.0, 44.0]), b.sample([60.0, 25.0, 44.0]));
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
