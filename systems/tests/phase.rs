//! Physics of the phase transitions: boiling points that follow the steam
//! tables with pressure, melting, CO2's sublimation, lava quenched by water,
//! energy conserved through boiling and condensing, and determinism.

use loam_storage::{VoxelWorld, WorldLayout};
use loam_systems::ca::{self, CaConfig};
use loam_systems::fields::{FieldConfig, Fields, Scalar};
use loam_systems::materials::{id, MaterialTable, AMBIENT};
use loam_systems::phase::{metropolis_pass, HeatBath, PhaseConfig, PhaseState, PhaseTable};

mod common;

use common::energy;

fn world() -> VoxelWorld {
    VoxelWorld::new(WorldLayout::new([16, 16, 16], 8).unwrap(), id::AIR, AMBIENT)
}

/// [`common::fraction_in_bath`] with the built-in materials.
fn fraction_in_bath(material: u8, target: u8, t: f32, pressure: f64) -> f64 {
    common::fraction_in_bath(&MaterialTable::default(), material, target, t, pressure)
}

/// The lowest temperature on a 0.25 K grid in `[lo, hi]` at which most of
/// the block turned into `target`.
fn transition_temperature(material: u8, target: u8, lo: f32, hi: f32, pressure: f64) -> f32 {
    let mut t = lo;
    while t <= hi {
        if fraction_in_bath(material, target, t, pressure) > 0.5 {
            return t;
        }
        t += 0.25;
    }
    panic!("no transition between {lo} and {hi} K at {pressure} Pa");
}

#[test]
fn water_boils_at_373_k_at_one_atmosphere_and_stays_liquid_below() {
    assert_eq!(
        fraction_in_bath(id::WATER, id::STEAM, 370.0, 101_325.0),
        0.0
    );
    assert_eq!(
        fraction_in_bath(id::WATER, id::STEAM, 376.0, 101_325.0),
        1.0
    );
    let tb = transition_temperature(id::WATER, id::STEAM, 365.0, 381.0, 101_325.0);
    assert!((tb - 373.15).abs() <= 3.0, "{tb}");
}

#[test]
fn the_boiling_point_follows_the_steam_tables_with_pressure() {
    // Saturation temperatures from the IAPWS-IF97 steam tables.
    for (pressure, expected) in [
        (20_000.0, 333.21f32),
        (47_390.0, 353.15),
        (198_530.0, 393.15),
        (500_000.0, 424.98),
    ] {
        let tb = transition_temperature(
            id::WATER,
            id::STEAM,
            expected - 8.0,
            expected + 8.0,
            pressure,
        );
        assert!(
            (tb - expected).abs() <= 4.0,
            "{pressure} Pa: boils at {tb} K, steam tables say {expected} K"
        );
    }
}

#[test]
fn the_weight_above_raises_the_boiling_point() {
    // Ten cells of stone weigh 10 × 2600 kg/m³ × 9.81 m/s² × 0.25 m = 64 kPa:
    // water under them boils near 387 K, water in the open at 373 K.
    let mut w = world();
    w.set_cell([3, 2, 3], id::WATER, 380.0);
    w.set_cell([9, 2, 9], id::WATER, 380.0);
    for y in 3..13 {
        w.set_cell([3, y, 3], id::STONE, 380.0);
    }
    let baths = [HeatBath {
        min: [0, 2, 0],
        max: [16, 3, 16],
        temperature: 380.0,
    }];
    let mut state = PhaseState::default();
    for frame in 0..20 {
        metropolis_pass(
            &mut w,
            &mut state,
            &PhaseTable::default(),
            &MaterialTable::default(),
            &PhaseConfig::default(),
            &baths,
            None,
            2,
            frame,
        );
    }
    assert_eq!(
        w.material([3, 2, 3]),
        Some(id::WATER),
        "pressed by the stone"
    );
    assert_eq!(w.material([9, 2, 9]), Some(id::STEAM), "in the open");
}

#[test]
fn ice_melts_at_273_k() {
    let tm = transition_temperature(id::ICE, id::WATER, 266.0, 280.0, 101_325.0);
    assert!((tm - 273.15).abs() <= 2.0, "{tm}");
    assert_eq!(
        fraction_in_bath(id::WATER, id::ICE, 268.0, 101_325.0),
        1.0,
        "and freezes below"
    );
}

#[test]
fn dry_ice_sublimates_at_one_atmosphere_without_a_liquid() {
    for t in [185.0f32, 190.0, 194.0, 196.0, 200.0, 220.0, 250.0] {
        assert_eq!(
            fraction_in_bath(id::DRY_ICE, id::LIQUID_CO2, t, 101_325.0),
            0.0,
            "liquid CO2 at {t} K and 1 atm"
        );
    }
    let ts = transition_temperature(id::DRY_ICE, id::CO2, 188.0, 202.0, 101_325.0);
    assert!((ts - 194.7).abs() <= 2.0, "{ts}");
    assert_eq!(
        fraction_in_bath(id::DRY_ICE, id::LIQUID_CO2, 230.0, 1.0e6),
        1.0,
        "but melts at 10 bar"
    );
}

#[test]
fn water_does_not_boil_on_its_own_heat_unless_it_holds_the_latent_heat() {
    // No bath: a voxel at 380 K cannot pay 40.65 kJ/mol; one at 1000 K can.
    for (t, boils) in [(380.0f32, false), (1000.0, true)] {
        let mut w = world();
        w.set_cell([5, 5, 5], id::WATER, t);
        let mut state = PhaseState::default();
        // Each pass proposes ice or steam at random: give it a few.
        for frame in 0..10 {
            metropolis_pass(
                &mut w,
                &mut state,
                &PhaseTable::default(),
                &MaterialTable::default(),
                &PhaseConfig::default(),
                &[],
                None,
                1,
                frame,
            );
        }
        assert_eq!(w.material([5, 5, 5]) == Some(id::STEAM), boils, "{t} K");
        if boils {
            let after = w.temperature([5, 5, 5]).unwrap();
            // Enthalpy: 75.3·1000 = a_steam + 34.0·T' → T' ≈ 566 K.
            assert!((after - 566.0).abs() < 5.0, "{after}");
        }
    }
}

#[test]
fn an_isolated_box_conserves_energy_through_boiling_and_condensing() {
    let mut w = world();
    let phases = PhaseTable::default();
    let materials = MaterialTable::default();
    let config = PhaseConfig::default();
    // A stone box, cold water at the bottom and superheated water above it.
    for z in 0..16 {
        for y in 0..16 {
            for x in 0..16 {
                let wall = x == 0 || x == 15 || y == 0 || y == 15 || z == 0 || z == 15;
                let (m, t) = match y {
                    _ if wall => (id::STONE, AMBIENT),
                    1..=3 => (id::WATER, 300.0),
                    4..=6 => (id::WATER, 900.0),
                    _ => (id::AIR, AMBIENT),
                };
                w.set_cell([x, y, z], m, t);
            }
        }
    }
    let before = energy(&w, &phases, &materials, config.voxel_size);
    let ca = CaConfig {
        reactions: false,
        thermal_transitions: false,
        ..CaConfig::default()
    };
    let mut state = PhaseState::default();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    pool.install(|| {
        for frame in 0..1000 {
            ca::step(&mut w, &materials, &ca, 9, frame);
            metropolis_pass(
                &mut w,
                &mut state,
                &phases,
                &materials,
                &config,
                &[],
                None,
                9,
                frame,
            );
        }
    });
    let after = energy(&w, &phases, &materials, config.voxel_size);
    let boiled = state
        .transitions
        .get(&(id::WATER, id::STEAM))
        .copied()
        .unwrap_or(0);
    let condensed = state
        .transitions
        .get(&(id::STEAM, id::WATER))
        .copied()
        .unwrap_or(0);
    // The hot layer (588 cells) boils in part; a cell that cannot pay
    // the whole latent heat holds what it has instead of flipping back and
    // forth, so no cell changes more than once or twice.
    assert!(
        boiled > 100 && boiled + condensed < 2 * 588,
        "boiled {boiled}, condensed {condensed}"
    );
    assert!(
        w.pools().latent.iter().any(|&l| l < 0.0),
        "steam cooled by the walls holds heat toward condensing"
    );
    let rel = (after - before).abs() / before.abs();
    assert!(rel < 0.01, "energy changed by {:.4} %", rel * 100.0);
}

#[test]
fn lava_touching_water_becomes_basalt() {
    let mut w = world();
    let phases = PhaseTable::default();
    let materials = MaterialTable::default();
    for x in 0..16 {
        for z in 0..16 {
            for y in 0..4 {
                w.set_cell([x, y, z], id::WATER, AMBIENT);
            }
        }
    }
    for x in 6..10 {
        for z in 6..10 {
            w.set_cell([x, 10, z], id::LAVA, 1400.0);
        }
    }
    let ca = CaConfig {
        thermal_transitions: false,
        ..CaConfig::default()
    };
    let mut state = PhaseState::default();
    for frame in 0..200 {
        ca::step(&mut w, &materials, &ca, 4, frame);
        metropolis_pass(
            &mut w,
            &mut state,
            &phases,
            &materials,
            &PhaseConfig::default(),
            &[],
            None,
            4,
            frame,
        );
    }
    let counts = w.material_counts();
    assert_eq!(counts[id::LAVA as usize], 0, "all the lava quenched");
    assert!(
        counts[id::BASALT as usize] >= 16,
        "basalt: {}",
        counts[id::BASALT as usize]
    );
    assert!(
        counts[id::STEAM as usize] > 0,
        "and the water it touched boiled"
    );
}

/// The CPU pass decides 16 cells of a row at once, taking rows of 32 whole
/// and shorter ones cell by cell; the decisions must not depend on which,
/// nor on how the world is cut into pages.
#[test]
fn the_pass_gives_the_same_world_whatever_the_page_size() {
    let run = |page: u32| {
        let layout = WorldLayout::new([64, 64, 64], page).unwrap();
        let mut w = VoxelWorld::new(layout, id::AIR, AMBIENT);
        for z in 0..64u32 {
            for y in 0..48u32 {
                for x in 0..64u32 {
                    let h = (x * 73 + y * 151 + z * 23) % 97;
                    let material = match h {
                        0..=4 => id::STEAM,
                        5 => id::SAND,
                        _ => id::WATER,
                    };
                    w.set_cell([x, y, z], material, 372.4 + h as f32 * 0.016);
                }
            }
        }
        let baths = [HeatBath {
            min: [5, 3, 7],
            max: [40, 20, 33],
            temperature: 373.6,
        }];
        let config = PhaseConfig {
            gravity: 0.0,
            ..PhaseConfig::default()
        };
        // A pressure field over part of the block: cell by cell pressures,
        // not one for the whole pass.
        let mut fields = Fields::new(FieldConfig::default());
        fields.set_scalar_box(Scalar::Pressure, [20, 0, 0], [52, 30, 40], 4000.0);
        let mut state = PhaseState::default();
        for frame in 0..6 {
            for p in 0..layout.page_count() {
                w.wake(p);
            }
            metropolis_pass(
                &mut w,
                &mut state,
                &PhaseTable::default(),
                &MaterialTable::default(),
                &config,
                &baths,
                Some(&fields),
                5,
                frame,
            );
            w.take_woken();
        }
        let mut cells = Vec::with_capacity(64 * 64 * 64);
        for z in 0..64 {
            for y in 0..64 {
                for x in 0..64 {
                    let t = w.temperature([x, y, z]).map(f32::to_bits);
                    cells.push((w.material([x, y, z]), t));
                }
            }
        }
        (cells, state.transitions)
    };
    let (cells, transitions) = run(32);
    let boiled = transitions
        .get(&(id::WATER, id::STEAM))
        .copied()
        .unwrap_or(0);
    let condensed = transitions
        .get(&(id::STEAM, id::WATER))
        .copied()
        .unwrap_or(0);
    assert!(boiled > 1000 && condensed > 100, "{transitions:?}");
    for page in [8, 16, 64] {
        let (other, other_transitions) = run(page);
        assert_eq!(other_transitions, transitions, "pages of {page}");
        assert!(other == cells, "pages of {page} give another world");
    }
}

#[test]
fn the_pass_gives_the_same_world_on_one_thread_and_two() {
    let run = |threads: usize| {
        let mut w = world();
        for x in 2..14 {
            for z in 2..14 {
                for y in 1..8 {
                    w.set_cell(
                        [x, y, z],
                        id::WATER,
                        350.0 + (x * 7 + z * 3 + y) as f32 * 5.0,
                    );
                }
            }
        }
        let baths = [HeatBath {
            min: [2, 1, 2],
            max: [8, 4, 14],
            temperature: 373.5,
        }];
        let mut state = PhaseState::default();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            for frame in 0..30 {
                metropolis_pass(
                    &mut w,
                    &mut state,
                    &PhaseTable::default(),
                    &MaterialTable::default(),
                    &PhaseConfig::default(),
                    &baths,
                    None,
                    7,
                    frame,
                );
            }
        });
        assert!(state.last.visits > 0);
        (w.hash(), state.transitions)
    };
    assert_eq!(run(1), run(2));
}

#[test]
fn a_world_far_from_any_transition_is_not_visited() {
    let mut w = world();
    for x in 0..16 {
        for z in 0..16 {
            w.set_cell([x, 0, z], id::WATER, 300.0);
        }
    }
    let mut state = PhaseState::default();
    let args = (
        PhaseTable::default(),
        MaterialTable::default(),
        PhaseConfig::default(),
    );
    metropolis_pass(
        &mut w,
        &mut state,
        &args.0,
        &args.1,
        &args.2,
        &[],
        None,
        1,
        0,
    );
    assert_eq!(
        state.last.proposals, 0,
        "water at 300 K is nowhere near a transition"
    );
    w.take_woken();
    metropolis_pass(
        &mut w,
        &mut state,
        &args.0,
        &args.1,
        &args.2,
        &[],
        None,
        1,
        1,
    );
    assert_eq!(state.last.pages, 0, "and its pages are not visited again");
}
