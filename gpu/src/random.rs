//! The CPU's counter-based randomness on the GPU (`shaders/random.wgsl`),
//! and a kernel that evaluates it for given counters, so tests can hold it
//! to the CPU's bit for bit.

use wgpu::util::DeviceExt;

use crate::{shaders, GpuContext, GpuError};

/// Splits a u64 into the (low, high) words the shaders use.
fn words(v: u64) -> [u32; 2] {
    [v as u32, (v >> 32) as u32]
}

/// `hash3(seed, frame, id)` and its unit value in [0, 1), computed on the
/// GPU for each triple.
pub fn hash3_on_gpu(gpu: &GpuContext, triples: &[[u64; 3]]) -> Result<Vec<(u64, f32)>, GpuError> {
    if triples.is_empty() {
        return Ok(Vec::new());
    }
    let device = &gpu.device;
    let input: Vec<[u32; 2]> = triples.iter().flat_map(|t| t.map(words)).collect();
    let inputs = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some("random.inputs"),
        contents: bytemuck::cast_slice(&input),
        usage: wgpu::BufferUsages::STORAGE,
    });
    let outputs = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("random.outputs"),
        size: (triples.len() * 16) as u64,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    });
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some("random_check.wgsl"),
        source: wgpu::ShaderSource::Wgsl(shaders::with_random(shaders::RANDOM_CHECK).into()),
    });
    let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some("random.check"),
        layout: None,
        module: &module,
        entry_point: Some("check"),
        compilation_options: Default::default(),
        cache: None,
    });
    let group = gpu.bind(
        "random.check",
        &pipeline.get_bind_group_layout(0),
        &[&inputs, &outputs],
    );
    let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
        label: Some("random"),
    });
    {
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("random.check"),
            timestamp_writes: None,
        });
        pass.set_pipeline(&pipeline);
        pass.set_bind_group(0, &group, &[]);
        pass.dispatch_workgroups((triples.len() as u32).div_ceil(64), 1, 1);
    }
    gpu.queue.submit([encoder.finish()]);
    let out: Vec<[u32; 4]> = gpu.read(&outputs)?;
    Ok(out
        .iter()
        .map(|o| {
            (
                u64::from(o[0]) | u64::from(o[1]) << 32,
                f32::from_bits(o[2]),
            )
        })
        .collect())
}
