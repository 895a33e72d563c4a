//! Which pages can see a cell: the 3×3×3 page neighbourhood as bit masks.
//!
//! A change to a cell must wake every page whose update can read that cell.
//! Updates read one cell beyond their page vertically and up to
//! [`sideways_reach`] cells beyond it horizontally (fluids look sideways for
//! somewhere to flow), so a change within that distance of a face wakes the
//! page across it. Bit `(ox+1) + 3(oy+1) + 9(oz+1)` of a mask stands for the
//! page at offset `(ox, oy, oz)`; bit 13 is the page itself.

/// How many cells sideways a system may read beyond its page (fewer on
/// small pages, see [`sideways_reach`]).
pub const SIDEWAYS_REACH: i32 = 6;

/// Mask of the page itself only.
pub const SELF: u32 = 1 << 13;

/// Mask of the whole neighbourhood.
pub const ALL: u32 = (1 << 27) - 1;

/// Cells a system may read sideways beyond a page of edge `page`: at most
/// half a page, so reads of two pages two apart never meet (their pages are
/// `2P` apart and each reads less than `P` beyond itself).
#[inline(always)]
pub const fn sideways_reach(page: i32) -> i32 {
    if SIDEWAYS_REACH < page / 2 {
        SIDEWAYS_REACH
    } else {
        page / 2
    }
}

/// Per-axis bits of the page offsets (-1, 0, +1) that can see local
/// coordinate `v` (in `-1..=P`) when reads reach `reach` cells past a face.
#[inline(always)]
const fn axis_bits(v: i32, p: i32, reach: i32) -> u32 {
    0b010 | (v < reach) as u32 | ((v >= p - reach) as u32) << 2
}

/// `MASKS[bx | by << 3 | bz << 6]`: the neighbourhood mask of the product of
/// three per-axis offset sets.
const MASKS: [u32; 512] = {
    let mut t = [0u32; 512];
    let mut i = 0;
    while i < 512 {
        let (bx, by, bz) = (i & 7, (i >> 3) & 7, (i >> 6) & 7);
        let mut m = 0u32;
        let mut k = 0;
        while k < 27 {
            let (x, y, z) = (k % 3, (k / 3) % 3, k / 9);
            if bx >> x & 1 == 1 && by >> y & 1 == 1 && bz >> z & 1 == 1 {
                m |= 1 << k;
            }
            k += 1;
        }
        t[i] = m;
        i += 1;
    }
    t
};

/// The pages that can see local cell `(x, y, z)` of a page of edge `p`.
#[inline(always)]
pub fn seen_by(x: i32, y: i32, z: i32, p: i32) -> u32 {
    let r = sideways_reach(p);
    MASKS[(axis_bits(x, p, r) | axis_bits(y, p, 1) << 3 | axis_bits(z, p, r) << 6) as usize]
}

/// The pages that can see any cell of the box `lo..=hi` (local coordinates):
/// the same as the union of [`seen_by`] over its cells, or a little more
/// (a box spanning two faces also wakes the page across the edge between them).
#[inline]
pub fn seen_by_box(lo: [i32; 3], hi: [i32; 3], p: i32) -> u32 {
    let r = sideways_reach(p);
    let axis = |a: usize, reach: i32| -> u32 {
        0b010 | (lo[a] < reach) as u32 | ((hi[a] >= p - reach) as u32) << 2
    };
    MASKS[(axis(0, r) | axis(1, 1) << 3 | axis(2, r) << 6) as usize]
}

/// The pages that hold any cell of the box `lo..=hi` (local coordinates,
/// at most one cell beyond the page): the pages a change there wrote to.
#[inline]
pub fn holding_box(lo: [i32; 3], hi: [i32; 3], p: i32) -> u32 {
    let axis = |a: usize| -> u32 { 0b010 | (lo[a] < 0) as u32 | ((hi[a] >= p) as u32) << 2 };
    MASKS[(axis(0) | axis(1) << 3 | axis(2) << 6) as usize]
}

/// The page offset of neighbourhood bit `k`.
#[inline]
pub fn offset(k: usize) -> [i32; 3] {
    let k = k as i32;
    [k % 3 - 1, (k / 3) % 3 - 1, k / 9 - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interior_cells_are_seen_by_their_page_only() {
        assert_eq!(seen_by(16, 16, 16, 32), SELF);
    }

    #[test]
    fn a_corner_is_seen_by_eight_pages_and_reach_widens_sideways_only() {
        assert_eq!(seen_by(0, 0, 0, 32).count_ones(), 8);
        // Five cells in from the -x face: still within sideways reach.
        let m = seen_by(5, 16, 16, 32);
        assert_eq!(m, SELF | 1 << 12);
        // Two cells up from the floor: beyond the vertical reach of one.
        assert_eq!(seen_by(16, 2, 16, 32), SELF);
        assert_eq!(seen_by(6, 16, 16, 32), SELF);
    }

    #[test]
    fn small_pages_halve_the_reach() {
        assert_eq!(sideways_reach(4), 2);
        assert_eq!(sideways_reach(32), SIDEWAYS_REACH);
        // On a 4-cell page every x and z is within 2 of a face.
        assert_eq!(seen_by(1, 2, 2, 4).count_ones(), 4);
    }

    #[test]
    fn a_box_is_seen_by_at_least_what_sees_its_cells() {
        let (lo, hi) = ([3, 10, 10], [20, 31, 12]);
        let boxed = seen_by_box(lo, hi, 32);
        for (x, y, z) in [(3, 10, 10), (20, 31, 12), (10, 20, 11)] {
            let cell = seen_by(x, y, z, 32);
            assert_eq!(cell & !boxed, 0, "({x}, {y}, {z})");
        }
        assert_eq!(seen_by_box([16; 3], [16; 3], 32), SELF);
    }

    #[test]
    fn offsets_round_trip() {
        assert_eq!(offset(13), [0, 0, 0]);
        assert_eq!(offset(0), [-1, -1, -1]);
        assert_eq!(offset(26), [1, 1, 1]);
    }
}
