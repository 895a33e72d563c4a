//! A blast above flat ground of a loose material digs a crater: cells are
//! thrown up and out and land around it, every cell is conserved, a
//! stronger blast digs deeper, and stone under a blast stays.

use loam::loam_systems::materials::id;
use loam::{Command, ExplosionSpec, Fill, Runtime, Scenario, ScheduledCommand, Shape};

const SURFACE: u32 = 16;

/// A 64 × 48 × 64 world: stone below y = 4, `ground` from 4 to 16, and a
/// blast of `strength` Pa two cells above the surface at the middle.
fn blast(ground: u8, strength: f64) -> Runtime {
    let mut s = Scenario::empty("crater", [64, 48, 64]);
    s.world.page = 16;
    s.run.threads = 2;
    let slab = |lo: i64, hi: i64, material: u8| Fill {
        shape: Shape::Box {
            min: [0, lo, 0],
            max: [64, hi, 64],
        },
        material,
        temperature: None,
    };
    s.fills.push(slab(0, 4, id::STONE));
    s.fills.push(slab(4, i64::from(SURFACE), ground));
    if strength > 0.0 {
        s.commands.push(ScheduledCommand {
            frame: 1,
            command: Command::Explode(ExplosionSpec {
                center: [32.0, f64::from(SURFACE) + 2.0, 32.0],
                radius: 10.0,
                strength,
                heat: 0.0,
            }),
        });
    }
    let mut rt = Runtime::new(s).expect("a valid scenario");
    for _ in 0..150 {
        rt.step().expect("a frame");
    }
    rt
}

/// The height of the ground (one above its highest cell of `m`) in column
/// (x, z).
fn height(rt: &Runtime, m: u8, x: u32, z: u32) -> u32 {
    (0..48)
        .rev()
        .find(|&y| rt.world().material([x, y, z]) == Some(m))
        .map_or(0, |y| y + 1)
}

/// How deep the crater is at the blast's centre (the lowest column within
/// two cells of it), and how many cells lie above the old surface.
fn crater(rt: &Runtime, m: u8) -> (u32, u64) {
    let mut lowest = SURFACE;
    for z in 30..35 {
        for x in 30..35 {
            lowest = lowest.min(height(rt, m, x, z));
        }
    }
    let mut above = 0;
    for z in 0..64 {
        for y in SURFACE..48 {
            for x in 0..64 {
                above += u64::from(rt.world().material([x, y, z]) == Some(m));
            }
        }
    }
    (SURFACE - lowest, above)
}

#[test]
fn a_blast_over_sand_and_gravel_digs_a_crater_deeper_for_a_stronger_blast() {
    for (name, ground) in [("sand", id::SAND), ("gravel", id::GRAVEL)] {
        let before = blast(ground, 0.0).world().material_counts()[ground as usize];
        let (weak, strong) = (blast(ground, 4.0e5), blast(ground, 2.0e6));
        for rt in [&weak, &strong] {
            assert_eq!(
                rt.world().material_counts()[ground as usize],
                before,
                "{name}: every cell is conserved"
            );
        }
        let (weak_depth, _) = crater(&weak, ground);
        let (depth, above) = crater(&strong, ground);
        println!("{name}: crater {weak_depth} deep at 0.4 MPa, {depth} deep at 2 MPa, {above} cells piled above the old surface");
        assert!(
            depth >= 3,
            "{name}: a 2 MPa blast digs at least 3 cells, dug {depth}"
        );
        assert!(
            depth > weak_depth,
            "{name}: stronger digs deeper ({weak_depth} then {depth})"
        );
        assert!(
            above > 0,
            "{name}: what was thrown lands around the crater, above the old surface"
        );
    }
}

#[test]
fn stone_under_a_blast_stays() {
    let calm = blast(id::STONE, 0.0);
    let hit = blast(id::STONE, 2.0e6);
    assert_eq!(crater(&hit, id::STONE), (0, 0));
    assert_eq!(
        hit.world().material_counts(),
        calm.world().material_counts()
    );
}
