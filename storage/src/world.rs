//! The world resource: layout, page table and channel pools together.

use crate::layout::WorldLayout;
use crate::morton::PageId;
use crate::neighbourhood;
use crate::page_table::{PageState, PageTable};
use crate::pool::ChannelPool;

/// A paged voxel world with SoA channels `material`, `temperature`,
/// `latent` and `flags`.
///
/// Its page table and pools are private so that one invariant always holds:
/// a resident page's slot is a slot of every pool, held by that page alone
/// (`slot_page` is the table's inverse). Slots change only through
/// [`VoxelWorld::install`] and [`VoxelWorld::evict`]; kernels read the table
/// through [`VoxelWorld::table`] and write cells through
/// [`VoxelWorld::pools_mut`], whose slices cannot change size.
#[derive(Clone, Debug)]
pub struct VoxelWorld {
    layout: WorldLayout,
    /// Per-page state, slots and activity.
    pub(crate) table: PageTable,
    /// Material id per cell (an index into the material table).
    pub(crate) material: ChannelPool<u8>,
    /// Temperature per cell, kelvin.
    pub(crate) temperature: ChannelPool<f32>,
    /// Latent heat a cell holds between two phases, as kelvin of its
    /// present material's heat capacity: the cell's heat content is that of
    /// `temperature + latent`. Zero but in a cell part way through melting,
    /// freezing, boiling or condensing, which sits at the transition
    /// temperature meanwhile (see `loam_systems::phase`). A world file
    /// stores a cell's heat as `temperature + latent`; the phase pass splits
    /// it again.
    pub(crate) latent: ChannelPool<f32>,
    /// Per-cell bit flags owned by the systems (see `loam_systems::ca::flags`).
    pub(crate) flags: ChannelPool<u8>,
    /// The page in each pool slot, [`NO_PAGE`] for a free slot.
    slot_page: Vec<usize>,
    /// Free slots, highest first, so the lowest is taken next.
    free: Vec<u32>,
}

/// The world's channel pools as flat slices, slot-major: slot `s` holds
/// cells `s * page_cells .. (s + 1) * page_cells` of each, x fastest (see
/// [`VoxelWorld::cell_index`]).
#[derive(Clone, Copy, Debug)]
pub struct Pools<'a> {
    /// Material ids.
    pub material: &'a [u8],
    /// Temperatures, kelvin.
    pub temperature: &'a [f32],
    /// Latent heat, kelvin (see [`VoxelWorld`]).
    pub latent: &'a [f32],
    /// Flags.
    pub flags: &'a [u8],
}

/// The world's channel pools, mutably, with its page table to find slots
/// in. Writing cells does not wake or dirty their pages: a kernel that
/// writes does that itself afterwards ([`VoxelWorld::wake_box`] and
/// friends).
#[derive(Debug)]
pub struct PoolsMut<'a> {
    /// The page table, read-only: slots stay as they are.
    pub table: &'a PageTable,
    /// Material ids.
    pub material: &'a mut [u8],
    /// Temperatures, kelvin.
    pub temperature: &'a mut [f32],
    /// Latent heat, kelvin (see [`VoxelWorld`]).
    pub latent: &'a mut [f32],
    /// Flags.
    pub flags: &'a mut [u8],
}

/// Sentinel page of a free slot.
pub const NO_PAGE: usize = usize::MAX;

/// One page's channels, mutably.
#[derive(Debug)]
pub struct PageViewMut<'a> {
    /// Material ids, x fastest.
    pub material: &'a mut [u8],
    /// Temperatures, x fastest.
    pub temperature: &'a mut [f32],
    /// Latent heat held, x fastest (see [`VoxelWorld::latent`]).
    pub latent: &'a mut [f32],
    /// Flags, x fastest.
    pub flags: &'a mut [u8],
}

/// One page's channels, borrowed.
#[derive(Clone, Copy, Debug)]
pub struct PageView<'a> {
    /// Material ids, x fastest.
    pub material: &'a [u8],
    /// Temperatures, x fastest.
    pub temperature: &'a [f32],
    /// Latent heat held, x fastest (see [`VoxelWorld::latent`]).
    pub latent: &'a [f32],
    /// Flags, x fastest.
    pub flags: &'a [u8],
}

/// A copy of one page with a one-cell border taken from its neighbours.
#[derive(Clone, Debug)]
pub struct HaloPage {
    /// Edge length, `P + 2`.
    pub edge: usize,
    /// Material ids; border cells outside the world hold the `outside` value.
    pub material: Vec<u8>,
    /// Temperatures; border cells outside the world hold NaN.
    pub temperature: Vec<f32>,
}

impl HaloPage {
    /// Index of halo-local cell `(x, y, z)`, each in `0..P + 2`.
    pub fn index(&self, x: usize, y: usize, z: usize) -> usize {
        x + self.edge * (y + self.edge * z)
    }
}

/// Count, centre of mass and vertical extent of one material.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct MaterialStats {
    /// Number of cells.
    pub count: u64,
    /// Sum of cell centres, for the centre of mass.
    pub sum: [f64; 3],
    /// Lowest y holding the material.
    pub min_y: u32,
    /// Highest y holding the material.
    pub max_y: u32,
}

impl MaterialStats {
    /// Centre of mass in cell coordinates.
    pub fn center_of_mass(&self) -> [f64; 3] {
        let n = self.count.max(1) as f64;
        self.sum.map(|s| s / n)
    }
}

impl VoxelWorld {
    /// A world whose pages are all resident, every cell `material` at
    /// `temperature`. Slots follow Morton order so nearby pages are near in memory.
    pub fn new(layout: WorldLayout, material: u8, temperature: f32) -> Self {
        let mut morton_order: Vec<usize> = (0..layout.page_count()).collect();
        morton_order.sort_by_key(|&p| PageId::from_coord(layout.page_coord(p)));
        let slots = layout.page_count();
        let cells = layout.page_cells();
        Self {
            layout,
            table: PageTable::all_resident(&morton_order),
            material: ChannelPool::new(slots, cells, material),
            temperature: ChannelPool::new(slots, cells, temperature),
            latent: ChannelPool::new(slots, cells, 0.0),
            flags: ChannelPool::new(slots, cells, 0),
            slot_page: morton_order,
            free: Vec::new(),
        }
    }

    /// A world with room for `slots` resident pages and none resident yet:
    /// pages come and go with [`VoxelWorld::install`] and
    /// [`VoxelWorld::evict`]. The page table is sparse for very large worlds.
    ///
    /// ```
    /// use loam_storage::{VoxelWorld, WorldLayout};
    ///
    /// // 2^20 x 2^10 x 2^20 cells: opening costs only the pool.
    /// let layout = WorldLayout::new([1 << 20, 1 << 10, 1 << 20], 16).unwrap();
    /// let mut world = VoxelWorld::with_capacity(layout, 4);
    /// assert_eq!(world.material([5, 5, 5]), None); // not resident
    /// let p = layout.locate([5, 5, 5]).0;
    /// world.install(p).unwrap();
    /// world.set_cell([5, 5, 5], 3, 300.0);
    /// assert_eq!(world.material([5, 5, 5]), Some(3));
    /// world.evict(p);
    /// assert_eq!(world.material([5, 5, 5]), None);
    /// ```
    pub fn with_capacity(layout: WorldLayout, slots: usize) -> Self {
        let cells = layout.page_cells();
        Self {
            layout,
            table: PageTable::all_absent(layout.page_count()),
            material: ChannelPool::new(slots, cells, 0),
            temperature: ChannelPool::new(slots, cells, 0.0),
            latent: ChannelPool::new(slots, cells, 0.0),
            flags: ChannelPool::new(slots, cells, 0),
            slot_page: vec![NO_PAGE; slots],
            free: (0..slots as u32).rev().collect(),
        }
    }

    /// Gives page `p` a free slot and makes it resident (clean), returning
    /// the slot; the slot's cells are stale until the caller fills them (see
    /// [`VoxelWorld::page_mut`]) and wakes the page, but for their latent
    /// heat, which is zero. `None` when every slot is taken. A page already
    /// resident keeps its slot.
    pub fn install(&mut self, p: usize) -> Option<usize> {
        let resident = self.table.resident_slot(p);
        let s = self.place(p)?;
        if resident.is_none() {
            self.latent.slot_mut(s).fill(0.0);
        }
        Some(s)
    }

    /// [`VoxelWorld::install`] leaving every channel of a new slot stale,
    /// latent heat too: for a caller that writes them all.
    pub(crate) fn place(&mut self, p: usize) -> Option<usize> {
        if let Some(s) = self.table.resident_slot(p) {
            return Some(s);
        }
        let s = self.free.pop()? as usize;
        self.table.assign(p, s);
        self.slot_page[s] = p;
        Some(s)
    }

    /// Makes page `p` absent and frees its slot. Its contents are gone: write
    /// a dirty page back first.
    pub fn evict(&mut self, p: usize) {
        let Some(s) = self.table.resident_slot(p) else {
            return;
        };
        self.table.set_state(p, PageState::Absent);
        self.slot_page[s] = NO_PAGE;
        self.free.push(s as u32);
    }

    /// Number of pool slots.
    pub fn capacity(&self) -> usize {
        self.slot_page.len()
    }

    /// Number of resident pages.
    pub fn resident_count(&self) -> usize {
        self.slot_page.len() - self.free.len()
    }

    /// Resident pages in page-id (Morton) order.
    pub fn resident_pages(&self) -> Vec<usize> {
        let mut pages: Vec<(u64, usize)> = self
            .slot_page
            .iter()
            .filter(|&&p| p != NO_PAGE)
            .map(|&p| (self.page_id(p).0, p))
            .collect();
        pages.sort_unstable();
        pages.into_iter().map(|(_, p)| p).collect()
    }

    /// Wakes page `p` and its resident neighbours: after `p` became resident,
    /// cells next to it may move into it.
    pub fn wake_around(&mut self, p: usize) {
        let c = self.layout.page_coord(p);
        for k in 0..27 {
            if let Some(n) = self.layout.neighbour_page(c, neighbourhood::offset(k)) {
                self.table.wake(n);
            }
        }
    }

    /// The page table: each page's state, slot and activity.
    #[inline]
    pub fn table(&self) -> &PageTable {
        &self.table
    }

    /// The channel pools, read-only.
    #[inline]
    pub fn pools(&self) -> Pools<'_> {
        Pools {
            material: self.material.as_slice(),
            temperature: self.temperature.as_slice(),
            latent: self.latent.as_slice(),
            flags: self.flags.as_slice(),
        }
    }

    /// The channel pools, mutably, with the page table (see [`PoolsMut`]).
    #[inline]
    pub fn pools_mut(&mut self) -> PoolsMut<'_> {
        PoolsMut {
            table: &self.table,
            material: self.material.as_mut_slice(),
            temperature: self.temperature.as_mut_slice(),
            latent: self.latent.as_mut_slice(),
            flags: self.flags.as_mut_slice(),
        }
    }

    /// Marks page `p` changed (dirty) and awake, if resident (see
    /// [`PageTable::touch`]).
    #[inline]
    pub fn touch(&mut self, p: usize) {
        self.table.touch(p);
    }

    /// Asks for page `p` to be simulated next frame, if resident (see
    /// [`PageTable::wake`]).
    #[inline]
    pub fn wake(&mut self, p: usize) {
        self.table.wake(p);
    }

    /// Takes the woken pages, sorted, and marks them asleep (see
    /// [`PageTable::take_woken`]).
    pub fn take_woken(&mut self) -> Vec<usize> {
        self.table.take_woken()
    }

    /// Records that page `p` was used at `frame`, for eviction (see
    /// [`PageTable::set_last_use`]).
    #[inline]
    pub fn set_last_use(&mut self, p: usize, frame: u64) {
        self.table.set_last_use(p, frame);
    }

    /// The world's geometry.
    #[inline]
    pub fn layout(&self) -> &WorldLayout {
        &self.layout
    }

    /// The id of dense page `p`.
    pub fn page_id(&self, p: usize) -> PageId {
        PageId::from_coord(self.layout.page_coord(p))
    }

    /// Index of cell `p` into the channel pools, if it is inside the world
    /// and its page is resident.
    #[inline]
    pub fn cell_index(&self, p: [u32; 3]) -> Option<usize> {
        if (0..3).any(|a| p[a] >= self.layout.size[a]) {
            return None;
        }
        let (page, off) = self.layout.locate(p);
        let slot = self.table.resident_slot(page)?;
        Some(slot * self.layout.page_cells() + off)
    }

    /// Material of cell `p`.
    pub fn material(&self, p: [u32; 3]) -> Option<u8> {
        self.cell_index(p).map(|i| self.material.as_slice()[i])
    }

    /// Temperature of cell `p`.
    pub fn temperature(&self, p: [u32; 3]) -> Option<f32> {
        self.cell_index(p).map(|i| self.temperature.as_slice()[i])
    }

    /// Sets cell `p` and wakes the pages that can see it. Returns false when
    /// the cell is outside the world or not resident.
    pub fn set_cell(&mut self, p: [u32; 3], material: u8, temperature: f32) -> bool {
        let Some(i) = self.cell_index(p) else {
            return false;
        };
        self.material.as_mut_slice()[i] = material;
        self.temperature.as_mut_slice()[i] = temperature;
        self.latent.as_mut_slice()[i] = 0.0;
        self.flags.as_mut_slice()[i] = 0;
        self.wake_cell(p);
        true
    }

    /// Marks the page of cell `p` changed, and wakes every page whose update
    /// can read it (see [`crate::neighbourhood`]).
    pub fn wake_cell(&mut self, p: [u32; 3]) {
        let (page, _) = self.layout.locate(p);
        let mask = self.layout.page - 1;
        let l = p.map(|v| (v & mask) as i32);
        self.wake_box(page, l, l);
    }

    /// Marks page `page` changed in the box `lo..=hi` of its local cells,
    /// and wakes every page whose update can read the box (see
    /// [`neighbourhood::seen_by_box`]).
    pub fn wake_box(&mut self, page: usize, lo: [i32; 3], hi: [i32; 3]) {
        let e = self.layout.page as i32;
        self.wake_seen(page, neighbourhood::seen_by_box(lo, hi, e));
    }

    /// Marks page `page` changed, and wakes the pages of `seen` (bits of
    /// [`crate::neighbourhood`], the union of [`neighbourhood::seen_by_box`]
    /// over the boxes changed): what [`VoxelWorld::wake_box`] does for each
    /// box, done once.
    pub fn wake_seen(&mut self, page: usize, seen: u32) {
        self.table.touch(page);
        let seen = seen & !neighbourhood::SELF;
        let c = self.layout.page_coord(page);
        for k in (0..27).filter(|k| seen >> k & 1 == 1) {
            if let Some(n) = self.layout.neighbour_page(c, neighbourhood::offset(k)) {
                self.table.wake(n);
            }
        }
    }

    /// Every resident page's channels, mutably, with its page, in slot
    /// order: to write pages in parallel (`into_par_iter`). As with
    /// [`VoxelWorld::page_mut`], writing does not wake or dirty a page.
    pub fn resident_pages_mut(&mut self) -> Vec<(usize, PageViewMut<'_>)> {
        let cells = self.layout.page_cells();
        let channels = self
            .material
            .as_mut_slice()
            .chunks_exact_mut(cells)
            .zip(self.temperature.as_mut_slice().chunks_exact_mut(cells))
            .zip(self.latent.as_mut_slice().chunks_exact_mut(cells))
            .zip(self.flags.as_mut_slice().chunks_exact_mut(cells));
        self.slot_page
            .iter()
            .zip(channels)
            .filter(|(&p, _)| p != NO_PAGE)
            .map(|(&p, (((material, temperature), latent), flags))| {
                let view = PageViewMut {
                    material,
                    temperature,
                    latent,
                    flags,
                };
                (p, view)
            })
            .collect()
    }

    /// Page `p`'s channels, if resident.
    pub fn page(&self, p: usize) -> Option<PageView<'_>> {
        let s = self.table.resident_slot(p)?;
        Some(PageView {
            material: self.material.slot(s),
            temperature: self.temperature.slot(s),
            latent: self.latent.slot(s),
            flags: self.flags.slot(s),
        })
    }

    /// Page `p`'s channels, mutably, if resident. Writing through them does
    /// not wake or dirty the page.
    pub fn page_mut(&mut self, p: usize) -> Option<PageViewMut<'_>> {
        let s = self.table.resident_slot(p)?;
        Some(PageViewMut {
            material: self.material.slot_mut(s),
            temperature: self.temperature.slot_mut(s),
            latent: self.latent.slot_mut(s),
            flags: self.flags.slot_mut(s),
        })
    }

    /// A copy of page `p` with a one-cell border from its neighbours; border
    /// cells outside the world or in non-resident pages get material
    /// `outside` and a NaN temperature.
    pub fn page_with_halo(&self, p: usize, outside: u8) -> HaloPage {
        let pe = self.layout.page as i64;
        let edge = (pe + 2) as usize;
        let mut halo = HaloPage {
            edge,
            material: vec![outside; edge.pow(3)],
            temperature: vec![f32::NAN; edge.pow(3)],
        };
        let origin = self.layout.page_coord(p).map(|c| i64::from(c) * pe - 1);
        for z in 0..edge {
            for y in 0..edge {
                for x in 0..edge {
                    let g = [
                        origin[0] + x as i64,
                        origin[1] + y as i64,
                        origin[2] + z as i64,
                    ];
                    if !self.layout.contains(g) {
                        continue;
                    }
                    if let Some(i) = self.cell_index(g.map(|v| v as u32)) {
                        let h = halo.index(x, y, z);
                        halo.material[h] = self.material.as_slice()[i];
                        halo.temperature[h] = self.temperature.as_slice()[i];
                    }
                }
            }
        }
        halo
    }

    /// A 64-bit hash of every resident page's id and channels, in Morton
    /// order (xxh3). Equal worlds hash equal on every machine.
    pub fn hash(&self) -> u64 {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        h.update(&self.layout.size.map(u32::to_le_bytes).concat());
        h.update(&self.layout.page.to_le_bytes());
        for p in self.resident_pages() {
            let Some(view) = self.page(p) else { continue };
            h.update(&self.page_id(p).0.to_le_bytes());
            h.update(view.material);
            h.update(bytemuck::cast_slice(view.temperature));
            // Latent heat is almost always all zero: hashed only where it
            // is not, so a world without it hashes as before it existed.
            if view.latent.iter().any(|&l| l != 0.0) {
                h.update(bytemuck::cast_slice(view.latent));
            }
            h.update(view.flags);
        }
        h.digest()
    }

    /// Per-material statistics over all resident cells, indexed by material id.
    pub fn census(&self) -> Vec<MaterialStats> {
        let mut stats = vec![
            MaterialStats {
                min_y: u32::MAX,
                ..Default::default()
            };
            256
        ];
        let pe = self.layout.page as usize;
        for p in self.resident_pages() {
            let Some(view) = self.page(p) else { continue };
            let o = self.layout.page_coord(p).map(|c| (c as usize * pe) as f64);
            let oy = self.layout.page_coord(p)[1] * self.layout.page;
            for (i, &m) in view.material.iter().enumerate() {
                let (x, y, z) = (i % pe, (i / pe) % pe, i / (pe * pe));
                let s = &mut stats[m as usize];
                s.count += 1;
                s.sum[0] += o[0] + x as f64 + 0.5;
                s.sum[1] += o[1] + y as f64 + 0.5;
                s.sum[2] += o[2] + z as f64 + 0.5;
                s.min_y = s.min_y.min(oy + y as u32);
                s.max_y = s.max_y.max(oy + y as u32);
            }
        }
        for s in &mut stats {
            if s.count == 0 {
                s.min_y = 0;
            }
        }
        stats
    }

    /// Number of cells of each material id.
    pub fn material_counts(&self) -> [u64; 256] {
        let mut counts = [0u64; 256];
        for p in self.resident_pages() {
            if let Some(view) = self.page(p) {
                view.material.iter().for_each(|&m| counts[m as usize] += 1);
            }
        }
        counts
    }

    /// The first cell (in Morton page order) whose temperature is not finite.
    pub fn first_non_finite_temperature(&self) -> Option<[u32; 3]> {
        let pe = self.layout.page;
        for p in self.resident_pages() {
            let Some(view) = self.page(p) else { continue };
            if let Some(i) = view.temperature.iter().position(|t| !t.is_finite()) {
                let i = i as u32;
                let c = self.layout.page_coord(p);
                return Some([
                    c[0] * pe + i % pe,
                    c[1] * pe + (i / pe) % pe,
                    c[2] * pe + i / (pe * pe),
                ]);
            }
        }
        None
    }

    /// Checks what code writing through raw pointers relies on: every
    /// channel pool holds `slots × P³` cells, every resident page's slot is
    /// below `slots`, and no two resident pages share a slot. The fields are
    /// public, so safe code can break these.
    pub fn check_consistency(&self) -> Result<(), String> {
        self.check_slots(self.slot_page.iter().copied().filter(|&p| p != NO_PAGE))
    }

    /// [`VoxelWorld::check_consistency`] for the given pages only: their
    /// slots are in range and distinct, and the pools have the right size.
    /// Costs O(n log n) in the pages given, not in the world's size.
    pub fn check_slots(&self, pages: impl IntoIterator<Item = usize>) -> Result<(), String> {
        let cells = self.layout.page_cells();
        let slots = self.material.slots();
        let lens = [
            self.material.as_slice().len(),
            self.temperature.as_slice().len(),
            self.latent.as_slice().len(),
            self.flags.as_slice().len(),
        ];
        if lens.iter().any(|&l| l != slots * cells) {
            return Err(format!(
                "channel pools hold {lens:?} cells, expected {slots} slots of {cells}"
            ));
        }
        if self.table.len() != self.layout.page_count() || self.slot_page.len() != slots {
            return Err(format!(
                "page table has {} pages and {} slots, the layout {} pages and the pools {slots} slots",
                self.table.len(),
                self.slot_page.len(),
                self.layout.page_count()
            ));
        }
        let mut used: Vec<(usize, usize)> = pages
            .into_iter()
            .filter_map(|p| self.table.resident_slot(p).map(|s| (s, p)))
            .collect();
        used.sort_unstable();
        used.dedup();
        if let Some(&(s, p)) = used.iter().find(|&&(s, _)| s >= slots) {
            return Err(format!("page {p} has slot {s}, out of range"));
        }
        if let Some(w) = used.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(format!(
                "pages {} and {} share slot {}",
                w[0].1, w[1].1, w[0].0
            ));
        }
        if let Some(&(s, p)) = used.iter().find(|&&(s, p)| self.slot_page[s] != p) {
            return Err(format!(
                "page {p} has slot {s}, which holds page {}",
                self.slot_page[s]
            ));
        }
        Ok(())
    }

    /// Bytes held by the channel pools.
    pub fn resident_bytes(&self) -> usize {
        self.material.as_slice().len()
            + std::mem::size_of_val(self.temperature.as_slice())
            + std::mem::size_of_val(self.latent.as_slice())
            + self.flags.as_slice().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn world() -> VoxelWorld {
        VoxelWorld::new(WorldLayout::new([32, 16, 16], 8).unwrap(), 0, 293.0)
    }

    #[test]
    fn set_and_get_across_pages() {
        let mut w = world();
        for (i, p) in [[0, 0, 0], [7, 8, 9], [31, 15, 15]].into_iter().enumerate() {
            assert!(w.set_cell(p, i as u8 + 1, 300.0 + i as f32));
            assert_eq!(w.material(p), Some(i as u8 + 1));
            assert_eq!(w.temperature(p), Some(300.0 + i as f32));
        }
        assert!(!w.set_cell([32, 0, 0], 1, 0.0));
        assert_eq!(w.material_counts()[2], 1);
    }

    #[test]
    fn setting_a_corner_cell_wakes_its_seven_neighbours() {
        let mut w = VoxelWorld::new(WorldLayout::new([64, 64, 64], 32).unwrap(), 0, 293.0);
        w.set_cell([32, 32, 32], 1, 293.0);
        // Cell (32,32,32) is the low corner of page (1,1,1): pages (0..=1)^3 wake.
        assert_eq!(w.table.awake_count(), 8);
        w.table.take_woken();
        w.set_cell([48, 48, 48], 1, 293.0);
        assert_eq!(w.table.awake_count(), 1);
        w.table.take_woken();
        // Within sideways reach of the -x face, but not of the floor.
        w.set_cell([36, 40, 48], 1, 293.0);
        assert_eq!(w.table.awake_count(), 2);
    }

    #[test]
    fn consistency_check_catches_shared_and_wild_slots() {
        let mut w = world();
        assert_eq!(w.check_consistency(), Ok(()));
        let s0 = w.table.resident_slot(0).unwrap() as u32;
        w.table.force_slot(1, s0);
        assert!(w.check_slots([0, 1]).unwrap_err().contains("share"));
        assert_eq!(w.check_slots([0, 2]), Ok(()), "only the pages asked about");
        let mut w = world();
        w.table.force_slot(2, 1000);
        assert!(w.check_consistency().is_err());
        let mut w = world();
        w.flags = ChannelPool::new(1, 1, 0);
        assert!(w.check_consistency().unwrap_err().contains("pools"));
    }

    #[test]
    fn halo_sees_neighbours_and_outside() {
        let mut w = world();
        w.set_cell([8, 0, 0], 5, 400.0);
        let h = w.page_with_halo(0, 255);
        assert_eq!(h.edge, 10);
        assert_eq!(h.material[h.index(9, 1, 1)], 5);
        assert_eq!(h.temperature[h.index(9, 1, 1)], 400.0);
        assert_eq!(h.material[h.index(0, 1, 1)], 255);
        assert!(h.temperature[h.index(0, 1, 1)].is_nan());
    }

    #[test]
    fn hash_changes_with_any_channel_and_census_counts() {
        let mut w = world();
        let h0 = w.hash();
        w.set_cell([1, 2, 3], 0, 293.0);
        assert_eq!(w.hash(), h0, "the same contents hash the same");
        w.set_cell([1, 2, 3], 0, 294.0);
        let h1 = w.hash();
        assert_ne!(h1, h0);
        w.flags.as_mut_slice()[0] = 1;
        assert_ne!(w.hash(), h1);
        let h2 = w.hash();
        w.latent.as_mut_slice()[5] = 0.5;
        assert_ne!(w.hash(), h2, "latent heat held counts");
        w.set_cell([5, 0, 0], 0, 294.0);
        assert_eq!(w.latent.as_slice()[5], 0.0, "a cell set holds none");
        w.set_cell([1, 5, 3], 4, 294.0);
        w.set_cell([3, 7, 3], 4, 294.0);
        let c = w.census()[4];
        assert_eq!(c.count, 2);
        assert_eq!((c.min_y, c.max_y), (5, 7));
        assert_eq!(c.center_of_mass(), [2.5, 6.5, 3.5]);
        assert_eq!(w.first_non_finite_temperature(), None);
        w.set_cell([9, 1, 1], 4, f32::NAN);
        assert_eq!(w.first_non_finite_temperature(), Some([9, 1, 1]));
    }
}
