//! How fields move the world: a blast throws sand but not stone, wind
//! carries smoke downwind, fire heats the air around it, all conserving
//! the cells they move.

use loam_storage::{VoxelWorld, WorldLayout};
use loam_systems::fields::{couple, FieldConfig, Fields, Scalar};
use loam_systems::materials::{id, MaterialTable, AMBIENT};

fn world() -> VoxelWorld {
    VoxelWorld::new(
        WorldLayout::new([64, 64, 64], 16).unwrap(),
        id::AIR,
        AMBIENT,
    )
}

fn fill(w: &mut VoxelWorld, min: [u32; 3], max: [u32; 3], m: u8) {
    for z in min[2]..max[2] {
        for y in min[1]..max[1] {
            for x in min[0]..max[0] {
                w.set_cell([x, y, z], m, AMBIENT);
            }
        }
    }
}

fn count_within(w: &VoxelWorld, m: u8, c: [f32; 3], r: f32) -> usize {
    let mut n = 0;
    for z in 0..64u32 {
        for y in 0..64u32 {
            for x in 0..64u32 {
                let d: f32 = [x, y, z]
                    .iter()
                    .zip(c)
                    .map(|(&v, c)| (v as f32 + 0.5 - c).powi(2))
                    .sum();
                if d.sqrt() <= r && w.material([x, y, z]) == Some(m) {
                    n += 1;
                }
            }
        }
    }
    n
}

#[test]
fn a_blast_throws_sand_outward_but_not_stone() {
    let mut w = world();
    fill(&mut w, [16, 16, 16], [48, 40, 48], id::SAND);
    fill(&mut w, [16, 8, 16], [48, 16, 48], id::STONE);
    let table = MaterialTable::default();
    let mut f = Fields::new(FieldConfig::default());
    // Buried 4 cells under the sand's surface.
    let centre = [32.0, 36.0, 32.0];
    f.add_explosion(centre, 16.0, 2.0e6, 0.0);
    let (sand, stone) = (
        w.material_counts()[id::SAND as usize],
        w.material_counts()[id::STONE as usize],
    );
    let near = count_within(&w, id::SAND, centre, 6.0);
    let mut moved = 0;
    for frame in 0..20 {
        moved += couple(&mut w, &mut f, &table, 1.0 / 60.0, 0.25, 1, frame).moved;
        f.diffuse(1.0 / 60.0);
        f.decay(1.0 / 60.0);
    }
    let counts = w.material_counts();
    assert_eq!(counts[id::SAND as usize], sand, "every grain still exists");
    assert_eq!(counts[id::STONE as usize], stone, "stone stays");
    assert!(moved > 100, "{moved} cells thrown");
    assert!(
        count_within(&w, id::SAND, centre, 6.0) < near / 2,
        "the blast emptied its centre"
    );
}

#[test]
fn wind_carries_smoke_downwind() {
    let mut w = world();
    fill(&mut w, [10, 30, 28], [14, 34, 32], id::SMOKE);
    let table = MaterialTable::default();
    let mut f = Fields::new(FieldConfig::default());
    let x_mean = |w: &VoxelWorld| w.census()[id::SMOKE as usize].center_of_mass()[0];
    let before = x_mean(&w);
    for frame in 0..60 {
        f.set_wind([0, 0, 0], [64, 64, 64], [12.0, 0.0, 0.0]);
        couple(&mut w, &mut f, &table, 1.0 / 60.0, 0.25, 2, frame);
    }
    assert_eq!(w.material_counts()[id::SMOKE as usize], 64, "no smoke lost");
    let after = x_mean(&w);
    assert!(
        after > before + 5.0,
        "smoke moved from x = {before} to {after}"
    );
}

#[test]
fn fire_heats_the_air_around_it_through_the_thermal_field() {
    let mut w = world();
    w.set_cell([32, 32, 32], id::FIRE, 1200.0);
    let table = MaterialTable::default();
    let mut f = Fields::new(FieldConfig::default());
    for frame in 0..30 {
        couple(&mut w, &mut f, &table, 1.0 / 60.0, 0.25, 3, frame);
        f.diffuse(1.0 / 60.0);
    }
    assert!(f.sample([32.5, 32.5, 32.5]).thermal > 100.0);
    let t = w.temperature([33, 33, 33]).unwrap();
    assert!(
        t > AMBIENT + 50.0,
        "the air next to the flame warmed to {t}"
    );
    assert!(f.total(Scalar::Thermal) > 0.0);
}

#[test]
fn a_faint_thermal_field_heats_nothing_and_a_warm_one_heats_every_cell_under_it() {
    let mut w = world();
    let table = MaterialTable::default();
    let mut f = Fields::new(FieldConfig::default());
    f.set_scalar_box(Scalar::Thermal, [0, 0, 0], [64, 64, 64], 0.05);
    let faint = couple(&mut w, &mut f, &table, 1.0 / 60.0, 0.25, 1, 0);
    assert_eq!(faint.heated, 0, "a twentieth of a kelvin heats nothing");
    assert_eq!(w.temperature([10, 10, 10]), Some(AMBIENT));
    f.set_scalar_box(Scalar::Thermal, [8, 8, 8], [24, 24, 24], 50.0);
    let warm = couple(&mut w, &mut f, &table, 1.0 / 60.0, 0.25, 1, 1);
    assert_eq!(warm.heated, 16 * 16 * 16);
    let t = w.temperature([10, 10, 10]).unwrap();
    assert!(t > AMBIENT + 1.0 && t < AMBIENT + 50.0, "{t}");
    assert_eq!(w.temperature([30, 30, 30]), Some(AMBIENT));
}

#[test]
fn coupling_gives_the_same_world_on_one_thread_and_two() {
    let run = |threads| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let mut w = world();
            fill(&mut w, [16, 16, 16], [48, 40, 48], id::SAND);
            fill(&mut w, [20, 40, 20], [30, 44, 30], id::SMOKE);
            let table = MaterialTable::default();
            let mut f = Fields::new(FieldConfig::default());
            f.add_explosion([32.0, 36.0, 32.0], 16.0, 2.0e6, 900.0);
            let mut stats = Vec::new();
            for frame in 0..20 {
                f.set_wind([0, 32, 0], [64, 64, 64], [6.0, 0.0, 2.0]);
                stats.push(couple(&mut w, &mut f, &table, 1.0 / 60.0, 0.25, 7, frame));
                f.step(1.0 / 60.0);
            }
            (w.hash(), stats)
        })
    };
    let (one, stats) = run(1);
    assert!(stats.iter().any(|s| s.moved > 0) && stats.iter().any(|s| s.heated > 0));
    assert_eq!((one, stats), run(2));
}
