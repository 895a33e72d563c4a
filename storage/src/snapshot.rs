//! A copy of the world's materials and temperatures for a renderer, kept
//! up to date by copying only the pages that changed, and the feed of what
//! changed that refreshing it yields.
//!
//! A refresh visits the pages whose [change stamp](crate::PageTable::change_stamp)
//! moved since the copy was taken. The stamp is conservative (a page
//! touched may hold the same cells), so the refresh compares each such
//! page with its copy: a page is reported only if a cell differs, with the
//! channels that differ and the smallest box holding every cell that does.
//! The copy is plain owned data (`Send + Sync`): a render thread reads one
//! while the simulation steps, and two of them, swapped, make a double
//! buffer (each catches up from its own last refresh).
//!
//! ```
//! use loam_storage::{CellPos, VoxelWorld, WorldLayout, WorldSnapshot};
//!
//! let layout = WorldLayout::new([64, 32, 64], 16).unwrap();
//! let mut world = VoxelWorld::new(layout, 0, 293.0);
//! let mut snap = WorldSnapshot::default();
//! snap.refresh(&world, 0);
//! assert_eq!(snap.changes().len(), 32, "every page (4 × 2 × 4) is new to a new copy");
//!
//! world.set_cell([20, 5, 40], 3, 293.0);
//! snap.refresh(&world, 1);
//! let change = &snap.changes()[0];
//! assert_eq!(snap.changes().len(), 1);
//! assert!(change.materials && !change.temperatures);
//! assert_eq!((change.min, change.max), (CellPos([20, 5, 40]), CellPos([21, 6, 41])));
//! assert_eq!(snap.material_at(CellPos([20, 5, 40])), Some(3));
//! ```

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::layout::WorldLayout;
use crate::query::{CellPos, PagePos};
use crate::world::VoxelWorld;

/// What became of a page between two refreshes of a [`WorldSnapshot`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    /// The page is new to the copy (the first refresh, or it was streamed
    /// in): every cell.
    Loaded,
    /// Cells of the page changed.
    Changed,
    /// The page left memory (it was streamed out); the copy holds it no
    /// more.
    Unloaded,
}

/// One page's change, as [`WorldSnapshot::changes`] lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageChange {
    /// The page.
    pub page: PagePos,
    /// What became of it.
    pub kind: ChangeKind,
    /// Whether any cell's material changed (every cell's, for a page
    /// loaded).
    pub materials: bool,
    /// Whether any cell's temperature changed.
    pub temperatures: bool,
    /// The smallest box holding every changed cell, `[min, max)` in world
    /// cells: the whole page for a page loaded or unloaded.
    pub min: CellPos,
    /// See `min`.
    pub max: CellPos,
}

/// One page's cells in the copy, x fastest.
#[derive(Clone, Debug, Default)]
struct PageCopy {
    /// The page's change stamp when copied.
    stamp: u64,
    material: Vec<u8>,
    temperature: Vec<f32>,
}

/// How much work the last refresh did, for measuring the feed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RefreshStats {
    /// Pages whose change stamp moved (each was compared and copied).
    pub pages_flagged: usize,
    /// Of those, pages where a cell had changed.
    pub pages_changed: usize,
    /// Cells that changed, over every changed page.
    pub cells_changed: u64,
    /// Cells in the reported boxes, over every changed page.
    pub cells_in_boxes: u64,
}

/// A copy of a world's materials and temperatures, refreshed with only
/// what changed; see the [module docs](self).
#[derive(Clone, Debug, Default)]
pub struct WorldSnapshot {
    layout: Option<WorldLayout>,
    frame: u64,
    /// By dense page index: the copies of the pages resident at the last
    /// refresh.
    pages: FxHashMap<usize, PageCopy>,
    changes: Vec<PageChange>,
    stats: RefreshStats,
}

impl WorldSnapshot {
    /// Brings the copy up to `world` as it is at `frame`, copying only the
    /// pages whose change stamp moved, and lists what changed
    /// ([`WorldSnapshot::changes`]). A copy of another world's layout
    /// starts again (every page loaded).
    pub fn refresh(&mut self, world: &VoxelWorld, frame: u64) {
        let layout = *world.layout();
        if self.layout != Some(layout) {
            self.layout = Some(layout);
            self.pages.clear();
        }
        self.frame = frame;
        let table = world.table();
        // The pages to look at: those resident now whose stamp moved since
        // they were copied, and those copied that are resident no more.
        // Only these, so a refresh costs what is in memory, not what a
        // streamed world's file holds.
        let moved: Vec<usize> = world
            .resident_pages()
            .into_iter()
            .filter(|p| self.pages.get(p).map(|c| c.stamp) != table.change_stamp(*p))
            .collect();
        let mut work: Vec<(usize, Option<PageCopy>)> = moved
            .into_iter()
            .map(|p| (p, self.pages.remove(&p)))
            .collect();
        let gone: Vec<usize> = self
            .pages
            .keys()
            .copied()
            .filter(|&p| table.change_stamp(p).is_none())
            .collect();
        for p in gone {
            work.push((p, self.pages.remove(&p)));
        }
        work.sort_unstable_by_key(|(p, _)| *p);
        // Per page: what changed (`None` where no cell did), with the
        // cells that changed and the cells of the box reported.
        let found: Vec<Option<(PageChange, u64, u64)>> = work
            .par_iter_mut()
            .map(|(p, copy)| look(world, &layout, *p, copy))
            .collect();
        self.stats = RefreshStats {
            pages_flagged: work.len(),
            ..RefreshStats::default()
        };
        for (p, copy) in work {
            if let Some(copy) = copy {
                self.pages.insert(p, copy);
            }
        }
        self.changes.clear();
        for (change, cells, boxed) in found.into_iter().flatten() {
            if change.kind == ChangeKind::Changed {
                self.stats.pages_changed += 1;
                self.stats.cells_changed += cells;
                self.stats.cells_in_boxes += boxed;
            }
            self.changes.push(change);
        }
    }

    /// What the last refresh found changed, by page index: every page
    /// where a cell differs from the copy before it, none where none does.
    pub fn changes(&self) -> &[PageChange] {
        &self.changes
    }

    /// How much work the last refresh did.
    pub fn stats(&self) -> RefreshStats {
        self.stats
    }

    /// The frame the copy was last refreshed at.
    pub fn frame(&self) -> u64 {
        self.frame
    }

    /// The copied world's layout (`None` before the first refresh).
    pub fn layout(&self) -> Option<&WorldLayout> {
        self.layout.as_ref()
    }

    /// Material of the cell at `c` in the copy: `None` outside the world
    /// or on a page not resident when it was refreshed.
    pub fn material_at(&self, c: CellPos) -> Option<u8> {
        let (page, offset) = self.locate(c)?;
        Some(page.material[offset])
    }

    /// Temperature (K) of the cell at `c` in the copy.
    pub fn temperature_at(&self, c: CellPos) -> Option<f32> {
        let (page, offset) = self.locate(c)?;
        Some(page.temperature[offset])
    }

    /// The copy of the page at `p`: its materials and temperatures, x
    /// fastest.
    pub fn page_at(&self, p: PagePos) -> Option<(&[u8], &[f32])> {
        let layout = self.layout.as_ref()?;
        let copy = self.pages.get(&p.index(layout)?)?;
        Some((&copy.material, &copy.temperature))
    }

    /// The copy of the page holding `c`, and `c`'s offset in it.
    fn locate(&self, c: CellPos) -> Option<(&PageCopy, usize)> {
        let layout = self.layout.as_ref()?;
        c.page(layout)?;
        let (p, offset) = layout.locate(c.0);
        Some((self.pages.get(&p)?, offset))
    }
}

/// Brings page `p`'s copy (`None` if it has none) up to the world, and
/// says what changed: `None` where no cell did. The copy is left `None`
/// where the page is not resident.
fn look(
    world: &VoxelWorld,
    layout: &WorldLayout,
    p: usize,
    copy: &mut Option<PageCopy>,
) -> Option<(PageChange, u64, u64)> {
    let page = PagePos::of_index(p, layout);
    let (Some(stamp), Some(view)) = (world.table().change_stamp(p), world.page(p)) else {
        *copy = None;
        return Some((whole_page(page, ChangeKind::Unloaded, layout), 0, 0));
    };
    let Some(copy) = copy else {
        *copy = Some(PageCopy {
            stamp,
            material: view.material.to_vec(),
            temperature: view.temperature.to_vec(),
        });
        return Some((whole_page(page, ChangeKind::Loaded, layout), 0, 0));
    };
    copy.stamp = stamp;
    let (cells, change) = diff_into(copy, view.material, view.temperature, layout)?;
    let origin = page.origin(layout).0;
    let boxed = (0..3)
        .map(|a| u64::from(change.max[a] - change.min[a]))
        .product();
    let change = PageChange {
        page,
        kind: ChangeKind::Changed,
        materials: change.materials,
        temperatures: change.temperatures,
        min: CellPos([0, 1, 2].map(|a| origin[a] + change.min[a])),
        max: CellPos([0, 1, 2].map(|a| origin[a] + change.max[a])),
    };
    Some((change, cells, boxed))
}

/// A change covering the whole of `page`.
fn whole_page(page: PagePos, kind: ChangeKind, layout: &WorldLayout) -> PageChange {
    let min = page.origin(layout);
    PageChange {
        page,
        kind,
        materials: kind == ChangeKind::Loaded,
        temperatures: kind == ChangeKind::Loaded,
        min,
        max: CellPos(min.0.map(|v| v + layout.page)),
    }
}

/// What differs between a page's copy and its cells now, in page-local
/// cells.
struct LocalChange {
    materials: bool,
    temperatures: bool,
    min: [u32; 3],
    max: [u32; 3],
}

/// Compares `copy` with a page's cells now, copies them over it, and
/// returns how many cells differed and where, if any did.
fn diff_into(
    copy: &mut PageCopy,
    material: &[u8],
    temperature: &[f32],
    layout: &WorldLayout,
) -> Option<(u64, LocalChange)> {
    let edge = layout.page as usize;
    let mut change = LocalChange {
        materials: false,
        temperatures: false,
        min: [u32::MAX; 3],
        max: [0; 3],
    };
    let mut cells = 0u64;
    for (r, ((old_m, old_t), (new_m, new_t))) in copy
        .material
        .chunks_exact_mut(edge)
        .zip(copy.temperature.chunks_exact_mut(edge))
        .zip(
            material
                .chunks_exact(edge)
                .zip(temperature.chunks_exact(edge)),
        )
        .enumerate()
    {
        // Rows are compared whole first: most rows of a changed page are
        // as they were, and a slice compare is a memcmp.
        let same_m = old_m == new_m;
        // Bits, not values: a temperature written again with the same
        // value is no change, and NaN is not unequal to itself here.
        let same_t = bytemuck::cast_slice::<f32, u32>(old_t) == bytemuck::cast_slice(new_t);
        if same_m && same_t {
            continue;
        }
        let (y, z) = ((r % edge) as u32, (r / edge) as u32);
        let differs =
            |x: &usize| old_m[*x] != new_m[*x] || old_t[*x].to_bits() != new_t[*x].to_bits();
        let first = (0..edge).find(differs).unwrap_or(0);
        let last = (first..edge).rev().find(differs).unwrap_or(first);
        cells += (first..=last).filter(differs).count() as u64;
        change.materials |= !same_m;
        change.temperatures |= !same_t;
        let (lo, hi) = ([first as u32, y, z], [last as u32 + 1, y + 1, z + 1]);
        for a in 0..3 {
            change.min[a] = change.min[a].min(lo[a]);
            change.max[a] = change.max[a].max(hi[a]);
        }
        old_m.copy_from_slice(new_m);
        old_t.copy_from_slice(new_t);
    }
    (cells > 0).then_some((cells, change))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_draws::draw;

    /// Every resident page's cells, by page index (`None` if absent).
    type Full = Vec<Option<(Vec<u8>, Vec<u32>)>>;

    fn full_copy(world: &VoxelWorld) -> Full {
        (0..world.layout().page_count())
            .map(|p| {
                world.page(p).map(|v| {
                    let t = v.temperature.iter().map(|t| t.to_bits()).collect();
                    (v.material.to_vec(), t)
                })
            })
            .collect()
    }

    /// The feed against a full diff of the world before and after, and
    /// the copy against the world.
    fn check(snap: &WorldSnapshot, before: &Full, world: &VoxelWorld, case: &str) {
        let layout = world.layout();
        let now = full_copy(world);
        let mut expected = Vec::new();
        for (p, (old, new)) in before.iter().zip(&now).enumerate() {
            let page = PagePos::of_index(p, layout);
            let change = match (old, new) {
                (None, None) => continue,
                (None, Some(_)) => whole_page(page, ChangeKind::Loaded, layout),
                (Some(_), None) => whole_page(page, ChangeKind::Unloaded, layout),
                (Some((om, ot)), Some((nm, nt))) => {
                    let (mut lo, mut hi) = ([u32::MAX; 3], [0; 3]);
                    let (mut materials, mut temperatures) = (false, false);
                    for i in 0..om.len() {
                        let (m, t) = (om[i] != nm[i], ot[i] != nt[i]);
                        if m || t {
                            materials |= m;
                            temperatures |= t;
                            let e = layout.page as usize;
                            let at = [i % e, (i / e) % e, i / (e * e)].map(|v| v as u32);
                            for a in 0..3 {
                                lo[a] = lo[a].min(at[a]);
                                hi[a] = hi[a].max(at[a] + 1);
                            }
                        }
                    }
                    if !(materials || temperatures) {
                        continue;
                    }
                    let o = page.origin(layout).0;
                    PageChange {
                        page,
                        kind: ChangeKind::Changed,
                        materials,
                        temperatures,
                        min: CellPos([0, 1, 2].map(|a| o[a] + lo[a])),
                        max: CellPos([0, 1, 2].map(|a| o[a] + hi[a])),
                    }
                }
            };
            expected.push(change);
        }
        assert_eq!(snap.changes(), &expected[..], "{case}");
        for (p, page) in now.iter().enumerate() {
            let copy = snap.page_at(PagePos::of_index(p, layout));
            let copy = copy.map(|(m, t)| (m.to_vec(), t.iter().map(|t| t.to_bits()).collect()));
            assert_eq!(&copy, page, "{case}: page {p}");
        }
    }

    #[test]
    fn the_feed_is_a_full_diff_and_the_copy_is_the_world() {
        let mut rng = 5u64;
        for case in 0..30 {
            let page = [4u32, 8][(draw(&mut rng) % 2) as usize];
            let size = [0; 3].map(|_| page * (1 + (draw(&mut rng) % 3) as u32));
            let layout = WorldLayout::new(size, page).unwrap();
            let mut world = VoxelWorld::new(layout, 0, 293.0);
            // One copy refreshed every frame, one every third.
            let (mut every, mut third) = (WorldSnapshot::default(), WorldSnapshot::default());
            let (mut before_every, mut before_third) = (
                vec![None; layout.page_count()],
                vec![None; layout.page_count()],
            );
            for frame in 0..40u64 {
                for _ in 0..draw(&mut rng) % 6 {
                    let c = [0, 1, 2].map(|a| (draw(&mut rng) % u64::from(size[a])) as u32);
                    let (p, _) = layout.locate(c);
                    match draw(&mut rng) % 6 {
                        // A cell written: a new material, a new or the
                        // same temperature, or exactly what it held.
                        0..=2 => {
                            let m = (draw(&mut rng) % 3) as u8;
                            let t = [293.0, 300.0, f32::NAN][(draw(&mut rng) % 3) as usize];
                            world.set_cell(c, m, t);
                        }
                        // Touched but not changed: what the stamp flags
                        // and the feed must not report.
                        3 => world.touch(p),
                        4 => world.evict(p),
                        _ => {
                            world.install(p);
                        }
                    }
                }
                let case = format!("case {case}, {size:?} by {page}, frame {frame}");
                every.refresh(&world, frame);
                check(&every, &before_every, &world, &case);
                before_every = full_copy(&world);
                if frame % 3 == 0 {
                    third.refresh(&world, frame);
                    check(
                        &third,
                        &before_third,
                        &world,
                        &format!("{case}, every third"),
                    );
                    before_third = full_copy(&world);
                }
            }
        }
    }
}
