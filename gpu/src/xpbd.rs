//! Soft bodies on the GPU ([`GpuSoftBodies`]): a copy of every solver's
//! arrays kept in storage buffers between frames, stepped with the kernels
//! of `xpbd_substep.wgsl` (one dispatch per phase, one per constraint
//! colour), as a [`BodyMirror`] (see `loam_systems::xpbd::mirror`).
//!
//! Sent to the GPU: everything when bodies are added; after that, per
//! frame, the positions and velocities of the bodies the CPU changed
//! (put to sleep, or touched), the kinetic field and buoyancy of the
//! bodies whose values changed, and a flag per body for sleep. Read back:
//! the particles of the bodies that were awake or were woken by a contact.
//!
//! The world comes from a [`WorldMirror`] (blocked and loose bits per
//! resident page, and the page table); collision records the pages the
//! particles touch into a [`PageUse`], if one is given.

use bytemuck::{Pod, Zeroable};
use loam_systems::xpbd::{BodyMirror, Mirror, MirrorRead, MirrorStep, CONTACT_RADIUS};
use wgpu::util::DeviceExt;

use crate::context::Access;
use crate::{shaders, GpuContext, GpuError, PageUse, WorldMirror};

/// Invocations per workgroup (the shader's `@workgroup_size`).
const WORKGROUP: u32 = 64;

/// Bodies listed as near a body (the shader's `NEAR`).
const NEAR: usize = 15;

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
    at: [u32; 4],
}

/// The entry points.
const ENTRIES: [&str; 15] = [
    "predict", "distance", "volume", "shape", "face", "bounds", "reach", "near", "contact",
    "separate", "wake", "collide", "velocity", "mean", "damp",
];

/// An entry point, by name.
fn entry(name: &str) -> usize {
    ENTRIES
        .iter()
        .position(|&e| e == name)
        .expect("a kernel of xpbd_substep.wgsl")
}

/// What the GPU was sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BodyStats {
    /// Times every array was sent (the first frame, and after bodies were
    /// added).
    pub uploads: u64,
    /// Particles whose positions and velocities were sent again.
    pub particles_sent: u64,
    /// Particles whose kinetic field and buoyancy were sent.
    pub feel_sent: u64,
    /// Particles read back.
    pub particles_read: u64,
}

/// Soft bodies kept on the GPU. They step as a [`BodyMirror`] through
/// [`GpuSoftBodies::on`].
pub struct GpuSoftBodies {
    pipelines: [wgpu::ComputePipeline; ENTRIES.len()],
    common_layout: wgpu::BindGroupLayout,
    colour_layout: wgpu::BindGroupLayout,
    /// The world mirror's page table and bits.
    world: [wgpu::Buffer; 2],
    /// The page-use feedback's buffers, or stand-ins when there is none.
    feedback: [wgpu::Buffer; 3],
    /// The world's layout and the feedback's room, as `Params` has them.
    counts: Params,
    held: Option<Held>,
    stats: BodyStats,
}

/// The buffers of one generation of bodies.
struct Held {
    generation: u64,
    params: wgpu::Buffer,
    x: wgpu::Buffer,
    v: wgpu::Buffer,
    feel: wgpu::Buffer,
    pressed: wgpu::Buffer,
    broken: wgpu::Buffer,
    sleeping: wgpu::Buffer,
    sweep: wgpu::Buffer,
    common: wgpu::BindGroup,
    /// A colour group of no constraints, for the kernels that read none.
    stand_in: wgpu::BindGroup,
    /// Per colour of distances, volumes, faces: its bind group and size.
    colours: [Vec<(wgpu::BindGroup, u32)>; 3],
    counts: Params,
    /// Per body: its particles and its faces.
    body_particles: Vec<(usize, usize)>,
    body_faces: Vec<(usize, usize)>,
    /// Per particle: the kinetic field and buoyancy the GPU has.
    feel_sent: Vec<[f32; 4]>,
    /// Per body: asleep when the last step began.
    slept: Vec<bool>,
}

/// A soft-body mirror on a device, for [`SoftBodies::step_mirrored`](loam_systems::xpbd::SoftBodies::step_mirrored).
pub struct BodiesOnGpu<'a> {
    bodies: &'a mut GpuSoftBodies,
    gpu: &'a GpuContext,
}

impl GpuSoftBodies {
    /// Soft bodies on `gpu` that collide with `world` and record the pages
    /// they touch into `feedback`, if given. Nothing is sent until the
    /// first step.
    pub fn new(gpu: &GpuContext, world: &WorldMirror, feedback: Option<&PageUse>) -> Self {
        let mut access = vec![Access::Read; 23];
        for b in [1, 2, 3, 6, 8, 11, 12, 13, 14, 15, 16, 19, 20, 21] {
            access[b] = Access::ReadWrite;
        }
        let common_layout = gpu.storage_layout("xpbd.common", &access);
        let colour_layout = gpu.storage_layout("xpbd.colour", &[Access::Read]);
        let pipelines = gpu.pipelines(
            "xpbd_substep.wgsl",
            shaders::XPBD_SUBSTEP.into(),
            &[&common_layout, &colour_layout],
            ENTRIES,
        );
        let stand_in = || {
            gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("xpbd.no_feedback"),
                size: 16,
                usage: wgpu::BufferUsages::STORAGE,
                mapped_at_creation: false,
            })
        };
        let feedback_buffers = match feedback {
            Some(f) => [f.uses.clone(), f.asked.clone(), f.requests.clone()],
            None => [stand_in(), stand_in(), stand_in()],
        };
        let layout = world.layout();
        let counts = Params {
            page: layout.page,
            capacity: feedback.map_or(0, PageUse::capacity),
            world: [
                layout.size[0],
                layout.size[1],
                layout.size[2],
                layout.page_cells().div_ceil(32) as u32,
            ],
            pages: [layout.pages[0], layout.pages[1], layout.pages[2], 0],
            ..Params::zeroed()
        };
        Self {
            pipelines,
            common_layout,
            colour_layout,
            world: [world.table.clone(), world.solid.clone()],
            feedback: feedback_buffers,
            counts,
            held: None,
            stats: BodyStats::default(),
        }
    }

    /// This mirror on `gpu`, to step soft bodies with.
    pub fn on<'a>(&'a mut self, gpu: &'a GpuContext) -> BodiesOnGpu<'a> {
        BodiesOnGpu { bodies: self, gpu }
    }

    /// What was sent and read so far.
    pub fn stats(&self) -> BodyStats {
        self.stats
    }

    /// Sends every array of `b`.
    fn upload(&self, gpu: &GpuContext, b: &Mirror<'_>) -> Held {
        let device = &gpu.device;
        let buffer = |label: &str, bytes: &[u8], usage: wgpu::BufferUsages| {
            // wgpu refuses empty bindings, and a binding holds at least one
            // element (16 bytes for the widest).
            let mut padded = bytes.to_vec();
            padded.resize(bytes.len().max(16), 0);
            device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents: &padded,
                usage: wgpu::BufferUsages::STORAGE | usage,
            })
        };
        let kept = wgpu::BufferUsages::empty();
        let both = wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST;
        let flat = |v: &[[f32; 3]]| bytemuck::cast_slice::<[f32; 3], u8>(v).to_vec();
        let pconst: Vec<[f32; 4]> = (0..b.x.len())
            .map(|p| [b.w[p], b.friction[p], b.drag[p], f32::from_bits(b.owner[p])])
            .collect();
        let feel: Vec<[f32; 4]> = feel_of(b, 0..b.x.len());
        // The constraints, type after type.
        let mut cons: Vec<u32> = Vec::new();
        let mut at = [0u32; 4];
        for s in 0..b.shape_first.len() {
            cons.extend([
                b.shape_first[s],
                b.shape_edge[s].to_bits(),
                b.shape_compliance[s].to_bits(),
            ]);
        }
        at[1] = cons.len() as u32;
        for f in 0..b.face_a.len() {
            cons.extend(b.face_a[f].iter().chain(&b.face_b[f]));
            cons.extend([b.face_compliance[f].to_bits(), b.face_tear[f].to_bits()]);
        }
        at[2] = cons.len() as u32;
        for d in 0..b.distance_a.len() {
            cons.extend([
                b.distance_a[d],
                b.distance_b[d],
                b.distance_rest[d].to_bits(),
                b.distance_compliance[d].to_bits(),
            ]);
        }
        at[3] = cons.len() as u32;
        for k in 0..b.volume_corners.len() {
            cons.extend(b.volume_corners[k]);
            cons.extend([b.volume_rest[k].to_bits(), b.volume_compliance[k].to_bits()]);
        }
        let groups = [b.distance_colours, b.volume_colours, b.face_colours];
        let colour_index: Vec<u32> = groups
            .iter()
            .flat_map(|g| g.iter().flatten())
            .copied()
            .collect();
        let bodies: Vec<[u32; 4]> = b
            .bodies
            .iter()
            .zip(&b.damping)
            .map(|(&(lo, hi), d)| {
                let rooted = b.w[lo..hi].contains(&0.0);
                [lo as u32, hi as u32, d.to_bits(), u32::from(rooted)]
            })
            .collect();
        let n = b.bodies.len();
        let counts = Params {
            particles: b.x.len() as u32,
            shapes: b.shape_first.len() as u32,
            bodies: n as u32,
            at,
            ..self.counts
        };
        let params = buffer(
            "xpbd.params",
            bytemuck::bytes_of(&counts),
            wgpu::BufferUsages::COPY_DST,
        );
        let x = buffer("xpbd.x", &flat(b.x), both);
        let prev = buffer("xpbd.prev", &flat(b.x), kept);
        let v = buffer("xpbd.v", &flat(b.v), both);
        let feel_buffer = buffer("xpbd.feel", bytemuck::cast_slice(&feel), both);
        let pressed = buffer("xpbd.pressed", &vec![0; 12 * b.x.len()], both);
        let broken = buffer(
            "xpbd.broken",
            bytemuck::cast_slice(&flags(b.face_broken)),
            both,
        );
        let sleeping = buffer(
            "xpbd.sleeping",
            bytemuck::cast_slice(&flags(&b.sleeping)),
            both,
        );
        let sweep = buffer("xpbd.sweep", &vec![0; 16 * n], wgpu::BufferUsages::COPY_DST);
        let scratch = |label: &str, bytes: usize| buffer(label, &vec![0; bytes], kept);
        let buffers = [
            &params,
            &x,
            &prev,
            &v,
            &buffer("xpbd.pconst", bytemuck::cast_slice(&pconst), kept),
            &feel_buffer,
            &pressed,
            &buffer("xpbd.cons", bytemuck::cast_slice(&cons), kept),
            &broken,
            &buffer("xpbd.colours", bytemuck::cast_slice(&colour_index), kept),
            &buffer("xpbd.bodies", bytemuck::cast_slice(&bodies), kept),
            &sleeping,
            &scratch("xpbd.woken", 4 * n),
            &scratch("xpbd.means", 16 * n),
            &scratch("xpbd.boxes", 32 * n + 16),
            &scratch("xpbd.near", 4 * (NEAR + 1) * n),
            &scratch("xpbd.push", 32 * b.x.len()),
            &self.world[0],
            &self.world[1],
            &self.feedback[0],
            &self.feedback[1],
            &self.feedback[2],
            &sweep,
        ];
        let common = gpu.bind("xpbd.common", &self.common_layout, &buffers);
        let colour = |range: [u32; 2]| {
            let buf = buffer("xpbd.colour", bytemuck::cast_slice(&range), kept);
            gpu.bind("xpbd.colour", &self.colour_layout, &[&buf])
        };
        let mut start = 0u32;
        let colours = groups.map(|group| {
            group
                .iter()
                .map(|c| {
                    let n = c.len() as u32;
                    start += n;
                    (colour([start - n, n]), n)
                })
                .collect()
        });
        Held {
            generation: b.generation,
            params,
            x,
            v,
            feel: feel_buffer,
            pressed,
            broken,
            sleeping,
            sweep,
            common,
            stand_in: colour([0, 0]),
            colours,
            counts,
            body_particles: b.bodies.clone(),
            body_faces: b.body_faces.clone(),
            feel_sent: feel,
            slept: b.sleeping.clone(),
        }
    }
}

impl Held {
    /// Sends what the CPU changed since the last step: the positions,
    /// velocities and torn faces of the bodies it marked unsent, the
    /// kinetic field and buoyancy where they changed, and the sleeping flags.
    fn sync(&mut self, gpu: &GpuContext, b: &Mirror<'_>, stats: &mut BodyStats) {
        let unsent = runs(&self.body_particles, |k| b.unsent[k]);
        send(gpu, &self.x, b.x, &unsent);
        send(gpu, &self.v, b.v, &unsent);
        for (lo, hi) in runs(&self.body_faces, |k| b.unsent[k]) {
            let torn = flags(&b.face_broken[lo..hi]);
            gpu.queue
                .write_buffer(&self.broken, 4 * lo as u64, bytemuck::cast_slice(&torn));
        }
        stats.particles_sent += unsent.iter().map(|r| (r.1 - r.0) as u64).sum::<u64>();
        let feel = feel_of(b, 0..b.x.len());
        let changed = runs(&self.body_particles, |k| {
            let (lo, hi) = self.body_particles[k];
            feel[lo..hi] != self.feel_sent[lo..hi]
        });
        send(gpu, &self.feel, &feel, &changed);
        stats.feel_sent += changed.iter().map(|r| (r.1 - r.0) as u64).sum::<u64>();
        self.feel_sent = feel;
        gpu.queue
            .write_buffer(&self.sleeping, 0, bytemuck::cast_slice(&flags(&b.sleeping)));
        self.slept.clone_from(&b.sleeping);
    }
}

/// Flags as the kernels read them: a word each, 1 for true.
fn flags(v: &[bool]) -> Vec<u32> {
    v.iter().map(|&f| u32::from(f)).collect()
}

/// The kinetic field (xyz) and buoyancy (w) of `particles`.
fn feel_of(b: &Mirror<'_>, particles: std::ops::Range<usize>) -> Vec<[f32; 4]> {
    particles
        .map(|p| {
            let [x, y, z] = b.wind[p];
            [x, y, z, b.buoyancy[p]]
        })
        .collect()
}

/// The bodies sorted by the low x of their boxes (grown by a contact
/// radius, as the `bounds` kernel grows them): per rank, the body, the
/// rank of the body of that index and the body's low x (bits).
fn sweep_of(b: &Mirror<'_>) -> Vec<[u32; 4]> {
    let low: Vec<f32> = b
        .bodies
        .iter()
        .map(|&(lo, hi)| {
            b.x[lo..hi]
                .iter()
                .fold(f32::INFINITY, |m, p| m.min(p[0] - CONTACT_RADIUS))
        })
        .collect();
    let mut order: Vec<usize> = (0..low.len()).collect();
    order.sort_by(|&i, &j| low[i].total_cmp(&low[j]).then(i.cmp(&j)));
    let mut out = vec![[0u32; 4]; low.len()];
    for (rank, &body) in order.iter().enumerate() {
        out[rank][0] = body as u32;
        out[rank][2] = low[body].to_bits();
        out[body][1] = rank as u32;
    }
    out
}

/// The spans of the bodies `pick` chooses, adjacent ones merged.
fn runs(spans: &[(usize, usize)], pick: impl Fn(usize) -> bool) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    for (b, &(lo, hi)) in spans.iter().enumerate() {
        if !pick(b) || lo == hi {
            continue;
        }
        match out.last_mut() {
            Some(last) if last.1 == lo => last.1 = hi,
            _ => out.push((lo, hi)),
        }
    }
    out
}

/// Sends the elements `runs` of `data` into `buffer`.
fn send<T: Pod>(gpu: &GpuContext, buffer: &wgpu::Buffer, data: &[T], runs: &[(usize, usize)]) {
    let size = std::mem::size_of::<T>();
    for &(lo, hi) in runs {
        gpu.queue.write_buffer(
            buffer,
            (lo * size) as u64,
            bytemuck::cast_slice(&data[lo..hi]),
        );
    }
}

impl BodyMirror for BodiesOnGpu<'_> {
    type Error = GpuError;

    fn step(&mut self, b: &Mirror<'_>, step: MirrorStep) -> Result<(), GpuError> {
        let gpu = self.gpu;
        let me = &mut *self.bodies;
        if me.held.as_ref().map(|h| h.generation) != Some(b.generation) {
            me.held = Some(me.upload(gpu, b));
            me.stats.uploads += 1;
        } else if let Some(held) = &mut me.held {
            held.sync(gpu, b, &mut me.stats);
        }
        let held = me.held.as_ref().expect("uploaded above");
        if held.counts.bodies > 1 {
            gpu.queue
                .write_buffer(&held.sweep, 0, bytemuck::cast_slice(&sweep_of(b)));
        }
        let params = Params {
            h: step.h,
            gravity: step.gravity,
            inv_h2: 1.0 / (step.h * step.h),
            ..held.counts
        };
        gpu.queue
            .write_buffer(&held.params, 0, bytemuck::bytes_of(&params));
        let mut encoder = gpu
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("xpbd"),
            });
        encoder.clear_buffer(&held.pressed, 0, None);
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("xpbd"),
                timestamp_writes: None,
            });
            pass.set_bind_group(0, &held.common, &[]);
            let c = &held.counts;
            let stand_in = &held.stand_in;
            let mut run = |name: &str, group: &wgpu::BindGroup, n: u32| {
                if n == 0 {
                    return;
                }
                pass.set_pipeline(&me.pipelines[entry(name)]);
                pass.set_bind_group(1, group, &[]);
                pass.dispatch_workgroups(n.div_ceil(WORKGROUP), 1, 1);
            };
            for _ in 0..step.substeps {
                run("predict", stand_in, c.particles);
                for (kernel, colours) in ["distance", "volume"].iter().zip(&held.colours) {
                    for (group, n) in colours {
                        run(kernel, group, *n);
                    }
                }
                run("shape", stand_in, c.shapes);
                for (group, n) in &held.colours[2] {
                    run("face", group, *n);
                }
                if c.bodies > 1 {
                    run("bounds", stand_in, c.bodies);
                    run("reach", stand_in, 1);
                    run("near", stand_in, c.bodies);
                    for kernel in ["contact", "separate"] {
                        run(kernel, stand_in, c.particles);
                    }
                    run("wake", stand_in, c.bodies);
                }
                for kernel in ["collide", "velocity"] {
                    run(kernel, stand_in, c.particles);
                }
                run("mean", stand_in, c.bodies);
                run("damp", stand_in, c.particles);
            }
        }
        gpu.queue.submit([encoder.finish()]);
        Ok(())
    }

    fn read(&mut self, mut out: MirrorRead<'_>) -> Result<(), GpuError> {
        let gpu = self.gpu;
        let me = &mut *self.bodies;
        let Some(held) = &me.held else {
            return Ok(());
        };
        // The bodies awake at the start, with every body's sleeping flag.
        let awake = |k: usize| !held.slept[k];
        let first = runs(&held.body_particles, awake);
        let flags = fetch(
            gpu,
            held,
            true,
            &first,
            &runs(&held.body_faces, awake),
            &mut out,
        )?;
        // Then those a contact woke, if any.
        let woken = |k: usize| held.slept[k] && flags[k] == 0;
        let late = runs(&held.body_particles, woken);
        if !late.is_empty() {
            fetch(
                gpu,
                held,
                false,
                &late,
                &runs(&held.body_faces, woken),
                &mut out,
            )?;
        }
        for (s, f) in out.sleeping.iter_mut().zip(&flags) {
            *s = *f != 0;
        }
        me.stats.particles_read += first
            .iter()
            .chain(&late)
            .map(|r| (r.1 - r.0) as u64)
            .sum::<u64>();
        Ok(())
    }
}

/// Reads back, in one round trip, the positions, velocities and powder
/// pushes of the particles in `particles`, the torn flags of the faces in
/// `faces` and, with `flags`, every body's sleeping flag (returned).
fn fetch(
    gpu: &GpuContext,
    held: &Held,
    flags: bool,
    particles: &[(usize, usize)],
    faces: &[(usize, usize)],
    out: &mut MirrorRead<'_>,
) -> Result<Vec<u32>, GpuError> {
    let mut parts: Vec<(&wgpu::Buffer, u64, u64)> = Vec::new();
    if flags {
        parts.push((&held.sleeping, 0, 4 * held.body_particles.len() as u64));
    }
    for buffer in [&held.x, &held.v, &held.pressed] {
        parts.extend(
            particles
                .iter()
                .map(|&(lo, hi)| (buffer, 12 * lo as u64, 12 * (hi - lo) as u64)),
        );
    }
    parts.extend(
        faces
            .iter()
            .map(|&(lo, hi)| (&held.broken, 4 * lo as u64, 4 * (hi - lo) as u64)),
    );
    let words: Vec<u32> = gpu.read_parts(&parts)?;
    let mut rest = &words[..];
    let mut take = |n: usize| {
        let (head, tail) = rest.split_at(n);
        rest = tail;
        head
    };
    let sleeping = if flags {
        take(held.body_particles.len()).to_vec()
    } else {
        Vec::new()
    };
    for into in [&mut *out.x, &mut *out.v, &mut *out.pressed] {
        for &(lo, hi) in particles {
            let got: &[[f32; 3]] = bytemuck::cast_slice(take(3 * (hi - lo)));
            into[lo..hi].copy_from_slice(got);
        }
    }
    for &(lo, hi) in faces {
        for (f, &w) in out.face_broken[lo..hi].iter_mut().zip(take(hi - lo)) {
            *f = w != 0;
        }
    }
    Ok(sleeping)
}
