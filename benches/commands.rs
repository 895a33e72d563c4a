//! The largest commands a game may send (criterion): an explosion of the
//! largest radius the checker allows and a wind over the whole world, in a
//! 64³ world, then 11 frames. The fields are held to the world, so these
//! cost what the world's own field cells cost.

// `criterion_group!` makes an undocumented `pub fn`.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};

use loam::scenario::limits::MAX_RADIUS;
use loam::{Command, ExplosionSpec, Runtime, Scenario, WindSpec};

/// A 64³ world of air, one thread, with `command` sent.
fn world_with(command: Command) -> Runtime {
    let mut scenario = Scenario::empty("commands", [64, 64, 64]);
    scenario.world.page = 16;
    scenario.run.threads = 1;
    let rt = Runtime::new(scenario).expect("an empty world runs");
    rt.command_sender().send(command).expect("a valid command");
    rt
}

fn largest(c: &mut Criterion) {
    let mut group = c.benchmark_group("commands.largest");
    group.sample_size(10);
    let commands = [
        (
            "explode_r_max.11frames",
            Command::Explode(ExplosionSpec {
                center: [32.0; 3],
                radius: MAX_RADIUS,
                strength: 1.0e6,
                heat: 500.0,
            }),
        ),
        (
            "wind_whole_world.11frames",
            Command::Wind(WindSpec {
                min: [0; 3],
                max: [64; 3],
                direction: [1.0, 0.0, 0.0],
                strength: 20.0,
                gust: 0.3,
                frames: [0, 1000],
            }),
        ),
    ];
    for (name, command) in commands {
        group.bench_function(name, |b| {
            b.iter_batched_ref(
                || world_with(command.clone()),
                |rt| rt.run(11).expect("frames run"),
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, largest);
criterion_main!(benches);
