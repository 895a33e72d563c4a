//! The Metropolis phase pass on the GPU (`shaders/phase_metropolis.wgsl`).
//!
//! A pass is planned, and ended, by the CPU's own
//! [`plan_pass`] and [`finish_pass`], so the GPU visits the pages the CPU
//! would and leaves the same wakes, candidates and transition counts. In
//! between, one invocation decides each cell of a half-sweep's colour,
//! with the CPU's random draw for that cell; the Gibbs energies are in
//! `f32` where the CPU uses `f64`, so a draw within rounding of its
//! acceptance may go the other way (the tests compare counts
//! statistically, and exactly where every draw is clear).
//!
//! The mirror holds the world's material and temperature pools slot for
//! slot. The CPU's world stays the authority: of the pages a pass reads
//! (the visited pages, their face neighbours and the pages above them,
//! whose columns weigh on them) it first sends those whose
//! [change stamp](loam_storage::PageTable::change_stamp) or slot moved
//! since the mirror last had them, and it copies back only the pages it
//! changed.
//!
//! ```no_run
//! use loam_gpu::{GpuContext, GpuPhase};
//! use loam_storage::{VoxelWorld, WorldLayout};
//! use loam_systems::materials::{id, MaterialTable};
//! use loam_systems::phase::{PhaseConfig, PhaseState, PhaseTable};
//!
//! let gpu = GpuContext::new()?;
//! let layout = WorldLayout::new([64, 64, 64], 32).expect("a valid layout");
//! // Water at 390 K: above its boiling point, holding heat to pay for it.
//! let mut world = VoxelWorld::new(layout, id::WATER, 390.0);
//! let (phases, materials) = (PhaseTable::default(), MaterialTable::default());
//! let config = PhaseConfig::default();
//! let kernel = GpuPhase::new(&gpu, &world, &phases, &materials, &config)?;
//! let mut state = PhaseState::default();
//! for p in 0..layout.page_count() {
//!     world.wake(p);
//! }
//! kernel.pass(&gpu, &mut world, &mut state, &phases, &[], None, 7, 0)?;
//! println!("{} cells changed phase", state.last.accepted);
//! # Ok::<(), loam_gpu::GpuError>(())
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use bytemuck::{Pod, Zeroable};
use loam_storage::{VoxelWorld, WorldLayout};
use loam_systems::fields::Fields;
use loam_systems::materials::{Kind, MaterialTable};
use loam_systems::phase::plan::{sweep_key, FieldPatch};
use loam_systems::phase::terms::substance_terms;
use loam_systems::phase::{
    finish_pass, plan_pass, HeatBath, PageOutcome, PassPlan, PhaseConfig, PhaseState, PhaseTable,
    State,
};
use wgpu::util::DeviceExt;

use crate::context::Access;
use crate::pools::PoolMirror;
use crate::timing::PassTimer;
use crate::{shaders, GpuContext, GpuError, PageUse};

/// The kernel's parameters (the shader's `Params`).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    p: u32,
    colour: u32,
    stride: u32,
    substances: u32,
    size: [u32; 3],
    pages: [u32; 3],
    baths: u32,
    field_cell: u32,
    field_n: u32,
    ambient: f32,
    layer: f32,
    capacity: u32,
    key: [u32; 2],
    _tail: [u32; 2],
}

/// Words a substance takes in the terms buffer (the shader's
/// `SUBSTANCE_WORDS`).
const SUBSTANCE_WORDS: usize = 64;

/// Largest number of pages one pass may visit (a dispatch dimension).
const MAX_VISITED: usize = 65_535;

/// Room for requests for absent pages in one page-use readback.
const REQUESTS: u32 = 1024;

/// The Metropolis pass, mirrored on the GPU.
pub struct GpuPhase {
    overburden: wgpu::ComputePipeline,
    columns: wgpu::ComputePipeline,
    decide: wgpu::ComputePipeline,
    /// One layout for the three entry points, so one bind group serves all.
    bindings: wgpu::BindGroupLayout,
    pools: PoolMirror,
    table: wgpu::Buffer,
    terms: wgpu::Buffer,
    layout: WorldLayout,
    config: PhaseConfig,
    substances: usize,
    timer: Option<PassTimer>,
    /// GPU time of the last pass, ns.
    last_ns: AtomicU64,
    /// The visited pages' uses, and the absent pages the columns reached.
    feedback: Mutex<PageUse>,
}

impl GpuPhase {
    /// Uploads `world`'s pools and page table and the phase terms, for
    /// passes with `config`.
    pub fn new(
        gpu: &GpuContext,
        world: &VoxelWorld,
        phases: &PhaseTable,
        materials: &MaterialTable,
        config: &PhaseConfig,
    ) -> Result<Self, GpuError> {
        let device = &gpu.device;
        let layout = *world.layout();
        let buffer = |label, bytes: &[u8], usage| {
            device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents: bytes,
                usage: wgpu::BufferUsages::STORAGE | usage,
            })
        };
        let table = buffer(
            "phase.table",
            bytemuck::cast_slice(&page_table(world)),
            wgpu::BufferUsages::COPY_DST,
        );
        let terms = buffer(
            "phase.terms",
            bytemuck::cast_slice(&terms_words(phases, materials, config)),
            wgpu::BufferUsages::empty(),
        );
        // One layout for the three entry points, so one bind group serves all.
        let bindings = {
            use Access::{Read, ReadWrite};
            let access = [
                Read, ReadWrite, ReadWrite, Read, Read, Read, ReadWrite, Read, ReadWrite,
                ReadWrite, ReadWrite, ReadWrite, ReadWrite,
            ];
            gpu.storage_layout("phase", &access)
        };
        let [overburden, columns, decide] = gpu.pipelines(
            "phase_metropolis.wgsl",
            shaders::phase_metropolis(),
            &[&bindings],
            ["overburden", "columns", "decide"],
        );
        Ok(Self {
            overburden,
            columns,
            decide,
            bindings,
            pools: PoolMirror::new(gpu, world, "phase", false),
            table,
            terms,
            layout,
            config: *config,
            substances: phases.substances.len(),
            timer: PassTimer::new(gpu),
            last_ns: AtomicU64::new(0),
            feedback: Mutex::new(PageUse::new(gpu, &layout, REQUESTS)),
        })
    }

    /// The passes' page-use feedback, GigaVoxels style: each pass counts a
    /// use of every page it visits and of every page its columns weigh, and
    /// asks once for every absent page its columns reach (the liquid or
    /// solid above a visited page goes on into it). [`PageUse::start_readback`] after a pass and
    /// [`PageUse::take`] a frame later give the CPU's
    /// [`PhaseState::asked`] and feed the page table's LRU.
    pub fn page_use(&self) -> MutexGuard<'_, PageUse> {
        self.feedback.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes the GPU's copy of pages `pages` (and of their rows in the
    /// page table) what `world` holds, sending those whose change stamp or
    /// slot moved since the mirror last had them. The world's pools must
    /// have the capacity they had at [`GpuPhase::new`].
    pub fn sync(&self, gpu: &GpuContext, world: &VoxelWorld, pages: &[usize]) {
        for p in self.pools.sync(gpu, world, pages) {
            let row = world.table().resident_slot(p).map_or(0, |s| s as u32 + 1);
            gpu.queue
                .write_buffer(&self.table, 4 * p as u64, bytemuck::bytes_of(&row));
        }
    }

    /// GPU time of the last pass that visited anything, ns; `None` where
    /// the device cannot time passes. With the `tracy` feature and a Tracy
    /// client running, each pass is also a GPU zone in Tracy.
    pub fn last_gpu_ns(&self) -> Option<u64> {
        self.timer
            .as_ref()
            .map(|_| self.last_ns.load(Ordering::Relaxed))
    }

    /// Pages sent to the GPU since the mirror was made (not counting the
    /// first copy of the world).
    pub fn pages_uploaded(&self) -> u64 {
        self.pools.uploaded()
    }

    /// One pass, as `loam_systems::phase::metropolis_pass` does it: the
    /// pages it visits, the wakes, candidates and counts it leaves in
    /// `world` and `state`. The pages the GPU changed are copied back into
    /// `world`. Waits for the GPU: [`GpuPhase::begin`] and
    /// [`GpuPhase::end`] split it, to do other work in between.
    #[allow(clippy::too_many_arguments)]
    pub fn pass(
        &self,
        gpu: &GpuContext,
        world: &mut VoxelWorld,
        state: &mut PhaseState,
        phases: &PhaseTable,
        baths: &[HeatBath],
        fields: Option<&Fields>,
        seed: u64,
        frame: u64,
    ) -> Result<(), GpuError> {
        let pass = self.begin(gpu, world, state, phases, baths, fields, seed, frame)?;
        self.end(gpu, pass, world, state, phases)
    }

    /// Plans a pass, sends what it reads and submits it, without waiting:
    /// `world` must not change until [`GpuPhase::end`].
    #[allow(clippy::too_many_arguments)]
    pub fn begin(
        &self,
        gpu: &GpuContext,
        world: &VoxelWorld,
        state: &PhaseState,
        phases: &PhaseTable,
        baths: &[HeatBath],
        fields: Option<&Fields>,
        seed: u64,
        frame: u64,
    ) -> Result<PhasePass, GpuError> {
        let plan = plan_pass(world, state, phases, &self.config, frame);
        let n = plan.pages.len();
        if n == 0 {
            return Ok(PhasePass {
                plan,
                outcome: None,
            });
        }
        let layout = self.layout;
        self.sync(gpu, world, &pages_read(&layout, &plan.pages));
        let p = layout.page;
        let above_bytes = 4 * n as u64 * (layout.page_cells() as u64 + u64::from(p * p));
        let limit = gpu.device.limits().max_storage_buffer_binding_size;
        if n > MAX_VISITED || above_bytes > limit {
            return Err(GpuError::TooLarge(format!(
                "{n} pages in one phase pass; at most {MAX_VISITED} and {} MiB of column weights",
                limit >> 20
            )));
        }
        let device = &gpu.device;
        let above = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("phase.above"),
            size: above_bytes,
            usage: wgpu::BufferUsages::STORAGE,
            mapped_at_creation: false,
        });
        let init = |label, bytes: &[u8], usage| {
            device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents: bytes,
                usage: wgpu::BufferUsages::STORAGE | usage,
            })
        };
        let mut visited: Vec<u32> = baths
            .iter()
            .flat_map(|b| b.min.into_iter().chain(b.max))
            .collect();
        visited.extend(plan.pages.iter().map(|&p| p as u32));
        let visited = init(
            "phase.visited",
            bytemuck::cast_slice(&visited),
            wgpu::BufferUsages::empty(),
        );
        let patches: Option<Vec<FieldPatch>> = fields.and_then(|f| {
            plan.pages
                .iter()
                .map(|&q| FieldPatch::over_page(f, layout.page_coord(q).map(|c| c * p), p))
                .collect()
        });
        let (field_cell, field_n, field_values) = match &patches {
            Some(patches) => (
                patches[0].cell,
                patches[0].n,
                patches
                    .iter()
                    .flat_map(|f| f.pressure.iter().map(|&v| v as f32))
                    .collect(),
            ),
            None => (0, 0, vec![0.0f32]),
        };
        let field = init(
            "phase.field",
            bytemuck::cast_slice(&field_values),
            wgpu::BufferUsages::empty(),
        );
        let stride = 9 + 9 * self.substances;
        let mut start = vec![0u32; stride * n];
        for o in start.chunks_mut(stride) {
            o[3..6].fill(u32::MAX);
        }
        let outcome = init(
            "phase.outcome",
            bytemuck::cast_slice(&start),
            wgpu::BufferUsages::COPY_SRC,
        );
        let weightless = self.config.gravity == 0.0;
        let feedback = self.page_use();
        let groups: Vec<wgpu::BindGroup> = (0..2u32)
            .map(|colour| {
                let key = sweep_key(seed, frame, colour);
                let params = Params {
                    p,
                    colour,
                    stride: stride as u32,
                    substances: self.substances as u32,
                    size: layout.size,
                    pages: layout.pages,
                    baths: baths.len() as u32,
                    field_cell,
                    field_n,
                    ambient: self.config.ambient_pressure as f32,
                    layer: if weightless {
                        0.0
                    } else {
                        (self.config.gravity * self.config.voxel_size) as f32
                    },
                    capacity: feedback.capacity(),
                    key: [key as u32, (key >> 32) as u32],
                    _tail: [0; 2],
                };
                let params_buffer = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some("phase.params"),
                    contents: bytemuck::bytes_of(&params),
                    usage: wgpu::BufferUsages::STORAGE,
                });
                gpu.bind(
                    "phase",
                    &self.bindings,
                    &[
                        &params_buffer,
                        &self.pools.material,
                        &self.pools.temperature,
                        &self.table,
                        &visited,
                        &self.terms,
                        &above,
                        &field,
                        &outcome,
                        &feedback.uses,
                        &feedback.asked,
                        &feedback.requests,
                        &self.pools.latent,
                    ],
                )
            })
            .collect();
        let faces = (p * p).div_ceil(64);
        let half = (layout.page_cells() as u32 / 2).div_ceil(64);
        let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("phase"),
        });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("phase.metropolis"),
                timestamp_writes: self.timer.as_ref().map(PassTimer::writes),
            });
            let n = n as u32;
            pass.set_pipeline(&self.overburden);
            pass.set_bind_group(0, &groups[0], &[]);
            pass.dispatch_workgroups(faces, n, 1);
            for group in &groups {
                pass.set_pipeline(&self.columns);
                pass.set_bind_group(0, group, &[]);
                pass.dispatch_workgroups(faces, n, 1);
                pass.set_pipeline(&self.decide);
                pass.set_bind_group(0, group, &[]);
                pass.dispatch_workgroups(half, n, 1);
            }
        }
        if let Some(timer) = &self.timer {
            timer.resolve(&mut encoder);
        }
        gpu.queue.submit([encoder.finish()]);
        Ok(PhasePass {
            plan,
            outcome: Some((outcome, stride)),
        })
    }

    /// Waits for a pass [`GpuPhase::begin`] submitted, copies the pages it
    /// changed back into `world`, and ends it as the CPU's pass does.
    pub fn end(
        &self,
        gpu: &GpuContext,
        pass: PhasePass,
        world: &mut VoxelWorld,
        state: &mut PhaseState,
        phases: &PhaseTable,
    ) -> Result<(), GpuError> {
        let PhasePass { plan, outcome } = pass;
        let Some((outcome, stride)) = outcome else {
            finish_pass(world, state, phases, plan, &[]);
            return Ok(());
        };
        let words: Vec<u32> = gpu.read(&outcome)?;
        if let Some(timer) = &self.timer {
            let [begin, end] = timer.read(gpu, "phase.metropolis")?;
            let ns = end.saturating_sub(begin) as f64 * f64::from(gpu.timestamp_period());
            self.last_ns.store(ns as u64, Ordering::Relaxed);
        }
        let outcomes: Vec<PageOutcome> = words.chunks(stride).map(page_outcome).collect();
        let changed: Vec<usize> = plan
            .pages
            .iter()
            .zip(&outcomes)
            .filter(|(_, o)| o.lo[0] <= o.hi[0])
            .map(|(&p, _)| p)
            .collect();
        finish_pass(world, state, phases, plan, &outcomes);
        // After `finish_pass` has touched them, so that the mirror knows it
        // holds what they now hold.
        self.pools.download(gpu, world, &changed)
    }
}

/// A phase pass submitted to the GPU ([`GpuPhase::begin`]), to be ended
/// with [`GpuPhase::end`].
pub struct PhasePass {
    plan: PassPlan,
    /// The per-page outcome buffer and its words per page; `None` when the
    /// pass visits nothing.
    outcome: Option<(wgpu::Buffer, usize)>,
}

/// A page's outcome from its words (see the shader's `outcome`).
fn page_outcome(w: &[u32]) -> PageOutcome {
    let substances = (w.len() - 9) / 9;
    let changed = w[3] != u32::MAX;
    let corner = |at: usize, empty: i32| -> [i32; 3] {
        std::array::from_fn(|a| if changed { w[at + a] as i32 } else { empty })
    };
    PageOutcome {
        accepted: (0..substances)
            .map(|s| std::array::from_fn(|k| std::array::from_fn(|q| w[9 + 9 * s + 3 * k + q])))
            .collect(),
        lo: corner(3, i32::MAX),
        hi: corner(6, i32::MIN),
        visits: u64::from(w[0]),
        proposals: u64::from(w[1]),
        candidate: w[2] != 0,
    }
}

/// The pages a pass over `pages` reads: each, its face neighbours and the
/// pages above it.
fn pages_read(layout: &WorldLayout, pages: &[usize]) -> Vec<usize> {
    let mut read = Vec::new();
    for &p in pages {
        let c = layout.page_coord(p);
        let faces = [[-1, 0, 0], [1, 0, 0], [0, -1, 0], [0, 0, -1], [0, 0, 1]];
        read.extend(faces.iter().filter_map(|&d| layout.neighbour_page(c, d)));
        read.extend((c[1]..layout.pages[1]).map(|y| layout.page_index([c[0], y, c[2]])));
    }
    read.sort_unstable();
    read.dedup();
    read
}

/// Page → slot + 1, 0 where the page is not resident.
fn page_table(world: &VoxelWorld) -> Vec<u32> {
    (0..world.layout().page_count())
        .map(|p| world.table().resident_slot(p).map_or(0, |s| s as u32 + 1))
        .collect()
}

/// The shader's `terms` buffer: per material its substance and phase and
/// its density if condensed, then each substance's terms.
fn terms_words(phases: &PhaseTable, materials: &MaterialTable, config: &PhaseConfig) -> Vec<u32> {
    let bits = |v: f64| (v as f32).to_bits();
    let mut words = vec![0u32; 512 + SUBSTANCE_WORDS * phases.substances.len()];
    for m in 0..256 {
        words[m] = phases.of_material[m].map_or(0xFFFF, |(s, k)| u32::from(s) << 8 | u32::from(k));
        let condensed = matches!(materials.kind[m], Kind::Solid | Kind::Powder | Kind::Liquid);
        words[256 + m] = if condensed {
            materials.density[m].to_bits()
        } else {
            (-1.0f32).to_bits()
        };
    }
    for (s, sub) in substance_terms(phases, config.voxel_size)
        .iter()
        .enumerate()
    {
        let w = &mut words[512 + SUBSTANCE_WORDS * s..512 + SUBSTANCE_WORDS * (s + 1)];
        w[0] = bits(sub.moles);
        w[1] = bits(sub.interface);
        w[2] = bits(sub.triple_pressure.unwrap_or(-1.0));
        w[3] = sub.phases.len() as u32;
        for (k, ph) in sub.phases.iter().enumerate() {
            let state = match ph.state {
                State::Solid => 0,
                State::Liquid => 1,
                State::Gas => 2,
            };
            w[4 + 5 * k..9 + 5 * k].copy_from_slice(&[
                u32::from(ph.material),
                state,
                bits(ph.a),
                bits(ph.cp),
                bits(ph.volume),
            ]);
            for (q, pair) in sub.pairs[k].iter().enumerate() {
                let at = 19 + 5 * (3 * k + q);
                w[at..at + 5].copy_from_slice(&[
                    bits(pair.a),
                    bits(pair.b),
                    bits(pair.c),
                    bits(pair.v),
                    bits(pair.gas),
                ]);
            }
        }
    }
    words
}
