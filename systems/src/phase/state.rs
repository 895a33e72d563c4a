//! The phase pass's configuration, state and inputs: the types the
//! planning (`plan.rs`) and the pass (`metropolis.rs`) share.

use std::collections::BTreeMap;

/// Where the pass gets its pressure and how often it visits.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PhaseConfig {
    /// Ambient pressure, Pa.
    pub ambient_pressure: f64,
    /// Edge of a voxel, m.
    pub voxel_size: f64,
    /// Gravity, m/s².
    pub gravity: f64,
    /// Visit pages that were only candidates (not woken this frame) every
    /// `stagger` frames, spread by page.
    pub stagger: u32,
}

impl Default for PhaseConfig {
    fn default() -> Self {
        Self {
            ambient_pressure: super::diagram::P0,
            voxel_size: 0.25,
            gravity: 9.81,
            stagger: 1,
        }
    }
}

/// A region held at a temperature: it supplies or takes any latent heat.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HeatBath {
    /// Inclusive lower corner, cells.
    pub min: [u32; 3],
    /// Exclusive upper corner, cells.
    pub max: [u32; 3],
    /// K.
    pub temperature: f32,
}

impl HeatBath {
    pub(super) fn contains(&self, p: [u32; 3]) -> bool {
        (0..3).all(|a| self.min[a] <= p[a] && p[a] < self.max[a])
    }
}

/// What the last pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PhaseStats {
    /// Pages visited.
    pub pages: u64,
    /// Voxels with a phase diagram that were considered.
    pub visits: u64,
    /// Transitions proposed (voxels near enough to a transition).
    pub proposals: u64,
    /// Transitions accepted.
    pub accepted: u64,
}

/// The pass's memory between frames.
#[derive(Clone, Debug, Default)]
pub struct PhaseState {
    /// The last pass.
    pub last: PhaseStats,
    /// Accepted transitions since the start, by (from, to) material.
    pub transitions: BTreeMap<(u8, u8), u64>,
    /// Pages that held a voxel near a transition at the last visit.
    pub(super) candidates: Vec<usize>,
}

/// What of [`PhaseState`] a saved run keeps: the pages the next pass
/// revisits, and the transitions counted so far.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SavedPhase {
    transitions: Vec<((u8, u8), u64)>,
    candidates: Vec<usize>,
}

impl loam_runtime::Persistent for PhaseState {
    type Saved = SavedPhase;

    fn save(&self) -> SavedPhase {
        SavedPhase {
            transitions: self.transitions.iter().map(|(&k, &n)| (k, n)).collect(),
            candidates: self.candidates.clone(),
        }
    }

    fn restore(&mut self, saved: SavedPhase) -> Result<(), String> {
        self.transitions = saved.transitions.into_iter().collect();
        self.candidates = saved.candidates;
        Ok(())
    }
}
