//! A small game loop embedding Loam. The simulation steps at a fixed
//! 60 Hz while:
//!
//! - an input thread drops sand and lava into the world through checked
//!   commands (one of them is refused: it names a material the world does
//!   not have), then starts a breeze and calls it off by its handle;
//! - a render thread reads a snapshot of the world while the next frame
//!   steps, redrawing only what the change feed says changed (two
//!   snapshots, swapped, make a double buffer);
//! - the game asks the world how much sand lies on the floor;
//! - at the end the game saves its whole state, plays on, and a second
//!   runtime loads the save and plays the same frames to the same world;
//! - last, a world too large to hold streams around a camera the game
//!   spawns as an observer and flies across it.
//!
//! Run with `cargo run --release --example embed`; add `--without-input`
//! to step with no commands, for comparing step times.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use loam::loam_systems::materials::id;
use loam::scenario::{SavePolicy, StorageSpec};
use loam::{CellPos, Command, Fill, Runtime, Scenario, SendError, Shape, WindSpec, WorldSnapshot};

const FRAMES: usize = 90;

fn scenario() -> Scenario {
    let mut scenario = Scenario::empty("embed", [128, 64, 128]);
    scenario.fills.push(Fill {
        shape: Shape::Box {
            min: [0, 0, 0],
            max: [128, 4, 128],
        },
        material: id::STONE,
        temperature: None,
    });
    scenario
}

/// p50, p95 and max of `times`, in ms.
fn percentiles(times: &mut [Duration]) -> [f64; 3] {
    times.sort();
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    [at(0.5), at(0.95), at(1.0)].map(|t| t.as_secs_f64() * 1e3)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let with_input = !std::env::args().any(|a| a == "--without-input");
    let mut runtime = Runtime::new(scenario())?;
    let (sand, lava) = {
        let m = runtime.materials();
        (
            m.id("sand").ok_or("no sand")?,
            m.id("lava").ok_or("no lava")?,
        )
    };

    // Any thread may hold a sender; commands apply at the start of the
    // next frame, and each is checked as it is sent.
    let sender = runtime.command_sender();
    let input = with_input.then(|| {
        std::thread::spawn(move || -> Result<u32, String> {
            let mut refused = 0;
            for i in 0..7u32 {
                std::thread::sleep(Duration::from_millis(100));
                let material = match i {
                    6 => 250, // not in the material table
                    _ if i % 3 == 2 => lava,
                    _ => sand,
                };
                let center = [20.0 + 16.0 * f64::from(i), 50.0, 64.0];
                let shape = Shape::Sphere {
                    center,
                    radius: 5.0,
                };
                let place = Command::Place(Fill {
                    shape,
                    material,
                    temperature: None,
                });
                match sender.send(place) {
                    Ok(_) => {}
                    Err(SendError::Invalid { message, .. }) => {
                        println!("input: refused: {message}");
                        refused += 1;
                    }
                    Err(SendError::Disconnected) => return Ok(refused), // the game is over
                    Err(e) => return Err(e.to_string()),
                }
            }
            // A breeze over the heaps for its first 600 frames (frames
            // count from the one it applies in), called off by its handle
            // a fifth of a second later.
            let breeze = sender
                .send(Command::Wind(WindSpec {
                    min: [0, 4, 0],
                    max: [128, 40, 128],
                    direction: [1.0, 0.0, 0.0],
                    strength: 4.0,
                    gust: 0.3,
                    frames: [0, 600],
                }))
                .map_err(|e| e.to_string())?;
            std::thread::sleep(Duration::from_millis(200));
            sender.cancel(breeze).map_err(|e| e.to_string())?;
            Ok(refused)
        })
    });

    // The render thread: it reads a snapshot while the next frame steps,
    // redraws the boxes the feed names, and hands the snapshot back.
    let (to_render, rendered_in) = mpsc::channel::<WorldSnapshot>();
    let (to_game, back) = mpsc::channel::<WorldSnapshot>();
    let render = std::thread::spawn(move || {
        let mut redrawn = 0u64;
        for snapshot in rendered_in {
            for change in snapshot.changes() {
                // A real renderer remeshes this box; here, count its cells.
                redrawn += (0..3)
                    .map(|a| u64::from(change.max.0[a] - change.min.0[a]))
                    .product::<u64>();
            }
            if to_game.send(snapshot).is_err() {
                break;
            }
        }
        redrawn
    });
    let mut spare = vec![WorldSnapshot::default(), WorldSnapshot::default()];

    let frame = Duration::from_secs_f64(1.0 / 60.0);
    let mut next = Instant::now();
    let mut steps = Vec::with_capacity(FRAMES);
    for _ in 0..FRAMES {
        let start = Instant::now();
        runtime.step()?;
        steps.push(start.elapsed());
        spare.extend(back.try_iter());
        // A buffer the renderer is done with, brought up to this frame;
        // each lists the changes since it was last brought up, so a
        // renderer fed by both redraws everything that changed.
        if let Some(mut snapshot) = spare.pop() {
            runtime.snapshot_into(&mut snapshot);
            to_render.send(snapshot)?;
        }
        next += frame;
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    drop(to_render);
    let redrawn = render.join().map_err(|_| "render thread panicked")?;
    let refused = match input {
        Some(input) => input.join().map_err(|_| "input thread panicked")??,
        None => 0,
    };

    // A query a game asks: how much sand lies on the stone floor.
    let floor = runtime
        .world()
        .count_in_box(sand, CellPos([0, 4, 0]), CellPos([128, 8, 128]));
    let [p50, p95, max] = percentiles(&mut steps);
    println!(
        "after {} frames: world hash {}",
        runtime.frame(),
        runtime.world_hash()
    );
    println!("step ms: p50 {p50:.2}  p95 {p95:.2}  max {max:.2}  (input: {with_input})");
    println!(
        "commands refused: {refused}; cells redrawn: {redrawn}; sand on the floor: {}",
        floor.cells
    );

    // The whole game state, saved and loaded: the loaded runtime plays on
    // to the same world.
    let save = std::env::temp_dir().join(format!("loam-embed-{}.loam", std::process::id()));
    runtime.save_state(&save)?;
    runtime.run(30)?;
    let mut loaded = Runtime::new(scenario())?;
    loaded.load_state(&save)?;
    loaded.run(30)?;
    std::fs::remove_file(&save)?;
    if loaded.world_hash() != runtime.world_hash() {
        return Err("the loaded game played to another world".into());
    }
    println!(
        "saved, loaded and played 30 frames more: world hash {} in both",
        loaded.world_hash()
    );
    stream_around_a_camera()
}

/// A world too large to hold, streamed around a camera the game spawns
/// and flies: the pages around it are resident wherever it goes.
fn stream_around_a_camera() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("loam-embed-stream-{}", std::process::id()));
    let mut scenario = Scenario::empty("camera", [512, 64, 512]);
    scenario.world.page = 16;
    scenario.world.storage = Some(StorageSpec {
        resident_pages: Some(96),
        save: SavePolicy::Never,
        observers_from_code: true,
        ..StorageSpec::new(dir.join("camera.loam"))
    });
    let mut runtime = Runtime::new(scenario)?;
    let mut at = [20.0, 30.0, 20.0];
    let camera = runtime.spawn_observer(at, 24.0)?;
    for _ in 0..60 {
        let velocity = [7.0, 0.0, 7.0]; // cells a frame, along the diagonal
        at = [at[0] + velocity[0], at[1], at[2] + velocity[2]];
        runtime.move_observer(camera, at, velocity)?;
        runtime.step()?;
    }
    runtime.step()?; // the pages around its last position
    let resident = runtime.world().material(at.map(|v| v as u32)).is_some();
    println!(
        "camera flown to {at:?}: {} of {} pages resident, its own {}",
        runtime.world().resident_count(),
        runtime.world().layout().page_count(),
        if resident { "among them" } else { "missing" }
    );
    runtime.remove_observer(camera)?;
    drop(runtime);
    let _ = std::fs::remove_dir_all(&dir);
    if !resident {
        return Err("the camera's pages were not resident".into());
    }
    Ok(())
}
