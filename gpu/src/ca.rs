//! The automaton's movement on the GPU (`shaders/ca_move.wgsl`): the
//! world's material, temperature and flag pools mirrored slot for slot,
//! each resident page's 27-page neighbourhood, and the 8 checkerboard
//! phases dispatched in order, one invocation per page.
//!
//! It updates every resident page each frame; the CPU updates only the
//! pages woken since the last frame. The two agree bit for bit when every
//! page is awake (the parity test wakes them all); carrying the wake
//! boxes back to run only woken pages is the next step, and so are
//! reactions and heat.

use bytemuck::{Pod, Zeroable};
use loam_storage::{neighbourhood, VoxelWorld};
use loam_systems::materials::MaterialTable;
use wgpu::util::DeviceExt;

use crate::{shaders, GpuContext, GpuError};

/// The kernel's uniform parameters (the shader's `Params`).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    p: i32,
    reach: i32,
    start: u32,
    count: u32,
    seed: [u32; 2],
    frame: [u32; 2],
}

/// The automaton's movement, mirrored on the GPU.
pub struct GpuAutomaton {
    step: wgpu::ComputePipeline,
    clear: wgpu::ComputePipeline,
    material: wgpu::Buffer,
    temperature: wgpu::Buffer,
    flags: wgpu::Buffer,
    /// Per phase: its parameters buffer, bind group and page count.
    phases: Vec<(wgpu::Buffer, wgpu::BindGroup, Params)>,
    clear_group: wgpu::BindGroup,
    words: u32,
}

/// A byte pool as words of 4 (zero padded).
fn packed(bytes: &[u8]) -> Vec<u32> {
    bytes
        .chunks(4)
        .map(|c| c.iter().rev().fold(0u32, |w, &b| w << 8 | u32::from(b)))
        .collect()
}

impl GpuAutomaton {
    /// Uploads `world`'s pools and resident pages, for frames with `seed`.
    pub fn new(gpu: &GpuContext, world: &VoxelWorld, table: &MaterialTable, seed: u64) -> Self {
        let device = &gpu.device;
        let layout = *world.layout();
        let cells = layout.page_cells();
        let buffer = |label, bytes: &[u8], extra| {
            device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents: bytes,
                usage: wgpu::BufferUsages::STORAGE | extra,
            })
        };
        let rw = wgpu::BufferUsages::COPY_SRC;
        let material = buffer(
            "ca.material",
            bytemuck::cast_slice(&packed(world.material.as_slice())),
            rw,
        );
        let temperature = buffer(
            "ca.temperature",
            bytemuck::cast_slice(world.temperature.as_slice()),
            rw,
        );
        let flag_words = packed(world.flags.as_slice());
        let flags = buffer("ca.flags", bytemuck::cast_slice(&flag_words), rw);
        // Per resident page: 27 neighbourhood offsets, then its origin.
        let resident = world.resident_pages();
        let mut rows = Vec::with_capacity(30 * resident.len());
        for &p in &resident {
            let c = layout.page_coord(p);
            for k in 0..27 {
                let base = layout
                    .neighbour_page(c, neighbourhood::offset(k))
                    .and_then(|n| world.table.resident_slot(n))
                    .map_or(u32::MAX, |s| (s * cells) as u32);
                rows.push(base);
            }
            rows.extend(c.map(|v| v * layout.page));
        }
        let pages = buffer(
            "ca.pages",
            bytemuck::cast_slice(&rows),
            wgpu::BufferUsages::empty(),
        );
        // Phase lists, phase after phase, by the parity of page coordinates.
        let mut lists = Vec::with_capacity(resident.len());
        let mut spans = Vec::new();
        for phase in 0..8u32 {
            let start = lists.len() as u32;
            lists.extend((0..resident.len() as u32).filter(|&r| {
                let c = layout.page_coord(resident[r as usize]);
                (c[0] & 1) | (c[1] & 1) << 1 | (c[2] & 1) << 2 == phase
            }));
            spans.push((start, lists.len() as u32 - start));
        }
        lists.push(0); // never empty
        let phase_pages = buffer(
            "ca.phase_pages",
            bytemuck::cast_slice(&lists),
            wgpu::BufferUsages::empty(),
        );
        let kinds: Vec<u32> = table.kind.iter().map(|&k| k as u32).collect();
        let bits = |set: &[[bool; 256]; 256]| -> Vec<u32> {
            let mut words = vec![0u32; 256 * 8];
            for (m, row) in set.iter().enumerate() {
                for (t, &on) in row.iter().enumerate() {
                    if on {
                        words[m * 8 + t / 32] |= 1 << (t % 32);
                    }
                }
            }
            words
        };
        let kinds = buffer(
            "ca.kinds",
            bytemuck::cast_slice(&kinds),
            wgpu::BufferUsages::empty(),
        );
        let sinks = buffer(
            "ca.sinks",
            bytemuck::cast_slice(&bits(&table.sinks)),
            wgpu::BufferUsages::empty(),
        );
        let rises = buffer(
            "ca.rises",
            bytemuck::cast_slice(&bits(&table.rises)),
            wgpu::BufferUsages::empty(),
        );

        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("ca_move.wgsl"),
            source: wgpu::ShaderSource::Wgsl(shaders::with_random(shaders::CA_MOVE).into()),
        });
        let pipeline = |entry| {
            device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(entry),
                layout: None,
                module: &module,
                entry_point: Some(entry),
                compilation_options: Default::default(),
                cache: None,
            })
        };
        let (step, clear) = (pipeline("step"), pipeline("clear"));
        let words = |v: u64| [v as u32, (v >> 32) as u32];
        let phases = spans
            .into_iter()
            .map(|(start, count)| {
                let params = Params {
                    p: layout.page as i32,
                    reach: neighbourhood::sideways_reach(layout.page as i32),
                    start,
                    count,
                    seed: words(seed),
                    frame: [0; 2],
                };
                let uniform = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some("ca.params"),
                    contents: bytemuck::bytes_of(&params),
                    usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                });
                let bound = [
                    &uniform,
                    &material,
                    &temperature,
                    &flags,
                    &pages,
                    &phase_pages,
                    &kinds,
                    &sinks,
                    &rises,
                ];
                let group = device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some("ca.phase"),
                    layout: &step.get_bind_group_layout(0),
                    entries: &bound
                        .iter()
                        .enumerate()
                        .map(|(b, buf)| wgpu::BindGroupEntry {
                            binding: b as u32,
                            resource: buf.as_entire_binding(),
                        })
                        .collect::<Vec<_>>(),
                });
                (uniform, group, params)
            })
            .collect();
        let clear_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("ca.clear"),
            layout: &clear.get_bind_group_layout(0),
            entries: &[wgpu::BindGroupEntry {
                binding: 3,
                resource: flags.as_entire_binding(),
            }],
        });
        Self {
            step,
            clear,
            material,
            temperature,
            flags,
            phases,
            clear_group,
            words: flag_words.len() as u32,
        }
    }

    /// One frame of movement: MOVED bits cleared, then the 8 phases in
    /// order (submitted, not waited for).
    pub fn step(&self, gpu: &GpuContext, frame: u64) {
        for (uniform, _, params) in &self.phases {
            let params = Params {
                frame: [frame as u32, (frame >> 32) as u32],
                ..*params
            };
            gpu.queue
                .write_buffer(uniform, 0, bytemuck::bytes_of(&params));
        }
        let mut encoder = gpu
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("ca") });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("ca.move"),
                timestamp_writes: None,
            });
            pass.set_pipeline(&self.clear);
            pass.set_bind_group(0, &self.clear_group, &[]);
            pass.dispatch_workgroups(self.words.div_ceil(64), 1, 1);
            pass.set_pipeline(&self.step);
            for (_, group, params) in &self.phases {
                if params.count > 0 {
                    pass.set_bind_group(0, group, &[]);
                    pass.dispatch_workgroups(params.count, 1, 1);
                }
            }
        }
        gpu.queue.submit([encoder.finish()]);
    }

    /// Copies the GPU's pools back into `world` (waits for the GPU).
    pub fn download(&self, gpu: &GpuContext, world: &mut VoxelWorld) -> Result<(), GpuError> {
        let unpack = |words: Vec<u8>, out: &mut [u8]| {
            let n = out.len();
            out.copy_from_slice(&words[..n]);
        };
        unpack(gpu.read(&self.material)?, world.material.as_mut_slice());
        unpack(gpu.read(&self.flags)?, world.flags.as_mut_slice());
        let t = gpu.read(&self.temperature)?;
        world
            .temperature
            .as_mut_slice()
            .copy_from_slice(bytemuck::cast_slice(&t));
        Ok(())
    }
}
