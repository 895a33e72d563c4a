//! Simulation LOD as a plugin: a scenario's `[run] frame_budget_ms` turns
//! on the automaton's [`SimulationLod`] schedule, and a job tells it where
//! the observers are each frame. In adaptive mode (`[run] lod =
//! "adaptive"`) the runtime hands it each frame's measured time after the
//! frame ([`crate::Runtime::step`]).

use loam_runtime::{Engine, Job, Plugin, PluginError, Stage};
use loam_systems::lod::SimulationLod;

use crate::scenario::Scenario;
use crate::streaming::{Observer, Position};

/// Pages within `near` cells of an observer simulated every frame, farther
/// ones every 2, 4 or 8: inserts the automaton's and the phase pass's
/// [`SimulationLod`] and keeps its observers (`lod.focus`, stage
/// `storage`, after `observers`).
#[derive(Clone, Copy, Debug)]
pub struct LodPlugin {
    /// Cells from the nearest observer simulated every frame (where the
    /// steering starts, in adaptive mode).
    pub near: f64,
    /// Adaptive mode: the frame budget (ms) to steer toward and the page
    /// loads a frame to start from; `None`: `near` is fixed.
    pub adaptive: Option<(f64, usize)>,
}

impl LodPlugin {
    /// The LOD `scenario`'s `[run]` asks for.
    pub fn of(scenario: &Scenario) -> Self {
        let loads = scenario
            .world
            .storage
            .as_ref()
            .map_or(0, |s| s.load_per_frame);
        Self {
            near: scenario.run.lod_near,
            adaptive: scenario
                .run
                .adaptive_budget_ms()
                .map(|budget| (budget, loads)),
        }
    }
}

impl Plugin for LodPlugin {
    fn name(&self) -> &str {
        "lod"
    }

    fn build(self: Box<Self>, engine: &mut Engine) -> Result<(), PluginError> {
        engine.insert_resource(match self.adaptive {
            Some((budget, loads)) => SimulationLod::adaptive(self.near, budget, loads),
            None => SimulationLod::new(self.near),
        });
        engine.add_job(focus_job());
        Ok(())
    }
}

/// The `lod.focus` job: the observers' positions this frame, for the
/// schedule.
fn focus_job() -> Job {
    Job::new("lod.focus")
        .in_stage(Stage::Storage)
        .after("observers")
        .reads::<hecs::World>()
        .writes::<SimulationLod>()
        .run(|ctx| {
            let actors = ctx.read::<hecs::World>()?;
            let mut lod = ctx.write::<SimulationLod>()?;
            lod.focus.clear();
            let mut query = actors.query::<(&Observer, &Position)>();
            lod.focus.extend(query.iter().map(|(_, p)| p.0));
            Ok(())
        })
}
