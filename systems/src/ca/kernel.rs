//! The update of one page: reactions and movement, then heat.
//!
//! Cells are addressed by page-local coordinates in `-1..=P`; coordinates
//! outside `0..P` resolve through the page's 27-neighbourhood to another
//! page's slot, or to nothing (outside the world or not resident), which acts
//! as a solid wall.

use loam_runtime::random::hash3;

use super::flags::MOVED;
use super::CaConfig;
use crate::materials::{has, id, thresholds, Kind, MaterialTable};

/// Address of a cell that does not exist (a wall).
pub(crate) const NONE: usize = usize::MAX;

/// Raw pointers to the world's channel pools, shared by the threads of one
/// checkerboard phase.
#[derive(Clone, Copy)]
pub(crate) struct Channels {
    pub material: *mut u8,
    pub temperature: *mut f32,
    pub flags: *mut u8,
}

// SAFETY: `Channels` is only handed to page updates of one checkerboard
// phase. Those pages are two or more pages apart along some axis. An update
// writes only its own page and a one-cell border, and reads no further than
// `lookahead()` (< P - 1) cells beyond its page, so no thread reads or writes
// a cell another thread writes; the pools outlive the phase (see `schedule`).
unsafe impl Send for Channels {}
unsafe impl Sync for Channels {}

/// Per-axis bits of the page offsets (-1, 0, +1) whose pages can see a cell
/// at local coordinate `v`: cells on or beyond a face are next to two pages.
#[inline(always)]
const fn axis_bits(v: i32, p: i32) -> u32 {
    if v <= 0 {
        0b011
    } else if v >= p - 1 {
        0b110
    } else {
        0b010
    }
}

/// Bit `(ox+1) + 3(oy+1) + 9(oz+1)` for every page offset in the product of
/// three per-axis bit sets, indexed by `bx | by << 3 | bz << 6`.
const NEIGHBOUR_MASKS: [u32; 512] = {
    let mut t = [0u32; 512];
    let mut i = 0;
    while i < 512 {
        let (bx, by, bz) = (i & 7, (i >> 3) & 7, (i >> 6) & 7);
        let mut m = 0u32;
        let mut z = 0;
        while z < 3 {
            let mut y = 0;
            while y < 3 {
                let mut x = 0;
                while x < 3 {
                    if bx >> x & 1 == 1 && by >> y & 1 == 1 && bz >> z & 1 == 1 {
                        m |= 1 << (x + 3 * y + 9 * z);
                    }
                    x += 1;
                }
                y += 1;
            }
            z += 1;
        }
        t[i] = m;
        i += 1;
    }
    t
};

/// How many cells sideways a fluid looks for somewhere lower to flow.
const LOOKAHEAD: i32 = 6;

/// Temperature changes smaller than this (K per frame) let a page sleep.
pub(crate) const HEAT_EPSILON: f32 = 1e-3;

/// Probabilities per frame of the slow reactions.
mod rates {
    pub const BOIL: f32 = 0.05;
    pub const CONDENSE: f32 = 0.02;
    pub const MELT: f32 = 0.02;
    pub const IGNITE: f32 = 0.05;
    pub const BURN_OUT: f32 = 1.0 / 90.0;
    pub const DISSIPATE: f32 = 1.0 / 250.0;
    pub const SPREAD: f32 = 0.04;
}

/// Sideways directions (dx, dz), in the order bits of an `open` mask use.
const SIDES: [(i32, i32); 4] = [(1, 0), (-1, 0), (0, 1), (0, -1)];

/// The six face neighbours.
const NEIGHBOURS: [(i32, i32, i32); 6] = [
    (0, -1, 0),
    (0, 1, 0),
    (1, 0, 0),
    (-1, 0, 0),
    (0, 0, 1),
    (0, 0, -1),
];

/// What one page update did.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct PageResult {
    /// Bit `k` set: page offset `k` (as in [`NEIGHBOUR_MASKS`]) saw a change.
    pub wake: u32,
    pub moves: u32,
    pub reactions: u32,
}

/// Everything a page update needs, built per page.
pub(crate) struct PageUpdate<'a> {
    pub ch: Channels,
    pub table: &'a MaterialTable,
    pub config: CaConfig,
    /// Page edge `P`.
    pub p: i32,
    /// Pool offset of the first cell of each page in the 3×3×3
    /// neighbourhood, or [`NONE`]; index `(ox+1) + 3(oy+1) + 9(oz+1)`.
    pub base: [usize; 27],
    /// Global coordinates of local cell (0, 0, 0).
    pub origin: [u32; 3],
    pub seed: u64,
    pub frame: u64,
}

impl PageUpdate<'_> {
    /// Pool index of local cell (x, y, z), or [`NONE`].
    #[inline(always)]
    fn addr(&self, x: i32, y: i32, z: i32) -> usize {
        let p = self.p;
        if (x as u32) < p as u32 && (y as u32) < p as u32 && (z as u32) < p as u32 {
            return self.base[13] + (x + p * (y + p * z)) as usize;
        }
        self.addr_slow(x, y, z)
    }

    /// Pool index of the cell at offset `d` (each component in -1..=1) from
    /// cell `i` at local `p`. With `INTERIOR`, `p` is off the page's outer
    /// shell, so the neighbour is in the page at a fixed stride.
    #[inline(always)]
    fn near<const INTERIOR: bool>(&self, i: usize, p: [i32; 3], d: [i32; 3]) -> usize {
        if INTERIOR {
            i.wrapping_add_signed((d[0] + self.p * (d[1] + self.p * d[2])) as isize)
        } else {
            self.addr(p[0] + d[0], p[1] + d[1], p[2] + d[2])
        }
    }

    /// `addr` for cells off the page: which of the 27 pages, branch-free.
    #[inline(always)]
    fn addr_slow(&self, x: i32, y: i32, z: i32) -> usize {
        let p = self.p;
        // 0, 1 or 2 for below, inside or above the page along an axis.
        let side = |v: i32| i32::from(v >= 0) + i32::from(v >= p);
        let (nx, ny, nz) = (side(x), side(y), side(z));
        let base = self.base[(nx + 3 * ny + 9 * nz) as usize];
        let (lx, ly, lz) = (x - (nx - 1) * p, y - (ny - 1) * p, z - (nz - 1) * p);
        if base == NONE {
            NONE
        } else {
            base + (lx + p * (ly + p * lz)) as usize
        }
    }

    #[inline(always)]
    fn mask(&self, x: i32, y: i32, z: i32) -> u32 {
        let p = self.p;
        NEIGHBOUR_MASKS[(axis_bits(x, p) | axis_bits(y, p) << 3 | axis_bits(z, p) << 6) as usize]
    }

    // SAFETY (for the accessors below): `i` is an address produced by `addr`
    // for this page's neighbourhood and is not NONE, so it is in bounds of the
    // pools, and by the phase argument on `Channels` no other thread touches it.
    #[inline(always)]
    unsafe fn mat(&self, i: usize) -> u8 {
        *self.ch.material.add(i)
    }

    #[inline(always)]
    unsafe fn set_mat(&self, i: usize, m: u8) {
        *self.ch.material.add(i) = m;
    }

    #[inline(always)]
    unsafe fn temp(&self, i: usize) -> f32 {
        *self.ch.temperature.add(i)
    }

    #[inline(always)]
    unsafe fn set_temp(&self, i: usize, t: f32) {
        *self.ch.temperature.add(i) = t;
    }

    #[inline(always)]
    unsafe fn flag(&self, i: usize) -> u8 {
        *self.ch.flags.add(i)
    }

    #[inline(always)]
    unsafe fn set_moved(&self, i: usize) {
        *self.ch.flags.add(i) |= MOVED;
    }

    #[inline(always)]
    fn random(&self, x: i32, y: i32, z: i32) -> u64 {
        let g = [
            u64::from(self.origin[0]) + x as u64,
            u64::from(self.origin[1]) + y as u64,
            u64::from(self.origin[2]) + z as u64,
        ];
        // The id depends on the cell's coordinates only, not on the world's
        // size, so the same spot behaves the same in any world.
        hash3(self.seed, self.frame, g[0] ^ g[1] << 21 ^ g[2] << 42)
    }

    /// Whether the cell at `target` is in `set` (a row of
    /// [`MaterialTable::sinks`] or [`MaterialTable::rises`]); walls are not.
    #[inline(always)]
    fn enters(&self, set: &[bool; 256], target: usize) -> bool {
        // SAFETY: target is checked against NONE before it is read.
        target != NONE && has(set, unsafe { self.mat(target) })
    }

    /// Picks one of the open targets in `open` (bit k set: `targets[k]` is
    /// open). The random draw is made only when there is a choice.
    #[inline(always)]
    fn choose(&self, open: u32, x: i32, y: i32, z: i32, salt: u32) -> usize {
        if open & (open - 1) == 0 {
            return open.trailing_zeros() as usize;
        }
        let r = (self.random(x, y, z) >> (8 * salt)) as u32;
        let mut nth = (r & 0xff) % open.count_ones();
        let mut bits = open;
        loop {
            let k = bits.trailing_zeros();
            if nth == 0 {
                return k as usize;
            }
            nth -= 1;
            bits &= bits - 1;
        }
    }

    /// Updates the page: reactions and movement, then heat.
    pub fn run(&self) -> PageResult {
        let mut out = PageResult::default();
        let p = self.p;
        let reacts = self.possible_reactions();
        let reacts = &reacts;
        // SAFETY: every (x, y, z) below is inside this page. Cells off the
        // page's outer shell have all 26 neighbours in the page and take the
        // `INTERIOR` path, which addresses them by fixed strides.
        for y in 0..p {
            for z in 0..p {
                if y == 0 || y == p - 1 || z == 0 || z == p - 1 {
                    for x in 0..p {
                        unsafe { self.update_cell::<false>(x, y, z, reacts, &mut out) };
                    }
                } else if self.row_is_stuck(y, z, reacts) {
                    continue;
                } else {
                    unsafe { self.update_cell::<false>(0, y, z, reacts, &mut out) };
                    for x in 1..p - 1 {
                        unsafe { self.update_cell::<true>(x, y, z, reacts, &mut out) };
                    }
                    unsafe { self.update_cell::<false>(p - 1, y, z, reacts, &mut out) };
                }
            }
        }
        if self.config.heat && self.heat_pass() {
            out.wake = u32::MAX >> 5;
        }
        out
    }

    /// # Safety
    /// (x, y, z) must be inside the page.
    #[inline(always)]
    unsafe fn update_cell<const INTERIOR: bool>(
        &self,
        x: i32,
        y: i32,
        z: i32,
        reacts: &[bool; 256],
        out: &mut PageResult,
    ) {
        let i = self.base[13] + (x + self.p * (y + self.p * z)) as usize;
        let m = self.mat(i);
        let kind = self.table.kind[m as usize];
        if kind == Kind::Empty || self.flag(i) & MOVED != 0 {
            return;
        }
        if reacts[m as usize] && self.react(x, y, z, i, m, out) {
            return;
        }
        let target = match kind {
            Kind::Powder => self.fall::<INTERIOR>(i, x, y, z, m, false),
            Kind::Liquid => self.fall::<INTERIOR>(i, x, y, z, m, true),
            Kind::Gas => self.rise::<INTERIOR>(i, x, y, z, m),
            Kind::Empty | Kind::Solid | Kind::Fire => return,
        };
        if let Some((j, tx, ty, tz)) = target {
            self.swap(i, j);
            out.moves += 1;
            out.wake |= self.mask(x, y, z) | self.mask(tx, ty, tz);
        }
    }

    /// The target of a falling powder or liquid, if any.
    #[inline(always)]
    fn fall<const INTERIOR: bool>(
        &self,
        i: usize,
        x: i32,
        y: i32,
        z: i32,
        m: u8,
        liquid: bool,
    ) -> Option<(usize, i32, i32, i32)> {
        let sinks = &self.table.sinks[m as usize];
        let down = self.near::<INTERIOR>(i, [x, y, z], [0, -1, 0]);
        if self.enters(sinks, down) {
            return Some((down, x, y - 1, z));
        }
        let mut targets = [NONE; 4];
        let mut open = 0u32;
        for (k, &(dx, dz)) in SIDES.iter().enumerate() {
            targets[k] = self.near::<INTERIOR>(i, [x, y, z], [dx, -1, dz]);
            open |= u32::from(self.enters(sinks, targets[k])) << k;
        }
        if open != 0 {
            let k = self.choose(open, x, y, z, 0);
            return Some((targets[k], x + SIDES[k].0, y - 1, z + SIDES[k].1));
        }
        if !liquid {
            return None;
        }
        let above = self.near::<INTERIOR>(i, [x, y, z], [0, 1, 0]);
        // SAFETY: `above` is checked against NONE before it is read.
        let pressed = above != NONE && unsafe { self.mat(above) } == m;
        for (k, &(dx, dz)) in SIDES.iter().enumerate() {
            targets[k] = self.near::<INTERIOR>(i, [x, y, z], [dx, 0, dz]);
            let flows = self.enters(sinks, targets[k])
                && (pressed || self.drop_ahead([x, y, z], (dx, dz), -1, sinks));
            open |= u32::from(flows) << k;
        }
        if open != 0 {
            let k = self.choose(open, x, y, z, 1);
            return Some((targets[k], x + SIDES[k].0, y, z + SIDES[k].1));
        }
        None
    }

    /// Whether, walking from `(x, y, z)` along `(dx, dz)` through cells in `set`,
    /// a cell in `set` lies one step in `dy` within
    /// [`LOOKAHEAD`] cells: a liquid flows sideways toward a drop (a gas
    /// toward a rise), and stops on a flat surface instead of wandering.
    ///
    /// These reads reach up to `LOOKAHEAD` cells into a neighbouring page,
    /// which is not being updated in this phase; the nearest page that is
    /// writes no closer than `2P - 1` cells away, so with `LOOKAHEAD < P - 1`
    /// (see `lookahead`) the reads never meet another thread's writes.
    #[inline(always)]
    fn drop_ahead(
        &self,
        [x, y, z]: [i32; 3],
        (dx, dz): (i32, i32),
        dy: i32,
        set: &[bool; 256],
    ) -> bool {
        for k in 1..=self.lookahead() {
            let (cx, cz) = (x + k * dx, z + k * dz);
            if k > 1 && !self.enters(set, self.addr(cx, y, cz)) {
                return false;
            }
            if self.enters(set, self.addr(cx, y + dy, cz)) {
                return true;
            }
        }
        false
    }

    /// How far sideways a fluid looks for a drop: [`LOOKAHEAD`], or less on
    /// small pages so reads stay clear of other threads.
    #[inline(always)]
    fn lookahead(&self) -> i32 {
        LOOKAHEAD.min(self.p / 2)
    }

    /// The target of a rising gas, if any.
    #[inline(always)]
    fn rise<const INTERIOR: bool>(
        &self,
        i: usize,
        x: i32,
        y: i32,
        z: i32,
        m: u8,
    ) -> Option<(usize, i32, i32, i32)> {
        let rises = &self.table.rises[m as usize];
        let up = self.near::<INTERIOR>(i, [x, y, z], [0, 1, 0]);
        if self.enters(rises, up) {
            return Some((up, x, y + 1, z));
        }
        let mut targets = [NONE; 4];
        let mut open = 0u32;
        for (k, &(dx, dz)) in SIDES.iter().enumerate() {
            targets[k] = self.near::<INTERIOR>(i, [x, y, z], [dx, 1, dz]);
            open |= u32::from(self.enters(rises, targets[k])) << k;
        }
        if open != 0 {
            let k = self.choose(open, x, y, z, 0);
            return Some((targets[k], x + SIDES[k].0, y + 1, z + SIDES[k].1));
        }
        let below = self.near::<INTERIOR>(i, [x, y, z], [0, -1, 0]);
        // SAFETY: `below` is checked against NONE before it is read.
        let pressed = below != NONE && unsafe { self.mat(below) } == m;
        for (k, &(dx, dz)) in SIDES.iter().enumerate() {
            targets[k] = self.near::<INTERIOR>(i, [x, y, z], [dx, 0, dz]);
            let flows = self.enters(rises, targets[k])
                && (pressed || self.drop_ahead([x, y, z], (dx, dz), 1, rises));
            open |= u32::from(flows) << k;
        }
        if open != 0 {
            let k = self.choose(open, x, y, z, 1);
            return Some((targets[k], x + SIDES[k].0, y, z + SIDES[k].1));
        }
        None
    }

    /// Swaps two cells' material and temperature and flags both as moved.
    ///
    /// # Safety
    /// Both addresses must be valid (not NONE) for this page update.
    #[inline(always)]
    unsafe fn swap(&self, i: usize, j: usize) {
        let (mi, mj) = (self.mat(i), self.mat(j));
        self.set_mat(i, mj);
        self.set_mat(j, mi);
        let (ti, tj) = (self.temp(i), self.temp(j));
        self.set_temp(i, tj);
        self.set_temp(j, ti);
        self.set_moved(i);
        self.set_moved(j);
    }

    /// Turns cell `i` into `m` at temperature `t`.
    ///
    /// # Safety
    /// `i` must be a valid address for this page update.
    #[inline(always)]
    unsafe fn transmute(&self, i: usize, m: u8, t: f32) {
        self.set_mat(i, m);
        self.set_temp(i, t);
        self.set_moved(i);
    }

    /// Applies a reaction of cell `i` (material `m`); true if it changed.
    ///
    /// # Safety
    /// (x, y, z) must be inside the page and `i` its address.
    #[inline(always)]
    unsafe fn react(&self, x: i32, y: i32, z: i32, i: usize, m: u8, out: &mut PageResult) -> bool {
        let t = self.temp(i);
        // A reaction whose condition holds but whose dice said "not yet"
        // keeps the page awake, so slow reactions do finish.
        let mut pending = false;
        let mut chance = |rate: f32| {
            let r = self.random(x, y, z) >> 40;
            let hit = (r as f32) * (1.0 / (1u64 << 24) as f32) < rate;
            pending |= !hit;
            hit
        };
        let reacted = match m {
            id::LAVA => {
                let water = NEIGHBOURS.iter().find_map(|&(dx, dy, dz)| {
                    let j = self.addr(x + dx, y + dy, z + dz);
                    (j != NONE && self.mat(j) == id::WATER).then_some((j, dx, dy, dz))
                });
                if let Some((j, dx, dy, dz)) = water {
                    self.transmute(i, id::BASALT, t);
                    self.transmute(j, id::STEAM, self.temp(j).max(thresholds::BOIL + 30.0));
                    out.wake |= self.mask(x + dx, y + dy, z + dz);
                    true
                } else if t < thresholds::SOLIDIFY {
                    self.transmute(i, id::BASALT, t);
                    true
                } else {
                    false
                }
            }
            id::WATER if t > thresholds::BOIL && chance(rates::BOIL) => {
                self.transmute(i, id::STEAM, t);
                true
            }
            id::STEAM if t < thresholds::CONDENSE && chance(rates::CONDENSE) => {
                self.transmute(i, id::WATER, t);
                true
            }
            id::ICE if t > thresholds::MELT && chance(rates::MELT) => {
                self.transmute(i, id::WATER, t);
                true
            }
            id::FIRE => {
                // Flames spread to flammable neighbours they touch.
                let r = self.random(x, y, z);
                for (k, &(dx, dy, dz)) in NEIGHBOURS.iter().enumerate() {
                    let j = self.addr(x + dx, y + dy, z + dz);
                    let roll = ((r >> (8 * k)) & 0xff) as f32 * (1.0 / 256.0);
                    if j != NONE
                        && self.table.ignition[self.mat(j) as usize].is_finite()
                        && roll < rates::SPREAD
                    {
                        self.transmute(j, id::FIRE, thresholds::FLAME);
                        out.reactions += 1;
                        out.wake |= self.mask(x + dx, y + dy, z + dz);
                    }
                }
                if chance(rates::BURN_OUT) {
                    self.transmute(i, id::SMOKE, t);
                    true
                } else {
                    // A burning cell holds its flame temperature: combustion
                    // is the energy source.
                    self.set_temp(i, thresholds::FLAME);
                    false
                }
            }
            id::SMOKE if chance(rates::DISSIPATE) => {
                self.transmute(i, id::AIR, t);
                true
            }
            _ if t >= self.table.ignition[m as usize] && chance(rates::IGNITE) => {
                self.transmute(i, id::FIRE, thresholds::FLAME);
                true
            }
            _ => false,
        };
        if pending {
            out.wake |= 1 << 13;
        }
        if reacted {
            out.reactions += 1;
            out.wake |= self.mask(x, y, z);
        }
        reacted
    }

    /// Whether every cell of the row `(·, y, z)` is one material that cannot
    /// move or react here: the row, the three rows below it and the two beside
    /// it all hold that material, it is not a gas, and no reaction of it is
    /// possible in this page. Then no cell of the row can change this frame
    /// (a powder or liquid only moves into a lighter fluid among exactly those
    /// neighbours), and the sweep skips the row with a few wide compares.
    #[inline(always)]
    fn row_is_stuck(&self, y: i32, z: i32, reacts: &[bool; 256]) -> bool {
        let p = self.p as usize;
        let row = |y: i32, z: i32| -> &[u8] {
            let start = self.base[13] + p * (y as usize + p * z as usize);
            // SAFETY: (·, y, z) is a row of this page (1 <= y, z < P - 1 for
            // the caller, so its neighbours too), P valid cells.
            unsafe { std::slice::from_raw_parts(self.ch.material.add(start), p) }
        };
        let m = row(y, z)[0];
        if reacts[m as usize] || self.table.kind[m as usize] == Kind::Gas {
            return false;
        }
        let same = |r: &[u8]| r.iter().fold(true, |all, &c| all & (c == m));
        same(row(y, z))
            && same(row(y - 1, z))
            && same(row(y - 1, z - 1))
            && same(row(y - 1, z + 1))
            && same(row(y, z - 1))
            && same(row(y, z + 1))
    }

    /// The page's own temperatures.
    fn temperatures(&self) -> &[f32] {
        let cells = (self.p * self.p * self.p) as usize;
        // SAFETY: the page's own slot holds `cells` valid cells, and while this
        // update runs only it reads or writes them.
        unsafe { std::slice::from_raw_parts(self.ch.temperature.add(self.base[13]), cells) }
    }

    /// For each material, whether a cell of it in this page could react this
    /// frame, judged from the page's temperature range: water cannot boil in a
    /// page whose hottest cell is below boiling. Exact, so it changes no result;
    /// it only spares the per-cell checks. Cells that enter the page during its
    /// update are flagged as moved and not updated, so the range stays valid.
    fn possible_reactions(&self) -> [bool; 256] {
        let mut reacts = [false; 256];
        if !self.config.reactions {
            return reacts;
        }
        let (mut lo, mut hi) = ([f32::INFINITY; 8], [f32::NEG_INFINITY; 8]);
        for chunk in self.temperatures().chunks_exact(8) {
            for k in 0..8 {
                // Plain comparisons (NaN never wins) so this vectorises.
                lo[k] = if chunk[k] < lo[k] { chunk[k] } else { lo[k] };
                hi[k] = if chunk[k] > hi[k] { chunk[k] } else { hi[k] };
            }
        }
        let lo = lo
            .iter()
            .fold(f32::INFINITY, |a, &b| if b < a { b } else { a });
        let hi = hi
            .iter()
            .fold(f32::NEG_INFINITY, |a, &b| if b > a { b } else { a });
        for (m, r) in reacts.iter_mut().enumerate() {
            *r = self.table.reactive[m]
                && match m as u8 {
                    id::WATER => hi > thresholds::BOIL,
                    id::STEAM => lo < thresholds::CONDENSE,
                    id::ICE => hi > thresholds::MELT,
                    id::LAVA | id::FIRE | id::SMOKE => true,
                    _ => hi >= self.table.ignition[m],
                };
        }
        reacts
    }

    /// Evens out temperature across each cell's +x, +y and +z faces. Returns
    /// whether any cell changed by more than [`HEAT_EPSILON`].
    fn heat_pass(&self) -> bool {
        let p = self.p;
        // Skip a page whose cells, and the neighbour layers it exchanges with,
        // all share one temperature: nothing would change.
        let own = self.base[13];
        let temps = self.temperatures();
        let t0 = temps[0];
        let mut uniform = temps
            .chunks_exact(16)
            .all(|c| c.iter().fold(true, |all, &t| all & (t == t0)));
        'faces: for a in 0..p {
            for b in 0..p {
                for j in [self.addr(p, a, b), self.addr(a, p, b), self.addr(a, b, p)] {
                    // SAFETY: j is a valid address of the border when not NONE.
                    if uniform && j != NONE && unsafe { self.temp(j) } != t0 {
                        uniform = false;
                        break 'faces;
                    }
                }
            }
        }
        if uniform {
            return false;
        }
        let k = &self.table.conductivity;
        let mut largest = 0.0f32;
        for z in 0..p {
            for y in 0..p {
                for x in 0..p {
                    let i = own + (x + p * (y + p * z)) as usize;
                    // SAFETY: i is inside the page; each neighbour address is
                    // checked against NONE.
                    unsafe {
                        let ki = k[self.mat(i) as usize];
                        let mut ti = self.temp(i);
                        for j in [
                            self.addr(x + 1, y, z),
                            self.addr(x, y + 1, z),
                            self.addr(x, y, z + 1),
                        ] {
                            if j == NONE {
                                continue;
                            }
                            let c = ki.min(k[self.mat(j) as usize]) * (1.0 / 3.0);
                            let tj = self.temp(j);
                            let d = c * (tj - ti);
                            ti += d;
                            self.set_temp(j, tj - d);
                            largest = largest.max(d.abs());
                        }
                        self.set_temp(i, ti);
                    }
                }
            }
        }
        largest > HEAT_EPSILON
    }
}
