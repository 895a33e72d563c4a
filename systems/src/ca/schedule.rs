//! One automaton frame: which pages run, in which phase, and what wakes.

use rayon::prelude::*;

use loam_storage::pool::slots_mut;
use loam_storage::{neighbourhood, VoxelWorld};

use super::flags::MOVED;
use loam_runtime::profiling::zone;
use loam_runtime::Disjoint;

use super::kernel::{Channels, PageResult, PageUpdate, NONE};
use super::{CaConfig, CaStats};
use crate::lod::SimulationLod;
use crate::materials::MaterialTable;
use crate::materials::ReactionBlast;

/// Runs one automaton frame over the pages woken since the last one.
///
/// # Panics
/// If the world's pools and page table disagree (see
/// [`VoxelWorld::check_slots`], over the pages updated and their
/// neighbours); the parallel updates would otherwise touch memory they do
/// not own.
///
/// Pages are grouped into 8 phases by the parity of their page coordinates
/// and the phases run in order; the pages of a phase run in parallel on the
/// current rayon pool (serially when it has one thread). Returns what the
/// frame did; the pages it changed, and those next to the changes, are woken
/// for the next frame.
///
/// Blasts that reactions set off are dropped: [`step_with_blasts`] hands
/// them out for the fields.
pub fn step(
    world: &mut VoxelWorld,
    table: &MaterialTable,
    config: &CaConfig,
    seed: u64,
    frame: u64,
) -> CaStats {
    step_with_blasts(world, table, config, seed, frame, &mut Vec::new())
}

/// [`step`], appending the blasts that reactions set off to `blasts`, in
/// page order (pages by phase, then by index) and sweep order within a
/// page: the same on any number of threads.
pub fn step_with_blasts(
    world: &mut VoxelWorld,
    table: &MaterialTable,
    config: &CaConfig,
    seed: u64,
    frame: u64,
    blasts: &mut Vec<ReactionBlast>,
) -> CaStats {
    let active = world.take_woken();
    sweep(world, table, config, seed, frame, &active, &active, blasts)
}

/// A whole automaton frame under `lod` (see [`crate::lod`]): the sweep of
/// [`step_with_blasts`] and the levelling of [`level`](super::level), over
/// the woken pages whose turn it is. The others stay awake for a later
/// frame, counted in `lod.counts` and [`CaStats::pages_deferred`]; they
/// are woken again after the levelling, which would otherwise see them as
/// quiet pages to level.
pub fn step_scheduled(
    world: &mut VoxelWorld,
    table: &MaterialTable,
    config: &CaConfig,
    seed: u64,
    frame: u64,
    lod: &mut SimulationLod,
    blasts: &mut Vec<ReactionBlast>,
) -> CaStats {
    let active = world.take_woken();
    let layout = *world.layout();
    let mut due = Vec::with_capacity(active.len());
    let mut deferred = Vec::new();
    for &p in &active {
        match lod.due(&layout, p, frame) {
            (true, period) => {
                lod.count_update(period);
                due.push(p);
            }
            (false, _) => deferred.push(p),
        }
    }
    let mut stats = sweep(world, table, config, seed, frame, &active, &due, blasts);
    {
        let _zone = zone("ca.level");
        super::level(world, table, seed, frame, &due);
    }
    lod.counts.deferred += deferred.len() as u64;
    for p in deferred {
        world.wake(p);
    }
    stats.pages_deferred = lod.counts.deferred;
    stats.active_pages = world.table().awake_count() as u64;
    stats
}

/// One sweep: clears the MOVED bits of every page in `active` and updates
/// the pages in `due` (a subset).
#[allow(clippy::too_many_arguments)]
fn sweep(
    world: &mut VoxelWorld,
    table: &MaterialTable,
    config: &CaConfig,
    seed: u64,
    frame: u64,
    active: &[usize],
    due: &[usize],
    blasts: &mut Vec<ReactionBlast>,
) -> CaStats {
    let layout = *world.layout();
    let page_cells = layout.page_cells();
    let resident_of = |pages: &[usize]| -> Vec<usize> {
        pages
            .iter()
            .copied()
            .filter(|&p| world.table().resident_slot(p).is_some())
            .collect()
    };
    let cleared = resident_of(active);
    let resident = resident_of(due);
    let parallel = rayon::current_num_threads() > 1;

    // MOVED bits are only ever set by page updates and levelling trades
    // (`level`), which wake every page whose cells they flag; so every page holding a bit set last frame is
    // in `active` now, and clearing these pages leaves no stale bit anywhere
    // in the world. That matters beyond the updated pages: a mover reads the
    // MOVED bit of its target, which may lie in a neighbouring page. Pages
    // awake but not due this frame (LOD) are cleared too, so a neighbour
    // that runs does not read their bits as moves made this frame.

    // The page updates below write through raw pointers into these pages and
    // their neighbours: that is sound only if their slots are in range and
    // distinct, which safe code could have broken.
    let touched = resident.iter().flat_map(|&p| {
        let c = layout.page_coord(p);
        (0..27).filter_map(move |k| layout.neighbour_page(c, neighbourhood::offset(k)))
    });
    if let Err(e) = world.check_slots(touched) {
        panic!("ca::step on an inconsistent world: {e}");
    }

    let pools = world.pools_mut();
    let mut slots: Vec<usize> = cleared
        .iter()
        .filter_map(|&p| pools.table.resident_slot(p))
        .collect();
    slots.sort_unstable();
    let clear = |flags: &mut [u8]| flags.iter_mut().for_each(|f| *f &= !MOVED);
    let mut views = slots_mut(pools.flags, page_cells, &slots);
    if parallel {
        views.par_iter_mut().for_each(|v| clear(v));
    } else {
        views.iter_mut().for_each(|v| clear(v));
    }
    drop(views);

    let page_table = pools.table;
    let channels = Channels {
        material: Disjoint::new(pools.material),
        temperature: Disjoint::new(pools.temperature),
        latent: Disjoint::new(pools.latent),
        flags: Disjoint::new(pools.flags),
    };
    let mut stats = CaStats::default();
    let mut phase_pages: Vec<usize> = Vec::with_capacity(resident.len());
    let mut results: Vec<PageResult> = Vec::with_capacity(resident.len());
    // Pages to mark changed (true) or only wake, in the order found; applied
    // once the pools are no longer borrowed.
    let mut woken: Vec<(usize, bool)> = Vec::new();
    for phase in 0..8u32 {
        let _zone = zone("ca.checkerboard_phase");
        phase_pages.clear();
        phase_pages.extend(resident.iter().copied().filter(|&p| {
            let c = layout.page_coord(p);
            (c[0] & 1) | (c[1] & 1) << 1 | (c[2] & 1) << 2 == phase
        }));
        if phase_pages.is_empty() {
            continue;
        }
        let update = |&p: &usize| -> PageResult {
            let c = layout.page_coord(p);
            let mut base = [NONE; 27];
            for (k, b) in base.iter_mut().enumerate() {
                if let Some(n) = layout.neighbour_page(c, neighbourhood::offset(k)) {
                    if let Some(s) = page_table.resident_slot(n) {
                        *b = s * page_cells;
                    }
                }
            }
            PageUpdate {
                ch: channels,
                table,
                config: *config,
                p: layout.page as i32,
                base,
                origin: c.map(|v| v * layout.page),
                seed,
                frame,
            }
            .run()
        };
        results.clear();
        // The pools are not otherwise borrowed while `channels` is in use:
        // `world` is held mutably by this function, and the closure reads only
        // the page table. Pages of one phase touch disjoint cells (see
        // `Channels`).
        if parallel {
            phase_pages
                .par_iter()
                .map(update)
                .collect_into_vec(&mut results);
        } else {
            results.extend(phase_pages.iter().map(update));
        }
        for (&p, r) in phase_pages.iter().zip(&results) {
            stats.moves += u64::from(r.moves);
            stats.reactions += u64::from(r.reactions);
            blasts.extend_from_slice(&r.blasts);
            if r.wake == 0 {
                continue;
            }
            let c = layout.page_coord(p);
            // Pages that changed become dirty (to be written back before
            // eviction); those that can see a change only wake.
            for k in (0..27).filter(|k| r.wake >> k & 1 == 1) {
                if let Some(n) = layout.neighbour_page(c, neighbourhood::offset(k)) {
                    woken.push((n, r.dirty >> k & 1 == 1));
                }
            }
        }
    }
    for (n, changed) in woken {
        if changed {
            world.touch(n);
        } else {
            world.wake(n);
        }
    }
    stats.pages_updated = resident.len() as u64;
    stats.cells_updated = (resident.len() * page_cells) as u64;
    stats.active_pages = world.table().awake_count() as u64;
    stats
}
