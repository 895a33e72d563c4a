//! Every bad material or reaction is refused with the key at fault and a
//! message saying what is wrong.

use loam_systems::materials::{
    id, Item, Kind, Material, MaterialError, MaterialTable, MaterialsBuilder, MaterialsData,
    Reaction, MAX_MATERIALS, MAX_REACTIONS,
};

fn acid() -> Material {
    Material::new("acid", Kind::Liquid, 1200.0, 3.9e6)
}

/// The error of adding `m` to the built-in set.
fn material_error(m: Material) -> MaterialError {
    MaterialTable::builder().add(m).unwrap_err()
}

/// The error of adding `r` (acid is id 16).
fn reaction_error(r: Reaction) -> MaterialError {
    let mut b = MaterialTable::builder();
    b.add(acid()).unwrap();
    b.react(r).unwrap_err()
}

#[test]
fn bad_materials_are_refused_naming_the_key() {
    let cases: Vec<(Material, &str, &str)> = vec![
        (
            Material {
                density: -1.0,
                ..acid()
            },
            "density",
            "positive",
        ),
        (
            Material {
                density: f32::NAN,
                ..acid()
            },
            "density",
            "positive",
        ),
        (
            Material {
                heat_capacity: 0.0,
                ..acid()
            },
            "heat_capacity",
            "positive",
        ),
        (
            Material {
                conductivity: 0.7,
                ..acid()
            },
            "conductivity",
            "[0, 0.5]",
        ),
        (
            Material {
                strength: -5.0,
                ..acid()
            },
            "strength",
            "≥ 0",
        ),
        (
            Material {
                spawn_temperature: f32::INFINITY,
                ..acid()
            },
            "temperature",
            "(0,",
        ),
        (
            Material {
                ignition: Some(-3.0),
                ..acid()
            },
            "ignition",
            "(0,",
        ),
        (
            Material {
                spread: 0.5,
                ..acid()
            },
            "spread",
            "only a fire",
        ),
        (
            Material {
                kind: Kind::Empty,
                ..acid()
            },
            "kind",
            "only air",
        ),
        (
            Material {
                name: "sour acid".into(),
                ..acid()
            },
            "name",
            "letters",
        ),
        (
            Material {
                name: String::new(),
                ..acid()
            },
            "name",
            "letters",
        ),
        (
            Material::new("water", Kind::Liquid, 1000.0, 4e6),
            "name",
            "override = true",
        ),
    ];
    for (m, field, words) in cases {
        let e = material_error(m.clone());
        assert_eq!(e.field, Some(field), "{m:?}: {e}");
        assert!(e.message.contains(words), "{m:?}: {e}");
        assert_eq!(e.item, Item::Material(m.name.clone()));
    }
    let fire = Material {
        ignition: Some(500.0),
        ..Material::new("hot", Kind::Fire, 0.3, 330.0)
    };
    assert_eq!(material_error(fire).field, Some("ignition"));
}

#[test]
fn more_than_255_materials_are_refused() {
    let mut b = MaterialTable::builder();
    let builtin = MaterialTable::default().len();
    for k in builtin..MAX_MATERIALS {
        b.add(Material::new(format!("m{k}"), Kind::Powder, 1500.0, 1e6))
            .unwrap();
    }
    let e = b
        .add(Material::new("one_too_many", Kind::Powder, 1500.0, 1e6))
        .unwrap_err();
    assert!(e.message.contains("more than 255 materials"), "{e}");
    assert_eq!(b.build().unwrap().len(), MAX_MATERIALS);
}

#[test]
fn more_than_4096_reactions_are_refused() {
    let mut b = MaterialTable::builder();
    let first = MaterialTable::default().reactions().len();
    // Single-cell reactions of one material over narrow, apart windows.
    for k in first..MAX_REACTIONS {
        let t = 10.0 + 2.0 * k as f32;
        b.react(
            Reaction::single(id::SAND, id::GRAVEL, 0.1)
                .above(t)
                .below(t + 1.0),
        )
        .unwrap();
    }
    let e = b
        .react(Reaction::single(id::STONE, id::SAND, 0.1))
        .unwrap_err();
    assert!(e.message.contains("more than 4096 reactions"), "{e}");
    let table = b.build().unwrap();
    assert_eq!(table.reactions().len(), MAX_REACTIONS);
}

#[test]
fn overriding_keeps_the_id_and_needs_the_material_to_exist() {
    let mut b = MaterialTable::builder();
    let water = Material {
        color: [0, 0, 255],
        ..Material::new("water", Kind::Liquid, 1000.0, 4.18e6)
    };
    assert_eq!(b.replace(water).unwrap(), id::WATER);
    let e = b.replace(acid()).unwrap_err();
    assert_eq!(e.field, Some("override"));
    let air = Material::new("air", Kind::Gas, 1.2, 1206.0);
    assert_eq!(b.replace(air).unwrap_err().field, Some("kind"));
    let table = b.build().unwrap();
    assert_eq!(table.get(id::WATER).unwrap().color, [0, 0, 255]);
}

#[test]
fn bad_reactions_are_refused_naming_the_key() {
    let acid = 16;
    let cases: Vec<(Reaction, &str, &str)> = vec![
        (Reaction::single(200, id::AIR, 0.1), "a", "no material"),
        (
            Reaction::pair(acid, 99, [acid, acid], 0.1),
            "b",
            "no material",
        ),
        (Reaction::single(acid, 77, 0.1), "into", "no material"),
        (Reaction::single(id::AIR, id::SAND, 0.1), "a", "empty space"),
        (Reaction::single(acid, id::AIR, 1.5), "rate", "[0, 1]"),
        (Reaction::single(acid, id::AIR, f32::NAN), "rate", "[0, 1]"),
        (
            Reaction::single(acid, id::AIR, 0.1).above(-4.0),
            "min_temperature",
            "[0,",
        ),
        (
            Reaction::single(acid, id::AIR, 0.1).below(f32::NAN),
            "max_temperature",
            "[0,",
        ),
        (
            Reaction::single(acid, id::AIR, 0.1)
                .above(400.0)
                .below(300.0),
            "max_temperature",
            "never happen",
        ),
        (
            Reaction::single(acid, id::AIR, 0.1).releasing(f32::INFINITY),
            "heat",
            "J/m³",
        ),
        (
            Reaction::pair(acid, id::WOOD, [acid, id::FIRE], 0.1).releasing(1e6),
            "heat",
            "flame",
        ),
        (
            Reaction::pair(acid, id::AIR, [acid, acid], 0.1),
            "into",
            "creates_matter",
        ),
        (
            Reaction::single(acid, id::STONE, 0.1).products_at_least([Some(f32::NAN), None]),
            "min_product_temperature",
            "[0,",
        ),
    ];
    for (r, field, words) in cases {
        let e = reaction_error(r.clone());
        assert_eq!(e.field, Some(field), "{r:?}: {e}");
        assert!(e.message.contains(words), "{r:?}: {e}");
    }
    // Making matter is allowed when the reaction says so.
    let mut b = MaterialTable::builder();
    b.add(Material::new("acid", Kind::Liquid, 1200.0, 3.9e6))
        .unwrap();
    let mut grows = Reaction::pair(acid, id::AIR, [acid, acid], 0.1);
    grows.creates_matter = true;
    b.react(grows).unwrap();
    b.build().unwrap();
}

#[test]
fn conflicting_reactions_are_refused_when_the_table_is_built() {
    let built = |rs: Vec<Reaction>| {
        let mut b: MaterialsBuilder = MaterialTable::builder();
        b.add(acid()).unwrap();
        for r in rs {
            b.react(r).unwrap();
        }
        b.build()
    };
    let acid = 16;
    let eats = Reaction::pair(acid, id::STONE, [id::AIR, acid], 0.1);
    for second in [
        eats.clone(),
        Reaction::pair(id::STONE, acid, [id::SAND, id::AIR], 0.1),
    ] {
        let e = built(vec![eats.clone(), second]).unwrap_err();
        let k = MaterialTable::default().reactions().len();
        assert_eq!(e.item, Item::Reaction(k + 1), "{e}");
        assert!(e.message.contains("conflicts with reaction"), "{e}");
    }
    let hot = Reaction::single(acid, id::STEAM, 0.1).above(350.0);
    let overlapping = Reaction::single(acid, id::ICE, 0.1)
        .above(300.0)
        .below(360.0);
    assert!(built(vec![hot.clone(), overlapping]).is_err());
    let apart = Reaction::single(acid, id::ICE, 0.1).below(270.0);
    assert!(built(vec![hot, apart]).is_ok());
}

#[test]
fn data_errors_point_at_the_key() {
    let text = r#"
[[material]]
name = "acid"
kind = "liquid"
density = -1200.0
heat_capacity = 3.9e6
color = [1, 2, 3]
"#;
    let data = MaterialsData::parse(text).unwrap();
    let e = data.apply(&mut MaterialTable::builder()).unwrap_err();
    assert_eq!(&text[e.span.clone()], "-1200.0");
    let bad_kind = text.replace("\"liquid\"", "\"plasma\"");
    let e = MaterialsData::parse(&bad_kind).unwrap_err();
    assert_eq!(&bad_kind[e.span.clone()], "\"plasma\"");
    assert!(e.message.contains("powder"), "{}", e.message);
    let unknown = format!(
        "{}\n[[reaction]]\na = \"acid\"\nb = \"marble\"\ninto = [\"air\", \"acid\"]\nrate = 0.1\n",
        text.replace("-1200.0", "1200.0")
    );
    let data = MaterialsData::parse(&unknown).unwrap();
    let e = data.apply(&mut MaterialTable::builder()).unwrap_err();
    assert_eq!(&unknown[e.span.clone()], "\"marble\"");
    assert!(e.message.contains("unknown material `marble`"));
}

#[test]
fn the_shipped_data_defines_every_builtin_material_and_reaction() {
    let mut b = MaterialTable::builder();
    // Applying the shipped file again would redefine every material: the
    // data is whole by itself.
    let data = MaterialsData::parse(loam_systems::materials::BUILTIN_DATA).unwrap();
    assert!(data.apply(&mut b).is_err());
    assert_eq!(data.material.len(), MaterialTable::default().len());
    assert_eq!(
        data.reaction.len(),
        MaterialTable::default().reactions().len()
    );
}
