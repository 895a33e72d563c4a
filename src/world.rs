//! The world as a plugin: a world held in memory, generated from the
//! scenario's fills, and the resources every system shares.

use loam_runtime::state::{decode, encode, read, write};
use loam_runtime::{Engine, Plugin, PluginError, StateError};
use loam_storage::{VoxelWorld, WorldLayout};
use loam_systems::materials::{id, AMBIENT};
use loam_systems::{MaterialTable, WorldScale};

use crate::generate::generate_world;
use crate::scenario::{Fill, Scenario};

/// A world held wholly in memory: the [`VoxelWorld`] with the scenario's
/// fills, the [`MaterialTable`], the [`WorldScale`] and the actors
/// (`hecs::World`) that commands and observers live in.
pub struct WorldPlugin {
    layout: WorldLayout,
    fills: Vec<Fill>,
    seed: u64,
    scale: WorldScale,
    materials: std::sync::Arc<MaterialTable>,
}

impl WorldPlugin {
    /// The world `scenario` describes.
    pub fn new(scenario: &Scenario, layout: WorldLayout) -> Self {
        Self {
            layout,
            fills: scenario.fills.clone(),
            seed: scenario.world.seed,
            scale: scenario.world_scale(),
            materials: scenario.materials.clone(),
        }
    }
}

impl Plugin for WorldPlugin {
    fn name(&self) -> &str {
        "world"
    }

    fn build(self: Box<Self>, engine: &mut Engine) -> Result<(), PluginError> {
        let table = MaterialTable::clone(&self.materials);
        // Fills wake the pages they touch and those next to them, so the
        // first frame visits everything that could change and lets the
        // rest sleep.
        let world = engine.install(|| generate(self.layout, &table, &self.fills, self.seed));
        insert_shared(engine, world, table, self.scale);
        persist_activity(engine);
        Ok(())
    }
}

/// A new world of `layout` held in memory with `fills` (materials of
/// `table`, noise of `seed`), generated a page at a time in parallel on the
/// current rayon pool, straight into the pages: the world writing the
/// fills cell by cell in order gives, with the pages they touch and those
/// next to them awake. What [`WorldPlugin`] builds.
pub fn generate(
    layout: WorldLayout,
    table: &MaterialTable,
    fills: &[Fill],
    seed: u64,
) -> VoxelWorld {
    let mut world = VoxelWorld::new(layout, id::AIR, AMBIENT);
    generate_world(&mut world, table, fills, seed);
    world
}

/// Despawns every actor holding a `T` (restoring a saved state replaces
/// them all).
pub(crate) fn despawn_all<T: hecs::Component>(actors: &mut hecs::World) {
    let old: Vec<hecs::Entity> = actors
        .query::<(hecs::Entity, &T)>()
        .iter()
        .map(|(e, _)| e)
        .collect();
    for e in old {
        // Each was just found, so it exists.
        let _ = actors.despawn(e);
    }
}

/// What of a world carries from one frame to the next beside the cells a
/// world file holds: which pages are awake, in the order they woke, and
/// the latent heat of the pages holding any (with their temperatures
/// exactly: a world file stores their sum).
#[derive(serde::Serialize, serde::Deserialize)]
struct SavedActivity {
    woken: Vec<usize>,
    latent: Vec<(usize, Vec<f32>, Vec<f32>)>,
}

/// Resident pages found to hold no latent heat, each with its change stamp
/// then ([`PageTable::change_stamp`](loam_storage::PageTable::change_stamp)):
/// until the page changes, a save need not look at its cells again. A
/// streamed world saved every few frames holds thousands of pages, few of
/// them changing; reading all their latent heat made each save a hitch.
#[derive(Default)]
struct NoLatent(std::collections::HashMap<usize, u64>);

impl NoLatent {
    /// The resident pages of `world` holding latent heat, looking only at
    /// the cells of pages that changed since they were last found to hold
    /// none.
    fn pages(&mut self, world: &VoxelWorld) -> Vec<usize> {
        let table = world.table();
        self.0
            .retain(|&p, stamp| table.change_stamp(p) == Some(*stamp));
        world
            .resident_pages()
            .into_iter()
            .filter(|&p| {
                let Some(stamp) = table.change_stamp(p) else {
                    return false;
                };
                if self.0.contains_key(&p) {
                    return false;
                }
                let holds = world
                    .page(p)
                    .is_some_and(|v| v.latent.iter().any(|&l| l != 0.0));
                if !holds {
                    self.0.insert(p, stamp);
                }
                holds
            })
            .collect()
    }
}

/// Saves the world's activity as section `world` of the run's state. The
/// cells themselves are saved as pages of a world file.
pub(crate) fn persist_activity(engine: &mut Engine) {
    let no_latent = std::sync::Arc::new(std::sync::Mutex::new(NoLatent::default()));
    let forget = std::sync::Arc::clone(&no_latent);
    engine.persist_with(
        "world",
        move |resources| {
            let world = read::<VoxelWorld>(resources, "world")?;
            let holding = no_latent
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .pages(&world);
            let latent = holding
                .into_iter()
                .filter_map(|p| {
                    let view = world.page(p)?;
                    Some((p, view.temperature.to_vec(), view.latent.to_vec()))
                })
                .collect();
            encode(&SavedActivity {
                woken: world.table().woken().to_vec(),
                latent,
            })
        },
        move |resources, bytes| {
            // Restored cells may hold latent heat a page's stamp does not show.
            forget.lock().unwrap_or_else(|e| e.into_inner()).0.clear();
            let saved: SavedActivity = decode(bytes)?;
            let mut world = write::<VoxelWorld>(resources, "world")?;
            let misfit = |message: String| StateError::Section {
                section: "world".into(),
                message,
            };
            for (p, temperature, latent) in &saved.latent {
                let view = world.page_mut(*p).ok_or_else(|| {
                    misfit(format!("page {p} holds latent heat but is not resident"))
                })?;
                if temperature.len() != view.temperature.len() || latent.len() != view.latent.len()
                {
                    return Err(misfit(format!(
                        "page {p}'s latent heat is of another page size"
                    )));
                }
                view.temperature.copy_from_slice(temperature);
                view.latent.copy_from_slice(latent);
            }
            world.take_woken();
            for &p in &saved.woken {
                world.wake(p);
            }
            Ok(())
        },
    );
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
