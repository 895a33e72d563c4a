//! Substances and their phase diagrams: phases, and each phase's molar
//! enthalpy, entropy, heat capacity and volume. Material data, like the
//! materials they are made of (`[[substance]]` in `systems/materials.toml`);
//! the phase pass ([`crate::phase`]) decides phases from them.
//!
//! Each phase φ of a substance has, per mole,
//!
//! - enthalpy `H_φ(T) = a_φ + c_φ·T` (+ `V_φ·(P − P°)` for condensed phases),
//! - entropy `S_φ(T) = b_φ + c_φ·ln T` (− `R·ln(P/P°)` for the gas),
//! - Gibbs energy `G_φ = H_φ − T·S_φ`, so that a condensed phase depends
//!   on pressure through `V·(P − P°)` and the gas, as an ideal gas, through
//!   `R·T·ln(P/P°)`.
//!
//! The constants `a_φ`, `b_φ` come from measured latent heats: at each
//! transition's temperature at `P°` the two phases' enthalpies differ by
//! the latent heat and their Gibbs energies are equal. With the heat
//! capacities included (Kirchhoff's law) the boiling curve of water follows
//! the steam tables within 1.5 K from 20 kPa to 500 kPa.
//!
//! A voxel holds `n = ρ_ref · V_voxel / M` moles in every phase of its
//! substance (`ρ_ref` the density of the substance's liquid). A voxel of
//! water that boils stays the same mass of water, as vapour: mass and
//! energy are conserved, and the phase's own density only decides where the
//! cell moves.

use super::MaterialId;

/// Gas constant, J/(mol·K).
pub const R: f64 = 8.314_462_618;
/// Most phases a substance has (the phase pass keeps its pair terms in
/// fixed 3 × 3 tables).
pub const MAX_PHASES: usize = 3;
/// Reference pressure of the data, Pa (1 atm).
pub const P0: f64 = 101_325.0;

/// State of matter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Solid.
    Solid,
    /// Liquid.
    Liquid,
    /// Gas (ideal).
    Gas,
}

/// One phase of a substance, with its molar properties. Its name is its
/// material's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Phase {
    /// The material a voxel in this phase is.
    pub material: MaterialId,
    /// Solid, liquid or gas.
    pub state: State,
    /// Density, kg/m³ (for condensed phases: the molar volume is `M / ρ`).
    pub density: f64,
    /// Molar heat capacity at constant pressure, J/(mol·K).
    pub cp: f64,
    /// Enthalpy offset `a`, J/mol (`H = a + cp·T`).
    pub a: f64,
    /// Entropy offset `b`, J/(mol·K) (`S = b + cp·ln T`).
    pub b: f64,
}

/// A transition as measured at `P°`: the data the offsets are built from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Transition {
    /// From this phase (index into the substance's phases)...
    pub from: usize,
    /// ...to this one, on heating.
    pub to: usize,
    /// At this temperature at `P°`, K.
    pub temperature: f64,
    /// Latent heat, J/mol (positive: absorbed on heating).
    pub latent_heat: f64,
}

/// A point of a phase diagram: temperature (K) and pressure (Pa).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DiagramPoint {
    /// K.
    pub temperature: f64,
    /// Pa.
    pub pressure: f64,
}

/// A substance and its phase diagram.
#[derive(Clone, Debug, PartialEq)]
pub struct Substance {
    /// Name in reports.
    pub name: String,
    /// Molar mass, kg/mol.
    pub molar_mass: f64,
    /// Density of the reference (liquid) phase, kg/m³: the moles a voxel holds.
    pub reference_density: f64,
    /// Interface energy between unlike neighbours, J/m² (surface tension).
    pub interface_energy: f64,
    /// Phases; the transitions name them by index.
    pub phases: Vec<Phase>,
    /// The measured transitions the offsets are built from.
    pub transitions: Vec<Transition>,
    /// Triple point, measured.
    pub triple: Option<DiagramPoint>,
    /// Critical point, measured (the model does not reproduce supercritical
    /// behaviour; it is here for reference and for checks).
    pub critical: Option<DiagramPoint>,
}

impl Substance {
    /// Builds a substance whose phase 0 is the reference (`a = b = 0`) and
    /// whose other phases get offsets from `transitions`, which must reach
    /// every phase from phase 0 (the error says which cannot be reached).
    pub fn new(
        name: impl Into<String>,
        molar_mass: f64,
        reference_density: f64,
        interface_energy: f64,
        mut phases: Vec<Phase>,
        transitions: Vec<Transition>,
    ) -> Result<Self, String> {
        let name = name.into();
        if phases.is_empty() || phases.len() > MAX_PHASES {
            return Err(format!(
                "substance `{name}` has {} phases: it needs 1 to {MAX_PHASES}",
                phases.len()
            ));
        }
        if let Some(t) = transitions
            .iter()
            .find(|t| t.from >= phases.len() || t.to >= phases.len() || t.from == t.to)
        {
            return Err(format!(
                "substance `{name}`: a transition from phase {} to phase {} names no two of its {} phases",
                t.from,
                t.to,
                phases.len()
            ));
        }
        let mut known = vec![false; phases.len()];
        known[0] = true;
        while known.iter().any(|k| !k) {
            let before = known.iter().filter(|k| **k).count();
            for t in &transitions {
                let (k, u, sign) = match (known[t.from], known[t.to]) {
                    (true, false) => (t.from, t.to, 1.0),
                    (false, true) => (t.to, t.from, -1.0),
                    _ => continue,
                };
                // H_u(T) − H_k(T) = ±L and G equal at T: S_u − S_k = ±L / T.
                let (tt, l) = (t.temperature, sign * t.latent_heat);
                let (pk, pu) = (phases[k], phases[u]);
                phases[u].a = pk.a + pk.cp * tt + l - pu.cp * tt;
                phases[u].b = pk.b + pk.cp * tt.ln() + l / tt - pu.cp * tt.ln();
                known[u] = true;
            }
            if known.iter().filter(|k| **k).count() == before {
                let lost = known.iter().position(|k| !k).unwrap_or(0);
                return Err(format!(
                    "substance `{name}`: no transition connects phase {lost} to the first phase"
                ));
            }
        }
        Ok(Self {
            name,
            molar_mass,
            reference_density,
            interface_energy,
            phases,
            transitions,
            triple: None,
            critical: None,
        })
    }

    /// Molar heat capacity of phase `k` as a volumetric one, J/(m³·K): a
    /// voxel holds the moles of `reference_density`.
    pub fn heat_capacity(&self, k: usize) -> f64 {
        self.reference_density / self.molar_mass * self.phases[k].cp
    }

    /// Molar volume of phase `k`, m³/mol.
    pub fn molar_volume(&self, k: usize) -> f64 {
        self.molar_mass / self.phases[k].density
    }

    /// Molar enthalpy of phase `k` at `t` K and `p` Pa.
    pub fn enthalpy(&self, k: usize, t: f64, p: f64) -> f64 {
        let ph = &self.phases[k];
        let pv = match ph.state {
            State::Gas => 0.0,
            _ => self.molar_volume(k) * (p - P0),
        };
        ph.a + ph.cp * t + pv
    }

    /// Molar entropy of phase `k` at `t` K and `p` Pa.
    pub fn entropy(&self, k: usize, t: f64, p: f64) -> f64 {
        let ph = &self.phases[k];
        let s = ph.b + ph.cp * t.ln();
        match ph.state {
            State::Gas => s - R * (p / P0).ln(),
            _ => s,
        }
    }

    /// Molar Gibbs energy of phase `k` at `t` K and `p` Pa.
    pub fn gibbs(&self, k: usize, t: f64, p: f64) -> f64 {
        self.enthalpy(k, t, p) - t * self.entropy(k, t, p)
    }

    /// The phase of lowest Gibbs energy at `t` K and `p` Pa.
    pub fn stable_phase(&self, t: f64, p: f64) -> usize {
        (0..self.phases.len())
            .min_by(|&a, &b| self.gibbs(a, t, p).total_cmp(&self.gibbs(b, t, p)))
            .unwrap_or(0)
    }

    /// The temperature between `lo` and `hi` K where phases `a` and `b` have
    /// equal Gibbs energy at `p` Pa (bisection), if they cross there.
    pub fn coexistence(&self, a: usize, b: usize, p: f64, lo: f64, hi: f64) -> Option<f64> {
        let d = |t: f64| self.gibbs(a, t, p) - self.gibbs(b, t, p);
        let (mut lo, mut hi) = (lo, hi);
        if d(lo).signum() == d(hi).signum() {
            return None;
        }
        for _ in 0..60 {
            let mid = 0.5 * (lo + hi);
            if d(mid).signum() == d(lo).signum() {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Some(0.5 * (lo + hi))
    }
}
