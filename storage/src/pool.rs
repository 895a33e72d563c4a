//! Flat per-channel storage of resident pages.

/// One channel (material, temperature, ...) of every resident page, in one
/// flat allocation. Slot `s` holds one page's `P³` cells.
#[derive(Clone, Debug)]
pub struct ChannelPool<T> {
    data: Vec<T>,
    page_cells: usize,
}

impl<T: Copy> ChannelPool<T> {
    /// A pool of `slots` pages of `page_cells` cells, all set to `fill`.
    pub fn new(slots: usize, page_cells: usize, fill: T) -> Self {
        Self {
            data: vec![fill; slots * page_cells],
            page_cells,
        }
    }

    /// Number of slots.
    pub fn slots(&self) -> usize {
        self.data.len() / self.page_cells.max(1)
    }

    /// The cells of slot `s`.
    #[inline]
    pub fn slot(&self, s: usize) -> &[T] {
        &self.data[s * self.page_cells..(s + 1) * self.page_cells]
    }

    /// The cells of slot `s`, mutably.
    #[inline]
    pub fn slot_mut(&mut self, s: usize) -> &mut [T] {
        &mut self.data[s * self.page_cells..(s + 1) * self.page_cells]
    }

    /// Mutable views of the given slots, for parallel work on disjoint
    /// pages. `slots` must be sorted and distinct.
    pub fn slots_mut(&mut self, slots: &[usize]) -> Vec<&mut [T]> {
        slots_mut(&mut self.data, self.page_cells, slots)
    }

    /// The whole pool.
    #[inline]
    pub fn as_slice(&self) -> &[T] {
        &self.data
    }

    /// The whole pool, mutably.
    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        &mut self.data
    }
}

/// Mutable views of the given slots of a pool's cells (`page_cells` per
/// slot), for parallel work on disjoint pages. `slots` must be sorted and
/// distinct.
pub fn slots_mut<'a, T>(
    cells: &'a mut [T],
    page_cells: usize,
    slots: &[usize],
) -> Vec<&'a mut [T]> {
    let mut rest = cells;
    let mut taken = 0;
    let mut out = Vec::with_capacity(slots.len());
    for &s in slots {
        assert!(s >= taken, "slots must be sorted and distinct");
        let (_, tail) = rest.split_at_mut((s - taken) * page_cells);
        let (slot, tail) = tail.split_at_mut(page_cells);
        out.push(slot);
        rest = tail;
        taken = s + 1;
    }
    out
}
