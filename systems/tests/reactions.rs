//! Reactions as data: materials and reactions a user defines, each feature
//! over generated worlds with its invariants checked every frame.

use loam_runtime::random::hash3;
use loam_storage::query::CellPos;
use loam_storage::{VoxelWorld, WorldLayout};
use loam_systems::ca::{self, CaConfig};
use loam_systems::materials::{
    id, Kind, Material, MaterialId, MaterialTable, Reaction, Rule, AMBIENT, IGNITE_RATE,
};

const REACTIONS: CaConfig = CaConfig {
    reactions: true,
    heat: false,
    thermal_transitions: true,
    skip_stuck_rows: true,
};

/// The built-in table plus `materials`, then `reactions` made from their
/// ids (built-in ones first, then the new ones in order).
fn table(
    materials: Vec<Material>,
    reactions: impl FnOnce(&[MaterialId]) -> Vec<Reaction>,
) -> MaterialTable {
    let mut builder = MaterialTable::builder();
    let ids: Vec<MaterialId> = materials
        .into_iter()
        .map(|m| builder.add(m).unwrap())
        .collect();
    for r in reactions(&ids) {
        builder.react(r).unwrap();
    }
    builder.build().unwrap()
}

/// A seeded random world of `size` (page `page`): a stone floor, then
/// cells of `mats` scattered in the air above it.
fn scattered(seed: u64, size: [u32; 3], page: u32, mats: &[MaterialId], t: f32) -> VoxelWorld {
    let mut w = VoxelWorld::new(WorldLayout::new(size, page).unwrap(), id::AIR, AMBIENT);
    for z in 0..size[2] {
        for y in 0..size[1] {
            for x in 0..size[0] {
                let h = hash3(seed, 7, u64::from(x + size[0] * (y + size[1] * z)));
                if y < 2 {
                    w.set_cell([x, y, z], id::STONE, AMBIENT);
                } else if h % 4 == 0 {
                    w.set_cell([x, y, z], mats[(h >> 8) as usize % mats.len()], t);
                }
            }
        }
    }
    w
}

fn count(w: &VoxelWorld, m: MaterialId) -> u64 {
    w.material_counts()[m as usize]
}

/// World sizes and pages the generated cases draw from, edges included.
fn shapes(seed: u64) -> ([u32; 3], u32) {
    let page = [8, 16][(seed % 2) as usize];
    let n = |k: u64| page * (1 + ((seed >> k) % 3) as u32);
    ([n(1), n(3), n(5)], page)
}

#[test]
fn acid_eats_stone_only_where_they_touch_and_is_never_made_or_lost() {
    // acid + stone -> acid + air... the acid moves into the stone: the stone
    // becomes acid and the acid air, so acid is conserved and stone plus air is too.
    let t = table(
        vec![Material {
            color: [120, 230, 60],
            ..Material::new("acid", Kind::Liquid, 1200.0, 3.9e6)
        }],
        |ids| vec![Reaction::pair(ids[0], id::STONE, [id::AIR, ids[0]], 0.05)],
    );
    let acid = t.id("acid").unwrap();
    for seed in 0..6 {
        let (size, page) = shapes(seed);
        let mut w = scattered(seed, size, page, &[acid, id::SAND], AMBIENT);
        let (acid0, stone_air0) = (count(&w, acid), count(&w, id::STONE) + count(&w, id::AIR));
        let mut eaten = 0;
        for f in 0..120 {
            let before = w.clone();
            let stats = ca::step(&mut w, &t, &REACTIONS, seed, f);
            assert_eq!(
                count(&w, acid),
                acid0,
                "seed {seed} frame {f}: acid changed"
            );
            assert_eq!(
                count(&w, id::STONE) + count(&w, id::AIR),
                stone_air0,
                "seed {seed} frame {f}"
            );
            let lost = count(&before, id::STONE) - count(&w, id::STONE);
            assert_eq!(
                lost, stats.reactions,
                "seed {seed} frame {f}: one stone per reaction"
            );
            eaten += lost;
        }
        assert!(eaten > 0, "seed {seed}: acid on a stone floor ate nothing");
    }
}

#[test]
fn a_pair_reaction_happens_at_its_rate_per_contact() {
    // A layer of a catalyst over a floor of fuel: each fuel cell touching
    // it turns to ash at `rate` per frame. Rates off the 1/256 grid take
    // the second byte.
    for (k, rate) in [0.05f32, 0.3, 0.001, 11.0 / 256.0].into_iter().enumerate() {
        let t = table(
            vec![
                Material::new("catalyst", Kind::Solid, 2000.0, 2.0e6),
                Material::new("fuel", Kind::Solid, 2000.0, 2.0e6),
                Material::new("ash", Kind::Solid, 2000.0, 2.0e6),
            ],
            |ids| vec![Reaction::pair(ids[0], ids[1], [ids[0], ids[2]], rate)],
        );
        let [cat, fuel, ash] = ["catalyst", "fuel", "ash"].map(|n| t.id(n).unwrap());
        let mut w = VoxelWorld::new(
            WorldLayout::new([128, 16, 128], 16).unwrap(),
            id::AIR,
            AMBIENT,
        );
        for z in 0..128 {
            for x in 0..128 {
                w.set_cell([x, 4, z], fuel, AMBIENT);
                w.set_cell([x, 5, z], cat, AMBIENT);
            }
        }
        let contacts = 128.0 * 128.0;
        let frames = 4;
        for f in 0..frames {
            ca::step(&mut w, &t, &REACTIONS, 99 + k as u64, f);
        }
        let burnt = count(&w, ash) as f64;
        // Each fuel cell survives each frame with 1 - rate.
        let p = 1.0 - (1.0 - f64::from(rate)).powi(frames as i32);
        let (mean, sd) = (contacts * p, (contacts * p * (1.0 - p)).sqrt());
        assert!(
            (burnt - mean).abs() < 5.0 * sd + 1.0,
            "rate {rate}: {burnt} burnt, expected {mean:.1} ± {sd:.1}"
        );
    }
}

#[test]
fn a_single_cell_reaction_decays_at_its_rate_and_conserves_cells() {
    let t = table(
        vec![
            Material::new("isotope", Kind::Powder, 5000.0, 2.0e6),
            Material::new("lead", Kind::Powder, 5000.0, 2.0e6),
        ],
        |ids| vec![Reaction::single(ids[0], ids[1], 0.02)],
    );
    let (iso, lead) = (t.id("isotope").unwrap(), t.id("lead").unwrap());
    for seed in 0..4 {
        let (size, page) = shapes(seed + 10);
        let mut w = scattered(seed, size, page, &[iso], AMBIENT);
        let n0 = count(&w, iso) as f64;
        let frames = 50;
        for f in 0..frames {
            ca::step(&mut w, &t, &REACTIONS, seed, f);
            assert_eq!(
                count(&w, iso) + count(&w, lead),
                n0 as u64,
                "seed {seed} frame {f}"
            );
        }
        let p = 0.98f64.powi(frames as i32);
        let (mean, sd) = (n0 * p, (n0 * p * (1.0 - p)).sqrt());
        let left = count(&w, iso) as f64;
        assert!(
            (left - mean).abs() < 5.0 * sd + 1.0,
            "seed {seed}: {left} of {n0} left, expected {mean:.1} ± {sd:.1}"
        );
    }
}

#[test]
fn temperature_conditions_are_strict_bounds_on_the_reacting_cell() {
    // `slush` turns to `brine` only strictly between 260 and 280 K, always.
    let t = table(
        vec![
            Material::new("slush", Kind::Solid, 1000.0, 2.0e6),
            Material::new("brine", Kind::Solid, 1000.0, 2.0e6),
        ],
        |ids| {
            vec![Reaction::single(ids[0], ids[1], 1.0)
                .above(260.0)
                .below(280.0)]
        },
    );
    let (slush, brine) = (t.id("slush").unwrap(), t.id("brine").unwrap());
    let mut w = VoxelWorld::new(
        WorldLayout::new([32, 16, 32], 16).unwrap(),
        id::AIR,
        AMBIENT,
    );
    let temps = [250.0, 260.0, 260.001, 270.0, 279.999, 280.0, 300.0];
    for (k, &temp) in temps.iter().enumerate() {
        w.set_cell([2 + 3 * k as u32, 5, 5], slush, temp);
    }
    ca::step(&mut w, &t, &REACTIONS, 1, 0);
    for (k, &temp) in temps.iter().enumerate() {
        let m = w.material_at(CellPos([2 + 3 * k as u32, 5, 5])).unwrap();
        let inside = temp > 260.0 && temp < 280.0;
        assert_eq!(m, if inside { brine } else { slush }, "at {temp} K");
    }
}

/// Σ capacity × temperature over the world, J per m³ of cell.
fn energy(w: &VoxelWorld, t: &MaterialTable) -> f64 {
    let pools = w.pools();
    pools
        .material
        .iter()
        .zip(pools.temperature)
        .map(|(&m, &temp)| f64::from(t.heat_capacity[m as usize]) * f64::from(temp))
        .sum()
}

#[test]
fn heat_released_warms_the_products_and_then_their_neighbours_with_energy_accounted_for() {
    // Thermite: rust + aluminium -> iron + slag, releasing heat; every
    // material has one heat capacity, so the energy changes by the
    // reaction's heat alone.
    let c = 3.0e6;
    let heat = 6.0e8;
    let t = table(
        ["rust", "aluminium", "iron", "slag"]
            .map(|n| Material::new(n, Kind::Solid, 4000.0, c))
            .to_vec(),
        |ids| vec![Reaction::pair(ids[0], ids[1], [ids[2], ids[3]], 0.2).releasing(heat)],
    );
    let [rust, al, iron] = ["rust", "aluminium", "iron"].map(|n| t.id(n).unwrap());
    for seed in 0..4 {
        let (size, page) = shapes(seed + 20);
        let mut w = scattered(seed, size, page, &[rust, al], AMBIENT);
        let mut e = energy(&w, &t);
        for f in 0..30 {
            let stats = ca::step(&mut w, &t, &REACTIONS, seed, f);
            let after = energy(&w, &t);
            let expected = e + f64::from(heat) * stats.reactions as f64;
            // f32 temperatures round each product's sum to a few parts in 1e7.
            let slack = 1e-6 * after.abs();
            assert!(
                (after - expected).abs() <= slack,
                "seed {seed} frame {f}: energy {after} vs {expected}"
            );
            e = after;
        }
        let pools = w.pools();
        let hot = pools
            .material
            .iter()
            .zip(pools.temperature)
            .filter(|(&m, _)| m == iron)
            .map(|(_, &temp)| temp)
            .fold(f32::INFINITY, f32::min);
        assert!(
            count(&w, iron) == 0 || hot >= AMBIENT + heat / 2.0 / c - 1e-3,
            "seed {seed}: iron at {hot} K"
        );
    }
    // With conduction, the heat spreads to the stone beneath a reaction.
    let mut w = VoxelWorld::new(
        WorldLayout::new([16, 16, 16], 16).unwrap(),
        id::AIR,
        AMBIENT,
    );
    w.set_cell([8, 2, 8], id::STONE, AMBIENT);
    w.set_cell([8, 3, 8], al, AMBIENT);
    w.set_cell([8, 4, 8], rust, AMBIENT);
    let config = CaConfig {
        heat: true,
        ..REACTIONS
    };
    for f in 0..40 {
        ca::step(&mut w, &t, &config, 3, f);
    }
    assert_eq!(count(&w, iron), 1, "the thermite reacted");
    assert!(
        w.temperature_at(CellPos([8, 2, 8])).unwrap() > AMBIENT + 1.0,
        "the stone below warmed"
    );
}

#[test]
fn with_reactions_off_every_material_user_defined_or_not_is_conserved() {
    let t = table(
        vec![
            Material::new("acid", Kind::Liquid, 1200.0, 3.9e6),
            Material::new("ash", Kind::Powder, 700.0, 1.0e6),
            Material::new("helium", Kind::Gas, 0.18, 900.0),
            Material::new("radon", Kind::Gas, 9.7, 900.0),
        ],
        |ids| {
            vec![
                Reaction::pair(ids[0], id::STONE, [id::AIR, ids[0]], 0.5),
                Reaction::single(ids[1], id::AIR, 0.5),
            ]
        },
    );
    let mats: Vec<MaterialId> = ["acid", "ash", "helium", "radon", "water", "sand", "oil"]
        .iter()
        .map(|n| t.id(n).unwrap())
        .collect();
    let config = CaConfig {
        reactions: false,
        heat: true,
        ..REACTIONS
    };
    for seed in 0..6 {
        let (size, page) = shapes(seed + 30);
        let mut w = scattered(seed, size, page, &mats, 350.0);
        let counts = w.material_counts();
        for f in 0..80 {
            ca::step(&mut w, &t, &config, seed, f);
            assert_eq!(w.material_counts(), counts, "seed {seed} frame {f}");
        }
    }
}

#[test]
fn user_reactions_give_one_world_on_any_thread_count() {
    let t = table(
        vec![
            Material::new("acid", Kind::Liquid, 1200.0, 3.9e6),
            Material {
                ignition: Some(400.0),
                ..Material::new("powder_keg", Kind::Powder, 1700.0, 1.5e6)
            },
        ],
        |ids| {
            vec![
                Reaction::pair(ids[0], id::STONE, [id::AIR, ids[0]], 0.07),
                Reaction::pair(ids[0], id::WATER, [ids[0], id::STEAM], 0.01).releasing(1.0e6),
            ]
        },
    );
    let mats: Vec<MaterialId> = ["acid", "powder_keg", "water", "fire", "sand"]
        .iter()
        .map(|n| t.id(n).unwrap())
        .collect();
    let config = CaConfig {
        heat: true,
        ..REACTIONS
    };
    let hashes: Vec<u64> = [1, 2, 4]
        .iter()
        .map(|&threads| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let mut w = scattered(5, [48, 32, 48], 16, &mats, AMBIENT);
            pool.install(|| {
                for f in 0..60 {
                    ca::step(&mut w, &t, &config, 5, f);
                }
            });
            w.hash()
        })
        .collect();
    assert!(hashes.windows(2).all(|h| h[0] == h[1]), "{hashes:x?}");
}

#[test]
fn a_user_fire_spreads_through_a_user_fuel_and_burns_out() {
    let t = table(
        vec![
            Material {
                spread: 0.2,
                spawn_temperature: 1500.0,
                ..Material::new("blue_fire", Kind::Fire, 0.3, 330.0)
            },
            Material {
                ignition: Some(450.0),
                ..Material::new("straw", Kind::Solid, 100.0, 2.0e5)
            },
        ],
        |ids| vec![Reaction::single(ids[0], id::SMOKE, 0.05)],
    );
    let (fire, straw) = (t.id("blue_fire").unwrap(), t.id("straw").unwrap());
    let mut w = VoxelWorld::new(
        WorldLayout::new([32, 16, 32], 16).unwrap(),
        id::AIR,
        AMBIENT,
    );
    for z in 0..32 {
        for x in 0..32 {
            w.set_cell([x, 3, z], straw, AMBIENT);
        }
    }
    w.set_cell([16, 3, 16], fire, 1500.0);
    let mut peak = 0;
    for f in 0..400 {
        ca::step(&mut w, &t, &REACTIONS, 8, f);
        peak = peak.max(count(&w, fire));
        // A burning cell holds its own flame.
        let pools = w.pools();
        for (&m, &temp) in pools.material.iter().zip(pools.temperature) {
            if m == fire {
                assert_eq!(temp, 1500.0, "frame {f}");
            }
        }
    }
    assert!(peak > 20, "the fire never spread ({peak} cells at most)");
    assert!(
        count(&w, straw) < 32 * 32 / 2,
        "{} of 1024 straw left",
        count(&w, straw)
    );
}

/// The shipped data holds the reactions the automaton had as code before
/// they were data (the numbers below are those of that code), so every
/// shipped scenario keeps its world hash.
#[test]
fn the_shipped_reactions_are_those_the_automaton_always_had() {
    let t = MaterialTable::default();
    let single = |m: MaterialId| t.singles(m).to_vec();
    let rule = |into: MaterialId, lo: f32, hi: f32, rate: f32, phase_change: bool| Rule {
        into: [into; 2],
        rate,
        lo,
        hi,
        warm: [0.0; 2],
        at_least: [None; 2],
        phase_change,
        blast: None,
    };
    let (ninf, inf) = (f32::NEG_INFINITY, f32::INFINITY);
    let above = |t: f32| f32::from_bits(t.to_bits() + 1);
    assert_eq!(
        single(id::WATER),
        [rule(id::STEAM, above(373.15), inf, 0.05, true)]
    );
    assert_eq!(
        single(id::STEAM),
        [rule(id::WATER, ninf, 363.15, 0.02, true)]
    );
    assert_eq!(
        single(id::ICE),
        [rule(id::WATER, above(273.15), inf, 0.02, true)]
    );
    assert_eq!(
        single(id::LAVA),
        [rule(id::BASALT, ninf, 1000.0, 1.0, true)]
    );
    assert_eq!(
        single(id::FIRE),
        [rule(id::SMOKE, ninf, inf, 1.0 / 90.0, false)]
    );
    assert_eq!(
        single(id::SMOKE),
        [rule(id::AIR, ninf, inf, 1.0 / 250.0, false)]
    );
    for fuel in [id::OIL, id::WOOD] {
        assert_eq!(
            single(fuel),
            [rule(
                id::FIRE,
                t.ignition[fuel as usize],
                inf,
                IGNITE_RATE,
                false
            )]
        );
        let spread = t.pair(id::FIRE, fuel).copied();
        assert_eq!(
            spread,
            Some(Rule {
                into: [id::FIRE; 2],
                ..rule(id::FIRE, ninf, inf, 11.0 / 256.0, false)
            })
        );
    }
    assert_eq!(t.start_temperature[id::FIRE as usize], 1200.0);
    let quench = t.pair(id::LAVA, id::WATER).copied();
    assert_eq!(
        quench,
        Some(Rule {
            into: [id::BASALT, id::STEAM],
            at_least: [None, Some(403.15)],
            ..rule(id::BASALT, ninf, inf, 1.0, false)
        })
    );
    let reactive: Vec<MaterialId> = (0..=255).filter(|&m| t.reactive[m as usize]).collect();
    assert_eq!(
        reactive,
        [
            id::WATER,
            id::OIL,
            id::LAVA,
            id::WOOD,
            id::FIRE,
            id::SMOKE,
            id::STEAM,
            id::ICE
        ]
    );
}

#[test]
fn blasting_reactions_hand_out_one_blast_each_at_the_reacting_cell_on_any_thread_count() {
    use loam_systems::materials::Blast;
    let blast = Blast {
        pressure: 3.0e4,
        radius: 3.0,
        heat: 100.0,
    };
    let t = table(
        vec![Material {
            ignition: Some(450.0),
            ..Material::new("gunpowder", Kind::Powder, 1700.0, 1.5e6)
        }],
        |ids| vec![Reaction::pair(id::FIRE, ids[0], [id::FIRE, id::FIRE], 0.9).exploding(blast)],
    );
    let powder = t.id("gunpowder").unwrap();
    assert!(t.has_blasts() && !MaterialTable::default().has_blasts());
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let mut w = scattered(
            11,
            [48, 32, 48],
            16,
            &[powder, powder, powder, id::FIRE],
            AMBIENT,
        );
        let mut all = Vec::new();
        pool.install(|| {
            for f in 0..20 {
                let mut blasts = Vec::new();
                let before = count(&w, powder);
                ca::step_with_blasts(&mut w, &t, &REACTIONS, 11, f, &mut blasts);
                // One blast per grain set alight (gunpowder only burns by it),
                // on the face between the flame and the grain, which is now
                // alight (a cell set alight does not burn out in that frame).
                assert_eq!(blasts.len() as u64, before - count(&w, powder), "frame {f}");
                for b in &blasts {
                    let on_face: Vec<usize> =
                        (0..3).filter(|&a| b.center[a].fract() == 0.0).collect();
                    assert_eq!(on_face.len(), 1, "frame {f}: {:?}", b.center);
                    let sides = [-0.5, 0.5].map(|d| {
                        let mut c = b.center;
                        c[on_face[0]] += d;
                        w.material_at(CellPos(c.map(|v| v.floor() as u32)))
                    });
                    assert!(sides.contains(&Some(id::FIRE)), "frame {f}: {sides:?}");
                    assert_eq!(b.blast, blast);
                }
                all.extend(blasts);
            }
        });
        all
    };
    let one = run(1);
    assert!(one.len() > 100, "{} blasts", one.len());
    assert_eq!(run(2), one);
    assert_eq!(run(4), one);
}
