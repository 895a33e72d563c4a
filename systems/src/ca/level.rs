//! Levelling: a liquid finds its level through the body it belongs to.
//! (So does a gas denser than air, which pools as a liquid does: below,
//! "liquid" stands for both.)
//!
//! The automaton's sweep moves a liquid cell by what it sees within a few
//! cells: it falls, slides, and spreads sideways when pressed from above or
//! when a drop lies within reach. That flattens a heap until every column
//! is at most one cell above its neighbour, and then stops: a staircase of
//! terraces wider than the reach has no local reason to move, and two
//! basins joined under the surface never learn each other's level.
//!
//! What levels real water is pressure, which reaches through the whole
//! body at once. This pass stands in for it. After the sweep, it floods
//! each liquid body (the face-connected cells of one liquid that did not
//! move this frame) that reaches the surface in a quiet page (one where no
//! cell moved this frame) among those the frame updated or woke, and lists
//! - its **tops**: cells under a lighter fluid (air, or oil over water);
//! - its **holes**: cells of a lighter fluid next to one of its cells, where
//!   its liquid could go (a lighter fluid that moved this frame is taken
//!   only if it is empty, as the sweep does). The air over a top is a hole
//!   too: filling it raises that column. A hole is taken where what fills
//!   it would land (water poured over the edge of a pit lands at its
//!   bottom), and from a film's edge the floor is searched, breadth first,
//!   for such an edge.
//!
//! Gases lighter than air are levelled the same way upside down: their
//! surface faces down, and they pool under ceilings.
//!
//! While the highest top lies above the lowest hole, the top's liquid and
//! the hole's fluid trade places: the surface where the body stands high
//! sinks by a cell and the low side rises by one. (A top at the hole's own
//! height would only swap two columns that differ by one.)
//! Each pass makes a quarter of the possible trades (at least one; times
//! `1 − viscosity` for a viscous liquid, none for a paste), the
//! highest tops with the lowest holes, equal heights in a random order
//! drawn from (seed, frame, cell).
//!
//! Why it ends, and soon: a trade lowers the body's Σ y by at least 1 and
//! conserves every material, so trades cannot go on forever; and as long
//! as a body's highest top lies above its lowest hole there is a trade, so
//! a body stops only when its surface is level within one cell. A
//! quarter of the possible trades a frame shrinks the excess geometrically;
//! in the tests a heap levels within a few frames per cell of basin width,
//! the sweep's spreading being the slower part. A level body makes no
//! trade, wakes nothing, and its pages sleep.
//!
//! Trades set the `MOVED` flag on both cells (no liquid cell moves twice in
//! a frame; air, as in the sweep, may be displaced again) and wake the
//! pages that can see them, as the sweep's moves do.
//! The pass runs on one thread, in a fixed order, so its result is the same
//! on any number of threads.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use loam_runtime::random::hash3;
use loam_storage::{PageTable, Pools, VoxelWorld, WorldLayout};

use super::flags::MOVED;
use crate::materials::{has, Kind, MaterialTable};

/// How far along a floor a film's edge looks for a place to pour over.
const FLOOR_REACH: usize = 256;

/// Most floor cells one body's search visits in a frame.
const FLOOR_BUDGET: usize = 1 << 14;

/// Random stream of the order among equal heights.
const STREAM: u64 = 2;

/// A cell: world coordinates and pool index.
#[derive(Clone, Copy, Debug)]
struct Cell {
    at: [u32; 3],
    index: usize,
}

/// Addresses cells of the resident pages.
struct Grid<'a> {
    layout: WorldLayout,
    table: &'a PageTable,
    page_cells: usize,
    /// Pool index steps along x, y and z inside a page.
    stride: [usize; 3],
}

impl Grid<'_> {
    /// The cell at `at`, if inside the world and resident.
    #[inline]
    fn cell(&self, at: [u32; 3]) -> Option<Cell> {
        let (page, offset) = self.layout.locate(at);
        let slot = self.table.resident_slot(page)?;
        Some(Cell {
            at,
            index: slot * self.page_cells + offset,
        })
    }

    /// The neighbour of `c` one cell along `AXIS`, up (`UP`) or down: a
    /// fixed step inside its page, a page lookup across a face.
    #[inline(always)]
    fn near<const AXIS: usize, const UP: bool>(&self, c: Cell) -> Option<Cell> {
        let local = c.at[AXIS] & (self.layout.page - 1);
        let mut at = c.at;
        if UP {
            at[AXIS] += 1;
            if local + 1 < self.layout.page {
                return Some(Cell {
                    at,
                    index: c.index + self.stride[AXIS],
                });
            }
            if at[AXIS] >= self.layout.size[AXIS] {
                return None;
            }
        } else {
            if local > 0 {
                at[AXIS] -= 1;
                return Some(Cell {
                    at,
                    index: c.index - self.stride[AXIS],
                });
            }
            at[AXIS] = at[AXIS].checked_sub(1)?;
        }
        self.cell(at)
    }
}

/// One bit per pool cell.
struct Bits(Vec<u64>);

impl Bits {
    fn new(cells: usize) -> Self {
        Self(vec![0; cells.div_ceil(64)])
    }

    /// Sets bit `i`; whether it was clear.
    #[inline]
    fn insert(&mut self, i: usize) -> bool {
        let (w, b) = (i / 64, 1u64 << (i % 64));
        let clear = self.0[w] & b == 0;
        self.0[w] |= b;
        clear
    }

    /// Clears bit `i`.
    #[inline]
    fn remove(&mut self, i: usize) {
        self.0[i / 64] &= !(1u64 << (i % 64));
    }

    #[inline]
    fn contains(&self, i: usize) -> bool {
        self.0[i / 64] >> (i % 64) & 1 == 1
    }
}

/// What a levelling pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LevelStats {
    /// Liquid bodies flooded.
    pub bodies: u64,
    /// Trades made.
    pub trades: u64,
}

/// How a material pools: which way it falls, and what it moves through.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pooling {
    /// Does not pool (solids, powders, air, fire).
    No,
    /// Falls through lighter fluids: liquids, and gases denser than air.
    Down,
    /// Rises through heavier fluids: gases lighter than air, which pool
    /// under ceilings.
    Up,
}

/// Levels the bodies whose surface lies in a quiet page (no cell moved this
/// frame) among `pages` (any order, repeats allowed) and the pages woken for
/// the next frame: pass the pages the frame's sweep updated. A flood passes
/// through every page its body reaches, quiet or not. See the module docs.
pub fn level(
    world: &mut VoxelWorld,
    table: &MaterialTable,
    seed: u64,
    frame: u64,
    pages: &[usize],
) -> LevelStats {
    let mut pages: Vec<usize> = pages.iter().chain(world.table().woken()).copied().collect();
    pages.sort_unstable();
    pages.dedup();
    let layout = *world.layout();
    let page_cells = layout.page_cells();
    let pooling: [Pooling; 256] = std::array::from_fn(|m| match table.kind[m] {
        Kind::Liquid => Pooling::Down,
        Kind::Gas if table.heavy[m] => Pooling::Down,
        Kind::Gas => Pooling::Up,
        _ => Pooling::No,
    });
    // What a cell of `m` moves through.
    let through = |m: u8| match pooling[m as usize] {
        Pooling::Up => &table.rises[m as usize],
        _ => &table.sinks[m as usize],
    };
    let pooled: Vec<u8> = (0..=255u8)
        .filter(|&m| pooling[m as usize] != Pooling::No)
        .collect();
    let p = layout.page as usize;
    let stride = [1, p, p * p];
    let grid = Grid {
        layout,
        table: world.table(),
        page_cells,
        stride,
    };
    // Seeds: the surface cells (under a lighter fluid, or over a heavier
    // one for a rising gas) of quiet pages. A body is levelled from its
    // surface; a page of liquid with none (the depths of a lake) starts no
    // flood, though floods pass through it.
    let mut seeds: Vec<Cell> = Vec::new();
    let material = world.pools().material;
    for &page in &pages {
        let Some(view) = world.page(page) else {
            continue;
        };
        // Flags OR-ed 64 at a time: a loop that vectorises, where an early
        // exit would not.
        let quiet = view
            .flags
            .chunks(64)
            .all(|c| c.iter().fold(0, |a, &f| a | f) & MOVED == 0);
        if !quiet || !holds_any(view.material, &pooled) {
            continue;
        }
        let Some(slot) = world.table().resident_slot(page) else {
            continue;
        };
        let origin = layout.page_coord(page).map(|c| c * layout.page);
        let cell = |offset: usize| Cell {
            at: local(&layout, origin, offset),
            index: slot * page_cells + offset,
        };
        // Rows along x, each against the row above it (P cells on: x is
        // fastest, then y, then z). Equal rows (the depths of a lake) hold
        // no surface.
        for z in 0..p {
            for y in 0..p - 1 {
                let start = p * (y + p * z);
                let (lower, upper) = (
                    &view.material[start..start + p],
                    &view.material[start + p..start + 2 * p],
                );
                if lower == upper {
                    continue;
                }
                for (k, (&a, &b)) in lower.iter().zip(upper).enumerate() {
                    if pooling[a as usize] == Pooling::Down && has(through(a), b) {
                        seeds.push(cell(start + k));
                    }
                    if pooling[b as usize] == Pooling::Up && has(through(b), a) {
                        seeds.push(cell(start + p + k));
                    }
                }
            }
            // The top and bottom rows meet the pages above and below.
            for (y, up) in [(p - 1, true), (0, false)] {
                for offset in p * (y + p * z)..p * (y + 1 + p * z) {
                    let m = view.material[offset];
                    let c = cell(offset);
                    let surface = match pooling[m as usize] {
                        Pooling::Down if up => grid.near::<1, true>(c),
                        Pooling::Up if !up => grid.near::<1, false>(c),
                        _ => None,
                    };
                    if surface.is_some_and(|n| has(through(m), material[n.index])) {
                        seeds.push(c);
                    }
                }
            }
        }
    }
    if seeds.is_empty() {
        return LevelStats::default();
    }
    let cells = world.capacity() * page_cells;
    let mut body = Bits::new(cells);
    let mut hole_seen = Bits::new(cells);
    let mut floor_seen = Bits::new(cells);
    let mut floor_touched: Vec<usize> = Vec::new();
    let mut stats = LevelStats::default();
    let mut stack: Vec<Cell> = Vec::new();
    let mut tops: Vec<Cell> = Vec::new();
    let mut holes: Vec<Cell> = Vec::new();
    let height = layout.size[1];
    for seed_cell in seeds {
        let start = seed_cell.index;
        let cells = world.pools();
        let m = cells.material[start];
        let pool = pooling[m as usize];
        // An earlier body's trade may have changed the seed.
        let moved = cells.flags[start] & MOVED != 0;
        if pool == Pooling::No || moved || body.contains(start) {
            continue;
        }
        let grid = Grid {
            layout,
            table: world.table(),
            page_cells,
            stride,
        };
        let Pools {
            material, flags, ..
        } = world.pools();
        let set = through(m);
        let resting = |i: usize| material[i] == m && flags[i] & MOVED == 0;
        let enterable = |i: usize| {
            let t = material[i];
            has(set, t) && (table.kind[t as usize] == Kind::Empty || flags[i] & MOVED == 0)
        };
        // One cell on in the way the material falls (down, or up for a
        // rising gas), if it could go there.
        let fall = |c: Cell| {
            let n = if pool == Pooling::Up {
                grid.near::<1, true>(c)
            } else {
                grid.near::<1, false>(c)
            };
            n.filter(|n| enterable(n.index))
        };
        // A hole next to the body, taken where what fills it would land:
        // water poured over the edge of a pit lands at its bottom.
        // Elevation: height against the way the material falls.
        let elevation = |c: &Cell| match pool {
            Pooling::Up => height - 1 - c.at[1],
            _ => c.at[1],
        };
        let land = |mut c: Cell| {
            while let Some(below) = fall(c) {
                c = below;
            }
            c
        };
        // Holes beside the body where what fills them would not fall (a
        // film's edge on a floor): the floor is searched from them below.
        let mut edges: Vec<Cell> = Vec::new();
        // Whether `c` lies on the body's own liquid: a walk along the body's
        // surface finds nothing lower than the body.
        let on_body = |c: Cell| {
            let n = if pool == Pooling::Up {
                grid.near::<1, true>(c)
            } else {
                grid.near::<1, false>(c)
            };
            n.is_some_and(|n| material[n.index] == m)
        };
        let mut hole = |n: Cell, beside: bool, holes: &mut Vec<Cell>| {
            let landing = land(n);
            if beside && landing.index == n.index && !on_body(n) {
                edges.push(n);
            }
            if hole_seen.insert(landing.index) {
                holes.push(landing);
            }
        };
        stats.bodies += 1;
        tops.clear();
        holes.clear();
        // A scanline flood: each popped cell grows into its whole run of
        // resting cells along x, and only the first cell of each run next
        // to it above, below, in front and behind is pushed.
        stack.push(seed_cell);
        let unvisited = |body: &Bits, n: Option<Cell>| {
            n.filter(|n| resting(n.index) && !body.contains(n.index))
        };
        // Which of the four sides below is the surface side.
        let surface_side = if pool == Pooling::Up { 1 } else { 0 };
        while let Some(c) = stack.pop() {
            if body.contains(c.index) {
                continue;
            }
            let mut first = c;
            while let Some(l) = unvisited(&body, grid.near::<0, false>(first)) {
                first = l;
            }
            // The fluid before the run (the one after it is seen below).
            if let Some(n) = grid.near::<0, false>(first).filter(|n| enterable(n.index)) {
                hole(n, true, &mut holes);
            }
            // Whether the previous cell's neighbour, per side, was pushed
            // or visited (then this one's is in the same run).
            let mut pushed = [false; 4];
            let mut cell = Some(first);
            while let Some(x) = cell.filter(|x| resting(x.index) && !body.contains(x.index)) {
                body.insert(x.index);
                let sides = [
                    grid.near::<1, true>(x),
                    grid.near::<1, false>(x),
                    grid.near::<2, true>(x),
                    grid.near::<2, false>(x),
                ];
                for (k, n) in sides.into_iter().enumerate() {
                    let Some(n) = n else {
                        pushed[k] = false;
                        continue;
                    };
                    if resting(n.index) {
                        if !pushed[k] && !body.contains(n.index) {
                            stack.push(n);
                        }
                        pushed[k] = true;
                        continue;
                    }
                    pushed[k] = false;
                    if k == surface_side && has(set, material[n.index]) {
                        tops.push(x);
                    }
                    if enterable(n.index) {
                        hole(n, k >= 2, &mut holes);
                    }
                }
                cell = grid.near::<0, true>(x);
                if let Some(n) = cell.filter(|n| !resting(n.index) && enterable(n.index)) {
                    hole(n, true, &mut holes);
                }
            }
        }
        // From the edges, along the floor (enterable cells that do not fall)
        // up to `FLOOR_REACH` steps, to the first places where what flows
        // there would pour over and land lower: a film of carbon dioxide
        // finds the pit a few steps from it.
        let mut frontier: Vec<(Cell, usize)> = edges.drain(..).map(|c| (c, 0)).collect();
        let mut next = 0;
        while let Some(&(c, steps)) = frontier.get(next) {
            next += 1;
            if steps >= FLOOR_REACH || next > FLOOR_BUDGET {
                continue;
            }
            let around = [
                grid.near::<0, true>(c),
                grid.near::<0, false>(c),
                grid.near::<2, true>(c),
                grid.near::<2, false>(c),
            ];
            for n in around.into_iter().flatten() {
                if !enterable(n.index) || !floor_seen.insert(n.index) {
                    continue;
                }
                floor_touched.push(n.index);
                if fall(n).is_some() {
                    let landing = land(n);
                    if hole_seen.insert(landing.index) {
                        holes.push(landing);
                    }
                } else if !on_body(n) {
                    frontier.push((n, steps + 1));
                }
            }
        }
        // Hole and floor bits are per body: clear them for the next.
        for i in floor_touched.drain(..) {
            floor_seen.remove(i);
        }
        for h in &holes {
            hole_seen.remove(h.index);
        }
        let highest = tops.iter().map(elevation).max();
        let lowest = holes.iter().map(elevation).min();
        if !matches!((highest, lowest), (Some(t), Some(h)) if t > h) {
            continue;
        }
        stats.trades += trade_level(world, table, m, set, &tops, &holes, &elevation, seed, frame);
    }
    stats
}

/// Whether `cells` holds any of `ids`. Eight ids at a time are compared
/// across 64 cells with no early exit, a loop that vectorises (a table
/// lookup per cell would not); most pages a frame touches hold no liquid.
fn holds_any(cells: &[u8], ids: &[u8]) -> bool {
    ids.chunks(8).any(|ids| {
        let mut set = [ids[0]; 8];
        set[..ids.len()].copy_from_slice(ids);
        cells
            .chunks(64)
            .any(|c| c.iter().fold(false, |found, m| found | set.contains(m)))
    })
}

/// Makes a quarter (at least one) of the trades `tops` and `holes` of one
/// body of `m` (which moves through `set`) allow: the highest tops with the
/// lowest holes by `elevation`, each top above its hole, equal elevations in
/// the order of a hash of (seed, frame, cell). Returns the trades made.
#[allow(clippy::too_many_arguments)]
fn trade_level(
    world: &mut VoxelWorld,
    table: &MaterialTable,
    m: u8,
    set: &[bool; 256],
    tops: &[Cell],
    holes: &[Cell],
    elevation: &dyn Fn(&Cell) -> u32,
    seed: u64,
    frame: u64,
) -> u64 {
    let key = |c: &Cell| hash3(seed, frame ^ STREAM << 56, pack(c.at));
    // Highest tops first, lowest holes first, equal elevations by key.
    let mut tops: Vec<(Reverse<u32>, u64, Cell)> = tops
        .iter()
        .map(|c| (Reverse(elevation(c)), key(c), *c))
        .collect();
    let mut holes: Vec<(u32, u64, Cell)> =
        holes.iter().map(|c| (elevation(c), key(c), *c)).collect();
    let pairs = pairs_above(tops.iter().map(|t| t.0 .0), holes.iter().map(|h| h.0));
    let viscosity = table.viscosity[m as usize];
    let trades = if viscosity > 0.0 {
        // A viscous liquid levels that much more slowly (a paste not at all).
        (pairs as f64 * f64::from(1.0 - viscosity) / 4.0).ceil() as usize
    } else {
        pairs.div_ceil(4)
    };
    // Only the first `trades` of each need sorting.
    let by_order =
        |a: &(Reverse<u32>, u64, Cell), b: &(Reverse<u32>, u64, Cell)| (a.0, a.1).cmp(&(b.0, b.1));
    if trades < tops.len() {
        tops.select_nth_unstable_by(trades, by_order);
    }
    tops[..trades].sort_unstable_by(by_order);
    let by_height = |a: &(u32, u64, Cell), b: &(u32, u64, Cell)| (a.0, a.1).cmp(&(b.0, b.1));
    if trades < holes.len() {
        holes.select_nth_unstable_by(trades, by_height);
    }
    holes[..trades].sort_unstable_by(by_height);
    for (t, h) in tops.iter().zip(&holes).take(trades) {
        let (t, h) = (t.2, h.2);
        // The body was flooded after the earlier bodies' trades, and its
        // tops and holes are different cells: every pair is still good.
        let Pools {
            material, flags, ..
        } = world.pools();
        let hole = material[h.index];
        debug_assert!(
            material[t.index] == m
                && flags[t.index] & MOVED == 0
                && has(set, hole)
                && (table.kind[hole as usize] == Kind::Empty || flags[h.index] & MOVED == 0),
            "a trade between cells that changed since the flood"
        );
        trade(world, t, h);
    }
    trades as u64
}

/// How many of `heights` there are of each.
fn histogram(heights: impl Iterator<Item = u32>) -> BTreeMap<u32, usize> {
    let mut counts = BTreeMap::new();
    for y in heights {
        *counts.entry(y).or_default() += 1;
    }
    counts
}

/// How many of the highest `tops` lie above as many of the lowest `holes`,
/// paired highest with lowest: counted from histograms of their heights,
/// without sorting them.
fn pairs_above(tops: impl Iterator<Item = u32>, holes: impl Iterator<Item = u32>) -> usize {
    let (tops, holes) = (histogram(tops), histogram(holes));
    // Walk tops from the highest and holes from the lowest, a height at a
    // time, while the current top is above the current hole.
    let (mut t, mut h) = (tops.iter().rev(), holes.iter());
    let (mut left_t, mut left_h) = (0usize, 0usize);
    let (mut top_y, mut hole_y) = (0u32, 0u32);
    let mut pairs = 0;
    loop {
        if left_t == 0 {
            let Some((&y, &n)) = t.next() else { break };
            (top_y, left_t) = (y, n);
        }
        if left_h == 0 {
            let Some((&y, &n)) = h.next() else { break };
            (hole_y, left_h) = (y, n);
        }
        if top_y <= hole_y {
            break;
        }
        let k = left_t.min(left_h);
        pairs += k;
        left_t -= k;
        left_h -= k;
    }
    pairs
}

/// Swaps two cells' material, temperature and latent heat, flags both as
/// moved and wakes the pages that can see them.
fn trade(world: &mut VoxelWorld, a: Cell, b: Cell) {
    let cells = world.pools_mut();
    cells.material.swap(a.index, b.index);
    cells.temperature.swap(a.index, b.index);
    cells.latent.swap(a.index, b.index);
    let flags = cells.flags;
    flags[a.index] |= MOVED;
    flags[b.index] |= MOVED;
    world.wake_cell(a.at);
    world.wake_cell(b.at);
}

/// World coordinates of the cell at `offset` in the page at `origin`.
fn local(layout: &WorldLayout, origin: [u32; 3], offset: usize) -> [u32; 3] {
    let p = layout.page as usize;
    [
        origin[0] + (offset % p) as u32,
        origin[1] + (offset / p % p) as u32,
        origin[2] + (offset / (p * p)) as u32,
    ]
}

/// A cell's coordinates as one id for the random order (as the sweep's
/// draws do: x and z in the two halves, y spread by an odd multiplier).
fn pack(at: [u32; 3]) -> u64 {
    (u64::from(at[0]) | u64::from(at[2]) << 32)
        ^ u64::from(at[1]).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

#[cfg(test)]
mod tests {
    use super::pairs_above;

    #[test]
    fn pairs_count_tops_above_holes_highest_with_lowest() {
        let pairs = |t: &[u32], h: &[u32]| pairs_above(t.iter().copied(), h.iter().copied());
        assert_eq!(pairs(&[5, 5, 4], &[3, 3, 3]), 3);
        assert_eq!(
            pairs(&[5, 4, 3], &[3, 4, 5]),
            1,
            "5 over 3; 4 is not over 4"
        );
        assert_eq!(pairs(&[4, 4], &[4, 4]), 0, "one height: nothing to level");
        assert_eq!(pairs(&[9], &[1, 2, 3]), 1);
        assert_eq!(pairs(&[], &[1]), 0);
        assert_eq!(pairs(&[7, 7, 7, 2], &[6, 6, 8]), 2);
    }
}
