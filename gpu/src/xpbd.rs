//! Soft bodies on the GPU ([`GpuSoftBodies`]): a copy of every solver's
//! arrays kept in storage buffers between frames, stepped with the kernels
//! of `xpbd_substep.wgsl` (one dispatch per phase, one per constraint
//! colour), as a [`BodyMirror`], the protocol `SoftBodies::step_mirrored`
//! drives.
//!
//! Sent to the GPU: everything when bodies are added; after that, per
//! frame, the positions, velocities and torn faces of the bodies the CPU
//! changed (put to sleep, or touched), the kinetic field and buoyancy of
//! the bodies whose values changed, a flag and a resting depth per body
//! for sleep, and the bodies sorted along x for the contacts' broad phase.
//! Read back: the particles and faces of the bodies that were awake or
//! were woken by a contact, the sleeping flags and the resting depths.
//!
//! The world comes from a [`WorldMirror`] (blocked and loose bits per
//! resident page, and the page table); collision records the pages the
//! particles touch into a [`PageUse`], if one is given.

use bytemuck::{Pod, Zeroable};
use loam_systems::xpbd::{
    BodyMirror, Mirror, MirrorRead, MirrorStep, CONTACT_ITERATIONS, CONTACT_RADIUS,
};
use wgpu::util::DeviceExt;

use crate::context::{grid, Access, MOST_STORAGE_BUFFERS};
use crate::runs::{length, runs, send};
use crate::timing::PassTimer;
use crate::{shaders, GpuContext, GpuError, PageUse, WorldMirror};

/// Invocations per workgroup (the shader's `@workgroup_size`).
const WORKGROUP: u32 = 64;

/// Bodies listed as near a body.
const NEAR: usize = shaders::XPBD_NEAR as usize;

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
    links: [u32; 4],
    volume: [u32; 4],
}

/// The entry points, in [`Kernel`]'s order.
const ENTRIES: [&str; 22] = [
    "predict",
    "distance",
    "volume",
    "shape",
    "face",
    "joint_mean",
    "body_volume",
    "joint_volume",
    "bounds",
    "reach",
    "near",
    "snapshot",
    "count",
    "contact",
    "separate",
    "wake",
    "collide",
    "velocity",
    "mean",
    "damp",
    "contact_velocity",
    "separate_velocity",
];

/// An entry point: its pipeline's index, as listed in [`ENTRIES`].
#[derive(Clone, Copy)]
enum Kernel {
    Predict,
    Distance,
    Volume,
    Shape,
    Face,
    JointMean,
    BodyVolume,
    JointVolume,
    Bounds,
    Reach,
    Near,
    Snapshot,
    Count,
    Contact,
    Separate,
    Wake,
    Collide,
    Velocity,
    Mean,
    Damp,
    ContactVelocity,
    SeparateVelocity,
}

const _: () = assert!(Kernel::SeparateVelocity as usize == ENTRIES.len() - 1);

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
    /// Times a frame's substeps for Tracy, when a Tracy client runs.
    timer: Option<PassTimer>,
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
    /// Per body: the deepest contact it was in while awake (bits).
    resting: wgpu::Buffer,
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
    /// Per body: the resting depth sent when the last step began.
    rested: Vec<f32>,
}

/// A soft-body mirror on a device, for [`SoftBodies::step_mirrored`](loam_systems::xpbd::SoftBodies::step_mirrored).
pub struct BodiesOnGpu<'a> {
    bodies: &'a mut GpuSoftBodies,
    gpu: &'a GpuContext,
}

/// Storage buffers the substep shader binds in group 0.
const COMMON_BINDINGS: usize = 30;

/// Storage buffers a substep kernel binds in all: group 0, and a colour's
/// constraint list in group 1. The most of any of Loam's kernels: the
/// device asks for exactly this many.
const STORAGE_BUFFERS: u32 = COMMON_BINDINGS as u32 + 1;
const _: () = assert!(STORAGE_BUFFERS == MOST_STORAGE_BUFFERS);

impl GpuSoftBodies {
    /// Soft bodies on `gpu` that collide with `world` and record the pages
    /// they touch into `feedback`, if given. Nothing is sent until the
    /// first step.
    pub fn new(gpu: &GpuContext, world: &WorldMirror, feedback: Option<&PageUse>) -> Self {
        // The shader's bindings in group 0, and those it writes.
        let mut access = vec![Access::Read; COMMON_BINDINGS];
        for b in [
            1, 2, 3, 6, 8, 11, 12, 13, 14, 15, 16, 19, 20, 21, 25, 26, 27, 29,
        ] {
            access[b] = Access::ReadWrite;
        }
        let common_layout = gpu.storage_layout("xpbd.common", &access);
        let colour_layout = gpu.storage_layout("xpbd.colour", &[Access::Read]);
        let pipelines = gpu.pipelines(
            "xpbd_substep.wgsl",
            shaders::xpbd_substep(),
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
            timer: PassTimer::for_tracy(gpu),
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
        let pconst: Vec<[u32; 4]> = (0..b.x.len())
            .map(|p| {
                [
                    b.w[p].to_bits(),
                    b.friction[p].to_bits(),
                    b.drag[p].to_bits(),
                    b.owner[p],
                ]
            })
            .collect();
        let feel = feel_of(b);
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
        let (links, links_at) = links_of(b);
        let (joints, volume) = joints_of(b);
        let counts = Params {
            particles: b.x.len() as u32,
            shapes: b.shape_first.len() as u32,
            bodies: n as u32,
            at,
            links: links_at,
            volume,
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
        let resting = buffer("xpbd.resting", bytemuck::cast_slice(&b.resting_depth), both);
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
            &buffer("xpbd.skin", bytemuck::cast_slice(b.skin), kept),
            &buffer("xpbd.links", bytemuck::cast_slice(&links), kept),
            &scratch("xpbd.x0", 12 * b.x.len()),
            &scratch("xpbd.counts", 4 * b.x.len()),
            &resting,
            &buffer("xpbd.joints", bytemuck::cast_slice(&joints), kept),
            &scratch("xpbd.joint_work", 16 * (2 * volume[0] as usize + n)),
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
            resting,
            sweep,
            common,
            stand_in: colour([0, 0]),
            colours,
            counts,
            body_particles: b.bodies.clone(),
            body_faces: b.body_faces.clone(),
            feel_sent: feel,
            slept: b.sleeping.clone(),
            rested: b.resting_depth.clone(),
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
        stats.particles_sent += length(&unsent);
        // Compared by their bits: -0 is a change, and NaN is none.
        let feel = feel_of(b);
        let now: &[u32] = bytemuck::cast_slice(&feel);
        let sent: &[u32] = bytemuck::cast_slice(&self.feel_sent);
        let changed = runs(&self.body_particles, |k| {
            let (lo, hi) = self.body_particles[k];
            now[4 * lo..4 * hi] != sent[4 * lo..4 * hi]
        });
        send(gpu, &self.feel, &feel, &changed);
        stats.feel_sent += length(&changed);
        self.feel_sent = feel;
        gpu.queue
            .write_buffer(&self.sleeping, 0, bytemuck::cast_slice(&flags(&b.sleeping)));
        self.slept.clone_from(&b.sleeping);
        gpu.queue
            .write_buffer(&self.resting, 0, bytemuck::cast_slice(&b.resting_depth));
        self.rested.clone_from(&b.resting_depth);
    }
}

/// The skin's links as the kernels read them, and where each part starts
/// (`Params::links`): per body its first and end skin face; per particle
/// where its list of the skin faces it is a corner of starts, and where
/// the last ends; the lists, each entry `face · 4 + corner`, faces
/// ascending.
fn links_of(b: &Mirror<'_>) -> (Vec<u32>, [u32; 4]) {
    let mut links: Vec<u32> = b
        .body_skin
        .iter()
        .flat_map(|&(lo, hi)| [lo as u32, hi as u32])
        .collect();
    let mut of_particle: Vec<Vec<u32>> = vec![Vec::new(); b.x.len()];
    for (face, corners) in b.skin.iter().enumerate() {
        for (k, &p) in corners.iter().enumerate() {
            of_particle[p as usize].push(4 * face as u32 + k as u32);
        }
    }
    let starts = links.len() as u32;
    let lists = starts + b.x.len() as u32 + 1;
    let mut at = lists;
    for list in &of_particle {
        links.push(at);
        at += list.len() as u32;
    }
    links.push(at);
    links.extend(of_particle.into_iter().flatten());
    (links, [starts, lists, 0, 0])
}

/// The Gram-Schmidt bodies' skin joints as the kernels read them, and
/// `Params::volume`: the joint count and where the parts start. Per body 8
/// words: its first and end joint, its rest volume (bits), its first and
/// end face. Per particle its joint + 1 (0: none; the contacts find a
/// particle's joint by it). Then per joint where its particles start (and
/// where the last ends), the particles, and per skin face the joints of
/// its corners.
fn joints_of(b: &Mirror<'_>) -> (Vec<u32>, [u32; 4]) {
    let mut words: Vec<u32> = Vec::new();
    for k in 0..b.bodies.len() {
        let ((j0, j1), (f0, f1)) = (b.body_joints[k], b.body_faces[k]);
        words.extend([j0 as u32, j1 as u32, b.body_rest_volume[k].to_bits()]);
        words.extend([f0 as u32, f1 as u32, 0, 0, 0]);
    }
    let particles = words.len();
    words.resize(particles + b.x.len(), 0);
    for (j, &start) in b.joint_start.iter().enumerate() {
        let end = b
            .joint_start
            .get(j + 1)
            .map_or(b.joint_members.len(), |&e| e as usize);
        for &m in &b.joint_members[start as usize..end] {
            words[particles + m as usize] = j as u32 + 1;
        }
    }
    let starts = words.len() as u32;
    words.extend(b.joint_start);
    words.push(b.joint_members.len() as u32);
    let members = words.len() as u32;
    words.extend(b.joint_members);
    let quads = words.len() as u32;
    words.extend(b.skin_joints.iter().flatten());
    (words, [b.joint_start.len() as u32, starts, members, quads])
}

/// Flags as the kernels read them: a word each, 1 for true.
fn flags(v: &[bool]) -> Vec<u32> {
    v.iter().map(|&f| u32::from(f)).collect()
}

/// Per particle: the kinetic field (xyz) and buoyancy (w).
fn feel_of(b: &Mirror<'_>) -> Vec<[f32; 4]> {
    b.wind
        .iter()
        .zip(b.buoyancy)
        .map(|(&[x, y, z], &lift)| [x, y, z, lift])
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
                timestamp_writes: me.timer.as_ref().map(PassTimer::writes),
            });
            pass.set_bind_group(0, &held.common, &[]);
            let c = &held.counts;
            let stand_in = &held.stand_in;
            // `n` invocations of `kernel` (one workgroup for `Reach`).
            let mut run = |kernel: Kernel, group: &wgpu::BindGroup, n: u32| {
                if n == 0 {
                    return;
                }
                pass.set_pipeline(&me.pipelines[kernel as usize]);
                pass.set_bind_group(1, group, &[]);
                let [x, y] = grid(n.div_ceil(WORKGROUP) as usize);
                pass.dispatch_workgroups(x, y, 1);
            };
            use Kernel::*;
            for _ in 0..step.substeps {
                run(Predict, stand_in, c.particles);
                for (kernel, colours) in [Distance, Volume].into_iter().zip(&held.colours) {
                    for (group, n) in colours {
                        run(kernel, group, *n);
                    }
                }
                run(Shape, stand_in, c.shapes);
                for (group, n) in &held.colours[2] {
                    run(Face, group, *n);
                }
                if c.volume[0] > 0 {
                    run(JointMean, stand_in, c.volume[0]);
                    run(BodyVolume, stand_in, c.bodies);
                    run(JointVolume, stand_in, c.volume[0]);
                }
                if c.bodies > 1 {
                    run(Bounds, stand_in, c.bodies);
                    run(Reach, stand_in, 1);
                    run(Near, stand_in, c.bodies);
                    run(Snapshot, stand_in, c.particles);
                    run(Count, stand_in, c.particles);
                    for _ in 0..CONTACT_ITERATIONS {
                        run(Contact, stand_in, c.particles);
                        run(Separate, stand_in, c.particles);
                    }
                    run(Wake, stand_in, c.bodies);
                }
                run(Collide, stand_in, c.particles);
                run(Velocity, stand_in, c.particles);
                run(Mean, stand_in, c.bodies);
                run(Damp, stand_in, c.particles);
                if c.bodies > 1 {
                    for _ in 0..CONTACT_ITERATIONS {
                        run(ContactVelocity, stand_in, c.particles);
                        run(SeparateVelocity, stand_in, c.particles);
                    }
                }
            }
        }
        if let Some(timer) = &me.timer {
            timer.resolve(&mut encoder);
        }
        gpu.queue.submit([encoder.finish()]);
        Ok(())
    }

    fn read(&mut self, mut out: MirrorRead<'_>) -> Result<(), GpuError> {
        let me = &mut *self.bodies;
        let Some(held) = &me.held else {
            return Ok(());
        };
        match held.read(self.gpu, &mut out) {
            Ok(read) => {
                me.stats.particles_read += read;
                if let Some(timer) = &me.timer {
                    timer.read(self.gpu, "softbody.substeps")?;
                }
                Ok(())
            }
            Err(e) => {
                // What the GPU holds is unknown now: send everything next.
                me.held = None;
                Err(e)
            }
        }
    }
}

impl Held {
    /// Reads the frame back into `out`, all or nothing: the bodies awake at
    /// the start with every body's sleeping flag in one round trip, then
    /// those a contact woke. The others stayed still: their velocities are
    /// zero, as the CPU's substeps leave them. Returns the particles read.
    fn read(&self, gpu: &GpuContext, out: &mut MirrorRead<'_>) -> Result<u64, GpuError> {
        let awake = |k: usize| !self.slept[k];
        let first = Fetched::read(gpu, self, awake)?;
        let woken = |k: usize| self.slept[k] && first.sleeping[k] == 0;
        let late = Fetched::read(gpu, self, woken)?;
        for fetched in [&first, &late] {
            fetched.write(out);
        }
        for (k, &(lo, hi)) in self.body_particles.iter().enumerate() {
            if !awake(k) && !woken(k) {
                out.v[lo..hi].fill([0.0; 3]);
            }
        }
        for (s, &f) in out.sleeping.iter_mut().zip(&first.sleeping) {
            *s = f != 0;
        }
        for (r, &bits) in out.resting_depth.iter_mut().zip(&first.resting) {
            *r = f32::from_bits(bits);
        }
        Ok(length(&first.particles) + length(&late.particles))
    }
}

/// What one round trip read back: every body's sleeping flag and resting
/// depth (bits), and the positions, velocities, powder pushes and torn
/// faces of some bodies.
struct Fetched {
    sleeping: Vec<u32>,
    resting: Vec<u32>,
    particles: Vec<(usize, usize)>,
    faces: Vec<(usize, usize)>,
    words: Vec<u32>,
}

impl Fetched {
    /// Reads back the bodies `pick` chooses (nothing when it chooses none).
    fn read(gpu: &GpuContext, held: &Held, pick: impl Fn(usize) -> bool) -> Result<Self, GpuError> {
        let particles = runs(&held.body_particles, &pick);
        let faces = runs(&held.body_faces, &pick);
        let mut parts: Vec<(&wgpu::Buffer, u64, u64)> = Vec::new();
        let n = held.slept.len();
        if !particles.is_empty() {
            parts.push((&held.sleeping, 0, 4 * n as u64));
            parts.push((&held.resting, 0, 4 * n as u64));
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
        let mut words: Vec<u32> = gpu.read_parts(&parts)?;
        let (sleeping, resting) = if particles.is_empty() {
            // Nobody read back, so no contact: the flags and depths are
            // those sent.
            (
                flags(&held.slept),
                held.rested.iter().map(|d| d.to_bits()).collect(),
            )
        } else {
            let sleeping = words.drain(..n).collect();
            (sleeping, words.drain(..n).collect())
        };
        Ok(Self {
            sleeping,
            resting,
            particles,
            faces,
            words,
        })
    }

    /// Writes what was read into `out`.
    fn write(&self, out: &mut MirrorRead<'_>) {
        let mut rest = &self.words[..];
        let mut take = |n: usize| {
            let (head, tail) = rest.split_at(n);
            rest = tail;
            head
        };
        for into in [&mut *out.x, &mut *out.v, &mut *out.pressed] {
            for &(lo, hi) in &self.particles {
                into[lo..hi].copy_from_slice(bytemuck::cast_slice(take(3 * (hi - lo))));
            }
        }
        for &(lo, hi) in &self.faces {
            for (f, &w) in out.face_broken[lo..hi].iter_mut().zip(take(hi - lo)) {
                *f = w != 0;
            }
        }
    }
}
