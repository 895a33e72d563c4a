//! Sparse force fields on a coarse grid: kinetic (a velocity, m/s), pressure
//! (an overpressure, Pa) and thermal (a temperature excess, K).
//!
//! A field cell covers `cell`³ voxels (default 4³). Field cells are stored
//! in bricks of [`BRICK`]³ that exist only where something was written, and
//! are freed once every value in them decays below `epsilon`. Writers
//! accumulate ([`Fields::add_force`], [`Fields::add_scalar`], and the
//! radial and box helpers). [`Fields::decay`] shrinks every value
//! exponentially. [`Fields::diffuse`] spreads it by Laplacian diffusion in
//! explicit substeps, as many as the step needs to stay stable;
//! [`Fields::step`] does both in one pass over memory fewer. Readers
//! sample trilinearly ([`Fields::sample`]) or sum a volume into a net force
//! and torque ([`Fields::net_force`]).
//!
//! ```
//! use loam_systems::fields::{Fields, FieldConfig, Scalar};
//!
//! let mut f = Fields::new(FieldConfig::default());
//! f.add_scalar(Scalar::Pressure, [10.0, 10.0, 10.0], 1000.0);
//! assert!(f.sample([10.0, 10.0, 10.0]).pressure > 0.0);
//! // A frame: diffusion and decay in one pass, as the runtime's
//! // `fields.step` job takes it.
//! f.step(1.0 / 60.0);
//! assert!(f.sample([14.0, 10.0, 10.0]).pressure > 0.0, "it spread");
//! f.decay(10.0); // ten seconds at the default rates
//! assert_eq!(f.bricks(), 0, "decayed to nothing and freed");
//! ```

mod couple;
mod diffuse;
mod extent;
pub mod mirror;
mod persist;
mod plugin;
mod sampling;
mod writes;

pub use couple::{couple, CoupleStats};
pub use diffuse::{diffuse_bricks, DecayBackend, StencilBackend};
pub use mirror::{FieldMirror, MirrorStep, MirrorSync};
pub use persist::SavedFields;
pub use plugin::{couple_job, step_job, FieldsPlugin};

use rayon::prelude::*;
use rustc_hash::FxHashMap;

/// Field cells along a brick's edge.
pub const BRICK: usize = 8;
/// Field cells in a brick.
pub const BRICK_CELLS: usize = BRICK * BRICK * BRICK;

/// A scalar field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scalar {
    /// Overpressure, Pa.
    Pressure,
    /// Temperature excess over ambient, K.
    Thermal,
}

impl Scalar {
    /// Its channel in a brick.
    fn channel(self) -> usize {
        match self {
            Scalar::Pressure => PRESSURE,
            Scalar::Thermal => THERMAL,
        }
    }
}

/// Channels of a brick: the kinetic field's x, y and z (m/s), then
/// pressure (Pa) and thermal (K), each a flat array of the brick's cells.
pub const CHANNELS: usize = 5;
const PRESSURE: usize = 3;
const THERMAL: usize = 4;

/// How the fields behave.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FieldConfig {
    /// Voxels per field cell edge.
    pub cell: u32,
    /// Decay rates, per second: kinetic, pressure, thermal.
    pub decay: [f32; 3],
    /// Diffusion coefficients, field cells² per second: kinetic, pressure, thermal.
    pub diffusion: [f32; 3],
    /// Values below these are nothing (kinetic m/s, pressure Pa, thermal
    /// K); bricks holding only such values are freed.
    pub epsilon: [f32; 3],
}

impl Default for FieldConfig {
    fn default() -> Self {
        Self {
            cell: 4,
            decay: [2.0, 8.0, 0.5],
            diffusion: [2.0, 20.0, 1.0],
            // A millipascal is nothing, but neither is a pascal: no cell's
            // strength is near it, and the pressure of a blast or an impact
            // reaches it in a fraction of the time.
            epsilon: [1e-3, 1.0, 1e-3],
        }
    }
}

/// What a field holds at a point.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sample {
    /// m/s.
    pub kinetic: [f32; 3],
    /// Pa.
    pub pressure: f32,
    /// K above ambient.
    pub thermal: f32,
}

/// Every brick's field cells, channel by channel: `channels[c][k]` is
/// brick `k`'s channel `c`, x fastest. One flat array per channel (SoA),
/// so a pass over a channel streams through memory instead of hopping
/// between allocations, and diffusion swaps a channel's buffers whole.
type Channels = [Vec<[f32; BRICK_CELLS]>; CHANNELS];

/// The largest magnitudes in one channel of a brick: on each face plane
/// (in the order of the faces diffusion uses: −x, +x, −y, +y, −z, +z) and
/// over the whole brick.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Peaks {
    /// On the −x, +x, −y, +y, −z and +z faces.
    pub faces: [f32; 6],
    /// Over the brick.
    pub all: f32,
}

impl Peaks {
    /// Measures a brick channel (cells x fastest).
    pub fn of(c: &[f32; BRICK_CELLS]) -> Self {
        let (mut every, mut y_lo, mut y_hi) = ([0.0f32; BRICK], [0.0f32; BRICK], [0.0f32; BRICK]);
        for plane in planes(c) {
            for row in plane {
                max_abs_into(&mut every, row);
            }
            max_abs_into(&mut y_lo, &plane[0]);
            max_abs_into(&mut y_hi, &plane[BRICK - 1]);
        }
        peaks_of(&every, &y_lo, &y_hi, planes(c))
    }

    /// The peaks of the channel times `k` (≥ 0): exact, as rounding is
    /// monotonic, so the largest product is the product of the largest.
    fn scaled(self, k: f32) -> Self {
        Self {
            faces: self.faces.map(|f| f * k),
            all: self.all * k,
        }
    }
}

/// A brick channel as 8 planes of z, each 8 rows of y of 8 cells.
pub(crate) type Planes = [[[f32; BRICK]; BRICK]; BRICK];

/// A brick channel as its planes.
pub(crate) fn planes(c: &[f32; BRICK_CELLS]) -> &Planes {
    bytemuck::cast_ref(c)
}

/// A brick channel's peaks from the lane-wise maxima over every row and
/// over the rows of the y faces, and its cells (for the z faces, its first
/// and last planes).
#[inline(always)]
pub(crate) fn peaks_of(
    every: &[f32; BRICK],
    y_lo: &[f32; BRICK],
    y_hi: &[f32; BRICK],
    out: &Planes,
) -> Peaks {
    let plane_peak = |plane: &[[f32; BRICK]; BRICK]| {
        let mut m = [0.0f32; BRICK];
        for row in plane {
            max_abs_into(&mut m, row);
        }
        peak(&m)
    };
    Peaks {
        faces: [
            every[0],
            every[BRICK - 1],
            peak(y_lo),
            peak(y_hi),
            plane_peak(&out[0]),
            plane_peak(&out[BRICK - 1]),
        ],
        all: peak(every),
    }
}

/// Lane-wise `m = max(m, |row|)`.
#[inline(always)]
pub(crate) fn max_abs_into(m: &mut [f32; BRICK], row: &[f32; BRICK]) {
    for x in 0..BRICK {
        // A compare, not `f32::max`, whose NaN rules cost a blend a lane.
        let a = row[x].abs();
        m[x] = if a > m[x] { a } else { m[x] };
    }
}

/// The largest of a row's lanes.
fn peak(m: &[f32; BRICK]) -> f32 {
    m.iter().fold(0.0f32, |a, &b| a.max(b))
}

/// Offsets of a brick's face neighbours, in the order of [`Peaks::faces`]:
/// opposite faces in pairs.
const FACES: [[i32; 3]; 6] = [
    [-1, 0, 0],
    [1, 0, 0],
    [0, -1, 0],
    [0, 1, 0],
    [0, 0, -1],
    [0, 0, 1],
];

/// Brick coordinates `b` moved by `d`.
fn offset(b: [i32; 3], d: [i32; 3]) -> [i32; 3] {
    [b[0] + d[0], b[1] + d[1], b[2] + d[2]]
}

/// A per-field value (kinetic, pressure, thermal) spread over the channels.
pub(crate) fn per_channel<T: Copy>(v: [T; 3]) -> [T; CHANNELS] {
    [v[0], v[0], v[0], v[1], v[2]]
}

/// The three fields, sparse in bricks.
#[derive(Debug)]
pub struct Fields {
    config: FieldConfig,
    /// Brick coordinates (in bricks) to their index.
    index: FxHashMap<[i32; 3], usize>,
    /// Brick coordinates, in the order the bricks were allocated, which is
    /// the order every pass visits them in: as deterministic as the writes.
    coords: Vec<[i32; 3]>,
    channels: Channels,
    /// Each brick's channels' [`Peaks`] as the last diffusion substep or
    /// decay left them; `None` once anything else wrote the brick. Growth
    /// and freeing read these instead of scanning every brick again.
    peaks: Vec<Option<[Peaks; CHANNELS]>>,
    /// Each brick's face neighbours (in [`FACES`] order), if allocated.
    neighbours: Vec<[Option<usize>; 6]>,
    /// The other buffer of diffusion's substeps, kept between steps so a
    /// substep allocates nothing. One for all channels: each channel's
    /// substep writes into it and leaves its old buffer for the next
    /// channel's, which is then still in cache.
    scratch: Vec<[f32; BRICK_CELLS]>,
    /// Bricks whose cells changed on the CPU since a [`FieldMirror`] last
    /// synced: the mirror is sent these, and only these.
    written: Vec<bool>,
    /// The field cells that may hold values, `[0, extent)` on each axis
    /// (the world's, see [`Fields::within`]); `None`: all of space.
    extent: Option<[i32; 3]>,
}

impl Clone for Fields {
    /// A copy with the original's room to grow: a brick added past a
    /// channel's capacity moves the whole channel, so a tight copy would
    /// step slower than the fields it copies.
    fn clone(&self) -> Self {
        let roomy = |c: &Channels| -> Channels {
            std::array::from_fn(|i| {
                let mut v = Vec::with_capacity(c[i].capacity());
                v.extend_from_slice(&c[i]);
                v
            })
        };
        Self {
            config: self.config,
            index: self.index.clone(),
            coords: self.coords.clone(),
            channels: roomy(&self.channels),
            peaks: self.peaks.clone(),
            neighbours: self.neighbours.clone(),
            // A copy is new to every mirror.
            written: vec![true; self.written.len()],
            // Only its room matters: every substep overwrites it.
            scratch: Vec::with_capacity(self.scratch.capacity()),
            extent: self.extent,
        }
    }
}

impl Default for Fields {
    fn default() -> Self {
        Self::new(FieldConfig::default())
    }
}

/// Field cell holding voxel-space point `p` (may be negative).
fn field_cell(p: [f32; 3], cell: u32) -> [i32; 3] {
    p.map(|v| (v / cell as f32).floor() as i32)
}

fn split(c: [i32; 3]) -> ([i32; 3], usize) {
    let b = c.map(|v| v.div_euclid(BRICK as i32));
    let l = c.map(|v| v.rem_euclid(BRICK as i32) as usize);
    (b, l[0] + BRICK * (l[1] + BRICK * l[2]))
}

impl Fields {
    /// Empty fields.
    ///
    /// # Panics
    /// If `config.cell` is not a power of two (field cells must tile pages).
    pub fn new(config: FieldConfig) -> Self {
        assert!(
            config.cell.is_power_of_two(),
            "field cell edge {} must be a power of two",
            config.cell
        );
        Self {
            config,
            index: FxHashMap::default(),
            coords: Vec::new(),
            channels: Default::default(),
            peaks: Vec::new(),
            neighbours: Vec::new(),
            scratch: Default::default(),
            written: Vec::new(),
            extent: None,
        }
    }

    /// Brick coordinates of every allocated brick, in allocation order
    /// (the order every pass visits them in). A brick covers
    /// [`BRICK`]³ field cells from `coords × BRICK`.
    pub fn brick_coords(&self) -> &[[i32; 3]] {
        &self.coords
    }

    /// The configuration.
    pub fn config(&self) -> &FieldConfig {
        &self.config
    }

    /// Bricks allocated.
    pub fn bricks(&self) -> usize {
        self.coords.len()
    }

    /// The index of the brick at brick coordinates `b`, allocated (zero)
    /// if absent, to be written.
    fn brick_mut(&mut self, b: [i32; 3]) -> usize {
        let k = match self.index.get(&b) {
            Some(&k) => k,
            None => {
                self.insert_bricks([b]);
                self.coords.len() - 1
            }
        };
        // Whoever asks for a brick to write will change it.
        self.peaks[k] = None;
        self.written[k] = true;
        k
    }

    /// Measures again the peaks of the bricks written since they were
    /// measured, in parallel.
    fn measure_peaks(&mut self) {
        // Usually every brick is measured already: a look is cheaper than
        // waking the pool.
        if self.peaks.iter().all(Option::is_some) {
            return;
        }
        let channels = &self.channels;
        self.peaks
            .par_iter_mut()
            .enumerate()
            .filter(|(_, p)| p.is_none())
            .for_each(|(k, p)| *p = Some(std::array::from_fn(|c| Peaks::of(&channels[c][k]))));
    }

    /// All fields at cell `l` of brick `k`.
    fn sample_at(&self, k: usize, l: usize) -> Sample {
        let c = &self.channels;
        Sample {
            kinetic: [c[0][k][l], c[1][k][l], c[2][k][l]],
            pressure: c[PRESSURE][k][l],
            thermal: c[THERMAL][k][l],
        }
    }

    /// Appends zero bricks at the brick coordinates `new` (none of them
    /// present yet), linking them to their neighbours.
    pub(crate) fn insert_bricks(&mut self, new: impl IntoIterator<Item = [i32; 3]>) {
        for b in new {
            let k = self.coords.len();
            let around = FACES.map(|d| self.index.get(&offset(b, d)).copied());
            for (f, n) in around.iter().enumerate() {
                if let Some(n) = *n {
                    // Faces come in opposite pairs: −x, +x, −y, …
                    self.neighbours[n][f ^ 1] = Some(k);
                }
            }
            self.index.insert(b, k);
            self.coords.push(b);
            for c in &mut self.channels {
                c.push([0.0; BRICK_CELLS]);
            }
            self.peaks.push(Some([Peaks::default(); CHANNELS]));
            self.neighbours.push(around);
            // A mirror makes its new bricks zero itself.
            self.written.push(false);
        }
    }

    /// Rebuilds the index and the neighbours after bricks were removed.
    fn reindex(&mut self) {
        self.index = self
            .coords
            .iter()
            .enumerate()
            .map(|(k, c)| (*c, k))
            .collect();
        self.neighbours = self
            .coords
            .iter()
            .map(|&b| FACES.map(|d| self.index.get(&offset(b, d)).copied()))
            .collect();
    }

    /// The (brick, cell) indices of field cell `c`, its brick allocated
    /// if absent, to be written.
    fn cell_mut(&mut self, c: [i32; 3]) -> (usize, usize) {
        let (b, l) = split(c);
        (self.brick_mut(b), l)
    }

    /// Shrinks every value by `exp(−rate·dt)` and frees bricks left with
    /// nothing in them.
    pub fn decay(&mut self, dt: f64) {
        let k = self.decay_factors(dt);
        for (c, k) in self.channels.iter_mut().zip(k) {
            c.par_iter_mut()
                .for_each(|brick| brick.iter_mut().for_each(|v| *v *= k));
        }
        self.written.fill(true);
        for peaks in self.peaks.iter_mut().flatten() {
            for (p, k) in peaks.iter_mut().zip(k) {
                *p = p.scaled(k);
            }
        }
        self.free_empty();
    }

    /// Decays as [`Fields::decay`] does, with each channel's product
    /// computed by `step` — another backend, such as the GPU's; its first
    /// error stops the decay.
    ///
    /// # Panics
    /// If `step` returns a different number of bricks than it was given.
    pub fn decay_with<E>(&mut self, dt: f64, mut step: impl DecayBackend<E>) -> Result<(), E> {
        for (c, k) in self.decay_factors(dt).into_iter().enumerate() {
            let out = step(&self.channels[c], k)?;
            assert_eq!(
                out.len(),
                self.bricks(),
                "a decay backend returns every brick"
            );
            self.channels[c] = out;
            self.peaks.fill(None);
        }
        self.written.fill(true);
        self.free_empty();
        Ok(())
    }

    /// Each channel's factor over `dt`: `exp(−rate·dt)`.
    fn decay_factors(&self, dt: f64) -> [f32; CHANNELS] {
        let k = self
            .config
            .decay
            .map(|r| (-(f64::from(r)) * dt).exp() as f32);
        per_channel(k)
    }

    /// Frees the bricks whose every value is below its channel's epsilon.
    fn free_empty(&mut self) {
        let eps = per_channel(self.config.epsilon);
        self.measure_peaks();
        let keep: Vec<bool> = self
            .peaks
            .iter()
            .map(|p| p.is_none_or(|p| p.iter().zip(eps).any(|(p, e)| p.all >= e)))
            .collect();
        if keep.iter().all(|&k| k) {
            return;
        }
        let kept = |k: &usize| keep[*k];
        let mut k = 0..;
        self.coords.retain(|_| k.next().is_some_and(|k| kept(&k)));
        let mut k = 0..;
        self.peaks.retain(|_| k.next().is_some_and(|k| kept(&k)));
        let mut k = 0..;
        self.written.retain(|_| k.next().is_some_and(|k| kept(&k)));
        for c in &mut self.channels {
            let mut k = 0..;
            c.retain(|_| k.next().is_some_and(|k| kept(&k)));
        }
        self.reindex();
    }

    /// Sum of a scalar field over every field cell (for conservation checks).
    pub fn total(&self, field: Scalar) -> f64 {
        self.channels[field.channel()]
            .iter()
            .map(|b| b.iter().map(|&x| f64::from(x)).sum::<f64>())
            .sum()
    }

    /// Every field cell with a value above epsilon, as
    /// (cell coordinates, sample), in brick order.
    pub(crate) fn active_cells(&self) -> Vec<([i32; 3], Sample)> {
        let eps = per_channel(self.config.epsilon);
        let mut out = Vec::new();
        for (k, b) in self.coords.iter().enumerate() {
            for l in 0..BRICK_CELLS {
                if (0..CHANNELS).any(|c| self.channels[c][k][l].abs() > eps[c]) {
                    let lc = [l % BRICK, (l / BRICK) % BRICK, l / (BRICK * BRICK)];
                    let c = [0, 1, 2].map(|a| b[a] * BRICK as i32 + lc[a] as i32);
                    out.push((c, self.sample_at(k, l)));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_is_exact_for_a_linear_field() {
        let mut f = Fields::new(FieldConfig::default());
        for x in 0..8 {
            for y in 0..4 {
                // Field-cell centres sit at 4x + 2 voxels.
                f.add_scalar(
                    Scalar::Pressure,
                    [4.0 * x as f32 + 2.0, 4.0 * y as f32 + 2.0, 2.0],
                    10.0 * x as f32,
                );
            }
        }
        for px in [3.0f32, 9.5, 17.25] {
            let expected = 10.0 * (px - 2.0) / 4.0;
            let got = f.sample([px, 6.0, 2.0]).pressure;
            assert!((got - expected).abs() < 1e-4, "{px}: {got} vs {expected}");
        }
    }

    #[test]
    fn decay_is_exponential_and_frees_bricks() {
        let mut f = Fields::new(FieldConfig::default());
        f.add_scalar(Scalar::Thermal, [0.0; 3], 100.0);
        f.add_scalar(Scalar::Thermal, [-100.0, 0.0, 0.0], 100.0);
        assert_eq!(f.bricks(), 2, "negative coordinates have bricks too");
        f.decay(1.0);
        let v = f.sample([2.0, 2.0, 2.0]).thermal;
        assert!((v - 100.0 * (-0.5f32).exp()).abs() < 1e-3, "{v}");
        f.decay(100.0);
        assert_eq!(f.bricks(), 0);
    }

    #[test]
    fn bricks_stay_linked_to_their_neighbours_as_they_grow_and_free() {
        let mut f = Fields::new(FieldConfig::default());
        let mut most = 0;
        for frame in 0..240 {
            if frame % 60 == 0 {
                f.add_explosion([frame as f32, 30.0, -20.0], 25.0, 1.0e6, 300.0);
            }
            f.step(1.0 / 60.0);
            most = most.max(f.bricks());
            let linked = f.neighbours.clone();
            f.reindex();
            assert_eq!(linked, f.neighbours, "frame {frame}");
        }
        assert!(
            most > 100 && f.bricks() < most,
            "grew to {most}, freed to {}",
            f.bricks()
        );
    }

    #[test]
    fn net_force_and_torque_of_a_uniform_push() {
        let mut f = Fields::new(FieldConfig::default());
        f.set_wind([0, 0, 0], [8, 8, 8], [1.0, 0.0, 0.0]);
        let (force, torque) = f.net_force([0.0; 3], [8.0; 3], [4.0, 0.0, 4.0]);
        assert_eq!(force, [8.0 * 64.0, 0.0, 0.0]);
        // Pushing +x above the pivot (y > 0) turns about −z.
        assert!(torque[2] < 0.0 && torque[0] == 0.0, "{torque:?}");
    }
}
