//! Queries a game asks of the world every frame, in positions whose type
//! says what they count: [`CellPos`] in cells, [`PagePos`] in pages. (The
//! kernels' `[u32; 3]` is either, and a cell position passed where a page
//! position was meant read a page far outside the world, silently.)
//!
//! ```
//! use loam_storage::{CellPos, VoxelWorld, WorldLayout};
//!
//! let layout = WorldLayout::new([64, 32, 64], 16).unwrap();
//! let mut world = VoxelWorld::new(layout, 0, 293.0);
//! world.set_cell([20, 5, 40], 3, 293.0);
//! assert_eq!(world.material_at(CellPos([20, 5, 40])), Some(3));
//! let count = world.count_in_box(3, CellPos([0; 3]), CellPos([64, 32, 64]));
//! assert_eq!((count.cells, count.unread), (1, 0));
//! let pages: Vec<_> = world.pages_in_box(CellPos([10, 0, 10]), CellPos([20, 1, 20])).collect();
//! assert_eq!(pages.len(), 4, "x and z each cross a page boundary at 16");
//! ```

use crate::layout::WorldLayout;
use crate::world::{PageView, VoxelWorld};

/// A cell's position, in cells from the world's origin (x, y up, z).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CellPos(pub [u32; 3]);

/// A page's position, in pages from the world's origin.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PagePos(pub [u32; 3]);

impl CellPos {
    /// The page holding this cell, if the cell is in the world.
    pub fn page(self, layout: &WorldLayout) -> Option<PagePos> {
        let inside = (0..3).all(|a| self.0[a] < layout.size[a]);
        inside.then(|| PagePos(self.0.map(|v| v / layout.page)))
    }
}

impl PagePos {
    /// The page's dense index (see [`WorldLayout::page_index`]), if the
    /// page is in the world.
    pub fn index(self, layout: &WorldLayout) -> Option<usize> {
        let inside = (0..3).all(|a| self.0[a] < layout.pages[a]);
        inside.then(|| layout.page_index(self.0))
    }

    /// The page with dense index `index`.
    pub fn of_index(index: usize, layout: &WorldLayout) -> Self {
        Self(layout.page_coord(index))
    }

    /// The page's first cell (its lowest x, y and z).
    pub fn origin(self, layout: &WorldLayout) -> CellPos {
        CellPos(self.0.map(|v| v * layout.page))
    }
}

/// How many cells of a box hold a material ([`VoxelWorld::count_in_box`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BoxCount {
    /// Cells of the material, on resident pages.
    pub cells: u64,
    /// Cells of the box on pages not resident (a streamed world's), which
    /// were not read: the true count is between `cells` and
    /// `cells + unread`.
    pub unread: u64,
}

/// The cells of `[min, max)` inside the world, as a lower and an upper
/// corner; `None` where nothing of it is.
fn clip(layout: &WorldLayout, min: CellPos, max: CellPos) -> Option<([u32; 3], [u32; 3])> {
    let hi = [0, 1, 2].map(|a| max.0[a].min(layout.size[a]));
    (0..3).all(|a| min.0[a] < hi[a]).then_some((min.0, hi))
}

impl VoxelWorld {
    /// Material of the cell at `c`: `None` outside the world or on a page
    /// not resident.
    pub fn material_at(&self, c: CellPos) -> Option<u8> {
        self.material(c.0)
    }

    /// Temperature (K) of the cell at `c`: `None` outside the world or on
    /// a page not resident.
    pub fn temperature_at(&self, c: CellPos) -> Option<f32> {
        self.temperature(c.0)
    }

    /// The channels of the page at `p`: `None` outside the world or where
    /// it is not resident.
    pub fn page_at(&self, p: PagePos) -> Option<PageView<'_>> {
        self.page(p.index(self.layout())?)
    }

    /// The pages holding any cell of the box `[min, max)` (clipped to the
    /// world), x fastest, then y, then z.
    pub fn pages_in_box(&self, min: CellPos, max: CellPos) -> impl Iterator<Item = PagePos> {
        let page = self.layout().page;
        let range = clip(self.layout(), min, max)
            .map(|(lo, hi)| (lo.map(|v| v / page), hi.map(|v| (v - 1) / page)));
        range.into_iter().flat_map(|(lo, hi)| {
            (lo[2]..=hi[2]).flat_map(move |z| {
                (lo[1]..=hi[1]).flat_map(move |y| (lo[0]..=hi[0]).map(move |x| PagePos([x, y, z])))
            })
        })
    }

    /// How many cells of the box `[min, max)` (clipped to the world) hold
    /// `material`, and how many were on pages not resident.
    pub fn count_in_box(&self, material: u8, min: CellPos, max: CellPos) -> BoxCount {
        let Some((lo, hi)) = clip(self.layout(), min, max) else {
            return BoxCount::default();
        };
        let layout = self.layout();
        let mut count = BoxCount::default();
        for p in self.pages_in_box(min, max) {
            let origin = p.origin(layout).0;
            // The box's cells within this page, in its local coordinates.
            let l_lo = [0, 1, 2].map(|a| lo[a].max(origin[a]) - origin[a]);
            let l_hi = [0, 1, 2].map(|a| hi[a].min(origin[a] + layout.page) - origin[a]);
            let Some(view) = self.page_at(p) else {
                count.unread += (0..3)
                    .map(|a| u64::from(l_hi[a] - l_lo[a]))
                    .product::<u64>();
                continue;
            };
            let whole = l_lo == [0; 3] && l_hi == [layout.page; 3];
            let n = if whole {
                view.material.iter().filter(|&&m| m == material).count()
            } else {
                let mut n = 0;
                for z in l_lo[2]..l_hi[2] {
                    for y in l_lo[1]..l_hi[1] {
                        let row = layout.local_offset([0, y, z]);
                        let cells = &view.material[row + l_lo[0] as usize..row + l_hi[0] as usize];
                        n += cells.iter().filter(|&&m| m == material).count();
                    }
                }
                n
            };
            count.cells += n as u64;
        }
        count
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_draws::draw;

    /// Every query over generated worlds (sizes, pages, fills, pages not
    /// resident) and boxes (inside, across the edges, outside, empty,
    /// inverted) agrees with a cell-by-cell look.
    #[test]
    fn queries_agree_with_looking_at_every_cell() {
        let mut rng = 11u64;
        for case in 0..60 {
            let page = [4u32, 8, 16][(draw(&mut rng) % 3) as usize];
            let size = [0; 3].map(|_| page * (1 + (draw(&mut rng) % 4) as u32));
            let layout = WorldLayout::new(size, page).unwrap();
            let mut world = VoxelWorld::new(layout, 0, 293.0);
            let cells = layout.cell_count();
            for _ in 0..cells / 3 {
                let c = [0, 1, 2].map(|a| (draw(&mut rng) % u64::from(size[a])) as u32);
                world.set_cell(c, (draw(&mut rng) % 4) as u8, 293.0);
            }
            for p in 0..layout.page_count() {
                if draw(&mut rng) % 5 == 0 {
                    world.evict(p);
                }
            }
            for _ in 0..20 {
                let corner = |rng: &mut u64| {
                    CellPos([0, 1, 2].map(|a| (draw(rng) % u64::from(size[a] + 8)) as u32))
                };
                let (min, max) = (corner(&mut rng), corner(&mut rng));
                let material = (draw(&mut rng) % 4) as u8;
                let (mut expected, mut pages) = (BoxCount::default(), Vec::new());
                for z in min.0[2]..max.0[2].min(size[2]) {
                    for y in min.0[1]..max.0[1].min(size[1]) {
                        for x in min.0[0]..max.0[0].min(size[0]) {
                            let c = CellPos([x, y, z]);
                            match world.material_at(c) {
                                Some(m) => expected.cells += u64::from(m == material),
                                None => expected.unread += 1,
                            }
                            let page = c.page(&layout).unwrap();
                            assert_eq!(
                                world.page_at(page).is_some(),
                                world.material_at(c).is_some()
                            );
                            pages.push(page);
                        }
                    }
                }
                pages.sort_by_key(|p| (p.0[2], p.0[1], p.0[0]));
                pages.dedup();
                let case = format!("case {case}: {size:?} by {page}, box {min:?}..{max:?}");
                assert_eq!(world.count_in_box(material, min, max), expected, "{case}");
                let found: Vec<_> = world.pages_in_box(min, max).collect();
                assert_eq!(found, pages, "{case}");
            }
        }
    }

    #[test]
    fn a_cell_position_is_not_taken_for_a_page_position() {
        let layout = WorldLayout::new([64, 64, 64], 16).unwrap();
        let cell = CellPos([40, 8, 20]);
        let page = cell.page(&layout).unwrap();
        assert_eq!(page, PagePos([2, 0, 1]));
        assert_eq!(page.origin(&layout), CellPos([32, 0, 16]));
        assert_eq!(
            PagePos::of_index(page.index(&layout).unwrap(), &layout),
            page
        );
        // The mistake the types now stop: a cell's numbers as a page's.
        assert_eq!(PagePos(cell.0).index(&layout), None);
        assert_eq!(CellPos([64, 0, 0]).page(&layout), None);
    }
}
