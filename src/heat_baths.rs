//! Heat baths as a plugin: `heat` commands hold a box at a temperature.

use loam_runtime::{Engine, Job, Plugin, PluginError, Stage};
use loam_storage::VoxelWorld;
use loam_systems::phase::{HeatBath, HeatBaths};

use crate::scenario::HeatBathSpec;

/// Heat baths (`heat_baths`, stage `heat`): every active `heat` command
/// holds its box at its temperature, after the automaton's conduction and
/// before the phase pass, which learns from [`HeatBaths`] which cells are in
/// a bath (and sees the pages the bath woke: the automaton takes every
/// wake-up made before it, so a bath over a uniform world was never looked
/// at when it ran first).
#[derive(Clone, Copy, Debug, Default)]
pub struct HeatBathPlugin;

impl Plugin for HeatBathPlugin {
    fn name(&self) -> &str {
        "heat_baths"
    }

    fn build(self: Box<Self>, engine: &mut Engine) -> Result<(), PluginError> {
        if engine.resource::<HeatBaths>().is_none() {
            engine.insert_resource(HeatBaths::default());
        }
        engine.add_job(heat_baths_job());
        Ok(())
    }
}

fn heat_baths_job() -> Job {
    Job::new("heat_baths")
        .in_stage(Stage::Heat)
        .reads::<hecs::World>()
        .writes::<VoxelWorld>()
        .writes::<HeatBaths>()
        .run(|ctx| {
            let frame = ctx.clock().frame;
            let actors = ctx.read::<hecs::World>()?;
            let mut query = actors.query::<&HeatBathSpec>();
            let active: Vec<HeatBath> = query
                .iter()
                .filter(|h| (h.frames[0]..h.frames[1]).contains(&frame))
                .map(|h| HeatBath {
                    min: h.min,
                    max: h.max,
                    temperature: h.temperature,
                })
                .collect();
            let mut baths = ctx.write::<HeatBaths>()?;
            if active.is_empty() && baths.0.is_empty() {
                return Ok(());
            }
            let mut world = ctx.write::<VoxelWorld>()?;
            for b in &active {
                hold(&mut world, b);
            }
            baths.0 = active;
            Ok(())
        })
}

/// Sets every resident cell of `bath`'s box to its temperature, and wakes
/// the pages it covers and their neighbours (conduction crosses page faces).
fn hold(world: &mut VoxelWorld, bath: &HeatBath) {
    let layout = *world.layout();
    let shift = layout.page.trailing_zeros();
    let (lo, hi) = (
        bath.min.map(|v| v >> shift),
        bath.max.map(|v| (v - 1) >> shift),
    );
    for pz in lo[2]..=hi[2] {
        for py in lo[1]..=hi[1] {
            for px in lo[0]..=hi[0] {
                let p = layout.page_index([px, py, pz]);
                let origin = [px, py, pz].map(|c| c << shift);
                let Some(view) = world.page_mut(p) else {
                    continue;
                };
                for z in bath.min[2].max(origin[2])..bath.max[2].min(origin[2] + layout.page) {
                    for y in bath.min[1].max(origin[1])..bath.max[1].min(origin[1] + layout.page) {
                        for x in
                            bath.min[0].max(origin[0])..bath.max[0].min(origin[0] + layout.page)
                        {
                            let i =
                                layout.local_offset([x - origin[0], y - origin[1], z - origin[2]]);
                            view.temperature[i] = bath.temperature;
                            // The bath supplies or takes any latent heat.
                            view.latent[i] = 0.0;
                        }
                    }
                }
                world.touch(p);
                world.wake_around(p);
            }
        }
    }
}
