//! The zones a profile shows exist: each named zone is opened while a
//! world with every system, a streamed world saving often and a generated
//! world run (recorded with `profiling::record_zones`, which works with or
//! without the `tracy` feature).

use std::path::PathBuf;

use loam::loam_runtime::profiling::{record_zones, recorded_zones};
use loam::loam_systems::xpbd::{materials, SoftBox};
use loam::{Command, ExplosionSpec, Runtime, SavePolicy, Scenario};

fn shipped(name: &str) -> Scenario {
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "scenarios",
        &format!("{name}.toml"),
    ]
    .iter()
    .collect();
    Scenario::load(&path).expect("a shipped scenario")
}

#[test]
fn every_zone_a_profile_should_show_is_opened() {
    record_zones();

    // Sand, water, lava and fire (the automaton, levelling, the phase
    // pass), with a blast (the fields) and a jelly (the soft bodies).
    let mut rt = Runtime::new(shipped("sandbox")).unwrap();
    let sender = rt.command_sender();
    let jelly = SoftBox::new("jelly", [20.0, 30.0, 20.0], [3, 3, 3], materials()[0]);
    sender.send(Command::SpawnBody(Box::new(jelly))).unwrap();
    let blast = ExplosionSpec {
        center: [64.0, 20.0, 64.0],
        radius: 6.0,
        strength: 1.0e5,
        heat: 600.0,
    };
    sender.send(Command::Explode(blast)).unwrap();
    rt.run(40).unwrap();

    // A streamed world around a moving observer, 64 pages resident, saving
    // every 3 frames: reads, generation, evictions, saves, commits.
    let dir = std::env::temp_dir().join(format!("loam-profiling-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut streaming = shipped("streaming");
    let storage = streaming.world.storage.as_mut().unwrap();
    storage.file = dir.join("world.loam");
    storage.resident_pages = Some(600);
    storage.save = SavePolicy::EveryNFrames(3);
    let mut rt = Runtime::new(streaming).unwrap();
    rt.run(12).unwrap();
    rt.finish().unwrap();
    drop(rt);
    let _ = std::fs::remove_dir_all(&dir);

    let zones = recorded_zones();
    let expected = [
        // Jobs.
        "commands",
        "ca.step",
        "phase.metropolis",
        "fields.step",
        "softbody.step",
        "storage.stream",
        // Inside them.
        "worldgen",
        "ca.checkerboard_phase",
        "ca.level",
        "phase.half_sweep",
        "fields.substep",
        "softbody.substep",
        "softbody.constraints",
        "softbody.contacts",
        "softbody.collide",
        "softbody.velocities",
        // The I/O thread and saves.
        "io.batch",
        "io.read_decode",
        "io.generate",
        "storage.evict",
        "storage.save",
        "storage.copy_pages",
        "io.write",
        "storage.write_pages",
        "storage.commit",
    ];
    let missing: Vec<&str> = expected
        .iter()
        .copied()
        .filter(|z| !zones.iter().any(|r| r == z))
        .collect();
    assert!(
        missing.is_empty(),
        "zones never opened: {missing:?} (opened: {zones:?})"
    );
}
