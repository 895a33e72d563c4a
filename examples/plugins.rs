//! Building a runtime from plugins: the scenario's defaults, one left out,
//! one replaced with our own, and one of our own added.
//!
//! Run with `cargo run --release --example plugins`.

use loam::loam_runtime::{Engine, Job, Plugin, PluginError, Stage};
use loam::loam_storage::VoxelWorld;
use loam::loam_systems::ca::{self, CaConfig};
use loam::loam_systems::materials::id;
use loam::loam_systems::materials::ReactionBlasts;
use loam::{Fill, Runtime, Scenario, Shape};

/// Our own system: counts the sand cells in the world after every frame.
struct SandCensus;

/// What [`SandCensus`] saw, frame by frame.
#[derive(Default)]
struct SandCounts(Vec<u64>);

impl Plugin for SandCensus {
    fn name(&self) -> &str {
        "sand_census"
    }

    fn build(self: Box<Self>, engine: &mut Engine) -> Result<(), PluginError> {
        engine.insert_resource(SandCounts::default());
        engine.add_job(
            Job::new("sand_census")
                // In `output`, after every system that writes the world;
                // reading it, it runs beside jobs that do not write it.
                .in_stage(Stage::Output)
                .reads::<VoxelWorld>()
                .writes::<SandCounts>()
                .run(|ctx| {
                    let world = ctx.read::<VoxelWorld>()?;
                    let sand = (0..world.layout().page_count())
                        .filter_map(|p| world.page(p))
                        .map(|view| view.material.iter().filter(|&&m| m == id::SAND).count())
                        .sum::<usize>();
                    ctx.write::<SandCounts>()?.0.push(sand as u64);
                    Ok(())
                }),
        );
        Ok(())
    }
}

/// Our own automaton in the place of the built-in one: the same kernel,
/// run every other frame (a cheaper, slower-falling world).
struct HalfRateAutomaton;

impl Plugin for HalfRateAutomaton {
    fn name(&self) -> &str {
        "half_rate_automaton"
    }

    fn build(self: Box<Self>, engine: &mut Engine) -> Result<(), PluginError> {
        // What `ca.step` reads and writes besides the world and the
        // material table (the world plugin's).
        engine.insert_resource(CaConfig::default());
        engine.insert_resource(ca::CaStats::default());
        engine.insert_resource(ReactionBlasts::default());
        engine.add_job(ca::job().every(2));
        Ok(())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut scenario = Scenario::empty("plugins", [64, 64, 64]);
    scenario.fills.push(Fill {
        shape: Shape::Box {
            min: [24, 40, 24],
            max: [40, 48, 40],
        },
        material: id::SAND,
        temperature: None,
    });

    let (mut plugins, _notes) = Runtime::default_plugins(&scenario)?;
    println!("default plugins: {}", plugins.names().join(", "));
    // Leave one out: no phase diagrams in this world.
    plugins.remove("phase");
    // Replace one with our own.
    plugins.replace("automaton", HalfRateAutomaton)?;
    // Add our own.
    let plugins = plugins.with(SandCensus);

    let mut runtime = Runtime::with_plugins(scenario, plugins)?;
    print!("{}", runtime.engine_mut().describe_graph()?);
    runtime.run(60)?;
    let counts = &runtime
        .engine()
        .resource::<SandCounts>()
        .ok_or("no census")?
        .0;
    println!(
        "{} frames counted, sand {} -> {} cells, lowest sand at y = {}",
        counts.len(),
        counts[0],
        counts[counts.len() - 1],
        runtime.report().materials["sand"].min_y
    );
    Ok(())
}
