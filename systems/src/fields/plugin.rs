//! The force fields as a plugin.

use loam_runtime::{Engine, Job, Plugin, PluginError, Seed, Stage};
use loam_storage::VoxelWorld;

use super::{couple, Fields};
use crate::materials::{MaterialTable, ReactionBlasts};
use crate::scale::WorldScale;

/// The force fields: the [`Fields`] resource, `fields.couple` (stage
/// `forces`: fields move and heat the world), `fields.step` (stage
/// `fields`: diffusion and decay), and where the world's reactions set off
/// blasts, `fields.blasts` (stage `heat`, after `ca.step`).
#[derive(Clone, Copy, Debug, Default)]
pub struct FieldsPlugin;

impl Plugin for FieldsPlugin {
    fn name(&self) -> &str {
        "fields"
    }

    fn build(self: Box<Self>, engine: &mut Engine) -> Result<(), PluginError> {
        Self::install_coupling(engine);
        engine.persist::<Fields>("fields");
        engine.add_job(step_job());
        Ok(())
    }
}

impl FieldsPlugin {
    /// All of the plugin but `fields.step`: the [`Fields`] resource,
    /// `fields.couple` and `fields.blasts`, for a plugin that steps the
    /// fields its own way (the GPU's). Where the engine holds a
    /// [`VoxelWorld`] already, the fields are held to it ([`Fields::within`]).
    pub fn install_coupling(engine: &mut Engine) {
        let size = engine.resource::<VoxelWorld>().map(|w| w.layout().size);
        let fields = Fields::default();
        engine.insert_resource(match size {
            Some(size) => fields.within(size),
            None => fields,
        });
        engine.add_job(couple_job());
        // Only a world whose reactions can blast needs the job (and the
        // built-in ones cannot, so the usual graph is unchanged).
        if engine
            .resource::<MaterialTable>()
            .is_some_and(|t| t.has_blasts())
        {
            if engine.resource::<ReactionBlasts>().is_none() {
                engine.insert_resource(ReactionBlasts::default());
            }
            engine.add_job(blasts_job());
        }
    }
}

/// The `fields.blasts` job: the blasts the automaton's reactions set off
/// this frame, added to the fields in the order they were set off.
pub fn blasts_job() -> Job {
    Job::new("fields.blasts")
        // After the automaton's stage: stages order jobs that share a
        // resource, and this one needs the frame's blasts.
        .in_stage(Stage::Heat)
        .reads::<ReactionBlasts>()
        .writes::<Fields>()
        .run(|ctx| {
            let blasts = ctx.read::<ReactionBlasts>()?;
            let mut fields = ctx.write::<Fields>()?;
            for b in &blasts.0 {
                fields.add_explosion(b.center, b.blast.radius, b.blast.pressure, b.blast.heat);
            }
            Ok(())
        })
}

/// The `fields.couple` job: fields move the world (see [`couple`]).
pub fn couple_job() -> Job {
    Job::new("fields.couple")
        .in_stage(Stage::Forces)
        .writes::<VoxelWorld>()
        .writes::<Fields>()
        .reads::<MaterialTable>()
        .reads::<WorldScale>()
        .reads::<Seed>()
        .run(|ctx| {
            let seed = ctx.read::<Seed>()?.0;
            let cell = ctx.read::<WorldScale>()?.cell_size;
            let mut fields = ctx.write::<Fields>()?;
            if fields.bricks() == 0 {
                return Ok(());
            }
            let table = ctx.read::<MaterialTable>()?;
            let mut world = ctx.write::<VoxelWorld>()?;
            let frame = ctx.clock().frame;
            couple(&mut world, &mut fields, &table, ctx.dt(), cell, seed, frame);
            Ok(())
        })
}

/// The `fields.step` job: diffusion and decay in one pass ([`Fields::step`]).
pub fn step_job() -> Job {
    Job::new("fields.step")
        .in_stage(Stage::Fields)
        .writes::<Fields>()
        .run(|ctx| {
            ctx.write::<Fields>()?.step(ctx.dt());
            Ok(())
        })
}
