//! Phase-transition workloads.
//!
//! - `dense128`: a 128³ block of water, every cell within 1 K of the
//!   boiling point (gravity off, so every cell is at 1 atm), every page
//!   woken before each pass: every cell is visited and proposed.
//!   Throughput counts visits.
//! - `ising`: the reference cost: a plain 3D Ising model on the same grid,
//!   red/black Metropolis with a counter-based random number per site and a
//!   lookup table for the acceptance, on the same rayon pool.
//!   `phase.ising_ratio` = Loam's time per visit over Ising's time per flip.
//!
//! The settled world's cost, which needs a scenario's runtime, is measured
//! in the `loam` crate (`loam::bench::sleeping`).

use std::time::Instant;

use rayon::prelude::*;

use loam_runtime::random::hash3;
use loam_runtime::Disjoint;
use loam_storage::{VoxelWorld, WorldLayout};
use loam_systems::materials::{id, MaterialTable};
use loam_systems::phase::{metropolis_pass, PhaseConfig, PhaseState, PhaseTable};

use crate::Measurement;

/// The dense block: water at 372.65–373.65 K.
pub fn dense_world() -> VoxelWorld {
    let layout = WorldLayout::new([128; 3], 32).expect("a valid layout");
    let mut w = VoxelWorld::new(layout, id::WATER, 373.15);
    let temps = w.pools_mut().temperature;
    for (i, t) in temps.iter_mut().enumerate() {
        *t = 372.65 + (hash3(5, 0, i as u64) >> 40) as f32 / (1u64 << 24) as f32;
    }
    w
}

/// The configuration of the dense block: no gravity, so no column weight.
pub fn dense_config() -> PhaseConfig {
    PhaseConfig {
        gravity: 0.0,
        ..PhaseConfig::default()
    }
}

/// One dense pass: wake every page, then visit.
pub fn dense_pass(
    world: &mut VoxelWorld,
    state: &mut PhaseState,
    tables: &(PhaseTable, MaterialTable),
    frame: u64,
) -> u64 {
    for p in 0..world.layout().page_count() {
        world.wake(p);
    }
    metropolis_pass(
        world,
        state,
        &tables.0,
        &tables.1,
        &dense_config(),
        &[],
        None,
        11,
        frame,
    );
    world.take_woken();
    state.last.visits
}

/// Visits per second over `passes` dense passes on `threads` threads.
pub fn dense_visits_per_s(threads: usize, passes: u64) -> f64 {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a small rayon pool");
    let tables = (PhaseTable::default(), MaterialTable::default());
    let mut world = dense_world();
    let mut state = PhaseState::default();
    pool.install(|| {
        dense_pass(&mut world, &mut state, &tables, 0);
        let start = Instant::now();
        let visits: u64 = (1..=passes)
            .map(|f| dense_pass(&mut world, &mut state, &tables, f))
            .sum();
        visits as f64 / start.elapsed().as_secs_f64()
    })
}

/// A 3D Ising model, spins ±1, periodic in no direction (edges see fewer
/// neighbours), as the reference for a Metropolis sweep's cost.
pub struct Ising {
    edge: usize,
    spins: Vec<i8>,
    /// `exp(−β·ΔE)` for ΔE = 2·s·Σ ∈ {−12, −8, …, 12}, by (ΔE + 12) / 4.
    accept: [f32; 7],
}

impl Ising {
    /// A random `edge`³ lattice at inverse temperature `beta`.
    pub fn new(edge: usize, beta: f32) -> Self {
        let spins = (0..edge.pow(3))
            .map(|i| {
                if hash3(1, 0, i as u64) & 1 == 0 {
                    1
                } else {
                    -1
                }
            })
            .collect();
        let accept = std::array::from_fn(|k| (-beta * (4 * k as i32 - 12) as f32).exp().min(1.0));
        Self {
            edge,
            spins,
            accept,
        }
    }

    /// One red/black sweep; returns the flips attempted. Planes of z run in
    /// parallel; a site reads its neighbours, which are of the other colour.
    pub fn sweep(&mut self, frame: u64) -> u64 {
        let e = self.edge;
        let plane = e * e;
        for colour in 0..2 {
            let ptr = Disjoint::new(&mut self.spins);
            let accept = self.accept;
            (0..e).into_par_iter().for_each(|z| {
                let s = ptr;
                for y in 0..e {
                    let start = (colour + y + z) % 2;
                    for x in (start..e).step_by(2) {
                        let i = x + e * y + plane * z;
                        // SAFETY: i and its neighbours are in bounds; cells of
                        // this colour are written by one task each, and the
                        // neighbours read are of the other colour.
                        unsafe {
                            let at = |j: usize| i32::from(*s.ptr(j));
                            let mut sum = 0;
                            if x > 0 {
                                sum += at(i - 1)
                            }
                            if x + 1 < e {
                                sum += at(i + 1)
                            }
                            if y > 0 {
                                sum += at(i - e)
                            }
                            if y + 1 < e {
                                sum += at(i + e)
                            }
                            if z > 0 {
                                sum += at(i - plane)
                            }
                            if z + 1 < e {
                                sum += at(i + plane)
                            }
                            let me = at(i);
                            let de = 2 * me * sum;
                            let r = (hash3(3, frame * 2 + colour as u64, i as u64) >> 40) as f32
                                * (1.0 / (1u64 << 24) as f32);
                            if r < accept[((de + 12) / 4) as usize] {
                                *s.ptr(i) = -me as i8;
                            }
                        }
                    }
                }
            });
        }
        self.spins.len() as u64
    }
}

/// Flip attempts per second of the Ising reference on `threads` threads.
pub fn ising_flips_per_s(threads: usize, sweeps: u64) -> f64 {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a small rayon pool");
    let mut ising = Ising::new(128, 0.2);
    pool.install(|| {
        ising.sweep(0);
        let start = Instant::now();
        let flips: u64 = (1..=sweeps).map(|f| ising.sweep(f)).sum();
        flips as f64 / start.elapsed().as_secs_f64()
    })
}

/// The `phase` group for `loam bench`.
pub fn measurements() -> Vec<Measurement> {
    let mut out = Vec::new();
    let mut loam_t2 = 0.0;
    for t in [1, 2] {
        let rate = dense_visits_per_s(t, 10);
        if t == 2 {
            loam_t2 = rate;
        }
        out.push(Measurement {
            name: format!("phase.dense128.visits_per_s.t{t}"),
            value: rate,
            unit: "visits/s",
        });
    }
    let ising = ising_flips_per_s(2, 20);
    out.push(Measurement {
        name: "phase.ising128.flips_per_s.t2".into(),
        value: ising,
        unit: "flips/s",
    });
    out.push(Measurement {
        name: "phase.ising_ratio".into(),
        value: ising / loam_t2,
        unit: "x",
    });
    out
}
