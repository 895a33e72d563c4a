//! Morton (Z-order) codes of page coordinates, used as page ids.
//!
//! Interleaving the bits of x, y and z keeps pages that are near in space
//! near in id order, which is the order pages are stored and hashed in.

/// A page id: the Morton code of the page's coordinates (x in bit 0, y in
/// bit 1, z in bit 2 of each triple). Coordinates up to 2^21 per axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PageId(pub u64);

/// Spreads the low 21 bits of `v` so bit i lands on bit 3i.
#[inline]
fn spread(v: u32) -> u64 {
    let mut x = u64::from(v) & 0x1f_ffff;
    x = (x | x << 32) & 0x001f_0000_0000_ffff;
    x = (x | x << 16) & 0x001f_0000_ff00_00ff;
    x = (x | x << 8) & 0x100f_00f0_0f00_f00f;
    x = (x | x << 4) & 0x10c3_0c30_c30c_30c3;
    x = (x | x << 2) & 0x1249_2492_4924_9249;
    x
}

/// Inverse of [`spread`].
#[inline]
fn compact(v: u64) -> u32 {
    let mut x = v & 0x1249_2492_4924_9249;
    x = (x | x >> 2) & 0x10c3_0c30_c30c_30c3;
    x = (x | x >> 4) & 0x100f_00f0_0f00_f00f;
    x = (x | x >> 8) & 0x001f_0000_ff00_00ff;
    x = (x | x >> 16) & 0x001f_0000_0000_ffff;
    x = (x | x >> 32) & 0x1f_ffff;
    x as u32
}

impl PageId {
    /// The id of the page at page coordinates `c`.
    pub fn from_coord(c: [u32; 3]) -> Self {
        PageId(spread(c[0]) | spread(c[1]) << 1 | spread(c[2]) << 2)
    }

    /// The page coordinates of this id.
    pub fn coord(self) -> [u32; 3] {
        [compact(self.0), compact(self.0 >> 1), compact(self.0 >> 2)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_bit_order() {
        assert_eq!(PageId::from_coord([1, 0, 0]).0, 0b001);
        assert_eq!(PageId::from_coord([0, 1, 0]).0, 0b010);
        assert_eq!(PageId::from_coord([0, 0, 1]).0, 0b100);
        assert_eq!(PageId::from_coord([3, 3, 3]).0, 0b111_111);
        for c in [[0, 0, 0], [5, 9, 13], [(1 << 21) - 1, 77, (1 << 20) + 3]] {
            assert_eq!(PageId::from_coord(c).coord(), c);
        }
    }

    #[test]
    fn z_order_visits_a_2x2x2_block_first() {
        let mut ids: Vec<u64> = (0..64)
            .map(|i| PageId::from_coord([i % 4, (i / 4) % 4, i / 16]).0)
            .collect();
        ids.sort_unstable();
        assert_eq!(ids, (0..64).collect::<Vec<u64>>());
        assert!(PageId::from_coord([1, 1, 1]) < PageId::from_coord([2, 0, 0]));
    }
}
