use loam_storage::{VoxelWorld, WorldLayout};
use loam_systems::materials::{id, MaterialTable, AMBIENT};
use loam_systems::xpbd::{materials, Environment, SoftBodies, SoftBox, Solver};
fn main() {
    let a: Vec<f32> = std::env::args()
        .skip(1)
        .map(|s| s.parse().unwrap())
        .collect();
    let (mat, y, vz, floor) = (a[0] as usize, a[1], a[2], a[3] as u8);
    let mut w = VoxelWorld::new(
        WorldLayout::new([64, 64, 64], 16).unwrap(),
        id::AIR,
        AMBIENT,
    );
    for x in 0..64 {
        for z in 0..64 {
            for yy in 0..4 {
                w.set_cell([x, yy, z], floor, AMBIENT);
            }
        }
    }
    let table = MaterialTable::default();
    let mut b = SoftBodies::default();
    b.add_box(
        &SoftBox {
            solver: Solver::GramSchmidt,
            velocity: [0.0, 0.0, vz],
            ..SoftBox::new("j", [20.0, y, 20.0], [6, 6, 6], materials()[mat])
        },
        0.25,
    );
    let env = Environment {
        dt: 1.0 / 60.0,
        substeps: 4,
        gravity: 9.81 / 0.25,
        voxel_size: 0.25,
        fields: None,
    };
    for f in 0..300 {
        b.step(&w, &table, &env);
        if f % 10 == 0 {
            let s0 = b.summary(0);
            println!(
                "{f} min {:.3} com {:.2?} speed {:.2} vol {:.3} broken {} sleep {}",
                s0.min_y,
                s0.center_of_mass,
                s0.max_speed,
                b.volume_ratio(0),
                s0.broken_constraints,
                b.bodies[0].sleeping
            );
        }
    }
}
