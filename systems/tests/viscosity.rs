//! A viscous liquid spreads and levels more slowly than water, in
//! proportion to its viscosity, and a paste (viscosity 1) keeps a heap as
//! a powder does.

use std::collections::BTreeSet;

use loam_storage::{CellPos, VoxelWorld, WorldLayout};
use loam_systems::ca::{self, CaConfig};
use loam_systems::materials::{id, Kind, Material, MaterialId, MaterialTable, AMBIENT};

const MOVEMENT: CaConfig = CaConfig {
    reactions: false,
    heat: false,
    thermal_transitions: false,
    skip_stuck_rows: true,
};

/// The built-in table with liquids like water of each viscosity.
fn table(viscosities: &[f32]) -> MaterialTable {
    let mut b = MaterialTable::builder();
    for (k, &v) in viscosities.iter().enumerate() {
        b.add(Material {
            viscosity: v,
            ..Material::new(format!("thick{k}"), Kind::Liquid, 1000.0, 4.18e6)
        })
        .unwrap();
    }
    b.build().unwrap()
}

/// A `side`² × 8 block of `m` dropped on a stone floor in the middle of a
/// world of `size` (page `page`), run `frames` frames with levelling (its
/// cells checked conserved every frame): the columns it covers and the
/// height of its highest cell.
fn spread(
    t: &MaterialTable,
    m: MaterialId,
    size: u32,
    page: u32,
    side: u32,
    frames: u64,
    seed: u64,
) -> (usize, u32) {
    let mut w = VoxelWorld::new(
        WorldLayout::new([size, 32, size], page).unwrap(),
        id::AIR,
        AMBIENT,
    );
    for z in 0..size {
        for x in 0..size {
            w.set_cell([x, 0, z], id::STONE, AMBIENT);
        }
    }
    let lo = (size - side) / 2;
    for z in lo..lo + side {
        for y in 1..9 {
            for x in lo..lo + side {
                w.set_cell([x, y, z], m, AMBIENT);
            }
        }
    }
    let cells = w.material_counts()[m as usize];
    for f in 0..frames {
        let swept = w.table().woken().to_vec();
        ca::step(&mut w, t, &MOVEMENT, seed, f);
        ca::level(&mut w, t, seed, f, &swept);
        assert_eq!(w.material_counts()[m as usize], cells, "frame {f}");
    }
    let mut columns = BTreeSet::new();
    let mut top = 0;
    for z in 0..size {
        for y in 0..32 {
            for x in 0..size {
                if w.material_at(CellPos([x, y, z])) == Some(m) {
                    columns.insert((x, z));
                    top = top.max(y);
                }
            }
        }
    }
    (columns.len(), top)
}

#[test]
fn thicker_liquids_cover_less_ground_and_a_paste_keeps_its_heap() {
    let t = table(&[0.0, 0.5, 0.9, 1.0]);
    let ids: Vec<MaterialId> = (0..4)
        .map(|k| t.id(&format!("thick{k}")).unwrap())
        .collect();
    for (seed, (size, page, side)) in [(64, 16, 6), (48, 8, 4), (64, 32, 8)]
        .into_iter()
        .enumerate()
    {
        let seed = seed as u64;
        let runs: Vec<(usize, u32)> = ids
            .iter()
            .map(|&m| spread(&t, m, size, page, side, 20, seed))
            .collect();
        let (water, half, thick, paste) = (runs[0], runs[1], runs[2], runs[3]);
        assert!(
            water.0 > half.0 && half.0 > thick.0 && thick.0 > paste.0,
            "world {size}, page {page}: columns covered {runs:?}"
        );
        // A paste neither spreads sideways nor levels: it only falls and
        // slides, so it keeps a heap as a powder does.
        let sand = spread(
            &MaterialTable::default(),
            id::SAND,
            size,
            page,
            side,
            20,
            seed,
        );
        assert!(
            paste.0 <= sand.0 && paste.1 >= sand.1,
            "paste {paste:?}, sand {sand:?}"
        );
    }
}

#[test]
fn viscosity_zero_is_water_exactly() {
    // A liquid with water's properties and no viscosity moves cell for
    // cell as water does.
    let t = table(&[0.0]);
    let same = t.id("thick0").unwrap();
    for seed in 0..3 {
        let water = spread(&MaterialTable::default(), id::WATER, 48, 16, 6, 40, seed);
        assert_eq!(spread(&t, same, 48, 16, 6, 40, seed), water, "seed {seed}");
    }
}
