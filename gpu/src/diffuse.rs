//! The field diffusion kernel: explicit substeps of one channel over a set
//! of 8³ bricks, ping-ponging between two storage buffers on the GPU and
//! read back once at the end.

use std::sync::atomic::{AtomicU64, Ordering};

use bytemuck::{Pod, Zeroable};
use loam_systems::fields::BRICK_CELLS;
use wgpu::util::DeviceExt;

use crate::timing::PassTimer;
use crate::{shaders, GpuContext, GpuError};

/// Invocations per workgroup (the shader's `@workgroup_size`).
const WORKGROUP: u32 = 64;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub(crate) struct Params {
    pub alpha: f32,
    pub bricks: u32,
    /// The result's factor (a decay), 1 for none.
    pub scale: f32,
}

/// The compiled diffusion pipeline.
pub struct FieldDiffusion {
    pipeline: wgpu::ComputePipeline,
    layout: wgpu::BindGroupLayout,
    timer: Option<PassTimer>,
    /// GPU time of the last run, ns (0 where the device has no timestamps).
    last_ns: AtomicU64,
}

impl FieldDiffusion {
    /// Compiles the kernel on `gpu`.
    pub fn new(gpu: &GpuContext) -> Self {
        let module = gpu
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some("fields_diffuse.wgsl"),
                source: wgpu::ShaderSource::Wgsl(shaders::FIELDS_DIFFUSE.into()),
            });
        let pipeline = gpu
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some("fields.diffuse"),
                layout: None,
                module: &module,
                entry_point: Some("diffuse"),
                compilation_options: Default::default(),
                cache: None,
            });
        let layout = pipeline.get_bind_group_layout(0);
        Self {
            pipeline,
            layout,
            timer: PassTimer::new(gpu),
            last_ns: AtomicU64::new(0),
        }
    }

    /// GPU time of the last [`FieldDiffusion::run`], ns; `None` where the
    /// device cannot time passes.
    pub fn last_gpu_ns(&self) -> Option<u64> {
        self.timer
            .as_ref()
            .map(|_| self.last_ns.load(Ordering::Relaxed))
    }

    /// Runs `substeps` substeps with `alpha` over `bricks` (cells x
    /// fastest) whose face neighbours (−x, +x, −y, +y, −z, +z) are
    /// `neighbours`, and returns the bricks' new cells.
    ///
    /// # Panics
    /// If the slices differ in length or a neighbour index is out of range.
    pub fn run(
        &self,
        gpu: &GpuContext,
        bricks: &[[f32; BRICK_CELLS]],
        neighbours: &[[Option<usize>; 6]],
        alpha: f32,
        substeps: u32,
    ) -> Result<Vec<[f32; BRICK_CELLS]>, GpuError> {
        assert_eq!(bricks.len(), neighbours.len(), "a neighbour row per brick");
        let n = bricks.len();
        if n == 0 {
            return Ok(Vec::new());
        }
        let device = &gpu.device;
        let links: Vec<i32> = neighbours
            .iter()
            .flatten()
            .map(|k| match k {
                Some(k) => {
                    assert!(*k < n, "neighbour {k} of {n} bricks");
                    *k as i32
                }
                None => -1,
            })
            .collect();
        let params = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("params"),
            contents: bytemuck::bytes_of(&Params {
                alpha,
                bricks: n as u32,
                scale: 1.0,
            }),
            usage: wgpu::BufferUsages::STORAGE,
        });
        let cells = |label| {
            device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents: bytemuck::cast_slice(bricks),
                usage: wgpu::BufferUsages::STORAGE
                    | wgpu::BufferUsages::COPY_SRC
                    | wgpu::BufferUsages::COPY_DST,
            })
        };
        let ping = [cells("cells.a"), cells("cells.b")];
        let links = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("neighbours"),
            contents: bytemuck::cast_slice(&links),
            usage: wgpu::BufferUsages::STORAGE,
        });
        let bind = |from: usize| {
            gpu.bind(
                "fields.diffuse",
                &self.layout,
                &[&params, &ping[from], &links, &ping[1 - from]],
            )
        };
        let groups = [bind(0), bind(1)];
        let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("fields.diffuse"),
        });
        let threads = (n * BRICK_CELLS) as u32;
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("fields.diffuse"),
                timestamp_writes: self.timer.as_ref().map(PassTimer::writes),
            });
            pass.set_pipeline(&self.pipeline);
            for s in 0..substeps as usize {
                pass.set_bind_group(0, &groups[s % 2], &[]);
                pass.dispatch_workgroups(threads.div_ceil(WORKGROUP), 1, 1);
            }
        }
        if let Some(timer) = &self.timer {
            timer.resolve(&mut encoder);
        }
        gpu.queue.submit([encoder.finish()]);
        if let Some(timer) = &self.timer {
            let [begin, end] = timer.read(gpu, "fields.diffuse")?;
            let ns = end.saturating_sub(begin) as f64 * f64::from(gpu.timestamp_period());
            self.last_ns.store(ns as u64, Ordering::Relaxed);
        }
        let last = substeps as usize % 2;
        gpu.read(&ping[last])
    }
}
