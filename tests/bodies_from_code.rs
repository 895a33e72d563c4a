//! Soft bodies a game adds and removes by command, in any runtime: one
//! that started with no bodies simulates those added, a body removed by
//! its handle leaves the others going, refusals name what is wrong, and a
//! saved game with added bodies loads and plays on to the same world.

use loam::loam_systems::materials::id;
use loam::loam_systems::xpbd::{materials, SoftBodies, SoftBox};
use loam::{Command, Fill, Runtime, Scenario, SendError, Shape};

/// A 64³ world with a stone floor 4 cells deep and no soft body.
fn floor_world(threads: usize) -> Runtime {
    let mut scenario = Scenario::empty("bodies", [64, 64, 64]);
    scenario.world.page = 16;
    scenario.run.threads = threads;
    scenario.fills.push(Fill {
        shape: Shape::Box {
            min: [0, 0, 0],
            max: [64, 4, 64],
        },
        material: id::STONE,
        temperature: None,
    });
    Runtime::new(scenario).unwrap()
}

fn jelly(name: &str, origin: [f32; 3], edge: u32) -> Command {
    Command::SpawnBody(Box::new(SoftBox::new(
        name,
        origin,
        [edge; 3],
        materials()[0],
    )))
}

/// The runtime's bodies: how many, and each's lowest particle and volume.
fn bodies(rt: &Runtime) -> Vec<(String, f32, f32)> {
    let bodies = rt.engine().resource::<SoftBodies>().unwrap();
    (0..bodies.bodies.len())
        .map(|b| {
            let s = bodies.summary(b);
            (
                bodies.bodies[b].name.clone(),
                s.min_y,
                bodies.volume_ratio(b),
            )
        })
        .collect()
}

#[test]
fn bodies_added_to_a_world_without_any_fall_rest_and_keep_their_volume() {
    for (threads, edge, x) in [(1, 3, 4.0), (2, 5, 30.0), (1, 4, 59.0)] {
        let mut rt = floor_world(threads);
        let sender = rt.command_sender();
        // Dropped from a few cells up: a jelly dropped from high bounces
        // for seconds.
        sender.send(jelly("a", [x, 8.0, 30.0], edge)).unwrap();
        rt.run(10).unwrap();
        sender
            .send(jelly("b", [x.min(50.0), 10.0, 10.0], 3))
            .unwrap();
        rt.run(290).unwrap();
        let found = bodies(&rt);
        assert_eq!(found.len(), 2, "{found:?}");
        for (name, min_y, volume) in found {
            // Resting on the floor's top (y = 4), not sunk into it.
            assert!((3.8..4.6).contains(&min_y), "{name}: lowest {min_y}");
            assert!((volume - 1.0).abs() < 0.05, "{name}: volume {volume}");
        }
    }
}

#[test]
fn a_body_removed_by_its_handle_leaves_the_others_as_they_go() {
    let run = |remove: bool| {
        let mut rt = floor_world(1);
        let sender = rt.command_sender();
        let left = sender.send(jelly("left", [4.0, 20.0, 4.0], 3)).unwrap();
        sender.send(jelly("right", [50.0, 20.0, 50.0], 3)).unwrap();
        rt.run(20).unwrap();
        if remove {
            sender.cancel(left).unwrap();
        }
        rt.run(40).unwrap();
        let bodies = rt.engine().resource::<SoftBodies>().unwrap();
        let right = bodies
            .tagged(1)
            .expect("the right body's tag is its handle");
        (bodies.bodies.len(), bodies.summary(right).center_of_mass)
    };
    let (kept, with_left) = run(false);
    let (removed, without_left) = run(true);
    assert_eq!((kept, removed), (2, 1));
    // Far apart, the two never touched: the right body goes on as it would
    // have (within the order its constraints are solved in, which the
    // rebuild colours again).
    for a in 0..3 {
        assert!(
            (with_left[a] - without_left[a]).abs() < 1e-3,
            "{with_left:?} vs {without_left:?}"
        );
    }
}

#[test]
fn bodies_no_scenario_could_have_are_refused() {
    let rt = floor_world(1);
    let sender = rt.command_sender();
    let mut custom = materials()[0];
    custom.density = -1.0;
    let mut cases = vec![
        SoftBox::new("nan", [f32::NAN, 10.0, 10.0], [2; 3], materials()[0]),
        SoftBox::new("outside", [60.0, 10.0, 10.0], [8; 3], materials()[0]),
        SoftBox::new("none", [10.0; 3], [0, 2, 2], materials()[0]),
        SoftBox::new("huge", [0.0; 3], [2048, 2048, 1], materials()[0]),
        SoftBox::new("custom", [10.0; 3], [2; 3], custom),
        SoftBox::new("", [10.0; 3], [2; 3], materials()[1]),
    ];
    cases[2].voxel = 1.0;
    let mut fast = SoftBox::new("fast", [10.0; 3], [2; 3], materials()[2]);
    fast.velocity = [f32::INFINITY, 0.0, 0.0];
    cases.push(fast);
    for body in cases {
        let name = body.name.clone();
        match sender.send(Command::SpawnBody(Box::new(body))) {
            Err(SendError::Invalid { message, .. }) => assert!(!message.is_empty()),
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn a_saved_game_with_added_and_removed_bodies_loads_and_plays_on_alike() {
    let dir = std::env::temp_dir().join(format!("loam-bodies-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let save = dir.join("game.loam");
    let mut rt = floor_world(2);
    let sender = rt.command_sender();
    let first = sender.send(jelly("first", [10.0, 20.0, 10.0], 3)).unwrap();
    sender.send(jelly("second", [30.0, 25.0, 30.0], 4)).unwrap();
    sender.send(jelly("third", [45.0, 15.0, 20.0], 2)).unwrap();
    rt.run(15).unwrap();
    sender.cancel(first).unwrap();
    rt.run(5).unwrap();
    rt.save_state(&save).unwrap();
    rt.run(40).unwrap();

    let mut loaded = floor_world(2);
    loaded.load_state(&save).unwrap();
    loaded.run(40).unwrap();
    assert_eq!(bodies(&loaded), bodies(&rt));
    assert_eq!(loaded.world_hash(), rt.world_hash());
    assert_eq!(loaded.state().unwrap(), rt.state().unwrap());
    let _ = std::fs::remove_dir_all(&dir);
}
