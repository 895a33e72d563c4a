//! The mapping from a scenario to the plugins that run it.

use loam_runtime::Plugins;
use loam_systems::ca::AutomatonPlugin;
use loam_systems::fields::FieldsPlugin;
use loam_systems::phase::PhasePlugin;
use loam_systems::xpbd::SoftBodyPlugin;

use crate::error::LoamError;
use crate::heat_baths::HeatBathPlugin;
use crate::input::CommandsPlugin;
use crate::lod::LodPlugin;
use crate::scenario::Scenario;
use crate::streaming::StreamingPlugin;
use crate::world::WorldPlugin;

/// The plugins that run `scenario`, and notes on what was chosen (see
/// [`Runtime::default_plugins`](crate::Runtime::default_plugins)).
pub(crate) fn for_scenario(scenario: &Scenario) -> Result<(Plugins, Vec<String>), LoamError> {
    scenario.validate().map_err(LoamError::Invalid)?;
    let layout = scenario
        .layout()
        .map_err(|e| LoamError::Invalid(e.to_string()))?;
    let mut plugins = Plugins::new();
    match scenario.world.storage {
        None => plugins.push(Box::new(WorldPlugin::new(scenario, layout))),
        Some(_) => plugins.push(Box::new(StreamingPlugin::new(scenario, layout))),
    }
    let systems = &scenario.systems;
    let mut plugins = plugins
        .with(CommandsPlugin::new(scenario))
        .with(HeatBathPlugin)
        .with(FieldsPlugin);
    if systems.ca {
        plugins = plugins.with(AutomatonPlugin {
            config: scenario.ca_config(),
        });
    }
    if scenario.run.frame_budget_ms.is_some() {
        plugins = plugins.with(LodPlugin::of(scenario));
    }
    if systems.phase {
        plugins = plugins.with(PhasePlugin {
            config: scenario.phase_config(),
        });
    }
    // Always: a game may add bodies by command to a world that had none.
    plugins = plugins.with(SoftBodyPlugin {
        bodies: scenario.build_soft_bodies(),
        substeps: scenario.soft_body_substeps(),
    });
    let notes = crate::backend::choose(scenario, &mut plugins)?;
    Ok((plugins, notes))
}
