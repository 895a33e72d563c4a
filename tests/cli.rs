//! The `loam` binary as a user runs it: exit codes, reports, pictures.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn loam(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_loam"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the loam binary runs")
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("loam-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn report(dir: &Path, args: &[&str]) -> (Output, serde_json::Value) {
    let path = dir.join("report.json");
    let mut all = args.to_vec();
    let p = path.to_str().unwrap();
    all.extend(["--report", p, "--quiet"]);
    let out = loam(&all);
    let json = std::fs::read_to_string(&path)
        .map(|s| serde_json::from_str(&s).expect("the report is JSON"))
        .unwrap_or(serde_json::Value::Null);
    (out, json)
}

#[test]
fn gpu_automaton_without_a_gpu_backend_runs_on_the_cpu_and_says_so() {
    let dir = temp_dir("gpu-automaton");
    let (out, r) = report(
        &dir,
        &[
            "run",
            "scenarios/hourglass.toml",
            "--frames",
            "2",
            "--gpu-automaton",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(r["backend"], "cpu");
    let jobs = r["jobs"].as_array().expect("jobs");
    assert!(jobs.iter().any(|j| j["name"] == "ca.step"), "{jobs:?}");
    let notes = r["notes"].to_string();
    assert!(notes.contains("gpu_automaton"), "{notes}");
}

#[test]
fn run_writes_a_report_with_the_documented_schema() {
    let dir = temp_dir("schema");
    let (out, r) = report(
        &dir,
        &[
            "run",
            "scenarios/hourglass.toml",
            "--frames",
            "20",
            "--threads",
            "2",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    for key in [
        "scenario",
        "frames",
        "seed",
        "threads",
        "backend",
        "adapter",
        "world_hash",
        "frame_ms",
        "jobs",
        "active_pages",
        "materials",
        "checks",
        "wall_s",
        "notes",
        "storage",
        "phases",
        "transitions",
        "soft_bodies",
    ] {
        assert!(r.get(key).is_some(), "report lacks `{key}`: {r}");
    }
    assert!(
        r["storage"].is_null(),
        "a world held in memory has no storage section"
    );
    assert_eq!(r["scenario"], "hourglass");
    assert_eq!(r["frames"], 20);
    assert_eq!(r["threads"], 2);
    assert_eq!(r["backend"], "cpu");
    assert!(r["adapter"].is_null(), "no GPU adapter on the CPU backend");
    let hash = r["world_hash"].as_str().unwrap();
    assert_eq!(hash.len(), 16);
    assert!(hash.chars().all(|c| c.is_ascii_hexdigit()));
    for k in ["mean", "p95", "max"] {
        assert!(r["frame_ms"][k].as_f64().unwrap() >= 0.0);
    }
    let jobs = r["jobs"].as_array().unwrap();
    let ca = jobs
        .iter()
        .find(|j| j["name"] == "ca.step")
        .expect("ca.step job");
    assert_eq!(ca["runs"], 20);
    for k in ["mean_ms", "p95_ms", "max_ms"] {
        assert!(ca[k].as_f64().is_some());
    }
    // Its phases: the checkerboard sweeps and the levelling, every run,
    // within the job's own time.
    let phases = ca["phases"].as_array().expect("ca.step phases");
    let names: Vec<&str> = phases.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["ca.checkerboard_phase", "ca.level"]);
    assert!(phases.iter().all(|p| p["runs"] == 20), "{phases:?}");
    let inside: f64 = phases.iter().map(|p| p["mean_ms"].as_f64().unwrap()).sum();
    assert!(
        inside <= ca["mean_ms"].as_f64().unwrap(),
        "{phases:?} in {ca}"
    );
    let sand = &r["materials"]["sand"];
    assert_eq!(sand["count"], 82944);
    assert_eq!(sand["center_of_mass"].as_array().unwrap().len(), 3);
    assert!(sand["min_y"].as_u64().unwrap() < sand["max_y"].as_u64().unwrap());
    assert!(r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["passed"] == true));
}

#[test]
fn a_failed_check_exits_1() {
    let dir = temp_dir("check");
    // The lava only lands at frame 120, so 10 frames leave no basalt.
    let (out, r) = report(&dir, &["run", "scenarios/sandbox.toml", "--frames", "10"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("basalt"));
    let failed: Vec<_> = r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["passed"] == false)
        .collect();
    assert_eq!(failed.len(), 1);
}

#[test]
fn same_seed_same_hash_on_one_and_two_threads_and_seed_matters() {
    let dir = temp_dir("det");
    let hash = |threads: &str, seed: &str| {
        let (out, r) = report(
            &dir,
            &[
                "run",
                "scenarios/sandbox.toml",
                "--frames",
                "150",
                "--threads",
                threads,
                "--seed",
                seed,
            ],
        );
        assert!(out.status.success(), "{}", stderr(&out));
        r["world_hash"].as_str().unwrap().to_string()
    };
    let one = hash("1", "5");
    assert_eq!(one, hash("2", "5"));
    assert_ne!(one, hash("2", "6"));
}

#[test]
fn bad_input_exits_2_with_file_line_and_column() {
    let dir = temp_dir("bad");
    let path = dir.join("bad.toml");
    std::fs::write(&path, "[world]\nsize = [64, 64, 64]\n[[fill]]\nshape = \"box\"\nmin = [0, 0, 0]\nmax = [8, 8, 8]\nmaterial = \"cheese\"\n").unwrap();
    let out = loam(&["run", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("bad.toml:7:12") && err.contains("unknown material `cheese`"),
        "{err}"
    );
    assert!(!err.contains("panicked"));
}

#[test]
fn missing_file_bad_flags_and_unavailable_backend_exit_2() {
    let out = loam(&["run", "scenarios/does-not-exist.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("cannot read"));
    // No place in the text to point at: no `:0:0`.
    assert!(
        stderr(&out).starts_with("error: scenarios/does-not-exist.toml: cannot read the file"),
        "{}",
        stderr(&out)
    );
    let out = loam(&["run", "scenarios/sandbox.toml", "--snapshot-every", "0"]);
    assert_eq!(out.status.code(), Some(2), "--snapshot-every 0 is refused");
    assert!(
        stderr(&out).contains("--snapshot-every"),
        "{}",
        stderr(&out)
    );
    let out = loam(&["run", "scenarios/sandbox.toml", "--backend", "quantum"]);
    assert_eq!(out.status.code(), Some(2));
    let out = loam(&["run", "scenarios/sandbox.toml", "--frames", "many"]);
    assert_eq!(out.status.code(), Some(2));
    let out = loam(&[
        "run",
        "scenarios/sandbox.toml",
        "--backend",
        "gpu",
        "--frames",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("gpu"));
    let out = loam(&["bench", "nonsense"]);
    assert_eq!(out.status.code(), Some(2));
    let out = loam(&["run", "scenarios/sandbox.toml", "--threads", "5000"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("thread count"));
}

#[test]
fn auto_backend_falls_back_to_cpu_and_says_so() {
    let out = loam(&[
        "run",
        "scenarios/hourglass.toml",
        "--frames",
        "1",
        "--backend",
        "auto",
    ]);
    assert!(out.status.success());
    assert!(
        stderr(&out).contains("running on the CPU"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn dump_materials_writes_every_cell_x_fastest() {
    let dir = temp_dir("dump");
    let path = dir.join("m.raw");
    let out = loam(&[
        "run",
        "scenarios/hourglass.toml",
        "--frames",
        "0",
        "--quiet",
        "--dump-materials",
        path.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes.len(), 64 * 128 * 64);
    let at = |x: usize, y: usize, z: usize| bytes[x + 64 * (y + 128 * z)];
    assert_eq!(at(5, 0, 5), 1, "stone floor");
    assert_eq!(at(10, 70, 10), 2, "sand above the plate");
    assert_eq!(at(31, 62, 31), 0, "the hole");
    assert_eq!(at(5, 110, 5), 0, "air on top");
}

#[test]
fn snapshots_are_pngs_and_show_sand_falling() {
    let dir = temp_dir("snap");
    let out = loam(&[
        "run",
        "scenarios/hourglass.toml",
        "--frames",
        "40",
        "--snapshot",
        dir.to_str().unwrap(),
        "--snapshot-every",
        "20",
        "--quiet",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    for name in [
        "top_00000.png",
        "slice_00000.png",
        "slice_00040.png",
        "frame_times.png",
    ] {
        let bytes = std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{name}");
    }
    let slice0 = std::fs::read(dir.join("slice_00000.png")).unwrap();
    let slice40 = std::fs::read(dir.join("slice_00040.png")).unwrap();
    assert_ne!(slice0, slice40, "the picture changed as sand fell");
}

#[test]
fn soak_runs_repeats_seeds_and_passes() {
    let out = loam(&[
        "soak",
        "scenarios/hourglass.toml",
        "--duration",
        "2s",
        "--restart-every",
        "15",
        "--check-every",
        "5",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let outcome: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(outcome["runs"].as_u64().unwrap() >= 3, "{outcome}");
    assert!(
        outcome["repeats_matched"].as_u64().unwrap() >= 1,
        "{outcome}"
    );
    assert_eq!(outcome["violation"], serde_json::Value::Null);
    let bad = loam(&["soak", "scenarios/hourglass.toml", "--duration", "forever"]);
    assert_eq!(bad.status.code(), Some(2));
}

/// `soak --own-file` chains its runs on the scenario's own file: each
/// resumes from the save of the one before, and a scenario that never
/// saves, or holds its world in memory, is refused.
#[test]
fn soak_on_its_own_file_goes_on_run_after_run() {
    let dir = temp_dir("soak-own");
    let scenario = streamed_scenario(&dir, 1);
    let s = scenario.to_str().unwrap();
    for _ in 0..2 {
        // A duration of 0 s is one run.
        let out = loam(&["soak", s, "--duration", "0s", "--frames", "4", "--own-file"]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let report = dir.join("r.json");
    let out = loam(&[
        "run",
        s,
        "--resume",
        "--frames",
        "0",
        "--quiet",
        "--report",
        report.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(report["frames"], 8, "two soaks of one 4-frame run each");
    let never = dir.join("never.toml");
    let text = std::fs::read_to_string(&scenario).unwrap();
    std::fs::write(
        &never,
        text.replace("save = \"on_exit\"", "save = \"never\""),
    )
    .unwrap();
    for args in [
        vec!["soak", never.to_str().unwrap(), "--own-file"],
        vec!["soak", "scenarios/hourglass.toml", "--own-file"],
        vec![
            "run",
            "scenarios/hourglass.toml",
            "--resume",
            "--frames",
            "1",
        ],
    ] {
        let out = loam(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bench_help_names_every_group() {
    let out = loam(&["bench", "--help"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let help = String::from_utf8_lossy(&out.stdout);
    for (group, _) in loam::cli::bench::GROUPS {
        assert!(
            help.contains(group),
            "`loam bench --help` misses {group}: {help}"
        );
    }
}

#[test]
fn graph_shows_stages_and_the_jobs_that_run_together() {
    // The pinned graph of one shipped scenario: a change to any system's
    // stage or access shows here.
    let out = loam(&["graph", "scenarios/sandbox.toml"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text,
        "input      commands -> [emitters, fields.commands]\n\
         input      emitters -> [fields.couple]\n\
         input      fields.commands -> [fields.couple]\n\
         forces     fields.couple -> [fields.step, ca.step]\n\
         fields     fields.step -> [phase.metropolis]\n\
         automaton  ca.step -> [heat_baths]\n\
         heat       heat_baths -> [phase.metropolis]\n\
         phase      phase.metropolis -> [softbody.step]\n\
         bodies     softbody.step -> []\n\
         9 jobs, 3 pairs that may run at the same time; up to 2 at once (fields.step, ca.step)\n"
    );
}

#[test]
fn inspect_describes_a_world_file_and_verify_names_a_bad_page() {
    use loam::loam_storage::file::{SaveOptions, WorldFile};
    use loam::loam_storage::{VoxelWorld, WorldLayout};
    let dir = temp_dir("inspect");
    let path = dir.join("w.loam");
    let layout = WorldLayout::new([32, 32, 32], 16).unwrap();
    let mut world = VoxelWorld::new(layout, 0, 293.15);
    for x in 0..16 {
        world.set_cell([x, x, 3], (x % 5) as u8, 300.0 + x as f32);
    }
    let mut file = WorldFile::create(&path, layout, 3).unwrap();
    file.save(
        &world,
        &(0..layout.page_count()).collect::<Vec<_>>(),
        &SaveOptions::default(),
    )
    .unwrap();
    let payload = file
        .entries()
        .iter()
        .find(|e| e.stored > 0)
        .copied()
        .unwrap();
    drop(file);

    let p = path.to_str().unwrap();
    let out = loam(&["inspect", p, "--verify"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("8 of 8 pages stored") && text.contains("temperature"),
        "{text}"
    );
    assert!(text.contains("commits kept: 2 (this one), 1;"), "{text}");
    let out = loam(&["inspect", p, "--commit", "1"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("commit 1,") && text.contains("0 of 8 pages stored"),
        "{text}"
    );
    let out = loam(&["inspect", p, "--commit", "9"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("holds no commit 9: it keeps commits 2, 1"),
        "{}",
        stderr(&out)
    );

    let mut bytes = std::fs::read(&path).unwrap();
    bytes[payload.offset as usize] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let out = loam(&["inspect", p, "--verify"]);
    assert_eq!(out.status.code(), Some(1));
    let id = format!("{:#x}", payload.page_id);
    assert!(stderr(&out).contains(&id), "{}", stderr(&out));

    // Compaction refuses to copy the damage forward unless told what to do.
    let out = loam(&["compact", p]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&id) && stderr(&out).contains("--damaged drop"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(&path).unwrap(), bytes, "left as it was");
    let kept = dir.join("kept.loam");
    std::fs::copy(&path, &kept).unwrap();
    let k = kept.to_str().unwrap();
    assert!(loam(&["compact", k, "--damaged", "keep"]).status.success());
    assert_eq!(loam(&["inspect", k, "--verify"]).status.code(), Some(1));
    assert!(loam(&["compact", p, "--damaged", "drop"]).status.success());
    let out = loam(&["inspect", p, "--verify"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("7 of 8 pages stored"),
        "the damaged page is gone"
    );
    assert_eq!(
        loam(&["compact", p, "--damaged", "mend"]).status.code(),
        Some(2)
    );

    std::fs::write(&path, b"not a world").unwrap();
    assert_eq!(loam(&["inspect", p]).status.code(), Some(2));
    assert_eq!(loam(&["compact", p]).status.code(), Some(2));
}

/// A small world file at `path`, every page saved.
fn small_world_file(path: &Path) {
    use loam::loam_storage::file::{SaveOptions, WorldFile};
    use loam::loam_storage::{VoxelWorld, WorldLayout};
    let layout = WorldLayout::new([32, 32, 32], 16).unwrap();
    let mut world = VoxelWorld::new(layout, 0, 293.15);
    world.set_cell([3, 4, 5], 2, 300.0);
    let all: Vec<usize> = (0..layout.page_count()).collect();
    WorldFile::create(path, layout, 3)
        .unwrap()
        .save(&world, &all, &SaveOptions::default())
        .unwrap();
}

/// A world file has one writer at a time: while this process holds one for
/// writing, `loam inspect`, `export-zarr` and `compact` in another process
/// are refused (exit 2), naming the file and this process, and the file is
/// left as it was; while it is only read, other readers run beside it and
/// writers are still refused.
#[test]
fn a_world_file_has_one_writer_and_readers_share_it_across_processes() {
    use loam::loam_storage::file::WorldFile;
    let dir = temp_dir("lock");
    let path = dir.join("w.loam");
    small_world_file(&path);
    let p = path.to_str().unwrap();
    let zarr = dir.join("w.zarr");
    let z = zarr.to_str().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let me = format!("pid {}", std::process::id());

    let writer = WorldFile::open(&path).unwrap();
    for args in [
        vec!["inspect", p],
        vec!["inspect", p, "--verify"],
        vec!["export-zarr", p, z],
        vec!["compact", p],
    ] {
        let out = loam(&args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(p) && err.contains(&me), "{args:?}: {err}");
    }
    assert!(!zarr.exists());
    drop(writer);
    assert_eq!(std::fs::read(&path).unwrap(), bytes, "left as it was");

    let reader = WorldFile::open_read_only(&path).unwrap();
    let out = loam(&["inspect", p, "--verify"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = loam(&["export-zarr", p, z]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = loam(&["compact", p]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("in use by"), "{}", stderr(&out));
    drop(reader);
    let out = loam(&["compact", p]);
    assert!(out.status.success(), "{}", stderr(&out));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A world file without write permission is inspected, verified and
/// exported (opened read-only); a run that would write to it says so before
/// it starts. Run as an unprivileged user where the tests run as root, for
/// whom permissions do not hold.
#[test]
fn a_read_only_world_file_is_read_and_a_run_that_writes_it_says_it_cannot() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::os::unix::process::CommandExt;
    let dir = temp_dir("read-only");
    let scenario = streamed_scenario(&dir, 1);
    let s = scenario.to_str().unwrap();
    let out = loam(&["run", s, "--frames", "3", "--quiet"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let world = dir.join("world.loam");
    let w = world.to_str().unwrap();
    std::fs::set_permissions(&world, std::fs::Permissions::from_mode(0o444)).unwrap();
    let exports = dir.join("exports");
    std::fs::create_dir(&exports).unwrap();
    std::fs::set_permissions(&exports, std::fs::Permissions::from_mode(0o777)).unwrap();
    let zarr = exports.join("w.zarr");
    let root = std::fs::metadata("/proc/self").unwrap().uid() == 0;
    let unprivileged = |args: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_loam"));
        command.args(args).current_dir(env!("CARGO_MANIFEST_DIR"));
        if root {
            command.uid(65534).gid(65534);
        }
        command.output().expect("the loam binary runs")
    };
    for args in [
        vec!["inspect", w],
        vec!["inspect", w, "--verify"],
        // A streamed world's file holds the pages that changed; the export
        // of its scenario reads them, and makes the others from its fills.
        vec!["export-zarr", s, zarr.to_str().unwrap()],
    ] {
        let out = unprivileged(&args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    }
    let out = unprivileged(&["run", s, "--frames", "1"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not writable here") && stderr(&out).contains(w),
        "{}",
        stderr(&out)
    );
    // A run that saves nothing only reads it: the pages it evicts go to a
    // temporary copy, removed at exit, and two such runs share the file.
    let never = dir.join("never.toml");
    let text = std::fs::read_to_string(&scenario).unwrap();
    std::fs::write(
        &never,
        text.replace("save = \"on_exit\"", "save = \"never\""),
    )
    .unwrap();
    let n = never.to_str().unwrap();
    let before = std::fs::read(&world).unwrap();
    let reader = loam::loam_storage::file::WorldFile::open_read_only(&world).unwrap();
    let json = exports.join("never.json");
    let out = unprivileged(&[
        "run",
        n,
        "--frames",
        "25",
        "--report",
        json.to_str().unwrap(),
    ]);
    drop(reader);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("is only read"), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let evicted = &report["storage"]["pages_evicted"];
    assert!(
        evicted.as_u64().unwrap() > 0,
        "the run evicted pages: {evicted}"
    );
    assert_eq!(
        std::fs::read(&world).unwrap(),
        before,
        "the world file is untouched"
    );
    std::fs::set_permissions(&world, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// zstd levels outside 1..=22 (which zarr readers cannot open) are refused,
/// on the command line and through the API, before anything is written.
#[test]
fn export_zarr_refuses_a_zstd_level_out_of_range() {
    use loam::loam_storage::file::WorldFile;
    use loam::loam_storage::zarr;
    let dir = temp_dir("zarr-level");
    let path = dir.join("w.loam");
    small_world_file(&path);
    let out = dir.join("w.zarr");
    for level in ["0", "23", "99", "1000000", "-3"] {
        let run = loam(&[
            "export-zarr",
            path.to_str().unwrap(),
            out.to_str().unwrap(),
            &format!("--level={level}"),
        ]);
        assert_eq!(run.status.code(), Some(2), "{level}: {}", stderr(&run));
        assert!(stderr(&run).contains("1..=22"), "{}", stderr(&run));
        assert!(!out.exists());
    }
    let file = WorldFile::open_read_only(&path).unwrap();
    for level in [0, 23, i32::MIN, i32::MAX] {
        let err = zarr::export(&file, 0, &out, level).unwrap_err().to_string();
        assert!(err.contains("outside 1..=22"), "{err}");
        assert!(!out.exists());
    }
    assert!(zarr::export(&file, 0, &out, 22).is_ok());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A budget smaller than what the observers want is a warning at start, in
/// the text output and the report's notes, naming how many pages they
/// want; the frames that ran short are counted and printed. A budget that
/// holds them warns of nothing.
#[test]
fn a_resident_budget_too_small_for_the_observers_says_so() {
    let dir = temp_dir("budget");
    let scenario = streamed_scenario(&dir, 1);
    let s = scenario.to_str().unwrap();
    let report = dir.join("report.json");
    let out = loam(&[
        "run",
        s,
        "--frames",
        "5",
        "--report",
        report.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));

    let toml = std::fs::read_to_string(&scenario).unwrap();
    std::fs::write(
        &scenario,
        toml.replace("resident_pages = 300", "resident_pages = 8"),
    )
    .unwrap();
    let out = loam(&[
        "run",
        s,
        "--frames",
        "5",
        "--report",
        report.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    let warning = err
        .lines()
        .find(|l| l.starts_with("warning: resident_pages = 8 holds fewer pages"))
        .unwrap_or_else(|| panic!("no warning: {err}"));
    let need: usize = warning
        .rsplit("set resident_pages = ")
        .next()
        .and_then(|t| t.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number of pages: {warning}"));
    assert!(need > 8, "{warning}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("6 frames over budget"), "{stdout}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(json["storage"]["over_budget_frames"], 6);
    assert!(
        json["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().starts_with("warning: resident_pages")),
        "{json}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A world file reused with other `[[fill]]`s is refused (exit 2, the file
/// untouched), as one with another seed is, unless the scenario accepts
/// it; once accepted and saved, the file is the new fills' own.
#[test]
fn a_world_file_made_from_other_fills_is_refused_unless_accepted() {
    let dir = temp_dir("fills");
    let scenario = streamed_scenario(&dir, 1);
    let s = scenario.to_str().unwrap();
    let out = loam(&["run", s, "--frames", "10", "--quiet"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let world = dir.join("world.loam");
    let saved = std::fs::read(&world).unwrap();

    let toml = std::fs::read_to_string(&scenario).unwrap();
    let basalt = toml.replace("material = \"stone\"", "material = \"basalt\"");
    assert_ne!(basalt, toml);
    std::fs::write(&scenario, &basalt).unwrap();
    let out = loam(&["run", s, "--frames", "10", "--quiet"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("other [[fill]]s") && stderr(&out).contains("accept_other_fills"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read(&world).unwrap(),
        saved,
        "the file is untouched"
    );
    let out = loam(&["export-zarr", s, dir.join("w.zarr").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));

    let accepting = basalt.replace(
        "save = \"on_exit\"",
        "save = \"on_exit\"\naccept_other_fills = true",
    );
    std::fs::write(&scenario, accepting).unwrap();
    let out = loam(&["run", s, "--frames", "10", "--quiet"]);
    assert!(out.status.success(), "{}", stderr(&out));
    std::fs::write(&scenario, &basalt).unwrap();
    let out = loam(&["run", s, "--frames", "1", "--quiet"]);
    assert!(
        out.status.success(),
        "now the basalt world's file: {}",
        stderr(&out)
    );
    std::fs::write(&scenario, &toml).unwrap();
    let out = loam(&["run", s, "--frames", "1", "--quiet"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A final save that fails (the file may not grow: a full disk) leaves the
/// file at its last commit, and the run still prints its table and writes
/// its report, with the error in it, and exits 1 (not 2: the input was
/// good).
#[test]
fn a_final_save_that_fails_reports_the_run_and_keeps_the_last_commit() {
    let dir = temp_dir("full");
    // Every page resident, so that only the final save writes.
    let scenario = dir.join("pour.toml");
    std::fs::write(
        &scenario,
        r#"
[world]
size = [64, 64, 64]
page = 16
file = "world.loam"

[[fill]]
shape = "box"
material = "stone"
min = [0, 0, 0]
max = [64, 8, 64]

[[emitter]]
material = "sand"
center = [30, 40, 30]
radius = 3.0
frames = [0, 20]
"#,
    )
    .unwrap();
    let s = scenario.to_str().unwrap();
    let out = loam(&["run", s, "--frames", "5", "--quiet"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let world = dir.join("world.loam");
    let w = world.to_str().unwrap();
    let commit = || String::from_utf8_lossy(&loam(&["inspect", w]).stdout).into_owned();
    let before = commit();
    let kib = std::fs::metadata(&world).unwrap().len().div_ceil(1024);
    let report = dir.join("report.json");
    // The file may not grow past its size: every write beyond fails (EFBIG,
    // with SIGXFSZ ignored), as on a full disk.
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "trap '' XFSZ; ulimit -f {kib}; exec \"$0\" run \"$1\" --frames 5 --report \"$2\""
        ))
        .arg(env!("CARGO_BIN_EXE_loam"))
        .arg(s)
        .arg(&report)
        .output()
        .expect("bash runs");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the final save failed") && stderr(&out).contains(w),
        "{}",
        stderr(&out)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("frames 5"), "the table: {stdout}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert!(
        r["save_error"]
            .as_str()
            .is_some_and(|e| e.contains("large")),
        "{r}"
    );
    assert_eq!(r["frames"], 5);
    assert!(loam(&["inspect", w, "--verify"]).status.success());
    assert_eq!(commit(), before, "the file is at its last commit");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `loam graph` of a streamed scenario lists the streaming jobs and leaves
/// the scenario's world file alone: it neither creates one nor opens the
/// real one with the shrunk world a graph is built from.
#[test]
fn graph_of_a_streamed_scenario_leaves_its_world_file_alone() {
    let dir = temp_dir("graph-streamed");
    let scenario = streamed_scenario(&dir, 1);
    let s = scenario.to_str().unwrap();
    let world = dir.join("world.loam");
    let out = loam(&["graph", s]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("storage.stream"));
    assert!(!world.exists(), "no world file made");
    let out = loam(&["run", s, "--frames", "3", "--quiet"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let saved = std::fs::read(&world).unwrap();
    let out = loam(&["graph", s]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(&world).unwrap(), saved);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A small streamed scenario whose world file lives in `dir`.
fn streamed_scenario(dir: &Path, seed: u64) -> PathBuf {
    let path = dir.join(format!("streamed-{seed}.toml"));
    std::fs::write(
        &path,
        format!(
            r#"
[world]
size = [512, 64, 512]
page = 16
seed = {seed}
file = "world.loam"
resident_pages = 300
save = "on_exit"

[[fill]]
shape = "noise_terrain"
material = "stone"
height = [8, 40]
scale = 50.0

[[observer]]
path = [[40, 30, 40, 0], [400, 30, 400, 30]]
radius = 30.0

[[emitter]]
material = "sand"
center = [60, 60, 60]
radius = 2.0
frames = [0, 20]
"#
        ),
    )
    .unwrap();
    path
}

#[test]
fn a_streamed_world_saves_reopens_and_refuses_a_mismatched_file() {
    let dir = temp_dir("streamed");
    let scenario = streamed_scenario(&dir, 1);
    let s = scenario.to_str().unwrap();
    let (out, r) = report(&dir, &["run", s, "--frames", "40", "--io", "pread"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let storage = &r["storage"];
    assert_eq!(storage["io_backend"], "pread");
    assert!(storage["pages_evicted"].as_u64().unwrap() > 0, "{storage}");
    assert!(storage["resident_pages"].as_u64().unwrap() <= 300);
    let world = dir.join("world.loam");
    assert!(world.exists(), "created beside the scenario");

    let (out, r) = report(&dir, &["run", s, "--frames", "0", "--io", "mmap"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(r["frames"], 0);
    assert!(
        r["storage"]["pages_loaded"].as_u64().unwrap() > 0,
        "the sand pages come from the file"
    );

    let out = loam(&["inspect", world.to_str().unwrap(), "--verify"]);
    assert!(out.status.success(), "{}", stderr(&out));

    // The same file under another seed, or with a page damaged: exit 2, named.
    let other = streamed_scenario(&dir, 2);
    let out = loam(&["run", other.to_str().unwrap(), "--frames", "1", "--quiet"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("made with seed 1"),
        "{}",
        stderr(&out)
    );

    let out = loam(&["run", s, "--io", "floppy"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("unknown io"), "{}", stderr(&out));

    let out = loam(&[
        "run",
        s,
        "--save-world",
        dir.join("copy.loam").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("streamed"), "{}", stderr(&out));
    assert!(
        !dir.join("copy.loam").exists(),
        "refused before any file is made"
    );

    std::fs::write(&world, b"not a world").unwrap();
    let out = loam(&["run", s, "--frames", "1", "--quiet"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("world.loam"), "{}", stderr(&out));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_streamed_world_dumps_and_exports_every_page_as_the_simulation_sees_it() {
    let dir = temp_dir("streamed-dump");
    let scenario = streamed_scenario(&dir, 5);
    let s = scenario.to_str().unwrap();
    let dump = |args: &[&str], name: &str| -> Vec<u8> {
        let path = dir.join(name);
        let mut all = args.to_vec();
        all.extend(["--quiet", "--dump-materials", path.to_str().unwrap()]);
        let out = loam(&all);
        assert!(out.status.success(), "{}", stderr(&out));
        std::fs::read(path).unwrap()
    };

    // At frame 0 the streamed world (resident pages generated now, the
    // others when dumped) is the world an in-memory run of the same fills
    // builds, cell for cell.
    let in_memory = dir.join("in-memory.toml");
    let text = std::fs::read_to_string(&scenario).unwrap();
    let text: Vec<String> = text
        .split("\n\n")
        .filter(|block| !block.starts_with("[[observer]]"))
        .map(|block| {
            let keep = |l: &&str| {
                !["file", "resident_pages", "save"]
                    .iter()
                    .any(|k| l.starts_with(k))
            };
            block.lines().filter(keep).collect::<Vec<_>>().join("\n")
        })
        .collect();
    let text = text.join("\n\n");
    std::fs::write(&in_memory, text).unwrap();
    let streamed = dump(&["run", s, "--frames", "0"], "streamed-0.bin");
    let whole = dump(
        &["run", in_memory.to_str().unwrap(), "--frames", "0"],
        "memory-0.bin",
    );
    assert_eq!(streamed.len(), 512 * 64 * 512);
    let differ = streamed.iter().zip(&whole).filter(|(a, b)| a != b).count();
    assert_eq!(
        differ, 0,
        "{differ} cells differ between the streamed and in-memory worlds"
    );
    let stone = streamed.iter().filter(|&&m| m == 1).count();
    assert!(
        stone > 512 * 512 * 8,
        "the terrain is in the dump: {stone} stone cells"
    );

    // After a run that saved some pages: sand from the emitter (saved, or
    // resident) and terrain everywhere else (generated).
    let after = dump(&["run", s, "--frames", "30"], "streamed-30.bin");
    let sand = after.iter().filter(|&&m| m == 2).count();
    assert!(sand > 0, "the emitter's sand is in the dump");
    let far = |d: &[u8]| d[500 + 512 * (4 + 64 * 500)];
    assert_eq!(far(&after), 1, "stone far from the observer, generated");

    // The file alone lacks the generated pages: a clear error, nothing
    // written; the scenario exports the whole world.
    let zarr = dir.join("file.zarr");
    let out = loam(&[
        "export-zarr",
        dir.join("world.loam").to_str().unwrap(),
        zarr.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("SCENARIO.toml"), "{}", stderr(&out));
    assert!(!zarr.exists());
    let zarr = dir.join("scenario.zarr");
    let out = loam(&["export-zarr", s, zarr.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(said.contains("pages generated"), "{said}");
    assert!(zarr.join("zarr.json").exists());

    // A world of 2^42 cells is refused before the run, and no dump is made.
    let huge = dir.join("huge.toml");
    std::fs::write(
        &huge,
        "[world]\nsize = [65536, 1024, 65536]\npage = 32\nfile = \"huge.loam\"\nresident_pages = 64\n\n\
         [[observer]]\npath = [[40, 30, 40, 0]]\nradius = 8.0\n",
    )
    .unwrap();
    let bin = dir.join("huge.bin");
    let out = loam(&[
        "run",
        huge.to_str().unwrap(),
        "--frames",
        "0",
        "--quiet",
        "--dump-materials",
        bin.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("more than the memory available"),
        "{}",
        stderr(&out)
    );
    assert!(!bin.exists(), "no dump file is left behind");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_tear_scenario_holds_until_the_blast_and_then_tears() {
    let dir = temp_dir("tear");
    let torn = |frames: &str| {
        let (out, json) = report(&dir, &["run", "scenarios/tear.toml", "--frames", frames]);
        assert!(out.status.success(), "{}", stderr(&out));
        let bar = &json["soft_bodies"][0];
        (
            bar["broken_constraints"].as_u64().unwrap(),
            bar["volume_ratio"].as_f64().unwrap(),
        )
    };
    let (before, ratio) = torn("89");
    assert_eq!(before, 0, "resting on its blocks, the bar is whole");
    assert!((ratio - 1.0).abs() < 0.05, "and keeps its volume: {ratio}");
    let (after, _) = torn("150");
    assert!(after > 20, "the blast tore {after} faces");
}

/// `loam stress` writes a recording; `loam replay` reproduces its world
/// hash on another thread count, and says when a recording's hash is not
/// the world's (exit 1) or the file is not a recording (exit 2).
#[test]
fn a_stress_run_replays_from_its_recording() {
    let dir = temp_dir("stress");
    let rec = dir.join("stress.json");
    let r = rec.to_str().unwrap();
    let out = loam(&[
        "stress",
        "scenarios/hourglass.toml",
        "--frames",
        "30",
        "--senders",
        "2",
        "--record",
        r,
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(summary["sent"].as_u64().unwrap() > 0, "{summary}");
    assert_eq!(summary["violation"], serde_json::Value::Null);
    let replayed = loam(&["replay", r, "--threads", "1"]);
    assert!(replayed.status.success(), "{}", stderr(&replayed));
    let hash = summary["world_hash"].as_str().unwrap();
    assert!(String::from_utf8_lossy(&replayed.stdout).contains(hash));

    let mut recording: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&rec).unwrap()).unwrap();
    recording["world_hash"] = "0000000000000000".into();
    let wrong = dir.join("wrong.json");
    std::fs::write(&wrong, recording.to_string()).unwrap();
    let differs = loam(&["replay", wrong.to_str().unwrap()]);
    assert_eq!(differs.status.code(), Some(1), "{}", stderr(&differs));
    assert!(stderr(&differs).contains("replay DIFFERS"));

    std::fs::write(&wrong, "{\"format\": \"loam-recording\", \"version\": 1,").unwrap();
    let broken = loam(&["replay", wrong.to_str().unwrap()]);
    assert_eq!(broken.status.code(), Some(2));
    assert!(
        stderr(&broken).contains("wrong.json: not a Loam recording"),
        "{}",
        stderr(&broken)
    );
}

/// `loam stress --kill-every` kills a child saving a streamed world again
/// and again; each time the file opens, verifies and has gone forward or
/// stayed. `--faults` makes reads and writes fail and the run goes on from
/// its file after each. Neither is offered a world without a file, and a
/// chance outside 0..=1 is refused.
#[test]
fn stress_survives_kills_and_faults() {
    let dir = temp_dir("stress-kills");
    let scenario = streamed_scenario(&dir, 3);
    let s = scenario.to_str().unwrap();
    let out = loam(&[
        "stress",
        s,
        "--kill-every",
        "150ms",
        "--kills",
        "6",
        // More than a child steps before its kill.
        "--frames",
        "2000",
        "--resident-pages",
        "8",
        "--jump-every",
        "5",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let kills: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(kills["violation"], serde_json::Value::Null);
    assert_eq!(kills["kills_survived"], 6, "{kills}");
    assert!(kills["frame"].as_u64().unwrap() > 0, "{kills}");
    assert!(kills["commit"].as_u64().unwrap() > 1, "{kills}");

    let mut restarts = 0;
    for seed in ["1", "2", "3"] {
        let out = loam(&[
            "stress", s, "--frames", "60", "--faults", "0.1", "--seed", seed, "--json",
        ]);
        assert!(out.status.success(), "seed {seed}: {}", stderr(&out));
        let run: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(run["violation"], serde_json::Value::Null, "{run}");
        assert!(run["steps"].as_u64() == Some(60), "{run}");
        let r = run["restarts"].as_u64().unwrap();
        if r > 0 {
            assert!(run["replay"].as_str().unwrap().contains("not replayable"));
        }
        restarts += r;
    }
    assert!(restarts > 0, "no fault ever stopped a run");

    for args in [
        vec!["stress", "scenarios/hourglass.toml", "--kill-every", "1s"],
        vec!["stress", s, "--faults", "1.5"],
    ] {
        let out = loam(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `loam run --record` records the scenario's own commands, and the
/// replay matches; a streamed world that starts from its file's pages
/// cannot be recorded (a replay starts from the fills).
#[test]
fn run_record_replays_and_refuses_a_world_that_starts_from_its_file() {
    let dir = temp_dir("record");
    let rec = dir.join("beach.json");
    let r = rec.to_str().unwrap();
    let out = loam(&[
        "run",
        "scenarios/beach.toml",
        "--frames",
        "40",
        "--quiet",
        "--record",
        r,
    ]);
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "{}",
        stderr(&out)
    );
    let recording: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&rec).unwrap()).unwrap();
    assert!(
        !recording["commands"].as_array().unwrap().is_empty(),
        "the blast"
    );
    let replayed = loam(&["replay", r]);
    assert!(replayed.status.success(), "{}", stderr(&replayed));

    let world = dir.join("world.loam");
    let scenario = dir.join("streamed.toml");
    std::fs::write(
        &scenario,
        format!(
            "[world]\nsize = [64, 32, 64]\npage = 16\nfile = {:?}\nresident_pages = 64\n\n\
             [[fill]]\nshape = \"box\"\nmin = [0, 0, 0]\nmax = [64, 4, 64]\nmaterial = \"stone\"\n",
            world.to_str().unwrap()
        ),
    )
    .unwrap();
    let s = scenario.to_str().unwrap();
    let first = loam(&["run", s, "--frames", "3", "--quiet", "--record", r]);
    assert!(first.status.success(), "{}", stderr(&first));
    let again = loam(&["run", s, "--frames", "3", "--quiet", "--record", r]);
    assert_eq!(again.status.code(), Some(2));
    assert!(
        stderr(&again).contains("a replay starts from the scenario's fills"),
        "{}",
        stderr(&again)
    );
}

/// A run with adaptive LOD under a budget no frame meets records the
/// choices it made, which `loam replay` applies again (on another thread
/// count) to the same world hash; the report says what was chosen.
#[test]
fn an_adaptive_lod_run_records_its_choices_and_replays() {
    let dir = temp_dir("adaptive");
    let scenario = dir.join("adaptive.toml");
    std::fs::write(
        &scenario,
        format!(
            "[world]\nsize = [128, 32, 64]\npage = 16\nfile = {:?}\nsave = \"never\"\n\n\
             [run]\nframe_budget_ms = 0.001\nlod = \"adaptive\"\nlod_near = 16\nthreads = 2\n\n\
             [[observer]]\npath = [[0, 16, 0, 0]]\nradius = 200\n\n\
             [[fill]]\nshape = \"box\"\nmin = [0, 0, 0]\nmax = [128, 2, 64]\nmaterial = \"stone\"\n\n\
             [[fill]]\nshape = \"box\"\nmin = [20, 10, 0]\nmax = [128, 20, 64]\nmaterial = \"sand\"\n",
            dir.join("w.loam").to_str().unwrap()
        ),
    )
    .unwrap();
    let (rec, json) = (dir.join("adaptive.json"), dir.join("report.json"));
    let (s, r) = (scenario.to_str().unwrap(), rec.to_str().unwrap());
    let j = json.to_str().unwrap();
    let out = loam(&[
        "run", s, "--frames", "65", "--quiet", "--report", j, "--record", r,
    ]);
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "{}",
        stderr(&out)
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["lod"]["mode"], "adaptive", "{report}");
    assert_eq!(report["lod"]["choices"], 2, "{report}");
    assert_eq!(report["lod"]["near"], 16.0 * 0.7 * 0.7, "{report}");
    let recording: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&rec).unwrap()).unwrap();
    let choices = recording["lod_choices"].as_array().unwrap();
    assert_eq!(choices.len(), 2, "{recording}");
    assert_eq!(choices[0]["frame"], 30);
    let replayed = loam(&["replay", r, "--threads", "1"]);
    assert!(replayed.status.success(), "{}", stderr(&replayed));
    assert!(String::from_utf8_lossy(&replayed.stdout).contains("replay ok"));
}

/// A streamed world that never saves soaks like any other: there is no
/// file of its own to watch (a soak once failed looking for it).
#[test]
fn soak_of_a_world_that_never_saves_passes_without_a_file() {
    let dir = temp_dir("soak-never");
    let scenario = dir.join("never.toml");
    std::fs::write(
        &scenario,
        "[world]\nsize = [64, 32, 64]\npage = 16\nfile = \"w.loam\"\nsave = \"never\"\n\n\
         [[fill]]\nshape = \"box\"\nmin = [10, 10, 10]\nmax = [30, 20, 30]\nmaterial = \"sand\"\n",
    )
    .unwrap();
    let out = loam(&[
        "soak",
        scenario.to_str().unwrap(),
        "--frames",
        "60",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let soak: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(soak["frames"], 60, "{soak}");
    assert!(soak["file_bytes"].is_null(), "{soak}");
    assert!(
        !dir.join("w.loam").exists(),
        "the scenario's file is never made"
    );
}

/// One runtime soaks for the whole duration: the scenario's checks are
/// evaluated from its own frame count on, and one that stops holding fails
/// the soak (exit 1) naming it; the JSON has the frame-time and memory
/// watches.
#[test]
fn soak_of_one_runtime_evaluates_the_checks_and_reports_its_watches() {
    let dir = temp_dir("soak-one");
    let scenario = dir.join("falling.toml");
    let text = |max: u32| {
        format!(
            "[world]\nsize = [32, 48, 32]\npage = 16\n\n[run]\nframes = 10\n\n\
             [[fill]]\nshape = \"box\"\nmin = [8, 30, 8]\nmax = [24, 40, 24]\nmaterial = \"sand\"\n\n\
             [[check]]\nkind = \"count\"\nmaterial = \"sand\"\nfrom = [0, 0, 0]\nto = [32, 20, 32]\nmax = {max}\n"
        )
    };
    // The sand starts above y = 20 and falls below it after frame 10.
    std::fs::write(&scenario, text(0)).unwrap();
    let s = scenario.to_str().unwrap();
    let out = loam(&[
        "soak",
        s,
        "--duration",
        "30s",
        "--frames",
        "400",
        "--check-every",
        "5",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the scenario's check `count` fails"),
        "{}",
        stderr(&out)
    );

    std::fs::write(&scenario, text(100_000)).unwrap();
    let out = loam(&[
        "soak",
        s,
        "--duration",
        "30s",
        "--frames",
        "400",
        "--check-every",
        "5",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let outcome: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(outcome["frames"], 400);
    assert_eq!(outcome["runs"], 1);
    assert_eq!(outcome["checks_evaluated"], 79, "frames 10, 15, ..., 400");
    assert!(
        outcome["frame_p95_ms"][1].as_f64().unwrap() > 0.0,
        "{outcome}"
    );
    assert!(
        outcome["rss_bytes"].as_array().unwrap().len() >= 80,
        "{outcome}"
    );
}

#[test]
fn a_reader_that_closes_the_pipe_early_ends_loam_quietly() {
    // `loam … | head` or `| grep -q`: the reader goes before loam has printed
    // everything. Before, `println!` panicked with a backtrace and failed a
    // `pipefail` script.
    for args in [
        &["materials", "--data"][..],
        &["graph", "scenarios/sandbox.toml"],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_loam"))
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("loam starts");
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("loam ends");
        assert!(
            out.status.success(),
            "{args:?}: {:?} {}",
            out.status,
            stderr(&out)
        );
        assert!(
            !stderr(&out).contains("panicked"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
}
