//! Building a runtime from plugins as an embedder does: keep the defaults,
//! leave one out, replace one, add one's own.

use loam::loam_runtime::{Engine, Job, Plugin, PluginError, Stage};
use loam::loam_storage::VoxelWorld;
use loam::loam_systems::materials::{id, AMBIENT};
use loam::{Command, Fill, HeatBathSpec, Runtime, Scenario, ScheduledCommand, Shape};

/// Sand over a stone floor, and a heat bath in the air beside it.
fn scenario() -> Scenario {
    let mut s = Scenario::empty("plugins", [64, 64, 64]);
    s.run.threads = 2;
    s.fills.push(Fill {
        shape: Shape::Box {
            min: [0, 0, 0],
            max: [64, 2, 64],
        },
        material: id::STONE,
        temperature: None,
    });
    s.fills.push(Fill {
        shape: Shape::Box {
            min: [20, 30, 20],
            max: [30, 40, 30],
        },
        material: id::SAND,
        temperature: None,
    });
    s.commands.push(ScheduledCommand {
        frame: 0,
        command: Command::Heat(HeatBathSpec {
            min: [40, 10, 40],
            max: [48, 18, 48],
            temperature: 500.0,
            frames: [0, 1000],
        }),
    });
    s
}

fn sand_count(world: &VoxelWorld) -> u64 {
    (0..world.layout().page_count())
        .filter_map(|p| world.page(p))
        .map(|v| v.material.iter().filter(|&&m| m == id::SAND).count() as u64)
        .sum()
}

fn jobs(runtime: &mut Runtime) -> String {
    runtime.engine_mut().describe_graph().unwrap()
}

#[test]
fn the_default_plugins_make_the_runtime_new_makes() {
    let mut by_new = Runtime::new(scenario()).unwrap();
    let (plugins, _) = Runtime::default_plugins(&scenario()).unwrap();
    assert_eq!(
        plugins.names(),
        [
            "world",
            "commands",
            "heat_baths",
            "fields",
            "automaton",
            "phase",
            "soft_bodies"
        ]
    );
    let mut by_plugins = Runtime::with_plugins(scenario(), plugins).unwrap();
    by_new.run(20).unwrap();
    by_plugins.run(20).unwrap();
    assert_eq!(by_new.world_hash(), by_plugins.world_hash());
    assert_eq!(jobs(&mut by_new), jobs(&mut by_plugins));
}

#[test]
fn a_plugin_left_out_leaves_its_jobs_and_effects_out() {
    let bath = [44, 14, 44];
    let (plugins, _) = Runtime::default_plugins(&scenario()).unwrap();
    let mut with = Runtime::with_plugins(scenario(), plugins).unwrap();
    let (mut plugins, _) = Runtime::default_plugins(&scenario()).unwrap();
    assert!(plugins.remove("heat_baths").is_some());
    assert!(plugins.remove("heat_baths").is_none(), "taken out once");
    let mut without = Runtime::with_plugins(scenario(), plugins).unwrap();
    with.run(5).unwrap();
    without.run(5).unwrap();
    assert_eq!(with.world().temperature(bath), Some(500.0));
    assert_eq!(without.world().temperature(bath), Some(AMBIENT));
    assert!(jobs(&mut with).contains("heat_baths"));
    assert!(!jobs(&mut without).contains("heat_baths"));
    // The rest runs as before: the sand fell either way.
    assert!(with.report().materials["sand"].min_y < 30);
    assert!(without.report().materials["sand"].min_y < 30);
}

/// An automaton that does nothing: the world's cells stay where they are.
struct Frozen;

impl Plugin for Frozen {
    fn name(&self) -> &str {
        "frozen"
    }
    fn build(self: Box<Self>, _: &mut Engine) -> Result<(), PluginError> {
        Ok(())
    }
}

#[test]
fn a_replaced_plugin_runs_in_the_place_of_the_built_in() {
    let (mut plugins, _) = Runtime::default_plugins(&scenario()).unwrap();
    let old = plugins.replace("automaton", Frozen).unwrap();
    assert_eq!(old.name(), "automaton");
    assert_eq!(
        plugins.names(),
        [
            "world",
            "commands",
            "heat_baths",
            "fields",
            "frozen",
            "phase",
            "soft_bodies"
        ]
    );
    let mut runtime = Runtime::with_plugins(scenario(), plugins).unwrap();
    runtime.run(30).unwrap();
    assert_eq!(runtime.report().materials["sand"].min_y, 30, "nothing fell");
    assert!(!jobs(&mut runtime).contains("ca.step"));

    let (mut plugins, _) = Runtime::default_plugins(&scenario()).unwrap();
    let err = plugins.replace("ghost", Frozen).err().unwrap().to_string();
    assert!(
        err.contains("`ghost`") && err.contains("automaton, phase"),
        "{err}"
    );
}

/// Counts the world's sand after the systems that move it.
struct Census {
    stage: Stage,
    after: Option<&'static str>,
}

#[derive(Default)]
struct Counts(Vec<u64>);

impl Plugin for Census {
    fn name(&self) -> &str {
        "census"
    }
    fn build(self: Box<Self>, engine: &mut Engine) -> Result<(), PluginError> {
        engine.insert_resource(Counts::default());
        let job = Job::new("census").in_stage(self.stage);
        let job = match self.after {
            Some(other) => job.after(other),
            None => job,
        };
        engine.add_job(job.writes::<VoxelWorld>().writes::<Counts>().run(|ctx| {
            let n = sand_count(&*ctx.read::<VoxelWorld>()?);
            ctx.write::<Counts>()?.0.push(n);
            Ok(())
        }));
        Ok(())
    }
}

#[test]
fn an_added_job_runs_every_frame_where_its_stage_puts_it() {
    let (plugins, _) = Runtime::default_plugins(&scenario()).unwrap();
    let plugins = plugins.with(Census {
        stage: Stage::Output,
        after: None,
    });
    let mut runtime = Runtime::with_plugins(scenario(), plugins).unwrap();
    for frame in 0..20 {
        runtime.step().unwrap();
        let counts = &runtime.engine().resource::<Counts>().unwrap().0;
        assert_eq!(counts.len(), frame + 1);
        assert_eq!(counts[frame], sand_count(&runtime.world()));
    }
    let listing = jobs(&mut runtime);
    let last = listing.lines().rev().nth(1).unwrap();
    assert!(last.starts_with("output     census"), "{listing}");
}

#[test]
fn an_added_job_that_conflicts_in_a_stage_must_say_its_order() {
    let (plugins, _) = Runtime::default_plugins(&scenario()).unwrap();
    let plugins = plugins.with(Census {
        stage: Stage::Automaton,
        after: None,
    });
    let err = Runtime::with_plugins(scenario(), plugins)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("`ca.step`") && err.contains("`census`") && err.contains("automaton"),
        "{err}"
    );
    let (plugins, _) = Runtime::default_plugins(&scenario()).unwrap();
    let plugins = plugins.with(Census {
        stage: Stage::Automaton,
        after: Some("ca.step"),
    });
    let mut runtime = Runtime::with_plugins(scenario(), plugins).unwrap();
    runtime.run(3).unwrap();
    assert!(jobs(&mut runtime).contains("ca.step -> [census"));
}

#[test]
fn plugins_that_cannot_make_a_runtime_are_clear_errors() {
    let (plugins, _) = Runtime::default_plugins(&scenario()).unwrap();
    let err = Runtime::with_plugins(scenario(), plugins.with(Frozen).with(Frozen))
        .err()
        .unwrap();
    assert_eq!(err.exit_code(), 2);
    assert!(err.to_string().contains("two plugins"), "{err}");

    let (mut plugins, _) = Runtime::default_plugins(&scenario()).unwrap();
    plugins.remove("world");
    let err = Runtime::with_plugins(scenario(), plugins)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("world"), "{err}");
}
