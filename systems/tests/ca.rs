//! Physics of the falling-sand automaton: conservation, determinism, the
//! emergent layering, sleeping, and each reaction.

use loam_storage::{VoxelWorld, WorldLayout};
use loam_systems::ca::{self, CaConfig};
use loam_systems::materials::{id, MaterialTable, AMBIENT};

const NO_REACTIONS: CaConfig = CaConfig {
    reactions: false,
    heat: false,
    thermal_transitions: true,
    skip_stuck_rows: true,
};

fn world(size: [u32; 3], page: u32) -> VoxelWorld {
    VoxelWorld::new(WorldLayout::new(size, page).unwrap(), id::AIR, AMBIENT)
}

fn fill(w: &mut VoxelWorld, min: [u32; 3], max: [u32; 3], m: u8, t: f32) {
    for z in min[2]..max[2] {
        for y in min[1]..max[1] {
            for x in min[0]..max[0] {
                w.set_cell([x, y, z], m, t);
            }
        }
    }
}

fn run(w: &mut VoxelWorld, config: CaConfig, frames: u64, threads: usize) -> ca::CaStats {
    let table = MaterialTable::default();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    let mut last = ca::CaStats::default();
    pool.install(|| {
        for f in 0..frames {
            last = ca::step(w, &table, &config, 42, f);
        }
    });
    last
}

/// Sand, water, oil, gravel and smoke scattered with a hash, over several pages.
fn mixed_world() -> VoxelWorld {
    let mut w = world([32, 32, 32], 8);
    let mats = [
        id::SAND,
        id::WATER,
        id::OIL,
        id::GRAVEL,
        id::SMOKE,
        id::STEAM,
    ];
    for z in 0..32 {
        for y in 4..28 {
            for x in 0..32 {
                let h = loam_runtime::random::hash3(1, 2, u64::from(x + 32 * (y + 32 * z)));
                if h % 3 == 0 {
                    w.set_cell([x, y, z], mats[(h >> 8) as usize % mats.len()], AMBIENT);
                }
            }
        }
    }
    fill(&mut w, [0, 0, 0], [32, 2, 32], id::STONE, AMBIENT);
    w
}

#[test]
fn without_reactions_every_material_count_is_conserved() {
    let mut w = mixed_world();
    let before = w.material_counts();
    for _ in 0..4 {
        let stats = run(&mut w, NO_REACTIONS, 25, 2);
        assert_eq!(w.material_counts(), before);
        assert_eq!(stats.reactions, 0);
    }
}

#[test]
fn same_seed_same_world_on_one_and_many_threads() {
    let config = CaConfig::default();
    let mut hashes = Vec::new();
    for threads in [1, 2, 4] {
        let mut w = mixed_world();
        fill(&mut w, [10, 10, 10], [14, 14, 14], id::LAVA, 1400.0);
        fill(&mut w, [20, 10, 20], [24, 14, 24], id::WOOD, 800.0);
        run(&mut w, config, 60, threads);
        hashes.push(w.hash());
    }
    assert_eq!(hashes[0], hashes[1]);
    assert_eq!(hashes[0], hashes[2]);
}

#[test]
fn sand_falls_and_piles_on_the_floor() {
    let mut w = world([16, 32, 16], 8);
    fill(&mut w, [6, 20, 6], [10, 28, 10], id::SAND, AMBIENT);
    run(&mut w, NO_REACTIONS, 80, 2);
    let c = w.census()[id::SAND as usize];
    assert_eq!(c.count, 128);
    assert_eq!(c.min_y, 0, "sand reaches the floor");
    assert!(
        c.max_y < 8,
        "the column spread into a pile, top at {}",
        c.max_y
    );
}

#[test]
fn sand_sinks_through_water_and_oil_floats_on_it() {
    let mut w = world([16, 32, 16], 8);
    fill(&mut w, [0, 0, 0], [16, 6, 16], id::WATER, AMBIENT);
    fill(&mut w, [0, 6, 0], [16, 8, 16], id::SAND, AMBIENT);
    fill(&mut w, [4, 0, 4], [12, 2, 12], id::OIL, AMBIENT);
    run(&mut w, NO_REACTIONS, 200, 2);
    let s = w.census();
    let (sand, water, oil) = (
        s[id::SAND as usize],
        s[id::WATER as usize],
        s[id::OIL as usize],
    );
    assert!(sand.center_of_mass()[1] < water.center_of_mass()[1]);
    assert!(water.center_of_mass()[1] < oil.center_of_mass()[1]);
    assert_eq!(sand.min_y, 0);
}

#[test]
fn gas_rises_to_the_top() {
    let mut w = world([16, 32, 16], 8);
    fill(&mut w, [4, 0, 4], [12, 4, 12], id::STEAM, AMBIENT);
    run(&mut w, NO_REACTIONS, 60, 2);
    let steam = w.census()[id::STEAM as usize];
    assert_eq!(steam.count, 256);
    assert!(steam.min_y >= 24, "steam bottom at {}", steam.min_y);
}

#[test]
fn settled_world_sleeps_and_a_change_wakes_only_its_neighbourhood() {
    let mut w = world([128, 64, 128], 32);
    fill(&mut w, [0, 0, 0], [128, 4, 128], id::SAND, AMBIENT);
    let stats = run(&mut w, CaConfig::default(), 5, 2);
    assert_eq!(stats.active_pages, 0, "a flat sand floor is settled");
    let h = w.hash();
    let stats = run(&mut w, CaConfig::default(), 3, 2);
    assert_eq!(stats.pages_updated, 0);
    assert_eq!(w.hash(), h);
    // One grain dropped in the middle of page (1, 1, 1), beyond the reach
    // of every face.
    w.set_cell([48, 48, 48], id::SAND, AMBIENT);
    assert_eq!(w.table().awake_count(), 1);
    let stats = run(&mut w, CaConfig::default(), 1, 2);
    assert_eq!(stats.pages_updated, 1);
    run(&mut w, CaConfig::default(), 60, 2);
    assert_eq!(
        w.table().awake_count(),
        0,
        "the grain landed and everything slept again"
    );
    assert_eq!(w.census()[id::SAND as usize].count, 128 * 4 * 128 + 1);
}

#[test]
fn lava_meets_water_to_make_basalt_and_steam() {
    let mut w = world([16, 16, 16], 8);
    fill(&mut w, [0, 0, 0], [16, 3, 16], id::WATER, AMBIENT);
    w.set_cell([8, 3, 8], id::LAVA, 1400.0);
    run(&mut w, CaConfig::default(), 1, 1);
    let s = w.census();
    assert_eq!(s[id::LAVA as usize].count, 0);
    assert_eq!(s[id::BASALT as usize].count, 1);
    assert_eq!(s[id::STEAM as usize].count, 1);
}

#[test]
fn fire_ignites_wood_and_burns_out_to_smoke() {
    let mut w = world([16, 16, 16], 8);
    fill(&mut w, [2, 0, 2], [14, 4, 14], id::WOOD, AMBIENT);
    w.set_cell([8, 4, 8], id::FIRE, 1200.0);
    let wood = w.census()[id::WOOD as usize].count;
    run(&mut w, CaConfig::default(), 300, 2);
    let s = w.census();
    let burned = wood - s[id::WOOD as usize].count;
    assert!(burned >= 20, "only {burned} wood cells burned");
    assert!(s[id::SMOKE as usize].count > 0, "burnt-out fire left smoke");
}

#[test]
fn hot_lava_alone_cools_into_basalt() {
    let mut w = world([16, 16, 16], 8);
    fill(&mut w, [0, 0, 0], [16, 1, 16], id::STONE, AMBIENT);
    w.set_cell([8, 1, 8], id::LAVA, 1050.0);
    run(&mut w, CaConfig::default(), 200, 2);
    assert_eq!(w.census()[id::LAVA as usize].count, 0);
    assert_eq!(w.census()[id::BASALT as usize].count, 1);
}

#[test]
fn ice_melts_steam_condenses_smoke_dissipates() {
    let mut w = world([16, 16, 16], 8);
    w.set_cell([2, 0, 2], id::ICE, 280.0);
    fill(&mut w, [6, 14, 6], [10, 16, 10], id::STEAM, 300.0);
    fill(&mut w, [12, 8, 12], [14, 10, 14], id::SMOKE, AMBIENT);
    run(
        &mut w,
        CaConfig {
            heat: false,
            ..CaConfig::default()
        },
        2000,
        2,
    );
    let s = w.census();
    assert_eq!(s[id::ICE as usize].count, 0);
    assert_eq!(s[id::STEAM as usize].count, 0);
    assert_eq!(s[id::SMOKE as usize].count, 0);
    assert_eq!(s[id::WATER as usize].count, 1 + 32);
}

#[test]
fn heat_conduction_conserves_energy_across_materials_and_evens_out() {
    let mut w = world([16, 16, 16], 8);
    fill(&mut w, [0, 0, 0], [16, 8, 16], id::STONE, AMBIENT);
    fill(&mut w, [0, 8, 0], [16, 12, 16], id::WATER, 280.0);
    fill(&mut w, [4, 4, 4], [8, 8, 8], id::STONE, 1000.0);
    let table = MaterialTable::default();
    // Σ capacity × temperature: the energy conduction must conserve, whatever
    // the capacities (air, water and stone differ by 3500×).
    let energy = |w: &VoxelWorld| -> f64 {
        let m = w.pools().material;
        let t = w.pools().temperature;
        m.iter()
            .zip(t)
            .map(|(&m, &t)| f64::from(table.heat_capacity[m as usize]) * f64::from(t))
            .sum()
    };
    let before = energy(&w);
    let stone_spread = |w: &VoxelWorld| {
        let (lo, hi) = (0..16u32)
            .flat_map(|x| (0..8u32).map(move |y| [x, y, 5]))
            .map(|p| w.temperature(p).unwrap())
            .fold((f32::MAX, f32::MIN), |(lo, hi), t| (lo.min(t), hi.max(t)));
        hi - lo
    };
    let s0 = stone_spread(&w);
    run(
        &mut w,
        CaConfig {
            reactions: false,
            ..CaConfig::default()
        },
        300,
        2,
    );
    let rel = (energy(&w) - before).abs() / before;
    assert!(rel < 1e-5, "energy drifted by {rel}");
    assert!(
        stone_spread(&w) < s0 * 0.5,
        "spread {} from {s0}",
        stone_spread(&w)
    );
    let water: f32 = w.temperature([8, 9, 8]).unwrap();
    assert!(water > 280.0, "the water above warmed: {water}");
}

#[test]
fn water_next_to_lava_heat_boils_into_steam() {
    let mut w = world([16, 16, 16], 8);
    fill(&mut w, [0, 0, 0], [16, 2, 16], id::STONE, 1300.0);
    fill(&mut w, [4, 2, 4], [12, 3, 12], id::WATER, AMBIENT);
    run(&mut w, CaConfig::default(), 300, 2);
    let s = w.census();
    assert!(s[id::STEAM as usize].count + s[id::WATER as usize].count <= 64);
    assert!(
        s[id::WATER as usize].count < 64,
        "some water boiled off the hot stone"
    );
}

#[test]
fn a_page_aligned_sand_block_collapses_across_the_page_face() {
    // A block filling exactly one page, with an air page beside it: the
    // cells on the shared face must slide into the neighbour like any others
    // instead of standing as a wall.
    let mut w = world([64, 64, 32], 32);
    fill(&mut w, [0, 0, 0], [32, 32, 32], id::SAND, AMBIENT);
    run(&mut w, NO_REACTIONS, 400, 2);
    let sand = w.census()[id::SAND as usize];
    assert_eq!(sand.count, 32 * 32 * 32);
    assert_eq!(
        w.material([31, 29, 16]),
        Some(id::AIR),
        "no wall left on the face"
    );
    assert_eq!(
        w.material([40, 0, 16]),
        Some(id::SAND),
        "sand spilled across the face"
    );
}

#[test]
fn skipping_stuck_rows_changes_nothing() {
    let build = || {
        let mut w = world([64, 64, 32], 32);
        fill(&mut w, [0, 0, 0], [32, 32, 32], id::SAND, AMBIENT);
        fill(&mut w, [32, 0, 0], [64, 8, 32], id::WATER, AMBIENT);
        fill(&mut w, [40, 40, 4], [48, 48, 12], id::GRAVEL, AMBIENT);
        w
    };
    let layered = || {
        let mut w = world([64, 64, 64], 16);
        fill(&mut w, [0, 0, 0], [64, 24, 64], id::WATER, AMBIENT);
        fill(&mut w, [0, 24, 0], [64, 48, 64], id::SAND, AMBIENT);
        fill(&mut w, [20, 30, 20], [28, 38, 28], id::OIL, AMBIENT);
        fill(&mut w, [40, 2, 40], [44, 6, 44], id::LAVA, 1400.0);
        w
    };
    let exact_config = CaConfig {
        skip_stuck_rows: false,
        ..CaConfig::default()
    };
    let worlds: [(&dyn Fn() -> VoxelWorld, &[u64]); 3] = [
        (&mixed_world, &[1, 5, 30]),
        (&layered, &[1, 5, 30]),
        (&build, &[1, 5, 30, 60]),
    ];
    for (make, batches) in worlds {
        let (mut fast, mut exact) = (make(), make());
        for &frames in batches {
            run(&mut fast, CaConfig::default(), frames, 2);
            run(&mut exact, exact_config, frames, 2);
            assert_eq!(fast.hash(), exact.hash(), "after another {frames} frames");
        }
    }
}

#[test]
fn no_cell_but_air_moves_twice_in_a_frame() {
    // Sand over water: every sand grain that sinks lifts a water cell; a
    // lifted water cell must not be lifted again by the grain above it in
    // the same frame, so after one frame no water is more than one cell
    // above where water was.
    let mut w = world([16, 16, 16], 8);
    fill(&mut w, [0, 0, 0], [16, 4, 16], id::WATER, AMBIENT);
    fill(&mut w, [0, 4, 0], [16, 12, 16], id::SAND, AMBIENT);
    run(&mut w, NO_REACTIONS, 1, 2);
    assert!(w.census()[id::WATER as usize].max_y <= 4);
}

/// A page that is not resident is frozen: the automaton never reads it and
/// sand rests on it as on a wall; once it is resident (and woken, as the
/// streamer does), the sand falls into it.
#[test]
fn non_resident_pages_are_walls_until_they_are_installed() {
    let layout = WorldLayout::new([16, 32, 16], 8).unwrap();
    let mut w = VoxelWorld::with_capacity(layout, layout.page_count());
    for p in 0..layout.page_count() {
        w.install(p).unwrap();
        let v = w.page_mut(p).unwrap();
        v.material.fill(id::AIR);
        v.temperature.fill(AMBIENT);
        v.flags.fill(0);
    }
    let below = layout.locate([4, 12, 4]).0; // page y = 1, x = z = 0
    w.evict(below);
    fill(&mut w, [2, 20, 2], [6, 24, 6], id::SAND, AMBIENT);
    let sand = w.material_counts()[id::SAND as usize];
    run(&mut w, NO_REACTIONS, 40, 2);
    assert_eq!(w.material_counts()[id::SAND as usize], sand, "conserved");
    assert_eq!(w.material([4, 15, 4]), None, "still not resident");
    for x in 2..6 {
        for z in 2..6 {
            assert_eq!(
                w.material([x, 16, z]),
                Some(id::SAND),
                "rests on the frozen page"
            );
        }
    }

    w.install(below).unwrap();
    let v = w.page_mut(below).unwrap();
    v.material.fill(id::AIR);
    v.temperature.fill(AMBIENT);
    v.flags.fill(0);
    w.wake_around(below);
    run(&mut w, NO_REACTIONS, 60, 2);
    assert_eq!(w.material_counts()[id::SAND as usize], sand, "conserved");
    assert_eq!(
        w.material([4, 0, 4]),
        Some(id::SAND),
        "fell through to the floor"
    );
}
