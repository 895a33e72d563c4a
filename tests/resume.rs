//! A saved run resumes exactly: N frames, save, a new runtime that loads
//! the save, M frames give the same world, and the same state of every
//! system, as N + M frames in one run. For every shipped scenario, at
//! several split points and thread counts; streamed worlds resume from
//! their own file (`[world] resume`), worlds in memory from a file
//! `save_state` wrote.

use std::path::{Path, PathBuf};

use loam::loam_runtime::state::SavedState;
use loam::scenario::SavePolicy;
use loam::{Runtime, Scenario};

fn shipped() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("the scenarios folder")
        .map(|e| e.expect("a folder entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    paths
}

/// `path`'s scenario on `threads` threads, a streamed world's file moved
/// into `dir` (none there yet).
fn scenario(path: &Path, threads: usize, dir: &Path) -> Scenario {
    let mut scenario = Scenario::load(path).expect("a shipped scenario loads");
    scenario.run.threads = threads;
    if let Some(storage) = scenario.world.storage.as_mut() {
        storage.file = dir.join("world.loam");
        // `never` (lake.toml) only reads the file: a save needs a policy
        // that writes it.
        storage.save = SavePolicy::OnExit;
    }
    scenario
}

/// A fresh folder of this test's, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("loam-resume-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The world hash and the whole state after `frames` frames.
fn finish(rt: &Runtime) -> (String, Vec<u8>) {
    let state = rt.state().expect("the state saves");
    (
        rt.world_hash(),
        state.expect("the cpu backend saves a state"),
    )
}

fn in_one_run(path: &Path, threads: usize, frames: u64) -> (String, Vec<u8>) {
    let dir = TempDir::new("one");
    let mut rt = Runtime::new(scenario(path, threads, dir.path())).unwrap();
    rt.run(frames).unwrap();
    finish(&rt)
}

fn resumed(path: &Path, threads: usize, n: u64, m: u64) -> (String, Vec<u8>) {
    let dir = TempDir::new("resumed");
    let scenario = scenario(path, threads, dir.path());
    let saved = dir.path().join("saved.loam");
    let streamed = scenario.world.storage.is_some();
    {
        let mut rt = Runtime::new(scenario.clone()).unwrap();
        rt.run(n).unwrap();
        if streamed {
            rt.save().unwrap();
        } else {
            rt.save_state(&saved).unwrap();
        }
    }
    let mut rt = if streamed {
        let mut scenario = scenario;
        scenario.world.storage.as_mut().unwrap().resume = true;
        Runtime::new(scenario).unwrap()
    } else {
        let mut rt = Runtime::new(scenario).unwrap();
        rt.load_state(&saved).unwrap();
        rt
    };
    assert_eq!(rt.frame(), n, "the resumed run goes on from frame {n}");
    rt.run(m).unwrap();
    finish(&rt)
}

/// What differs between two states, by section.
fn differences(a: &[u8], b: &[u8]) -> String {
    let (a, b) = (
        SavedState::decode(a).unwrap(),
        SavedState::decode(b).unwrap(),
    );
    let mut out = format!("frames {} and {}", a.frame, b.frame);
    for ((name, x), (_, y)) in a.sections.iter().zip(&b.sections) {
        if x != y {
            out += &format!("; `{name}` differs");
        }
    }
    out
}

#[test]
fn every_shipped_scenario_resumes_exactly() {
    let scenarios = shipped();
    assert!(scenarios.len() >= 10, "found {} scenarios", scenarios.len());
    // (threads, N, M): a split at the first frame, and later ones on more
    // threads, where emitters, commands and paths are under way.
    let splits = [(1, 1, 5), (2, 7, 9)];
    for path in &scenarios {
        for &(threads, n, m) in &splits {
            let name = path.file_stem().unwrap().to_string_lossy();
            let (hash, state) = in_one_run(path, threads, n + m);
            let (resumed_hash, resumed_state) = resumed(path, threads, n, m);
            assert_eq!(
                resumed_hash, hash,
                "{name}: {n} frames, save, resume, {m} frames changed the world (threads {threads})"
            );
            assert!(
                resumed_state == state,
                "{name}: {n} frames, save, resume, {m} frames changed a system's state \
                 (threads {threads}; the world hash is the same): {}",
                differences(&state, &resumed_state)
            );
        }
    }
}

fn sandbox(threads: usize) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/sandbox.toml");
    let mut scenario = Scenario::load(&path).unwrap();
    scenario.run.threads = threads;
    scenario
}

#[test]
fn a_state_is_restored_only_into_a_runtime_of_the_same_plugins_and_world() {
    let dir = TempDir::new("plugins");
    let saved = dir.path().join("sandbox.loam");
    let mut rt = Runtime::new(sandbox(1)).unwrap();
    rt.run(3).unwrap();
    rt.save_state(&saved).unwrap();

    // Without a plugin that saved: its section is refused, by name.
    let (mut plugins, _) = Runtime::default_plugins(&sandbox(1)).unwrap();
    plugins.remove("phase");
    let mut fewer = Runtime::with_plugins(sandbox(1), plugins).unwrap();
    let e = fewer.load_state(&saved).unwrap_err().to_string();
    assert!(e.contains("`phase`") && e.contains("no plugin"), "{e}");

    // Another seed's world: refused, naming both seeds.
    let mut other = sandbox(1);
    other.world.seed += 1;
    let e = Runtime::new(other)
        .unwrap()
        .load_state(&saved)
        .unwrap_err()
        .to_string();
    assert!(e.contains("seed"), "{e}");

    // Damage inside the state: named, and `verify` finds it.
    let file = loam::loam_storage::file::WorldFile::open_read_only(&saved).unwrap();
    let at = file
        .header()
        .state
        .expect("the save recorded a state")
        .offset
        + 7;
    drop(file);
    let mut bytes = std::fs::read(&saved).unwrap();
    bytes[at as usize] ^= 0x20;
    std::fs::write(&saved, bytes).unwrap();
    let e = Runtime::new(sandbox(1))
        .unwrap()
        .load_state(&saved)
        .unwrap_err()
        .to_string();
    assert!(e.contains("run state") && e.contains("CRC"), "{e}");
    let problems = loam::loam_storage::file::WorldFile::open_read_only(&saved)
        .unwrap()
        .verify();
    assert_eq!(problems.len(), 1, "{problems:?}");
}

#[test]
fn a_streamed_world_resumes_only_from_a_save_that_recorded_its_state() {
    let dir = TempDir::new("stateless");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/streaming.toml");
    let mut scenario = scenario(&path, 1, dir.path());
    scenario.world.storage.as_mut().unwrap().resume = true;
    // A new file: nothing to resume, the run starts at frame 0.
    {
        let mut rt = Runtime::new(scenario.clone()).unwrap();
        assert_eq!(rt.frame(), 0);
        rt.run(4).unwrap();
        // Pages committed without a state, as an older build saved them.
        let mut stream = rt
            .engine()
            .resources()
            .try_write::<loam::streaming::StreamState>()
            .unwrap();
        let mut world = rt
            .engine()
            .resources()
            .try_write::<loam::loam_storage::VoxelWorld>()
            .unwrap();
        let layout = *world.layout();
        let page = world.resident_pages()[0];
        let cell = layout.page_coord(page).map(|c| c * layout.page);
        assert!(world.set_cell(cell, 1, 300.0), "a resident cell changes");
        stream.streamer.save(&mut world, None).unwrap();
    }
    let e = Runtime::new(scenario.clone())
        .err()
        .expect("refused")
        .to_string();
    assert!(e.contains("holds no run state"), "{e}");
    // Without `resume` the file's pages start a run at frame 0.
    scenario.world.storage.as_mut().unwrap().resume = false;
    let mut rt = Runtime::new(scenario.clone()).unwrap();
    assert_eq!(rt.frame(), 0);
    rt.run(2).unwrap();
    rt.save().unwrap();
    drop(rt);
    // That save recorded its state: a resume goes on at frame 2.
    scenario.world.storage.as_mut().unwrap().resume = true;
    assert_eq!(Runtime::new(scenario).unwrap().frame(), 2);
}
