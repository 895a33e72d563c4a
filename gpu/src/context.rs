//! The device: one instance, adapter, device and queue, set up once and
//! handed to every kernel (no hidden global state).

use thiserror::Error;

/// Storage buffers per shader stage that Loam's largest kernel (a soft-body
/// substep) binds; the device is refused below it. The kernel asserts at
/// compile time that it binds exactly this many.
pub(crate) const MOST_STORAGE_BUFFERS: u32 = 31;

/// What can go wrong on the GPU side.
#[derive(Debug, Error)]
pub enum GpuError {
    /// No adapter: no GPU and no software driver (on Debian, lavapipe is in
    /// `mesa-vulkan-drivers`).
    #[error("no GPU adapter found ({0}); install a Vulkan driver, e.g. Mesa's lavapipe (mesa-vulkan-drivers)")]
    NoAdapter(String),
    /// The adapter refused a device.
    #[error("the GPU adapter refused a device: {0}")]
    NoDevice(String),
    /// The adapter binds too few storage buffers per kernel (OpenGL, where
    /// Vulkan is missing, binds 16).
    #[error(
        "the GPU adapter {name} ({backend}) binds {has} storage buffers per kernel, Loam's \
         soft-body kernels bind {needs}; install a Vulkan driver, e.g. Mesa's lavapipe \
         (mesa-vulkan-drivers)"
    )]
    TooFewBuffers {
        /// The adapter's name.
        name: String,
        /// Its backend.
        backend: String,
        /// Storage buffers it binds per shader stage.
        has: u32,
        /// Storage buffers Loam's kernels bind.
        needs: u32,
    },
    /// Reading results back failed.
    #[error("reading back from the GPU failed: {0}")]
    Readback(String),
    /// The world is too large for a GPU mirror.
    #[error("the world is too large for the GPU: {0}")]
    TooLarge(String),
    /// A mirror no longer matches the world it was made for.
    #[error("the GPU mirror is stale: {0}")]
    Stale(String),
}

/// How a kernel binds a storage buffer (see `GpuContext::storage_layout`).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Access {
    /// Read only.
    Read,
    /// Read and written.
    ReadWrite,
    /// Read only, `size` bytes at an offset given when the group is bound.
    ReadAt(u64),
}

/// A headless wgpu device and its queue.
pub struct GpuContext {
    /// The device kernels are built on.
    pub device: wgpu::Device,
    /// The queue work is submitted to.
    pub queue: wgpu::Queue,
    info: wgpu::AdapterInfo,
    /// Tracy's GPU context, with the `tracy` feature when a Tracy client
    /// runs and the device has timestamps.
    #[cfg(feature = "tracy")]
    tracy: Option<tracy_client::GpuContext>,
    /// Zones sent to Tracy so far, by name (a few names, so it stays small).
    #[cfg(feature = "tracy")]
    zones_sent: std::sync::Mutex<std::collections::BTreeMap<String, u64>>,
}

impl GpuContext {
    /// The first adapter wgpu offers (a software one, such as llvmpipe,
    /// when there is no GPU), with the adapter's own limits; an error if
    /// it binds too few storage buffers for the soft-body kernels.
    pub fn new() -> Result<Self, GpuError> {
        // Headless: no display handle; WGPU_BACKEND and friends may pick
        // the backend.
        let instance =
            wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            ..Default::default()
        }))
        .map_err(|e| GpuError::NoAdapter(e.to_string()))?;
        let info = adapter.get_info();
        // Checked here rather than left to a panic in wgpu's validation
        // when the first soft body is sent.
        let has = adapter.limits().max_storage_buffers_per_shader_stage;
        if has < MOST_STORAGE_BUFFERS {
            return Err(GpuError::TooFewBuffers {
                name: info.name,
                backend: format!("{:?}", info.backend),
                has,
                needs: MOST_STORAGE_BUFFERS,
            });
        }
        // Timestamps where the adapter has them (GPU times, Tracy zones).
        let timestamps =
            wgpu::Features::TIMESTAMP_QUERY | wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS;
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("loam"),
            required_features: adapter.features() & timestamps,
            required_limits: adapter.limits(),
            ..Default::default()
        }))
        .map_err(|e| GpuError::NoDevice(e.to_string()))?;
        #[allow(unused_mut)]
        let mut gpu = Self {
            device,
            queue,
            info,
            #[cfg(feature = "tracy")]
            tracy: None,
            #[cfg(feature = "tracy")]
            zones_sent: Default::default(),
        };
        #[cfg(feature = "tracy")]
        {
            gpu.tracy = gpu.tracy_context();
        }
        Ok(gpu)
    }

    /// Whether passes can be timed on the GPU.
    pub fn timestamps(&self) -> bool {
        self.device
            .features()
            .contains(wgpu::Features::TIMESTAMP_QUERY)
    }

    /// Whether GPU zones go to Tracy (the `tracy` feature, a running Tracy
    /// client, and timestamps inside encoders).
    pub fn traces_to_tracy(&self) -> bool {
        #[cfg(feature = "tracy")]
        return self.tracy.is_some();
        #[cfg(not(feature = "tracy"))]
        false
    }

    /// Nanoseconds per GPU tick.
    pub fn timestamp_period(&self) -> f32 {
        self.queue.get_timestamp_period()
    }

    /// A Tracy GPU context calibrated with a timestamp written now, if a
    /// Tracy client runs and the device can write timestamps in encoders.
    #[cfg(feature = "tracy")]
    fn tracy_context(&self) -> Option<tracy_client::GpuContext> {
        let client = tracy_client::Client::running()?;
        if !self
            .device
            .features()
            .contains(wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS)
        {
            return None;
        }
        let queries = self.device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("tracy.calibration"),
            ty: wgpu::QueryType::Timestamp,
            count: 1,
        });
        let resolved = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("tracy.calibration"),
            size: 8,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("tracy"),
            });
        encoder.write_timestamp(&queries, 0);
        encoder.resolve_query_set(&queries, 0..1, &resolved, 0);
        self.queue.submit([encoder.finish()]);
        let now: u64 = bytemuck::pod_read_unaligned(&self.read::<u8>(&resolved).ok()?);
        client
            .new_gpu_context(
                Some(&self.info.name),
                tracy_client::GpuContextType::Vulkan,
                now as i64,
                self.timestamp_period(),
            )
            .ok()
    }

    /// How many GPU zones of each name went to Tracy so far.
    #[cfg(feature = "tracy")]
    pub fn tracy_zones_sent(&self) -> std::collections::BTreeMap<String, u64> {
        self.zones_sent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Sends a GPU zone `name` spanning `ticks` to Tracy, when it runs.
    pub(crate) fn trace(&self, name: &str, ticks: [u64; 2]) {
        #[cfg(feature = "tracy")]
        if let Some(Ok(mut span)) = self
            .tracy
            .as_ref()
            .map(|t| t.span_alloc(name, "loam_gpu", file!(), line!()))
        {
            span.end_zone();
            span.upload_timestamp_start(ticks[0] as i64);
            span.upload_timestamp_end(ticks[1] as i64);
            let mut sent = self.zones_sent.lock().unwrap_or_else(|e| e.into_inner());
            *sent.entry(name.to_owned()).or_default() += 1;
        }
        #[cfg(not(feature = "tracy"))]
        let _ = (name, ticks);
    }

    /// The adapter's name (e.g. "llvmpipe (LLVM 15.0.6, 256 bits)").
    pub fn adapter_name(&self) -> &str {
        &self.info.name
    }

    /// The adapter's kind: discrete, integrated, virtual, CPU or other.
    pub fn device_type(&self) -> wgpu::DeviceType {
        self.info.device_type
    }

    /// Blocks until every submitted command has run.
    pub fn wait(&self) -> Result<(), GpuError> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map(|_| ())
            .map_err(|e| GpuError::Readback(e.to_string()))
    }

    /// A bind group layout of storage buffers at bindings 0, 1, 2, ...,
    /// one per entry of `access`.
    pub(crate) fn storage_layout(&self, label: &str, access: &[Access]) -> wgpu::BindGroupLayout {
        let entries: Vec<wgpu::BindGroupLayoutEntry> = access
            .iter()
            .enumerate()
            .map(|(b, a)| wgpu::BindGroupLayoutEntry {
                binding: b as u32,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Storage {
                        read_only: !matches!(a, Access::ReadWrite),
                    },
                    has_dynamic_offset: matches!(a, Access::ReadAt(_)),
                    min_binding_size: match a {
                        Access::ReadAt(size) => wgpu::BufferSize::new(*size),
                        _ => None,
                    },
                },
                count: None,
            })
            .collect();
        self.device
            .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some(label),
                entries: &entries,
            })
    }

    /// A compute pipeline for each of the `entries` of the WGSL `source`,
    /// all with the bind group `layouts`.
    pub(crate) fn pipelines<const N: usize>(
        &self,
        label: &str,
        source: String,
        layouts: &[&wgpu::BindGroupLayout],
        entries: [&str; N],
    ) -> [wgpu::ComputePipeline; N] {
        let module = self
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(label),
                source: wgpu::ShaderSource::Wgsl(source.into()),
            });
        let groups: Vec<Option<&wgpu::BindGroupLayout>> =
            layouts.iter().map(|&l| Some(l)).collect();
        let layout = self
            .device
            .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some(label),
                bind_group_layouts: &groups,
                immediate_size: 0,
            });
        entries.map(|entry| {
            self.device
                .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(entry),
                    layout: Some(&layout),
                    module: &module,
                    entry_point: Some(entry),
                    compilation_options: Default::default(),
                    cache: None,
                })
        })
    }

    /// A bind group of `buffers` at bindings 0, 1, 2, ... of `layout`.
    pub(crate) fn bind(
        &self,
        label: &str,
        layout: &wgpu::BindGroupLayout,
        buffers: &[&wgpu::Buffer],
    ) -> wgpu::BindGroup {
        let entries: Vec<wgpu::BindGroupEntry<'_>> = buffers
            .iter()
            .enumerate()
            .map(|(b, buf)| wgpu::BindGroupEntry {
                binding: b as u32,
                resource: buf.as_entire_binding(),
            })
            .collect();
        self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(label),
            layout,
            entries: &entries,
        })
    }

    /// Copies `buffer` (which needs `COPY_SRC`) back to the CPU, waiting
    /// for the GPU.
    pub fn read<T: bytemuck::Pod>(&self, buffer: &wgpu::Buffer) -> Result<Vec<T>, GpuError> {
        self.read_ranges(buffer, &[(0, buffer.size())])
    }

    /// Copies the byte ranges `(offset, length)` of `buffer` (which needs
    /// `COPY_SRC`; both multiples of 4) back to the CPU, one after the
    /// other, waiting for the GPU.
    pub fn read_ranges<T: bytemuck::Pod>(
        &self,
        buffer: &wgpu::Buffer,
        ranges: &[(u64, u64)],
    ) -> Result<Vec<T>, GpuError> {
        let parts: Vec<(&wgpu::Buffer, u64, u64)> = ranges
            .iter()
            .map(|&(at, length)| (buffer, at, length))
            .collect();
        self.read_parts(&parts)
    }

    /// Copies the byte ranges `(buffer, offset, length)` (each buffer with
    /// `COPY_SRC`; offsets and lengths multiples of 4) back to the CPU, one
    /// after the other, in one round trip, waiting for the GPU.
    pub fn read_parts<T: bytemuck::Pod>(
        &self,
        parts: &[(&wgpu::Buffer, u64, u64)],
    ) -> Result<Vec<T>, GpuError> {
        let total: u64 = parts.iter().map(|r| r.2).sum();
        if total == 0 {
            return Ok(Vec::new());
        }
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: total,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("readback"),
            });
        let mut at = 0;
        for &(buffer, offset, length) in parts {
            encoder.copy_buffer_to_buffer(buffer, offset, &staging, at, length);
            at += length;
        }
        self.queue.submit([encoder.finish()]);
        let slice = staging.slice(..);
        let (tx, rx) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        self.wait()?;
        rx.recv()
            .map_err(|e| GpuError::Readback(e.to_string()))?
            .map_err(|e| GpuError::Readback(e.to_string()))?;
        let view = slice
            .get_mapped_range()
            .map_err(|e| GpuError::Readback(e.to_string()))?;
        // Copied out as `T`: the mapping's bytes need not be aligned for it.
        Ok(bytemuck::pod_collect_to_vec(&view))
    }
}

/// `groups` workgroups as rows of at most 65535 (the limit of a
/// dimension); the kernels skip those past the end.
pub(crate) fn grid(groups: usize) -> [u32; 2] {
    const ROW: usize = 65_535;
    [groups.min(ROW) as u32, groups.div_ceil(ROW) as u32]
}
