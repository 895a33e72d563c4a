//! World generation: a scenario's fills written into cells, for a world
//! held in memory and for the pages a streamed world generates.
//!
//! A world is generated a page at a time: each page visits only the cells
//! of each fill inside it, row by row, writing runs of cells straight into
//! its channels, with whole-page fills where a fill covers the page. The
//! pages of a world held in memory are generated in parallel, into their
//! pool slots; what they wake is gathered per page and applied after, so
//! the world is the one writing the fills cell by cell gives
//! ([`apply_fill`]), bit for bit, with the same pages awake.

use rayon::prelude::*;

use loam_storage::neighbourhood::seen_by_box;
use loam_storage::{VoxelWorld, WorldLayout};
use loam_systems::materials::AMBIENT;
use loam_systems::MaterialTable;

use crate::scenario::shape::terrain_top;
use crate::scenario::{Fill, Shape};

/// Writes `fill` into the world, waking what it touches.
pub(crate) fn apply_fill(world: &mut VoxelWorld, table: &MaterialTable, fill: &Fill, seed: u64) {
    let size = world.layout().size;
    let all = ([0; 3], size.map(i64::from));
    fill_cells(table, fill, seed, size, all, |p, m, t| {
        world.set_cell(p, m, t);
    });
}

/// Calls `put(cell, material, temperature)` for each cell of `fill` inside
/// `clip` (`[min, max)`), in a world of `size`.
pub(crate) fn fill_cells(
    table: &MaterialTable,
    fill: &Fill,
    seed: u64,
    size: [u32; 3],
    clip: ([i64; 3], [i64; 3]),
    mut put: impl FnMut([u32; 3], u8, f32),
) {
    let temperature = fill
        .temperature
        .unwrap_or_else(|| spawn_temperature(table, fill.material));
    let surface = match fill.shape {
        Shape::NoiseTerrain { surface, .. } => surface,
        _ => None,
    };
    fill.shape.for_each_cell_in(size, seed, clip, |p, depth| {
        let m = match surface {
            Some((s, d)) if depth < d => s,
            _ => fill.material,
        };
        let t = if m == fill.material {
            temperature
        } else {
            spawn_temperature(table, m)
        };
        put(p, m, t);
    });
}

/// The temperature a new cell of material `m` starts at.
pub(crate) fn spawn_temperature(table: &MaterialTable, m: u8) -> f32 {
    table.get(m).map_or(AMBIENT, |m| m.spawn_temperature)
}

/// Generates the fills of a new world held in memory (every page resident,
/// all air at ambient temperature, asleep) straight into its pages, in
/// parallel on the current rayon pool, and wakes what they touch. The
/// result is that of [`apply_fill`] for each fill in order.
pub(crate) fn generate_world(
    world: &mut VoxelWorld,
    table: &MaterialTable,
    fills: &[Fill],
    seed: u64,
) {
    let _zone = loam_runtime::profiling::zone("worldgen");
    let layout = *world.layout();
    let fills: Vec<PageFill> = fills
        .iter()
        .map(|f| PageFill::new(table, f, seed, layout.size, true))
        .collect();
    let seen: Vec<(usize, u32)> = world
        .resident_pages_mut()
        .into_par_iter()
        .map(|(p, view)| {
            let page = PageCells::of(&layout, p);
            let seen = fills.iter().fold(0, |seen, f| {
                seen | f.write(&page, view.material, view.temperature)
            });
            (p, seen)
        })
        .collect();
    for (p, seen) in seen.into_iter().filter(|&(_, s)| s != 0) {
        world.wake_seen(p, seen);
    }
}

/// Where a page lies: its first cell and edge.
pub(crate) struct PageCells {
    origin: [i64; 3],
    edge: i64,
}

impl PageCells {
    /// Page `p` of `layout`.
    pub(crate) fn of(layout: &WorldLayout, p: usize) -> Self {
        let edge = i64::from(layout.page);
        Self {
            origin: layout.page_coord(p).map(|c| i64::from(c) * edge),
            edge,
        }
    }

    /// The index of local cell `(x, y, z)`, x fastest.
    #[inline]
    fn index(&self, x: i64, y: i64, z: i64) -> usize {
        (x + self.edge * (y + self.edge * z)) as usize
    }
}

/// A fill ready to write pages: its temperatures resolved, its bounds, and
/// a terrain's column heights (for the whole world, when it is generated
/// whole; otherwise per page).
pub(crate) struct PageFill<'a> {
    fill: &'a Fill,
    /// The world's size.
    size: [u32; 3],
    seed: u64,
    /// Its cells' bounding box in the world, `[min, max)`.
    bounds: ([i64; 3], [i64; 3]),
    temperature: f32,
    /// A terrain's surface: material, depth, temperature.
    surface: Option<(u8, u32, f32)>,
    /// A terrain's column heights, x fastest, over the whole world.
    tops: Option<Vec<i64>>,
}

impl<'a> PageFill<'a> {
    /// `fill` in a world of `size`; `whole` computes a terrain's heights
    /// for every column at once (in parallel), for a world generated whole.
    pub(crate) fn new(
        table: &MaterialTable,
        fill: &'a Fill,
        seed: u64,
        size: [u32; 3],
        whole: bool,
    ) -> Self {
        let tops = match fill.shape {
            Shape::NoiseTerrain { height, scale, .. } if whole => {
                let [w, _, d] = size.map(i64::from);
                let mut tops = vec![0; (w * d) as usize];
                tops.par_chunks_mut(w.max(1) as usize)
                    .enumerate()
                    .for_each(|(z, row)| {
                        for (x, top) in row.iter_mut().enumerate() {
                            *top = terrain_top(height, scale, size, seed, x as i64, z as i64);
                        }
                    });
                Some(tops)
            }
            _ => None,
        };
        let surface = match fill.shape {
            Shape::NoiseTerrain {
                surface: Some((m, depth)),
                ..
            } => {
                // A surface of the fill's own material is the fill's.
                let t = if m == fill.material {
                    None
                } else {
                    Some(spawn_temperature(table, m))
                };
                t.map(|t| (m, depth, t))
            }
            _ => None,
        };
        Self {
            fill,
            size,
            seed,
            bounds: fill.shape.bounds(size),
            temperature: fill
                .temperature
                .unwrap_or_else(|| spawn_temperature(table, fill.material)),
            surface,
            tops,
        }
    }

    /// Writes the fill's cells inside `page` into its channels; returns
    /// the pages the written cells can be seen by (neighbourhood bits; 0
    /// when none was written).
    pub(crate) fn write(
        &self,
        page: &PageCells,
        material: &mut [u8],
        temperature: &mut [f32],
    ) -> u32 {
        let e = page.edge;
        // The fill's bounds in the page's local cells, `[lo, hi)`.
        let lo: [i64; 3] = std::array::from_fn(|a| (self.bounds.0[a] - page.origin[a]).max(0));
        let hi: [i64; 3] = std::array::from_fn(|a| (self.bounds.1[a] - page.origin[a]).min(e));
        if (0..3).any(|a| lo[a] >= hi[a]) {
            return 0;
        }
        let (m, t) = (self.fill.material, self.temperature);
        let local = |v: [i64; 3]| v.map(|c| c as i32);
        match self.fill.shape {
            Shape::Box { .. } => {
                if lo == [0; 3] && hi == [e; 3] {
                    // The uniform page.
                    material.fill(m);
                    temperature.fill(t);
                } else {
                    for z in lo[2]..hi[2] {
                        for y in lo[1]..hi[1] {
                            let row = page.index(lo[0], y, z)..page.index(hi[0], y, z);
                            material[row.clone()].fill(m);
                            temperature[row].fill(t);
                        }
                    }
                }
                seen_by_box(local(lo), local(hi.map(|v| v - 1)), e as i32)
            }
            Shape::Sphere { center, radius } => {
                let r2 = radius * radius;
                let o = page.origin;
                let mut seen = 0;
                for z in lo[2]..hi[2] {
                    let dz = (z + o[2]) as f64 + 0.5 - center[2];
                    for y in lo[1]..hi[1] {
                        let dy = (y + o[1]) as f64 + 0.5 - center[1];
                        // The same test as `Shape::for_each_cell_in`, cell by
                        // cell: the cells that pass form one run of the row.
                        let inside = |x: i64| {
                            let dx = (x + o[0]) as f64 + 0.5 - center[0];
                            dx * dx + dy * dy + dz * dz <= r2
                        };
                        let Some(first) = (lo[0]..hi[0]).find(|&x| inside(x)) else {
                            continue;
                        };
                        let end = (first..hi[0]).find(|&x| !inside(x)).unwrap_or(hi[0]);
                        let row = page.index(first, y, z)..page.index(end, y, z);
                        material[row.clone()].fill(m);
                        temperature[row].fill(t);
                        seen |= seen_by_box(local([first, y, z]), local([end - 1, y, z]), e as i32);
                    }
                }
                seen
            }
            Shape::NoiseTerrain { height, scale, .. } => {
                let o = page.origin;
                let top = |x: i64, z: i64| match &self.tops {
                    Some(tops) => tops[(x + o[0] + i64::from(self.size[0]) * (z + o[2])) as usize],
                    None => terrain_top(height, scale, self.size, self.seed, x + o[0], z + o[2]),
                };
                let mut seen = 0;
                let mut tops = vec![0i64; e as usize];
                // Cells this far below a column's top are the fill's own
                // material, not its surface.
                let depth = self.surface.map_or(0, |(_, d, _)| i64::from(d));
                for z in lo[2]..hi[2] {
                    let (mut solid_below, mut highest) = (i64::MAX, i64::MIN);
                    for x in lo[0]..hi[0] {
                        // The column's cells in the page: `lo[1]..end`.
                        let column_top = top(x, z);
                        tops[x as usize] = column_top;
                        solid_below = solid_below.min(column_top - depth);
                        highest = highest.max(column_top);
                        let end = (column_top - o[1]).min(hi[1]);
                        if end > lo[1] {
                            seen |=
                                seen_by_box(local([x, lo[1], z]), local([x, end - 1, z]), e as i32);
                        }
                    }
                    for y in lo[1]..hi[1] {
                        let world_y = y + o[1];
                        if world_y >= highest {
                            break;
                        }
                        let row = page.index(lo[0], y, z)..page.index(hi[0], y, z);
                        if world_y < solid_below {
                            // Every column of the row is solid here.
                            material[row.clone()].fill(m);
                            temperature[row].fill(t);
                            continue;
                        }
                        let cells = material[row.clone()]
                            .iter_mut()
                            .zip(&mut temperature[row])
                            .zip(&tops[lo[0] as usize..hi[0] as usize]);
                        for ((cm, ct), &column_top) in cells {
                            if world_y >= column_top {
                                continue;
                            }
                            (*cm, *ct) = match self.surface {
                                Some((s, d, st)) if column_top - 1 - world_y < i64::from(d) => {
                                    (s, st)
                                }
                                _ => (m, t),
                            };
                        }
                    }
                }
                seen
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use loam_runtime::random::unit3;
    use loam_storage::PageState;

    use super::*;

    /// A world made by writing `fills` cell by cell ([`apply_fill`]).
    fn cell_by_cell(
        layout: WorldLayout,
        table: &MaterialTable,
        fills: &[Fill],
        seed: u64,
    ) -> VoxelWorld {
        let mut world = VoxelWorld::new(layout, 0, AMBIENT);
        for fill in fills {
            apply_fill(&mut world, table, fill, seed);
        }
        world
    }

    /// Random fills of every shape, many reaching past the world's edges.
    fn random_fills(size: [u32; 3], materials: u8, case: u64) -> Vec<Fill> {
        let u = |k: u64| f64::from(unit3(case, 17, k));
        let s = size.map(f64::from);
        (0..1 + (u(0) * 5.0) as u64)
            .map(|f| {
                let k = 10 * (f + 1);
                let material = 1 + (u(k) * f64::from(materials - 1)) as u8;
                let shape = match (u(k + 1) * 3.0) as u32 {
                    0 => {
                        let min: [i64; 3] = std::array::from_fn(|a| {
                            (u(k + 2 + a as u64) * s[a] * 1.2 - s[a] * 0.1) as i64
                        });
                        let max = std::array::from_fn(|a| {
                            min[a] + 1 + (u(k + 5 + a as u64) * s[a]) as i64
                        });
                        Shape::Box { min, max }
                    }
                    1 => Shape::Sphere {
                        center: std::array::from_fn(|a| {
                            u(k + 2 + a as u64) * s[a] * 1.2 - s[a] * 0.1
                        }),
                        radius: 0.3 + u(k + 5) * s[0] * 0.6,
                    },
                    _ => {
                        let low = (u(k + 2) * s[1] * 0.5) as i64;
                        Shape::NoiseTerrain {
                            height: [low, low + (u(k + 3) * s[1]) as i64],
                            scale: 4.0 + u(k + 4) * 60.0,
                            surface: (u(k + 5) < 0.6).then(|| {
                                (
                                    1 + (u(k + 6) * f64::from(materials - 1)) as u8,
                                    (u(k + 7) * 4.0) as u32,
                                )
                            }),
                        }
                    }
                };
                let temperature = (u(k + 8) < 0.3).then(|| 200.0 + u(k + 9) as f32 * 900.0);
                Fill {
                    shape,
                    material,
                    temperature,
                }
            })
            .collect()
    }

    /// Generating a world page by page, in parallel, gives the world, the
    /// changed pages and the awake pages that writing its fills cell by
    /// cell gives, over random worlds, page sizes and fills at the edges.
    /// (Not the change stamps: a counter of touches, which only has to
    /// change.)
    #[test]
    fn pages_in_parallel_match_cell_by_cell() {
        let table = MaterialTable::default();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        for case in 0..60u64 {
            let u = |k: u64| unit3(case, 3, k);
            let page = [4u32, 8, 16][(u(0) * 3.0) as usize % 3];
            let size: [u32; 3] =
                std::array::from_fn(|a| page * (1 + (u(1 + a as u64) * 5.0) as u32));
            let layout = WorldLayout::new(size, page).unwrap();
            let fills = random_fills(size, table.len() as u8, case);
            let seed = case * 7 + 1;
            let expected = cell_by_cell(layout, &table, &fills, seed);
            let mut world = VoxelWorld::new(layout, 0, AMBIENT);
            pool.install(|| generate_world(&mut world, &table, &fills, seed));
            let label = format!("case {case}: {size:?} in pages of {page}, {fills:?}");
            assert_eq!(world.hash(), expected.hash(), "{label}");
            for p in 0..layout.page_count() {
                let (a, b) = (world.page(p).unwrap(), expected.page(p).unwrap());
                assert_eq!(a.material, b.material, "{label}: page {p}");
                assert_eq!(a.temperature, b.temperature, "{label}: page {p}");
                assert_eq!(
                    world.table().state(p),
                    expected.table().state(p),
                    "{label}: page {p}"
                );
            }
            let awake = |w: &VoxelWorld| {
                let mut v = w.table().woken().to_vec();
                v.sort_unstable();
                v
            };
            assert_eq!(awake(&world), awake(&expected), "{label}");
            assert!(
                world.table().pages_in(PageState::Dirty).count() > 0 || fills.is_empty(),
                "{label}"
            );
        }
    }
}
