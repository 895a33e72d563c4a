//! Simulation LOD as a plugin: a scenario's `[run] frame_budget_ms` turns
//! on the automaton's [`SimulationLod`] schedule, and a job tells it where
//! the observers are each frame.

use loam_runtime::{Engine, Job, Plugin, PluginError, Stage};
use loam_systems::lod::SimulationLod;

use crate::streaming::{Observer, Position};

/// Pages within `near` cells of an observer simulated every frame, farther
/// ones every 2, 4 or 8: inserts the automaton's and the phase pass's
/// [`SimulationLod`] and keeps its observers (`lod.focus`, stage
/// `storage`, after `observers`).
#[derive(Clone, Copy, Debug)]
pub struct LodPlugin {
    /// Cells from the nearest observer simulated every frame.
    pub near: f64,
}

impl Plugin for LodPlugin {
    fn name(&self) -> &str {
        "lod"
    }

    fn build(self: Box<Self>, engine: &mut Engine) -> Result<(), PluginError> {
        engine.insert_resource(SimulationLod::new(self.near));
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
