//! The world's cell pools on the GPU, slot for slot, kept in step with the
//! CPU's world, which stays the authority: a kernel's pages are sent only
//! when their [change stamp](loam_storage::PageTable::change_stamp) or
//! slot moved since the GPU had them, and the pages a kernel changed are
//! copied back.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use loam_storage::VoxelWorld;
use wgpu::util::DeviceExt;

use crate::{GpuContext, GpuError};

/// The material, temperature, latent heat and (optionally) flag pools of a
/// world on the GPU. Byte pools are the CPU's bytes, read by kernels 4 to a
/// word.
pub(crate) struct PoolMirror {
    pub material: wgpu::Buffer,
    pub temperature: wgpu::Buffer,
    pub latent: wgpu::Buffer,
    pub flags: Option<wgpu::Buffer>,
    cells: usize,
    /// Page → (slot, change stamp) of what the GPU holds; a page missing
    /// here is not on the GPU.
    mirrored: Mutex<HashMap<usize, (usize, u64)>>,
    /// Pages sent since the mirror was made.
    uploaded: AtomicU64,
}

impl PoolMirror {
    /// Copies `world`'s pools (the flags too, if `with_flags`).
    pub fn new(gpu: &GpuContext, world: &VoxelWorld, label: &str, with_flags: bool) -> Self {
        let buffer = |name: &str, bytes: &[u8]| {
            gpu.device
                .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some(&format!("{label}.{name}")),
                    contents: bytes,
                    usage: wgpu::BufferUsages::STORAGE
                        | wgpu::BufferUsages::COPY_SRC
                        | wgpu::BufferUsages::COPY_DST,
                })
        };
        let pools = world.pools();
        Self {
            material: buffer("material", pools.material),
            temperature: buffer("temperature", bytemuck::cast_slice(pools.temperature)),
            latent: buffer("latent", bytemuck::cast_slice(pools.latent)),
            flags: with_flags.then(|| buffer("flags", pools.flags)),
            cells: world.layout().page_cells(),
            mirrored: Mutex::new(
                world
                    .resident_pages()
                    .into_iter()
                    .filter_map(|p| Some((p, key(world, p)?)))
                    .collect(),
            ),
            uploaded: AtomicU64::new(0),
        }
    }

    /// Sends those of `pages` whose change stamp or slot moved since the
    /// GPU had them. Returns the pages whose slot moved (or that are no
    /// longer resident), for a caller that keeps a page table on the GPU.
    pub fn sync(&self, gpu: &GpuContext, world: &VoxelWorld, pages: &[usize]) -> Vec<usize> {
        let mut moved = Vec::new();
        let mut mirrored = self.lock();
        for &p in pages {
            let now = key(world, p);
            let had = mirrored.get(&p).copied();
            if had == now {
                continue;
            }
            if had.map(|k| k.0) != now.map(|k| k.0) {
                moved.push(p);
            }
            let Some((slot, stamp)) = now else {
                mirrored.remove(&p);
                continue;
            };
            let cells = slot * self.cells..(slot + 1) * self.cells;
            let at = cells.start as u64;
            let pools = world.pools();
            gpu.queue
                .write_buffer(&self.material, at, &pools.material[cells.clone()]);
            if let Some(flags) = &self.flags {
                gpu.queue
                    .write_buffer(flags, at, &pools.flags[cells.clone()]);
            }
            gpu.queue.write_buffer(
                &self.temperature,
                4 * at,
                bytemuck::cast_slice(&pools.temperature[cells.clone()]),
            );
            gpu.queue.write_buffer(
                &self.latent,
                4 * at,
                bytemuck::cast_slice(&pools.latent[cells]),
            );
            mirrored.insert(p, (slot, stamp));
            self.uploaded.fetch_add(1, Ordering::Relaxed);
        }
        moved
    }

    /// Copies `pages` back into `world`. Call it after the CPU has touched
    /// them (their stamps moved): the GPU then holds what `world` holds.
    pub fn download(
        &self,
        gpu: &GpuContext,
        world: &mut VoxelWorld,
        pages: &[usize],
    ) -> Result<(), GpuError> {
        let cells = self.cells;
        let slots: Vec<(usize, usize)> = pages
            .iter()
            .filter_map(|&p| Some((p, world.table().resident_slot(p)?)))
            .collect();
        let ranges = |bytes: usize| -> Vec<(u64, u64)> {
            slots
                .iter()
                .map(|&(_, s)| ((s * cells * bytes) as u64, (cells * bytes) as u64))
                .collect()
        };
        let material: Vec<u8> = gpu.read_ranges(&self.material, &ranges(1))?;
        let temperature: Vec<f32> = gpu.read_ranges(&self.temperature, &ranges(4))?;
        let latent: Vec<f32> = gpu.read_ranges(&self.latent, &ranges(4))?;
        let flags: Option<Vec<u8>> = match &self.flags {
            Some(f) => Some(gpu.read_ranges(f, &ranges(1))?),
            None => None,
        };
        let mut mirrored = self.lock();
        for (k, &(p, s)) in slots.iter().enumerate() {
            let (to, from) = (s * cells..(s + 1) * cells, k * cells..(k + 1) * cells);
            let pools = world.pools_mut();
            pools.material[to.clone()].copy_from_slice(&material[from.clone()]);
            pools.temperature[to.clone()].copy_from_slice(&temperature[from.clone()]);
            pools.latent[to.clone()].copy_from_slice(&latent[from.clone()]);
            if let Some(flags) = &flags {
                pools.flags[to].copy_from_slice(&flags[from]);
            }
            mirrored.extend(key(world, p).map(|k| (p, k)));
        }
        Ok(())
    }

    /// Pages sent since the mirror was made (not counting the first copy).
    pub fn uploaded(&self) -> u64 {
        self.uploaded.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<usize, (usize, u64)>> {
        self.mirrored.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What a mirror of the world records of page `p`: its slot and change
/// stamp, `None` when it is not resident.
pub(crate) fn key(world: &VoxelWorld, p: usize) -> Option<(usize, u64)> {
    Some((
        world.table().resident_slot(p)?,
        world.table().change_stamp(p)?,
    ))
}
