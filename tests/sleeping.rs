//! A mostly settled world costs what its active pages cost, not what its size
//! costs: the same activity in a world four times larger updates exactly the
//! same pages every frame.

use loam::loam_systems::ca::CaStats;
use loam::{Emitter, Fill, Runtime, Scenario, Shape};

fn world(size_xz: u32) -> Runtime {
    let mut s = Scenario::empty("sleeping", [size_xz, 64, size_xz]);
    s.world.seed = 11;
    s.run.threads = 2;
    s.fills.push(Fill {
        shape: Shape::NoiseTerrain {
            height: [8, 40],
            scale: 96.0,
            surface: None,
        },
        material: 1,
        temperature: None,
    });
    s.emitters.push(Emitter {
        material: 2,
        center: [100.0, 60.0, 100.0],
        radius: 1.5,
        frames: [0, u64::MAX],
        temperature: None,
    });
    Runtime::new(s).unwrap()
}

#[test]
fn updated_pages_follow_activity_not_world_size() {
    let (mut small, mut large) = (world(256), world(512));
    assert_eq!(
        large.world().layout().page_count(),
        4 * small.world().layout().page_count()
    );
    // The first frames visit every page holding terrain, and find it settled.
    small.run(4).unwrap();
    large.run(4).unwrap();
    for frame in 4..100 {
        small.step().unwrap();
        large.step().unwrap();
        let s = *small.engine().resource::<CaStats>().unwrap();
        let l = *large.engine().resource::<CaStats>().unwrap();
        assert_eq!(s.pages_updated, l.pages_updated, "frame {frame}");
        assert!(
            (1..=12).contains(&s.pages_updated),
            "frame {frame}: {} pages updated",
            s.pages_updated
        );
    }
}

#[test]
fn a_page_aligned_hot_block_heats_its_neighbours() {
    // The block fills exactly one page, uniformly: its own contents give no
    // reason to wake, but the air pages around it are colder.
    let mut s = Scenario::empty("hot", [64, 64, 64]);
    s.fills.push(Fill {
        shape: Shape::Box {
            min: [0, 0, 0],
            max: [32, 32, 32],
        },
        material: 1,
        temperature: Some(900.0),
    });
    let mut rt = Runtime::new(s).unwrap();
    rt.run(20).unwrap();
    let warmed = rt.world().temperature([33, 10, 10]).unwrap();
    assert!(warmed > 293.2, "air across the face stayed at {warmed} K");
    assert!(
        rt.world().table().awake_count() > 0,
        "heat is still flowing"
    );
}
