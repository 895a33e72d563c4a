//! Soft bodies on the GPU: a mirror of a `gram_schmidt` solver's arrays in
//! storage buffers, stepped with the kernels of `xpbd_substep.wgsl` (one
//! dispatch per phase, one per face colour), and read back on demand.
//!
//! The world comes from a [`WorldMirror`] (blocked bits per resident page,
//! and the page table); collision records the pages the particles touch
//! into a [`PageUse`].

use bytemuck::{Pod, Zeroable};
use loam_systems::xpbd::Mirror;
use wgpu::util::DeviceExt;

use crate::context::Access;
use crate::{shaders, GpuContext, GpuError, PageUse, WorldMirror};

/// Invocations per workgroup (the shader's `@workgroup_size`).
const WORKGROUP: u32 = 64;

/// The kernels' parameters (the shader's `Params`).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    h: f32,
    gravity: f32,
    inv_h2: f32,
    particles: u32,
    shapes: u32,
    bodies: u32,
    page: u32,
    capacity: u32,
    world: [u32; 4],
    pages: [u32; 4],
}

/// The entry points, in the order a substep runs them (faces once per
/// colour).
const ENTRIES: [&str; 7] = [
    "predict", "shape", "face", "collide", "velocity", "mean", "damp",
];

/// Soft bodies mirrored on the GPU.
pub struct GpuSoftBodies {
    pipelines: [wgpu::ComputePipeline; ENTRIES.len()],
    params: wgpu::Buffer,
    x: wgpu::Buffer,
    broken: wgpu::Buffer,
    common: wgpu::BindGroup,
    /// Per face colour: its bind group and size.
    colours: Vec<(wgpu::BindGroup, u32)>,
    counts: Params,
}

impl GpuSoftBodies {
    /// Uploads `bodies` to `gpu`; they collide with `world` and record the
    /// pages they touch into `feedback`.
    pub fn new(
        gpu: &GpuContext,
        bodies: &Mirror<'_>,
        world: &WorldMirror,
        feedback: &PageUse,
    ) -> Self {
        let device = &gpu.device;
        let storage = |label: &str, bytes: &[u8], write: bool| {
            let usage = if write {
                wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC
            } else {
                wgpu::BufferUsages::STORAGE
            };
            // wgpu refuses empty bindings: pad to one word.
            let bytes = if bytes.is_empty() {
                &[0u8; 4][..]
            } else {
                bytes
            };
            device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents: bytes,
                usage,
            })
        };
        let flat = |v: &[[f32; 3]]| bytemuck::cast_slice::<[f32; 3], u8>(v).to_vec();
        let pconst: Vec<f32> = bodies
            .w
            .iter()
            .zip(bodies.friction)
            .flat_map(|(&w, &f)| [w, f])
            .collect();
        let shapes: Vec<u32> = (0..bodies.shape_first.len())
            .flat_map(|s| {
                [
                    bodies.shape_first[s],
                    bodies.shape_edge[s].to_bits(),
                    bodies.shape_compliance[s].to_bits(),
                ]
            })
            .collect();
        let faces: Vec<u32> = bodies
            .face_a
            .iter()
            .zip(bodies.face_b)
            .flat_map(|(a, b)| a.iter().chain(b).copied())
            .collect();
        let fconst: Vec<f32> = bodies
            .face_compliance
            .iter()
            .zip(bodies.face_tear)
            .flat_map(|(&c, &t)| [c, t])
            .collect();
        let broken: Vec<u32> = bodies.face_broken.iter().map(|&b| u32::from(b)).collect();
        let colour_index: Vec<u32> = bodies.face_colours.iter().flatten().copied().collect();
        let spans: Vec<u32> = bodies
            .bodies
            .iter()
            .flat_map(|&(lo, hi)| [lo as u32, hi as u32])
            .collect();
        let layout = world.layout();
        let counts = Params {
            h: 0.0,
            gravity: 0.0,
            inv_h2: 0.0,
            particles: bodies.x.len() as u32,
            shapes: bodies.shape_first.len() as u32,
            bodies: bodies.bodies.len() as u32,
            page: layout.page,
            capacity: feedback.capacity(),
            world: [
                layout.size[0],
                layout.size[1],
                layout.size[2],
                layout.page_cells().div_ceil(32) as u32,
            ],
            pages: [layout.pages[0], layout.pages[1], layout.pages[2], 0],
        };
        let params = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("xpbd.params"),
            size: std::mem::size_of::<Params>() as u64,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let x = storage("xpbd.x", &flat(bodies.x), true);
        let prev = storage("xpbd.prev", &flat(bodies.x), true);
        let v = storage("xpbd.v", &flat(bodies.v), true);
        let broken = storage("xpbd.broken", bytemuck::cast_slice(&broken), true);
        let means = storage(
            "xpbd.means",
            &vec![0u8; 16 * bodies.bodies.len().max(1)],
            true,
        );
        let buffers = [
            &params,
            &x,
            &prev,
            &v,
            &storage("xpbd.pconst", bytemuck::cast_slice(&pconst), false),
            &storage("xpbd.shapes", bytemuck::cast_slice(&shapes), false),
            &storage("xpbd.faces", bytemuck::cast_slice(&faces), false),
            &storage("xpbd.fconst", bytemuck::cast_slice(&fconst), false),
            &broken,
            &storage("xpbd.colours", bytemuck::cast_slice(&colour_index), false),
            &storage("xpbd.bodies", bytemuck::cast_slice(&spans), false),
            &storage("xpbd.damping", bytemuck::cast_slice(&bodies.damping), false),
            &means,
            &world.table,
            &world.solid,
            &feedback.uses,
            &feedback.asked,
            &feedback.requests,
        ];
        let writable = [1, 2, 3, 8, 12, 15, 16, 17];
        let access: Vec<Access> = (0..buffers.len())
            .map(|b| match writable.contains(&b) {
                true => Access::ReadWrite,
                false => Access::Read,
            })
            .collect();
        let common_layout = gpu.storage_layout("xpbd.common", &access);
        let colour_layout = gpu.storage_layout("xpbd.colour", &[Access::Read]);
        let common = gpu.bind("xpbd.common", &common_layout, &buffers);
        let mut start = 0u32;
        // At least one colour group, empty if there are no faces: every
        // pipeline's layout has group 1.
        let none = [Vec::new()];
        let face_colours = if bodies.face_colours.is_empty() {
            &none[..]
        } else {
            bodies.face_colours
        };
        let colours = face_colours
            .iter()
            .map(|c| {
                let range = [start, c.len() as u32];
                start += c.len() as u32;
                let buf = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some("xpbd.colour"),
                    contents: bytemuck::cast_slice(&range),
                    usage: wgpu::BufferUsages::STORAGE,
                });
                (
                    gpu.bind("xpbd.colour", &colour_layout, &[&buf]),
                    c.len() as u32,
                )
            })
            .collect();
        let pipelines = gpu.pipelines(
            "xpbd_substep.wgsl",
            shaders::XPBD_SUBSTEP.into(),
            &[&common_layout, &colour_layout],
            ENTRIES,
        );
        Self {
            pipelines,
            params,
            x,
            broken,
            common,
            colours,
            counts,
        }
    }

    /// One frame of `dt` seconds in `substeps` substeps under `gravity`
    /// (cells/s²), recorded and submitted at once (not waited for).
    pub fn step(&self, gpu: &GpuContext, dt: f32, substeps: u32, gravity: f32) {
        let h = dt / substeps.max(1) as f32;
        let params = Params {
            h,
            gravity,
            inv_h2: 1.0 / (h * h),
            ..self.counts
        };
        gpu.queue
            .write_buffer(&self.params, 0, bytemuck::bytes_of(&params));
        let mut encoder = gpu
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("xpbd"),
            });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("xpbd"),
                timestamp_writes: None,
            });
            pass.set_bind_group(0, &self.common, &[]);
            // Any colour's group will do for the kernels that ignore it.
            let empty = Some(&self.colours[0].0);
            let groups = |n: u32| n.div_ceil(WORKGROUP).max(1);
            let c = &self.counts;
            for _ in 0..substeps.max(1) {
                let mut run = |entry: usize, group: Option<&wgpu::BindGroup>, n: u32| {
                    if n == 0 {
                        return;
                    }
                    pass.set_pipeline(&self.pipelines[entry]);
                    pass.set_bind_group(1, group, &[]);
                    pass.dispatch_workgroups(groups(n), 1, 1);
                };
                run(0, empty, c.particles);
                run(1, empty, c.shapes);
                for (group, n) in &self.colours {
                    run(2, Some(group), *n);
                }
                run(3, empty, c.particles);
                run(4, empty, c.particles);
                run(5, empty, c.bodies);
                run(6, empty, c.particles);
            }
        }
        gpu.queue.submit([encoder.finish()]);
    }

    /// The particles' positions, read back (waits for the GPU).
    pub fn positions(&self, gpu: &GpuContext) -> Result<Vec<[f32; 3]>, GpuError> {
        gpu.read(&self.x)
    }

    /// How many face constraints have torn, read back (waits for the GPU).
    pub fn broken(&self, gpu: &GpuContext) -> Result<usize, GpuError> {
        let flags = gpu.read(&self.broken)?;
        Ok(bytemuck::cast_slice::<u8, u32>(&flags)
            .iter()
            .filter(|&&b| b != 0)
            .count())
    }
}
