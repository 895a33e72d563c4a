//! A substance a user defines as data, with its own boiling curve: the
//! phase pass boils it where its data says, at any pressure.

use loam_systems::materials::{MaterialTable, MaterialsData};
use loam_systems::phase::diagram::R;
use loam_systems::phase::PhaseTable;

mod common;

use common::fraction_in_bath;

/// Ethanol as data (`data/ethanol.toml`, with its sources).
const ETHANOL: &str = include_str!("data/ethanol.toml");

fn ethanol() -> MaterialTable {
    let mut b = MaterialTable::builder();
    MaterialsData::parse(ETHANOL)
        .unwrap()
        .apply(&mut b)
        .unwrap();
    b.build().unwrap()
}

#[test]
fn a_user_substance_boils_where_its_data_says_at_any_pressure() {
    let table = ethanol();
    let (liquid, vapour) = (
        table.id("ethanol").unwrap(),
        table.id("ethanol_vapour").unwrap(),
    );
    let phases = PhaseTable::of(&table);
    let substance = phases.substance("ethanol").unwrap();
    assert_eq!(phases.of_material[liquid as usize], Some((3, 0)));
    for pressure in [101_325.0, 50_000.0, 200_000.0] {
        // The model's curve, and Clausius–Clapeyron from the same data.
        let model = substance.coexistence(0, 1, pressure, 280.0, 420.0).unwrap();
        let clapeyron = 1.0 / (1.0 / 351.44 - R / 38_560.0 * (pressure / 101_325.0f64).ln());
        assert!(
            (model - clapeyron).abs() < 2.0,
            "{pressure} Pa: {model} vs {clapeyron}"
        );
        let below = fraction_in_bath(&table, liquid, vapour, model as f32 - 5.0, pressure);
        let above = fraction_in_bath(&table, liquid, vapour, model as f32 + 5.0, pressure);
        assert_eq!(below, 0.0, "{pressure} Pa: boiled 5 K below {model:.1} K");
        assert_eq!(
            above, 1.0,
            "{pressure} Pa: did not boil 5 K above {model:.1} K"
        );
    }
    // The built-in substances are untouched by it.
    assert_eq!(phases.substances.len(), 4);
    assert_eq!(
        phases.substance("water"),
        PhaseTable::default().substance("water")
    );
}

#[test]
fn a_substance_s_mistakes_are_refused_at_their_key() {
    // (replace, with, what the error says, a piece of the text it points at)
    let refused = |from: &str, to: &str, words: &str, at: &str| {
        let text = ETHANOL.replacen(from, to, 1);
        let data = MaterialsData::parse(&text).unwrap();
        let mut b = MaterialTable::builder();
        let e = match data.apply(&mut b) {
            Err(e) => e,
            Ok(()) => {
                let e = b.build().unwrap_err();
                loam_systems::materials::DataError {
                    span: data.span_of(&e, 7).unwrap(),
                    message: e.to_string(),
                }
            }
        };
        assert!(e.message.contains(words), "{to}: {}", e.message);
        assert!(
            text[e.span.clone()].contains(at),
            "{to}: points at {}",
            &text[e.span]
        );
    };
    refused(
        "molar_mass = 0.04607",
        "molar_mass = -1.0",
        "molar_mass must be",
        "-1.0",
    );
    // A heat capacity at odds with the phase is the substance's phases' fault.
    refused(
        "heat_capacity = 1.925e6",
        "heat_capacity = 1.0e6",
        "make them agree",
        "cp = 112.4",
    );
    refused(
        "state = \"gas\"",
        "state = \"solid\"",
        "not one of state",
        "cp = 65.4",
    );
    refused(
        "from = \"ethanol\"",
        "from = \"ethanal\"",
        "not a phase of `ethanol`",
        "\"ethanal\"",
    );
    // A material in two substances' diagrams (water's steam, here).
    let twice = ETHANOL
        .replace("material = \"ethanol_vapour\"", "material = \"steam\"")
        .replace("to = \"ethanol_vapour\"", "to = \"steam\"");
    let data = MaterialsData::parse(&twice).unwrap();
    let mut b = MaterialTable::builder();
    data.apply(&mut b).unwrap();
    let e = b.build().unwrap_err();
    assert!(
        e.message.contains("already a phase of substance `water`"),
        "{e}"
    );
    assert!(twice[data.span_of(&e, 7).unwrap()].contains("\"steam\""));
    refused(
        "{ material = \"ethanol\", state = \"liquid\", density = 789.0, cp = 112.4 },",
        "{ material = \"ethanol\", state = \"liquid\", density = 789.0, cp = 112.4 }, \
         { material = \"sand\", state = \"solid\", density = 1600.0, cp = 30.0 }, \
         { material = \"gravel\", state = \"solid\", density = 1800.0, cp = 30.0 },",
        "it needs 1 to 3",
        "latent_heat",
    );
    refused(
        "to = \"ethanol_vapour\"",
        "to = \"ethanol\"",
        "names no two",
        "latent_heat",
    );
}
