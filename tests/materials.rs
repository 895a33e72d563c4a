//! A scenario's own materials and reactions, from its file and from a
//! materials file it names: they run, and every mistake is reported at its
//! file, line and column.

use std::path::{Path, PathBuf};

use loam::{Runtime, Scenario};

const SCENARIO: &str = r#"
[world]
size = [32, 32, 32]
page = 16

[run]
frames = 40

[[material]]
name = "acid"
kind = "liquid"
density = 1200.0
heat_capacity = 3.9e6
color = [120, 230, 60]

[[reaction]]
a = "acid"
b = "stone"
into = ["air", "acid"]
rate = 0.5

[[fill]]
shape = "box"
min = [0, 0, 0]
max = [32, 8, 32]
material = "stone"

[[fill]]
shape = "box"
min = [8, 8, 8]
max = [24, 10, 24]
material = "acid"
"#;

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("loam-materials-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn parse(text: &str, path: &Path) -> Result<Scenario, String> {
    Scenario::parse(text, path).map_err(|e| e.to_string())
}

#[test]
fn a_scenario_s_own_acid_eats_its_stone() {
    let scenario = parse(SCENARIO, Path::new("acid.toml")).unwrap();
    let acid = scenario.materials.id("acid").unwrap();
    assert_eq!(acid, 16, "new materials follow the built-in ones");
    let mut rt = Runtime::new(scenario).unwrap();
    let stone_before = rt.report().materials["stone"].count;
    rt.run(40).unwrap();
    let report = rt.report();
    assert_eq!(
        report.materials["acid"].count,
        16 * 16 * 2,
        "acid is conserved"
    );
    assert!(
        report.materials["stone"].count < stone_before,
        "no stone eaten"
    );
    assert!(
        report.materials["acid"].min_y < 8,
        "the acid went into the floor"
    );
}

#[test]
fn a_materials_file_is_read_relative_to_the_scenario_and_its_errors_are_placed_in_it() {
    let d = dir("file");
    let (defs, rest) = SCENARIO.split_at(SCENARIO.find("[[material]]").unwrap());
    let (materials, fills) = rest.split_at(rest.find("[[fill]]").unwrap());
    std::fs::write(d.join("mine.toml"), materials).unwrap();
    let text = format!("materials = \"mine.toml\"\n{defs}{fills}");
    let path = d.join("scenario.toml");
    let scenario = parse(&text, &path).unwrap();
    assert_eq!(scenario.materials.id("acid"), Some(16));
    assert_eq!(scenario.materials.reactions().len(), 8);

    std::fs::write(d.join("mine.toml"), materials.replace("1200.0", "-1200.0")).unwrap();
    let e = parse(&text, &path).unwrap_err();
    let file = d.join("mine.toml");
    assert!(
        e.starts_with(&format!("{}:4:11: density must be", file.display())),
        "{e}"
    );
    let missing = text.replace("mine.toml", "absent.toml");
    let e = parse(&missing, &path).unwrap_err();
    assert!(e.contains(":1:13: cannot read materials file"), "{e}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn every_mistake_in_a_definition_is_reported_at_its_value() {
    let path = Path::new("s.toml");
    // (replace, with, where the error points, what it says)
    let cases = [
        (
            "kind = \"liquid\"",
            "kind = \"plasma\"",
            "\"plasma\"",
            "unknown variant `plasma`",
        ),
        (
            "density = 1200.0",
            "density = 0.0",
            "0.0",
            "density must be a positive",
        ),
        ("rate = 0.5", "rate = 1.5", "1.5", "rate must be a chance"),
        (
            "b = \"stone\"",
            "b = \"marble\"",
            "\"marble\"",
            "unknown material `marble`",
        ),
        (
            "into = [\"air\", \"acid\"]",
            "into = [\"acid\"]",
            "[\"acid\"]",
            "into names 1 material",
        ),
        (
            "b = \"stone\"\ninto = [\"air\", \"acid\"]",
            "b = \"air\"\ninto = [\"acid\", \"acid\"]",
            "[\"acid\", \"acid\"]",
            "creates_matter = true",
        ),
        (
            "name = \"acid\"",
            "name = \"water\"",
            "\"water\"",
            "override = true",
        ),
    ];
    for (from, to, at, words) in cases {
        let text = SCENARIO.replacen(from, to, 1);
        let offset = text.find(to).unwrap() + to.find(at).unwrap();
        let line = text[..offset].matches('\n').count() + 1;
        let column = offset - text[..offset].rfind('\n').unwrap();
        let e = parse(&text, path).unwrap_err();
        assert!(
            e.starts_with(&format!("s.toml:{line}:{column}: ")),
            "{to}: {e}"
        );
        assert!(e.contains(words), "{to}: {e}");
    }
    // A second reaction for the pair, either way round, is placed at itself.
    let twice = format!(
        "{SCENARIO}\n[[reaction]]\na = \"stone\"\nb = \"acid\"\ninto = [\"sand\", \"air\"]\nrate = 0.1\n"
    );
    let line = twice[..twice.rfind("[[reaction]]").unwrap()]
        .matches('\n')
        .count()
        + 1;
    let e = parse(&twice, path).unwrap_err();
    assert!(e.starts_with(&format!("s.toml:{line}:")), "{e}");
    assert!(e.contains("conflicts with reaction 7 (acid + stone"), "{e}");
}

#[test]
fn commands_from_code_may_name_the_scenario_s_materials_and_no_others() {
    let scenario = parse(SCENARIO, Path::new("acid.toml")).unwrap();
    let rt = Runtime::new(scenario).unwrap();
    let place = |material| {
        loam::Command::Place(loam::Fill {
            shape: loam::Shape::Sphere {
                center: [16.0, 20.0, 16.0],
                radius: 2.0,
            },
            material,
            temperature: None,
        })
    };
    let sender = rt.command_sender();
    assert!(sender.send(place(16)).is_ok());
    let e = sender.send(place(17)).unwrap_err();
    assert!(
        e.to_string().contains("material id 17 is not in the table"),
        "{e}"
    );
}

#[test]
fn a_scenario_s_own_substance_boils_in_a_heat_bath() {
    let ethanol = include_str!("../systems/tests/data/ethanol.toml");
    let text = ethanol.to_string()
        + r#"
[world]
size = [32, 32, 32]
page = 16

[[fill]]
shape = "box"
min = [0, 0, 0]
max = [32, 2, 32]
material = "stone"

[[fill]]
shape = "box"
min = [8, 2, 8]
max = [24, 3, 24]
material = "ethanol"

[[command]]
kind = "heat"
min = [0, 0, 0]
max = [32, 4, 32]
temperature = 345.0
frames = [0, 30]

[[command]]
kind = "heat"
min = [0, 0, 0]
max = [32, 4, 32]
temperature = 360.0
frames = [30, 60]
"#;
    let mut rt = Runtime::new(parse(&text, Path::new("ethanol.toml")).unwrap()).unwrap();
    rt.run(30).unwrap();
    let vapour = |rt: &Runtime| {
        rt.report()
            .materials
            .get("ethanol_vapour")
            .map_or(0, |m| m.count)
    };
    assert_eq!(vapour(&rt), 0, "ethanol boiled at 345 K, below its 351 K");
    rt.run(30).unwrap();
    assert!(
        vapour(&rt) > 128,
        "{} of 256 cells boiled at 360 K",
        vapour(&rt)
    );
    let report = rt.report();
    assert!(
        report.phases.contains_key("ethanol"),
        "{:?}",
        report.phases.keys()
    );
}

#[test]
fn blasts_reach_the_fields_only_in_a_world_whose_reactions_blast() {
    let jobs = |text: &str| {
        let mut rt = Runtime::new(parse(text, Path::new("s.toml")).unwrap()).unwrap();
        rt.engine_mut().describe_graph().unwrap()
    };
    assert!(!jobs(SCENARIO).contains("fields.blasts"));
    let blasting = SCENARIO.replacen("rate = 0.5", "rate = 0.5\nblast_pressure = 1.0e5", 1);
    let graph = jobs(&blasting);
    assert!(graph.contains("fields.blasts"), "{graph}");
    // A blast with no pressure is refused where it is.
    let e = parse(
        &SCENARIO.replacen("rate = 0.5", "rate = 0.5\nblast_radius = 2.0", 1),
        Path::new("s.toml"),
    )
    .unwrap_err();
    assert!(e.contains("a blast needs blast_pressure"), "{e}");
    // And the blasts move the world: acid eating its floor blasts sand off it.
    let sandy = format!(
        "{blasting}\n[[fill]]\nshape = \"box\"\nmin = [8, 10, 8]\nmax = [24, 12, 24]\nmaterial = \"sand\"\n"
    );
    let mut rt = Runtime::new(parse(&sandy, Path::new("s.toml")).unwrap()).unwrap();
    rt.run(20).unwrap();
    let sand = &rt.report().materials["sand"];
    assert_eq!(sand.count, 16 * 16 * 2, "sand is conserved");
    assert!(
        sand.max_y > 12,
        "no sand was thrown up (max y {})",
        sand.max_y
    );
}

#[test]
fn a_world_file_made_with_some_materials_is_not_read_with_others() {
    let d = dir("file-materials");
    let streamed = |name: &str| {
        let mut s = parse(
            &SCENARIO.replace("\"acid\"", &format!("\"{name}\"")),
            Path::new("s.toml"),
        )
        .unwrap();
        s.world.storage = Some(loam::StorageSpec::new(d.join("w.loam")));
        s
    };
    let mut rt = Runtime::new(streamed("acid")).unwrap();
    rt.run(5).unwrap();
    rt.finish().unwrap();
    drop(rt);
    // Id 16 is acid in the file: a scenario whose id 16 is slime is refused.
    let e = Runtime::new(streamed("slime"))
        .err()
        .expect("refused")
        .to_string();
    assert!(e.contains("other [[fill]]s or materials"), "{e}");
    let mut same = Runtime::new(streamed("acid")).unwrap();
    assert!(same.report().materials.contains_key("acid"));
    same.run(1).unwrap();
    let _ = std::fs::remove_dir_all(&d);
}
