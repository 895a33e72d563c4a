//! Soft bodies stacked on each other: for every pair of solvers, stacks of
//! three generated from a seed (materials, sizes, offsets, a stack at the
//! world's edge) come to rest without sinking into each other, checked
//! every frame, and sleep; a blast wakes a resting stack, which settles
//! again; the same motion on 1 thread and 2.

use loam_storage::{VoxelWorld, WorldLayout};
use loam_systems::fields::{FieldConfig, Fields};
use loam_systems::materials::{id, MaterialTable, AMBIENT};
use loam_systems::xpbd::{materials, Environment, SoftBodies, SoftBox, Solver, CONTACT_RADIUS};

const SOLVERS: [Solver; 3] = [Solver::GramSchmidt, Solver::Volume, Solver::Distance];

/// A 60 Hz frame of 4 substeps under gravity, 0.25 m cells.
fn env(fields: Option<&Fields>) -> Environment<'_> {
    Environment {
        dt: 1.0 / 60.0,
        substeps: 4,
        gravity: 9.81 / 0.25,
        voxel_size: 0.25,
        fields,
    }
}

/// A 32³ world with a stone floor 2 cells deep.
fn floor() -> VoxelWorld {
    let mut w = VoxelWorld::new(WorldLayout::new([32; 3], 16).unwrap(), id::AIR, AMBIENT);
    for z in 0..32 {
        for y in 0..2 {
            for x in 0..32 {
                w.set_cell([x, y, z], id::STONE, AMBIENT);
            }
        }
    }
    w
}

/// splitmix64: the stacks' dice.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// In `lo..=hi`.
    fn int(&mut self, lo: u32, hi: u32) -> u32 {
        lo + (self.next() % u64::from(hi - lo + 1)) as u32
    }

    /// In `[-r, r)`.
    fn offset(&mut self, r: f32) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 * r - r
    }
}

/// A stack of `solvers` from the floor up, each 1 cell above the one
/// below: cubes or slabs (as wide as high, or wider) shifted by up to 0.2
/// cells from `at` (x, z), of the materials the dice pick.
fn stack(dice: &mut Dice, solvers: [Solver; 3], at: [f32; 2]) -> (SoftBodies, String) {
    let width = dice.int(3, 4);
    let height = dice.int(2, width);
    let mut bodies = SoftBodies::default();
    let mut y = 2.0;
    let mut what = Vec::new();
    for (k, solver) in solvers.into_iter().enumerate() {
        let material = materials()[dice.int(0, 2) as usize];
        let origin = [at[0] + dice.offset(0.2), y, at[1] + dice.offset(0.2)];
        bodies.add_box(
            &SoftBox {
                solver,
                ..SoftBox::new(&format!("b{k}"), origin, [width, height, width], material)
            },
            0.25,
        );
        what.push(format!("{} {}", solver.name(), material.name));
        y += height as f32 + 1.0;
    }
    (
        bodies,
        format!("{width}x{height} stack of {}", what.join(", ")),
    )
}

/// Body `k`'s box: lowest and highest corner over its particles.
fn bounds(b: &SoftBodies, k: usize) -> ([f32; 3], [f32; 3]) {
    let (lo, hi) = b.bodies[k].particles;
    b.x[lo..hi]
        .iter()
        .fold(([f32::INFINITY; 3], [f32::NEG_INFINITY; 3]), |(l, h), p| {
            (
                [0, 1, 2].map(|a| l[a].min(p[a])),
                [0, 1, 2].map(|a| h[a].max(p[a])),
            )
        })
}

/// Whether body `k` still stands on body `k - 1`: their boxes overlap
/// across x and z.
fn on_top(b: &SoftBodies, k: usize) -> bool {
    let ((lo, hi), (below_lo, below_hi)) = (bounds(b, k), bounds(b, k - 1));
    [0, 2]
        .iter()
        .all(|&a| lo[a] < below_hi[a] && below_lo[a] < hi[a])
}

/// The closest two particles of bodies `i` and `j` are this far apart.
fn closest(b: &SoftBodies, i: usize, j: usize) -> f32 {
    let (pi, pj) = (b.bodies[i].particles, b.bodies[j].particles);
    b.x[pi.0..pi.1]
        .iter()
        .flat_map(|p| b.x[pj.0..pj.1].iter().map(move |q| (p, q)))
        .map(|(p, q)| (0..3).map(|a| (p[a] - q[a]).powi(2)).sum::<f32>().sqrt())
        .fold(f32::INFINITY, f32::min)
}

/// Asserts that no two bodies have particles closer than a contact radius
/// (two radii apart at rest): none passes into another.
fn apart(b: &SoftBodies, what: &str) {
    for i in 0..b.bodies.len() {
        for j in i + 1..b.bodies.len() {
            let d = closest(b, i, j);
            assert!(
                d > CONTACT_RADIUS,
                "{what}: bodies {i} and {j} {d} cells apart"
            );
        }
    }
}

/// Steps `b` until every body sleeps or `limit` frames, checking every
/// frame that every position is finite and, if `stacked`, that a body
/// standing on the one under it stays above it (its lowest particle above
/// the other's highest, to within a contact radius: a corner of an
/// overhanging body may bulge a hair past the edge below it), else every
/// 20 frames that no body passes into another. Returns the frames run.
fn settle(
    b: &mut SoftBodies,
    w: &VoxelWorld,
    fields: Option<&Fields>,
    limit: u32,
    stacked: bool,
    what: &str,
) -> u32 {
    let table = MaterialTable::default();
    for frame in 0..limit {
        b.step(w, &table, &env(fields));
        assert!(
            b.x.iter().flatten().all(|c| c.is_finite()),
            "{what}: a position is not finite at frame {frame}"
        );
        if !stacked {
            if frame % 20 == 0 {
                apart(b, what);
            }
            if b.bodies.iter().all(|body| body.sleeping) {
                return frame + 1;
            }
            continue;
        }
        for k in (1..b.bodies.len()).filter(|&k| on_top(b, k)) {
            let (below, above) = (bounds(b, k - 1).1[1], bounds(b, k).0[1]);
            assert!(
                above > below - CONTACT_RADIUS,
                "{what}: body {k} sank into the one below at frame {frame}: its lowest particle at \
                 y = {above}, the other's highest at {below}"
            );
        }
        if b.bodies.iter().all(|body| body.sleeping) {
            return frame + 1;
        }
    }
    limit
}

/// Body `k`'s centre of mass across x and z.
fn across(b: &SoftBodies, k: usize) -> [f32; 2] {
    let (lo, hi) = b.bodies[k].particles;
    let (mut sum, mut mass) = ([0.0f32; 2], 0.0f32);
    for (p, &w) in b.x[lo..hi].iter().zip(&b.w[lo..hi]) {
        let m = if w > 0.0 { 1.0 / w } else { 0.0 };
        sum = [sum[0] + m * p[0], sum[1] + m * p[2]];
        mass += m;
    }
    sum.map(|s| s / mass)
}

#[test]
fn stacks_of_three_of_every_solver_pair_rest_without_sinking_into_each_other_and_sleep() {
    let w = floor();
    let mut dice = Dice(20);
    let mut slowest = 0;
    let pairs = SOLVERS.into_iter().flat_map(|a| SOLVERS.map(|b| (a, b)));
    // Three stacks of each pair: two in the middle, one against the
    // world's edge.
    for (round, (lower, upper)) in (0..3).flat_map(|r| pairs.clone().map(move |p| (r, p))) {
        let at = if round == 2 {
            [0.5, 12.0]
        } else {
            [13.0, 13.0]
        };
        let (mut b, what) = stack(&mut dice, [lower, upper, lower], at);
        let start: Vec<[f32; 2]> = (0..3).map(|k| across(&b, k)).collect();
        let frames = settle(&mut b, &w, None, 1500, true, &what);
        assert!(
            b.bodies.iter().all(|body| body.sleeping),
            "{what}: not at rest after {frames} frames"
        );
        slowest = slowest.max(frames);
        for k in 1..3 {
            assert!(on_top(&b, k), "{what}: body {k} fell off the one below");
        }
        for (k, from) in start.iter().enumerate() {
            // Bodies squash and bulge under the ones above; none walks.
            let to = across(&b, k);
            let moved = ((to[0] - from[0]).powi(2) + (to[1] - from[1]).powi(2)).sqrt();
            assert!(moved < 1.0, "{what}: body {k} moved {moved} cells sideways");
            let ratio = b.volume_ratio(k);
            assert!(
                (ratio - 1.0).abs() < 0.02,
                "{what}: body {k} keeps {ratio} of its volume"
            );
        }
    }
    eprintln!("27 stacks slept within {slowest} frames");
}

#[test]
fn a_stack_woken_by_a_blast_settles_again() {
    let w = floor();
    let mut dice = Dice(7);
    let (mut b, what) = stack(
        &mut dice,
        [Solver::Volume, Solver::GramSchmidt, Solver::Distance],
        [13.0, 13.0],
    );
    let mut fields = Fields::new(FieldConfig::default());
    settle(&mut b, &w, Some(&fields), 1500, true, &what);
    assert!(b.bodies.iter().all(|body| body.sleeping), "{what}: at rest");
    let top = bounds(&b, 2).1[1];
    fields.add_explosion([8.0, top, 15.0], 6.0, 2.0e4, 0.0);
    let table = MaterialTable::default();
    b.step(&w, &table, &env(Some(&fields)));
    assert!(
        b.bodies.iter().any(|body| !body.sleeping),
        "{what}: the blast woke the stack"
    );
    let mut awake = 0;
    for _ in 0..2000 {
        b.step(&w, &table, &env(Some(&fields)));
        fields.decay(1.0 / 60.0);
        awake += 1;
        if b.bodies.iter().all(|body| body.sleeping) {
            break;
        }
        // However the blast threw them, no body passes into another.
        apart(&b, &what);
    }
    assert!(
        b.bodies.iter().all(|body| body.sleeping),
        "{what}: at rest again within 2000 frames"
    );
    eprintln!("{what}: asleep again {awake} frames after the blast");
}

#[test]
fn a_stack_moves_the_same_on_one_thread_and_two() {
    let w = floor();
    let table = MaterialTable::default();
    let run = |threads: usize| {
        let mut dice = Dice(3);
        let (mut b, _) = stack(
            &mut dice,
            [Solver::Distance, Solver::GramSchmidt, Solver::Volume],
            [13.0, 13.0],
        );
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            for _ in 0..120 {
                b.step(&w, &table, &env(None));
            }
        });
        b.x
    };
    let one = run(1);
    assert!(one == run(2), "the same positions, bit for bit");
}
