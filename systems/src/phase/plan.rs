//! What a pass visits and what it did, apart from how it sweeps: the CPU's
//! [`super::metropolis_pass`] and `loam-gpu`'s kernel plan with
//! [`plan_pass`], report a [`PageOutcome`] per visited page, and end with
//! [`finish_pass`], so both follow the same schedule and leave the same
//! wakes, candidates and counts.
//!
//! ```
//! use loam_storage::{VoxelWorld, WorldLayout};
//! use loam_systems::materials::id;
//! use loam_systems::phase::{
//!     finish_pass, plan_pass, PageOutcome, PhaseConfig, PhaseState, PhaseTable,
//! };
//!
//! let layout = WorldLayout::new([32, 32, 32], 16)?;
//! let mut world = VoxelWorld::new(layout, id::WATER, 300.0);
//! for p in 0..layout.page_count() {
//!     world.wake(p);
//! }
//! let (phases, mut state) = (PhaseTable::default(), PhaseState::default());
//! let plan = plan_pass(&world, &state, &phases, &PhaseConfig::default(), 0);
//! assert_eq!(plan.pages.len(), 8, "every page holds water");
//! // Another backend decides the cells of `plan.pages` here, and reports
//! // one outcome a page: nothing changed, in this example.
//! let outcomes = vec![PageOutcome::new(phases.substances.len()); plan.pages.len()];
//! finish_pass(&mut world, &mut state, &phases, plan, &outcomes);
//! assert_eq!(state.last.pages, 8);
//! assert_eq!(state.last.accepted, 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use loam_runtime::random::{hash3, mix64};
use loam_storage::{neighbourhood, VoxelWorld};

use super::diagram::PhaseTable;
use super::state::{PhaseConfig, PhaseState, PhaseStats};
use crate::fields::Fields;

/// The pages a pass visits.
#[derive(Clone, Debug, Default)]
pub struct PassPlan {
    /// Resident pages with a cell of a phase-diagram material, ascending.
    pub pages: Vec<usize>,
    /// Candidates not visited this time (staggered), which stay candidates.
    kept: Vec<usize>,
}

/// Chooses the pages of a pass (see the module docs of [`crate::phase`]):
/// the pages woken this frame and the candidates that are due, if resident
/// and holding a material with a phase diagram.
///
/// # Panics
/// If the world's pools and page table disagree over the visited pages and
/// their neighbours (see [`VoxelWorld::check_slots`]).
pub fn plan_pass(
    world: &VoxelWorld,
    state: &PhaseState,
    phases: &PhaseTable,
    config: &PhaseConfig,
    frame: u64,
) -> PassPlan {
    let layout = *world.layout();
    let stagger = u64::from(config.stagger.max(1));
    // Candidates the stagger skips this frame stay candidates (while
    // resident); the rest are visited with the pages woken this frame.
    let due = |p: usize| mix64(p as u64).wrapping_add(frame) % stagger == 0;
    let resident = |p: usize| world.table().resident_slot(p).is_some();
    let mut kept: Vec<usize> = state
        .candidates
        .iter()
        .copied()
        .filter(|&p| !due(p) && resident(p))
        .collect();
    let mut pages: Vec<usize> = world
        .table()
        .woken()
        .iter()
        .copied()
        .chain(state.candidates.iter().copied().filter(|&p| due(p)))
        .filter(|&p| resident(p))
        .collect();
    pages.sort_unstable();
    pages.dedup();
    // Pages without a cell of a material that has a phase diagram have
    // nothing to do: drop them before any per-cell work.
    let has_phases: [bool; 256] = std::array::from_fn(|m| phases.of_material[m].is_some());
    pages.retain(|&p| {
        world
            .page(p)
            .is_some_and(|v| v.material.iter().any(|&m| has_phases[m as usize]))
    });
    kept.retain(|p| pages.binary_search(p).is_err());
    let touched = pages.iter().flat_map(|&p| {
        let c = layout.page_coord(p);
        (0..27).filter_map(move |k| layout.neighbour_page(c, neighbourhood::offset(k)))
    });
    if let Err(e) = world.check_slots(touched) {
        panic!("a phase pass on an inconsistent world: {e}");
    }
    PassPlan { pages, kept }
}

/// What a pass did on one page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageOutcome {
    /// Accepted transitions by substance and (from, to) phase.
    pub accepted: Vec<[[u32; 3]; 3]>,
    /// The box of changed cells, local; empty when `lo > hi`.
    pub lo: [i32; 3],
    /// See `lo`.
    pub hi: [i32; 3],
    /// Voxels with a phase diagram that were considered.
    pub visits: u64,
    /// Transitions proposed (voxels near enough to a transition).
    pub proposals: u64,
    /// Whether a voxel was near a transition: the page is a candidate.
    pub candidate: bool,
}

impl PageOutcome {
    /// Nothing done yet, for a table of `substances`.
    pub fn new(substances: usize) -> Self {
        Self {
            accepted: vec![[[0; 3]; 3]; substances],
            lo: [i32::MAX; 3],
            hi: [i32::MIN; 3],
            visits: 0,
            proposals: 0,
            candidate: false,
        }
    }

    /// Counts `n` accepted transitions of substance `s` from phase `k` to
    /// `q` (whose cells [`PageOutcome::touch`] covers).
    #[inline]
    pub fn accept(&mut self, s: usize, k: usize, q: usize, n: u32) {
        self.accepted[s][k][q] += n;
    }

    /// Grows the box of changed cells to cover the local cells `lo..=hi`.
    #[inline]
    pub fn touch(&mut self, lo: [i32; 3], hi: [i32; 3]) {
        self.lo = std::array::from_fn(|a| self.lo[a].min(lo[a]));
        self.hi = std::array::from_fn(|a| self.hi[a].max(hi[a]));
    }

    /// Adds `other` (another half-sweep of the same page).
    pub fn merge(&mut self, other: &PageOutcome) {
        for (a, b) in self.accepted.iter_mut().zip(&other.accepted) {
            for (x, y) in a.iter_mut().flatten().zip(b.iter().flatten()) {
                *x += y;
            }
        }
        self.lo = std::array::from_fn(|a| self.lo[a].min(other.lo[a]));
        self.hi = std::array::from_fn(|a| self.hi[a].max(other.hi[a]));
        self.visits += other.visits;
        self.proposals += other.proposals;
        self.candidate |= other.candidate;
    }
}

/// Ends a pass planned by `plan` with one outcome per visited page (in
/// `plan.pages` order): counts the transitions, wakes the pages that can
/// see each page's changes, and remembers the candidates.
pub fn finish_pass(
    world: &mut VoxelWorld,
    state: &mut PhaseState,
    phases: &PhaseTable,
    plan: PassPlan,
    outcomes: &[PageOutcome],
) {
    assert_eq!(plan.pages.len(), outcomes.len(), "an outcome per page");
    let mut stats = PhaseStats {
        pages: plan.pages.len() as u64,
        ..PhaseStats::default()
    };
    let mut candidates = plan.kept;
    for (o, &p) in outcomes.iter().zip(&plan.pages) {
        stats.visits += o.visits;
        stats.proposals += o.proposals;
        if o.candidate {
            candidates.push(p);
        }
        for (sub, counts) in phases.substances.iter().zip(&o.accepted) {
            for (k, row) in counts.iter().enumerate() {
                for (q, &n) in row.iter().enumerate().filter(|(_, &n)| n > 0) {
                    let kinds = (sub.phases[k].material, sub.phases[q].material);
                    *state.transitions.entry(kinds).or_insert(0) += u64::from(n);
                    stats.accepted += u64::from(n);
                }
            }
        }
        if o.lo[0] <= o.hi[0] {
            world.wake_box(p, o.lo, o.hi);
        }
    }
    candidates.sort_unstable();
    candidates.dedup();
    state.candidates = candidates;
    state.last = stats;
}

/// The key of a half-sweep's random numbers: a visited cell's number is
/// `mix64(key ^ index)`, `index` its index in the world (`x + X·(y + Y·z)`).
pub fn sweep_key(seed: u64, frame: u64, colour: u32) -> u64 {
    hash3(seed ^ 0x5048_4153_4521, frame * 2 + u64::from(colour), 0)
}

/// The pressure field over one page, per field cell.
pub struct FieldPatch {
    /// Edge of a field cell, in cells.
    pub cell: u32,
    /// Field cells along each edge of the patch.
    pub n: u32,
    /// Pressure, Pa, x fastest.
    pub pressure: Vec<f64>,
}

impl FieldPatch {
    /// The pressure field over the page at `origin` of edge `page`, or
    /// `None` when the field is empty.
    pub fn over_page(fields: &Fields, origin: [u32; 3], page: u32) -> Option<Self> {
        if fields.bricks() == 0 {
            return None;
        }
        let cell = fields.config().cell;
        let lo = origin.map(|v| v / cell);
        let n = (origin[0] + page - 1) / cell - lo[0] + 1;
        let mut pressure = Vec::with_capacity((n * n * n) as usize);
        for z in 0..n {
            for y in 0..n {
                for x in 0..n {
                    let c = [lo[0] + x, lo[1] + y, lo[2] + z].map(|v| v as i32);
                    pressure.push(f64::from(fields.cell(c).pressure));
                }
            }
        }
        Some(Self { cell, n, pressure })
    }

    /// The pressure at local cell `l` of a page at `origin`.
    #[inline]
    pub fn at(&self, origin: [u32; 3], l: [u32; 3]) -> f64 {
        let f: [u32; 3] =
            std::array::from_fn(|a| (origin[a] + l[a]) / self.cell - origin[a] / self.cell);
        self.pressure[(f[0] + self.n * (f[1] + self.n * f[2])) as usize]
    }
}
