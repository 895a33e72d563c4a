//! The page table: per-page state in flat arrays indexed by dense page index.

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
    /// In memory and changed since it was last written.
    Dirty,
    /// Being written back before its slot is reused.
    Evicting,
}

impl PageState {
    /// Whether the page's cells are in a pool slot and may be simulated.
    pub fn is_resident(self) -> bool {
        matches!(self, PageState::Resident | PageState::Dirty)
    }
}

/// Sentinel slot of a page that has none.
pub const NO_SLOT: u32 = u32::MAX;

/// Per-page state, slot, last use, priority, dirtiness and activity.
#[derive(Clone, Debug)]
pub struct PageTable {
    /// Life-cycle state per page.
    pub state: Vec<PageState>,
    /// Pool slot per page, [`NO_SLOT`] when not resident.
    pub slot: Vec<u32>,
    /// Frame of last use per page, for least-recently-used eviction.
    pub last_use: Vec<u64>,
    /// Streaming priority per page (higher loads sooner).
    pub priority: Vec<f32>,
    /// Whether the page is in `woken` (to be simulated next frame).
    pub awake: Vec<bool>,
    /// Pages woken since the simulation last took the list, each once.
    pub woken: Vec<u32>,
}

impl PageTable {
    /// A table of `pages` pages, all resident: page `order[k]` gets slot `k`.
    pub fn all_resident(order: &[usize]) -> Self {
        let pages = order.len();
        let mut slot = vec![NO_SLOT; pages];
        for (k, &p) in order.iter().enumerate() {
            slot[p] = k as u32;
        }
        Self {
            state: vec![PageState::Resident; pages],
            slot,
            last_use: vec![0; pages],
            priority: vec![0.0; pages],
            awake: vec![false; pages],
            woken: Vec::new(),
        }
    }

    /// Number of pages (resident or not).
    pub fn len(&self) -> usize {
        self.state.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.state.is_empty()
    }

    /// The slot of page `p`, if it is resident.
    #[inline]
    pub fn resident_slot(&self, p: usize) -> Option<usize> {
        let s = self.slot[p];
        (s != NO_SLOT && self.state[p].is_resident()).then_some(s as usize)
    }

    /// Marks page `p` changed (dirty) and awake.
    #[inline]
    pub fn touch(&mut self, p: usize) {
        if self.state[p] == PageState::Resident {
            self.state[p] = PageState::Dirty;
        }
        self.wake(p);
    }

    /// Asks for page `p` to be simulated next frame.
    #[inline]
    pub fn wake(&mut self, p: usize) {
        if !self.awake[p] {
            self.awake[p] = true;
            self.woken.push(p as u32);
        }
    }

    /// Takes the woken pages (sorted, each once) and marks them asleep; the
    /// simulation wakes them again if they change.
    pub fn take_woken(&mut self) -> Vec<u32> {
        let mut pages = std::mem::take(&mut self.woken);
        pages.sort_unstable();
        pages.dedup();
        for &p in &pages {
            self.awake[p as usize] = false;
        }
        pages
    }

    /// Number of awake pages.
    pub fn awake_count(&self) -> usize {
        self.woken.len()
    }
}
