//! Simulation LOD (`[run] frame_budget_ms`): near an observer the world
//! runs exactly as without it; far away it runs less often but still runs,
//! conserves what it moves, and costs nothing once settled. Checked over
//! generated worlds: page sizes, near distances, observers at the edge.

use std::path::PathBuf;

use loam::loam_storage::VoxelWorld;
use loam::loam_systems::lod::SimulationLod;
use loam::{Fill, ObserverSpec, Runtime, SavePolicy, Scenario, Shape, StorageSpec};

const SAND: u8 = 2;
const WATER: u8 = 4;
const STEAM: u8 = 10;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("loam-lod-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

mod common;
use common::Draws;

/// One generated case: a world with an observer standing still, sand and
/// water near it, and more of both far from it, with air between.
struct Case {
    scenario: Scenario,
    near: f64,
    observer: [f64; 3],
    /// How far near material can travel in the frames run, cells.
    frames: u64,
}

fn case(seed: u64, file: PathBuf, lod: bool) -> Case {
    let mut r = Draws(seed);
    let page = [8u32, 16][r.below(2) as usize];
    let near = [16.0, 24.0, 32.0][r.below(3) as usize];
    let frames = 12;
    let size = [256, 32, 64];
    let mut s = Scenario::empty("lod-test", size);
    s.world.page = page;
    s.world.seed = seed;
    s.world.storage = Some(StorageSpec {
        save: SavePolicy::Never,
        ..StorageSpec::new(file)
    });
    s.systems.heat = false;
    s.systems.reactions = false;
    s.run.threads = 1 + r.below(2) as usize;
    if lod {
        s.run.frame_budget_ms = Some(16.0);
        s.run.lod_near = near;
    }
    // The observer stands at the world's left edge or a little in.
    let ox = [0.0, 3.0, 10.0][r.below(3) as usize];
    let oz = r.below(64) as f64;
    let observer = [ox, 16.0, oz];
    s.observers.push(ObserverSpec {
        path: vec![[ox, 16.0, oz, 0.0]],
        radius: 300.0,
    });
    // Near: boxes within near − frames cells of the observer, so what they
    // hold stays among the pages that run every frame.
    let reach = (near as i64 - frames as i64 - 2).max(2) / 2;
    for _ in 0..1 + r.below(3) {
        let x0 = (ox as i64 - reach + r.below(reach as u64) as i64).max(0);
        let z0 = (oz as i64 - reach + r.below(reach as u64) as i64).clamp(0, 63);
        let y0 = 8 + r.below(12) as i64;
        let extent = 1 + r.below(reach as u64) as i64;
        s.fills.push(fill(
            [x0, y0, z0],
            [x0 + extent, y0 + 4, (z0 + extent).min(64)],
            [SAND, WATER][r.below(2) as usize],
        ));
    }
    // Far: boxes past 4 × near, anywhere across the world's far end and
    // reaching its edges.
    for _ in 0..2 + r.below(4) {
        let from = 4 * near as i64 + 24;
        let x0 = from + r.below((256 - from - 4) as u64) as i64;
        let z0 = r.below(60) as i64;
        let y0 = 4 + r.below(20) as i64;
        s.fills.push(fill(
            [x0, y0, z0],
            [
                (x0 + 4 + r.below(30) as i64).min(256),
                y0 + 1 + r.below(8) as i64,
                64,
            ],
            [SAND, WATER][r.below(2) as usize],
        ));
    }
    // A floor, so sand and water pile and spread rather than all falling
    // out of the world's bottom row.
    s.fills.push(fill([0, 0, 0], [256, 2, 64], 1));
    Case {
        scenario: s,
        near,
        observer,
        frames,
    }
}

/// A box of `material`; water comes at one of a few temperatures, some
/// hot enough to boil on its own heat, so the phase pass has work near
/// and far.
fn fill(min: [i64; 3], max: [i64; 3], material: u8) -> Fill {
    let hot = [None, Some(330.0), Some(1000.0)][(min[0] + min[2]) as usize % 3];
    Fill {
        shape: Shape::Box { min, max },
        material,
        temperature: if material == WATER { hot } else { None },
    }
}

/// Cells of each material, water and steam counted as one: the phase
/// pass turns one into the other.
fn counts(world: &VoxelWorld) -> [u64; 256] {
    let mut n = [0u64; 256];
    for p in 0..world.layout().page_count() {
        if let Some(v) = world.page(p) {
            v.material.iter().for_each(|&m| n[m as usize] += 1);
        }
    }
    n[WATER as usize] += std::mem::take(&mut n[STEAM as usize]);
    n
}

/// Material and temperature bits of every cell of the pages `lod` runs
/// every frame.
fn near_cells(world: &VoxelWorld, lod: &SimulationLod) -> Vec<(usize, Vec<u8>, Vec<u32>)> {
    let layout = *world.layout();
    (0..layout.page_count())
        .filter(|&p| lod.period(&layout, p) == 1)
        .filter_map(|p| {
            let v = world.page(p)?;
            let t = v.temperature.iter().map(|t| t.to_bits()).collect();
            Some((p, v.material.to_vec(), t))
        })
        .collect()
}

#[test]
fn near_an_observer_the_world_runs_as_without_lod_and_far_away_it_still_runs() {
    let dir = temp_dir("near");
    let mut boiled = 0;
    for seed in 0..16 {
        let with = case(seed, dir.join(format!("with-{seed}.loam")), true);
        let without = case(seed, dir.join(format!("without-{seed}.loam")), false);
        let lod = SimulationLod {
            focus: vec![with.observer],
            ..SimulationLod::new(with.near)
        };
        let mut a = Runtime::new(with.scenario).unwrap();
        let mut b = Runtime::new(without.scenario).unwrap();
        let near_held: usize = near_cells(&a.world(), &lod)
            .iter()
            .map(|(_, m, _)| m.iter().filter(|&&m| m == SAND || m == WATER).count())
            .sum();
        assert!(
            near_held > 0,
            "seed {seed}: the near pages hold sand or water"
        );
        let start = counts(&a.world());
        assert_eq!(
            start,
            counts(&b.world()),
            "seed {seed}: same world to start"
        );
        for f in 0..with.frames {
            a.step().unwrap();
            b.step().unwrap();
            assert_eq!(
                counts(&a.world()),
                start,
                "seed {seed} frame {f}: LOD conserves"
            );
            assert_eq!(
                near_cells(&a.world(), &lod),
                near_cells(&b.world(), &lod),
                "seed {seed} frame {f}: the near pages differ"
            );
        }
        let report = a.report().lod.expect("a run with a budget reports its LOD");
        let far: u64 = ["2", "4", "8"]
            .iter()
            .map(|k| report.page_updates[*k])
            .sum();
        assert!(far > 0, "seed {seed}: far pages ran: {report:?}");
        assert!(
            report.pages_deferred > 0,
            "seed {seed}: and were put off: {report:?}"
        );
        assert!(
            report.page_updates["1"] > 0,
            "seed {seed}: near pages ran: {report:?}"
        );
        boiled += a
            .report()
            .transitions
            .get("water->steam")
            .copied()
            .unwrap_or(0);
    }
    assert!(boiled > 0, "the phase pass boiled water in some world");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn far_away_the_world_settles_as_without_lod_and_then_costs_nothing() {
    let dir = temp_dir("settle");
    for seed in 100..106 {
        let with = case(seed, dir.join(format!("with-{seed}.loam")), true);
        let mut s1 = case(seed, dir.join(format!("one-{seed}.loam")), true).scenario;
        s1.run.threads = 1;
        let mut s2 = case(seed, dir.join(format!("two-{seed}.loam")), true).scenario;
        s2.run.threads = 2;
        let mut a = Runtime::new(with.scenario).unwrap();
        let start = counts(&a.world());
        // Long enough for every fill to land, at an eighth of the rate.
        a.run(400).unwrap();
        assert_eq!(counts(&a.world()), start, "seed {seed}: conserved");
        let settled = a.report().lod.unwrap();
        a.run(40).unwrap();
        let later = a.report().lod.unwrap();
        assert_eq!(
            (settled.page_updates.clone(), settled.pages_deferred),
            (later.page_updates.clone(), later.pages_deferred),
            "seed {seed}: a settled world updates no page"
        );
        // Nothing hangs in the air far away: every sand cell rests on
        // something.
        let world = a.world();
        let layout = *world.layout();
        for x in 0..layout.size[0] {
            for z in 0..layout.size[2] {
                for y in 1..layout.size[1] {
                    if world.material([x, y, z]) == Some(SAND) {
                        assert_ne!(
                            world.material([x, y - 1, z]),
                            Some(0),
                            "seed {seed}: sand over air at {x},{y},{z}"
                        );
                    }
                }
            }
        }
        drop(world);
        // The same on 1 thread and 2.
        let (mut one, mut two) = (Runtime::new(s1).unwrap(), Runtime::new(s2).unwrap());
        one.run(60).unwrap();
        two.run(60).unwrap();
        assert_eq!(one.world_hash(), two.world_hash(), "seed {seed}: threads");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Adaptive LOD over generated worlds: a budget no frame meets shrinks
/// `near` and the page loads at each look, one no frame nears grows them,
/// always within bounds and conserving every material; the choices,
/// replayed with the commands into a runtime on the other thread count,
/// give the same world; choices that break the rules are refused.
#[test]
fn adaptive_lod_steers_from_frame_times_and_replays_exactly() {
    use loam::loam_systems::lod::steering::STEER_EVERY;
    use loam::LodMode;
    let dir = temp_dir("adaptive");
    for seed in 0..4u64 {
        for budget in [1e-3, 60_000.0] {
            let file = |k: &str| dir.join(format!("{seed}-{budget}-{k}.loam"));
            let mut c = case(seed, file("a"), true);
            c.scenario.run.frame_budget_ms = Some(budget);
            c.scenario.run.lod = LodMode::Adaptive;
            let mut rt = Runtime::new(c.scenario.clone()).unwrap();
            rt.record_commands();
            let before = counts(&rt.world());
            let frames = 3 * STEER_EVERY + 5;
            for _ in 0..frames {
                rt.step().unwrap();
                assert_eq!(
                    counts(&rt.world()),
                    before,
                    "seed {seed}: materials conserved"
                );
            }
            let choices = rt.lod_choices();
            assert_eq!(
                choices.len(),
                3,
                "seed {seed} budget {budget}: a change each look"
            );
            for (k, choice) in choices.iter().enumerate() {
                let looks = (k + 1) as i32;
                assert_eq!(choice.frame, (k as u64 + 1) * STEER_EVERY);
                let want = if budget < 1.0 {
                    (c.near * 0.7f64.powi(looks)).max(c.near / 8.0)
                } else {
                    c.near * 1.25f64.powi(looks)
                };
                assert!(
                    (choice.near - want).abs() < 1e-9,
                    "seed {seed}: {choice:?}, want {want}"
                );
                let loads = if budget < 1.0 { 256 >> looks } else { 256 };
                assert_eq!(choice.load_per_frame, loads, "seed {seed}");
            }
            let report = rt.report();
            let lod = report.lod.as_ref().unwrap();
            assert_eq!((lod.mode, lod.choices), ("adaptive", 3), "seed {seed}");

            let mut again = c.scenario.clone();
            again.run.threads = 3 - c.scenario.run.threads;
            again.world.storage.as_mut().unwrap().file = file("b");
            let mut replay = Runtime::new(again).unwrap();
            replay.replay_commands(rt.recorded_commands()).unwrap();
            replay.replay_lod(choices.clone()).unwrap();
            replay.run(frames).unwrap();
            assert_eq!(
                replay.world_hash(),
                rt.world_hash(),
                "seed {seed} budget {budget}"
            );
            assert_eq!(replay.lod_choices(), choices, "seed {seed}");

            let mut bad = choices.clone();
            bad[1].near = f64::NAN;
            let mut fresh = c.scenario.clone();
            fresh.world.storage.as_mut().unwrap().file = file("c");
            let mut other = Runtime::new(fresh).unwrap();
            let error = other.replay_lod(bad).unwrap_err().to_string();
            assert!(
                error.contains("choice 1 (frame 60): near NaN is outside"),
                "{error}"
            );
            let error = other
                .replay_lod(vec![choices[1], choices[0]])
                .unwrap_err()
                .to_string();
            assert!(error.contains("choice 1 is for frame 30"), "{error}");
        }
    }
    let mut fixed = case(9, dir.join("fixed.loam"), true).scenario;
    fixed.run.lod = LodMode::Fixed;
    let mut rt = Runtime::new(fixed).unwrap();
    let error = rt.replay_lod(Vec::new()).unwrap_err().to_string();
    assert!(error.contains("lod is \"adaptive\""), "{error}");
    std::fs::remove_dir_all(&dir).unwrap();
}
