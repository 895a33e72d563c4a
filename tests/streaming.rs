//! A world far larger than its resident budget, streamed around a moving
//! observer: memory stays bounded, changed pages survive eviction and a
//! save, and the run is the same on 1 thread and 2.

use std::path::{Path, PathBuf};

use loam::loam_storage::file::WorldFile;
use loam::loam_storage::io::IoKind;
use loam::loam_storage::VoxelWorld;
use loam::{Emitter, Fill, ObserverSpec, Runtime, SavePolicy, Scenario, Shape, StorageSpec};

const BUDGET: usize = 400;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("loam-streaming-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// 1024 x 64 x 1024 cells in pages of 16: 16384 pages, 400 resident. An
/// observer flies from a corner to the middle and back, and stops; sand
/// pours at both ends while it is there, so the pages it leaves behind hold
/// changes that must be written back and read again.
fn scenario(file: &Path, threads: usize, io: IoKind) -> Scenario {
    let mut s = Scenario::empty("streaming-test", [1024, 64, 1024]);
    s.world.page = 16;
    s.world.seed = 5;
    s.world.storage = Some(StorageSpec {
        resident_pages: Some(BUDGET),
        io,
        save: SavePolicy::OnExit,
        load_per_frame: 64,
        lookahead: 0.25,
        ..StorageSpec::new(file)
    });
    s.run.threads = threads;
    s.systems.heat = false;
    s.fills.push(Fill {
        shape: Shape::NoiseTerrain {
            height: [8, 30],
            scale: 64.0,
            surface: Some((2, 2)),
        },
        material: 1,
        temperature: None,
    });
    s.observers.push(ObserverSpec {
        path: vec![
            [60.0, 40.0, 60.0, 0.0],
            [500.0, 40.0, 500.0, 50.0],
            [90.0, 40.0, 90.0, 100.0],
        ],
        radius: 40.0,
    });
    for (centre, frames) in [
        ([90.0, 60.0, 90.0], [2, 20]),
        ([500.0, 60.0, 500.0], [45, 60]),
    ] {
        s.emitters.push(Emitter {
            material: 2,
            center: centre,
            radius: 2.0,
            frames,
            temperature: None,
        });
    }
    s
}

/// Runs 140 frames, checking the budget after each, and saves.
fn run(file: &Path, threads: usize, io: IoKind) -> Runtime {
    let mut rt = Runtime::new(scenario(file, threads, io)).unwrap();
    for _ in 0..140 {
        rt.step().unwrap();
        let world = rt.world();
        assert!(world.resident_count() <= BUDGET);
        assert_eq!(world.check_consistency(), Ok(()));
    }
    rt.finish().unwrap().expect("a streamed world saves");
    rt
}

fn page_hashes(world: &VoxelWorld) -> Vec<(usize, u64)> {
    world
        .resident_pages()
        .into_iter()
        .map(|p| {
            use std::hash::{Hash, Hasher};
            let v = world.page(p).unwrap();
            let mut h = std::collections::hash_map::DefaultHasher::new();
            v.material.hash(&mut h);
            v.temperature.iter().for_each(|t| t.to_bits().hash(&mut h));
            (p, h.finish())
        })
        .collect()
}

#[test]
fn a_world_sixty_times_its_budget_streams_deterministically_and_survives_a_save() {
    let dir = temp_dir("main");
    let one = run(&dir.join("t1.loam"), 1, IoKind::Pread);
    let two = run(&dir.join("t2.loam"), 2, IoKind::Auto);
    assert_eq!(one.world_hash(), two.world_hash(), "1 thread and 2 agree");
    let (a, b) = (one.stream().unwrap().stats(), two.stream().unwrap().stats());
    assert_eq!(
        (a.pages_generated, a.pages_evicted, a.pages_written),
        (b.pages_generated, b.pages_evicted, b.pages_written)
    );
    assert!(
        a.pages_evicted > 100,
        "the observer left pages behind: {a:?}"
    );
    assert!(
        a.pages_written > 0,
        "changed pages were written back: {a:?}"
    );
    assert!(
        a.pages_written < a.pages_evicted,
        "only changed pages are written: {a:?}"
    );
    assert!(
        a.pages_loaded > 0,
        "evicted changed pages came back from the file: {a:?}"
    );

    // Reopen the saved world with a resting observer at the end point: every
    // page resident in both is the same, including the sand poured there. The
    // first run ends first: its world file has one writer at a time.
    let before = page_hashes(&one.world());
    drop(one);
    let mut s = scenario(&dir.join("t1.loam"), 1, IoKind::Mmap);
    s.observers[0].path = vec![[90.0, 40.0, 90.0, 0.0]];
    s.emitters.clear();
    let reopened = Runtime::new(s).unwrap();
    let after = page_hashes(&reopened.world());
    let common: Vec<_> = after.iter().filter(|p| before.contains(p)).collect();
    let mismatched: Vec<_> = after
        .iter()
        .filter(|(p, h)| before.iter().any(|(q, g)| p == q && h != g))
        .collect();
    assert!(
        mismatched.is_empty(),
        "pages differ after reopening: {mismatched:?}"
    );
    assert!(common.len() > 100, "{} pages compared", common.len());
    let sand = |w: &VoxelWorld| w.material_counts()[2];
    assert!(reopened.stream().unwrap().stats().pages_loaded > 0);
    assert!(sand(&reopened.world()) > 0);
    drop((two, reopened));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Two runs that differ only where the observer passed at frame 50 (sand
/// poured there, a wider stream of it in one) end with the same resident
/// pages, the observer
/// being far away by then, yet hash apart: a streamed world's hash covers
/// the pages it wrote back.
#[test]
fn the_world_hash_covers_the_pages_written_back() {
    let dir = temp_dir("hash");
    let sand = run(&dir.join("sand.loam"), 2, IoKind::Pread);
    let mut s = scenario(&dir.join("more.loam"), 1, IoKind::Pread);
    s.emitters[1].radius = 3.0;
    let mut more = Runtime::new(s).unwrap();
    more.run(140).unwrap();
    more.finish().unwrap();
    assert_eq!(
        sand.world().hash(),
        more.world().hash(),
        "the resident pages are the same"
    );
    assert!(sand.stream().unwrap().stats().pages_written > 0);
    assert_ne!(sand.world_hash(), more.world_hash());
    assert_eq!(
        sand.world_hash(),
        sand.world_hash(),
        "hashing changes nothing"
    );
    drop((sand, more));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn frames_zero_opens_and_reports_without_stepping() {
    let dir = temp_dir("zero");
    let mut s = scenario(&dir.join("w.loam"), 1, IoKind::Pread);
    s.run.frames = 0;
    let rt = Runtime::new(s).unwrap();
    let report = rt.report();
    let storage = report.storage.expect("streamed worlds report storage");
    assert_eq!(report.frames, 0);
    assert!(storage.pages_generated > 0 && storage.resident_pages as usize <= BUDGET);
    assert_eq!(storage.io_backend, "pread");
    drop(rt);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Also the README's snippet, as it is written there: `?` on a borrow of
/// the actors, through the `hecs` Loam re-exports.
#[test]
fn an_observer_spawned_by_the_game_pulls_its_pages_in() -> Result<(), Box<dyn std::error::Error>> {
    use loam::streaming::{Observer, Position, Velocity};
    let dir = temp_dir("spawned");
    let mut rt = Runtime::new(scenario(&dir.join("w.loam"), 2, IoKind::Pread))?;
    let far = [900u32, 3, 900];
    assert_eq!(rt.world().material(far), None, "not resident yet");
    rt.engine()
        .resources()
        .try_write::<loam::hecs::World>()?
        .spawn((
            Observer { radius: 20.0 },
            Position(far.map(f64::from)),
            Velocity([0.0; 3]),
        ));
    rt.run(2).unwrap();
    assert_eq!(
        rt.world().material(far),
        Some(1),
        "stone under the terrain surface"
    );
    drop(rt);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// A lake 96 cells deep (24 m), streamed around a diver at its bottom who
/// sees 12 cells around her, where a heater holds the water at 300 K and
/// then, from frame 20, at 395 K. The
/// phase pass weighs the water above each cell, and its columns reach the
/// absent pages over what she sees: it asks for them, and streaming loads
/// them, a layer every frame or two, up to the first page of air over the
/// surface (the column cannot know it is air before it is loaded) and no
/// further.
/// With the whole column the heated water is under 3.2 atm, where water
/// boils at about 408 K, so it stays liquid; the 6 m of water the diver sees
/// alone would let it boil (1.6 atm: about 387 K).
#[test]
fn the_phase_pass_pulls_in_the_pages_above_its_columns() {
    use loam::loam_systems::materials::id;
    let dir = temp_dir("lake");
    let mut s = Scenario::empty("lake", [64, 128, 64]);
    s.world.page = 16;
    s.world.storage = Some(StorageSpec {
        resident_pages: Some(64),
        io: IoKind::Pread,
        load_per_frame: 64,
        lookahead: 0.0,
        ..StorageSpec::new(dir.join("lake.loam"))
    });
    s.fills.push(Fill {
        shape: Shape::Box {
            min: [0, 0, 0],
            max: [64, 96, 64],
        },
        material: id::WATER,
        temperature: None,
    });
    // Lukewarm first (the bath wakes its pages, so the phase pass visits
    // them and its columns reach up), then hot.
    for (temperature, frames) in [(300.0, [0, 20]), (395.0, [20, 40])] {
        s.commands.push(loam::ScheduledCommand {
            frame: frames[0],
            command: loam::Command::Heat(loam::HeatBathSpec {
                min: [28, 4, 28],
                max: [36, 8, 36],
                temperature,
                frames,
            }),
        });
    }
    s.observers.push(ObserverSpec {
        path: vec![[32.0, 8.0, 32.0, 0.0]],
        radius: 12.0,
    });
    let mut rt = Runtime::new(s).unwrap();
    let layout = *rt.world().layout();
    // The diver sees pages x, z in 1..3 and y in 0..2; the water above
    // them fills y pages 2..6, and air page 6 over it.
    let above: Vec<usize> = (0..layout.page_count())
        .filter(|&p| {
            let c = layout.page_coord(p);
            (1..3).contains(&c[0]) && (1..3).contains(&c[2]) && (2..=6).contains(&c[1])
        })
        .collect();
    assert!(above
        .iter()
        .all(|&p| rt.world().table().resident_slot(p).is_none()));
    for _ in 0..40 {
        rt.step().unwrap();
    }
    let world = rt.world();
    let missing: Vec<usize> = above
        .iter()
        .copied()
        .filter(|&p| world.table().resident_slot(p).is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "pages still absent over the diver: {missing:?}"
    );
    let sky = (0..layout.page_count())
        .filter(|&p| layout.page_coord(p)[1] >= 7 && world.table().resident_slot(p).is_some())
        .count();
    assert_eq!(
        sky, 0,
        "the air over the first page of air is not asked for"
    );
    let steam = world.material_counts()[id::STEAM as usize];
    assert_eq!(
        steam, 0,
        "the heated water is under the whole lake and does not boil"
    );
    drop(world);
    let asked = rt.stream().unwrap().stats().pages_asked;
    assert_eq!(
        asked,
        above.len() as u64,
        "each page over the diver asked for once"
    );
    drop(rt);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Runs 140 frames saving every `every` frames (the I/O thread writes and
/// commits while the frames go on), then finishes.
fn run_saving(file: &Path, threads: usize, every: u64) -> Runtime {
    let mut s = scenario(file, threads, IoKind::Pread);
    if let Some(storage) = s.world.storage.as_mut() {
        storage.save = SavePolicy::EveryNFrames(every);
    }
    let mut rt = Runtime::new(s).unwrap();
    rt.run(140).unwrap();
    rt.finish().unwrap().expect("a streamed world saves");
    rt
}

/// Saves every few frames run off the frame, on the I/O thread: the world
/// is the one a run without them makes, the file commits every save and
/// verifies, and its bytes are the same on 1 thread and 2 — what is written
/// where never depends on when the disk finished.
#[test]
fn saves_in_the_background_change_nothing_but_the_file() {
    let dir = temp_dir("background");
    let plain = run(&dir.join("plain.loam"), 2, IoKind::Pread);
    for every in [1, 3] {
        let one = run_saving(&dir.join(format!("every{every}-t1.loam")), 1, every);
        let two = run_saving(&dir.join(format!("every{every}-t2.loam")), 2, every);
        for rt in [&one, &two] {
            assert_eq!(rt.world_hash(), plain.world_hash(), "saving every {every}");
        }
        let (a, b) = (
            one.stream().unwrap().stats(),
            plain.stream().unwrap().stats(),
        );
        assert_eq!(
            (a.pages_generated, a.pages_evicted, a.pages_loaded),
            (b.pages_generated, b.pages_evicted, b.pages_loaded),
            "saving every {every} moves the same pages"
        );
        drop((one, two));
        let path = |t: usize| dir.join(format!("every{every}-t{t}.loam"));
        let file = WorldFile::open_read_only(&path(1)).unwrap();
        assert_eq!(file.verify().len(), 0, "saving every {every}");
        assert!(
            file.header().sequence > 140 / every,
            "a commit a save: {}",
            file.header().sequence
        );
        let state =
            loam::loam_runtime::state::SavedState::decode(&file.state().unwrap().unwrap()).unwrap();
        assert_eq!(state.frame, 140, "the last commit holds the run's end");
        drop(file);
        assert!(
            std::fs::read(path(1)).unwrap() == std::fs::read(path(2)).unwrap(),
            "saving every {every}: the files of 1 thread and 2 differ"
        );
    }
    drop(plain);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Reads and then writes failing on purpose part way through a run that
/// saves every 3 frames: the frame that meets the failure returns an error
/// naming the file, and the file, reopened, verifies and holds a commit the
/// run made, with the run's state of a frame it saved at.
#[test]
fn a_failing_disk_stops_the_run_with_the_file_at_a_commit() {
    use loam::loam_storage::file::Faults;
    let dir = temp_dir("faults");
    for (k, (reads, writes)) in [(0.3, 0.0), (0.0, 0.2)].into_iter().enumerate() {
        let path = dir.join(format!("faults-{k}.loam"));
        let mut s = scenario(&path, 2, IoKind::Pread);
        if let Some(storage) = s.world.storage.as_mut() {
            storage.save = SavePolicy::EveryNFrames(3);
        }
        let mut rt = Runtime::new(s).unwrap();
        rt.run(20).unwrap();
        let seed = k as u64;
        rt.inject_io_faults(Some(Faults {
            seed,
            reads,
            writes,
        }))
        .unwrap();
        let failed = (20..140).find_map(|_| rt.step().err());
        let err = failed.expect("a fault stopped the run").to_string();
        assert!(
            err.contains("injected fault") && err.contains(&format!("faults-{k}.loam")),
            "{err}"
        );
        let stopped_at = rt.frame();
        drop(rt);
        let file = WorldFile::open_read_only(&path).unwrap();
        assert!(file.verify().is_empty(), "{:?}", file.verify());
        let state = file
            .state()
            .unwrap()
            .expect("the saves recorded the run's state");
        let frame = loam::loam_runtime::state::SavedState::decode(&state)
            .unwrap()
            .frame;
        assert!(
            frame % 3 == 0 && frame >= 18 && frame <= stopped_at,
            "the file holds frame {frame}; the run stopped at {stopped_at}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A world that saves every 5 frames keeps its last two commits; a
/// scenario with `[world] commit = K` runs from either, read-only: its
/// pages are the ones commit K holds (which differ between the two), the
/// run steps on from them, and the world file is left byte for byte as it
/// was. A commit the file does not keep is an error naming the ones it
/// does.
#[test]
fn a_kept_commit_runs_read_only_from_a_scenario() {
    let dir = temp_dir("commit");
    let path = dir.join("world.loam");
    let kept_scenario = |save: SavePolicy, commit: Option<u64>| {
        let mut s = Scenario::empty("commit-test", [64, 48, 64]);
        s.world.page = 16;
        s.world.storage = Some(StorageSpec {
            save,
            commit,
            ..StorageSpec::new(&path)
        });
        s.fills.push(Fill {
            shape: Shape::Box {
                min: [0, 0, 0],
                max: [64, 4, 64],
            },
            material: 1,
            temperature: None,
        });
        s.emitters.push(Emitter {
            material: 2,
            center: [20.0, 40.0, 30.0],
            radius: 3.0,
            frames: [0, 40],
            temperature: None,
        });
        s
    };
    let mut rt = Runtime::new(kept_scenario(SavePolicy::EveryNFrames(5), None)).unwrap();
    rt.run(23).unwrap();
    rt.finish().unwrap();
    drop(rt);
    let before = std::fs::read(&path).unwrap();
    let newest = WorldFile::open_read_only(&path).unwrap();
    let mut commits = vec![newest.header().sequence];
    commits.extend(newest.kept_commits().iter().map(|k| k.sequence));
    assert_eq!(commits.len(), 2, "{commits:?}");
    drop(newest);

    let mut seen = Vec::new();
    for &k in &commits {
        let stored = {
            let file = WorldFile::open_commit(&path, k).unwrap();
            let layout = file.layout();
            let mut w = VoxelWorld::new(layout, 0, 293.15);
            let held: Vec<usize> = (0..layout.page_count())
                .filter(|&p| file.load_page(&mut w, p).unwrap())
                .collect();
            assert!(
                !held.is_empty(),
                "commit {k} holds the pages the sand changed"
            );
            let mut pages = page_hashes(&w);
            pages.retain(|(p, _)| held.contains(p));
            pages
        };
        let mut rt = Runtime::new(kept_scenario(SavePolicy::Never, Some(k))).unwrap();
        let mut loaded = page_hashes(&rt.world());
        loaded.retain(|page| stored.iter().any(|s| s.0 == page.0));
        assert_eq!(loaded, stored, "commit {k}'s pages");
        assert!(
            rt.notes()
                .iter()
                .any(|n| n.contains(&format!("at commit {k}"))),
            "{:?}",
            rt.notes()
        );
        rt.run(12).unwrap();
        assert_eq!(rt.world().check_consistency(), Ok(()));
        assert!(rt.save().is_err(), "a run from a commit never saves");
        rt.finish().unwrap();
        drop(rt);
        assert!(
            std::fs::read(&path).unwrap() == before,
            "commit {k}: the file changed"
        );
        seen.push(stored);
    }
    assert_ne!(seen[0], seen[1], "the two commits hold different worlds");

    let Err(error) = Runtime::new(kept_scenario(SavePolicy::Never, Some(99))) else {
        panic!("commit 99 is not kept");
    };
    let error = error.to_string();
    let there = format!(
        "holds no commit 99: it keeps commits {}, {}",
        commits[0], commits[1]
    );
    assert!(error.contains(&there), "{error}");
    std::fs::remove_dir_all(&dir).unwrap();
}
