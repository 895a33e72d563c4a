//! How the fields move the world: blasts throw cells whose strength the
//! overpressure beats, winds carry gases (smoke and steam, so a fire's
//! smoke goes downwind), fire and lava heat the air, and hot air heats what
//! it touches.
//!
//! The pass has three parts. Fire and lava raise the thermal field. The
//! thermal field heats the voxels under it: each voxel on its own, so pages
//! go in parallel. Then blasts and winds move cells, serially: field cells
//! from the weakest pressure to the strongest (so the rim of a blast clears
//! the way for its core), voxels in index order, and every random choice a
//! hash of (seed, frame, cell). So the pass gives the same world on any
//! number of threads. A cell moves only into empty cells, so every cell is
//! conserved. Ground a blast pushes down into ground that holds is thrown up
//! and out instead, so a blast over flat sand digs a crater.

use loam_runtime::random::hash3;
use loam_storage::{VoxelWorld, WorldLayout};
use rayon::prelude::*;

use super::{Fields, Sample, Scalar};
use crate::materials::{id, Kind, MaterialTable, AMBIENT};

/// What one coupling pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CoupleStats {
    /// Cells thrown by pressure or carried by wind.
    pub moved: u64,
    /// Cells heated by the thermal field.
    pub heated: u64,
}

/// Farthest a blast throws a cell in one frame, cells.
const MAX_THROW: f32 = 6.0;
/// Heating rate of cells by the thermal field, per second.
const HEATING: f64 = 2.0;
/// Thermal excess a burning or molten cell keeps in its field cell, per K
/// above ambient.
const EMISSION: f32 = 0.5;
/// The least thermal excess that heats, K. A fading field lingers far below
/// it (its epsilon is a thousandth of a kelvin); heating by it would change
/// temperatures by less than a thousandth of a kelvin a frame, and wake
/// every page it covers to do so.
const MIN_HEATING: f32 = 0.1;

/// One coupling pass over `dt` seconds.
pub fn couple(
    world: &mut VoxelWorld,
    fields: &mut Fields,
    materials: &MaterialTable,
    dt: f64,
    voxel_size: f64,
    seed: u64,
    frame: u64,
) -> CoupleStats {
    emit_heat(world, fields);
    let cell = fields.config().cell;
    let active = fields.active_cells();
    let heated = heat(world, &active, cell, (1.0 - (-HEATING * dt).exp()) as f32);
    let throw = Throw {
        materials,
        cells_per_frame: (dt / voxel_size) as f32,
        seed,
        frame,
    };
    let moved = throw.run(world, active, cell);
    CoupleStats { moved, heated }
}

/// Fire and lava keep the air around them hot.
fn emit_heat(world: &VoxelWorld, fields: &mut Fields) {
    let layout = world.layout();
    let pe = layout.page as usize;
    // Most woken pages hold neither: a branch-free test, which
    // vectorises, finds out before any cell is looked at one by one.
    let burning = |c: &[u8]| {
        c.iter()
            .fold(false, |a, &m| a | (m == id::FIRE) | (m == id::LAVA))
    };
    for &p in world.table().woken() {
        let Some(view) = world.page(p) else { continue };
        if !view.material.chunks(256).any(burning) {
            continue;
        }
        let origin = layout.page_coord(p).map(|c| c * layout.page);
        for (i, (&m, &t)) in view.material.iter().zip(view.temperature).enumerate() {
            if m == id::FIRE || m == id::LAVA {
                let l = [i % pe, (i / pe) % pe, i / (pe * pe)];
                let pos = [0, 1, 2].map(|a| (origin[a] as usize + l[a]) as f32 + 0.5);
                fields.raise_scalar(Scalar::Thermal, pos, (t - AMBIENT).max(0.0) * EMISSION);
            }
        }
    }
}

/// The voxels of a field cell in one resident page: the box `[lo, hi)` of
/// its local coordinates.
#[derive(Clone, Copy, Debug)]
struct Span {
    page: usize,
    slot: usize,
    lo: [u32; 3],
    hi: [u32; 3],
}

/// Puts the voxels under field cell `c` in `out`, a [`Span`] per resident
/// page (after clearing it, so one buffer serves every field cell). Field
/// cells and pages are both powers of two, so a field cell lies in one page
/// unless it is larger than a page.
fn spans(world: &VoxelWorld, c: [i32; 3], cell: u32, out: &mut Vec<Span>) {
    out.clear();
    let layout: &WorldLayout = world.layout();
    let lo = c.map(|v| u32::try_from(v).ok().and_then(|v| v.checked_mul(cell)));
    let Some(lo) = (0..3)
        .all(|a| lo[a].is_some_and(|v| v < layout.size[a]))
        .then(|| lo.map(|v| v.unwrap_or(0)))
    else {
        return;
    };
    let hi: [u32; 3] = std::array::from_fn(|a| (lo[a] + cell).min(layout.size[a]));
    let pe = layout.page;
    for pz in (lo[2] / pe..hi[2].div_ceil(pe)).map(|v| v * pe) {
        for py in (lo[1] / pe..hi[1].div_ceil(pe)).map(|v| v * pe) {
            for px in (lo[0] / pe..hi[0].div_ceil(pe)).map(|v| v * pe) {
                let origin = [px, py, pz];
                let (page, _) = layout.locate(origin);
                let Some(slot) = world.table().resident_slot(page) else {
                    continue;
                };
                out.push(Span {
                    page,
                    slot,
                    lo: std::array::from_fn(|a| lo[a].max(origin[a]) - origin[a]),
                    hi: std::array::from_fn(|a| hi[a].min(origin[a] + pe) - origin[a]),
                });
            }
        }
    }
}

/// Heats every voxel under a field cell holding at least [`MIN_HEATING`]
/// toward ambient plus the excess, by the fraction `k`; wakes the pages it
/// heated and returns how many voxels it heated.
fn heat(world: &mut VoxelWorld, active: &[([i32; 3], Sample)], cell: u32, k: f32) -> u64 {
    // Each page's spans, by slot, so the pages go in parallel.
    let mut work: Vec<(Span, f32)> = Vec::new();
    let mut found = Vec::new();
    for &(c, s) in active.iter().filter(|(_, s)| s.thermal >= MIN_HEATING) {
        spans(world, c, cell, &mut found);
        work.extend(found.iter().map(|&span| (span, AMBIENT + s.thermal)));
    }
    work.sort_by_key(|(span, _)| span.slot);
    let layout = *world.layout();
    let pe = layout.page as usize;
    let heated: Vec<(usize, u64)> = world
        .pools_mut()
        .temperature
        .par_chunks_mut(layout.page_cells())
        .enumerate()
        .filter_map(|(slot, temperature)| {
            let from = work.partition_point(|(span, _)| span.slot < slot);
            let mine = work[from..]
                .iter()
                .take_while(|(span, _)| span.slot == slot);
            let mut n = 0;
            let mut page = None;
            for &(
                Span {
                    page: p, lo, hi, ..
                },
                target,
            ) in mine
            {
                page = Some(p);
                for z in lo[2] as usize..hi[2] as usize {
                    for y in lo[1] as usize..hi[1] as usize {
                        let row = pe * (y + pe * z);
                        for t in &mut temperature[row + lo[0] as usize..row + hi[0] as usize] {
                            if *t < target {
                                *t += k * (target - *t);
                                n += 1;
                            }
                        }
                    }
                }
            }
            page.filter(|_| n > 0).map(|p| (p, n))
        })
        .collect();
    for &(page, _) in &heated {
        world.touch(page);
        world.wake_around(page);
    }
    heated.iter().map(|&(_, n)| n).sum()
}

/// The moving part of the pass.
struct Throw<'a> {
    materials: &'a MaterialTable,
    /// Cells a speed of 1 m/s covers in a frame.
    cells_per_frame: f32,
    seed: u64,
    frame: u64,
}

impl Throw<'_> {
    /// Throws and carries the cells under the moving field cells of
    /// `active`; returns how many moved.
    fn run(&self, world: &mut VoxelWorld, mut active: Vec<([i32; 3], Sample)>, cell: u32) -> u64 {
        let speed = |s: &Sample| s.kinetic.iter().map(|v| v * v).sum::<f32>().sqrt();
        active.retain(|(_, s)| speed(s) > 0.0);
        // Weakest pressure first: the rim of a blast moves before its core,
        // so the core has somewhere to go. Equal pressures keep the fields'
        // own order (a stable sort, fast on the long runs of equal pressure
        // a wind leaves).
        active.sort_by(|a, b| a.1.pressure.total_cmp(&b.1.pressure));
        let layout = *world.layout();
        let (pe, pc) = (layout.page, layout.page_cells());
        // Cells that already moved this pass, so none moves twice.
        let mut landed: rustc_hash::FxHashSet<[u32; 3]> = rustc_hash::FxHashSet::default();
        let mut moved = 0;
        let mut found = Vec::new();
        for (c, s) in active {
            let speed = speed(&s);
            let dir = s.kinetic.map(|v| v / speed);
            spans(world, c, cell, &mut found);
            for &Span { page, slot, lo, hi } in &found {
                let origin = layout.page_coord(page).map(|v| v * pe);
                for z in lo[2]..hi[2] {
                    for y in lo[1]..hi[1] {
                        for x in lo[0]..hi[0] {
                            let i = slot * pc + layout.local_offset([x, y, z]);
                            let m = world.pools().material[i];
                            let p = [origin[0] + x, origin[1] + y, origin[2] + z];
                            if m == id::AIR {
                                continue;
                            }
                            // Whether it would move first (table lookups),
                            // then whether it already did (a hash lookup).
                            let Some((distance, blast)) = self.distance(m, p, &s, speed) else {
                                continue;
                            };
                            if landed.contains(&p) {
                                continue;
                            }
                            let to = walk(world, p, dir, distance).or_else(|| {
                                // Pushed into the ground, which holds: a
                                // blast over flat ground throws it up and out.
                                let up = self.ejecta(dir, p).filter(|_| blast)?;
                                walk(world, p, up, distance)
                            });
                            if let Some(to) = to {
                                // With any latent heat as temperature: the
                                // phase pass splits it again.
                                let cells = world.pools();
                                let t = cells.temperature[i] + cells.latent[i];
                                let t_air = world.temperature(to).unwrap_or(AMBIENT);
                                world.set_cell(to, m, t);
                                world.set_cell(p, id::AIR, t_air);
                                landed.insert(to);
                                moved += 1;
                            }
                        }
                    }
                }
            }
        }
        moved
    }

    /// How far the field `s` (of `speed` m/s) moves a cell of material `m`
    /// at `p` this frame, if at all, and whether a blast throws it (rather
    /// than a wind carrying it).
    fn distance(&self, m: u8, p: [u32; 3], s: &Sample, speed: f32) -> Option<(f32, bool)> {
        let cells = speed * self.cells_per_frame;
        if s.pressure > 0.0 && s.pressure >= self.materials.strength[m as usize] {
            // A blast: thrown along the kinetic field.
            return Some((cells.clamp(1.0, MAX_THROW), true));
        }
        if self.materials.kind[m as usize] != Kind::Gas {
            return None;
        }
        // Wind carries gases a cell at a time.
        let r = hash3(
            self.seed ^ 0x4649_454c_4453,
            self.frame,
            u64::from(p[0]) | u64::from(p[1]) << 21 | u64::from(p[2]) << 42,
        );
        let roll = (r >> 40) as f32 / (1u64 << 24) as f32;
        (roll < cells).then_some((1.0, false))
    }

    /// Where ground pushed down by a blast (`dir` points into it) is thrown
    /// instead: up at 45° and out, away from the blast's centre along `dir`'s
    /// horizontal part, or, right under the centre where that part is
    /// small, in a direction drawn from (seed, frame, cell). `None` when
    /// `dir` does not point down.
    fn ejecta(&self, dir: [f32; 3], p: [u32; 3]) -> Option<[f32; 3]> {
        if dir[1] >= 0.0 {
            return None;
        }
        let across = (dir[0] * dir[0] + dir[2] * dir[2]).sqrt();
        let (hx, hz) = if across > 0.3 {
            (dir[0] / across, dir[2] / across)
        } else {
            let r = hash3(
                self.seed ^ 0x4352_4154_4552,
                self.frame,
                u64::from(p[0]) | u64::from(p[1]) << 21 | u64::from(p[2]) << 42,
            );
            let angle = (r >> 40) as f32 / (1u64 << 24) as f32 * std::f32::consts::TAU;
            (angle.cos(), angle.sin())
        };
        let s = std::f32::consts::FRAC_1_SQRT_2;
        Some([hx * s, s, hz * s])
    }
}

/// Where a cell at `p` thrown `distance` cells along `dir` lands: the last
/// empty cell before anything that is not, if it moves at all.
fn walk(world: &VoxelWorld, p: [u32; 3], dir: [f32; 3], distance: f32) -> Option<[u32; 3]> {
    let size = world.layout().size;
    let mut to = p;
    for step in 1..=distance.round() as i32 {
        let q = [0, 1, 2].map(|a| (p[a] as f32 + 0.5 + dir[a] * step as f32).floor());
        if (0..3).any(|a| q[a] < 0.0 || q[a] >= size[a] as f32) {
            break;
        }
        let q = q.map(|v| v as u32);
        if q == to {
            continue;
        }
        if world.material(q) != Some(id::AIR) {
            break;
        }
        to = q;
    }
    (to != p).then_some(to)
}
