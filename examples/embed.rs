//! A small game loop embedding Loam: the simulation steps at a fixed 60 Hz
//! while an "input" thread drops sand and lava into the world.
//!
//! Run with `cargo run --release --example embed`.

use std::time::{Duration, Instant};

use loam::loam_systems::materials::id;
use loam::{Command, Fill, Runtime, Scenario, Shape};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut scenario = Scenario::empty("embed", [128, 64, 128]);
    scenario.fills.push(Fill {
        shape: Shape::Box {
            min: [0, 0, 0],
            max: [128, 4, 128],
        },
        material: id::STONE,
        temperature: None,
    });
    let mut runtime = Runtime::new(scenario)?;
    let (sand, lava) = {
        let m = runtime.materials();
        (
            m.id("sand").ok_or("no sand")?,
            m.id("lava").ok_or("no lava")?,
        )
    };

    // Any thread may hold a sender; commands apply at the start of the next frame.
    let sender = runtime.command_sender();
    let input = std::thread::spawn(move || {
        for i in 0..6u32 {
            std::thread::sleep(Duration::from_millis(100));
            let material = if i % 3 == 2 { lava } else { sand };
            let center = [20.0 + 16.0 * f64::from(i), 50.0, 64.0];
            let shape = Shape::Sphere {
                center,
                radius: 5.0,
            };
            if sender
                .send(Command::Place(Fill {
                    shape,
                    material,
                    temperature: None,
                }))
                .is_err()
            {
                return; // the game has shut down
            }
        }
    });

    let frame = Duration::from_secs_f64(1.0 / 60.0);
    let mut next = Instant::now();
    for _ in 0..90 {
        runtime.step()?;
        next += frame;
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    input.join().map_err(|_| "input thread panicked")?;

    let report = runtime.report();
    println!(
        "after {} frames: world hash {}",
        report.frames, report.world_hash
    );
    for (name, m) in &report.materials {
        println!("  {name:<8} {:>8} cells, lowest y {}", m.count, m.min_y);
    }
    Ok(())
}
