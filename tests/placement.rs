//! `[run] place_cells_per_frame`: big `place` commands spread over frames,
//! in order, a frame never writing more than its budget (or one row), and
//! the world they leave the one writing each whole gives. Checked over
//! generated commands: boxes and spheres, at the world's edges, overlapping,
//! from the scenario and sent from code, with a resume in the middle.

use loam::placement::PlacementQueue;
use loam::{Command, Fill, Runtime, Scenario, ScheduledCommand, Shape};

mod common;
use common::Draws;

impl Draws {
    /// A draw in `0..n`, signed.
    fn int(&mut self, n: u64) -> i64 {
        self.below(n) as i64
    }
}

const SIZE: [u32; 3] = [32, 16, 32];

/// A world where nothing moves (every system off), so what changes from
/// one frame to the next is what the placements wrote.
fn scenario(seed: u64, budget: Option<u64>) -> (Scenario, Vec<(u64, Fill)>) {
    let mut r = Draws(seed);
    let mut s = Scenario::empty("placement-test", SIZE);
    s.world.page = [8, 16][r.int(2) as usize];
    s.systems.ca = false;
    s.systems.phase = false;
    s.systems.heat = false;
    s.run.place_cells_per_frame = budget;
    let mut sent = Vec::new();
    for k in 0..2 + r.int(5) {
        let material = [1u8, 2, 4, 5][r.int(4) as usize];
        let shape = if r.int(2) == 0 {
            // Reaching the world's edges often: a box must stay inside.
            let min = [r.int(40) - 8, r.int(24) - 8, r.int(40) - 8].map(|v| v.max(0));
            let max: [i64; 3] =
                std::array::from_fn(|a| (min[a] + 1 + r.int(20)).min(i64::from(SIZE[a])));
            let min = std::array::from_fn(|a| min[a].min(max[a] - 1));
            Shape::Box { min, max }
        } else {
            Shape::Sphere {
                center: [r.int(32) as f64, r.int(16) as f64, r.int(32) as f64],
                radius: 1.0 + r.int(10) as f64,
            }
        };
        let fill = Fill {
            shape,
            material,
            temperature: Some(250.0 + k as f32 * 10.0),
        };
        let frame = r.int(4) as u64;
        if k % 2 == 0 {
            s.commands.push(ScheduledCommand {
                frame,
                command: Command::Place(fill),
            });
        } else {
            sent.push((frame, fill));
        }
    }
    (s, sent)
}

/// Every cell's material and temperature bits.
fn cells(rt: &Runtime) -> Vec<(u8, u32)> {
    let world = rt.world();
    let mut out = Vec::new();
    for z in 0..SIZE[2] {
        for y in 0..SIZE[1] {
            for x in 0..SIZE[0] {
                let i = world.cell_index([x, y, z]).unwrap();
                let pools = world.pools();
                out.push((pools.material[i], pools.temperature[i].to_bits()));
            }
        }
    }
    out
}

/// Steps `rt` to `frames`, sending each command at its frame, and on while
/// placements are under way.
fn run(rt: &mut Runtime, sent: &[(u64, Fill)], frames: u64, mut each: impl FnMut(&Runtime)) {
    let sender = rt.command_sender();
    let pending = |rt: &Runtime| rt.engine().resource::<PlacementQueue>().unwrap().pending();
    while rt.frame() < frames || pending(rt) > 0 {
        for (_, fill) in sent.iter().filter(|(f, _)| *f == rt.frame()) {
            sender.send(Command::Place(fill.clone())).unwrap();
        }
        rt.step().unwrap();
        each(rt);
    }
}

#[test]
fn big_placements_spread_over_frames_within_the_budget_and_end_as_whole_ones() {
    for seed in 0..16 {
        let budget = [1u64, 40, 300, 2000][seed as usize % 4];
        let (whole_scenario, sent) = scenario(seed, None);
        let (spread_scenario, _) = scenario(seed, Some(budget));
        let mut whole = Runtime::new(whole_scenario).unwrap();
        run(&mut whole, &sent, 6, |_| {});
        let expected = cells(&whole);

        let mut spread = Runtime::new(spread_scenario).unwrap();
        let mut before = cells(&spread);
        // One row of the widest box is the most a frame writes past the
        // budget.
        let most = budget.max(SIZE[0] as u64);
        run(&mut spread, &sent, 6, |rt| {
            let now = cells(rt);
            let changed = now.iter().zip(&before).filter(|(a, b)| a != b).count() as u64;
            assert!(
                changed <= most,
                "seed {seed}: {changed} cells in a frame, budget {budget}"
            );
            before = now;
        });
        let differ = cells(&spread)
            .iter()
            .zip(&expected)
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(
            differ, 0,
            "seed {seed}: cells unlike the whole placements' world"
        );
        let queue = spread.engine().resource::<PlacementQueue>().unwrap();
        assert_eq!(queue.pending(), 0, "seed {seed}: all written");
        if budget <= 40 {
            assert!(
                queue.cells_spread > 0,
                "seed {seed}: a budget of {budget} spread some"
            );
        }
    }
}

#[test]
fn a_resumed_run_goes_on_with_the_placements_under_way() {
    let dir = std::env::temp_dir().join(format!("loam-placement-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for seed in 40..46 {
        let (s, sent) = scenario(seed, Some(50));
        let mut straight = Runtime::new(s.clone()).unwrap();
        run(&mut straight, &sent, 120, |_| {});

        let mut first = Runtime::new(s.clone()).unwrap();
        run(&mut first, &sent, 5, |_| {});
        let file = dir.join(format!("{seed}.loam"));
        first.save_state(&file).unwrap();
        let mut resumed = Runtime::new(s).unwrap();
        resumed.load_state(&file).unwrap();
        run(&mut resumed, &sent, 120, |_| {});
        assert_eq!(resumed.world_hash(), straight.world_hash(), "seed {seed}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
