//! A mirror of the world for kernels that collide with it: per resident
//! page, in the page's slot, one bit per cell set where the cell stops
//! particles (solid or powder), then one set where it is loose (powder);
//! and the page table (page → slot + 1, 0 when the page is not resident,
//! which kernels treat as a wall, as the CPU does). A page is uploaded when
//! it becomes resident, moves slot or its
//! [change stamp](loam_storage::PageTable::change_stamp) moves, never the
//! whole world every frame.

use std::collections::HashMap;

use loam_storage::{VoxelWorld, WorldLayout};
use loam_systems::materials::{Kind, MaterialTable};
use wgpu::util::DeviceExt;

use crate::pools::key;
use crate::{GpuContext, GpuError};

/// Largest page table the mirror keeps densely on the GPU.
pub const MAX_PAGES: usize = 1 << 24;

/// The world's blocked cells and page table, on the GPU.
pub struct WorldMirror {
    layout: WorldLayout,
    pub(crate) table: wgpu::Buffer,
    pub(crate) solid: wgpu::Buffer,
    words_per_page: usize,
    /// Page → (slot, change stamp) as last uploaded.
    mirrored: HashMap<usize, (usize, u64)>,
    /// Pages uploaded since the mirror was made.
    pub uploaded: u64,
}

impl WorldMirror {
    /// An empty mirror for `world` (call [`WorldMirror::sync`] before use).
    pub fn new(gpu: &GpuContext, world: &VoxelWorld) -> Result<Self, GpuError> {
        let layout = *world.layout();
        if layout.page_count() > MAX_PAGES {
            return Err(GpuError::TooLarge(format!(
                "{} pages; the GPU mirror keeps a dense page table of at most {MAX_PAGES}",
                layout.page_count()
            )));
        }
        let words_per_page = layout.page_cells().div_ceil(32);
        let zeroed = |label, words: usize| {
            gpu.device
                .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some(label),
                    contents: bytemuck::cast_slice(&vec![0u32; words.max(1)]),
                    usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
                })
        };
        Ok(Self {
            layout,
            table: zeroed("world.table", layout.page_count()),
            solid: zeroed("world.solid", 2 * words_per_page * world.capacity()),
            words_per_page,
            mirrored: HashMap::new(),
            uploaded: 0,
        })
    }

    /// Brings the mirror up to date: pages that became resident, moved
    /// slot or changed are uploaded, pages no longer resident are marked
    /// absent. Returns how many pages were uploaded.
    pub fn sync(&mut self, gpu: &GpuContext, world: &VoxelWorld, table: &MaterialTable) -> usize {
        let stops: [bool; 256] =
            std::array::from_fn(|m| matches!(table.kind[m], Kind::Solid | Kind::Powder));
        let loose: [bool; 256] = std::array::from_fn(|m| table.kind[m] == Kind::Powder);
        let upload: Vec<usize> = world
            .resident_pages()
            .into_iter()
            .filter(|&p| self.mirrored.get(&p).copied() != key(world, p))
            .collect();
        let gone: Vec<usize> = self
            .mirrored
            .keys()
            .copied()
            .filter(|&p| world.table().resident_slot(p).is_none())
            .collect();
        for p in gone {
            self.mirrored.remove(&p);
            gpu.queue
                .write_buffer(&self.table, 4 * p as u64, bytemuck::bytes_of(&0u32));
        }
        let words = self.words_per_page;
        let mut bits = vec![0u32; 2 * words];
        for &p in &upload {
            let (Some((slot, stamp)), Some(view)) = (key(world, p), world.page(p)) else {
                continue;
            };
            bits.fill(0);
            for (i, &m) in view.material.iter().enumerate() {
                let bit = 1 << (i % 32);
                if stops[m as usize] {
                    bits[i / 32] |= bit;
                }
                if loose[m as usize] {
                    bits[words + i / 32] |= bit;
                }
            }
            let at = (slot * 2 * words * 4) as u64;
            gpu.queue
                .write_buffer(&self.solid, at, bytemuck::cast_slice(&bits));
            gpu.queue.write_buffer(
                &self.table,
                4 * p as u64,
                bytemuck::bytes_of(&(slot as u32 + 1)),
            );
            self.mirrored.insert(p, (slot, stamp));
        }
        self.uploaded += upload.len() as u64;
        upload.len()
    }

    /// The layout mirrored.
    pub fn layout(&self) -> &WorldLayout {
        &self.layout
    }
}
