//! The fields' mirror on the GPU ([`GpuFields`]): every channel of every
//! brick stays in GPU buffers between frames, and a step sends only the
//! bricks the CPU wrote (see `loam_systems::fields::mirror`).
//!
//! Buffers, each with room for `capacity` bricks of 512 cells:
//! - one per channel, and one scratch buffer that each diffusion substep
//!   writes into and then trades places with the channel it stepped;
//! - the bricks' face neighbours (`i32`, −1 for none), sent when the
//!   bricks change;
//! - the peaks of the channels a substep stepped (7 floats a brick), the
//!   only thing read back between substeps.
//!
//! When bricks are freed, the kept ones move down on the GPU (buffer
//! copies into the scratch buffer, by coordinates); grown bricks are
//! cleared there. Neither is sent.

use bytemuck::{Pod, Zeroable};
use loam_systems::fields::{FieldMirror, MirrorStep, MirrorSync, Peaks, BRICK_CELLS, CHANNELS};
use std::collections::HashMap;

use crate::context::grid;
use crate::diffuse::Params as DiffuseParams;
use crate::runs::{length, runs, send};
use crate::timing::PassTimer;
use crate::{shaders, GpuContext, GpuError};

/// Bytes of one brick channel.
const BRICK_BYTES: u64 = (BRICK_CELLS * 4) as u64;

/// Floats of one brick's peaks: six faces, then the whole brick.
const PEAK_FLOATS: usize = 7;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct PeaksParams {
    bricks: u32,
    first: u32,
}

/// What the mirror was sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MirrorStats {
    /// Bricks whose cells were sent (every channel of each).
    pub bricks_sent: u64,
    /// Syncs that found the bricks changed (grown or freed).
    pub relayouts: u64,
}

/// Every channel of the fields' bricks, kept on the GPU. It steps the
/// fields as a [`FieldMirror`] through [`GpuFields::on`].
pub struct GpuFields {
    diffuse: wgpu::ComputePipeline,
    diffuse_layout: wgpu::BindGroupLayout,
    peaks: wgpu::ComputePipeline,
    peaks_layout: wgpu::BindGroupLayout,
    /// The bricks the buffers hold, in order.
    coords: Vec<[i32; 3]>,
    capacity: usize,
    buffers: Buffers,
    /// Per channel: the diffusion kernel's parameters.
    diffuse_params: [wgpu::Buffer; CHANNELS],
    /// Per step of a substep: where its peaks go.
    peaks_params: [wgpu::Buffer; CHANNELS],
    stats: MirrorStats,
    /// Times each substep's pass for Tracy, when a Tracy client runs.
    timer: Option<PassTimer>,
}

/// The buffers that grow with the bricks.
struct Buffers {
    channels: [wgpu::Buffer; CHANNELS],
    scratch: wgpu::Buffer,
    links: wgpu::Buffer,
    peaks: wgpu::Buffer,
}

impl Buffers {
    fn new(gpu: &GpuContext, capacity: usize) -> Self {
        let storage = |label, size| {
            gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size,
                usage: wgpu::BufferUsages::STORAGE
                    | wgpu::BufferUsages::COPY_SRC
                    | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        };
        let cells = capacity as u64 * BRICK_BYTES;
        Self {
            channels: std::array::from_fn(|_| storage("fields.channel", cells)),
            scratch: storage("fields.scratch", cells),
            links: storage("fields.links", capacity as u64 * 6 * 4),
            peaks: storage(
                "fields.peaks",
                (capacity * CHANNELS * PEAK_FLOATS * 4) as u64,
            ),
        }
    }
}

/// A [`GpuFields`] on its device: the [`FieldMirror`] that
/// `Fields::step_mirrored` steps.
pub struct FieldsOnGpu<'a> {
    gpu: &'a GpuContext,
    mirror: &'a mut GpuFields,
}

impl GpuFields {
    /// An empty mirror on `gpu`.
    pub fn new(gpu: &GpuContext) -> Self {
        let pipeline = |label, source: &str, entry| {
            let module = gpu
                .device
                .create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(label),
                    source: wgpu::ShaderSource::Wgsl(source.into()),
                });
            let pipeline = gpu
                .device
                .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(entry),
                    layout: None,
                    module: &module,
                    entry_point: Some(entry),
                    compilation_options: Default::default(),
                    cache: None,
                });
            let layout = pipeline.get_bind_group_layout(0);
            (pipeline, layout)
        };
        let (diffuse, diffuse_layout) =
            pipeline("fields_diffuse.wgsl", shaders::FIELDS_DIFFUSE, "diffuse");
        let (peaks, peaks_layout) =
            pipeline("fields_peaks.wgsl", shaders::FIELDS_PEAKS, "peaks_of");
        let params = |label, size: usize| {
            gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: size as u64,
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        };
        const START: usize = 64;
        Self {
            diffuse,
            diffuse_layout,
            peaks,
            peaks_layout,
            coords: Vec::new(),
            capacity: START,
            buffers: Buffers::new(gpu, START),
            diffuse_params: std::array::from_fn(|_| {
                params("fields.diffuse.params", size_of::<DiffuseParams>())
            }),
            peaks_params: std::array::from_fn(|_| {
                params("fields.peaks.params", size_of::<PeaksParams>())
            }),
            stats: MirrorStats::default(),
            timer: PassTimer::for_tracy(gpu),
        }
    }

    /// The mirror on `gpu`, the device it was made on, to step fields
    /// with.
    pub fn on<'a>(&'a mut self, gpu: &'a GpuContext) -> FieldsOnGpu<'a> {
        FieldsOnGpu { gpu, mirror: self }
    }

    /// What the mirror was sent so far.
    pub fn stats(&self) -> MirrorStats {
        self.stats
    }

    /// Bricks the mirror holds.
    pub fn bricks(&self) -> usize {
        self.coords.len()
    }

    /// Forgets every brick, so the next sync starts over (after an error,
    /// the buffers may hold anything).
    fn forget(&mut self) {
        self.coords.clear();
    }

    /// Makes room for `bricks`, keeping what the buffers hold.
    fn reserve(
        &mut self,
        gpu: &GpuContext,
        encoder: &mut wgpu::CommandEncoder,
        bricks: usize,
    ) -> Result<(), GpuError> {
        if bricks <= self.capacity {
            return Ok(());
        }
        // The peaks of five channels take more room than the cells of one
        // only below 15 floats a brick: the cells bound the capacity.
        let limit = gpu.device.limits().max_storage_buffer_binding_size;
        let most = (limit / BRICK_BYTES) as usize;
        if bricks > most {
            return Err(GpuError::TooLarge(format!(
                "{bricks} field bricks need {} MB a channel; the device binds {} MB",
                (bricks as u64 * BRICK_BYTES) >> 20,
                limit >> 20
            )));
        }
        let capacity = bricks.max(2 * self.capacity).min(most);
        let grown = Buffers::new(gpu, capacity);
        let held = self.coords.len() as u64 * BRICK_BYTES;
        for (old, new) in self.buffers.channels.iter().zip(&grown.channels) {
            if held > 0 {
                encoder.copy_buffer_to_buffer(old, 0, new, 0, held);
            }
        }
        self.buffers = grown;
        self.capacity = capacity;
        Ok(())
    }

    /// Moves the bricks to the order of `coords`: kept bricks copied to
    /// their new places, new ones cleared.
    fn relayout(&mut self, encoder: &mut wgpu::CommandEncoder, coords: &[[i32; 3]]) {
        let held = self.coords.len();
        if coords.starts_with(&self.coords) {
            // Only grown: clear the new bricks.
            if coords.len() > held {
                let (at, size) = (
                    held as u64 * BRICK_BYTES,
                    (coords.len() - held) as u64 * BRICK_BYTES,
                );
                for channel in &self.buffers.channels {
                    encoder.clear_buffer(channel, at, Some(size));
                }
            }
            return;
        }
        let old: HashMap<[i32; 3], usize> = self
            .coords
            .iter()
            .enumerate()
            .map(|(k, &b)| (b, k))
            .collect();
        // Runs of bricks that come from consecutive old places (`Some`) or
        // are new (`None`).
        let mut runs: Vec<(usize, Option<usize>, usize)> = Vec::new();
        for (k, b) in coords.iter().enumerate() {
            let from = old.get(b).copied();
            match runs.last_mut() {
                Some((_, Some(j), len)) if from == Some(*j + *len) => *len += 1,
                Some((_, None, len)) if from.is_none() => *len += 1,
                _ => runs.push((k, from, 1)),
            }
        }
        for c in 0..CHANNELS {
            for &(k, from, len) in &runs {
                let (to, size) = (k as u64 * BRICK_BYTES, len as u64 * BRICK_BYTES);
                match from {
                    Some(j) => encoder.copy_buffer_to_buffer(
                        &self.buffers.channels[c],
                        j as u64 * BRICK_BYTES,
                        &self.buffers.scratch,
                        to,
                        size,
                    ),
                    None => encoder.clear_buffer(&self.buffers.scratch, to, Some(size)),
                }
            }
            std::mem::swap(&mut self.buffers.channels[c], &mut self.buffers.scratch);
        }
    }
}

impl FieldMirror for FieldsOnGpu<'_> {
    type Error = GpuError;

    fn sync(&mut self, sync: MirrorSync<'_>) -> Result<(), GpuError> {
        let (gpu, this) = (self.gpu, &mut *self.mirror);
        let n = sync.coords.len();
        if sync.coords != this.coords.as_slice() {
            let mut encoder = gpu
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("fields.relayout"),
                });
            if let Err(e) = this.reserve(gpu, &mut encoder, n) {
                this.forget();
                return Err(e);
            }
            this.relayout(&mut encoder, sync.coords);
            gpu.queue.submit([encoder.finish()]);
            this.coords = sync.coords.to_vec();
            this.stats.relayouts += 1;
            let links: Vec<i32> = sync
                .neighbours
                .iter()
                .flatten()
                .map(|n| n.map_or(-1, |k| k as i32))
                .collect();
            gpu.queue
                .write_buffer(&this.buffers.links, 0, bytemuck::cast_slice(&links));
        }
        // Written after the relayout's submission, so they land on top of
        // it (queue writes go before the next submission's commands).
        let bricks: Vec<(usize, usize)> = sync.written.iter().map(|&k| (k, k + 1)).collect();
        let written = runs(&bricks, |_| true);
        for (buffer, cells) in this.buffers.channels.iter().zip(sync.channels) {
            send(gpu, buffer, cells, &written);
        }
        this.stats.bricks_sent += length(&written);
        Ok(())
    }

    fn substep(&mut self, steps: &[MirrorStep]) -> Result<Vec<Vec<Peaks>>, GpuError> {
        let (gpu, this) = (self.gpu, &mut *self.mirror);
        let n = this.coords.len();
        if n == 0 || steps.is_empty() {
            return Ok(vec![Vec::new(); steps.len()]);
        }
        let mut encoder = gpu
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("fields.substep"),
            });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("fields.substep"),
                timestamp_writes: this.timer.as_ref().map(PassTimer::writes),
            });
            for (i, step) in steps.iter().enumerate() {
                let c = step.channel;
                gpu.queue.write_buffer(
                    &this.diffuse_params[c],
                    0,
                    bytemuck::bytes_of(&DiffuseParams {
                        alpha: step.alpha,
                        bricks: n as u32,
                        scale: step.scale,
                    }),
                );
                gpu.queue.write_buffer(
                    &this.peaks_params[i],
                    0,
                    bytemuck::bytes_of(&PeaksParams {
                        bricks: n as u32,
                        first: (i * n * PEAK_FLOATS) as u32,
                    }),
                );
                let b = &this.buffers;
                let diffuse = gpu.bind(
                    "fields.diffuse",
                    &this.diffuse_layout,
                    &[
                        &this.diffuse_params[c],
                        &b.channels[c],
                        &b.links,
                        &b.scratch,
                    ],
                );
                let peaks = gpu.bind(
                    "fields.peaks",
                    &this.peaks_layout,
                    &[&this.peaks_params[i], &b.scratch, &b.peaks],
                );
                pass.set_pipeline(&this.diffuse);
                pass.set_bind_group(0, &diffuse, &[]);
                let [x, y] = grid(n * BRICK_CELLS / 64);
                pass.dispatch_workgroups(x, y, 1);
                pass.set_pipeline(&this.peaks);
                pass.set_bind_group(0, &peaks, &[]);
                let [x, y] = grid(n);
                pass.dispatch_workgroups(x, y, 1);
                // The result is the channel now; its old cells are scratch.
                let b = &mut this.buffers;
                std::mem::swap(&mut b.channels[c], &mut b.scratch);
            }
        }
        if let Some(timer) = &this.timer {
            timer.resolve(&mut encoder);
        }
        gpu.queue.submit([encoder.finish()]);
        let floats: Vec<f32> = gpu
            .read_ranges(
                &this.buffers.peaks,
                &[(0, (steps.len() * n * PEAK_FLOATS * 4) as u64)],
            )
            .inspect_err(|_| this.forget())?;
        if let Some(timer) = &this.timer {
            timer.read(gpu, "fields.substep")?;
        }
        Ok(floats
            .chunks_exact(n * PEAK_FLOATS)
            .map(|channel| {
                channel
                    .chunks_exact(PEAK_FLOATS)
                    .map(|p| Peaks {
                        faces: [p[0], p[1], p[2], p[3], p[4], p[5]],
                        all: p[6],
                    })
                    .collect()
            })
            .collect())
    }

    fn read(&mut self, channels: &mut [Vec<[f32; BRICK_CELLS]>; CHANNELS]) -> Result<(), GpuError> {
        let (gpu, this) = (self.gpu, &mut *self.mirror);
        let bytes = this.coords.len() as u64 * BRICK_BYTES;
        let parts: Vec<(&wgpu::Buffer, u64, u64)> = this
            .buffers
            .channels
            .iter()
            .map(|b| (b, 0, bytes))
            .collect();
        // Every channel in one round trip.
        let cells: Vec<f32> = gpu.read_parts(&parts).inspect_err(|_| this.forget())?;
        let per_channel = this.coords.len() * BRICK_CELLS;
        for (c, out) in channels.iter_mut().enumerate() {
            out.clear();
            out.extend(
                cells[c * per_channel..(c + 1) * per_channel]
                    .chunks_exact(BRICK_CELLS)
                    .map(|c| <[f32; BRICK_CELLS]>::try_from(c).expect("whole bricks")),
            );
        }
        Ok(())
    }
}
