//! Falling-sand cellular automata: movement, reactions and heat conduction
//! over the paged world.
//!
//! A frame updates only the pages that were woken (by a change of their own,
//! a change next to them, or a command). Pages are processed in 8
//! checkerboard phases by the parity of their page coordinates: pages of one
//! phase are at least two pages apart along some axis, and an update reads
//! and writes only its own page plus a one-cell border, so pages of a phase
//! never touch the same cell and run in parallel without locks. Each page is
//! swept in a fixed order, every random choice is a hash of (seed, frame,
//! cell), and a moved cell is flagged so it does not move again in the same
//! frame: the result is the same bit for bit on any number of threads.
//!
//! Per cell, in order: reactions (if enabled), then movement:
//! - powder falls, else slides to a lower diagonal neighbour;
//! - liquid falls, else slides diagonally, else spreads sideways: into air
//!   when it is pressed from above, into any lighter fluid when the side it
//!   spreads to has a drop below it (so a one-cell film stops spreading and
//!   can fall asleep);
//! - gas rises, else drifts diagonally up, else spreads sideways under the
//!   same rule upside down.
//!
//! After the sweep, [`level`] lets each liquid body find its level: the
//! sweep's local rules stop at terraces one cell high, and cannot carry
//! water from one basin to another through a pipe under the surface.
//!
//! A mover swaps with a fluid target lighter than itself (heavier, for gas
//! rising), so sand sinks through water and oil floats on it; swaps conserve
//! every material exactly. Then each page evens out temperature with its
//! +x, +y and +z neighbours pairwise: the heat leaving one cell enters the
//! other, each temperature changing by the heat over the cell's heat
//! capacity, so conduction conserves energy (Σ capacity × temperature).

pub mod flags;
mod kernel;
mod level;
mod plugin;
mod schedule;

pub use level::{level, LevelStats};
pub use plugin::AutomatonPlugin;
pub use schedule::{step, step_scheduled, step_with_blasts};

use loam_runtime::{Job, JobError, Seed, Stage};
use loam_storage::VoxelWorld;

use crate::lod::SimulationLod;
use crate::materials::{MaterialTable, ReactionBlasts};

/// Which parts of the automaton run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CaConfig {
    /// Material-changing reactions (burning, boiling, lava and water, ...).
    /// Without them every material's count is conserved exactly.
    pub reactions: bool,
    /// Heat conduction between neighbouring cells.
    pub heat: bool,
    /// Phase changes at fixed temperatures (water boils above 373 K, steam
    /// condenses below 363 K, ice melts above 273 K, lava solidifies below
    /// 1000 K). Off when the phase system ([`crate::phase`]) decides them
    /// from phase diagrams instead.
    pub thermal_transitions: bool,
    /// Skip rows of one material that provably cannot change. Exact: the
    /// result is the same bit for bit either way (a test checks it); turn it
    /// off only to check that.
    pub skip_stuck_rows: bool,
}

impl Default for CaConfig {
    fn default() -> Self {
        Self {
            reactions: true,
            heat: true,
            thermal_transitions: true,
            skip_stuck_rows: true,
        }
    }
}

/// What the last CA frame did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CaStats {
    /// Pages updated this frame.
    pub pages_updated: u64,
    /// Cells in those pages.
    pub cells_updated: u64,
    /// Swaps made.
    pub moves: u64,
    /// Reactions that changed a material.
    pub reactions: u64,
    /// Pages awake for the next frame.
    pub active_pages: u64,
    /// Awake pages left for a later frame by the LOD schedule, since the
    /// start (see [`crate::lod`]).
    pub pages_deferred: u64,
}

/// The `ca.step` job: one automaton frame over the [`VoxelWorld`]: the
/// sweep of the pages due under the [`SimulationLod`] ([`step_scheduled`]),
/// then levelling ([`level`]) of those pages. Besides the world and the
/// [`MaterialTable`] it needs the [`CaConfig`], [`CaStats`] and
/// [`ReactionBlasts`] resources, and follows the [`SimulationLod`] if there
/// is one (without, every woken page runs): [`AutomatonPlugin`] inserts
/// the first three; a plugin that knows the observers, the schedule.
pub fn job() -> Job {
    Job::new("ca.step")
        .in_stage(Stage::Automaton)
        .writes::<VoxelWorld>()
        .writes::<CaStats>()
        .writes::<ReactionBlasts>()
        .writes::<SimulationLod>()
        .reads::<MaterialTable>()
        .reads::<CaConfig>()
        .reads::<Seed>()
        .run(|ctx| {
            let seed = ctx.read::<Seed>()?.0;
            let config = *ctx.read::<CaConfig>()?;
            let table = ctx.read::<MaterialTable>()?;
            let mut world = ctx.write::<VoxelWorld>()?;
            let frame = ctx.clock().frame;
            let mut lod = match ctx.write::<SimulationLod>() {
                Ok(lod) => Some(lod),
                Err(JobError::Missing { .. }) => None,
                Err(e) => return Err(e),
            };
            let mut off = SimulationLod::default();
            let lod = lod.as_deref_mut().unwrap_or(&mut off);
            let mut blasts = ctx.write::<ReactionBlasts>()?;
            blasts.0.clear();
            let stats =
                step_scheduled(&mut world, &table, &config, seed, frame, lod, &mut blasts.0);
            *ctx.write::<CaStats>()? = stats;
            Ok(())
        })
}
