//! The phase pass as a plugin.

use loam_runtime::{Engine, Plugin, PluginError};
use loam_storage::stream::PageRequests;

use super::{HeatBaths, PhaseConfig, PhaseState, PhaseTable};
use crate::materials::MaterialTable;
use crate::scale::WorldScale;

/// Phase transitions by Metropolis (`phase.metropolis`, stage `phase`):
/// inserts the phase table (of the [`MaterialTable`]'s substances), the
/// pass's configuration and state, an empty
/// [`HeatBaths`] where no plugin set one, and the [`PageRequests`] the
/// pass's columns fill.
#[derive(Clone, Copy, Debug, Default)]
pub struct PhasePlugin {
    /// Pressure and stagger; the cell size and gravity are taken from the
    /// [`WorldScale`] resource when there is one.
    pub config: PhaseConfig,
}

impl PhasePlugin {
    /// The configuration the pass runs with in `engine`: this plugin's,
    /// at the world's scale.
    pub fn config_in(&self, engine: &Engine) -> PhaseConfig {
        let scale = engine.resource::<WorldScale>().map(|s| *s);
        let scale = scale.unwrap_or_default();
        PhaseConfig {
            voxel_size: scale.cell_size,
            gravity: scale.gravity,
            ..self.config
        }
    }

    /// Inserts the resources the pass (on any backend) reads and writes.
    pub fn insert_resources(&self, engine: &mut Engine) {
        engine.insert_resource(self.config_in(engine));
        // The diagrams of the world's materials (the built-in ones where no
        // plugin inserted a material table).
        let phases = engine
            .resource::<MaterialTable>()
            .map_or_else(PhaseTable::default, |t| PhaseTable::of(&t));
        engine.insert_resource(phases);
        engine.insert_resource(PhaseState::default());
        if engine.resource::<HeatBaths>().is_none() {
            engine.insert_resource(HeatBaths::default());
        }
        if engine.resource::<PageRequests>().is_none() {
            engine.insert_resource(PageRequests::default());
        }
    }
}

impl Plugin for PhasePlugin {
    fn name(&self) -> &str {
        "phase"
    }

    fn build(self: Box<Self>, engine: &mut Engine) -> Result<(), PluginError> {
        self.insert_resources(engine);
        engine.persist::<PhaseState>("phase");
        engine.add_job(super::job());
        Ok(())
    }
}
