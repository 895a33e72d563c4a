//! Every kind of mistake in a scenario file is an error naming the file,
//! line and column, never a panic.

use std::path::Path;

use loam::{Check, Scenario, ScenarioError};

fn parse(text: &str) -> Result<Scenario, ScenarioError> {
    Scenario::parse(text, Path::new("test.toml"))
}

fn error_at(text: &str, line: usize, column: usize, needle: &str) {
    assert!(!needle.is_empty(), "say what the message must contain");
    let e = parse(text).expect_err("the scenario should be rejected");
    assert_eq!((e.line, e.column), (line, column), "{e}");
    assert!(
        e.message.contains(needle),
        "`{}` should mention `{needle}`",
        e.message
    );
    assert!(
        e.to_string()
            .starts_with(&format!("test.toml:{line}:{column}: ")),
        "{e}"
    );
}

const WORLD: &str = "[world]\nsize = [64, 64, 64]\n";

#[test]
fn the_readmes_example_error_is_the_error_loam_gives() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let shown = readme
        .lines()
        .find(|l| l.starts_with("error: scenarios/mine.toml:"))
        .expect("the README shows a scenario error");
    let text = "[world]\nsize = [64, 64, 64]\n\n[[fill]]\nshape = \"box\"\nmin = [0, 0, 0]\n\
                material = \"sandd\"\nmax = [8, 8, 8]\n";
    let e = Scenario::parse(text, Path::new("scenarios/mine.toml")).unwrap_err();
    assert_eq!(format!("error: {e}"), shown);
}

#[test]
fn minimal_scenario_has_sane_defaults() {
    let s = parse(WORLD).unwrap();
    assert_eq!(s.world.page, 32);
    assert_eq!(s.world.seed, 0);
    assert_eq!(s.run.frames, 600);
    assert!((s.run.dt - 1.0 / 60.0).abs() < 1e-12);
    assert_eq!(s.name, "test");
}

#[test]
fn invalid_toml_syntax() {
    error_at(
        "[world\nsize = [64, 64, 64]\n",
        1,
        7,
        "unclosed table, expected `]`",
    );
}

#[test]
fn unknown_top_level_key() {
    error_at(
        &format!("{WORLD}[wrld]\nx = 1\n"),
        3,
        2,
        "unknown field `wrld`",
    );
}

#[test]
fn unknown_key_in_a_section() {
    error_at(
        &format!("{WORLD}[run]\nframez = 10\n"),
        4,
        1,
        "unknown field `framez`",
    );
}

#[test]
fn wrong_type() {
    error_at(
        "[world]\nsize = \"big\"\n",
        2,
        8,
        "invalid type: string \"big\", expected an array of length 3",
    );
}

#[test]
fn missing_world() {
    let e = parse("[run]\nframes = 3\n").unwrap_err();
    assert!(e.message.contains("missing field `world`"), "{e}");
}

#[test]
fn world_size_not_a_multiple_of_the_page() {
    error_at(
        "[world]\nsize = [64, 40, 64]\n",
        2,
        8,
        "multiple of the page size",
    );
}

#[test]
fn world_too_large_for_memory() {
    error_at(
        "[world]\nsize = [65536, 1024, 65536]\n",
        2,
        8,
        "at most 2^31 fit",
    );
}

const STREAMED: &str = "[world]\nsize = [8192, 256, 8192]\nfile = \"w.loam\"\n";

#[test]
fn a_streamed_world_may_be_huge_but_its_budget_may_not() {
    let ok = format!(
        "{STREAMED}resident_pages = 100\n[[observer]]\npath = [[1, 2, 3, 0]]\nradius = 10.0\n"
    );
    let s = parse(&ok).unwrap();
    let storage = s.world.storage.unwrap();
    assert_eq!(storage.file, Path::new("w.loam"));
    assert_eq!(storage.resident_pages, Some(100));
    error_at(
        &format!("{STREAMED}resident_pages = 1000000\n"),
        4,
        18,
        "at most 2^31",
    );
}

#[test]
fn streaming_keys_are_checked() {
    error_at(
        "[world]\nsize = [64, 64, 64]\nresident_pages = 4\n",
        3,
        18,
        "needs a streamed world",
    );
    error_at(
        "[world]\nsize = [64, 64, 64]\ntrusted = true\n",
        3,
        11,
        "`trusted` needs a streamed world",
    );
    error_at(
        &format!("{STREAMED}trusted = 1\n"),
        4,
        11,
        "expected a boolean",
    );
    error_at(
        "[world]\nsize = [64, 64, 64]\ncommit = 3\n",
        3,
        10,
        "`commit` needs a streamed world",
    );
    error_at(&format!("{STREAMED}commit = -1\n"), 4, 10, "invalid value");
    error_at(
        &format!("{STREAMED}save = \"on_exit\"\ncommit = 3\n"),
        5,
        10,
        "never to save over it",
    );
    error_at(
        &format!("{STREAMED}commit = 3\nresume = true\n"),
        5,
        10,
        "use one or the other",
    );
    error_at(&format!("{STREAMED}io = \"fast\"\n"), 4, 6, "unknown io");
    error_at(
        &format!("{STREAMED}save = \"every_n_frames\"\n"),
        4,
        8,
        "save_every",
    );
    error_at(
        &format!("{STREAMED}save = \"sometimes\"\n"),
        4,
        8,
        "unknown save",
    );
    error_at(
        &format!("{STREAMED}resident_pages = 10\n"),
        4,
        18,
        "no [[observer]]",
    );
    error_at(
        &format!("{STREAMED}resident_pages = 10\n[[observer]]\npath = [[1, 2, 3, 5], [4, 5, 6, 5]]\nradius = 3.0\n"),
        6,
        8,
        "must come after",
    );
    error_at(
        &format!(
            "{STREAMED}resident_pages = 10\n[[observer]]\npath = [[1, 2, 3, 0]]\nradius = -3.0\n"
        ),
        7,
        10,
        "radius",
    );
    error_at(
        "[world]\nsize = [64, 64, 64]\n[[observer]]\npath = [[1, 2, 3, 0]]\nradius = 3.0\n",
        3,
        1,
        "streamed world",
    );
}

#[test]
fn bad_page_size() {
    error_at(
        "[world]\nsize = [64, 64, 64]\npage = 24\n",
        3,
        8,
        "power of two",
    );
}

#[test]
fn unknown_material() {
    let text = format!("{WORLD}[[fill]]\nshape = \"box\"\nmin = [0, 0, 0]\nmax = [8, 8, 8]\nmaterial = \"sandd\"\n");
    error_at(&text, 7, 12, "unknown material `sandd`");
}

#[test]
fn unknown_shape() {
    error_at(
        &format!("{WORLD}[[fill]]\nshape = \"cube\"\nmaterial = \"sand\"\n"),
        4,
        9,
        "unknown shape `cube`",
    );
}

#[test]
fn box_outside_the_world() {
    let text = format!("{WORLD}[[fill]]\nshape = \"box\"\nmin = [0, 0, 0]\nmax = [65, 8, 8]\nmaterial = \"sand\"\n");
    error_at(&text, 6, 7, "at most the world size");
}

#[test]
fn sphere_centre_outside_the_world() {
    let text = format!("{WORLD}[[fill]]\nshape = \"sphere\"\ncenter = [10, -5, 10]\nradius = 2.0\nmaterial = \"sand\"\n");
    error_at(&text, 5, 10, "outside the world");
}

#[test]
fn missing_required_key() {
    let text = format!("{WORLD}[[fill]]\nshape = \"box\"\nmin = [0, 0, 0]\nmaterial = \"sand\"\n");
    error_at(&text, 3, 1, "missing key `max`");
}

#[test]
fn key_that_does_not_belong_to_the_shape_or_section() {
    let text = format!("{WORLD}[[fill]]\nshape = \"box\"\nmin = [0, 0, 0]\nmax = [8, 8, 8]\nradius = 3.0\nmaterial = \"sand\"\n");
    error_at(&text, 7, 10, "does not belong in [[fill]] of shape `box`");
    let text = format!("{WORLD}[[fill]]\nshape = \"sphere\"\ncenter = [1, 1, 1]\nradius = 2.0\nscale = 4.0\nmaterial = \"sand\"\n");
    error_at(&text, 7, 9, "does not belong in [[fill]] of shape `sphere`");
    let text = format!("{WORLD}[[fill]]\nframes = [0, 3]\nshape = \"box\"\n");
    error_at(&text, 4, 10, "does not belong in [[fill]]");
}

#[test]
fn bad_numbers() {
    error_at(&format!("{WORLD}[run]\ndt = -1.0\n"), 4, 6, "dt must be");
    error_at(
        &format!("{WORLD}[run]\nbackend = \"quantum\"\n"),
        4,
        11,
        "unknown backend",
    );
    error_at(
        &format!("{WORLD}[run]\ngpu_automaton = \"yes\"\n"),
        4,
        17,
        "expected a boolean",
    );
    error_at(
        &format!("{WORLD}[run]\nframe_budget_ms = 0.0\n"),
        4,
        19,
        "frame_budget_ms must be",
    );
    error_at(
        &format!("{WORLD}[run]\nframe_budget_ms = 16.0\n"),
        4,
        19,
        "needs a streamed world with observers",
    );
    let streamed = "[world]\nsize = [64, 64, 64]\nfile = \"w.loam\"\nobservers_from_code = true\n";
    error_at(
        &format!("{streamed}[run]\nlod = \"adaptive\"\n"),
        6,
        7,
        "set frame_budget_ms",
    );
    error_at(
        &format!("{streamed}[run]\nframe_budget_ms = 16.0\nlod = \"smart\"\n"),
        7,
        7,
        "unknown lod `smart` (expected fixed or adaptive)",
    );
    error_at(
        &format!("{streamed}[run]\nframe_budget_ms = 16.0\nlod_near = -3.0\n"),
        7,
        12,
        "lod_near must be",
    );
    error_at(
        &format!("{streamed}[run]\nframe_budget_ms = 16.0\ngpu_automaton = true\n"),
        6,
        19,
        "cannot be used with gpu_automaton",
    );
    assert!(parse(&format!(
        "{streamed}[run]\nframe_budget_ms = 16.0\nlod_near = 40.0\n"
    ))
    .is_ok());
    error_at(
        &format!("{WORLD}[run]\nplace_cells_per_frame = 0\n"),
        4,
        25,
        "place_cells_per_frame must be at least 1",
    );
    let text = format!("{WORLD}[[emitter]]\nmaterial = \"water\"\ncenter = [1, 1, 1]\nradius = 1.0\nframes = [9, 3]\n");
    error_at(&text, 7, 10, "start <= end");
    let text = format!("{WORLD}[[fill]]\nshape = \"sphere\"\ncenter = [1, 1, 1]\nradius = 2.0\nmaterial = \"sand\"\ntemperature = -4.0\n");
    error_at(&text, 8, 15, "temperature");
    let text = format!("{WORLD}[[fill]]\nshape = \"sphere\"\ncenter = [1, 1, 1]\nradius = 2.0\nmaterial = \"sand\"\ntemperature = 1e300\n");
    error_at(&text, 8, 15, "temperature");
}

#[test]
fn bad_commands_and_checks() {
    error_at(
        &format!("{WORLD}[[command]]\nframe = 3\nkind = \"nuke\"\n"),
        5,
        8,
        "unknown command kind",
    );
    error_at(
        &format!("{WORLD}[[check]]\nkind = \"vibes\"\n"),
        4,
        8,
        "unknown check kind",
    );
    error_at(
        &format!("{WORLD}[[check]]\nkind = \"count\"\nmaterial = \"sand\"\n"),
        3,
        1,
        "needs `min`, `max`",
    );
    error_at(
        &format!("{WORLD}[[check]]\nkind = \"settled\"\nmaterial = \"sand\"\n"),
        5,
        12,
        "check `settled` takes no `material`",
    );
    error_at(
        &format!("{WORLD}[[check]]\nkind = \"level\"\nmaterial = \"water\"\nfrom = [0, 0, 0]\n"),
        3,
        1,
        "missing key `to`",
    );
    error_at(
        &format!(
            "{WORLD}[[check]]\nkind = \"level\"\nmaterial = \"water\"\nfrom = [0, 0, 0]\nto = [64, 99, 64]\n"
        ),
        7,
        6,
        "to [64, 99, 64] must be above from [0, 0, 0] and at most the world size [64, 64, 64]",
    );
    error_at(
        &format!(
            "{WORLD}[[check]]\nkind = \"count\"\nmaterial = \"sand\"\nmin = 1\ntolerance = 1\n"
        ),
        7,
        13,
        "check `count` takes no `tolerance`",
    );
}

#[test]
fn a_full_scenario_parses_into_typed_values() {
    let text = format!(
        "{WORLD}[[command]]\nframe = 5\nkind = \"place\"\nshape = \"sphere\"\ncenter = [8, 8, 8]\nradius = 2.0\nmaterial = \"lava\"\n\
         [[check]]\nkind = \"count\"\nmaterial = \"sand\"\nmin = 3\n"
    );
    let s = parse(&text).unwrap();
    assert_eq!(s.commands.len(), 1);
    assert_eq!(s.commands[0].frame, 5);
    assert_eq!(
        s.checks,
        vec![Check::Count {
            material: 2,
            min: Some(3),
            max: None,
            region: None,
        }]
    );
}

#[test]
fn shipped_scenarios_parse() {
    for entry in std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios")).unwrap()
    {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}

#[test]
fn phase_keys_and_heat_commands_are_checked() {
    let s = parse(&format!(
        "{WORLD}pressure = 34000.0\nvoxel_size = 0.5\n[systems]\nphase_stagger = 4\n\
         [[command]]\nkind = \"heat\"\nmin = [1, 1, 1]\nmax = [4, 4, 4]\ntemperature = 380.0\nframes = [10, 20]\n"
    ))
    .unwrap();
    assert_eq!((s.world.pressure, s.world.voxel_size), (34000.0, 0.5));
    assert_eq!(s.systems.phase_stagger, 4);
    assert_eq!(
        s.commands[0].frame, 10,
        "a heat command starts with its frames"
    );
    error_at(&format!("{WORLD}pressure = -1.0\n"), 3, 12, "pressure");
    error_at(&format!("{WORLD}voxel_size = 0.0\n"), 3, 14, "voxel_size");
    error_at(
        &format!("{WORLD}[systems]\nphase_stagger = 0\n"),
        4,
        17,
        "at least 1",
    );
    let heat = "[[command]]\nkind = \"heat\"\nmin = [1, 1, 1]\n";
    error_at(
        &format!("{WORLD}{heat}max = [99, 4, 4]\ntemperature = 380.0\n"),
        6,
        7,
        "at most the world size",
    );
    error_at(
        &format!("{WORLD}{heat}max = [4, 4, 4]\n"),
        3,
        1,
        "needs `temperature`",
    );
    error_at(
        &format!("{WORLD}{heat}max = [4, 4, 4]\ntemperature = 380.0\nmaterial = \"sand\"\n"),
        8,
        12,
        "does not belong",
    );
}

#[test]
fn explode_wind_and_pressure_commands_are_checked() {
    let s = parse(&format!(
        "{WORLD}[[command]]\nframe = 5\nkind = \"explode\"\ncenter = [32, 10, 32]\nradius = 8.0\nstrength = 2.0e6\n\
         [[command]]\nkind = \"wind\"\nmin = [0, 0, 0]\nmax = [64, 64, 64]\ndirection = [2, 0, 0]\nstrength = 12.0\ngust = 0.3\nframes = [0, 60]\n\
         [[command]]\nkind = \"pressure\"\nmin = [0, 0, 0]\nmax = [8, 8, 8]\npressure = -50000.0\n"
    ))
    .unwrap();
    assert_eq!(s.commands.len(), 3);
    match &s.commands[1].command {
        loam::Command::Wind(w) => assert_eq!(w.direction, [1.0, 0.0, 0.0], "normalised"),
        other => panic!("{other:?}"),
    }
    let boom = "[[command]]\nframe = 5\nkind = \"explode\"\ncenter = [32, 10, 32]\nradius = 8.0\n";
    error_at(
        &format!("{WORLD}{boom}strength = -1.0\n"),
        8,
        12,
        "overpressure",
    );
    error_at(&format!("{WORLD}{boom}"), 3, 1, "strength");
    let wind = "[[command]]\nkind = \"wind\"\nmin = [0, 0, 0]\nmax = [8, 8, 8]\nstrength = 5.0\n";
    error_at(
        &format!("{WORLD}{wind}direction = [0, 0, 0]\n"),
        8,
        13,
        "non-zero",
    );
    error_at(
        &format!("{WORLD}{wind}direction = [1, 0, 0]\ngust = 2.0\n"),
        9,
        8,
        "gust",
    );
    error_at(
        &format!("{WORLD}[[command]]\nkind = \"pressure\"\nmin = [0, 0, 0]\nmax = [8, 8, 8]\npressure = -2.0e5\n"),
        7,
        12,
        "no pressure at all",
    );
}

#[test]
fn soft_body_names_are_unique_copies_of_a_repeat_included() {
    let body = |name: &str| {
        format!(
            "[[softbody]]\nname = \"{name}\"\nshape = \"box\"\nmin = [1, 1, 1]\nmax = [5, 5, 5]\nmaterial = \"jelly\"\n"
        )
    };
    // Lines: 1-2 the world, 3-8 the first body, 9-14 the second.
    error_at(
        &format!("{WORLD}{}{}", body("j"), body("j")),
        10,
        8,
        "soft body name `j` is already used on line 4: names must be unique",
    );
    let grass = "[[softbody]]\nname = \"g\"\nshape = \"box\"\nmin = [1, 1, 1]\nmax = [3, 5, 3]\nmaterial = \"jelly\"\nrepeat = [2, 2]\nspacing = [4, 4]\n";
    error_at(
        &format!("{WORLD}{grass}{}", body("g.1.0")),
        12,
        8,
        "soft body name `g.1.0` is already used on line 4",
    );
}

#[test]
fn a_count_check_may_count_a_box() {
    let s = parse(&format!(
        "{WORLD}[[check]]\nkind = \"count\"\nmaterial = \"co2\"\nfrom = [1, 2, 3]\nto = [4, 5, 6]\nmin = 7\n"
    ))
    .unwrap();
    assert_eq!(
        s.checks,
        vec![Check::Count {
            material: 15,
            min: Some(7),
            max: None,
            region: Some(([1, 2, 3], [4, 5, 6])),
        }]
    );
    error_at(
        &format!(
            "{WORLD}[[check]]\nkind = \"count\"\nmaterial = \"co2\"\nfrom = [1, 2, 3]\nmin = 7\n"
        ),
        3,
        1,
        "missing key `to`",
    );
}

#[test]
fn a_file_that_cannot_be_read_names_no_line() {
    let e = Scenario::load(Path::new("no/such/scenario.toml")).unwrap_err();
    assert_eq!((e.line, e.column), (0, 0));
    assert!(
        e.to_string()
            .starts_with("no/such/scenario.toml: cannot read the file: "),
        "{e}"
    );
}

#[test]
fn soft_bodies_are_checked() {
    let body = "[[softbody]]\nname = \"j\"\nshape = \"box\"\nmin = [1, 1, 1]\nmax = [5, 5, 5]\n";
    let s = parse(&format!("{WORLD}{body}material = \"jelly\"\n")).unwrap();
    assert_eq!(s.soft_bodies[0].voxels, [4, 4, 4]);
    assert_eq!(
        s.soft_bodies[0].solver,
        loam::loam_systems::xpbd::Solver::GramSchmidt,
        "Gram-Schmidt by default"
    );
    let s = parse(&format!(
        "{WORLD}{body}material = \"jelly\"\nsolver = \"distance\"\n"
    ))
    .unwrap();
    assert_eq!(
        s.soft_bodies[0].solver,
        loam::loam_systems::xpbd::Solver::Distance
    );
    error_at(
        &format!("{WORLD}{body}material = \"custard\"\n"),
        8,
        12,
        "unknown soft material",
    );
    error_at(
        &format!("{WORLD}{body}material = \"jelly\"\nsolver = \"springs\"\n"),
        9,
        10,
        "unknown solver `springs`",
    );
    error_at(
        &format!("{WORLD}[[softbody]]\nname = \"b\"\nshape = \"sphere\"\ncenter = [2, 2, 2]\nradius = 5.0\nmaterial = \"rubber\"\n"),
        6,
        10,
        "inside the world",
    );
    error_at(
        &format!("{WORLD}{body}material = \"jelly\"\nvoxel = 0.0\n"),
        9,
        9,
        "voxel",
    );
}

/// A scenario built in code breaks the same rule as a file with the same
/// value, with the same words: the rules are written once.
#[test]
fn a_scenario_in_code_and_a_file_break_a_rule_with_the_same_message() {
    type Edit = fn(&mut Scenario);
    let cases: [(&str, Edit); 7] = [
        ("[world]\nsize = [64, 64, 64]\nvoxel_size = 500.0\n", |s| {
            s.world.voxel_size = 500.0
        }),
        ("[world]\nsize = [64, 64, 64]\npressure = 0.5\n", |s| {
            s.world.pressure = 0.5
        }),
        ("[world]\nsize = [64, 64, 64]\n[run]\ndt = 2.0\n", |s| {
            s.run.dt = 2.0
        }),
        ("[world]\nsize = [64, 64, 64]\n[run]\nsubsteps = 0\n", |s| {
            s.run.substeps = 0
        }),
        (
            "[world]\nsize = [64, 64, 64]\n[run]\nthreads = 5000\n",
            |s| s.run.threads = 5000,
        ),
        (
            "[world]\nsize = [64, 64, 64]\n[run]\nframe_budget_ms = 16.0\n",
            |s| s.run.frame_budget_ms = Some(16.0),
        ),
        (
            "[world]\nsize = [64, 64, 64]\n[systems]\nphase_stagger = 0\n",
            |s| s.systems.phase_stagger = 0,
        ),
    ];
    for (text, edit) in cases {
        let from_file = parse(text).expect_err(text).message;
        let mut scenario = Scenario::empty("test", [64, 64, 64]);
        edit(&mut scenario);
        let from_code = scenario.validate().expect_err(text);
        assert_eq!(from_file, from_code, "{text}");
    }
}
