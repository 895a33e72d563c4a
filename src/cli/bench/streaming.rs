//! Workloads of a whole streamed engine, and the world the file workloads
//! of [`loam_bench::storage`] read.
//!
//! - `stream`: an observer flying at 14 cells a frame across a 2048 × 256 ×
//!   2048 world whose every page along the way is in the file, 2048 pages
//!   resident; frame time p95 per backend, with a warm page cache and (where
//!   the kernel drops a file's cached pages on request) a cold one.
//! - `save_hitch`: the same run from a copy of its file, saving every 5
//!   frames or only at the end: the p95 of whole steps, saves included. A
//!   save copies the changed pages and the run's state, and the I/O thread
//!   writes and commits them while the frames go on.
//!
//! The mixed world is 256 × 128 × 256 cells in pages of 32: noise terrain
//! of stone under sand, a lake, and 300 spheres of sand, gravel, water, oil
//! and lava at varied temperatures, run for 30 frames with heat and
//! reactions so that water meets lava and temperatures spread.

use std::path::Path;

use loam_bench::storage::{backends, drop_cached, file_measurements, scratch_dir};
use loam_bench::Measurement;
use loam_runtime::random::hash3;
use loam_storage::file::{PageBuf, SaveOptions, WorldFile};
use loam_storage::io::IoKind;
use loam_storage::stream::{wanted_pages, PageSource, Viewpoint};
use loam_storage::VoxelWorld;
use loam_systems::materials::id;

use crate::scenario::{ObserverSpec, SavePolicy, StorageSpec};
use crate::streaming::ScenarioPages;
use crate::{Emitter, Fill, Runtime, Scenario, Shape};

/// Frames of the streaming run.
pub const STREAM_FRAMES: u64 = 180;

/// The mixed world's scenario.
pub fn mixed_scenario() -> Scenario {
    let mut s = Scenario::empty("mixed", [256, 128, 256]);
    s.world.seed = 3;
    s.run.threads = 2;
    s.fills.push(Fill {
        shape: Shape::NoiseTerrain {
            height: [30, 90],
            scale: 40.0,
            surface: Some((id::SAND, 4)),
        },
        material: id::STONE,
        temperature: None,
    });
    s.fills.push(Fill {
        shape: Shape::Box {
            min: [20, 60, 150],
            max: [120, 80, 240],
        },
        material: id::WATER,
        temperature: None,
    });
    let materials = [id::SAND, id::GRAVEL, id::WATER, id::OIL, id::LAVA];
    for k in 0..300u64 {
        let h = |i: u64| hash3(7, k, i);
        s.fills.push(Fill {
            shape: Shape::Sphere {
                center: [
                    (h(0) % 256) as f64,
                    (40 + h(1) % 80) as f64,
                    (h(2) % 256) as f64,
                ],
                radius: 2.0 + (h(3) % 60) as f64 / 10.0,
            },
            material: materials[(h(4) % 5) as usize],
            temperature: Some(280.0 + (h(5) % 400) as f32),
        });
    }
    s
}

/// The mixed world after 30 frames.
pub fn mixed_world() -> VoxelWorld {
    let mut rt = Runtime::new(mixed_scenario()).expect("the mixed scenario is valid");
    rt.run(30).expect("the mixed scenario runs");
    let world = rt.world().clone();
    world
}

/// The streaming scenario: a 2048 × 256 × 2048 world of stone terrain,
/// 2048 pages resident, an observer flying diagonally at 14 cells
/// a frame with a 128-cell radius, sand poured near its path.
pub fn stream_scenario(file: &Path, io: IoKind) -> Scenario {
    let mut s = Scenario::empty("stream-bench", [2048, 256, 2048]);
    s.world.seed = 3;
    s.world.storage = Some(StorageSpec {
        resident_pages: Some(2048),
        io,
        // Never committed (the runs end without `finish`), but streamed
        // from this file itself: `never` would stream from a temporary
        // copy, which is not the file measured.
        save: SavePolicy::OnExit,
        load_per_frame: 512,
        lookahead: 0.5,
        ..StorageSpec::new(file)
    });
    s.run.threads = 2;
    s.systems.heat = false;
    // Stone only: loaded terrain is at rest, so the frame measures streaming
    // (and the one automaton pass every new page gets), not avalanches.
    s.fills.push(Fill {
        shape: Shape::NoiseTerrain {
            height: [40, 160],
            scale: 60.0,
            surface: None,
        },
        material: id::STONE,
        temperature: None,
    });
    s.observers.push(ObserverSpec {
        path: vec![
            [150.0, 120.0, 150.0, 0.0],
            [1900.0, 120.0, 1900.0, STREAM_FRAMES as f64],
        ],
        radius: 128.0,
    });
    s.emitters.push(Emitter {
        material: id::SAND,
        center: [700.0, 220.0, 700.0],
        radius: 3.0,
        frames: [30, 90],
        temperature: None,
    });
    s
}

/// Generates every page the stream scenario's observer will want and
/// writes them all to its file, so the run reads pages instead of
/// generating them.
pub fn materialize(scenario: &Scenario) {
    let storage = scenario
        .world
        .storage
        .as_ref()
        .expect("a streamed scenario");
    let layout = scenario.layout().expect("a valid layout");
    let lookahead = storage.lookahead / scenario.run.dt;
    let mut pages: Vec<usize> = (0..=scenario.run.frames.max(STREAM_FRAMES))
        .flat_map(|f| {
            let viewpoints: Vec<Viewpoint> = scenario
                .observers
                .iter()
                .map(|o| crate::streaming::viewpoint(o, f))
                .collect();
            wanted_pages(&layout, &viewpoints, lookahead)
                .into_iter()
                .map(|w| w.page)
        })
        .collect();
    pages.sort_unstable();
    pages.dedup();
    let _ = std::fs::remove_file(&storage.file);
    let mut file = WorldFile::create(&storage.file, layout, scenario.world.seed).expect("a file");
    let source = ScenarioPages::new(scenario);
    let mut world = VoxelWorld::with_capacity(layout, 256);
    let mut buf = PageBuf::new(layout.page_cells());
    for batch in pages.chunks(256) {
        for &p in batch {
            world.install(p).expect("a free slot");
            source.generate(&layout, p, &mut buf);
            buf.install(&mut world, p);
        }
        file.write_pages(&world, batch, &SaveOptions::default())
            .expect("the stream world writes");
        batch.iter().for_each(|&p| world.evict(p));
    }
    file.commit().expect("the stream world commits");
}

/// One streaming run's numbers.
#[derive(Clone, Copy, Debug)]
pub struct StreamRun {
    /// Frame time p95, ms.
    pub frame_p95_ms: f64,
    /// The `storage.stream` job's p95, ms.
    pub stream_p95_ms: f64,
    /// Frames that waited for the I/O thread.
    pub stalls: u64,
    /// Pages read from the file.
    pub pages_loaded: u64,
}

/// Runs the stream scenario (its file already materialized) with `io`.
pub fn stream_run(file: &Path, io: IoKind, cold: bool) -> StreamRun {
    if cold {
        drop_cached(file);
    }
    let mut rt = Runtime::new(stream_scenario(file, io)).expect("the stream scenario builds");
    rt.run(STREAM_FRAMES).expect("the stream scenario runs");
    let stream_p95_ms = rt
        .engine()
        .job_stats()
        .iter()
        .find(|j| j.name == "storage.stream")
        .map_or(0.0, |j| j.summary().p95_ms);
    let stats = rt.stream().expect("streamed").stats();
    StreamRun {
        frame_p95_ms: rt.engine().frame_summary().p95_ms,
        stream_p95_ms,
        stalls: stats.stalls,
        pages_loaded: stats.pages_loaded,
    }
}

/// One run of the stream scenario from a fresh copy of `file`, saving
/// every `save_every` frames (`None`: not during the run), with pread:
/// each [`Runtime::step`]'s wall time, its save included, in ms.
pub fn save_hitch_run(file: &Path, save_every: Option<u64>) -> Vec<f64> {
    let copy = file.with_extension("hitch.loam");
    std::fs::copy(file, &copy).expect("the stream world copies");
    let mut scenario = stream_scenario(&copy, IoKind::Pread);
    if let (Some(n), Some(storage)) = (save_every, scenario.world.storage.as_mut()) {
        storage.save = SavePolicy::EveryNFrames(n);
    }
    let mut rt = Runtime::new(scenario).expect("the stream scenario builds");
    let steps = (0..STREAM_FRAMES)
        .map(|_| {
            let t = std::time::Instant::now();
            rt.step().expect("the stream scenario runs");
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    drop(rt);
    let _ = std::fs::remove_file(&copy);
    steps
}

/// The 95th percentile of `ms`.
pub fn p95(ms: &[f64]) -> f64 {
    let mut sorted = ms.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() * 95 / 100).copied().unwrap_or(0.0)
}

/// The `storage` group for `loam bench`: the world-file measurements of
/// the mixed world ([`loam_bench::storage::file_measurements`]), then the
/// streaming run per backend.
pub fn measurements() -> Vec<Measurement> {
    let Some(dir) = scratch_dir() else {
        return Vec::new();
    };
    let mut out = file_measurements(&mixed_world(), &dir);
    let stream_file = dir.join("stream.loam");
    materialize(&stream_scenario(&stream_file, IoKind::Pread));
    for (name, kind) in backends(&stream_file) {
        stream_run(&stream_file, kind, false); // warm the page cache
        let warm = stream_run(&stream_file, kind, false);
        out.push(Measurement {
            name: format!("storage.stream.frame_ms_p95.{name}"),
            value: warm.frame_p95_ms,
            unit: "ms",
        });
        if drop_cached(&stream_file) {
            let cold = stream_run(&stream_file, kind, true);
            out.push(Measurement {
                name: format!("storage.stream.frame_ms_p95.{name}.cold"),
                value: cold.frame_p95_ms,
                unit: "ms",
            });
        }
    }
    for (name, every) in [("none", None), ("every5", Some(5))] {
        save_hitch_run(&stream_file, every); // warm the page cache
        out.push(Measurement {
            name: format!("storage.save_hitch.step_ms_p95.{name}"),
            value: p95(&save_hitch_run(&stream_file, every)),
            unit: "ms",
        });
    }
    let _ = std::fs::remove_dir_all(&dir);
    out
}
