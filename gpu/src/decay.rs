//! The field decay kernel (`shaders/fields_decay.wgsl`): one channel of a
//! set of bricks times a factor, in place.

use bytemuck::{Pod, Zeroable};
use loam_systems::fields::BRICK_CELLS;
use wgpu::util::DeviceExt;

use crate::{shaders, GpuContext, GpuError};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    factor: f32,
    cells: u32,
}

/// The compiled decay pipeline.
pub struct FieldDecay {
    pipeline: wgpu::ComputePipeline,
    layout: wgpu::BindGroupLayout,
}

impl FieldDecay {
    /// Compiles the kernel on `gpu`.
    pub fn new(gpu: &GpuContext) -> Self {
        let module = gpu
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some("fields_decay.wgsl"),
                source: wgpu::ShaderSource::Wgsl(shaders::FIELDS_DECAY.into()),
            });
        let pipeline = gpu
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some("fields.decay"),
                layout: None,
                module: &module,
                entry_point: Some("decay"),
                compilation_options: Default::default(),
                cache: None,
            });
        let layout = pipeline.get_bind_group_layout(0);
        Self { pipeline, layout }
    }

    /// `bricks` (one channel's cells) times `factor`.
    pub fn run(
        &self,
        gpu: &GpuContext,
        bricks: &[[f32; BRICK_CELLS]],
        factor: f32,
    ) -> Result<Vec<[f32; BRICK_CELLS]>, GpuError> {
        if bricks.is_empty() {
            return Ok(Vec::new());
        }
        let device = &gpu.device;
        let count = (bricks.len() * BRICK_CELLS) as u32;
        let params = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("fields.decay.params"),
            contents: bytemuck::bytes_of(&Params {
                factor,
                cells: count,
            }),
            usage: wgpu::BufferUsages::STORAGE,
        });
        let cells = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("fields.decay.cells"),
            contents: bytemuck::cast_slice(bricks),
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
        });
        let group = gpu.bind("fields.decay", &self.layout, &[&params, &cells]);
        let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("fields.decay"),
        });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("fields.decay"),
                timestamp_writes: None,
            });
            pass.set_pipeline(&self.pipeline);
            pass.set_bind_group(0, &group, &[]);
            pass.dispatch_workgroups(count.div_ceil(64), 1, 1);
        }
        gpu.queue.submit([encoder.finish()]);
        gpu.read(&cells)
    }
}
