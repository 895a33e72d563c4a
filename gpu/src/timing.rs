//! GPU timestamps around compute passes, where the adapter supports them
//! (`TIMESTAMP_QUERY`): how long a kernel ran on the GPU, and, with the
//! `tracy` feature and a Tracy client running, a GPU zone in Tracy.

use crate::{GpuContext, GpuError};

/// Two timestamps (begin, end) written by one compute pass.
pub(crate) struct PassTimer {
    queries: wgpu::QuerySet,
    resolved: wgpu::Buffer,
}

impl PassTimer {
    /// A timer, or `None` where the device has no timestamp queries.
    pub fn new(gpu: &GpuContext) -> Option<Self> {
        if !gpu.timestamps() {
            return None;
        }
        Some(Self {
            queries: gpu.device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("pass.timestamps"),
                ty: wgpu::QueryType::Timestamp,
                count: 2,
            }),
            resolved: gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("pass.timestamps.resolved"),
                size: 16,
                usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            }),
        })
    }

    /// A timer for Tracy's GPU zones alone: `None` unless a Tracy client
    /// runs (reading the timestamps back costs a round trip).
    pub fn for_tracy(gpu: &GpuContext) -> Option<Self> {
        Self::new(gpu).filter(|_| gpu.traces_to_tracy())
    }

    /// The pass descriptor's timestamp writes.
    pub fn writes(&self) -> wgpu::ComputePassTimestampWrites<'_> {
        wgpu::ComputePassTimestampWrites {
            query_set: &self.queries,
            beginning_of_pass_write_index: Some(0),
            end_of_pass_write_index: Some(1),
        }
    }

    /// Resolves the timestamps (after the pass, in the same encoder).
    pub fn resolve(&self, encoder: &mut wgpu::CommandEncoder) {
        encoder.resolve_query_set(&self.queries, 0..2, &self.resolved, 0);
    }

    /// The pass's begin and end, in GPU ticks (waits for the GPU); the
    /// `name`d GPU zone goes to Tracy when it runs.
    pub fn read(&self, gpu: &GpuContext, name: &str) -> Result<[u64; 2], GpuError> {
        let ticks: [u64; 2] = bytemuck::pod_read_unaligned(&gpu.read::<u8>(&self.resolved)?);
        gpu.trace(name, ticks);
        Ok(ticks)
    }
}
