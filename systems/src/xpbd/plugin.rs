//! The soft bodies as a plugin.

use loam_runtime::{Engine, Job, Plugin, PluginError, Stage};
use loam_storage::VoxelWorld;

use super::{Environment, SoftBodies};
use crate::fields::Fields;
use crate::materials::MaterialTable;
use crate::scale::WorldScale;

/// Soft bodies (`softbody.step`, stage `bodies`): the bodies as a resource,
/// stepped in `substeps` substeps a frame against the world as the
/// automaton and the phase pass left it, feeling the fields and pushing on
/// them.
#[derive(Debug, Default)]
pub struct SoftBodyPlugin {
    /// The bodies to simulate.
    pub bodies: SoftBodies,
    /// Substeps a frame.
    pub substeps: u32,
}

impl Plugin for SoftBodyPlugin {
    fn name(&self) -> &str {
        "soft_bodies"
    }

    fn build(self: Box<Self>, engine: &mut Engine) -> Result<(), PluginError> {
        engine.insert_resource(self.bodies);
        engine.persist::<SoftBodies>("soft_bodies");
        let substeps = self.substeps;
        engine.add_job(step_job("softbody.step").run(move |ctx| {
            let scale = *ctx.read::<WorldScale>()?;
            let world = ctx.read::<VoxelWorld>()?;
            let table = ctx.read::<MaterialTable>()?;
            let mut fields = ctx.write::<Fields>()?;
            let mut bodies = ctx.write::<SoftBodies>()?;
            if bodies.bodies.is_empty() {
                // A world with no bodies yet: a game may add some later.
                return Ok(());
            }
            let env = environment(&scale, ctx.dt(), substeps);
            bodies.step(&world, &table, &env.feeling(&fields));
            bodies.push_fields(&mut fields, &world, &table, &env);
            Ok(())
        }));
        Ok(())
    }
}

/// A soft-body step job named `name` with its stage and access declared and
/// no body yet: the CPU's and other backends' share it.
pub fn step_job(name: &str) -> Job {
    Job::new(name)
        .in_stage(Stage::Bodies)
        .writes::<SoftBodies>()
        .writes::<Fields>()
        .reads::<VoxelWorld>()
        .reads::<MaterialTable>()
        .reads::<WorldScale>()
}

/// A frame's environment at `scale`, without fields.
pub fn environment(scale: &WorldScale, dt: f64, substeps: u32) -> Environment<'static> {
    Environment {
        dt: dt as f32,
        substeps,
        gravity: scale.gravity_in_cells(),
        voxel_size: scale.cell_size as f32,
        fields: None,
    }
}
