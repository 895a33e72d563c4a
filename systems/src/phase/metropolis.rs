//! The Metropolis pass (see the module docs of [`crate::phase`]).

use std::collections::BTreeMap;

use rayon::prelude::*;

use loam_runtime::random::{hash3, mix64};
use loam_storage::{neighbourhood, VoxelWorld};

use super::diagram::{PhaseTable, State, R};
use crate::materials::{Kind, MaterialTable};

/// Where the pass gets its pressure and how often it visits.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PhaseConfig {
    /// Ambient pressure, Pa.
    pub ambient_pressure: f64,
    /// Edge of a voxel, m.
    pub voxel_size: f64,
    /// Gravity, m/s².
    pub gravity: f64,
    /// Visit pages that were only candidates (not woken this frame) every
    /// `stagger` frames, spread by page.
    pub stagger: u32,
}

impl Default for PhaseConfig {
    fn default() -> Self {
        Self {
            ambient_pressure: super::diagram::P0,
            voxel_size: 0.25,
            gravity: 9.81,
            stagger: 1,
        }
    }
}

/// A region held at a temperature: it supplies or takes any latent heat.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HeatBath {
    /// Inclusive lower corner, cells.
    pub min: [u32; 3],
    /// Exclusive upper corner, cells.
    pub max: [u32; 3],
    /// K.
    pub temperature: f32,
}

impl HeatBath {
    fn contains(&self, p: [u32; 3]) -> bool {
        (0..3).all(|a| self.min[a] <= p[a] && p[a] < self.max[a])
    }
}

/// What the last pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PhaseStats {
    /// Pages visited.
    pub pages: u64,
    /// Voxels with a phase diagram that were considered.
    pub visits: u64,
    /// Transitions proposed (voxels near enough to a transition).
    pub proposals: u64,
    /// Transitions accepted.
    pub accepted: u64,
}

/// The pass's memory between frames.
#[derive(Clone, Debug, Default)]
pub struct PhaseState {
    /// The last pass.
    pub last: PhaseStats,
    /// Accepted transitions since the start, by (from, to) material.
    pub transitions: BTreeMap<(u8, u8), u64>,
    /// Pages that held a voxel near a transition at the last visit.
    candidates: Vec<usize>,
}

/// Above this `n·ΔG/RT` no transition can be accepted with a probability
/// worth a random number (`e^-40`); the voxel is skipped.
const SKIP: f64 = 40.0;

/// Lowest temperature a voxel may be left at by paying a latent heat, K.
const MIN_TEMPERATURE: f64 = 1.0;

/// Channels of the world as raw pointers, for parallel work on disjoint
/// cells (see `metropolis_pass`).
#[derive(Clone, Copy)]
struct Channels {
    material: *mut u8,
    temperature: *mut f32,
}

// SAFETY: shared between threads only for writes to disjoint cells (one
// page's cells of one colour per task) and reads of cells nobody writes in
// that half-sweep.
unsafe impl Send for Channels {}
unsafe impl Sync for Channels {}

/// Per-substance numbers the inner loop needs.
struct SubstanceConsts {
    moles: f64,
    interface: f64,
    /// Below this pressure a solid turns straight into gas and back; above
    /// it, each goes through the liquid.
    triple_pressure: Option<f64>,
    phases: Vec<PhaseConsts>,
}

impl SubstanceConsts {
    /// Whether phases `a` and `b` share a boundary of the phase diagram at
    /// pressure `p`: solid–liquid and liquid–gas above the triple point,
    /// solid–gas below it.
    fn adjacent(&self, a: usize, b: usize, p: f64) -> bool {
        let (sa, sb) = (self.phases[a].state, self.phases[b].state);
        let above = self.triple_pressure.is_none_or(|t| p >= t);
        match (sa, sb) {
            (State::Solid, State::Gas) | (State::Gas, State::Solid) => !above,
            _ => above || self.triple_pressure.is_none(),
        }
    }
}

#[derive(Clone, Copy)]
struct PhaseConsts {
    material: u8,
    state: State,
    a: f64,
    b: f64,
    cp: f64,
    volume: f64,
}

impl PhaseConsts {
    fn enthalpy(&self, t: f64, dp: f64) -> f64 {
        self.a
            + self.cp * t
            + if self.state == State::Gas {
                0.0
            } else {
                self.volume * dp
            }
    }

    fn entropy(&self, t: f64, ln_p: f64) -> f64 {
        self.b + self.cp * t.ln()
            - if self.state == State::Gas {
                R * ln_p
            } else {
                0.0
            }
    }

    fn gibbs(&self, t: f64, dp: f64, ln_p: f64) -> f64 {
        self.enthalpy(t, dp) - t * self.entropy(t, ln_p)
    }
}

/// What one page's half-sweep did.
#[derive(Default)]
struct PageOutcome {
    changed: Vec<([u32; 3], u8, u8)>,
    visits: u64,
    proposals: u64,
    candidate: bool,
}

/// One Metropolis pass: the pages woken this frame and the candidate pages
/// (see the module docs), red cells then black cells, pages in parallel on
/// the current rayon pool.
///
/// # Panics
/// If the world's pools and page table disagree over the visited pages and
/// their neighbours (see [`VoxelWorld::check_slots`]).
#[allow(clippy::too_many_arguments)]
pub fn metropolis_pass(
    world: &mut VoxelWorld,
    state: &mut PhaseState,
    phases: &PhaseTable,
    materials: &MaterialTable,
    config: &PhaseConfig,
    baths: &[HeatBath],
    seed: u64,
    frame: u64,
) {
    let layout = *world.layout();
    let stagger = u64::from(config.stagger.max(1));
    let woken: Vec<usize> = world.table.woken().to_vec();
    let mut pages: Vec<usize> = woken
        .iter()
        .copied()
        .chain(
            state
                .candidates
                .iter()
                .copied()
                .filter(|&p| (mix64(p as u64) + frame) % stagger == 0),
        )
        .filter(|&p| world.table.resident_slot(p).is_some())
        .collect();
    pages.sort_unstable();
    pages.dedup();
    // Candidates left out by the stagger stay candidates.
    let mut candidates: Vec<usize> = state
        .candidates
        .iter()
        .copied()
        .filter(|p| pages.binary_search(p).is_err())
        .collect();
    let mut stats = PhaseStats {
        pages: pages.len() as u64,
        ..PhaseStats::default()
    };
    if pages.is_empty() {
        state.last = stats;
        state.candidates = candidates;
        return;
    }
    let touched = pages.iter().flat_map(|&p| {
        let c = layout.page_coord(p);
        (0..27).filter_map(move |k| layout.neighbour_page(c, neighbourhood::offset(k)))
    });
    if let Err(e) = world.check_slots(touched) {
        panic!("metropolis_pass on an inconsistent world: {e}");
    }

    let consts: Vec<SubstanceConsts> = phases
        .substances
        .iter()
        .enumerate()
        .map(|(s, sub)| SubstanceConsts {
            moles: phases.moles(s, config.voxel_size),
            interface: sub.interface_energy * config.voxel_size * config.voxel_size,
            triple_pressure: sub.triple.map(|t| t.pressure),
            phases: sub
                .phases
                .iter()
                .enumerate()
                .map(|(k, ph)| PhaseConsts {
                    material: ph.material,
                    state: ph.state,
                    a: ph.a,
                    b: ph.b,
                    cp: ph.cp,
                    volume: sub.molar_volume(k),
                })
                .collect(),
        })
        .collect();

    // The weight of the column above each page's top, per (x, z), read
    // before any cell changes so that every page sees the same world.
    let pe = layout.page as usize;
    let layer = config.gravity * config.voxel_size;
    let condensed = |m: u8| {
        matches!(
            materials.kind[m as usize],
            Kind::Solid | Kind::Powder | Kind::Liquid
        )
    };
    let world_ref = &*world;
    let overburden: Vec<Vec<f64>> = pages
        .par_iter()
        .map(|&p| {
            let origin = layout.page_coord(p).map(|c| c * layout.page);
            let mut top = vec![0.0; pe * pe];
            for z in 0..pe {
                for x in 0..pe {
                    let mut weight = 0.0;
                    let (cx, cz) = (origin[0] + x as u32, origin[2] + z as u32);
                    for y in origin[1] + layout.page..layout.size[1] {
                        match world_ref.material([cx, y, cz]) {
                            Some(m) if condensed(m) => {
                                weight += f64::from(materials.density[m as usize]) * layer
                            }
                            _ => break,
                        }
                    }
                    top[x + pe * z] = weight;
                }
            }
            top
        })
        .collect();

    let ch = Channels {
        material: world.material.as_mut_slice().as_mut_ptr(),
        temperature: world.temperature.as_mut_slice().as_mut_ptr(),
    };
    let page_cells = layout.page_cells();
    let table = &world.table;
    let mut changed = Vec::new();
    for colour in 0..2u32 {
        let sweep = |(k, &p): (usize, &usize)| -> PageOutcome {
            let c = layout.page_coord(p);
            let base = |d: [i32; 3]| {
                layout
                    .neighbour_page(c, d)
                    .and_then(|n| table.resident_slot(n))
                    .map(|s| s * page_cells)
            };
            let own = base([0, 0, 0]).expect("visited pages are resident");
            let faces = [
                base([-1, 0, 0]),
                base([1, 0, 0]),
                base([0, -1, 0]),
                base([0, 1, 0]),
                base([0, 0, -1]),
                base([0, 0, 1]),
            ];
            let origin = c.map(|v| v * layout.page);
            let pi = pe as i32;
            // Address of local cell (x, y, z), which may be one beyond the page.
            let addr = |x: i32, y: i32, z: i32| -> Option<usize> {
                let (b, lx, ly, lz) = match (x, y, z) {
                    (-1, _, _) => (faces[0]?, pi - 1, y, z),
                    (_, _, _) if x == pi => (faces[1]?, 0, y, z),
                    (_, -1, _) => (faces[2]?, x, pi - 1, z),
                    (_, _, _) if y == pi => (faces[3]?, x, 0, z),
                    (_, _, -1) => (faces[4]?, x, y, pi - 1),
                    (_, _, _) if z == pi => (faces[5]?, x, y, 0),
                    _ => (own, x, y, z),
                };
                Some(b + (lx + pi * (ly + pi * lz)) as usize)
            };
            let mut out = PageOutcome::default();
            for z in 0..pi {
                for x in 0..pi {
                    let mut column = overburden[k][x as usize + pe * z as usize];
                    for y in (0..pi).rev() {
                        let i = own + (x + pi * (y + pi * z)) as usize;
                        // SAFETY: i is in this page's slot; this task is the
                        // only writer of this page's cells of this colour.
                        let m = unsafe { *ch.material.add(i) };
                        let g = [
                            origin[0] + x as u32,
                            origin[1] + y as u32,
                            origin[2] + z as u32,
                        ];
                        if (g[0] + g[1] + g[2]) % 2 == colour {
                            if let Some((s, kp)) = phases.of_material[m as usize] {
                                let sub = &consts[s as usize];
                                let pressure = config.ambient_pressure + column;
                                // SAFETY: as above; neighbours are read only
                                // (they are of the other colour, which no task
                                // writes in this half-sweep).
                                unsafe {
                                    decide(
                                        sub,
                                        kp as usize,
                                        i,
                                        g,
                                        pressure,
                                        baths,
                                        ch,
                                        |dx, dy, dz| {
                                            addr(x + dx, y + dy, z + dz)
                                                .map(|j| *ch.material.add(j))
                                        },
                                        hash3(
                                            seed ^ 0x5048_4153_4521,
                                            frame * 2 + u64::from(colour),
                                            {
                                                let s = layout.size;
                                                u64::from(g[0])
                                                    + u64::from(s[0])
                                                        * (u64::from(g[1])
                                                            + u64::from(s[1]) * u64::from(g[2]))
                                            },
                                        ),
                                        &mut out,
                                    )
                                };
                            }
                        }
                        // SAFETY: as above.
                        let now = unsafe { *ch.material.add(i) };
                        if condensed(now) {
                            column += f64::from(materials.density[now as usize]) * layer;
                        } else {
                            column = 0.0;
                        }
                    }
                }
            }
            out
        };
        // The pools are not otherwise borrowed while `ch` is in use: `world`
        // is held mutably by this function and only the page table is read.
        let outcomes: Vec<PageOutcome> = if rayon::current_num_threads() > 1 {
            pages.par_iter().enumerate().map(sweep).collect()
        } else {
            pages.iter().enumerate().map(sweep).collect()
        };
        for (o, &p) in outcomes.into_iter().zip(&pages) {
            stats.visits += o.visits;
            stats.proposals += o.proposals;
            if o.candidate {
                candidates.push(p);
            }
            changed.extend(o.changed);
        }
    }
    stats.accepted = changed.len() as u64;
    for &(cell, from, to) in &changed {
        *state.transitions.entry((from, to)).or_insert(0) += 1;
        world.wake_cell(cell);
    }
    candidates.sort_unstable();
    candidates.dedup();
    state.candidates = candidates;
    state.last = stats;
}

/// Decides one voxel: proposes another phase and accepts or rejects it.
///
/// # Safety
/// `i` must be the voxel's address in the pools behind `ch`, written by no
/// one else meanwhile.
#[allow(clippy::too_many_arguments)]
#[inline]
unsafe fn decide(
    sub: &SubstanceConsts,
    k: usize,
    i: usize,
    g: [u32; 3],
    pressure: f64,
    baths: &[HeatBath],
    ch: Channels,
    neighbour: impl Fn(i32, i32, i32) -> Option<u8>,
    random: u64,
    out: &mut PageOutcome,
) {
    out.visits += 1;
    let t = f64::from(*ch.temperature.add(i));
    if !(t > 0.0) {
        return;
    }
    let dp = pressure - super::diagram::P0;
    let ln_p = (pressure / super::diagram::P0).ln();
    let rt = R * t;
    let old = &sub.phases[k];
    let g_old = old.gibbs(t, dp, ln_p);
    // The proposal is the most stable of the phases that border this one
    // in the diagram at this pressure (ice and steam only meet below the
    // triple point): the stable phase when the voxel is not in it, else
    // the runner-up, accepted only within a fraction of a kelvin of the
    // boundary. It also decides whether the voxel is near a transition.
    let mut j = k;
    let mut nearest = f64::INFINITY;
    for (q, ph) in sub.phases.iter().enumerate() {
        if q != k && sub.adjacent(k, q, pressure) {
            let x = sub.moles * (ph.gibbs(t, dp, ln_p) - g_old) / rt;
            if x < nearest {
                (j, nearest) = (q, x);
            }
        }
    }
    if nearest > SKIP {
        return;
    }
    out.candidate = true;
    out.proposals += 1;
    let new = &sub.phases[j];
    let unlike = |m: u8| {
        [
            (-1, 0, 0),
            (1, 0, 0),
            (0, -1, 0),
            (0, 1, 0),
            (0, 0, -1),
            (0, 0, 1),
        ]
        .into_iter()
        .filter(|&(dx, dy, dz)| neighbour(dx, dy, dz).is_some_and(|n| n != m))
        .count() as f64
    };
    let interface = sub.interface * (unlike(new.material) - unlike(old.material));
    let u = ((random >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    let dg = sub.moles * (new.gibbs(t, dp, ln_p) - g_old) + interface;
    let log_accept = -dg / rt;
    let t_new = if baths.iter().any(|b| b.contains(g)) {
        // The bath supplies or takes the latent heat.
        t
    } else {
        // Enthalpy is conserved: the voxel's own heat pays the latent heat,
        // and a voxel that does not hold enough cannot change.
        let t_new = (old.enthalpy(t, dp) - new.enthalpy(0.0, dp)) / new.cp;
        if !(t_new > MIN_TEMPERATURE) {
            return;
        }
        t_new
    };
    if log_accept >= 0.0 || u.ln() < log_accept {
        let from = *ch.material.add(i);
        *ch.material.add(i) = new.material;
        *ch.temperature.add(i) = t_new as f32;
        out.changed.push((g, from, new.material));
    }
}
