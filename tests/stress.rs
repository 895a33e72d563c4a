//! `loam stress` as a library: observers that jump, and a file that fails
//! reads and writes on purpose, over generated worlds. Each fault restarts
//! the run from its file, which must verify and must not have gone back
//! (checked inside the run; any breach is its violation).

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::Draws;
use loam::cli::stress::{stress, stressed_scenario, StressConfig};
use loam::{Fill, ObserverSpec, SavePolicy, Scenario, Shape, StorageSpec};

fn temp_file(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("loam-stress-{name}-{}.loam", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

/// A streamed world of terrain, `size` cells in pages of 16, with an
/// observer near `at`.
fn streamed(size: [u32; 3], seed: u64, at: [f64; 3]) -> Scenario {
    let mut s = Scenario::empty("stress-test", size);
    s.world.page = 16;
    s.world.seed = seed;
    s.run.threads = 2;
    s.fills.push(Fill {
        shape: Shape::NoiseTerrain {
            height: [2, (size[1] / 3) as i64],
            scale: 24.0,
            surface: Some((2, 2)),
        },
        material: 1,
        temperature: None,
    });
    s.world.storage = Some(StorageSpec {
        save: SavePolicy::OnExit,
        ..StorageSpec::new(temp_file("unused"))
    });
    s.observers.push(ObserverSpec {
        path: vec![[at[0], at[1], at[2], 0.0]],
        radius: 20.0,
    });
    s
}

fn config(seed: u64, frames: u64, jump_every: u64, faults: f64) -> StressConfig {
    StressConfig {
        frames,
        senders: 2,
        seed,
        interval: Duration::from_micros(300),
        check_every: 1,
        resident_pages: 6,
        save_every: 2,
        observer_jump_every: jump_every,
        faults,
        ..StressConfig::default()
    }
}

/// A jumping observer stays inside the world, holds still between jumps
/// and moves only at a jump; its places differ with the stress seed.
#[test]
fn observers_jump_inside_the_world_at_their_period() {
    let mut draws = Draws(7);
    for case in 0..20 {
        let size = [
            16 + draws.below(300) as u32,
            16 + draws.below(100) as u32,
            16 + draws.below(300) as u32,
        ];
        let every = 2 + draws.below(40);
        let frames = 1 + draws.below(400);
        let scenario = streamed(size, case, [0.0, 0.0, 0.0]);
        let c = config(case, frames, every, 0.0);
        let stressed = stressed_scenario(&scenario, &c, temp_file("path"));
        let other = stressed_scenario(
            &scenario,
            &config(case + 100, frames, every, 0.0),
            temp_file("p2"),
        );
        let observer = &stressed.observers[0];
        let mut moved = false;
        for f in 0..frames + every {
            let (p, _) = observer.at(f);
            for a in 0..3 {
                assert!(
                    (0.0..=f64::from(size[a])).contains(&p[a]),
                    "case {case}: frame {f} at {p:?} outside {size:?}"
                );
            }
            let (next, _) = observer.at(f + 1);
            if (f + 1) % every != 0 {
                assert_eq!(p, next, "case {case}: moved between jumps at frame {f}");
            }
            moved |= other.observers[0].at(f).0 != p;
        }
        assert!(moved, "case {case}: another seed jumps to the same places");
    }
}

/// Over generated worlds and fault rates, every run ends without a
/// violation having stepped all its frames, and faults did stop runs.
#[test]
fn faults_restart_the_run_from_a_file_that_never_goes_back() {
    let mut draws = Draws(11);
    let mut restarts = 0;
    let mut injected = 0;
    for case in 0..6 {
        let size = [
            32 + 16 * draws.below(4) as u32,
            32,
            32 + 16 * draws.below(4) as u32,
        ];
        // Sometimes at the world's edge.
        let at = [
            if draws.below(2) == 0 {
                0.0
            } else {
                f64::from(size[0]) / 2.0
            },
            16.0,
            f64::from(size[2]) - 1.0,
        ];
        let scenario = streamed(size, case, at);
        let rate = [0.02, 0.05, 0.1][draws.below(3) as usize];
        let jump = [0, 5][draws.below(2) as usize];
        let file = temp_file(&format!("faults{case}"));
        let out = stress(
            &scenario,
            &config(case, 40, jump, rate),
            file.clone(),
            |_| {},
        )
        .unwrap();
        let label = format!("case {case}: {size:?} at {at:?}, rate {rate}, jumps {jump}");
        assert_eq!(out.violation, None, "{label}");
        assert_eq!(out.steps, 40, "{label}");
        assert!(out.frames <= out.steps, "{label}");
        assert_eq!(
            out.replayable(),
            out.restarts == 0 && out.faults_injected == 0
        );
        restarts += out.restarts;
        injected += out.faults_injected;
        let _ = std::fs::remove_file(&file);
    }
    assert!(
        restarts > 0 && injected >= restarts,
        "{restarts} restarts, {injected} faults"
    );
}

/// `ObserverSpec::at` (a search over keyframes) is the linear
/// interpolation of the keyframe pair around each frame, still before the
/// first and after the last, over generated paths.
#[test]
fn an_observer_is_where_its_keyframes_put_it() {
    let mut draws = Draws(3);
    for case in 0..50 {
        let mut frame = draws.below(5) as f64;
        let path: Vec<[f64; 4]> = (0..1 + draws.below(20))
            .map(|_| {
                let k = [
                    draws.below(500) as f64,
                    draws.below(100) as f64,
                    draws.below(500) as f64,
                    frame,
                ];
                frame += 1.0 + draws.below(30) as f64;
                k
            })
            .collect();
        let observer = ObserverSpec {
            path: path.clone(),
            radius: 10.0,
        };
        for f in 0..frame as u64 + 5 {
            let x = f as f64;
            let expected = match path.windows(2).find(|w| x >= w[0][3] && x < w[1][3]) {
                Some(w) => {
                    let t = (x - w[0][3]) / (w[1][3] - w[0][3]);
                    [0, 1, 2].map(|i| w[0][i] + t * (w[1][i] - w[0][i]))
                }
                None if x < path[0][3] => [path[0][0], path[0][1], path[0][2]],
                None => {
                    let l = path[path.len() - 1];
                    [l[0], l[1], l[2]]
                }
            };
            let (p, _) = observer.at(f);
            for a in 0..3 {
                assert!(
                    (p[a] - expected[a]).abs() < 1e-9,
                    "case {case}, frame {f}: {p:?} against {expected:?}"
                );
            }
        }
    }
}
