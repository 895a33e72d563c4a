//! The Metropolis pass (see the module docs of [`crate::phase`]).

use std::collections::BTreeMap;

use rayon::prelude::*;

use loam_runtime::random::mix64;
use loam_storage::VoxelWorld;

use super::diagram::{PhaseTable, P0, R};
use super::plan::{finish_pass, plan_pass, sweep_key, FieldPatch, PageOutcome};
use super::terms::{substance_terms, SubstanceTerms, MIN_TEMPERATURE, SKIP};
use crate::fields::Fields;
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
    pub(super) candidates: Vec<usize>,
    /// Absent pages the last pass's columns reached (the liquid or solid
    /// above a visited page went on into a page that is not resident), in
    /// page order: streaming loads them, so the weight above is whole.
    pub asked: Vec<usize>,
}

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
    fields: Option<&Fields>,
    seed: u64,
    frame: u64,
) {
    let layout = *world.layout();
    let plan = plan_pass(world, state, phases, config, frame);
    let pages = &plan.pages;
    if pages.is_empty() {
        finish_pass(world, state, phases, plan, &[]);
        return;
    }
    let terms = substance_terms(phases, config.voxel_size);

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
    let weightless = config.gravity == 0.0;
    // The pages above that the columns reach: resident ones are used, and
    // at one that is not, a column stops and asks for it.
    let (overburden, reached): (Vec<Vec<f64>>, Vec<Vec<Reached>>) = pages
        .par_iter()
        .map(|&p| {
            if weightless {
                return (vec![0.0; pe * pe], Vec::new());
            }
            let origin = layout.page_coord(p).map(|c| c * layout.page);
            let mut top = vec![0.0; pe * pe];
            let mut reached = Vec::new();
            for z in 0..pe {
                for x in 0..pe {
                    let mut weight = 0.0;
                    let (cx, cz) = (origin[0] + x as u32, origin[2] + z as u32);
                    for y in origin[1] + layout.page..layout.size[1] {
                        let m = world_ref.material([cx, y, cz]);
                        if y % layout.page == 0 {
                            reached.push((layout.locate([cx, y, cz]).0, m.is_some()));
                        }
                        match m {
                            Some(m) if condensed(m) => {
                                weight += f64::from(materials.density[m as usize]) * layer
                            }
                            _ => break,
                        }
                    }
                    top[x + pe * z] = weight;
                }
            }
            reached.sort_unstable();
            reached.dedup();
            (top, reached)
        })
        .unzip();
    let mut reached: Vec<Reached> = reached.concat();
    reached.sort_unstable();
    reached.dedup();
    let (used, asked): (Vec<Reached>, Vec<Reached>) =
        reached.into_iter().partition(|&(_, resident)| resident);

    let ch = Channels {
        material: world.material.as_mut_slice().as_mut_ptr(),
        temperature: world.temperature.as_mut_slice().as_mut_ptr(),
    };
    let page_cells = layout.page_cells();
    let table = &world.table;
    let mut outcomes: Vec<PageOutcome> = vec![PageOutcome::new(terms.len()); pages.len()];
    for colour in 0..2u32 {
        let key = sweep_key(seed, frame, colour);
        let sweep = |(k, &p): (usize, &usize)| -> PageOutcome {
            let c = layout.page_coord(p);
            let base = |d: [i32; 3]| {
                layout
                    .neighbour_page(c, d)
                    .and_then(|n| table.resident_slot(n))
                    .map(|s| s * page_cells)
            };
            let page = PageSweep {
                ch,
                p: pe as i32,
                own: base([0, 0, 0]).expect("visited pages are resident"),
                faces: [
                    base([-1, 0, 0]),
                    base([1, 0, 0]),
                    base([0, -1, 0]),
                    base([0, 1, 0]),
                    base([0, 0, -1]),
                    base([0, 0, 1]),
                ],
                origin: c.map(|v| v * layout.page),
                size: layout.size,
            };
            let mut out = PageOutcome::new(terms.len());
            let pi = pe as i32;
            let field = fields.and_then(|f| FieldPatch::over_page(f, page.origin, layout.page));
            let bathed: Vec<&HeatBath> = baths
                .iter()
                .filter(|b| {
                    (0..3).all(|a| {
                        b.min[a] < page.origin[a] + layout.page && page.origin[a] < b.max[a]
                    })
                })
                .collect();
            // Per slab of z: first the weight of the column above each cell
            // (top down, over the materials only), as the half-sweep found
            // them; then the cells in memory order, rows of x innermost.
            // Walking the temperatures top down instead defeated the
            // prefetcher and cost 1.7x.
            let mut above = vec![0.0f64; if weightless { 0 } else { pe * pe }];
            let mut columns = vec![0.0f64; pe];
            let mut ln_p = (config.ambient_pressure / P0).ln();
            let mut ln_p_at = config.ambient_pressure;
            for z in 0..pi {
                if !weightless {
                    columns.copy_from_slice(&overburden[k][pe * z as usize..pe * (z as usize + 1)]);
                    for y in (0..pe).rev() {
                        let row = page.own + pe * (y + pe * z as usize);
                        for (x, column) in columns.iter_mut().enumerate() {
                            above[x + pe * y] = *column;
                            // SAFETY: in this page's slot, which this task
                            // alone writes (cells of the other colour).
                            let m = unsafe { *ch.material.add(row + x) };
                            *column = if condensed(m) {
                                *column + f64::from(materials.density[m as usize]) * layer
                            } else {
                                0.0
                            };
                        }
                    }
                }
                for y in 0..pi {
                    let row = page.own + (pi * (y + pi * z)) as usize;
                    // Page origins are even, so a cell's colour is the
                    // parity of its local x + y + z.
                    let first = (colour as i32 + y + z) & 1;
                    for x in (first..pi).step_by(2) {
                        let i = row + x as usize;
                        // SAFETY: i is in this page's slot; this task is the
                        // only writer of this page's cells of this colour.
                        let m = unsafe { *ch.material.add(i) };
                        let Some((s, kp)) = phases.of_material[m as usize] else {
                            continue;
                        };
                        let g = [
                            page.origin[0] + x as u32,
                            page.origin[1] + y as u32,
                            page.origin[2] + z as u32,
                        ];
                        let blast = field
                            .as_ref()
                            .map_or(0.0, |f| f.at(page.origin, [x, y, z].map(|v| v as u32)));
                        let column = if weightless {
                            0.0
                        } else {
                            above[(x + pi * y) as usize]
                        };
                        let pressure = (config.ambient_pressure + column + blast).max(1.0);
                        if pressure != ln_p_at {
                            (ln_p, ln_p_at) = ((pressure / P0).ln(), pressure);
                        }
                        let in_bath = bathed.iter().any(|b| b.contains(g));
                        // Counter-based: one mix of the half-sweep's key and
                        // the cell's index in the world.
                        let random = mix64(
                            key ^ (u64::from(g[0])
                                + u64::from(layout.size[0])
                                    * (u64::from(g[1])
                                        + u64::from(layout.size[1]) * u64::from(g[2]))),
                        );
                        // SAFETY: as above; neighbours are only read (they
                        // are of the other colour, which no task writes in
                        // this half-sweep).
                        unsafe {
                            page.decide(
                                &terms[s as usize],
                                s as usize,
                                kp as usize,
                                [x, y, z],
                                i,
                                Pressure { p: pressure, ln_p },
                                in_bath,
                                random,
                                &mut out,
                            )
                        };
                    }
                }
            }
            out
        };
        // The pools are not otherwise borrowed while `ch` is in use: `world`
        // is held mutably by this function and only the page table is read.
        let swept: Vec<PageOutcome> = if rayon::current_num_threads() > 1 {
            pages.par_iter().enumerate().map(sweep).collect()
        } else {
            pages.iter().enumerate().map(sweep).collect()
        };
        for (total, o) in outcomes.iter_mut().zip(&swept) {
            total.merge(o);
        }
    }
    // The pages it used, visited or weighed, stay in the page table's LRU.
    for p in plan
        .pages
        .iter()
        .copied()
        .chain(used.into_iter().map(|(p, _)| p))
    {
        world.table.set_last_use(p, frame);
    }
    finish_pass(world, state, phases, plan, &outcomes);
    state.asked = asked.into_iter().map(|(p, _)| p).collect();
}

/// A page a column reached above a visited page, and whether it is
/// resident.
type Reached = (usize, bool);

/// A voxel's pressure and `ln(P/P°)`.
#[derive(Clone, Copy)]
struct Pressure {
    p: f64,
    ln_p: f64,
}

/// One page's cells and its six face neighbours, for one half-sweep.
struct PageSweep {
    ch: Channels,
    p: i32,
    own: usize,
    /// Slot bases of the −x, +x, −y, +y, −z, +z neighbours, if resident.
    faces: [Option<usize>; 6],
    origin: [u32; 3],
    size: [u32; 3],
}

impl PageSweep {
    /// The materials of the 6 face neighbours of local cell `l` (at address
    /// `i`), `None` outside the world or in a page that is not resident.
    ///
    /// # Safety
    /// The addresses are in the pools when the bases are.
    #[inline(always)]
    unsafe fn neighbours(&self, l: [i32; 3], i: usize) -> [Option<u8>; 6] {
        let p = self.p;
        let (row, plane) = (p as usize, (p * p) as usize);
        let m = |j: usize| Some(*self.ch.material.add(j));
        if l.iter().all(|&v| v > 0 && v < p - 1) {
            return [
                m(i - 1),
                m(i + 1),
                m(i - row),
                m(i + row),
                m(i - plane),
                m(i + plane),
            ];
        }
        let at = |face: usize, l: [i32; 3]| -> Option<u8> {
            let inside = l.iter().all(|&v| (0..p).contains(&v));
            let (base, l) = if inside {
                (Some(self.own), l)
            } else {
                (self.faces[face], l.map(|v| v.rem_euclid(p)))
            };
            base.map(|b| {
                *self
                    .ch
                    .material
                    .add(b + (l[0] + p * (l[1] + p * l[2])) as usize)
            })
        };
        let [x, y, z] = l;
        [
            at(0, [x - 1, y, z]),
            at(1, [x + 1, y, z]),
            at(2, [x, y - 1, z]),
            at(3, [x, y + 1, z]),
            at(4, [x, y, z - 1]),
            at(5, [x, y, z + 1]),
        ]
    }

    /// Decides one voxel: proposes the most stable bordering phase and
    /// accepts or rejects it.
    ///
    /// # Safety
    /// `i` must be local cell `l`'s address in the pools, written by no one
    /// else meanwhile.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    unsafe fn decide(
        &self,
        sub: &SubstanceTerms,
        s: usize,
        k: usize,
        l: [i32; 3],
        i: usize,
        pressure: Pressure,
        in_bath: bool,
        random: u64,
        out: &mut PageOutcome,
    ) {
        out.visits += 1;
        let t = f64::from(*self.ch.temperature.add(i));
        // NaN, zero and negative temperatures are not decided.
        if t.is_nan() || t <= 0.0 {
            return;
        }
        // ln in f32: its error moves a transition by about a millikelvin.
        let ln_t = f64::from((t as f32).ln());
        let dp = pressure.p - P0;
        let rt = R * t;
        let rt_ln_p = rt * pressure.ln_p;
        // The proposal is the most stable of the phases that border this
        // one in the diagram at this pressure (ice and steam only meet below
        // the triple point): the stable phase when the voxel is not in it,
        // else the runner-up, accepted only within a fraction of a kelvin of
        // the boundary. It also decides whether the voxel is near a
        // transition at all.
        let mut j = k;
        let mut dg = f64::INFINITY;
        for q in 0..sub.phases.len() {
            if q != k && sub.adjacent(k, q, pressure.p) {
                let d = sub.pairs[k][q].delta_g(t, ln_t, dp, rt_ln_p);
                if d < dg {
                    (j, dg) = (q, d);
                }
            }
        }
        if sub.moles * dg > SKIP * rt {
            return;
        }
        out.candidate = true;
        out.proposals += 1;
        let old = &sub.phases[k];
        let new = &sub.phases[j];
        let mut unlike = 0i32;
        for n in self.neighbours(l, i).into_iter().flatten() {
            unlike += i32::from(n != new.material) - i32::from(n != old.material);
        }
        let log_accept = -(sub.moles * dg + sub.interface * f64::from(unlike)) / rt;
        let t_new = if in_bath {
            // The bath supplies or takes the latent heat.
            t
        } else {
            // Enthalpy is conserved: the voxel's own heat pays the latent
            // heat, and a voxel that does not hold enough cannot change.
            let t_new = (old.enthalpy(t, dp) - new.enthalpy(0.0, dp)) / new.cp;
            if t_new.is_nan() || t_new <= MIN_TEMPERATURE {
                return;
            }
            t_new
        };
        let u = ((random >> 40) as f32 + 0.5) * (1.0 / (1u64 << 24) as f32);
        if log_accept >= 0.0 || f64::from(u.ln()) < log_accept {
            *self.ch.material.add(i) = new.material;
            *self.ch.temperature.add(i) = t_new as f32;
            debug_assert!((0..3).all(|a| self.origin[a] + (l[a] as u32) < self.size[a]));
            out.accept(s, k, j, l);
        }
    }
}
