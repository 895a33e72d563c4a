//! Placements spread over frames: with `[run] place_cells_per_frame`, a
//! `place` command larger than the budget is written a few rows a frame
//! instead of all in the frame it arrives, so one big command is not one
//! long frame.
//!
//! A placement is written in rows of its bounding box (x runs), bottom row
//! first (y, then z): a frame writes whole rows while its budget lasts, and
//! at least one, so every placement finishes. Placements are written in the
//! order they arrived: one waits until those before it are done. The world
//! that results, once all are written, is the one writing each in its own
//! frame gives; what the systems do between frames sees it part-built.

use std::collections::VecDeque;

use loam_storage::VoxelWorld;
use loam_systems::MaterialTable;

use crate::generate::fill_cells;
use crate::scenario::Fill;

/// The placements still to write, and the budget (a resource).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PlacementQueue {
    /// Cells a frame may write; `None` writes each placement whole.
    pub budget: Option<u64>,
    queue: VecDeque<Placement>,
    /// Cells of bounding-box rows written by placements in a frame after
    /// the one they arrived in, since the start.
    pub cells_spread: u64,
}

/// A placement under way.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Placement {
    fill: Fill,
    /// Rows of the bounding box already written.
    next_row: u64,
    /// Whether a frame has ended with it waiting or unfinished.
    spread: bool,
}

impl PlacementQueue {
    /// A queue writing at most `budget` cells a frame (`None`: no limit).
    pub fn new(budget: Option<u64>) -> Self {
        Self {
            budget,
            ..Self::default()
        }
    }

    /// Placements not yet finished.
    pub fn pending(&self) -> usize {
        self.queue.len()
    }

    /// Writes `fill` now when there is no budget, else queues it behind
    /// the placements still under way.
    pub fn place(&mut self, world: &mut VoxelWorld, table: &MaterialTable, fill: Fill, seed: u64) {
        match self.budget {
            None => crate::generate::apply_fill(world, table, &fill, seed),
            Some(_) => self.queue.push_back(Placement {
                fill,
                next_row: 0,
                spread: false,
            }),
        }
    }

    /// Writes this frame's share of the queued placements, in order.
    pub fn write_frame(&mut self, world: &mut VoxelWorld, table: &MaterialTable, seed: u64) {
        let Some(budget) = self.budget else { return };
        let size = world.layout().size;
        let mut left = budget;
        let mut first = true;
        while let Some(head) = self.queue.front_mut() {
            let (min, max) = head.fill.shape.bounds(size);
            let width = (max[0] - min[0]).max(0) as u64;
            let depth = (max[2] - min[2]).max(0) as u64;
            let rows = (max[1] - min[1]).max(0) as u64 * depth;
            // An empty box's rows hold nothing: all of them fit.
            let fits = left.checked_div(width).unwrap_or(rows);
            // At least one row a frame, so a row wider than the budget
            // still gets written.
            let take = (rows - head.next_row).min(if first { fits.max(1) } else { fits });
            if take == 0 && head.next_row < rows {
                break;
            }
            for (lo, hi) in row_boxes(min, max, depth, head.next_row, head.next_row + take) {
                fill_cells(table, &head.fill, seed, size, (lo, hi), |p, m, t| {
                    world.set_cell(p, m, t);
                });
            }
            if head.spread {
                self.cells_spread += take * width;
            }
            head.next_row += take;
            left = left.saturating_sub(take * width);
            first = false;
            if head.next_row < rows {
                break;
            }
            self.queue.pop_front();
        }
        for p in &mut self.queue {
            p.spread = true;
        }
    }

    /// What a saved run needs to go on: the placements under way.
    pub(crate) fn saved(&self) -> (Vec<Placement>, u64) {
        (self.queue.iter().cloned().collect(), self.cells_spread)
    }

    /// Takes the placements of [`saved`](Self::saved) back.
    pub(crate) fn restore(&mut self, (queue, spread): (Vec<Placement>, u64)) {
        self.queue = queue.into();
        self.cells_spread = spread;
    }
}

/// Boxes covering rows `from..to` of the box `[min, max)` (row `r` is
/// y = `min.y + r / depth`, z = `min.z + r % depth`): one per y layer.
fn row_boxes(
    min: [i64; 3],
    max: [i64; 3],
    depth: u64,
    from: u64,
    to: u64,
) -> impl Iterator<Item = ([i64; 3], [i64; 3])> {
    let mut r = from;
    std::iter::from_fn(move || {
        if r >= to || depth == 0 {
            return None;
        }
        let y = r / depth;
        let end = to.min((y + 1) * depth);
        let z0 = (r % depth) as i64;
        let z1 = z0 + (end - r) as i64;
        r = end;
        let y = min[1] + y as i64;
        Some((
            [min[0], y, min[2] + z0],
            [max[0], y + 1, (min[2] + z1).min(max[2])],
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_boxes_cover_the_rows_asked_for_once() {
        let (min, max) = ([2, 3, 5], [6, 7, 9]);
        for from in 0..16 {
            for to in from..=16 {
                let mut rows = Vec::new();
                for (lo, hi) in row_boxes(min, max, 4, from, to) {
                    assert_eq!((lo[0], hi[0]), (2, 6));
                    assert_eq!(hi[1] - lo[1], 1);
                    for z in lo[2]..hi[2] {
                        rows.push((lo[1] - 3) as u64 * 4 + (z - 5) as u64);
                    }
                }
                assert_eq!(rows, (from..to).collect::<Vec<_>>(), "{from}..{to}");
            }
        }
    }
}
