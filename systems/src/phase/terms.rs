//! The numbers a Metropolis visit needs, per substance, computed once a
//! pass from the [`PhaseTable`] so that the inner loop (on the CPU, or in
//! `loam-gpu`'s kernel) does a handful of multiply-adds per phase.

use super::diagram::{PhaseTable, State};

/// Above this `n·ΔG/RT` no transition can be accepted with a probability
/// worth a random number (`e^-40`); the voxel is skipped.
pub const SKIP: f64 = 40.0;

/// Lowest temperature a voxel may be left at by paying a latent heat, K.
pub const MIN_TEMPERATURE: f64 = 1.0;

/// How far a voxel part way through a phase change may drift from the
/// meeting point before a visit moves it back, K. Below it a visit writes
/// nothing: the meeting point, found anew each visit from `f32`
/// temperatures, would otherwise move by an ulp and wake the page forever.
pub const HELD_DRIFT: f64 = 0.01;

/// A substance's terms for one voxel size.
#[derive(Clone, Debug)]
pub struct SubstanceTerms {
    /// Moles in a voxel.
    pub moles: f64,
    /// Interface energy of one unlike face, J.
    pub interface: f64,
    /// `pairs[k][q]`: how the molar Gibbs energy of phase `q` exceeds that
    /// of phase `k` (see [`Pair::delta_g`]).
    pub pairs: [[Pair; 3]; 3],
    /// Below this pressure a solid turns straight into gas and back; above
    /// it, each goes through the liquid.
    pub triple_pressure: Option<f64>,
    /// The phases, as in the substance.
    pub phases: Vec<PhaseTerms>,
}

impl SubstanceTerms {
    /// Whether a voxel in phase `a` may change straight to phase `b` at
    /// pressure `p`: a solid and a gas only below the triple point (above
    /// it, each goes through the liquid); a liquid always may (below the
    /// triple point it is metastable and must be able to leave).
    pub fn adjacent(&self, a: usize, b: usize, p: f64) -> bool {
        let (sa, sb) = (self.phases[a].state, self.phases[b].state);
        match (sa, sb) {
            (State::Solid, State::Gas) | (State::Gas, State::Solid) => {
                self.triple_pressure.is_some_and(|t| p < t)
            }
            _ => true,
        }
    }
}

/// The difference of two phases' molar Gibbs energies, as coefficients:
/// `Δg = a + c·T − T·(b + c·ln T) + v·(P − P°) + gas·R·T·ln(P/P°)`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Pair {
    /// Enthalpy offset difference, J/mol.
    pub a: f64,
    /// Entropy offset difference, J/(mol·K).
    pub b: f64,
    /// Heat capacity difference, J/(mol·K).
    pub c: f64,
    /// Condensed molar volume difference, m³/mol.
    pub v: f64,
    /// +1 into the gas, −1 out of it, 0 otherwise.
    pub gas: f64,
}

impl Pair {
    fn new(k: &PhaseTerms, q: &PhaseTerms) -> Self {
        let v = |p: &PhaseTerms| if p.state == State::Gas { 0.0 } else { p.volume };
        let g = |p: &PhaseTerms| if p.state == State::Gas { 1.0 } else { 0.0 };
        Self {
            a: q.a - k.a,
            b: q.b - k.b,
            c: q.cp - k.cp,
            v: v(q) - v(k),
            gas: g(q) - g(k),
        }
    }

    /// `Δg` at temperature `t` (with `ln_t = ln t`), `dp = P − P°` and
    /// `rt_ln_p = R·T·ln(P/P°)`.
    #[inline(always)]
    pub fn delta_g(&self, t: f64, ln_t: f64, dp: f64, rt_ln_p: f64) -> f64 {
        self.a + self.c * t - t * (self.b + self.c * ln_t) + self.v * dp + self.gas * rt_ln_p
    }
}

/// One phase's terms.
#[derive(Clone, Copy, Debug)]
pub struct PhaseTerms {
    /// The material a voxel in this phase is.
    pub material: u8,
    /// Solid, liquid or gas.
    pub state: State,
    /// Enthalpy offset, J/mol.
    pub a: f64,
    /// Entropy offset, J/(mol·K).
    pub b: f64,
    /// Molar heat capacity, J/(mol·K).
    pub cp: f64,
    /// Molar volume, m³/mol.
    pub volume: f64,
}

impl PhaseTerms {
    /// Molar enthalpy at `t` and `dp = P − P°` (a gas's does not depend
    /// on pressure).
    pub fn enthalpy(&self, t: f64, dp: f64) -> f64 {
        self.a
            + self.cp * t
            + if self.state == State::Gas {
                0.0
            } else {
                self.volume * dp
            }
    }
}

/// Every substance's terms for voxels of edge `voxel_size` (m).
///
/// # Panics
/// If a substance has more than [`MAX_PHASES`](crate::materials::diagram::MAX_PHASES)
/// phases, which [`Substance::new`](crate::materials::diagram::Substance::new) refuses.
pub fn substance_terms(phases: &PhaseTable, voxel_size: f64) -> Vec<SubstanceTerms> {
    phases
        .substances
        .iter()
        .enumerate()
        .map(|(s, sub)| {
            assert!(sub.phases.len() <= 3, "at most 3 phases a substance");
            let terms: Vec<PhaseTerms> = sub
                .phases
                .iter()
                .enumerate()
                .map(|(k, ph)| PhaseTerms {
                    material: ph.material,
                    state: ph.state,
                    a: ph.a,
                    b: ph.b,
                    cp: ph.cp,
                    volume: sub.molar_volume(k),
                })
                .collect();
            let mut pairs = [[Pair::default(); 3]; 3];
            for (k, pk) in terms.iter().enumerate() {
                for (q, pq) in terms.iter().enumerate() {
                    pairs[k][q] = Pair::new(pk, pq);
                }
            }
            SubstanceTerms {
                moles: phases.moles(s, voxel_size),
                interface: sub.interface_energy * voxel_size * voxel_size,
                pairs,
                triple_pressure: sub.triple.map(|t| t.pressure),
                phases: terms,
            }
        })
        .collect()
}
