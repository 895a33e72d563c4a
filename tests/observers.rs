//! Observers from code: a streamed world with no `[[observer]]` keeps the
//! pages around the observers a game spawns, follows them as they move,
//! and lets them go; what no observer could be is refused.

use std::path::PathBuf;

use loam::scenario::{SavePolicy, StorageSpec};
use loam::{LoamError, Runtime, Scenario};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("loam-observers-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// 512 × 64 × 512 cells in pages of 16: 2048 pages, 64 resident, streamed
/// for observers from code alone.
fn streamed(dir: &std::path::Path) -> Scenario {
    let mut scenario = Scenario::empty("camera", [512, 64, 512]);
    scenario.world.page = 16;
    scenario.world.storage = Some(StorageSpec {
        resident_pages: Some(64),
        save: SavePolicy::Never,
        observers_from_code: true,
        ..StorageSpec::new(dir.join("camera.loam"))
    });
    scenario
}

/// Whether every cell within `r` cells of `at` (on a coarse grid) is
/// resident.
fn resident_around(rt: &Runtime, at: [f64; 3], r: f64) -> bool {
    let world = rt.world();
    let size = world.layout().size;
    let steps = [-1.0, -0.5, 0.0, 0.5, 1.0];
    steps.iter().all(|dx| {
        steps.iter().all(|dz| {
            let p = [at[0] + dx * r * 0.7, at[1], at[2] + dz * r * 0.7];
            let inside = (0..3).all(|a| p[a] >= 0.0 && p[a] < f64::from(size[a]));
            !inside || world.material(p.map(|v| v as u32)).is_some()
        })
    })
}

#[test]
fn an_observer_from_code_keeps_its_pages_follows_its_moves_and_goes() {
    let dir = temp_dir("follow");
    let mut rt = Runtime::new(streamed(&dir)).expect("observers from code need no [[observer]]");
    let a = [40.0, 30.0, 40.0];
    let camera = rt.spawn_observer(a, 24.0).unwrap();
    rt.step().unwrap();
    assert!(
        !resident_around(&rt, a, 24.0),
        "asked for in the first frame"
    );
    rt.step().unwrap();
    assert!(
        resident_around(&rt, a, 24.0),
        "the pages around it are resident"
    );
    // Along the world's edge and into its far corner, a frame at a time.
    let path = [
        [256.0, 30.0, 40.0],
        [500.0, 30.0, 40.0],
        [500.0, 30.0, 500.0],
    ];
    for to in path {
        rt.move_observer(camera, to, [0.0; 3]).unwrap();
        rt.run(4).unwrap();
        assert!(resident_around(&rt, to, 24.0), "resident around {to:?}");
        assert!(rt.world().resident_count() <= 64);
    }
    assert!(
        !resident_around(&rt, a, 24.0),
        "the first pages were let go"
    );
    rt.remove_observer(camera).unwrap();
    let err = rt.move_observer(camera, a, [0.0; 3]).unwrap_err();
    assert!(matches!(err, LoamError::Observer(_)), "{err}");
    assert!(rt.remove_observer(camera).is_err(), "removed twice");
    rt.run(2).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn what_no_observer_could_be_is_refused() {
    let dir = temp_dir("refused");
    let mut rt = Runtime::new(streamed(&dir)).unwrap();
    for (position, radius) in [
        ([f64::NAN, 0.0, 0.0], 10.0),
        ([0.0, f64::INFINITY, 0.0], 10.0),
        ([0.0; 3], 0.0),
        ([0.0; 3], f64::NAN),
        ([0.0; 3], 1.0e9),
    ] {
        let err = rt.spawn_observer(position, radius).unwrap_err();
        assert!(matches!(err, LoamError::Observer(_)), "{err}");
        assert_eq!(err.exit_code(), 2);
    }
    let camera = rt.spawn_observer([10.0; 3], 8.0).unwrap();
    let err = rt
        .move_observer(camera, [10.0; 3], [f64::NAN, 0.0, 0.0])
        .unwrap_err();
    assert!(err.to_string().contains("finite"), "{err}");

    // A world in memory has every page resident: observers mean nothing.
    let mut memory = Runtime::new(Scenario::empty("memory", [64, 64, 64])).unwrap();
    let err = memory.spawn_observer([10.0; 3], 8.0).unwrap_err();
    assert!(err.to_string().contains("streamed world"), "{err}");

    // Without `observers_from_code`, a world that cannot hold every page
    // needs an [[observer]] to say which to keep.
    let mut scenario = streamed(&dir);
    scenario.world.storage.as_mut().unwrap().observers_from_code = false;
    let err = Runtime::new(scenario).err().expect("refused");
    assert!(err.to_string().contains("observers_from_code"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_scenario_file_says_its_observers_come_from_code() {
    let dir = temp_dir("file");
    let path = dir.join("camera.toml");
    let text = "[world]\nsize = [256, 32, 256]\npage = 16\nfile = \"camera.loam\"\n\
                resident_pages = 8\nsave = \"never\"\nobservers_from_code = true\n";
    std::fs::write(&path, text).unwrap();
    let scenario = Scenario::load(&path).expect("observers_from_code parses");
    assert!(scenario.world.storage.as_ref().unwrap().observers_from_code);
    let mut rt = Runtime::new(scenario).unwrap();
    rt.spawn_observer([100.0, 10.0, 100.0], 12.0).unwrap();
    rt.run(2).unwrap();
    assert!(rt.world().material([100, 10, 100]).is_some());

    std::fs::write(
        &path,
        "[world]\nsize = [64, 64, 64]\nobservers_from_code = true\n",
    )
    .unwrap();
    let err = Scenario::load(&path).unwrap_err().to_string();
    assert!(
        err.contains("`observers_from_code` needs a streamed world"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
