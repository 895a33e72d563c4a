//! The Metropolis pass (see the module docs of [`crate::phase`]).

use rayon::prelude::*;

use loam_runtime::Disjoint;
use loam_storage::VoxelWorld;

use super::diagram::{PhaseTable, P0};
use super::lanes::{self, Decisions, FromPhase, Lanes, Row, LANES};
use super::plan::{finish_pass, plan_pass, sweep_key, FieldPatch, PageOutcome};
use super::state::{HeatBath, PhaseConfig, PhaseState};
use super::terms::substance_terms;
use crate::fields::Fields;
use crate::materials::{Kind, MaterialTable};

/// The world's channels, for parallel work on disjoint cells: one page's
/// cells of one colour per task, and reads of cells nobody writes in that
/// half-sweep (see `metropolis_pass`).
#[derive(Clone, Copy)]
struct Channels<'a> {
    material: Disjoint<'a, u8>,
    temperature: Disjoint<'a, f32>,
    latent: Disjoint<'a, f32>,
}

/// One Metropolis pass: the pages woken this frame and the candidate pages
/// (see the module docs), red cells then black cells, pages in parallel on
/// the current rayon pool. Returns the absent pages its columns reached
/// (the liquid or solid above a visited page went on into a page that is
/// not resident), in page order: streaming loads them (through
/// [`PageRequests`](loam_storage::stream::PageRequests)), so that the
/// weight above is whole.
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
) -> Vec<usize> {
    let layout = *world.layout();
    let plan = plan_pass(world, state, phases, config, frame);
    let pages = &plan.pages;
    if pages.is_empty() {
        finish_pass(world, state, phases, plan, &[]);
        return Vec::new();
    }
    let from_phase = FromPhase::table(&substance_terms(phases, config.voxel_size));
    // Stands for a neighbour that is not there: no phase's material.
    let sentinel = (0..=u8::MAX)
        .find(|&m| phases.of_material[m as usize].is_none())
        .unwrap_or(u8::MAX);

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

    let pools = world.pools_mut();
    let table = pools.table;
    let ch = Channels {
        material: Disjoint::new(pools.material),
        temperature: Disjoint::new(pools.temperature),
        latent: Disjoint::new(pools.latent),
    };
    let page_cells = layout.page_cells();
    let mut outcomes: Vec<PageOutcome> = vec![PageOutcome::new(from_phase.len()); pages.len()];
    for colour in 0..2u32 {
        let _zone = loam_runtime::profiling::zone("phase.half_sweep");
        let key = sweep_key(seed, frame, colour);
        let sweep = |(k, &p): (usize, &usize)| -> PageOutcome {
            // Borrows the whole of `ch` (which is `Sync`), not its pointer
            // fields.
            let ch = &ch;
            let c = layout.page_coord(p);
            let base = |d: [i32; 3]| {
                layout
                    .neighbour_page(c, d)
                    .and_then(|n| table.resident_slot(n))
                    .map(|s| s * page_cells)
            };
            let page = PageSweep {
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
            };
            let mut out = PageOutcome::new(from_phase.len());
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
            let (mut lanes, mut decisions) = (Lanes::default(), Decisions::default());
            // The rows around a row that lie in other pages (see below).
            let mut beyond = vec![sentinel; 4 * pe];
            // Without weight or a pressure field, every cell is at the
            // ambient pressure.
            let uniform_pressure = weightless && field.is_none();
            let ambient = config.ambient_pressure.max(1.0);
            lanes.pressure = [ambient; LANES];
            lanes.ln_p = [(ambient / P0).ln(); LANES];
            for z in 0..pi {
                if !weightless {
                    columns.copy_from_slice(&overburden[k][pe * z as usize..pe * (z as usize + 1)]);
                    for y in (0..pe).rev() {
                        let row = page.own + pe * (y + pe * z as usize);
                        for (x, column) in columns.iter_mut().enumerate() {
                            above[x + pe * y] = *column;
                            // SAFETY: in this page's slot, which this task
                            // alone writes (cells of the other colour).
                            let m = unsafe { *ch.material.ptr(row + x) };
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
                    let around = page.around(y, z);
                    let row_index = u64::from(page.origin[0])
                        + u64::from(layout.size[0])
                            * (u64::from(page.origin[1] + y as u32)
                                + u64::from(layout.size[1]) * u64::from(page.origin[2] + z as u32));
                    // Page origins are even, so a cell's colour is the
                    // parity of its local x + y + z.
                    let first = ((colour as i32 + y + z) & 1) as usize;
                    // Another page's cells are read one at a time, and only
                    // those of the other colour (next to this row's cells of
                    // this colour): its task writes the rest meanwhile.
                    // SAFETY: a cell of a resident page's slot of the
                    // other colour, which no task writes in this half-sweep.
                    let other_colour = |i: usize| unsafe { ch.material.ptr(i).read() };
                    for (d, row) in around.rows.iter().enumerate() {
                        if let Some((base, true)) = *row {
                            for x in (first..pe).step_by(2) {
                                beyond[d * pe + x] = other_colour(base + x);
                            }
                        }
                    }
                    let ends = [
                        match around.left {
                            Some(b) if first == 0 => other_colour(b + pe - 1),
                            _ => sentinel,
                        },
                        match around.right {
                            Some(b) if first == 1 => other_colour(b),
                            _ => sentinel,
                        },
                    ];
                    for x0 in (0..pe).step_by(2 * LANES) {
                        // SAFETY: rows of this page's slot, which no other
                        // task writes; this task writes its cells of this
                        // colour only after `cells` was last used.
                        let row_of = |base: usize| unsafe {
                            std::slice::from_raw_parts(ch.material.ptr(base), pe)
                        };
                        let cells = Row {
                            material: row_of(row),
                            // SAFETY: as above.
                            temperature: unsafe {
                                std::slice::from_raw_parts(ch.temperature.ptr(row), pe)
                            },
                            // SAFETY: as above.
                            latent: unsafe { std::slice::from_raw_parts(ch.latent.ptr(row), pe) },
                            around: std::array::from_fn(|d| {
                                around.rows[d].map(|(base, other_page)| {
                                    if other_page {
                                        &beyond[d * pe..(d + 1) * pe]
                                    } else {
                                        row_of(base)
                                    }
                                })
                            }),
                            ends,
                        };
                        let chunk = x0 + first;
                        let x_of = |l: usize| chunk + 2 * l;
                        let n = lanes.gather_cells(&cells, x0, first, sentinel);
                        let mut todo = [false; LANES];
                        for (l, (todo, &m)) in todo.iter_mut().zip(&lanes.material).enumerate() {
                            *todo = l < n && phases.of_material[m as usize].is_some();
                        }
                        if !todo.contains(&true) {
                            continue;
                        }
                        lanes.gather_neighbours(&cells, x0, first, sentinel);
                        for (l, index) in lanes.index.iter_mut().enumerate() {
                            *index = row_index + x_of(l) as u64;
                        }
                        if !uniform_pressure {
                            for l in 0..n {
                                let x = x_of(l);
                                let blast = field.as_ref().map_or(0.0, |f| {
                                    f.at(page.origin, [x as u32, y as u32, z as u32])
                                });
                                let column = if weightless {
                                    0.0
                                } else {
                                    above[x + pe * y as usize]
                                };
                                let pressure = (config.ambient_pressure + column + blast).max(1.0);
                                if pressure != ln_p_at {
                                    (ln_p, ln_p_at) = ((pressure / P0).ln(), pressure);
                                }
                                lanes.pressure[l] = pressure;
                                lanes.ln_p[l] = ln_p;
                            }
                        }
                        if !bathed.is_empty() {
                            for l in 0..n {
                                let g = [
                                    page.origin[0] + x_of(l) as u32,
                                    page.origin[1] + y as u32,
                                    page.origin[2] + z as u32,
                                ];
                                lanes.bath[l] = bathed.iter().any(|b| b.contains(g));
                            }
                        }
                        // One run of the kernel per material in the chunk:
                        // usually one.
                        while let Some(l0) = todo.iter().position(|&t| t) {
                            let m = lanes.material[l0];
                            let run: [bool; LANES] =
                                std::array::from_fn(|l| todo[l] && lanes.material[l] == m);
                            let Some((s, k)) = phases.of_material[m as usize] else {
                                unreachable!("only phase-diagram materials are decided");
                            };
                            let (s, k) = (s as usize, k as usize);
                            let from = &from_phase[s][k];
                            lanes::decide(from, &lanes, &run, key, &mut decisions);
                            let run = lanes::bits(&run);
                            todo = std::array::from_fn(|l| todo[l] && run & (1 << l) == 0);
                            let proposed = lanes::bits(&decisions.proposed);
                            out.visits += u64::from(run.count_ones());
                            out.proposals += u64::from(proposed.count_ones());
                            out.candidate |= proposed != 0;
                            let (accepted, held) = (decisions.accepted, decisions.held);
                            if accepted | held == 0 {
                                continue;
                            }
                            let box_of = |lanes: u32| {
                                let (lo, hi) = (lanes.trailing_zeros(), 31 - lanes.leading_zeros());
                                (
                                    [x_of(lo as usize) as i32, y, z],
                                    [x_of(hi as usize) as i32, y, z],
                                )
                            };
                            let (lo, hi) = box_of(accepted | held);
                            out.touch(lo, hi);
                            // Counted and written without a branch a lane:
                            // which lanes accept is a coin toss.
                            let second = lanes::bits(&decisions.second);
                            let [a, b] = from.to;
                            let (to_a, to_b) = (accepted & !second, accepted & second);
                            out.accept(s, k, a.phase, to_a.count_ones());
                            out.accept(s, k, b.phase, to_b.count_ones());
                            let mut left = accepted | held;
                            while left != 0 {
                                let l = left.trailing_zeros() as usize;
                                left &= left - 1;
                                let x = x_of(l);
                                let material = if accepted & (1 << l) == 0 {
                                    m
                                } else if second & (1 << l) != 0 {
                                    b.material
                                } else {
                                    a.material
                                };
                                // SAFETY: this task's cell, as above.
                                unsafe {
                                    *ch.material.ptr(row + x) = material;
                                    *ch.temperature.ptr(row + x) = decisions.temperature[l];
                                    *ch.latent.ptr(row + x) = decisions.latent[l];
                                }
                            }
                        }
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
        world.set_last_use(p, frame);
    }
    finish_pass(world, state, phases, plan, &outcomes);
    asked.into_iter().map(|(p, _)| p).collect()
}

/// A page a column reached above a visited page, and whether it is
/// resident.
type Reached = (usize, bool);

/// One page's cells and its six face neighbours, for one half-sweep.
struct PageSweep {
    p: i32,
    own: usize,
    /// Slot bases of the −x, +x, −y, +y, −z, +z neighbours, if resident.
    faces: [Option<usize>; 6],
    origin: [u32; 3],
}

/// Where a row's neighbours are: `None` outside the world or in a page
/// that is not resident.
struct Around {
    /// The row of the page before in x (its last cell is the neighbour).
    left: Option<usize>,
    /// The row of the page after in x (its first cell).
    right: Option<usize>,
    /// The rows at −y, +y, −z, +z, and whether each is in another page
    /// (which another task is sweeping meanwhile).
    rows: [Option<(usize, bool)>; 4],
}

impl PageSweep {
    /// The neighbours of row (`y`, `z`).
    fn around(&self, y: i32, z: i32) -> Around {
        let p = self.p;
        let row = (p * (y + p * z)) as usize;
        // The row at (y + dy, z + dz), one step away: in this page, or at
        // the far side of the page behind `face`.
        let at = |face: usize, dy: i32, dz: i32| -> Option<(usize, bool)> {
            let (y, z) = (y + dy, z + dz);
            let inside = (0..p).contains(&y) && (0..p).contains(&z);
            let wrap = |v: i32| {
                if v < 0 {
                    v + p
                } else if v >= p {
                    v - p
                } else {
                    v
                }
            };
            let base = if inside {
                Some(self.own)
            } else {
                self.faces[face]
            };
            base.map(|b| (b + (p * (wrap(y) + p * wrap(z))) as usize, !inside))
        };
        Around {
            left: self.faces[0].map(|b| b + row),
            right: self.faces[1].map(|b| b + row),
            rows: [at(2, -1, 0), at(3, 1, 0), at(4, 0, -1), at(5, 0, 1)],
        }
    }
}
