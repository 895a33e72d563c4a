//! The world as a plugin: a world held in memory, generated from the
//! scenario's fills, and the resources every system shares.

use loam_runtime::{Engine, Plugin, PluginError};
use loam_storage::{VoxelWorld, WorldLayout};
use loam_systems::materials::{id, AMBIENT};
use loam_systems::{MaterialTable, WorldScale};

use crate::generate::apply_fill;
use crate::scenario::{Fill, Scenario};

/// A world held wholly in memory: the [`VoxelWorld`] with the scenario's
/// fills, the [`MaterialTable`], the [`WorldScale`] and the actors
/// (`hecs::World`) that commands and observers live in.
pub struct WorldPlugin {
    layout: WorldLayout,
    fills: Vec<Fill>,
    seed: u64,
    scale: WorldScale,
}

impl WorldPlugin {
    /// The world `scenario` describes.
    pub fn new(scenario: &Scenario, layout: WorldLayout) -> Self {
        Self {
            layout,
            fills: scenario.fills.clone(),
            seed: scenario.world.seed,
            scale: scenario.world_scale(),
        }
    }
}

impl Plugin for WorldPlugin {
    fn name(&self) -> &str {
        "world"
    }

    fn build(self: Box<Self>, engine: &mut Engine) -> Result<(), PluginError> {
        let table = MaterialTable::default();
        let mut world = VoxelWorld::new(self.layout, id::AIR, AMBIENT);
        // Fills wake the pages they touch and those next to them, so the
        // first frame visits everything that could change and lets the
        // rest sleep.
        for fill in &self.fills {
            apply_fill(&mut world, &table, fill, self.seed);
        }
        insert_shared(engine, world, table, self.scale);
        Ok(())
    }
}

/// Inserts `world` and what every world has beside it.
pub(crate) fn insert_shared(
    engine: &mut Engine,
    world: VoxelWorld,
    table: MaterialTable,
    scale: WorldScale,
) {
    engine.insert_resource(world);
    engine.insert_resource(table);
    engine.insert_resource(scale);
    if engine.resource::<hecs::World>().is_none() {
        engine.insert_resource(hecs::World::new());
    }
}
