//! GPU cache feedback, after GigaVoxels (Crassin et al. 2009): kernels
//! record which pages they touch; resident pages count uses, absent ones
//! are asked for once. A readback copies both into a staging buffer and
//! maps it asynchronously; the frame never waits for it. A later frame
//! takes the result, which refreshes the page table's LRU (`last_use`) and
//! hands the requests to streaming.
//!
//! Two staging buffers take turns, so one can be mapped while the next
//! readback is copied; with both still pending, a readback is skipped and
//! counted. The uses and requests on the GPU are cleared after each copy,
//! so a result covers the frames since the previous one.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytemuck::{Pod, Zeroable};
use loam_storage::{VoxelWorld, WorldLayout};
use wgpu::util::DeviceExt;

use crate::{shaders, GpuContext, GpuError};

/// Invocations per workgroup (the shader's `@workgroup_size`).
const WORKGROUP: u32 = 64;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    points: u32,
    capacity: u32,
    page: u32,
    pad: u32,
    pages: [u32; 4],
}

/// What one readback found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PageFeedback {
    /// Resident pages used, with their use counts, in page order.
    pub uses: Vec<(usize, u32)>,
    /// Absent pages asked for, in page order.
    pub requests: Vec<usize>,
    /// Pages asked for beyond the request buffer's capacity (asked again
    /// next time, as they are still absent).
    pub dropped: u32,
}

impl PageFeedback {
    /// Marks the used pages that are resident as used at `frame` in
    /// `world`'s page table (the LRU eviction keeps recently used pages);
    /// returns the requests.
    pub fn apply(&self, world: &mut VoxelWorld, frame: u64) -> &[usize] {
        for &(p, _) in &self.uses {
            if world.table().state(p).is_resident() {
                world.set_last_use(p, frame);
            }
        }
        &self.requests
    }
}

/// A staging buffer and whether its mapping has completed.
struct Staging {
    buffer: wgpu::Buffer,
    ready: Arc<AtomicBool>,
    pending: bool,
}

/// Page-use feedback for one world layout.
pub struct PageUse {
    pipeline: wgpu::ComputePipeline,
    layout: wgpu::BindGroupLayout,
    params: Params,
    resident: wgpu::Buffer,
    pub(crate) uses: wgpu::Buffer,
    pub(crate) asked: wgpu::Buffer,
    pub(crate) requests: wgpu::Buffer,
    staging: [Staging; 2],
    /// The staging buffer the next readback copies into.
    next: usize,
    /// Readbacks skipped because both staging buffers were pending.
    pub skipped: u64,
}

impl PageUse {
    /// Feedback for the pages of `world`, with room for `capacity`
    /// requests per readback. No page is resident until
    /// [`PageUse::set_resident`] says so.
    pub fn new(gpu: &GpuContext, world: &WorldLayout, capacity: u32) -> Self {
        let device = &gpu.device;
        let pages = world.page_count();
        let zeroed = |label, words: usize, usage| {
            device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents: bytemuck::cast_slice(&vec![0u32; words.max(1)]),
                usage,
            })
        };
        let rw = wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_SRC
            | wgpu::BufferUsages::COPY_DST;
        let resident = zeroed(
            "page_use.resident",
            pages,
            wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
        );
        let uses = zeroed("page_use.uses", pages, rw);
        let asked = zeroed("page_use.asked", pages, rw);
        let requests = zeroed("page_use.requests", 1 + capacity as usize, rw);
        let staging_size = uses.size() + requests.size();
        let staging = || Staging {
            buffer: device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("page_use.staging"),
                size: staging_size,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }),
            ready: Arc::new(AtomicBool::new(false)),
            pending: false,
        };
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("page_use.wgsl"),
            source: wgpu::ShaderSource::Wgsl(shaders::PAGE_USE.into()),
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some("page_use.record"),
            layout: None,
            module: &module,
            entry_point: Some("record"),
            compilation_options: Default::default(),
            cache: None,
        });
        let layout = pipeline.get_bind_group_layout(0);
        let staging = [staging(), staging()];
        Self {
            pipeline,
            layout,
            params: Params {
                points: 0,
                capacity,
                page: world.page,
                pad: 0,
                pages: [world.pages[0], world.pages[1], world.pages[2], 0],
            },
            resident,
            uses,
            asked,
            requests,
            staging,
            next: 0,
            skipped: 0,
        }
    }

    /// Uploads the residency of the pages that changed (page index,
    /// resident): only those words are written, never the whole table.
    pub fn set_resident(&self, gpu: &GpuContext, changed: &[(usize, bool)]) {
        for &(p, on) in changed {
            gpu.queue.write_buffer(
                &self.resident,
                4 * p as u64,
                bytemuck::bytes_of(&u32::from(on)),
            );
        }
    }

    /// Records a touch of every point in `points` (3 floats each, cell
    /// coordinates, as a kernel's own storage buffer).
    pub fn record(&self, gpu: &GpuContext, points: &wgpu::Buffer, count: u32) {
        if count == 0 {
            return;
        }
        let params = Params {
            points: count,
            ..self.params
        };
        let params = gpu
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("page_use.params"),
                contents: bytemuck::bytes_of(&params),
                usage: wgpu::BufferUsages::STORAGE,
            });
        let group = gpu.bind(
            "page_use",
            &self.layout,
            &[
                &params,
                points,
                &self.resident,
                &self.uses,
                &self.asked,
                &self.requests,
            ],
        );
        let mut encoder = gpu
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("page_use"),
            });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("page_use.record"),
                timestamp_writes: None,
            });
            pass.set_pipeline(&self.pipeline);
            pass.set_bind_group(0, &group, &[]);
            pass.dispatch_workgroups(count.div_ceil(WORKGROUP), 1, 1);
        }
        gpu.queue.submit([encoder.finish()]);
    }

    /// Starts a readback of everything recorded since the last one and
    /// clears it on the GPU; does not wait. Returns false (and counts it)
    /// when both staging buffers are still pending.
    pub fn start_readback(&mut self, gpu: &GpuContext) -> bool {
        let slot = &mut self.staging[self.next];
        if slot.pending {
            self.skipped += 1;
            return false;
        }
        let mut encoder = gpu
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("page_use.readback"),
            });
        let n = self.uses.size();
        encoder.copy_buffer_to_buffer(&self.uses, 0, &slot.buffer, 0, n);
        encoder.copy_buffer_to_buffer(&self.requests, 0, &slot.buffer, n, self.requests.size());
        encoder.clear_buffer(&self.uses, 0, None);
        encoder.clear_buffer(&self.asked, 0, None);
        encoder.clear_buffer(&self.requests, 0, None);
        gpu.queue.submit([encoder.finish()]);
        slot.ready.store(false, Ordering::Release);
        let ready = slot.ready.clone();
        slot.buffer
            .slice(..)
            .map_async(wgpu::MapMode::Read, move |r| {
                ready.store(r.is_ok(), Ordering::Release);
            });
        slot.pending = true;
        self.next = 1 - self.next;
        true
    }

    /// Room for requests per readback.
    pub fn capacity(&self) -> u32 {
        self.params.capacity
    }

    /// Whether a readback has been started and not yet taken.
    pub fn pending(&self) -> bool {
        self.staging.iter().any(|s| s.pending)
    }

    /// The oldest pending readback's result if it has arrived; with `wait`,
    /// blocks until it has. `None` when nothing is pending (or, without
    /// `wait`, not yet arrived).
    pub fn take(&mut self, gpu: &GpuContext, wait: bool) -> Result<Option<PageFeedback>, GpuError> {
        // The oldest pending one is the buffer the next readback would use.
        let oldest = if self.staging[self.next].pending {
            self.next
        } else {
            1 - self.next
        };
        if !self.staging[oldest].pending {
            return Ok(None);
        }
        let poll = if wait {
            wgpu::PollType::wait_indefinitely()
        } else {
            wgpu::PollType::Poll
        };
        gpu.device
            .poll(poll)
            .map_err(|e| GpuError::Readback(e.to_string()))?;
        let slot = &mut self.staging[oldest];
        if !slot.ready.load(Ordering::Acquire) {
            return if wait {
                Err(GpuError::Readback(
                    "the page-use readback failed to map".into(),
                ))
            } else {
                Ok(None)
            };
        }
        let pages = self.params.pages[0] as usize
            * self.params.pages[1] as usize
            * self.params.pages[2] as usize;
        let feedback = {
            let view = slot
                .buffer
                .slice(..)
                .get_mapped_range()
                .map_err(|e| GpuError::Readback(e.to_string()))?;
            let words: &[u32] = bytemuck::cast_slice(&view);
            let uses = words[..pages]
                .iter()
                .enumerate()
                .filter(|(_, &n)| n > 0)
                .map(|(p, &n)| (p, n))
                .collect();
            let tail = &words[self.uses.size() as usize / 4..];
            let asked = tail[0];
            let kept = asked.min(self.params.capacity) as usize;
            // The kernel appends in whatever order its threads ran: sort,
            // so a result is the same set in the same order every time.
            let mut requests: Vec<usize> = tail[1..1 + kept].iter().map(|&p| p as usize).collect();
            requests.sort_unstable();
            PageFeedback {
                uses,
                requests,
                dropped: asked - kept as u32,
            }
        };
        slot.buffer.unmap();
        slot.pending = false;
        Ok(Some(feedback))
    }
}
