//! Laplacian diffusion of the fields, in explicit substeps.
//!
//! One substep is `u' = u + α·Σ_faces (u_n − u)` with `α = D·h` for a
//! substep of length `h` (field cells as the unit of length); it is stable
//! for `α ≤ 1/6`, so each field's step of `dt` is cut into
//! `ceil(6·D·dt / 0.9)` substeps of its own, however large `dt` is.
//!
//! The 7-point stencil runs over a brick in straight rows of 8, reading
//! the rows next to each row from the brick itself or, on its faces, from
//! the neighbour brick (a brick of zeros where there is none): no copy
//! into a padded block, no branch per cell, and a row is one AVX2
//! register (`stencil_avx2`, with intrinsics; `stencil_rows` elsewhere,
//! the same bits). Every channel's substep writes into one scratch buffer
//! and leaves its old buffer as the next one's. It reads the old
//! values and writes new ones (Jacobi), bricks in parallel, so the result
//! does not depend on the thread count. Every exchange is pairwise and
//! symmetric, so diffusion alone conserves each field's sum.
//!
//! Values move one cell a substep. Before each substep, a brick grows a
//! neighbour behind every face that holds more than a hundredth of
//! `epsilon`, so nothing leaks off the edge of the allocated region. The
//! stencil measures the [`Peaks`] of what it writes as it writes it (the
//! rows in registers, the z faces from the brick just written, in cache),
//! so growth (and freeing, after [`Fields::step`]) need not scan the
//! bricks again.

use rayon::prelude::*;

use super::{
    max_abs_into, offset, peaks_of, per_channel, planes, Fields, Peaks, Planes, BRICK, BRICK_CELLS,
    CHANNELS, FACES,
};

/// A brick channel's face neighbours' same channel, in [`FACES`] order;
/// `None` where there is no brick, read as zero.
type Around<'a> = [Option<&'a [f32; BRICK_CELLS]>; 6];

/// What one substep does to a channel.
#[derive(Clone, Copy, Debug)]
pub(super) struct ChannelStep {
    /// The stencil's `D·h`.
    pub alpha: f32,
    /// The factor the result is multiplied by: the channel's decay, on its
    /// last substep of a [`Fields::step`].
    pub decay: Option<f32>,
}

/// What one substep does to each channel; `None` leaves it alone.
pub(super) type Plan = [Option<ChannelStep>; CHANNELS];

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
        .map(|(own, nb)| {
            let mut out = [0.0f32; BRICK_CELLS];
            stencil(
                own,
                &nb.map(|n| n.map(|k| &channels[k])),
                alpha,
                1.0,
                &mut out,
            );
            out
        })
        .collect()
}

/// One explicit step of the 7-point stencil over a brick channel `own`,
/// each result times `scale`: [`stencil_avx2`] where the CPU has AVX2,
/// else [`stencil_rows`]. Both do the same additions and multiplications
/// in the same order (no fused multiply-add), so they give the same bits.
fn stencil(
    own: &[f32; BRICK_CELLS],
    around: &Around,
    alpha: f32,
    scale: f32,
    out: &mut [f32; BRICK_CELLS],
) -> Peaks {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { stencil_avx2(own, around, alpha, scale, out) };
    }
    stencil_rows(own, around, alpha, scale, out)
}

/// [`stencil_rows`] in AVX2 registers, a row of 8 to each: the same
/// operations in the same order, spelled out, as the vectoriser made a
/// poor job of the shifts across a row.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn stencil_avx2(
    own: &[f32; BRICK_CELLS],
    around: &Around,
    alpha: f32,
    scale: f32,
    out: &mut [f32; BRICK_CELLS],
) -> Peaks {
    use std::arch::x86_64::*;
    const B: usize = BRICK;
    let own = planes(own);
    let [xm, xp, ym, yp, zm, zp] = around.map(|n| planes(n.unwrap_or(&NOTHING)));
    let out: &mut Planes = bytemuck::cast_mut(out);
    let load = |row: &[f32; B]| {
        // SAFETY: a row is 8 floats.
        unsafe { _mm256_loadu_ps(row.as_ptr()) }
    };
    let (alpha, scale, six) = (
        _mm256_set1_ps(alpha),
        _mm256_set1_ps(scale),
        _mm256_set1_ps(6.0),
    );
    let sign = _mm256_set1_ps(-0.0);
    // The row moved one lane up (left neighbours) and down (right ones);
    // the lane that comes in is the neighbour brick's.
    let (up_one, down_one) = (
        _mm256_setr_epi32(0, 0, 1, 2, 3, 4, 5, 6),
        _mm256_setr_epi32(1, 2, 3, 4, 5, 6, 7, 7),
    );
    let zero = _mm256_setzero_ps();
    let (mut every, mut y_lo, mut y_hi) = (zero, zero, zero);
    for z in 0..B {
        let below = if z > 0 { &own[z - 1] } else { &zm[B - 1] };
        let above = if z < B - 1 { &own[z + 1] } else { &zp[0] };
        let plane = &own[z];
        for y in 0..B {
            let v = load(&plane[y]);
            let south = load(if y > 0 { &plane[y - 1] } else { &ym[z][B - 1] });
            let north = load(if y < B - 1 { &plane[y + 1] } else { &yp[z][0] });
            let left = _mm256_blend_ps::<0b0000_0001>(
                _mm256_permutevar8x32_ps(v, up_one),
                _mm256_set1_ps(xm[z][y][B - 1]),
            );
            let right = _mm256_blend_ps::<0b1000_0000>(
                _mm256_permutevar8x32_ps(v, down_one),
                _mm256_set1_ps(xp[z][y][0]),
            );
            let sum = _mm256_add_ps(_mm256_add_ps(left, right), south);
            let sum = _mm256_add_ps(_mm256_add_ps(sum, north), load(&below[y]));
            let sum = _mm256_add_ps(sum, load(&above[y]));
            let change = _mm256_mul_ps(alpha, _mm256_sub_ps(sum, _mm256_mul_ps(six, v)));
            let row = _mm256_mul_ps(_mm256_add_ps(v, change), scale);
            // SAFETY: a row is 8 floats.
            unsafe { _mm256_storeu_ps(out[z][y].as_mut_ptr(), row) };
            // max(a, m) is `a > m ? a : m`, as `max_abs_into`'s compare.
            let magnitude = _mm256_andnot_ps(sign, row);
            every = _mm256_max_ps(magnitude, every);
            if y == 0 {
                y_lo = _mm256_max_ps(magnitude, y_lo);
            }
            if y == B - 1 {
                y_hi = _mm256_max_ps(magnitude, y_hi);
            }
        }
    }
    let lanes = |m: __m256| {
        let mut a = [0.0f32; B];
        // SAFETY: 8 floats.
        unsafe { _mm256_storeu_ps(a.as_mut_ptr(), m) };
        a
    };
    peaks_of(&lanes(every), &lanes(y_lo), &lanes(y_hi), out)
}

/// The channel of a missing neighbour: zeros.
static NOTHING: [f32; BRICK_CELLS] = [0.0; BRICK_CELLS];

/// The stencil a row of 8 at a time. Each row's neighbours are chosen by
/// plane and by row without a branch (a missing neighbour is a brick of
/// zeros), and the rows of a plane are unrolled, so the loop holds little
/// but the arithmetic; the rows vectorise.
#[inline(always)]
fn stencil_rows(
    own: &[f32; BRICK_CELLS],
    around: &Around,
    alpha: f32,
    scale: f32,
    out: &mut [f32; BRICK_CELLS],
) -> Peaks {
    const B: usize = BRICK;
    let own = planes(own);
    let [xm, xp, ym, yp, zm, zp] = around.map(|n| planes(n.unwrap_or(&NOTHING)));
    let out: &mut Planes = bytemuck::cast_mut(out);
    // Lane-wise maxima of |value|, measured while the rows are in
    // registers: over every row, and over the rows of the y faces.
    let mut every = [0.0f32; B];
    let (mut y_lo, mut y_hi) = ([0.0f32; B], [0.0f32; B]);
    for z in 0..B {
        let below = if z > 0 { &own[z - 1] } else { &zm[B - 1] };
        let above = if z < B - 1 { &own[z + 1] } else { &zp[0] };
        let plane = &own[z];
        for y in 0..B {
            let v = plane[y];
            let south = if y > 0 { plane[y - 1] } else { ym[z][B - 1] };
            let north = if y < B - 1 { plane[y + 1] } else { yp[z][0] };
            let (west, east) = (xm[z][y][B - 1], xp[z][y][0]);
            let left: [f32; B] = std::array::from_fn(|x| if x == 0 { west } else { v[x - 1] });
            let right: [f32; B] = std::array::from_fn(|x| if x == B - 1 { east } else { v[x + 1] });
            let (down, up) = (below[y], above[y]);
            let mut row = [0.0f32; B];
            for x in 0..B {
                let sum = left[x] + right[x] + south[x] + north[x] + down[x] + up[x];
                row[x] = (v[x] + alpha * (sum - 6.0 * v[x])) * scale;
            }
            out[z][y] = row;
            max_abs_into(&mut every, &row);
            if y == 0 {
                max_abs_into(&mut y_lo, &row);
            }
            if y == B - 1 {
                max_abs_into(&mut y_hi, &row);
            }
        }
    }
    peaks_of(&every, &y_lo, &y_hi, out)
}

/// Another backend's stencil: `step(cells, neighbours, alpha)` gets one
/// channel of every brick and each brick's face neighbours, and returns the
/// channel's new cells, as [`diffuse_bricks`] does.
pub trait StencilBackend<E>:
    FnMut(&[[f32; BRICK_CELLS]], &[[Option<usize>; 6]], f32) -> Result<Vec<[f32; BRICK_CELLS]>, E>
{
}

impl<E, F> StencilBackend<E> for F where
    F: FnMut(
        &[[f32; BRICK_CELLS]],
        &[[Option<usize>; 6]],
        f32,
    ) -> Result<Vec<[f32; BRICK_CELLS]>, E>
{
}

/// Another backend's decay: `decay(cells, factor)` gets one channel of
/// every brick and returns its cells times `factor`.
pub trait DecayBackend<E>:
    FnMut(&[[f32; BRICK_CELLS]], f32) -> Result<Vec<[f32; BRICK_CELLS]>, E>
{
}

impl<E, F> DecayBackend<E> for F where
    F: FnMut(&[[f32; BRICK_CELLS]], f32) -> Result<Vec<[f32; BRICK_CELLS]>, E>
{
}

impl Fields {
    /// Diffuses every field over `dt` seconds.
    pub fn diffuse(&mut self, dt: f64) {
        self.cpu_substeps(dt, None);
    }

    /// Diffuses every field over `dt` seconds, then decays it and frees the
    /// bricks left with nothing in them, as [`Fields::diffuse`] then
    /// [`Fields::decay`] do, in one pass over memory fewer: each channel's
    /// decay scales the result of its last substep.
    ///
    /// The values are those of the two calls bit for bit, as long as both
    /// grow the same bricks. They may not: a field whose last substep comes
    /// before another's last is decayed already when the later substeps
    /// look at the faces, so a brick at the edge may grow a substep later.
    pub fn step(&mut self, dt: f64) {
        self.cpu_substeps(dt, Some(self.decay_factors(dt)));
        self.free_empty();
    }

    /// The substeps of [`Fields::diffuse`] on the CPU, each channel's last
    /// one decayed by `decay` if given.
    fn cpu_substeps(&mut self, dt: f64, decay: Option<[f32; CHANNELS]>) {
        let done: Result<(), std::convert::Infallible> =
            self.diffuse_by(dt, decay, |fields, plan| {
                fields.substep(plan);
                Ok(())
            });
        let Ok(()) = done;
    }

    /// Diffuses as [`Fields::diffuse`] does, with the stencil of every
    /// substep of every field channel computed by `stencil` — another
    /// backend, such as the GPU's. Its first error stops the step.
    pub fn diffuse_with<E>(
        &mut self,
        dt: f64,
        mut stencil: impl StencilBackend<E>,
    ) -> Result<(), E> {
        // No decay is planned, so the CPU's stands in unused.
        let mut decay = |cells: &[[f32; BRICK_CELLS]], k: f32| {
            Ok(cells.iter().map(|c| c.map(|v| v * k)).collect())
        };
        self.diffuse_by(dt, None, |fields, plan| {
            fields.substep_with(plan, &mut stencil, &mut decay)
        })
    }

    /// Steps as [`Fields::step`] does, with another backend (such as the
    /// GPU's) computing every substep of every channel (`stencil`) and each
    /// channel's decay after its last substep (`decay`): the same growth
    /// and the same bricks freed, and the same values where the backend
    /// computes the CPU's. Their first error stops the step.
    pub fn step_with<E>(
        &mut self,
        dt: f64,
        mut stencil: impl StencilBackend<E>,
        mut decay: impl DecayBackend<E>,
    ) -> Result<(), E> {
        let factors = self.decay_factors(dt);
        self.diffuse_by(dt, Some(factors), |fields, plan| {
            fields.substep_with(plan, &mut stencil, &mut decay)
        })?;
        self.free_empty();
        Ok(())
    }

    /// One substep of the channels `plan` names, by another backend.
    fn substep_with<E>(
        &mut self,
        plan: &Plan,
        stencil: &mut impl StencilBackend<E>,
        decay: &mut impl DecayBackend<E>,
    ) -> Result<(), E> {
        for (c, step) in plan.iter().enumerate() {
            let Some(step) = step else { continue };
            let mut out = stencil(&self.channels[c], &self.neighbours, step.alpha)?;
            if let Some(k) = step.decay {
                out = decay(&out, k)?;
            }
            assert_eq!(out.len(), self.bricks(), "a backend returns every brick");
            self.channels[c] = out;
            self.written.fill(true);
            self.peaks.fill(None);
        }
        Ok(())
    }

    /// The substep loop of [`Fields::diffuse`]: growth, then `substep` with
    /// its [`Plan`]. Each field takes the substeps its own coefficient
    /// needs; with `decay`, each channel's last substep decays it by its
    /// factor.
    pub(super) fn diffuse_by<E>(
        &mut self,
        dt: f64,
        decay: Option<[f32; CHANNELS]>,
        mut substep: impl FnMut(&mut Self, &Plan) -> Result<(), E>,
    ) -> Result<(), E> {
        if self.coords.is_empty() {
            return Ok(());
        }
        let substeps = per_channel(
            self.config
                .diffusion
                .map(|d| ((6.0 * f64::from(d) * dt) / 0.9).ceil().max(1.0) as usize),
        );
        let diffusion = per_channel(self.config.diffusion);
        for s in 0..substeps.iter().copied().max().unwrap_or(1) {
            let _zone = loam_runtime::profiling::zone("fields.substep");
            self.grow();
            let plan: Plan = std::array::from_fn(|c| {
                (s < substeps[c]).then(|| ChannelStep {
                    alpha: diffusion[c] * (dt / substeps[c] as f64) as f32,
                    decay: decay.filter(|_| s + 1 == substeps[c]).map(|k| k[c]),
                })
            });
            substep(self, &plan)?;
        }
        Ok(())
    }

    /// Allocates the missing neighbour bricks behind faces that hold
    /// values.
    fn grow(&mut self) {
        // Grow well before values reach `epsilon`, so what spreads past the
        // last brick is a small fraction of what the bricks free.
        let eps = per_channel(self.config.epsilon.map(|e| e * 0.01));
        self.measure_peaks();
        let mut wanted: Vec<[i32; 3]> = self
            .coords
            .iter()
            .zip(&self.peaks)
            .zip(&self.neighbours)
            .filter(|(_, nb)| nb.contains(&None))
            .flat_map(|((&b, peaks), nb)| {
                (0..6)
                    .filter(move |&f| {
                        // Unmeasured peaks (there are none after measuring)
                        // would grow every missing neighbour.
                        nb[f].is_none()
                            && peaks.is_none_or(|p| p.iter().zip(eps).any(|(p, e)| p.faces[f] > e))
                    })
                    .map(move |f| offset(b, FACES[f]))
            })
            .collect();
        wanted.retain(|&b| self.holds_brick(b));
        wanted.sort_unstable();
        wanted.dedup();
        self.insert_bricks(wanted);
    }

    /// One substep of the channels `plan` names, channel by channel, each
    /// into the scratch buffer, which then swaps in whole.
    fn substep(&mut self, plan: &Plan) {
        let n = self.bricks();
        if plan.iter().all(Option::is_some) {
            // Every channel of every brick is measured below.
            for p in &mut self.peaks {
                p.get_or_insert([Peaks::default(); CHANNELS]);
            }
        }
        let mut measured = vec![Peaks::default(); n];
        for (c, step) in plan.iter().enumerate() {
            let Some(step) = step else { continue };
            let mut out = std::mem::take(&mut self.scratch);
            out.resize(n, [0.0; BRICK_CELLS]);
            let own = &self.channels[c];
            let scale = step.decay.unwrap_or(1.0);
            out.par_iter_mut()
                .zip(&mut measured)
                .zip(&self.neighbours)
                .enumerate()
                .with_min_len(32)
                .for_each(|(k, ((o, m), nb))| {
                    let around = nb.map(|n| n.map(|j| &own[j]));
                    *m = stencil(&own[k], &around, step.alpha, scale, o);
                });
            self.scratch = std::mem::replace(&mut self.channels[c], out);
            self.written.fill(true);
            // Peaks that are unknown (the brick was written since) stay so
            // until every channel is measured.
            for (p, m) in self.peaks.iter_mut().zip(&measured) {
                if let Some(p) = p {
                    p[c] = *m;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{FieldConfig, Fields, Peaks, Scalar, BRICK, BRICK_CELLS};

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

    /// Every value of every brick, by brick coordinates.
    fn values(f: &Fields) -> Vec<([i32; 3], Vec<u32>)> {
        let mut out: Vec<_> = f
            .coords
            .iter()
            .enumerate()
            .map(|(k, c)| {
                (
                    *c,
                    f.channels
                        .iter()
                        .flat_map(|c| c[k].map(f32::to_bits))
                        .collect(),
                )
            })
            .collect();
        out.sort_by_key(|(c, _)| *c);
        out
    }

    #[test]
    fn a_step_is_diffusion_then_decay_bit_for_bit_when_every_field_takes_one_substep() {
        // One substep each, so growth happens once, before it, in both.
        let config = FieldConfig {
            diffusion: [2.0, 3.0, 1.0],
            ..FieldConfig::default()
        };
        let mut fused = Fields::new(config);
        fused.add_explosion([50.0, 20.0, 50.0], 30.0, 2.0e6, 800.0);
        let mut apart = fused.clone();
        for frame in 0..120 {
            fused.step(1.0 / 60.0);
            apart.diffuse(1.0 / 60.0);
            apart.decay(1.0 / 60.0);
            assert_eq!(values(&fused), values(&apart), "frame {frame}");
        }
        assert!(fused.bricks() > 0);
    }

    #[test]
    fn a_step_is_diffusion_then_decay_when_fields_take_different_substeps() {
        // Pressure takes three substeps to the others' one at the defaults:
        // the fused step may grow an edge brick a substep later, nothing more.
        let mut fused = Fields::new(config(1.0));
        fused.add_explosion([50.0, 20.0, 50.0], 30.0, 2.0e6, 800.0);
        let mut apart = fused.clone();
        for _ in 0..30 {
            fused.step(1.0 / 60.0);
            apart.diffuse(1.0 / 60.0);
            apart.decay(1.0 / 60.0);
        }
        for field in [Scalar::Pressure, Scalar::Thermal] {
            let (a, b) = (fused.total(field), apart.total(field));
            assert!((a - b).abs() <= 1e-6 * b.abs(), "{field:?}: {a} vs {b}");
        }
        for p in [[50.0, 20.0, 50.0], [70.0, 30.0, 40.0], [20.0, 8.0, 60.0]] {
            let (a, b) = (fused.sample(p), apart.sample(p));
            assert!((a.pressure - b.pressure).abs() <= 1e-4 * b.pressure.abs().max(1.0));
            assert!((a.thermal - b.thermal).abs() <= 1e-4 * b.thermal.abs().max(1.0));
        }
    }

    #[test]
    fn stored_peaks_are_the_peaks_of_the_values() {
        let mut f = Fields::new(config(1.0));
        for frame in 0..40 {
            if frame % 10 == 0 {
                f.add_explosion([40.0 + frame as f32, 20.0, 50.0], 20.0, 1.0e6, 500.0);
                f.set_wind([0, 0, 0], [16, 16, 16], [3.0, 0.0, -1.0]);
            }
            if frame % 3 == 0 {
                f.diffuse(1.0 / 60.0);
                f.decay(1.0 / 60.0);
            } else {
                f.step(1.0 / 60.0);
            }
            let mut measured = 0;
            for (k, peaks) in f.peaks.iter().enumerate() {
                if let Some(peaks) = peaks {
                    for (c, p) in peaks.iter().enumerate() {
                        assert_eq!(*p, Peaks::of(&f.channels[c][k]), "frame {frame}");
                    }
                    measured += 1;
                }
            }
            assert!(
                measured > 0,
                "frame {frame}: the substeps measure what they write"
            );
        }
    }

    #[test]
    fn the_stencil_gives_the_same_bits_with_avx2_and_without() {
        let brick = |seed: usize| -> [f32; BRICK_CELLS] {
            std::array::from_fn(|l| ((l * 7919 + seed * 104_729) % 1000) as f32 * 0.37 - 150.0)
        };
        let own = brick(0);
        let neighbours: Vec<[f32; BRICK_CELLS]> = (1..=6).map(brick).collect();
        for missing in [0u8, 0b10_0101, 0b11_1111] {
            let around: super::Around =
                std::array::from_fn(|f| (missing >> f & 1 == 0).then(|| &neighbours[f]));
            let (mut generic, mut dispatched) = ([0.0; BRICK_CELLS], [0.0; BRICK_CELLS]);
            super::stencil_rows(&own, &around, 0.111, 0.87, &mut generic);
            super::stencil(&own, &around, 0.111, 0.87, &mut dispatched);
            assert_eq!(generic.map(f32::to_bits), dispatched.map(f32::to_bits));
            assert_ne!(generic, own, "the stencil changed something");
        }
        #[cfg(target_arch = "x86_64")]
        if !std::arch::is_x86_feature_detected!("avx2") {
            println!("no AVX2 on this CPU: both paths were the generic one");
        }
    }

    #[test]
    fn peaks_are_the_largest_magnitudes() {
        let mut c = [0.0f32; BRICK_CELLS];
        for (l, v) in c.iter_mut().enumerate() {
            *v = ((l * 37 % 101) as f32 - 50.0) * 0.5;
        }
        let p = Peaks::of(&c);
        let at = |x: usize, y: usize, z: usize| c[x + BRICK * (y + BRICK * z)].abs();
        let mut want = [0.0f32; 6];
        for u in 0..BRICK {
            for v in 0..BRICK {
                for (f, value) in [
                    at(0, u, v),
                    at(BRICK - 1, u, v),
                    at(u, 0, v),
                    at(u, BRICK - 1, v),
                    at(u, v, 0),
                    at(u, v, BRICK - 1),
                ]
                .into_iter()
                .enumerate()
                {
                    want[f] = want[f].max(value);
                }
            }
        }
        assert_eq!(p.faces, want);
        assert_eq!(p.all, c.iter().fold(0.0f32, |m, v| m.max(v.abs())));
        // Distinct faces, so a face mixed up with another fails.
        c[1 + BRICK * (2 + BRICK * 3)] = 1000.0; // inside: only the whole brick
        c[BRICK - 1 + BRICK * (4 + BRICK * 5)] = -900.0; // on the +x face
        let p = Peaks::of(&c);
        assert_eq!(p.all, 1000.0);
        assert_eq!(p.faces[1], 900.0);
        assert!(p
            .faces
            .iter()
            .enumerate()
            .all(|(f, &v)| f == 1 || v < 900.0));
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
