//! The Metropolis decision for up to [`LANES`] cells of one colour in a row
//! at once: the CPU's inner loop, written as straight-line arithmetic over
//! fixed-length arrays so that it vectorises (and compiled for AVX2 too,
//! chosen at run time). Every cell the CPU decides goes through this one
//! function, so there is no scalar twin on the CPU that could drift from
//! it. (`loam-gpu`'s kernel decides the same way in `f32`, with the GPU's
//! `log` and a division where this multiplies: statistically equal, as its
//! tests check.)
//!
//! The logarithms are [`ln_f32`], built from additions, multiplications and
//! one division: the same bits on every CPU, with or without AVX2, which a
//! C library's `logf` does not promise.

use loam_runtime::random::mix64;

use super::diagram::{State, P0, R};
use super::terms::{Pair, SubstanceTerms, HELD_DRIFT, MIN_TEMPERATURE, SKIP};

/// Cells decided together: the cells of one colour in 32 of a row (a
/// row of a 32-cell page; two such chunks for pages of 64, and the cells
/// of shorter rows gathered one by one into the same lanes).
pub(super) const LANES: usize = 16;

// The SSE2 code below (`bits`, `every_other`) works on 16 lanes.
const _: () = assert!(LANES == 16);

/// The cells of one chunk of a row, as lanes.
pub(super) struct Lanes {
    /// Material of each cell.
    pub material: [u8; LANES],
    /// Temperature, K.
    pub temperature: [f32; LANES],
    /// Latent heat held, as kelvin of the cell's phase (see
    /// `VoxelWorld::latent`).
    pub latent: [f32; LANES],
    /// Pressure, Pa.
    pub pressure: [f64; LANES],
    /// `ln(P/P°)`.
    pub ln_p: [f64; LANES],
    /// Whether the cell is in a heat bath.
    pub bath: [bool; LANES],
    /// The cell's index in the world, which its random number hashes.
    pub index: [u64; LANES],
    /// Materials of the −x, +x, −y, +y, −z, +z neighbours; a material with
    /// no phase diagram where there is none.
    pub neighbours: [[u8; LANES]; 6],
}

impl Default for Lanes {
    fn default() -> Self {
        Self {
            material: [0; LANES],
            temperature: [0.0; LANES],
            latent: [0.0; LANES],
            pressure: [0.0; LANES],
            ln_p: [0.0; LANES],
            bath: [false; LANES],
            index: [0; LANES],
            neighbours: [[0; LANES]; 6],
        }
    }
}

/// One row of a page, as a half-sweep reads it.
pub(super) struct Row<'a> {
    /// The row's materials.
    pub material: &'a [u8],
    /// The row's temperatures.
    pub temperature: &'a [f32],
    /// The row's latent heats.
    pub latent: &'a [f32],
    /// The rows at −y, +y, −z, +z; `None` outside the world or in a page
    /// that is not resident.
    pub around: [Option<&'a [u8]>; 4],
    /// The material before the row's first cell in x, and after its last:
    /// only the one next to a cell of the colour being decided is read.
    pub ends: [u8; 2],
}

impl Lanes {
    /// Takes the materials, temperatures and latent heats of the row's
    /// cells `x0 + first`,
    /// `x0 + first + 2`, … (up to [`LANES`] of them, within the row), and
    /// returns how many there are; the lanes after them get `sentinel` for
    /// a material.
    pub fn gather_cells(&mut self, row: &Row, x0: usize, first: usize, sentinel: u8) -> usize {
        if let Some(cells) = window(row.material, x0) {
            self.material = lanes_of(cells, first);
            self.temperature = lanes_of(
                window(row.temperature, x0).expect("rows are as long"),
                first,
            );
            self.latent = lanes_of(window(row.latent, x0).expect("rows are as long"), first);
            return LANES;
        }
        self.gather_cells_each(row, x0, first, sentinel)
    }

    /// [`Lanes::gather_cells`] a cell at a time, for rows shorter than a
    /// window.
    fn gather_cells_each(&mut self, row: &Row, x0: usize, first: usize, sentinel: u8) -> usize {
        let start = x0 + first;
        let n = row
            .material
            .len()
            .saturating_sub(start)
            .div_ceil(2)
            .min(LANES);
        for (l, m) in self.material.iter_mut().enumerate() {
            *m = if l < n {
                row.material[start + 2 * l]
            } else {
                sentinel
            };
        }
        for (t, &cell) in self
            .temperature
            .iter_mut()
            .zip(row.temperature[start..].iter().step_by(2))
        {
            *t = cell;
        }
        for (l, &cell) in self
            .latent
            .iter_mut()
            .zip(row.latent[start..].iter().step_by(2))
        {
            *l = cell;
        }
        n
    }

    /// Takes the neighbours of the cells [`Lanes::gather_cells`] took;
    /// `sentinel` where there are none.
    pub fn gather_neighbours(&mut self, row: &Row, x0: usize, first: usize, sentinel: u8) {
        let [before, after] = row.ends;
        let [left, right, rest @ ..] = &mut self.neighbours;
        if let Some(cells) = window(row.material, x0) {
            // x0 is even: the cells of colour `first` have the other
            // colour's cells on either side.
            let before = if x0 == 0 {
                before
            } else {
                row.material[x0 - 1]
            };
            let after = row.material.get(x0 + 2 * LANES).copied().unwrap_or(after);
            let other = lanes_of(cells, 1 - first);
            if first == 0 {
                left[0] = before;
                left[1..].copy_from_slice(&other[..LANES - 1]);
                *right = other;
            } else {
                *left = other;
                right[..LANES - 1].copy_from_slice(&other[1..]);
                right[LANES - 1] = after;
            }
            for (lane, around) in rest.iter_mut().zip(&row.around) {
                match around.and_then(|r| window(r, x0)) {
                    Some(cells) => *lane = lanes_of(cells, first),
                    None => lane.fill(sentinel),
                }
            }
            return;
        }
        self.gather_neighbours_each(row, x0, first, sentinel);
    }

    /// [`Lanes::gather_neighbours`] a cell at a time.
    fn gather_neighbours_each(&mut self, row: &Row, x0: usize, first: usize, sentinel: u8) {
        let [before, after] = row.ends;
        let [left, right, rest @ ..] = &mut self.neighbours;
        let pe = row.material.len();
        for l in 0..LANES {
            let x = (x0 + first + 2 * l).min(pe - 1);
            left[l] = if x > 0 { row.material[x - 1] } else { before };
            right[l] = if x + 1 < pe {
                row.material[x + 1]
            } else {
                after
            };
            for (lane, around) in rest.iter_mut().zip(&row.around) {
                lane[l] = around.map_or(sentinel, |r| r[x]);
            }
        }
    }
}

/// The `2·LANES` cells of `row` from `x0`, if the row holds them all.
#[inline(always)]
fn window<T>(row: &[T], x0: usize) -> Option<&[T; 2 * LANES]> {
    row.get(x0..x0 + 2 * LANES)?.try_into().ok()
}

/// Every other cell of a window, from `first` (0 or 1).
#[inline(always)]
fn lanes_of<T: Deinterleave>(cells: &[T; 2 * LANES], first: usize) -> [T; LANES] {
    T::every_other(cells, first)
}

/// Cells a window can be split into its two colours of.
trait Deinterleave: Copy + Sized {
    /// Cells `first`, `first + 2`, … of `cells`.
    fn every_other(cells: &[Self; 2 * LANES], first: usize) -> [Self; LANES];
}

impl Deinterleave for u8 {
    #[inline(always)]
    fn every_other(cells: &[u8; 2 * LANES], first: usize) -> [u8; LANES] {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::*;
            // SAFETY: SSE2 is part of x86_64; the loads are of the 32
            // bytes of `cells` and the store of the 16 of the result.
            unsafe {
                let lo = _mm_loadu_si128(cells.as_ptr().cast());
                let hi = _mm_loadu_si128(cells.as_ptr().add(LANES).cast());
                // Bring each pair's wanted byte to the low half of its
                // 16-bit word, then pack the words to bytes.
                let (lo, hi) = if first == 0 {
                    let mask = _mm_set1_epi16(0xff);
                    (_mm_and_si128(lo, mask), _mm_and_si128(hi, mask))
                } else {
                    (_mm_srli_epi16::<8>(lo), _mm_srli_epi16::<8>(hi))
                };
                let mut lanes = [0u8; LANES];
                _mm_storeu_si128(lanes.as_mut_ptr().cast(), _mm_packus_epi16(lo, hi));
                lanes
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        std::array::from_fn(|l| cells[2 * l + first])
    }
}

impl Deinterleave for f32 {
    #[inline(always)]
    fn every_other(cells: &[f32; 2 * LANES], first: usize) -> [f32; LANES] {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::*;
            let mut lanes = [0.0f32; LANES];
            for q in 0..LANES / 4 {
                // SAFETY: SSE2 is part of x86_64; loads of cells 8q..8q+8
                // and a store of lanes 4q..4q+4, all in bounds.
                unsafe {
                    let a = _mm_loadu_ps(cells.as_ptr().add(8 * q));
                    let b = _mm_loadu_ps(cells.as_ptr().add(8 * q + 4));
                    let pick = if first == 0 {
                        _mm_shuffle_ps::<0b10_00_10_00>(a, b)
                    } else {
                        _mm_shuffle_ps::<0b11_01_11_01>(a, b)
                    };
                    _mm_storeu_ps(lanes.as_mut_ptr().add(4 * q), pick);
                }
            }
            lanes
        }
        #[cfg(not(target_arch = "x86_64"))]
        std::array::from_fn(|l| cells[2 * l + first])
    }
}

/// What [`decide`] found, per lane.
pub(super) struct Decisions {
    /// Near enough to a transition to propose one.
    pub proposed: [bool; LANES],
    /// The lanes (as bits) whose proposal was accepted: the cell changes
    /// phase.
    pub accepted: u32,
    /// The lanes (as bits) that keep their phase but not their temperature
    /// and latent heat: part way through a change, or just no longer.
    pub held: u32,
    /// The proposed phase: 0 for the first of [`FromPhase::to`], 1 for the
    /// second.
    pub second: [bool; LANES],
    /// Temperature after the transition, or while held, K.
    pub temperature: [f32; LANES],
    /// Latent heat while held (zero after a transition).
    pub latent: [f32; LANES],
}

impl Default for Decisions {
    fn default() -> Self {
        Self {
            proposed: [false; LANES],
            accepted: 0,
            held: 0,
            second: [false; LANES],
            temperature: [0.0; LANES],
            latent: [0.0; LANES],
        }
    }
}

/// A phase a voxel may change into.
#[derive(Clone, Copy, Debug)]
pub(super) struct ToPhase {
    /// The phase's index in its substance.
    pub phase: usize,
    /// How its molar Gibbs energy exceeds the present phase's; `a = ∞` for
    /// a phase that does not exist.
    pub pair: Pair,
    /// Reachable only below this pressure (a solid and its gas meet below
    /// the triple point); `∞` when always.
    pub below: f64,
    /// Its material.
    pub material: u8,
    /// Enthalpy at 0 K and P°, J/mol.
    pub a: f64,
    /// One over its molar heat capacity, mol·K/J.
    pub per_cp: f64,
    /// Molar volume in `V·(P − P°)`: zero for a gas.
    pub volume: f64,
    /// +1 when this phase holds more heat than the present one at the
    /// same temperature (it is the present one melted, boiled or
    /// sublimated), −1 when less.
    pub up: f64,
}

/// The constants of a visit to a voxel in one phase of a substance.
#[derive(Clone, Copy, Debug)]
pub(super) struct FromPhase {
    /// Moles in a voxel.
    pub moles: f64,
    /// Interface energy of one unlike face, J.
    pub interface: f64,
    /// The present phase's material.
    pub material: u8,
    /// Its enthalpy at 0 K and P°, J/mol.
    pub a: f64,
    /// Its molar heat capacity, J/(mol·K).
    pub cp: f64,
    /// Its molar volume in `V·(P − P°)`: zero for a gas.
    pub volume: f64,
    /// The other phases, in the substance's order.
    pub to: [ToPhase; 2],
}

impl FromPhase {
    /// The constants for every phase of every substance: `[s][k]`.
    pub fn table(terms: &[SubstanceTerms]) -> Vec<Vec<FromPhase>> {
        let rank = |state: State| match state {
            State::Solid => 0,
            State::Liquid => 1,
            State::Gas => 2,
        };
        let volume = |s: &SubstanceTerms, k: usize| {
            let ph = &s.phases[k];
            if ph.state == State::Gas {
                0.0
            } else {
                ph.volume
            }
        };
        terms
            .iter()
            .map(|s| {
                (0..s.phases.len())
                    .map(|k| {
                        let mut others = (0..s.phases.len()).filter(|&q| q != k).map(|q| {
                            let (kind, other) = (s.phases[k].state, s.phases[q].state);
                            let solid_gas = matches!(
                                (kind, other),
                                (State::Solid, State::Gas) | (State::Gas, State::Solid)
                            );
                            ToPhase {
                                phase: q,
                                pair: s.pairs[k][q],
                                below: if solid_gas {
                                    s.triple_pressure.unwrap_or(f64::NEG_INFINITY)
                                } else {
                                    f64::INFINITY
                                },
                                material: s.phases[q].material,
                                a: s.phases[q].a,
                                per_cp: 1.0 / s.phases[q].cp,
                                volume: volume(s, q),
                                up: if rank(other) > rank(kind) { 1.0 } else { -1.0 },
                            }
                        });
                        let none = ToPhase {
                            phase: k,
                            pair: Pair {
                                a: f64::INFINITY,
                                ..Pair::default()
                            },
                            below: f64::NEG_INFINITY,
                            material: s.phases[k].material,
                            a: 0.0,
                            per_cp: 1.0,
                            volume: 0.0,
                            up: 1.0,
                        };
                        FromPhase {
                            moles: s.moles,
                            interface: s.interface,
                            material: s.phases[k].material,
                            a: s.phases[k].a,
                            cp: s.phases[k].cp,
                            volume: volume(s, k),
                            to: [others.next().unwrap_or(none), others.next().unwrap_or(none)],
                        }
                    })
                    .collect()
            })
            .collect()
    }
}

/// Decides the lanes of `lanes` that are in `from`'s phase (`run`), with
/// the half-sweep's random `key` (see the module docs of [`crate::phase`]):
/// proposes the more stable of the phases it borders and accepts it with
/// `min(1, exp(−(n·Δg + interface)/RT))`, the latent heat paid from the
/// voxel's temperature unless it is in a bath. Lanes outside `run` come out
/// neither proposed nor accepted.
pub(super) fn decide(
    from: &FromPhase,
    lanes: &Lanes,
    run: &[bool; LANES],
    key: u64,
    out: &mut Decisions,
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { decide_avx2(from, lanes, run, key, out) };
    }
    decide_lanes(from, lanes, run, key, out)
}

/// [`decide_lanes`] for AVX2. It does the same operations in the same order
/// (Rust fuses no multiply-adds), so it gives the same bits.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn decide_avx2(
    from: &FromPhase,
    lanes: &Lanes,
    run: &[bool; LANES],
    key: u64,
    out: &mut Decisions,
) {
    decide_lanes(from, lanes, run, key, out)
}

#[inline(always)]
fn decide_lanes(
    from: &FromPhase,
    lanes: &Lanes,
    run: &[bool; LANES],
    key: u64,
    out: &mut Decisions,
) {
    // Each step is its own loop over the lanes, of one width of number,
    // which is what the vectoriser handles.
    let mut ln_t = [0.0f32; LANES];
    for (ln_t, &t) in ln_t.iter_mut().zip(&lanes.temperature) {
        *ln_t = ln_f32(t);
    }
    let mut ln_u = [0.0f32; LANES];
    for (ln_u, &index) in ln_u.iter_mut().zip(&lanes.index) {
        let random = mix64(key ^ index);
        *ln_u = ln_f32(((random >> 40) as f32 + 0.5) * (1.0 / (1u64 << 24) as f32));
    }
    // The unlike faces gained: Σ over present neighbours of [n ≠ new] −
    // [n ≠ old] = (neighbours like the old phase) − (like the new one).
    let (like_old, like_first, like_second) = (
        like(lanes, from.material),
        like(lanes, from.to[0].material),
        like(lanes, from.to[1].material),
    );
    // Copied out, so that the loop selects numbers, not references.
    let [first, second] = from.to;
    let (moles, interface) = (from.moles, from.interface);
    let (a, cp, volume) = (from.a, from.cp, from.volume);
    // What the first loop finds for the loops after it.
    let mut dg = [0.0f64; LANES];
    let mut slope = [1.0f64; LANES];
    let mut theta = [0.0f64; LANES];
    let mut t_new = [0.0f64; LANES];
    let mut gate = [0.0f64; LANES];
    let mut chance = [0.0f64; LANES];
    let mut bathed = [0.0f64; LANES];
    for l in 0..LANES {
        let t = f64::from(lanes.temperature[l]);
        // NaN, zero, negative, subnormal and infinite temperatures are not
        // decided (`ln_f32` means nothing for them).
        let live = run[l] && t >= f64::from(f32::MIN_POSITIVE) && t < f64::INFINITY;
        let ln_t = f64::from(ln_t[l]);
        let p = lanes.pressure[l];
        let dp = p - P0;
        let rt = R * t;
        let rt_ln_p = rt * lanes.ln_p[l];
        // The proposal is the more stable of the phases this one borders at
        // this pressure (ice and steam only meet below the triple point):
        // the stable phase when the voxel is not in it, else the runner-up,
        // accepted only within a fraction of a kelvin of the boundary.
        let d_first = if p < first.below {
            first.pair.delta_g(t, ln_t, dp, rt_ln_p)
        } else {
            f64::INFINITY
        };
        let d_second = if p < second.below {
            second.pair.delta_g(t, ln_t, dp, rt_ln_p)
        } else {
            f64::INFINITY
        };
        // A NaN difference proposes nothing.
        let d = if d_first < f64::INFINITY {
            d_first
        } else {
            f64::INFINITY
        };
        let is_second = d_second < d;
        let d = if is_second { d_second } else { d };
        let proposed = live && moles * d <= SKIP * rt;
        let pick = |a: f64, b: f64| if is_second { b } else { a };
        let like_new = if is_second {
            like_second[l]
        } else {
            like_first[l]
        };
        // The voxel's ΔG; accepted with probability min(1, e^(−ΔG/RT)),
        // compared as ln u·RT < −ΔG to spare a division.
        let energy = moles * d + interface * f64::from(like_old[l] - like_new);
        let metropolis = proposed && (energy <= 0.0 || f64::from(ln_u[l]) * rt < -energy);
        // Outside a bath (which supplies or takes the latent heat, so that
        // the voxel changes at the bath's temperature) enthalpy is
        // conserved: the voxel's own heat, with what it already holds
        // toward the new phase (`theta`, as a temperature of this phase),
        // pays the latent heat.
        let held = if lanes.bath[l] {
            0.0
        } else {
            f64::from(lanes.latent[l])
        };
        theta[l] = t + held;
        let to_h = pick(first.a, second.a) + pick(first.volume, second.volume) * dp;
        t_new[l] = (a + cp * theta[l] + volume * dp - to_h) * pick(first.per_cp, second.per_cp);
        // The slope of Δg in T, for the meeting point below.
        slope[l] = pick(first.pair.gas, second.pair.gas) * R * lanes.ln_p[l]
            - (pick(first.pair.b, second.pair.b) + pick(first.pair.c, second.pair.c) * ln_t);
        // `gate`: +1 when the new phase holds more heat (melting, boiling),
        // −1 when less; 0 for a voxel in a bath, or neither proposed nor
        // holding heat, which the rules below leave to Metropolis alone.
        let decided = live & !lanes.bath[l] & (proposed | (held != 0.0));
        gate[l] = if decided {
            pick(first.up, second.up)
        } else {
            0.0
        };
        dg[l] = if decided { d } else { 0.0 };
        chance[l] = if metropolis { 1.0 } else { 0.0 };
        bathed[l] = if lanes.bath[l] { 1.0 } else { 0.0 };
        out.proposed[l] = proposed;
        out.second[l] = is_second;
    }
    // Where the two phases meet at this pressure: one Newton step on Δg
    // from `t`, whose value and logarithm are at hand. A held voxel sits
    // there already, so the step refines it visit by visit.
    let mut meet = [0.0f64; LANES];
    for l in 0..LANES {
        meet[l] = f64::from(lanes.temperature[l]) - dg[l] / slope[l];
    }
    // The decisions, as 64-bit masks (all ones for yes) and selections by
    // bits: numbers of one width and no branch, which is what the
    // vectoriser handles (with `bool`s and `if`s it branched on every lane).
    let mask = |yes: bool| u64::from(yes).wrapping_neg();
    let choose = |m: u64, yes: f64, no: f64| f64::from_bits(yes.to_bits() & m | no.to_bits() & !m);
    let mut held = [0u64; LANES];
    let (mut temperature, mut latent) = ([0.0f64; LANES], [0.0f64; LANES]);
    let (mut accepted_bits, mut held_bits) = (0u32, 0u32);
    for l in 0..LANES {
        let t = f64::from(lanes.temperature[l]);
        let (u, m) = (gate[l], meet[l]);
        let h = theta[l] - t;
        let holding = mask(h != 0.0);
        // The voxel is past the meeting point when its heat lies on the new
        // phase's side, and it has the whole latent heat when the new phase
        // would still be on its own side after paying it. A held voxel sits
        // at a transition whatever the proposal's odds (a neighbour's heat
        // can take it far from the meeting point within a frame); one that
        // holds heat toward another phase than the one proposed is left as
        // it is.
        let heading = mask(u != 0.0) & mask(u * h >= 0.0);
        let past = heading & mask(u * (theta[l] - m) > 0.0);
        let whole = mask(u * (t_new[l] - m) >= 0.0) & mask(t_new[l] > MIN_TEMPERATURE);
        // A held voxel that has the whole heat changes; one that was not
        // holding any changes as Metropolis says (in a bath, always so).
        // Past the meeting point without the whole heat, the voxel holds
        // what it has and sits at the meeting point, so its neighbours see
        // the temperature of a mixture of the two phases and keep heating
        // (or cooling) it; a held voxel no longer past it has its heat back
        // as temperature.
        let bath = mask(bathed[l] != 0.0);
        let lucky = mask(chance[l] != 0.0);
        let changes = bath & lucky | past & whole & (holding | lucky);
        let partial = past & !whole;
        let release = holding & heading & !past;
        // A voxel already holding heat that is still within `HELD_DRIFT`
        // of the meeting point stays as it is.
        let off = m - t;
        let drifted = !holding | mask(off > HELD_DRIFT) | mask(off < -HELD_DRIFT);
        held[l] = !changes & (partial & drifted | release);
        accepted_bits |= (changes as u32 & 1) << l;
        held_bits |= (held[l] as u32 & 1) << l;
        let now = choose(changes, t_new[l], choose(partial, m, theta[l]));
        temperature[l] = choose(bath, t, now);
        latent[l] = choose(partial, theta[l], 0.0);
    }
    for l in 0..LANES {
        let stored = temperature[l] as f32;
        out.temperature[l] = stored;
        // What a voxel part way through holds: its heat past the meeting
        // point as stored.
        let holds = held[l] & mask(latent[l] != 0.0);
        out.latent[l] = choose(holds, latent[l] - f64::from(stored), 0.0) as f32;
    }
    out.accepted = accepted_bits;
    out.held = held_bits;
}

/// How many of each lane's neighbours are `material`.
#[inline(always)]
fn like(lanes: &Lanes, material: u8) -> [i32; LANES] {
    let mut like = [0i32; LANES];
    for around in &lanes.neighbours {
        for (like, &n) in like.iter_mut().zip(around) {
            *like += i32::from(n == material);
        }
    }
    like
}

/// The lanes that are `true`, as bits.
#[inline(always)]
pub(super) fn bits(lanes: &[bool; LANES]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        // SAFETY: SSE2 is part of x86_64; a load of the 16 bytes of
        // `lanes`, each 0 or 1, which the shift moves to the top bit.
        unsafe {
            let v = _mm_loadu_si128(lanes.as_ptr().cast());
            _mm_movemask_epi8(_mm_slli_epi16::<7>(v)) as u32
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    lanes
        .iter()
        .enumerate()
        .fold(0, |bits, (l, &b)| bits | u32::from(b) << l)
}

/// `ln x` for normal positive `x`, to a few ulps, from additions,
/// multiplications and one division: `x = 2^e·m` with `m` in `[√½, √2)`,
/// and `ln m = 2·atanh(s)`, `s = (m − 1)/(m + 1)`, by its series to `s⁹`
/// (`|s| < 0.172`: the next term is below 1e-9 of the result). Other
/// inputs give a value that means nothing.
#[inline(always)]
pub fn ln_f32(x: f32) -> f32 {
    const SQRT_HALF: i32 = 0x3f35_04f3;
    let bits = x.to_bits() as i32;
    let e = bits.wrapping_sub(SQRT_HALF) >> 23;
    let m = f32::from_bits(bits.wrapping_sub(e << 23) as u32);
    let f = m - 1.0;
    let s = f / (2.0 + f);
    let z = s * s;
    let tail = z * (2.0 / 3.0 + z * (2.0 / 5.0 + z * (2.0 / 7.0 + z * (2.0 / 9.0))));
    e as f32 * std::f32::consts::LN_2 + (2.0 * s + s * tail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ln_f32_is_within_a_few_ulps_of_the_true_logarithm() {
        // 2ε of the result (2 to 4 ulps), or 2ε absolute near x = 1.
        let mut x = 1.0e-7f32;
        while x < 1.0e7 {
            let exact = f64::from(x).ln();
            let ours = f64::from(ln_f32(x));
            let ulp = f64::from(f32::EPSILON) * exact.abs().max(f64::from(f32::MIN_POSITIVE));
            assert!(
                (ours - exact).abs() <= 2.0 * ulp.max(f64::from(f32::EPSILON) * 0.5),
                "ln({x}) = {exact}, ln_f32 gave {ours}"
            );
            x *= 1.000_37;
        }
        assert_eq!(ln_f32(1.0), 0.0);
    }

    #[test]
    fn whole_windows_gather_the_same_lanes_as_single_cells() {
        let material: Vec<u8> = (0..64u32).map(|x| (x * 37 % 11) as u8).collect();
        let temperature: Vec<f32> = (0..64).map(|x| 300.0 + x as f32).collect();
        let latent: Vec<f32> = (0..64).map(|x| x as f32 - 20.0).collect();
        let others: Vec<Vec<u8>> = (0..4u32)
            .map(|d| (0..64u32).map(|x| ((x + 5 * d) * 13 % 7) as u8).collect())
            .collect();
        for absent in 0..5 {
            let row = Row {
                material: &material,
                temperature: &temperature,
                latent: &latent,
                around: std::array::from_fn(|d| (d != absent).then_some(&others[d][..])),
                ends: [41, 42],
            };
            for (x0, first) in [(0, 0), (0, 1), (32, 0), (32, 1)] {
                let (mut whole, mut each) = (Lanes::default(), Lanes::default());
                assert_eq!(whole.gather_cells(&row, x0, first, 99), LANES);
                assert_eq!(each.gather_cells_each(&row, x0, first, 99), LANES);
                whole.gather_neighbours(&row, x0, first, 99);
                each.gather_neighbours_each(&row, x0, first, 99);
                let at = format!("x0 {x0}, first {first}, absent {absent}");
                assert_eq!(whole.material, each.material, "{at}");
                assert_eq!(whole.temperature, each.temperature, "{at}");
                assert_eq!(whole.latent, each.latent, "{at}");
                assert_eq!(whole.neighbours, each.neighbours, "{at}");
                assert_eq!(each.material[3], material[x0 + first + 6]);
                assert_eq!(
                    each.neighbours[0][0],
                    if x0 + first == 0 {
                        41
                    } else {
                        material[x0 + first - 1]
                    }
                );
            }
        }
    }

    #[test]
    fn decisions_are_the_same_bits_with_avx2_and_without() {
        #[cfg(target_arch = "x86_64")]
        {
            if !std::arch::is_x86_feature_detected!("avx2") {
                eprintln!("no AVX2 on this CPU: only one path to compare");
                return;
            }
            let phases = super::super::PhaseTable::default();
            let terms = super::super::terms::substance_terms(&phases, 0.25);
            let table = FromPhase::table(&terms);
            let mut lanes = Lanes::default();
            for (l, t) in lanes.temperature.iter_mut().enumerate() {
                *t = 372.9 + 0.037 * l as f32;
            }
            lanes.pressure = [P0; LANES];
            lanes.index = std::array::from_fn(|l| 1000 + 2 * l as u64);
            lanes.bath[3] = true;
            for (s, phases) in table.iter().enumerate() {
                for (k, from) in phases.iter().enumerate() {
                    for key in 0..50 {
                        let (mut a, mut b) = (Decisions::default(), Decisions::default());
                        let run = [true; LANES];
                        decide_lanes(from, &lanes, &run, key, &mut a);
                        // SAFETY: checked above.
                        unsafe { decide_avx2(from, &lanes, &run, key, &mut b) };
                        assert_eq!(a.accepted, b.accepted, "substance {s}, phase {k}");
                        assert_eq!(a.proposed, b.proposed);
                        assert_eq!(a.second, b.second);
                        assert_eq!(
                            a.temperature.map(f32::to_bits),
                            b.temperature.map(f32::to_bits)
                        );
                    }
                }
            }
        }
    }
}
