//! The update of one page: reactions and movement, then heat.
//!
//! Cells are addressed by page-local coordinates in `-1..=P`; coordinates
//! outside `0..P` resolve through the page's 27-neighbourhood to another
//! page's slot, or to nothing (outside the world or not resident), which acts
//! as a solid wall.

use loam_runtime::random::hash3;
use loam_storage::neighbourhood::{self, sideways_reach};

use super::flags::MOVED;
use loam_runtime::Disjoint;

use super::CaConfig;
use crate::materials::{has, Kind, MaterialTable, ReactionBlast, Rule};

/// Address of a cell that does not exist (a wall).
pub(crate) const NONE: usize = usize::MAX;

/// The world's channel pools, shared by the page updates of one
/// checkerboard phase.
///
/// Those pages are two or more pages apart along some axis, so their cells
/// are at least `P + 1` apart there. An update writes only its own page and
/// a one-cell border, and reads no further than `sideways_reach(P)` (at most
/// `P / 2`) cells beyond its page, so the cells one update reads or writes
/// are never cells another update of the phase writes (`P >= 4` is enforced
/// by `WorldLayout`): the schedule [`Disjoint`] asks for.
#[derive(Clone, Copy)]
pub(crate) struct Channels<'a> {
    pub material: Disjoint<'a, u8>,
    pub temperature: Disjoint<'a, f32>,
    pub latent: Disjoint<'a, f32>,
    pub flags: Disjoint<'a, u8>,
}

/// Temperature changes smaller than this (K per frame) let a page sleep.
pub(crate) const HEAT_EPSILON: f32 = 1e-3;

/// Random streams, so unrelated choices of one cell are independent.
mod streams {
    /// Where to move, and whether a slow reaction happens.
    pub const MOVE: u64 = 0;
    /// Which face neighbours a pair reaction happens with (a byte each).
    pub const SPREAD: u64 = 1;
    /// A second byte for a face neighbour whose first byte falls on the
    /// pair reaction's rate.
    pub const FINE: u64 = 2;
}

/// The smallest and largest bit pattern (as `i32`) of `values`. For
/// non-negative floats that is their range; integer min/max vectorise where
/// float ones do not, and on x86-64 the AVX2 version is picked at run time.
fn bits_range(values: &[f32]) -> (i32, i32) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { bits_range_avx2(values) };
    }
    bits_range_portable(values)
}

/// [`bits_range_portable`] compiled for AVX2.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn bits_range_avx2(values: &[f32]) -> (i32, i32) {
    bits_range_portable(values)
}

#[inline(always)]
fn bits_range_portable(values: &[f32]) -> (i32, i32) {
    let (mut lo, mut hi) = ([i32::MAX; 8], [i32::MIN; 8]);
    let chunks = values.chunks_exact(8);
    let rest = chunks.remainder();
    for chunk in chunks {
        for k in 0..8 {
            let bits = chunk[k].to_bits() as i32;
            lo[k] = lo[k].min(bits);
            hi[k] = hi[k].max(bits);
        }
    }
    for &v in rest {
        lo[0] = lo[0].min(v.to_bits() as i32);
        hi[0] = hi[0].max(v.to_bits() as i32);
    }
    (
        lo.into_iter().min().unwrap_or(i32::MAX),
        hi.into_iter().max().unwrap_or(i32::MIN),
    )
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
#[derive(Clone, Debug)]
pub(crate) struct PageResult {
    /// Pages to wake, as a `loam_storage::neighbourhood` mask (the changed
    /// box is folded in at the end of the update).
    pub wake: u32,
    /// Pages whose cells changed, as a mask like `wake`.
    pub dirty: u32,
    pub moves: u32,
    pub reactions: u32,
    /// Blasts the reactions set off, in sweep order.
    pub blasts: Vec<ReactionBlast>,
    /// Box (local coordinates, inclusive) around every cell changed in the
    /// rows finished so far; empty while `lo > hi`.
    lo: [i32; 3],
    hi: [i32; 3],
    /// x range of the changes made while updating the current row. Every
    /// change is within one cell of the cell being updated, so the row's x
    /// range widened by one cell in each direction bounds them all.
    row_lo: i32,
    row_hi: i32,
}

impl Default for PageResult {
    fn default() -> Self {
        Self {
            wake: 0,
            dirty: 0,
            moves: 0,
            reactions: 0,
            blasts: Vec::new(),
            lo: [i32::MAX; 3],
            hi: [i32::MIN; 3],
            row_lo: i32::MAX,
            row_hi: i32::MIN,
        }
    }
}

impl PageResult {
    /// Records a change at, or next to, the cell at `x` of the current row.
    #[inline(always)]
    fn changed(&mut self, x: i32) {
        self.row_lo = self.row_lo.min(x);
        self.row_hi = self.row_hi.max(x);
    }

    /// Folds the current row `(·, y, z)` into the box, one cell wider all round.
    #[inline(always)]
    fn end_row(&mut self, y: i32, z: i32) {
        if self.row_lo <= self.row_hi {
            let (lo, hi) = (
                [self.row_lo - 1, y - 1, z - 1],
                [self.row_hi + 1, y + 1, z + 1],
            );
            for a in 0..3 {
                self.lo[a] = self.lo[a].min(lo[a]);
                self.hi[a] = self.hi[a].max(hi[a]);
            }
            self.row_lo = i32::MAX;
            self.row_hi = i32::MIN;
        }
    }
}

/// Everything a page update needs, built per page.
pub(crate) struct PageUpdate<'a> {
    pub ch: Channels<'a>,
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

    // The accessors below share one contract.
    //
    // # Safety
    // `i` is an address produced by `addr` or `near` for this update and is not
    // NONE: then it is in bounds of the pools, and by the phase argument on
    // `Channels` no other thread touches that cell during the update.

    /// Material of cell `i`. See the safety contract above.
    #[inline(always)]
    unsafe fn mat(&self, i: usize) -> u8 {
        // SAFETY: the caller upholds this function's contract (above).
        unsafe { *self.ch.material.ptr(i) }
    }

    /// Sets the material of cell `i`. See the safety contract above.
    #[inline(always)]
    unsafe fn set_mat(&self, i: usize, m: u8) {
        // SAFETY: the caller upholds this function's contract (above).
        unsafe {
            *self.ch.material.ptr(i) = m;
        }
    }

    /// Temperature of cell `i`. See the safety contract above.
    #[inline(always)]
    unsafe fn temp(&self, i: usize) -> f32 {
        // SAFETY: the caller upholds this function's contract (above).
        unsafe { *self.ch.temperature.ptr(i) }
    }

    /// Sets the temperature of cell `i`. See the safety contract above.
    #[inline(always)]
    unsafe fn set_temp(&self, i: usize, t: f32) {
        // SAFETY: the caller upholds this function's contract (above).
        unsafe {
            *self.ch.temperature.ptr(i) = t;
        }
    }

    /// Flags of cell `i`. See the safety contract above.
    #[inline(always)]
    unsafe fn flag(&self, i: usize) -> u8 {
        // SAFETY: the caller upholds this function's contract (above).
        unsafe { *self.ch.flags.ptr(i) }
    }

    /// Flags cell `i` as moved. See the safety contract above.
    #[inline(always)]
    unsafe fn set_moved(&self, i: usize) {
        // SAFETY: the caller upholds this function's contract (above).
        unsafe {
            *self.ch.flags.ptr(i) |= MOVED;
        }
    }

    /// 64 random bits for local cell `(x, y, z)` this frame, from `stream`
    /// (separate streams for unrelated choices of one cell).
    #[inline(always)]
    fn random(&self, x: i32, y: i32, z: i32, stream: u64) -> u64 {
        let g = [
            u64::from(self.origin[0]) + x as u64,
            u64::from(self.origin[1]) + y as u64,
            u64::from(self.origin[2]) + z as u64,
        ];
        // The id depends on the cell's coordinates only, not on the world's
        // size, so the same spot behaves the same in any world. x and z fill
        // the two halves (coordinates stay below 2^32); y is spread over all
        // bits by an odd multiplier.
        let id = (g[0] | g[2] << 32) ^ g[1].wrapping_mul(0x9E37_79B9_7F4A_7C15);
        hash3(self.seed, self.frame ^ stream << 56, id)
    }

    /// Whether a mover may swap with the cell at `target`: its material is in
    /// `set` (a row of [`MaterialTable::sinks`] or [`MaterialTable::rises`]),
    /// and it has not moved this frame, so no cell moves twice in a frame.
    /// Empty cells are the exception: air is what a falling column leaves
    /// behind, and letting it be displaced again keeps columns together.
    /// Walls are never entered.
    #[inline(always)]
    fn enters(&self, set: &[bool; 256], target: usize) -> bool {
        if target == NONE {
            return false;
        }
        // SAFETY: target is a valid address (checked above).
        unsafe {
            let t = self.mat(target);
            has(set, t)
                && (self.table.kind[t as usize] == Kind::Empty || self.flag(target) & MOVED == 0)
        }
    }

    /// Whether the cell at `target` (not NONE) is empty (air).
    #[inline(always)]
    fn is_empty(&self, target: usize) -> bool {
        // SAFETY: callers pass an address `enters` accepted, so not NONE.
        self.table.kind[unsafe { self.mat(target) } as usize] == Kind::Empty
    }

    /// Picks one of the open targets in `open` (bit k set: `targets[k]` is
    /// open). The random draw is made only when there is a choice.
    #[inline(always)]
    fn choose(&self, open: u32, x: i32, y: i32, z: i32, salt: u32) -> usize {
        if open & (open - 1) == 0 {
            return open.trailing_zeros() as usize;
        }
        let r = (self.random(x, y, z, streams::MOVE) >> (8 * salt)) as u32;
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
        debug_assert!(
            sideways_reach(self.p) <= self.p / 2,
            "reads must stay clear of other pages"
        );
        let mut out = PageResult::default();
        let p = self.p;
        let reacts = self.possible_reactions();
        let reacts = &reacts;
        let mut surrounded = [false; 256];
        // SAFETY: every (x, y, z) below is inside this page. Cells off the
        // page's outer shell have all 26 neighbours in the page and take the
        // `INTERIOR` path, which addresses them by fixed strides.
        let skip = self.config.skip_stuck_rows;
        for y in 0..p {
            for z in 0..p {
                if skip && self.row_is_stuck(y, z, reacts) {
                    continue;
                }
                if skip {
                    self.surrounded_cells(y, z, &mut surrounded);
                }
                let shell = y == 0 || y == p - 1 || z == 0 || z == p - 1;
                // SAFETY: x, y and z are in 0..p, inside the page.
                unsafe { self.update_cell::<false>(0, y, z, reacts, &mut out) };
                for x in 1..p - 1 {
                    if skip && surrounded[x as usize] {
                        // The one neighbour that can change before `x` is
                        // updated is `x - 1`, when that cell moves away.
                        let row = self.row(y, z).unwrap_or_default();
                        let m = row[x as usize];
                        if row[x as usize - 1] == m
                            && !reacts[m as usize]
                            && self.table.kind[m as usize] != Kind::Gas
                        {
                            continue;
                        }
                    }
                    if shell {
                        // SAFETY: x, y and z are in 0..p, inside the page.
                        unsafe { self.update_cell::<false>(x, y, z, reacts, &mut out) };
                    } else {
                        // SAFETY: x, y and z are in 0..p, inside the page.
                        unsafe { self.update_cell::<true>(x, y, z, reacts, &mut out) };
                    }
                }
                // SAFETY: x, y and z are in 0..p, inside the page.
                unsafe { self.update_cell::<false>(p - 1, y, z, reacts, &mut out) };
                out.end_row(y, z);
            }
        }
        if out.lo[0] <= out.hi[0] {
            out.wake |= neighbourhood::seen_by_box(out.lo, out.hi, p);
            out.dirty = neighbourhood::holding_box(out.lo, out.hi, p);
        }
        if self.config.heat && self.heat_pass() {
            out.wake = neighbourhood::ALL;
            out.dirty = neighbourhood::ALL;
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
        // SAFETY: the caller upholds this function's contract (above).
        unsafe {
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
                Kind::Powder => self.flow::<INTERIOR>(
                    i,
                    [x, y, z],
                    m,
                    -1,
                    &self.table.sinks[m as usize],
                    false,
                    out,
                ),
                Kind::Liquid => self.flow::<INTERIOR>(
                    i,
                    [x, y, z],
                    m,
                    -1,
                    &self.table.sinks[m as usize],
                    true,
                    out,
                ),
                // A gas moves by buoyancy against the air: one denser than air
                // sinks through air and lighter gases, as a liquid does.
                Kind::Gas if self.table.heavy[m as usize] => self.flow::<INTERIOR>(
                    i,
                    [x, y, z],
                    m,
                    -1,
                    &self.table.sinks[m as usize],
                    true,
                    out,
                ),
                Kind::Gas => self.flow::<INTERIOR>(
                    i,
                    [x, y, z],
                    m,
                    1,
                    &self.table.rises[m as usize],
                    true,
                    out,
                ),
                Kind::Empty | Kind::Solid | Kind::Fire => return,
            };
            if let Some(j) = target {
                self.swap(i, j);
                out.moves += 1;
                out.changed(x);
            }
        }
    }

    /// The pool index a cell of `m` moves to, if anywhere: straight along `dy` (-1 falls,
    /// +1 rises), else diagonally along `dy`, else (for fluids, `spreads`)
    /// sideways: into an empty cell when pressed by its own material from
    /// behind, or when a `dy` step opens within reach on that side. Moves only into cells in
    /// `set`, the material's sink (falling) or rise table. A viscous
    /// liquid spreads with chance `1 − viscosity`; held back, it keeps its
    /// page awake in `out`.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn flow<const INTERIOR: bool>(
        &self,
        i: usize,
        [x, y, z]: [i32; 3],
        m: u8,
        dy: i32,
        set: &[bool; 256],
        spreads: bool,
        out: &mut PageResult,
    ) -> Option<usize> {
        let here = [x, y, z];
        let ahead = self.near::<INTERIOR>(i, here, [0, dy, 0]);
        if self.enters(set, ahead) {
            return Some(ahead);
        }
        let mut targets = [NONE; 4];
        let mut open = 0u32;
        for (k, &(dx, dz)) in SIDES.iter().enumerate() {
            targets[k] = self.near::<INTERIOR>(i, here, [dx, dy, dz]);
            open |= u32::from(self.enters(set, targets[k])) << k;
        }
        if open != 0 {
            let k = self.choose(open, x, y, z, 0);
            return Some(targets[k]);
        }
        if !spreads {
            return None;
        }
        let behind = self.near::<INTERIOR>(i, here, [0, -dy, 0]);
        // SAFETY: `behind` is checked against NONE before it is read.
        let pressed = behind != NONE && unsafe { self.mat(behind) } == m;
        for (k, &(dx, dz)) in SIDES.iter().enumerate() {
            targets[k] = self.near::<INTERIOR>(i, here, [dx, 0, dz]);
            // Pressure pushes a fluid sideways into empty cells only: a
            // bubble of a lighter fluid is not pushed along under its heavier
            // neighbour (that moved it every frame, and the cell above,
            // seeing it moved, never sank into it); it rises as that cell
            // sinks into it.
            let flows = self.enters(set, targets[k])
                && (pressed && self.is_empty(targets[k])
                    || self.drop_ahead(here, (dx, dz), dy, set));
            open |= u32::from(flows) << k;
        }
        if open != 0 {
            let viscosity = self.table.viscosity[m as usize];
            if viscosity > 0.0 {
                let r = (self.random(x, y, z, streams::MOVE) >> 16) & 0xff;
                if (r as f32) < viscosity * 256.0 {
                    out.wake |= neighbourhood::SELF;
                    return None;
                }
            }
            let k = self.choose(open, x, y, z, 1);
            return Some(targets[k]);
        }
        None
    }

    /// Whether, walking from `(x, y, z)` along `(dx, dz)` through cells in `set`,
    /// a cell in `set` lies one step in `dy` within
    /// [`sideways_reach`] cells: a liquid flows sideways toward a drop (a gas
    /// toward a rise), and stops on a flat surface instead of wandering.
    /// (These reads reach into a neighbouring page; see the safety argument
    /// on [`Channels`] and the wake rule in `loam_storage::neighbourhood`.)
    #[inline(always)]
    fn drop_ahead(
        &self,
        [x, y, z]: [i32; 3],
        (dx, dz): (i32, i32),
        dy: i32,
        set: &[bool; 256],
    ) -> bool {
        for k in 1..=sideways_reach(self.p) {
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

    /// Swaps two cells' material, temperature and latent heat and flags
    /// both as moved.
    ///
    /// # Safety
    /// Both addresses must be valid (not NONE) for this page update.
    #[inline(always)]
    unsafe fn swap(&self, i: usize, j: usize) {
        // SAFETY: the caller upholds this function's contract (above).
        unsafe {
            let (mi, mj) = (self.mat(i), self.mat(j));
            self.set_mat(i, mj);
            self.set_mat(j, mi);
            let (ti, tj) = (self.temp(i), self.temp(j));
            self.set_temp(i, tj);
            self.set_temp(j, ti);
            std::ptr::swap(self.ch.latent.ptr(i), self.ch.latent.ptr(j));
            self.set_moved(i);
            self.set_moved(j);
        }
    }

    /// Turns cell `i` into `m` at temperature `t`.
    ///
    /// # Safety
    /// `i` must be a valid address for this page update.
    #[inline(always)]
    unsafe fn transmute(&self, i: usize, m: u8, t: f32) {
        // SAFETY: the caller upholds this function's contract (above).
        unsafe {
            self.set_mat(i, m);
            self.set_temp(i, t);
            // A reaction sets the new cell's heat; what was part way through a
            // phase change is gone with the old material.
            *self.ch.latent.ptr(i) = 0.0;
            self.set_moved(i);
        }
    }

    /// Applies the reactions of cell `i` (material `m`, temperature `t`):
    /// first its pair reactions with each face neighbour in turn, then the
    /// first of its single-cell reactions whose dice say yes. True if the
    /// cell changed. It may change only this cell and its six face
    /// neighbours: the skips in `run` and the wake box rely on that.
    ///
    /// Kept out of line: most cells cannot react, and the sweep's loop
    /// stays small without it.
    ///
    /// # Safety
    /// (x, y, z) must be inside the page and `i` its address.
    #[inline(never)]
    unsafe fn react(&self, x: i32, y: i32, z: i32, i: usize, m: u8, out: &mut PageResult) -> bool {
        let table = self.table;
        let phase_changes = self.config.thermal_transitions;
        // SAFETY: the caller upholds this function's contract (above).
        unsafe {
            let t = self.temp(i);
            // A reaction whose condition holds but whose dice said "not yet"
            // keeps the page awake, so slow reactions do finish.
            let mut pending = false;
            if table.has_pairs[m as usize] {
                let r = self.random(x, y, z, streams::SPREAD);
                for (k, &(dx, dy, dz)) in NEIGHBOURS.iter().enumerate() {
                    let j = self.addr(x + dx, y + dy, z + dz);
                    if j == NONE {
                        continue;
                    }
                    let Some(rule) = table.pair(m, self.mat(j)) else {
                        continue;
                    };
                    if !rule.applies(t, phase_changes) {
                        continue;
                    }
                    if !self.pair_dice(r, k, rule.rate, [x, y, z]) {
                        pending = true;
                        continue;
                    }
                    self.produce(j, rule, 1);
                    // A pair's blast goes off where the two touch.
                    let at = [2 * x + dx, 2 * y + dy, 2 * z + dz];
                    self.blast(rule, at, out);
                    out.reactions += 1;
                    out.changed(x);
                    if rule.into[0] != m {
                        self.produce(i, rule, 0);
                        out.wake |= if pending { neighbourhood::SELF } else { 0 };
                        return true;
                    }
                    self.produce(i, rule, 0);
                }
            }
            let mut reacted = false;
            let mut dice = None;
            for rule in table.singles(m) {
                if !rule.applies(t, phase_changes) {
                    continue;
                }
                let r = *dice.get_or_insert_with(|| {
                    (self.random(x, y, z, streams::MOVE) >> 40) as f32 * (1.0 / (1u64 << 24) as f32)
                });
                if r < rule.rate {
                    self.produce(i, rule, 0);
                    self.blast(rule, [2 * x, 2 * y, 2 * z], out);
                    reacted = true;
                    break;
                }
                pending = true;
            }
            if !reacted && table.kind[m as usize] == Kind::Fire {
                // A burning cell holds its flame temperature: combustion
                // is the energy source.
                self.set_temp(i, table.start_temperature[m as usize]);
            }
            if pending {
                out.wake |= neighbourhood::SELF;
            }
            if reacted {
                out.reactions += 1;
                out.changed(x);
            }
            reacted
        }
    }

    /// Whether a pair reaction of chance `rate` happens with face neighbour
    /// `k` of the cell at `at`: byte `k` of `r` over 256 below `rate`, and
    /// where that byte falls on the rate, a second byte decides, so rates
    /// resolve to 1/65536 (one byte is exact for multiples of 1/256).
    #[inline(always)]
    fn pair_dice(&self, r: u64, k: usize, rate: f32, [x, y, z]: [i32; 3]) -> bool {
        let byte = ((r >> (8 * k)) & 0xff) as f32;
        let scaled = rate * 256.0;
        if byte + 1.0 <= scaled {
            true
        } else if byte >= scaled {
            false
        } else {
            let fine = ((self.random(x, y, z, streams::FINE) >> (8 * k)) & 0xff) as f32;
            fine < (scaled - byte) * 256.0
        }
    }

    /// Records the blast of `rule`, if it has one, at `twice`, twice the
    /// local coordinates of the point (a cell's, or the midpoint of two).
    #[inline(always)]
    fn blast(&self, rule: &Rule, twice: [i32; 3], out: &mut PageResult) {
        if let Some(blast) = rule.blast {
            let center = [0, 1, 2]
                .map(|a| (2 * i64::from(self.origin[a]) + i64::from(twice[a]) + 1) as f32 * 0.5);
            out.blasts.push(ReactionBlast { center, blast });
        }
    }

    /// Turns cell `i` into product `p` of `rule` (0: what the reacting
    /// cell becomes, 1: its neighbour): a new material starts at its
    /// cell's temperature raised to the rule's floor, a fire at its flame;
    /// the reaction's heat warms it either way. A cell that stays what it
    /// was and gains no heat is left alone.
    ///
    /// # Safety
    /// `i` must be a valid address for this page update.
    #[inline(always)]
    unsafe fn produce(&self, i: usize, rule: &Rule, p: usize) {
        // SAFETY: the caller upholds this function's contract (above).
        unsafe {
            let (into, warm) = (rule.into[p], rule.warm[p]);
            if into == self.mat(i) {
                if warm != 0.0 {
                    self.set_temp(i, self.temp(i) + warm);
                }
                return;
            }
            let mut t = if self.table.kind[into as usize] == Kind::Fire {
                self.table.start_temperature[into as usize]
            } else {
                let t = self.temp(i);
                rule.at_least[p].map_or(t, |floor| t.max(floor))
            };
            if warm != 0.0 {
                t += warm;
            }
            self.transmute(i, into, t);
        }
    }

    /// The materials of row `(·, y, z)`, for `y` and `z` in `-1..=P`: a row of
    /// this page or of the neighbour that holds it, or `None` outside the
    /// world (a wall).
    #[inline(always)]
    fn row(&self, y: i32, z: i32) -> Option<&[u8]> {
        let p = self.p;
        // Checked in release builds too: the slice below is built from a raw
        // pointer, and this bound is what keeps it inside this update's border.
        assert!(
            (-1..=p).contains(&y) && (-1..=p).contains(&z),
            "row ({y}, {z}) out of reach"
        );
        let side = |v: i32| i32::from(v >= 0) + i32::from(v >= p);
        let (ny, nz) = (side(y), side(z));
        let base = self.base[(1 + 3 * ny + 9 * nz) as usize];
        if base == NONE {
            return None;
        }
        let (ly, lz) = ((y - (ny - 1) * p) as usize, (z - (nz - 1) * p) as usize);
        let p = p as usize;
        // SAFETY: the row lies within this update's one-cell border (x spans
        // the page, y and z at most one cell outside), P valid cells that no
        // other thread touches during the update.
        Some(unsafe {
            std::slice::from_raw_parts(self.ch.material.ptr(base + p * (ly + p * lz)), p)
        })
    }

    /// Whether every cell of the row `(·, y, z)` is one material that cannot
    /// move or react here: the row, the three rows below it, the two beside
    /// it and the cells past both ends (level and below) all hold that
    /// material (or are walls), it is not a gas, and no reaction of it is
    /// possible in this page. Then no cell of the row can change this frame
    /// (a powder or liquid only moves into a lighter fluid among exactly those
    /// neighbours), and the sweep skips the row with a few wide compares.
    #[inline(always)]
    fn row_is_stuck(&self, y: i32, z: i32, reacts: &[bool; 256]) -> bool {
        let Some(own) = self.row(y, z) else {
            return false;
        };
        let m = own[0];
        if reacts[m as usize] || self.table.kind[m as usize] == Kind::Gas {
            return false;
        }
        // Eight cells at a time as one u64; a missing row is a wall, which
        // nothing enters either.
        let splat = u64::from_ne_bytes([m; 8]);
        let same = |r: Option<&[u8]>| {
            let Some(r) = r else { return true };
            let words = r.chunks_exact(8);
            let rest = words.remainder();
            words
                .map(|w| <[u8; 8]>::try_from(w).map_or(0, u64::from_ne_bytes))
                .all(|w| w == splat)
                && rest.iter().all(|&c| c == m)
        };
        // The row's end cells also look into the pages beside it.
        let p = self.p;
        let beside = [
            self.addr(-1, y, z),
            self.addr(-1, y - 1, z),
            self.addr(p, y, z),
            self.addr(p, y - 1, z),
        ];
        // SAFETY: each address is checked against NONE before it is read.
        let ends_stuck = beside
            .iter()
            .all(|&j| j == NONE || unsafe { self.mat(j) } == m);
        ends_stuck
            && same(Some(own))
            && same(self.row(y - 1, z))
            && same(self.row(y - 1, z - 1))
            && same(self.row(y - 1, z + 1))
            && same(self.row(y, z - 1))
            && same(self.row(y, z + 1))
    }

    /// For each cell `x` in `1..P-1` of row `(·, y, z)`, whether
    /// the nine cells a powder or liquid there could move into (below, the
    /// four lower diagonals, the four sideways) all hold its own material.
    /// Such a cell, if not a gas and unable to react, cannot move this frame
    /// as long as its left neighbour still holds its material when the sweep
    /// reaches it. The other eight are in earlier rows, in other pages, or
    /// later in this row, except the one below-left, which an earlier cell of
    /// this row can only fill with something heavier that has moved. That
    /// relies on nothing entering its own material (`sinks[m][m]` is false)
    /// and on reactions touching only face neighbours (see `react`).
    #[inline(always)]
    fn surrounded_cells(&self, y: i32, z: i32, out: &mut [bool; 256]) {
        let Some(r) = self.row(y, z) else {
            out.fill(false);
            return;
        };
        let n = r.len() - 2;
        // Nothing enters a wall, so a missing row (outside the world) may stand
        // in as anything that keeps the test safe: this row itself, whose
        // centre matches and whose sides at worst make a cell not skipped.
        let b = self.row(y - 1, z).unwrap_or(r);
        // Equal-length windows (left, centre, right) so the loop compiles to
        // wide byte compares with no bounds checks.
        let (left, centre, right) = (&r[..n], &r[1..=n], &r[2..]);
        let (below_left, below, below_right) = (&b[..n], &b[1..=n], &b[2..]);
        let below_back = &self.row(y - 1, z - 1).unwrap_or(r)[1..=n];
        let below_front = &self.row(y - 1, z + 1).unwrap_or(r)[1..=n];
        let back = &self.row(y, z - 1).unwrap_or(r)[1..=n];
        let front = &self.row(y, z + 1).unwrap_or(r)[1..=n];
        let out = &mut out[1..=n];
        for k in 0..n {
            let m = centre[k];
            out[k] = (below[k] == m)
                & (below_left[k] == m)
                & (below_right[k] == m)
                & (below_back[k] == m)
                & (below_front[k] == m)
                & (left[k] == m)
                & (right[k] == m)
                & (back[k] == m)
                & (front[k] == m);
        }
    }

    /// The page's own temperatures.
    fn temperatures(&self) -> &[f32] {
        let cells = (self.p * self.p * self.p) as usize;
        // SAFETY: the page's own slot holds `cells` valid cells, and while this
        // update runs only it reads or writes them.
        unsafe { std::slice::from_raw_parts(self.ch.temperature.ptr(self.base[13]), cells) }
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
        // Non-negative floats order like their bit patterns as integers, and
        // integer min/max reductions vectorise where float ones do not.
        // Anything else (a negative bit pattern, NaN) makes the range
        // all-inclusive, which only turns the gating off.
        let (lo_bits, hi_bits) = bits_range(self.temperatures());
        let (lo, hi) = if lo_bits < 0 || hi_bits > f32::INFINITY.to_bits() as i32 {
            (f32::NEG_INFINITY, f32::INFINITY)
        } else {
            (
                f32::from_bits(lo_bits as u32),
                f32::from_bits(hi_bits as u32),
            )
        };
        let phase_changes = usize::from(self.config.thermal_transitions);
        for &m in &self.table.reactive_ids {
            let m = m as usize;
            // The union of the material's windows: exact for one reaction,
            // never too narrow for several.
            let (from, to) = self.table.single_window[m][phase_changes];
            reacts[m] = self.table.has_pairs[m] || (hi >= from && lo < to);
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
        let own_uniform = temps
            .chunks_exact(16)
            .all(|c| c.iter().fold(true, |all, &t| all & (t == t0)));
        let faces_uniform = || {
            (0..p).all(|a| {
                (0..p).all(|b| {
                    [self.addr(p, a, b), self.addr(a, p, b), self.addr(a, b, p)]
                        .into_iter()
                        // SAFETY: j is a valid address of the border when not NONE.
                        .all(|j| j == NONE || unsafe { self.temp(j) } == t0)
                })
            })
        };
        if own_uniform && faces_uniform() {
            return false;
        }
        let k = &self.table.conductivity;
        let cap = &self.table.heat_capacity;
        let mut largest = 0.0f32;
        for z in 0..p {
            for y in 0..p {
                for x in 0..p {
                    let i = own + (x + p * (y + p * z)) as usize;
                    // SAFETY: i is inside the page; each neighbour address is
                    // checked against NONE.
                    unsafe {
                        let mi = self.mat(i) as usize;
                        let (ki, ci) = (k[mi], cap[mi]);
                        let mut ti = self.temp(i);
                        for j in [
                            self.addr(x + 1, y, z),
                            self.addr(x, y + 1, z),
                            self.addr(x, y, z + 1),
                        ] {
                            if j == NONE {
                                continue;
                            }
                            let mj = self.mat(j) as usize;
                            let cj = cap[mj];
                            // Heat q = c·ΔT·min(Ci, Cj) leaves one cell and
                            // enters the other: each temperature moves by q
                            // over its own capacity, at most c·ΔT.
                            let c = ki.min(k[mj]) * (1.0 / 3.0);
                            let tj = self.temp(j);
                            let q = c * (tj - ti) * ci.min(cj);
                            let (di, dj) = (q / ci, q / cj);
                            ti += di;
                            self.set_temp(j, tj - dj);
                            largest = largest.max(di.abs()).max(dj.abs());
                        }
                        self.set_temp(i, ti);
                    }
                }
            }
        }
        largest > HEAT_EPSILON
    }
}
