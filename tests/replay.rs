//! Recording and replaying a run's commands: a stress run, with commands
//! arriving from several threads whenever they happen to, gives the same
//! world hash when its recording replays, on another thread count; and a
//! recording a user edited wrong is refused, naming what is wrong.

use std::path::PathBuf;
use std::time::Duration;

use loam::cli::stress::{stress, stressed_scenario, StressConfig};
use loam::{
    Command, CommandEvent, Fill, LoamError, ObserverSpec, RecordedCommand, Runtime, SavePolicy,
    Scenario, Shape, StorageSpec,
};

fn temp_file(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("loam-replay-{name}-{}.loam", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

/// A small world of sand over stone, `size` cells, in pages of 16; streamed
/// from a file when `streamed`, around an observer at its middle.
fn world(size: [u32; 3], seed: u64, streamed: bool) -> Scenario {
    let mut s = Scenario::empty("replay-test", size);
    s.world.page = 16;
    s.world.seed = seed;
    s.run.threads = 2;
    s.fills.push(Fill {
        shape: Shape::NoiseTerrain {
            height: [2, (size[1] / 3) as i64],
            scale: 24.0,
            surface: Some((2, 2)),
        },
        material: 1,
        temperature: None,
    });
    if streamed {
        s.world.storage = Some(StorageSpec {
            save: SavePolicy::OnExit,
            ..StorageSpec::new(temp_file("unused"))
        });
        let middle = size.map(|v| f64::from(v) / 2.0);
        s.observers.push(ObserverSpec {
            path: vec![[middle[0], middle[1], middle[2], 0.0]],
            radius: 20.0,
        });
    }
    s
}

/// Replays `events` into `scenario` on `threads` threads for `frames` frames.
fn replay(
    mut scenario: Scenario,
    threads: usize,
    frames: u64,
    events: Vec<RecordedCommand>,
) -> String {
    scenario.run.threads = threads;
    let mut rt = Runtime::new(scenario).unwrap();
    rt.replay_commands(events).unwrap();
    rt.run(frames).unwrap();
    rt.world_hash()
}

#[test]
fn a_stress_run_and_its_replay_give_the_same_world() {
    let cases = [
        ([48, 32, 48], 1, false, 3),
        ([32, 48, 64], 2, false, 2),
        ([64, 32, 32], 3, true, 3),
        ([48, 48, 48], 4, true, 1),
    ];
    for (size, seed, streamed, senders) in cases {
        let label = format!("{size:?} seed {seed} streamed {streamed}");
        let scenario = world(size, seed, streamed);
        let config = StressConfig {
            frames: 40,
            duration: None,
            senders,
            seed,
            per_frame: 3,
            interval: Duration::from_micros(300),
            check_every: 1,
            resident_pages: 6,
            save_every: 3,
            // Every 7 frames, the observers of a streamed world are
            // somewhere else: the replay must put them there too.
            observer_jump_every: 7,
            faults: 0.0,
            resume: false,
        };
        let file = temp_file(&format!("stress{seed}"));
        let out = stress(&scenario, &config, file.clone(), |_| {}).unwrap();
        assert_eq!(out.violation, None, "{label}");
        assert_eq!(out.frames, 40, "{label}");
        assert!(out.sent > 10, "{label}: only {} commands sent", out.sent);
        assert!(
            out.recording
                .iter()
                .any(|e| matches!(e.event, CommandEvent::Apply { .. })),
            "{label}: nothing recorded"
        );
        let _ = std::fs::remove_file(&file);

        // The recording alone, through JSON as `loam stress` writes it,
        // reproduces the world, on one thread.
        let json = serde_json::to_string(&out.recording).unwrap();
        let events: Vec<RecordedCommand> = serde_json::from_str(&json).unwrap();
        let again = temp_file(&format!("replay{seed}"));
        let replayed = stressed_scenario(&scenario, &config, again.clone());
        let hash = replay(replayed, 1, out.frames, events);
        assert_eq!(hash, out.world_hash, "{label}: the replay differs");
        let _ = std::fs::remove_file(&again);

        // Without the recording the world is another one: the commands
        // made a difference the replay had to reproduce.
        let again = temp_file(&format!("bare{seed}"));
        let mut bare = Runtime::new(stressed_scenario(&scenario, &config, again.clone())).unwrap();
        bare.run(out.frames).unwrap();
        assert_ne!(bare.world_hash(), out.world_hash, "{label}");
        drop(bare);
        let _ = std::fs::remove_file(&again);
    }
}

#[test]
fn a_recording_survives_json_and_replays_cancels_where_they_were() {
    let scenario = world([32, 32, 32], 9, false);
    let mut rt = Runtime::new(scenario.clone()).unwrap();
    rt.record_commands();
    let sender = rt.command_sender();
    let emitter = |frames: [u64; 2]| {
        Command::SpawnEmitter(loam::Emitter {
            material: 3,
            center: [16.0, 28.0, 16.0],
            radius: 2.0,
            frames,
            temperature: None,
        })
    };
    let kept = sender.send(emitter([0, 100])).unwrap();
    rt.run(3).unwrap();
    let cancelled = sender.send(emitter([0, 100])).unwrap();
    rt.run(4).unwrap();
    sender.cancel(cancelled).unwrap();
    let never = sender.send_at(20, emitter([0, 5])).unwrap();
    rt.run(2).unwrap();
    sender.cancel(never).unwrap();
    rt.run(21).unwrap();
    let events = rt.recorded_commands();
    let applied: Vec<u64> = events
        .iter()
        .filter(|e| matches!(e.event, CommandEvent::Apply { .. }))
        .map(|e| e.frame)
        .collect();
    assert_eq!(
        applied,
        [0, 3],
        "the command cancelled while it waited never applied"
    );
    assert!(events
        .iter()
        .any(|e| e.event == CommandEvent::Cancel { handle: cancelled }));
    assert!(events
        .iter()
        .all(|e| e.event != CommandEvent::Cancel { handle: kept }));

    let json = serde_json::to_string(&events).unwrap();
    let back: Vec<RecordedCommand> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, events);
    assert_eq!(replay(scenario, 1, 30, back), rt.world_hash());
}

#[test]
fn a_wrong_recording_is_refused_naming_the_event() {
    let scenario = world([32, 32, 32], 9, false);
    let place = |material: u8| CommandEvent::Apply {
        handle: None,
        command: Command::Place(Fill {
            shape: Shape::Sphere {
                center: [16.0, 16.0, 16.0],
                radius: 3.0,
            },
            material,
            temperature: None,
        }),
    };
    let at = |frame, event| RecordedCommand { frame, event };
    let cases: Vec<(Vec<RecordedCommand>, &str)> = vec![
        (
            vec![at(5, place(1)), at(2, place(1))],
            "event 1 is for frame 2, after an event for frame 5",
        ),
        (vec![at(1, place(250))], "event 0 (frame 1)"),
    ];
    for (events, expected) in cases {
        let mut rt = Runtime::new(scenario.clone()).unwrap();
        match rt.replay_commands(events) {
            Err(LoamError::Invalid(message)) => {
                assert!(message.contains(expected), "{message}")
            }
            other => panic!("{other:?}"),
        }
    }
    // An event for a frame already stepped.
    let mut rt = Runtime::new(scenario).unwrap();
    rt.run(4).unwrap();
    match rt.replay_commands(vec![at(2, place(1))]) {
        Err(LoamError::Invalid(message)) => {
            assert!(
                message.contains("before frame 4 where the replay starts"),
                "{message}"
            )
        }
        other => panic!("{other:?}"),
    }
}
