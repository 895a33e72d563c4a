//! The automaton's movement on the GPU (`shaders/ca_move.wgsl`): the
//! world's material, temperature and flag pools mirrored slot for slot,
//! each resident page's 27-page neighbourhood, and the 8 checkerboard
//! phases dispatched in order, one invocation per page.
//!
//! [`GpuAutomaton::step_world`] follows the CPU's schedule: it updates
//! the pages woken since the last frame, reads back each page's change box
//! and wakes the pages that can see it, as `loam_systems::ca::step` does,
//! so the two agree bit for bit. The CPU's world stays the authority: a
//! step sends the pages it reads whose change stamp moved and copies back
//! the pages it changed. [`GpuAutomaton::step`] updates every resident
//! page (a benchmark). Reactions and heat conduction run as on the CPU.

use bytemuck::{Pod, Zeroable};
use loam_storage::pool::slots_mut;
use loam_storage::{neighbourhood, VoxelWorld, WorldLayout};
use loam_systems::ca::flags::MOVED;
use loam_systems::ca::{CaConfig, CaStats};
use loam_systems::materials::MaterialTable;
use wgpu::util::DeviceExt;

use crate::context::Access;
use crate::pools::PoolMirror;
use crate::{shaders, GpuContext, GpuError};

/// The kernel's parameters (the shader's `Params`).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    p: i32,
    reach: i32,
    start: u32,
    count: u32,
    seed: [u32; 2],
    frame: [u32; 2],
    heat: u32,
    reactions: u32,
    slab: i32,
    _pad: u32,
}

/// Words per page of the kernel's change record (the shader's
/// `CHANGE_WORDS`).
const CHANGE_WORDS: usize = 12;

/// The automaton's movement, mirrored on the GPU.
pub struct GpuAutomaton {
    range: wgpu::ComputePipeline,
    move_slab: wgpu::ComputePipeline,
    heat_slab: wgpu::ComputePipeline,
    finish: wgpu::ComputePipeline,
    clear: wgpu::ComputePipeline,
    /// Every dispatch's parameters of a frame, `stride` bytes apart.
    params: wgpu::Buffer,
    stride: u64,
    group: wgpu::BindGroup,
    /// The world's pools, flags included.
    pools: PoolMirror,
    phase_pages: wgpu::Buffer,
    changes: wgpu::Buffer,
    /// Words of the flag pool.
    words: u32,
    layout: WorldLayout,
    seed: u64,
    config: CaConfig,
    /// The resident pages, by row (the order of the `pages` buffer).
    pages: Vec<usize>,
    /// Their slots.
    slots: Vec<usize>,
}

/// Whether the GPU automaton can run `table`: it reads the materials and
/// reactions from buffers (`reaction_tables`), as the CPU does, but hands
/// out no blasts, so a table whose reactions blast is refused (the error
/// says so).
pub fn runs_reactions_of(table: &MaterialTable) -> Result<(), String> {
    if table.has_blasts() {
        return Err(
            "the GPU automaton sets off no blasts: run a scenario whose reactions \
                    blast on the CPU automaton (gpu_automaton = false)"
                .into(),
        );
    }
    Ok(())
}

impl GpuAutomaton {
    /// Uploads `world`'s pools and resident pages, for frames with `seed`
    /// and the parts of the automaton `config` turns on.
    ///
    pub fn new(
        gpu: &GpuContext,
        world: &VoxelWorld,
        table: &MaterialTable,
        config: &CaConfig,
        seed: u64,
    ) -> Self {
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
        let pools = PoolMirror::new(gpu, world, "ca", true);
        let flags = pools.flags.as_ref().expect("made with flags");
        // Per resident page: 27 neighbourhood offsets, then its origin.
        let resident = world.resident_pages();
        let mut rows = Vec::with_capacity(30 * resident.len());
        for &p in &resident {
            let c = layout.page_coord(p);
            for k in 0..27 {
                let base = layout
                    .neighbour_page(c, neighbourhood::offset(k))
                    .and_then(|n| world.table().resident_slot(n))
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
        // Room for every row in the phase lists, written each frame.
        let phase_pages = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("ca.phase_pages"),
            size: 4 * (resident.len() as u64 + 1),
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let changes = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("ca.changes"),
            size: 4 * CHANGE_WORDS as u64 * (resident.len() as u64).max(1),
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        // A gas denser than air gets a kind code of its own (6, after the
        // CPU's kinds), as the shader's HEAVY_GAS.
        let kinds: Vec<u32> = (0..256)
            .map(|m| {
                if table.heavy[m] {
                    6
                } else {
                    table.kind[m] as u32
                }
            })
            .collect();
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
        let conduction: Vec<f32> = table
            .conductivity
            .iter()
            .chain(&table.heat_capacity)
            .copied()
            .collect();
        let heat = buffer(
            "ca.heat",
            bytemuck::cast_slice(&conduction),
            wgpu::BufferUsages::empty(),
        );
        let reactions = buffer(
            "ca.reactions",
            bytemuck::cast_slice(&crate::reaction_tables::pack(table)),
            wgpu::BufferUsages::empty(),
        );
        let rises = buffer(
            "ca.rises",
            bytemuck::cast_slice(&bits(&table.rises)),
            wgpu::BufferUsages::empty(),
        );

        // One layout for every entry point, the parameters at a dynamic
        // offset: a frame writes all its dispatches' parameters at once.
        // Material, temperature, flags, changes and latent heat are written.
        let access: Vec<Access> = (0..13)
            .map(|b| match b {
                0 => Access::ReadAt(std::mem::size_of::<Params>() as u64),
                1 | 2 | 3 | 9 | 12 => Access::ReadWrite,
                _ => Access::Read,
            })
            .collect();
        let bindings = gpu.storage_layout("ca", &access);
        let [range, move_slab, heat_slab, finish, clear] = gpu.pipelines(
            "ca_move.wgsl",
            shaders::ca_move(),
            &[&bindings],
            ["range", "move_slab", "heat_slab", "finish", "clear"],
        );
        let p = layout.page as u64;
        let stride = (std::mem::size_of::<Params>() as u64).next_multiple_of(u64::from(
            gpu.device.limits().min_storage_buffer_offset_alignment,
        ));
        // At most, per phase: the range, a move and a heat dispatch per
        // slab, and the finish.
        let params = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("ca.params"),
            size: stride * 8 * (2 * p + 2),
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("ca"),
            layout: &bindings,
            entries: &[
                &params,
                &pools.material,
                &pools.temperature,
                flags,
                &pages,
                &phase_pages,
                &kinds,
                &sinks,
                &rises,
                &changes,
                &heat,
                &reactions,
                &pools.latent,
            ]
            .iter()
            .enumerate()
            .map(|(b, buffer)| wgpu::BindGroupEntry {
                binding: b as u32,
                resource: if b == 0 {
                    wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer,
                        offset: 0,
                        size: wgpu::BufferSize::new(std::mem::size_of::<Params>() as u64),
                    })
                } else {
                    buffer.as_entire_binding()
                },
            })
            .collect::<Vec<_>>(),
        });
        Self {
            range,
            move_slab,
            heat_slab,
            finish,
            clear,
            params,
            stride,
            group,
            words: (flags.size() / 4) as u32,
            pools,
            phase_pages,
            changes,
            layout,
            seed,
            config: *config,
            slots: resident
                .iter()
                .filter_map(|&p| world.table().resident_slot(p))
                .collect(),
            pages: resident,
        }
    }

    /// One frame of movement over every resident page: MOVED bits cleared,
    /// then the 8 phases in order. Waits for the GPU, so that frames
    /// submitted one after another do not pile up (a frame is hundreds of
    /// small dispatches).
    pub fn step(&self, gpu: &GpuContext, frame: u64) -> Result<(), GpuError> {
        let rows: Vec<u32> = (0..self.pages.len() as u32).collect();
        self.dispatch(gpu, frame, &rows);
        gpu.wait()
    }

    /// One frame over the pages `world`'s table has woken, as the CPU's
    /// `loam_systems::ca::step` does: it takes the woken pages, updates
    /// those that are resident, and wakes (or, where cells changed,
    /// touches) the pages that can see each page's changes for the next
    /// frame. The CPU's world stays the authority: pages the update reads
    /// are sent first if their change stamp or slot moved since the GPU had
    /// them, and the pages the update changed are copied back, so `world`
    /// ends as the CPU's step would leave it. Waits for the GPU.
    ///
    /// # Errors
    /// [`GpuError::Stale`] when the world's resident pages are no longer
    /// those the automaton was made with (make a new one); a failed
    /// readback.
    pub fn step_world(
        &self,
        gpu: &GpuContext,
        world: &mut VoxelWorld,
        frame: u64,
    ) -> Result<CaStats, GpuError> {
        if !self.mirrors_residency_of(world) {
            return Err(GpuError::Stale(
                "the world's resident pages changed since the automaton was made".into(),
            ));
        }
        let active: Vec<usize> = world.take_woken();
        let rows: Vec<u32> = self
            .pages
            .iter()
            .enumerate()
            .filter(|(_, p)| active.binary_search(p).is_ok())
            .map(|(r, _)| r as u32)
            .collect();
        let layout = self.layout;
        let mut read: Vec<usize> = rows
            .iter()
            .flat_map(|&r| {
                let c = layout.page_coord(self.pages[r as usize]);
                (0..27).filter_map(move |k| layout.neighbour_page(c, neighbourhood::offset(k)))
            })
            .collect();
        read.sort_unstable();
        read.dedup();
        self.pools.sync(gpu, world, &read);
        self.dispatch(gpu, frame, &rows);
        let changes: Vec<i32> = gpu.read(&self.changes)?;
        let p = layout.page as i32;
        let mut stats = CaStats {
            pages_updated: rows.len() as u64,
            cells_updated: (rows.len() * layout.page_cells()) as u64,
            ..CaStats::default()
        };
        let mut written = Vec::new();
        for &r in &rows {
            let at = CHANGE_WORDS * r as usize;
            let c = &changes[at..at + CHANGE_WORDS];
            stats.moves += c[6] as u64;
            stats.reactions += c[8] as u64;
            let (lo, hi) = ([c[0], c[1], c[2]], [c[3], c[4], c[5]]);
            // As the CPU's page result: a reaction still pending keeps the
            // page awake; the change box wakes what can see it; heat that
            // moved wakes (and dirties) every neighbour.
            let (warmed, pending) = (c[7] & 1 != 0, c[7] & 2 != 0);
            let mut wake = if pending { neighbourhood::SELF } else { 0 };
            let mut dirty = 0;
            if lo[0] <= hi[0] {
                wake |= neighbourhood::seen_by_box(lo, hi, p);
                dirty = neighbourhood::holding_box(lo, hi, p);
            }
            if warmed {
                (wake, dirty) = (neighbourhood::ALL, neighbourhood::ALL);
            }
            let at = layout.page_coord(self.pages[r as usize]);
            for k in (0..27).filter(|k| wake >> k & 1 == 1) {
                if let Some(n) = layout.neighbour_page(at, neighbourhood::offset(k)) {
                    if dirty >> k & 1 == 1 {
                        world.touch(n);
                        written.push(n);
                    } else {
                        world.wake(n);
                    }
                }
            }
        }
        written.sort_unstable();
        written.dedup();
        // The kernel cleared the MOVED bits of the updated pages; so does
        // the CPU's copy of those it does not get back.
        let mut cleared: Vec<usize> = active
            .iter()
            .filter(|p| written.binary_search(p).is_err())
            .filter_map(|&p| world.table().resident_slot(p))
            .collect();
        cleared.sort_unstable();
        let page_cells = world.layout().page_cells();
        for flags in slots_mut(world.pools_mut().flags, page_cells, &cleared) {
            flags.iter_mut().for_each(|f| *f &= !MOVED);
        }
        self.pools.download(gpu, world, &written)?;
        stats.active_pages = world.table().awake_count() as u64;
        Ok(stats)
    }

    /// Whether `world`'s resident pages are those, in the same slots, the
    /// automaton was made with.
    fn mirrors_residency_of(&self, world: &VoxelWorld) -> bool {
        world.resident_count() == self.pages.len()
            && self
                .pages
                .iter()
                .zip(&self.slots)
                .all(|(&p, &s)| world.table().resident_slot(p) == Some(s))
    }

    /// Pages sent to the GPU since the automaton was made (not counting the
    /// first copy of the world).
    pub fn pages_uploaded(&self) -> u64 {
        self.pools.uploaded()
    }

    /// Clears MOVED bits and updates page `rows` phase by phase, slab by
    /// slab (see the shader).
    fn dispatch(&self, gpu: &GpuContext, frame: u64, rows: &[u32]) {
        let phase = |r: u32| {
            let c = self.layout.page_coord(self.pages[r as usize]);
            (c[0] & 1) | (c[1] & 1) << 1 | (c[2] & 1) << 2
        };
        let mut lists: Vec<u32> = rows.to_vec();
        lists.sort_by_key(|&r| (phase(r), r));
        let mut counts = [0u32; 8];
        for &r in &lists {
            counts[phase(r) as usize] += 1;
        }
        if !lists.is_empty() {
            gpu.queue
                .write_buffer(&self.phase_pages, 0, bytemuck::cast_slice(&lists));
        }
        // Every record starts as "nothing yet".
        let empty: [i32; CHANGE_WORDS] = [
            i32::MAX,
            i32::MAX,
            i32::MAX,
            i32::MIN,
            i32::MIN,
            i32::MIN,
            0,
            0,
            0,
            i32::MAX,
            i32::MIN,
            0,
        ];
        let records: Vec<i32> = (0..self.pages.len()).flat_map(|_| empty).collect();
        gpu.queue
            .write_buffer(&self.changes, 0, bytemuck::cast_slice(&records));
        // The dispatches, in order: (pipeline, parameters, invocations).
        let p = self.layout.page as i32;
        let words = |v: u64| [v as u32, (v >> 32) as u32];
        let base = Params {
            p,
            reach: neighbourhood::sideways_reach(p),
            start: 0,
            count: 0,
            seed: words(self.seed),
            frame: words(frame),
            heat: u32::from(self.config.heat),
            reactions: u32::from(self.config.reactions)
                | u32::from(self.config.thermal_transitions) << 1,
            slab: 0,
            _pad: 0,
        };
        let mut steps: Vec<(&wgpu::ComputePipeline, Params, u32)> = Vec::new();
        let mut start = 0;
        for count in counts.into_iter().filter(|&c| c > 0) {
            let at = |slab| Params {
                start,
                count,
                slab,
                ..base
            };
            steps.push((&self.range, at(0), (count * p as u32).div_ceil(64)));
            steps.extend((0..p).map(|y| (&self.move_slab, at(y), count)));
            if self.config.heat {
                steps.extend((0..p).map(|z| (&self.heat_slab, at(z), count)));
                steps.push((&self.finish, at(0), count.div_ceil(64)));
            }
            start += count;
        }
        let mut bytes = vec![0u8; self.stride as usize * steps.len().max(1)];
        for (k, (_, params, _)) in steps.iter().enumerate() {
            let at = k * self.stride as usize;
            bytes[at..at + std::mem::size_of::<Params>()]
                .copy_from_slice(bytemuck::bytes_of(params));
        }
        gpu.queue.write_buffer(&self.params, 0, &bytes);
        let mut encoder = gpu
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("ca") });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("ca.move"),
                timestamp_writes: None,
            });
            pass.set_pipeline(&self.clear);
            pass.set_bind_group(0, &self.group, &[0]);
            pass.dispatch_workgroups(self.words.div_ceil(64), 1, 1);
            for (k, (pipeline, _, groups)) in steps.iter().enumerate() {
                pass.set_pipeline(pipeline);
                pass.set_bind_group(0, &self.group, &[(k as u64 * self.stride) as u32]);
                pass.dispatch_workgroups(*groups, 1, 1);
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
        let cells = world.pools_mut();
        unpack(gpu.read(&self.pools.material)?, cells.material);
        if let Some(flags) = &self.pools.flags {
            unpack(gpu.read(flags)?, cells.flags);
        }
        let t: Vec<f32> = gpu.read(&self.pools.temperature)?;
        cells.temperature.copy_from_slice(&t);
        let latent: Vec<f32> = gpu.read(&self.pools.latent)?;
        cells.latent.copy_from_slice(&latent);
        Ok(())
    }
}
