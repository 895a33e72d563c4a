//! Loam's paged voxel world: layout and Morton page ids, the page table,
//! flat per-channel pools, and the world resource that ties them together.
//!
//! A world of `size` cells is cut into pages of `P³` cells. Every channel of
//! every resident page lives in one flat pool per channel; a page's cells are
//! the pool's slot `s`, i.e. `pool[s * P³ .. (s + 1) * P³]`, laid out x
//! fastest, then y, then z.
//!
//! ```
//! use loam_storage::{VoxelWorld, WorldLayout};
//!
//! let layout = WorldLayout::new([64, 32, 64], 16).unwrap();
//! let mut world = VoxelWorld::new(layout, 0, 293.15);
//! world.set_cell([3, 4, 5], 7, 300.0);
//! assert_eq!(world.material([3, 4, 5]), Some(7));
//! assert_eq!(world.material([64, 0, 0]), None); // outside
//! ```

pub mod file;
pub mod io;
pub mod layout;
pub mod morton;
pub mod neighbourhood;
pub mod page_table;
pub mod pool;
pub mod query;
pub mod snapshot;
pub mod stream;
#[cfg(test)]
mod test_draws;
pub mod world;
pub mod zarr;

pub use layout::{LayoutError, WorldLayout};
pub use morton::PageId;
pub use page_table::{PageState, PageTable};
pub use pool::ChannelPool;
pub use query::{BoxCount, CellPos, PagePos};
pub use snapshot::{ChangeKind, PageChange, RefreshStats, WorldSnapshot};
pub use world::{HaloPage, PageView, PageViewMut, Pools, PoolsMut, VoxelWorld};
