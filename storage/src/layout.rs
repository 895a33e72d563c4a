//! World geometry: how cells map to pages and pages to dense indices.

/// A world's dimensions and page size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorldLayout {
    /// World size in cells: x, y (up), z.
    pub size: [u32; 3],
    /// Page edge length `P` in cells (a power of two).
    pub page: u32,
    /// World size in pages.
    pub pages: [u32; 3],
}

/// Why a layout is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    /// The page size is not a power of two in 4..=256.
    #[error("page size {0} must be a power of two between 4 and 256")]
    PageSize(u32),
    /// An axis is zero or not a multiple of the page size.
    #[error("world size {size} along {axis} must be a positive multiple of the page size {page}")]
    NotMultiple {
        /// "x", "y" or "z".
        axis: &'static str,
        /// The size given.
        size: u32,
        /// The page size.
        page: u32,
    },
    /// More pages along an axis than Morton ids can address.
    #[error("world has {pages} pages along {axis}; at most 2^21 are supported")]
    TooLarge {
        /// "x", "y" or "z".
        axis: &'static str,
        /// Pages along that axis.
        pages: u32,
    },
}

impl WorldLayout {
    /// Checks and builds a layout.
    pub fn new(size: [u32; 3], page: u32) -> Result<Self, LayoutError> {
        if !page.is_power_of_two() || !(4..=256).contains(&page) {
            return Err(LayoutError::PageSize(page));
        }
        let mut pages = [0; 3];
        for (a, axis) in ["x", "y", "z"].into_iter().enumerate() {
            if size[a] == 0 || size[a] % page != 0 {
                return Err(LayoutError::NotMultiple {
                    axis,
                    size: size[a],
                    page,
                });
            }
            pages[a] = size[a] / page;
            if pages[a] > 1 << 21 {
                return Err(LayoutError::TooLarge {
                    axis,
                    pages: pages[a],
                });
            }
        }
        Ok(Self { size, page, pages })
    }

    /// Cells in one page (`P³`).
    #[inline]
    pub fn page_cells(&self) -> usize {
        (self.page as usize).pow(3)
    }

    /// Pages in the world.
    #[inline]
    pub fn page_count(&self) -> usize {
        self.pages.iter().map(|&p| p as usize).product()
    }

    /// Cells in the world.
    pub fn cell_count(&self) -> u64 {
        self.size.iter().map(|&s| u64::from(s)).product()
    }

    /// Dense index of the page at page coordinates `c` (x fastest).
    #[inline]
    pub fn page_index(&self, c: [u32; 3]) -> usize {
        c[0] as usize
            + self.pages[0] as usize * (c[1] as usize + self.pages[1] as usize * c[2] as usize)
    }

    /// Page coordinates of dense page index `i`.
    #[inline]
    pub fn page_coord(&self, i: usize) -> [u32; 3] {
        let nx = self.pages[0] as usize;
        let ny = self.pages[1] as usize;
        [
            (i % nx) as u32,
            ((i / nx) % ny) as u32,
            (i / (nx * ny)) as u32,
        ]
    }

    /// Dense index of the page at `c` offset by `d` pages, if inside the world.
    #[inline]
    pub fn neighbour_page(&self, c: [u32; 3], d: [i32; 3]) -> Option<usize> {
        let mut n = [0u32; 3];
        for a in 0..3 {
            let v = c[a] as i64 + i64::from(d[a]);
            if v < 0 || v >= i64::from(self.pages[a]) {
                return None;
            }
            n[a] = v as u32;
        }
        Some(self.page_index(n))
    }

    /// Whether the cell `p` lies inside the world.
    #[inline]
    pub fn contains(&self, p: [i64; 3]) -> bool {
        (0..3).all(|a| p[a] >= 0 && p[a] < i64::from(self.size[a]))
    }

    /// The page holding cell `p` and the cell's offset inside that page.
    #[inline]
    pub fn locate(&self, p: [u32; 3]) -> (usize, usize) {
        let shift = self.page.trailing_zeros();
        let mask = self.page - 1;
        let page = self.page_index([p[0] >> shift, p[1] >> shift, p[2] >> shift]);
        (
            page,
            self.local_offset([p[0] & mask, p[1] & mask, p[2] & mask]),
        )
    }

    /// Offset of local cell `l` inside a page.
    #[inline]
    pub fn local_offset(&self, l: [u32; 3]) -> usize {
        let p = self.page as usize;
        l[0] as usize + p * (l[1] as usize + p * l[2] as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_page_sizes_and_sizes() {
        assert_eq!(
            WorldLayout::new([64; 3], 24),
            Err(LayoutError::PageSize(24))
        );
        assert_eq!(WorldLayout::new([64; 3], 2), Err(LayoutError::PageSize(2)));
        assert!(matches!(
            WorldLayout::new([64, 40, 64], 32),
            Err(LayoutError::NotMultiple { axis: "y", .. })
        ));
        assert!(matches!(
            WorldLayout::new([0, 32, 32], 32),
            Err(LayoutError::NotMultiple { axis: "x", .. })
        ));
    }

    #[test]
    fn locate_and_index_agree() {
        let l = WorldLayout::new([96, 64, 32], 32).unwrap();
        assert_eq!(l.pages, [3, 2, 1]);
        assert_eq!(l.page_count(), 6);
        let (page, off) = l.locate([33, 34, 5]);
        assert_eq!(l.page_coord(page), [1, 1, 0]);
        assert_eq!(off, 1 + 32 * (2 + 32 * 5));
        assert_eq!(
            l.neighbour_page([1, 1, 0], [1, -1, 0]),
            Some(l.page_index([2, 0, 0]))
        );
        assert_eq!(l.neighbour_page([2, 1, 0], [1, 0, 0]), None);
    }
}
