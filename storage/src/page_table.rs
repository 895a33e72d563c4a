//! The page table: per-page state, slot, last use, priority and activity.
//!
//! Worlds of up to [`DENSE_LIMIT`] pages keep one row per page in flat
//! arrays indexed by the dense page index. Larger worlds keep rows only for
//! pages that are not absent, found through a hash index, so a world of
//! 2^38 pages opens in microseconds and costs memory per touched page only.
//! Callers see the same interface either way.

use rustc_hash::FxHashMap;

/// Where a page is in its life cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum PageState {
    /// Not in memory.
    Absent,
    /// Wanted; a load has been asked for.
    Requested,
    /// A load is in flight.
    Loading,
    /// In memory and clean.
    Resident,
    /// In memory and changed since it was last written. (A write-back
    /// copies the page before it is evicted, so no page waits for the disk
    /// in memory.)
    Dirty,
}

impl PageState {
    /// Whether the page's cells are in a pool slot.
    pub fn is_resident(self) -> bool {
        matches!(self, PageState::Resident | PageState::Dirty)
    }
}

/// Sentinel slot of a page that has none.
pub const NO_SLOT: u32 = u32::MAX;

/// Worlds with at most this many pages get flat per-page arrays (18 bytes a
/// page); larger ones a sparse index.
pub const DENSE_LIMIT: usize = 1 << 20;

/// Rows of per-page data, one row per page (dense) or per known page (sparse).
#[derive(Clone, Debug, Default)]
struct Rows {
    page: Vec<usize>,
    state: Vec<PageState>,
    slot: Vec<u32>,
    last_use: Vec<u64>,
    priority: Vec<f32>,
    awake: Vec<bool>,
    changed: Vec<u64>,
}

impl Rows {
    fn push(&mut self, page: usize) -> usize {
        self.page.push(page);
        self.state.push(PageState::Absent);
        self.slot.push(NO_SLOT);
        self.last_use.push(0);
        self.priority.push(0.0);
        self.awake.push(false);
        self.changed.push(0);
        self.page.len() - 1
    }

    fn swap_remove(&mut self, row: usize) {
        self.page.swap_remove(row);
        self.state.swap_remove(row);
        self.slot.swap_remove(row);
        self.last_use.swap_remove(row);
        self.priority.swap_remove(row);
        self.awake.swap_remove(row);
        self.changed.swap_remove(row);
    }
}

/// How a page finds its row.
#[derive(Clone, Debug)]
enum Index {
    /// Row `p` is page `p`.
    Dense,
    /// Rows exist only for pages that are not absent.
    Sparse(FxHashMap<usize, u32>),
}

/// Per-page state, slot, last use, priority and activity.
#[derive(Clone, Debug)]
pub struct PageTable {
    pages: usize,
    index: Index,
    rows: Rows,
    /// Pages woken since the simulation last took the list, each once.
    woken: Vec<usize>,
    /// Counts changes to page contents (see [`PageTable::change_stamp`]).
    clock: u64,
}

impl PageTable {
    /// A table of `pages` pages, all resident: page `order[k]` gets slot `k`.
    pub fn all_resident(order: &[usize]) -> Self {
        let pages = order.len();
        let mut table = Self::dense(pages);
        for (k, &p) in order.iter().enumerate() {
            table.rows.slot[p] = k as u32;
            table.rows.state[p] = PageState::Resident;
        }
        table
    }

    /// A table of `pages` pages, all absent: dense up to [`DENSE_LIMIT`]
    /// pages, sparse beyond.
    pub fn all_absent(pages: usize) -> Self {
        if pages <= DENSE_LIMIT {
            Self::dense(pages)
        } else {
            Self {
                pages,
                index: Index::Sparse(FxHashMap::default()),
                rows: Rows::default(),
                woken: Vec::new(),
                clock: 0,
            }
        }
    }

    fn dense(pages: usize) -> Self {
        let mut rows = Rows::default();
        (0..pages).for_each(|p| {
            rows.push(p);
        });
        Self {
            pages,
            index: Index::Dense,
            rows,
            woken: Vec::new(),
            clock: 0,
        }
    }

    /// Number of pages in the world (resident or not).
    pub fn len(&self) -> usize {
        self.pages
    }

    /// Whether the world has no pages.
    pub fn is_empty(&self) -> bool {
        self.pages == 0
    }

    /// Whether rows are kept only for pages that are not absent.
    pub fn is_sparse(&self) -> bool {
        matches!(self.index, Index::Sparse(_))
    }

    /// Number of rows held: every page when dense, non-absent pages when sparse.
    pub fn rows(&self) -> usize {
        self.rows.page.len()
    }

    #[inline]
    fn row(&self, p: usize) -> Option<usize> {
        match &self.index {
            Index::Dense => (p < self.pages).then_some(p),
            Index::Sparse(map) => map.get(&p).map(|&r| r as usize),
        }
    }

    fn row_or_insert(&mut self, p: usize) -> usize {
        assert!(p < self.pages, "page {p} outside a world of {}", self.pages);
        match &mut self.index {
            Index::Dense => p,
            Index::Sparse(map) => {
                *map.entry(p).or_insert_with(|| self.rows.push(p) as u32) as usize
            }
        }
    }

    /// The state of page `p`.
    #[inline]
    pub fn state(&self, p: usize) -> PageState {
        self.row(p)
            .map_or(PageState::Absent, |r| self.rows.state[r])
    }

    /// Sets page `p`'s state. A page set absent loses its slot (and, in a
    /// sparse table, its row); set it absent only after its slot is freed.
    pub fn set_state(&mut self, p: usize, state: PageState) {
        if state == PageState::Absent {
            self.remove(p);
            return;
        }
        let r = self.row_or_insert(p);
        self.rows.state[r] = state;
    }

    fn remove(&mut self, p: usize) {
        let Some(r) = self.row(p) else { return };
        if self.rows.awake[r] {
            self.woken.retain(|&w| w != p);
        }
        match &mut self.index {
            Index::Dense => {
                self.rows.state[r] = PageState::Absent;
                self.rows.slot[r] = NO_SLOT;
                self.rows.awake[r] = false;
                self.rows.priority[r] = 0.0;
                // As a sparse table forgets it with the row.
                self.rows.last_use[r] = 0;
            }
            Index::Sparse(map) => {
                map.remove(&p);
                let last = self.rows.page.len() - 1;
                if r != last {
                    map.insert(self.rows.page[last], r as u32);
                }
                self.rows.swap_remove(r);
            }
        }
    }

    /// The slot of page `p`, if it is resident.
    #[inline]
    pub fn resident_slot(&self, p: usize) -> Option<usize> {
        let r = self.row(p)?;
        let s = self.rows.slot[r];
        (s != NO_SLOT && self.rows.state[r].is_resident()).then_some(s as usize)
    }

    /// Gives page `p` pool slot `slot` and makes it resident and clean.
    pub fn assign(&mut self, p: usize, slot: usize) {
        let r = self.row_or_insert(p);
        self.rows.slot[r] = slot as u32;
        self.rows.state[r] = PageState::Resident;
        self.clock += 1;
        self.rows.changed[r] = self.clock;
    }

    /// A stamp that changes whenever page `p`'s contents may have: when it
    /// is given a slot and whenever it is touched. Mirrors of the world
    /// (the GPU's) compare it with the stamp they copied to know what to
    /// send again. `None` while the page is not resident.
    pub fn change_stamp(&self, p: usize) -> Option<u64> {
        let r = self.row(p)?;
        self.rows.state[r]
            .is_resident()
            .then_some(self.rows.changed[r])
    }

    /// Frame of page `p`'s last use (0 if never used).
    pub fn last_use(&self, p: usize) -> u64 {
        self.row(p).map_or(0, |r| self.rows.last_use[r])
    }

    /// Records that page `p` was used at `frame`. Does nothing for an absent page.
    pub fn set_last_use(&mut self, p: usize, frame: u64) {
        if let Some(r) = self
            .row(p)
            .filter(|&r| self.rows.state[r] != PageState::Absent)
        {
            self.rows.last_use[r] = frame;
        }
    }

    /// Page `p`'s streaming priority (lower loads sooner), 0 if absent.
    pub fn priority(&self, p: usize) -> f32 {
        self.row(p).map_or(0.0, |r| self.rows.priority[r])
    }

    /// Sets page `p`'s streaming priority. Does nothing for an absent page.
    pub fn set_priority(&mut self, p: usize, priority: f32) {
        if let Some(r) = self
            .row(p)
            .filter(|&r| self.rows.state[r] != PageState::Absent)
        {
            self.rows.priority[r] = priority;
        }
    }

    /// Marks page `p` changed (dirty) and awake. Does nothing for a page
    /// that is not resident: it is frozen, and wakes when it becomes resident.
    #[inline]
    pub fn touch(&mut self, p: usize) {
        let Some(r) = self.row(p) else { return };
        if self.rows.state[r] == PageState::Resident {
            self.rows.state[r] = PageState::Dirty;
        }
        self.clock += 1;
        self.rows.changed[r] = self.clock;
        self.wake_row(r);
    }

    /// Asks for page `p` to be simulated next frame, if it is resident.
    #[inline]
    pub fn wake(&mut self, p: usize) {
        if let Some(r) = self.row(p) {
            self.wake_row(r);
        }
    }

    #[inline]
    fn wake_row(&mut self, r: usize) {
        if !self.rows.awake[r] && self.rows.state[r].is_resident() {
            self.rows.awake[r] = true;
            self.woken.push(self.rows.page[r]);
        }
    }

    /// Takes the woken pages (sorted, each once) and marks them asleep; the
    /// simulation wakes them again if they change.
    pub fn take_woken(&mut self) -> Vec<usize> {
        let mut pages = std::mem::take(&mut self.woken);
        pages.sort_unstable();
        pages.dedup();
        for &p in &pages {
            if let Some(r) = self.row(p) {
                self.rows.awake[r] = false;
            }
        }
        pages
    }

    /// The pages woken so far (each once, in waking order), without taking them.
    pub fn woken(&self) -> &[usize] {
        &self.woken
    }

    /// Number of awake pages.
    pub fn awake_count(&self) -> usize {
        self.woken.len()
    }

    /// Pages in `state`, in no particular order.
    pub fn pages_in(&self, state: PageState) -> impl Iterator<Item = usize> + '_ {
        (0..self.rows.page.len())
            .filter(move |&r| self.rows.state[r] == state)
            .map(|r| self.rows.page[r])
    }

    /// Marks every dirty page clean (after they were all written).
    pub fn mark_all_clean(&mut self) {
        for s in &mut self.rows.state {
            if *s == PageState::Dirty {
                *s = PageState::Resident;
            }
        }
    }

    /// Bytes held by the table's rows and index.
    pub fn memory_bytes(&self) -> usize {
        let row = std::mem::size_of::<usize>() + 1 + 4 + 8 + 4 + 1;
        let index = match &self.index {
            Index::Dense => 0,
            Index::Sparse(map) => map.capacity() * (std::mem::size_of::<(usize, u32)>() + 1),
        };
        self.rows.page.capacity() * row + index
    }

    /// Corrupts page `p`'s slot, for consistency-check tests.
    #[cfg(test)]
    pub(crate) fn force_slot(&mut self, p: usize, slot: u32) {
        let r = self.row_or_insert(p);
        self.rows.slot[r] = slot;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_change_stamp_moves_when_a_page_is_touched_or_given_a_slot() {
        let mut t = PageTable::all_absent(8);
        assert_eq!(t.change_stamp(3), None, "absent");
        t.assign(3, 0);
        let loaded = t.change_stamp(3).expect("resident");
        t.wake(3);
        t.set_last_use(3, 5);
        assert_eq!(t.change_stamp(3), Some(loaded), "waking changes nothing");
        t.touch(3);
        let touched = t.change_stamp(3).expect("resident");
        assert!(touched > loaded);
        t.set_state(3, PageState::Absent);
        t.assign(3, 1);
        assert!(t.change_stamp(3).expect("resident") > touched, "a new slot");
    }

    #[test]
    fn sparse_table_keeps_rows_only_for_known_pages() {
        let pages = 1usize << 38;
        let mut t = PageTable::all_absent(pages);
        assert!(t.is_sparse());
        assert_eq!(t.rows(), 0);
        let far = pages - 1;
        t.set_state(far, PageState::Requested);
        t.assign(far, 3);
        t.assign(7, 4);
        assert_eq!(t.resident_slot(far), Some(3));
        assert_eq!(t.resident_slot(8), None);
        t.touch(far);
        t.touch(8); // absent: stays frozen, not woken
        assert_eq!(t.state(far), PageState::Dirty);
        assert_eq!(t.take_woken(), vec![far]);
        t.set_state(far, PageState::Absent);
        assert_eq!(t.rows(), 1);
        assert_eq!(t.resident_slot(7), Some(4), "the moved row is still found");
        assert_eq!(t.state(far), PageState::Absent);
    }

    #[test]
    fn absent_pages_leave_the_woken_list() {
        let mut t = PageTable::all_resident(&[0, 1, 2]);
        t.wake(1);
        t.wake(2);
        t.set_state(1, PageState::Absent);
        assert_eq!(t.take_woken(), vec![2]);
        assert_eq!(t.resident_slot(1), None);
    }
}
