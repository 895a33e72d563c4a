//! Phase transitions from phase diagrams: a Metropolis–Hastings pass that
//! lets water boil and freeze, lava solidify and dry ice sublimate where
//! their Gibbs energies say, with the latent heat paid from (or into) the
//! voxel's temperature.
//!
//! Per visited voxel of a material with a phase diagram ([`diagram`]), the
//! pass proposes the substance's most stable other phase at the voxel's
//! (T, P) — the stable phase if the voxel is not in it, else the runner-up —
//! and accepts it with probability `min(1, exp(−ΔG / RT))`, where `ΔG = n·(G_new − G_old)` is
//! the Gibbs energy change of the whole voxel (`n` moles) plus the
//! interface energy with its 6 neighbours. On acceptance the material
//! changes and the latent heat moves into the voxel's temperature:
//!
//! - in a **heat bath** (a `heat` command's region, which holds its
//!   temperature) the bath supplies or takes it, and the temperature stays;
//! - **elsewhere** the voxel's enthalpy is conserved, so the new phase's
//!   temperature pays it, and the voxel changes only when it holds the
//!   whole latent heat: when the new phase, paid for, is still on its own
//!   side of the temperature where the two meet. Water at 374 K does not
//!   boil on its own; it has to be heated until it holds 40.65 kJ/mol
//!   more, or stand in a bath (a pot on a stove).
//!
//! A voxel past the meeting point without the whole latent heat is part
//! way through the change: it keeps its phase, sits at the meeting
//! temperature and holds the rest of its heat in
//! [`VoxelWorld::latent`](loam_storage::VoxelWorld::latent), as kelvin of
//! its phase. Conduction then sees the temperature of the two phases
//! together, so heat flows into melting ice and out of condensing steam as
//! it would, no voxel flips back and forth, and no temperature leaves the
//! range of those present. Each visit splits the voxel's heat
//! (`temperature + latent`) again: the meeting point is found by a Newton
//! step on the Gibbs energy difference from the voxel's temperature, which
//! a held voxel already sits at; the voxel changes once it holds the whole
//! latent heat, and has its heat back as temperature once it is no longer
//! past the meeting point.
//!
//! Pressure is the ambient pressure, plus the pressure field
//! ([`crate::fields`]) of the cell's field cell, plus the weight of the contiguous
//! column of liquid and solid cells above the voxel (`ρ·g·h`, with
//! `voxel_size` cells) as the half-sweep found it. Because `n` is the whole voxel's moles
//! (≈ 867 mol for a 0.25 m voxel of water), transitions are sharp: 0.1 K
//! past the boiling point the acceptance is already `e^-3`.
//!
//! Voxels are visited in red/black order (by the parity of `x + y + z`):
//! a voxel's neighbours are of the other colour and do not change while it
//! is decided, pages run in parallel, every random number is a hash of
//! (seed, frame, colour, cell), and results are the same on any number of
//! threads. Only pages the automaton or a command woke this frame, and
//! pages that held a voxel within a few kelvin of a transition last time,
//! are visited; `stagger = N` spreads the latter over N frames.
//!
//! Within a half-sweep every decision reads only cells it does not write,
//! so the decisions are independent of each other: the CPU sweeps pages in
//! parallel and decides a row's cells of one colour 16 at a time, as
//! vector lanes (`lanes`), and `loam-gpu` runs one invocation per cell. Both choose their
//! pages with [`plan_pass`], take their numbers from [`terms`] and end with
//! [`finish_pass`].

pub mod diagram;
mod lanes;
mod metropolis;
pub mod plan;
mod plugin;
mod state;
pub mod terms;

pub use diagram::{DiagramPoint, Phase, PhaseTable, State, Substance, Transition};
pub use metropolis::metropolis_pass;
pub use plan::{finish_pass, plan_pass, PageOutcome, PassPlan};
pub use plugin::PhasePlugin;
pub use state::{HeatBath, PhaseConfig, PhaseState, PhaseStats, SavedPhase};

use loam_runtime::{Job, JobError, Seed, Stage};
use loam_storage::stream::PageRequests;
use loam_storage::VoxelWorld;

use crate::lod::SimulationLod;

/// Heat baths active this frame (written by the heat baths' job, read here).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HeatBaths(pub Vec<HeatBath>);

/// The `phase.metropolis` job: one Metropolis pass over the [`VoxelWorld`].
pub fn job() -> Job {
    Job::new("phase.metropolis")
        .in_stage(Stage::Phase)
        .writes::<VoxelWorld>()
        .writes::<PhaseState>()
        .writes::<PageRequests>()
        .reads::<PhaseTable>()
        .reads::<PhaseConfig>()
        .reads::<HeatBaths>()
        .reads::<crate::fields::Fields>()
        .reads::<crate::MaterialTable>()
        .reads::<Seed>()
        .reads::<SimulationLod>()
        .run(|ctx| {
            let seed = ctx.read::<Seed>()?.0;
            let frame = ctx.clock().frame;
            let config = *ctx.read::<PhaseConfig>()?;
            let phases = ctx.read::<PhaseTable>()?;
            let baths = ctx.read::<HeatBaths>()?;
            let fields = ctx.read::<crate::fields::Fields>()?;
            let materials = ctx.read::<crate::MaterialTable>()?;
            let mut world = ctx.write::<VoxelWorld>()?;
            let mut state = ctx.write::<PhaseState>()?;
            // Without a LOD schedule (a runtime built without the
            // automaton's plugin), every page is due.
            let parked = match ctx.read::<SimulationLod>() {
                Ok(lod) => park_far_pages(&mut world, &mut state, &lod, frame),
                Err(JobError::Missing { .. }) => Parked::default(),
                Err(e) => return Err(e),
            };
            let asked = metropolis_pass(
                &mut world,
                &mut state,
                &phases,
                &materials,
                &config,
                &baths.0,
                Some(&fields),
                seed,
                frame,
            );
            parked.restore(&mut world, &mut state);
            ctx.write::<PageRequests>()?.pages = asked;
            Ok(())
        })
}

/// Pages a pass leaves for a later frame under the [`SimulationLod`].
#[derive(Default)]
struct Parked {
    /// Woken pages, put asleep for the pass.
    woken: Vec<usize>,
    /// Candidates taken out of the pass.
    candidates: Vec<usize>,
}

impl Parked {
    /// After the pass: wakes the parked woken pages again (the automaton
    /// still has work on them) and makes every parked page a candidate,
    /// visited on its turn: a woken page is visited later, not missed, even
    /// if nothing wakes it then.
    fn restore(self, world: &mut VoxelWorld, state: &mut PhaseState) {
        for &p in &self.woken {
            world.wake(p);
        }
        state
            .candidates
            .extend(self.woken.into_iter().chain(self.candidates));
        state.candidates.sort_unstable();
        state.candidates.dedup();
    }
}

/// Takes the pages whose turn it is not under `lod` out of this frame's
/// pass: the woken ones (left asleep) and the candidates.
fn park_far_pages(
    world: &mut VoxelWorld,
    state: &mut PhaseState,
    lod: &SimulationLod,
    frame: u64,
) -> Parked {
    if lod.near.is_none() {
        return Parked::default();
    }
    let layout = *world.layout();
    let due = |p: usize| lod.due(&layout, p, frame).0;
    let mut parked = Parked::default();
    for p in world.take_woken() {
        if due(p) {
            world.wake(p);
        } else {
            parked.woken.push(p);
        }
    }
    let candidates = std::mem::take(&mut state.candidates);
    (state.candidates, parked.candidates) = candidates.into_iter().partition(|&p| due(p));
    parked
}
