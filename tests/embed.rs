//! Embedding: a game loop steps the runtime and other threads send commands.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use loam::{Command, Fill, Runtime, Scenario, Shape};

fn scenario(threads: usize) -> Scenario {
    let mut s = Scenario::empty("embed", [64, 64, 64]);
    s.run.threads = threads;
    s.fills.push(Fill {
        shape: Shape::Box {
            min: [0, 0, 0],
            max: [64, 2, 64],
        },
        material: 1,
        temperature: None,
    });
    s
}

fn sand_ball(y: f64) -> Command {
    Command::Place(Fill {
        shape: Shape::Sphere {
            center: [32.0, y, 32.0],
            radius: 3.0,
        },
        material: 2,
        temperature: None,
    })
}

#[test]
fn commands_from_another_thread_apply_at_the_next_frame() {
    let mut rt = Runtime::new(scenario(2)).unwrap();
    let sender = rt.command_sender();
    let (ready_tx, ready_rx) = mpsc::channel();
    let game = std::thread::spawn(move || {
        sender.send(sand_ball(40.0)).unwrap();
        ready_tx.send(()).unwrap();
    });
    ready_rx.recv().unwrap();
    game.join().unwrap();
    assert_eq!(rt.report().materials.get("sand").map(|m| m.count), None);
    rt.step().unwrap();
    let after_one = rt.report().materials["sand"].count;
    assert!(
        after_one > 100,
        "{after_one} sand cells after the command's frame"
    );
    rt.run(60).unwrap();
    let sand = &rt.report().materials["sand"];
    assert_eq!(sand.count, after_one, "sand is conserved once placed");
    assert_eq!(sand.min_y, 2, "it fell onto the floor");
}

#[test]
fn a_fixed_rate_game_loop_with_a_commanding_thread_is_deterministic() {
    // The game thread steps at a fixed rate; an input thread sends a command
    // whenever the game asks for one. Commands are tied to frames through the
    // request, so the outcome must not depend on thread timing.
    let run = |threads: usize| -> String {
        let mut rt = Runtime::new(scenario(threads)).unwrap();
        let sender = rt.command_sender();
        let (want_tx, want_rx) = mpsc::channel::<f64>();
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let input = std::thread::spawn(move || {
            for y in want_rx {
                sender.send(sand_ball(y)).unwrap();
                done_tx.send(()).unwrap();
            }
        });
        let frame = Duration::from_micros(500);
        let mut next = Instant::now();
        for f in 0..90u64 {
            if f % 30 == 0 {
                want_tx.send(30.0 + f as f64 / 10.0).unwrap();
                done_rx.recv().unwrap();
            }
            rt.step().unwrap();
            next += frame;
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
        }
        drop(want_tx);
        input.join().unwrap();
        rt.world_hash()
    };
    assert_eq!(run(1), run(2));
}

#[test]
fn custom_jobs_run_alongside_the_builtin_ones() {
    #[derive(Default)]
    struct FrameCount(u64);
    let mut rt = Runtime::new(scenario(2)).unwrap();
    let engine = rt.engine_mut();
    engine.insert_resource(FrameCount::default());
    engine.add_job(
        loam::loam_runtime::Job::new("game.count")
            .writes::<FrameCount>()
            .run(|ctx| {
                ctx.write::<FrameCount>()?.0 += 1;
                Ok(())
            }),
    );
    rt.run(5).unwrap();
    assert_eq!(rt.engine().resource::<FrameCount>().unwrap().0, 5);
    assert!(rt
        .report()
        .jobs
        .iter()
        .any(|j| j.name == "game.count" && j.runs == 5));
}

#[test]
fn scenarios_built_in_code_are_checked_too() {
    let bad = |edit: &dyn Fn(&mut Scenario)| {
        let mut s = scenario(1);
        edit(&mut s);
        match Runtime::new(s) {
            Err(e) => {
                assert_eq!(e.exit_code(), 2, "{e}");
                e.to_string()
            }
            Ok(_) => panic!("the scenario should be rejected"),
        }
    };
    assert!(bad(&|s| s.world.size = [60, 64, 64]).contains("multiple"));
    assert!(bad(&|s| s.run.dt = 0.0).contains("dt"));
    assert!(bad(&|s| s.fills[0].material = 200).contains("material id 200"));
    assert!(bad(&|s| s.fills[0].temperature = Some(f32::NAN)).contains("temperature"));
    assert!(bad(&|s| s.fills.push(Fill {
        shape: Shape::NoiseTerrain {
            height: [0, 10],
            scale: 0.0,
            surface: None
        },
        material: 1,
        temperature: None,
    }))
    .contains("scale"));
    assert!(bad(&|s| s.fills.push(Fill {
        shape: Shape::Sphere {
            center: [1.0, 1.0, f64::INFINITY],
            radius: 2.0
        },
        material: 1,
        temperature: None,
    }))
    .contains("sphere"));
}

#[test]
fn scheduled_commands_of_one_frame_apply_in_the_order_given() {
    let mut s = scenario(1);
    let place = |material: u8| loam::ScheduledCommand {
        frame: 2,
        command: Command::Place(Fill {
            shape: Shape::Box {
                min: [10, 10, 10],
                max: [12, 12, 12],
            },
            material,
            temperature: None,
        }),
    };
    s.systems.ca = false;
    s.commands = vec![place(2), place(4)];
    let mut rt = Runtime::new(s).unwrap();
    rt.run(3).unwrap();
    assert_eq!(
        rt.world().material([10, 10, 10]),
        Some(4),
        "the later command wins"
    );
}
