//! The GPU backend in the runtime (`backend = "gpu"`, built with the `gpu`
//! feature): the device, opened once, and the jobs that run on it:
//!
//! - `ca.step.gpu`: the automaton, bit for bit the CPU's on the CPU's
//!   schedule, sending the pages it reads and copying back those it changed;
//! - `fields.step.gpu`: field diffusion and decay, the CPU's stencil and
//!   decay on a mirror of the fields kept on the GPU, sent only the bricks
//!   the CPU wrote;
//! - `phase.gpu.dispatch` and `phase.gpu.readback`: the Metropolis phase
//!   pass on the CPU's pages with its random draws, Gibbs energies in `f32`;
//!   with a streamed world also `phase.gpu.feedback`, the pass's page use
//!   read back a frame later for the LRU and streaming;
//! - `softbody.step.gpu`: the soft bodies' substeps on a copy of their
//!   arrays kept on the GPU.
//!
//! Each is checked against the CPU in `loam-gpu`'s tests. The other systems
//! (commands, emitters, field coupling) stay on the CPU, which keeps the
//! authoritative world.

#[cfg(feature = "gpu")]
mod enabled {
    use std::sync::Mutex;

    use loam_runtime::{Engine, Job, JobError, Seed};
    use loam_storage::VoxelWorld;
    use loam_systems::ca::{CaConfig, CaStats};
    use loam_systems::fields::Fields;
    use loam_systems::materials::MaterialTable;
    use loam_systems::phase::{HeatBaths, PhaseConfig, PhaseState, PhaseTable};
    use loam_systems::xpbd::{Environment, SoftBodies};

    /// The device and the kernels the runtime uses.
    pub struct Gpu {
        context: loam_gpu::GpuContext,
        /// The fields, kept on the device between frames.
        fields: Mutex<loam_gpu::GpuFields>,
        phase: Option<loam_gpu::GpuPhase>,
        /// The automaton, made on its first frame and again when the
        /// world's resident pages change (streaming).
        automaton: Mutex<Option<loam_gpu::GpuAutomaton>>,
        /// The soft bodies and the world they collide with (see
        /// [`Gpu::prepare_soft_bodies`]).
        bodies: Option<Mutex<(loam_gpu::WorldMirror, loam_gpu::GpuSoftBodies)>>,
    }

    impl Gpu {
        /// The adapter's name, for the report.
        pub fn adapter(&self) -> String {
            self.context.adapter_name().to_string()
        }

        /// The `fields.step.gpu` job: each substep of each field channel,
        /// and each channel's decay after its last, on the fields' mirror
        /// on this device (a resource of the engine), sent the bricks the
        /// CPU wrote since the last frame; the CPU grows and frees the
        /// bricks from the peaks the device measures, as its `fields.step`
        /// does, and reads the cells back for the other systems.
        pub fn field_step_job(&self) -> Job {
            const NAME: &str = "fields.step.gpu";
            Job::new(NAME).writes::<Fields>().reads::<Gpu>().run(|ctx| {
                let gpu = ctx.read::<Gpu>()?;
                let mut mirror = gpu.fields.lock().unwrap_or_else(|e| e.into_inner());
                ctx.write::<Fields>()?
                    .step_mirrored(ctx.dt(), &mut mirror.on(&gpu.context))
                    .map_err(|e| JobError::failed(NAME, e))
            })
        }

        /// Mirrors `world` for soft bodies on this device; fails when the
        /// world is too large for the GPU's page table.
        pub fn prepare_soft_bodies(&mut self, world: &VoxelWorld) -> Result<(), String> {
            let mirror =
                loam_gpu::WorldMirror::new(&self.context, world).map_err(|e| e.to_string())?;
            let soft = loam_gpu::GpuSoftBodies::new(&self.context, &mirror, None);
            self.bodies = Some(Mutex::new((mirror, soft)));
            Ok(())
        }

        /// One frame of `bodies` with their substeps on this device (the
        /// `softbody.step.gpu` job's work): the world's blocked cells are
        /// sent for the pages that changed, the bodies' arrays once and
        /// then only what the CPU changed.
        pub fn step_soft_bodies(
            &self,
            bodies: &mut SoftBodies,
            world: &VoxelWorld,
            table: &MaterialTable,
            env: &Environment<'_>,
        ) -> Result<(), String> {
            let held = self
                .bodies
                .as_ref()
                .ok_or("the soft bodies were not set up on the GPU")?;
            let mut held = held.lock().unwrap_or_else(|e| e.into_inner());
            let (mirror, soft) = &mut *held;
            mirror.sync(&self.context, world, table);
            bodies
                .step_mirrored(world, table, env, &mut soft.on(&self.context))
                .map_err(|e| e.to_string())
        }

        /// The `ca.step.gpu` job: the automaton's frame on this device,
        /// on the CPU's schedule, bit for bit the CPU's `ca.step`.
        pub fn automaton_job(&self) -> Job {
            const NAME: &str = "ca.step.gpu";
            Job::new(NAME)
                .writes::<VoxelWorld>()
                .writes::<CaStats>()
                .reads::<MaterialTable>()
                .reads::<CaConfig>()
                .reads::<Seed>()
                .reads::<Gpu>()
                .run(|ctx| {
                    let gpu = ctx.read::<Gpu>()?;
                    let mut world = ctx.write::<VoxelWorld>()?;
                    let mut automaton = gpu.automaton.lock().unwrap_or_else(|e| e.into_inner());
                    let frame = ctx.clock().frame;
                    // The pages the sweep is about to update.
                    let swept = world.table.woken().to_vec();
                    let mut stats = match automaton
                        .as_ref()
                        .map(|a| a.step_world(&gpu.context, &mut world, frame))
                    {
                        Some(Ok(stats)) => stats,
                        None | Some(Err(loam_gpu::GpuError::Stale(_))) => {
                            let made = loam_gpu::GpuAutomaton::new(
                                &gpu.context,
                                &world,
                                &*ctx.read::<MaterialTable>()?,
                                &*ctx.read::<CaConfig>()?,
                                ctx.read::<Seed>()?.0,
                            );
                            let stats = made
                                .step_world(&gpu.context, &mut world, frame)
                                .map_err(|e| JobError::failed(NAME, e))?;
                            *automaton = Some(made);
                            stats
                        }
                        Some(Err(e)) => return Err(JobError::failed(NAME, e)),
                    };
                    // Levelling runs on the CPU's world, as after the CPU's sweep.
                    let seed = ctx.read::<Seed>()?.0;
                    let table = ctx.read::<MaterialTable>()?;
                    loam_systems::ca::level(&mut world, &table, seed, frame, &swept);
                    stats.active_pages = world.table.awake_count() as u64;
                    *ctx.write::<CaStats>()? = stats;
                    Ok(())
                })
        }

        /// Mirrors `world` for the phase pass and inserts the resource of
        /// a pass in flight into `engine`; returns the pass's jobs:
        ///
        /// - `phase.gpu.dispatch` plans the pass (the CPU's
        ///   `phase.metropolis` plan), sends the pages it reads and submits
        ///   it, reading the world;
        /// - `phase.gpu.readback`, added after the CPU's other systems,
        ///   waits for it and writes its changes into the world; with
        ///   `feedback`, it then starts reading back the pass's page use;
        /// - with `feedback`, `phase.gpu.feedback`, to be added before
        ///   streaming: it takes the page use the previous frame's pass
        ///   recorded (mapped meanwhile, so it does not wait in practice),
        ///   marks the pages used in the LRU and leaves the absent pages
        ///   the columns reached in [`PhaseState::asked`] for streaming.
        ///
        /// Jobs between dispatch and readback that do not write the world
        /// (soft bodies, field diffusion and decay) run on the CPU while the
        /// GPU works; they see the world before this frame's transitions.
        pub fn phase_jobs(
            &mut self,
            engine: &mut Engine,
            world: &VoxelWorld,
            phases: &PhaseTable,
            materials: &MaterialTable,
            config: &PhaseConfig,
            feedback: bool,
        ) -> Result<(Job, Job, Option<Job>), String> {
            let kernel = loam_gpu::GpuPhase::new(&self.context, world, phases, materials, config)
                .map_err(|e| e.to_string())?;
            self.phase = Some(kernel);
            engine.insert_resource(PhaseInFlight(None));
            const DISPATCH: &str = "phase.gpu.dispatch";
            let dispatch = Job::new(DISPATCH)
                .reads::<VoxelWorld>()
                .reads::<PhaseState>()
                .reads::<PhaseTable>()
                .reads::<HeatBaths>()
                .reads::<Fields>()
                .reads::<Seed>()
                .reads::<Gpu>()
                .writes::<PhaseInFlight>()
                .run(|ctx| {
                    let gpu = ctx.read::<Gpu>()?;
                    let kernel = gpu.phase_kernel(DISPATCH)?;
                    let pass = kernel
                        .begin(
                            &gpu.context,
                            &*ctx.read::<VoxelWorld>()?,
                            &*ctx.read::<PhaseState>()?,
                            &*ctx.read::<PhaseTable>()?,
                            &ctx.read::<HeatBaths>()?.0,
                            Some(&*ctx.read::<Fields>()?),
                            ctx.read::<Seed>()?.0,
                            ctx.clock().frame,
                        )
                        .map_err(|e| JobError::failed(DISPATCH, e))?;
                    ctx.write::<PhaseInFlight>()?.0 = Some(pass);
                    Ok(())
                });
            const FEEDBACK: &str = "phase.gpu.feedback";
            let feedback_job = feedback.then(|| {
                Job::new(FEEDBACK)
                    .writes::<VoxelWorld>()
                    .writes::<PhaseState>()
                    .reads::<Gpu>()
                    .run(|ctx| {
                        let gpu = ctx.read::<Gpu>()?;
                        let kernel = gpu.phase_kernel(FEEDBACK)?;
                        let taken = kernel.page_use().take(&gpu.context, true);
                        let Some(used) = taken.map_err(|e| JobError::failed(FEEDBACK, e))? else {
                            return Ok(());
                        };
                        // Recorded by the previous frame's pass.
                        let frame = ctx.clock().frame.saturating_sub(1);
                        let asked = used.apply(&mut ctx.write::<VoxelWorld>()?.table, frame);
                        ctx.write::<PhaseState>()?.asked = asked.to_vec();
                        Ok(())
                    })
            });
            const READBACK: &str = "phase.gpu.readback";
            let readback = Job::new(READBACK)
                .writes::<VoxelWorld>()
                .writes::<PhaseState>()
                .writes::<PhaseInFlight>()
                .reads::<PhaseTable>()
                .reads::<Gpu>()
                .run(move |ctx| {
                    let gpu = ctx.read::<Gpu>()?;
                    let kernel = gpu.phase_kernel(READBACK)?;
                    let Some(pass) = ctx.write::<PhaseInFlight>()?.0.take() else {
                        return Err(JobError::failed(READBACK, "no pass was dispatched"));
                    };
                    kernel
                        .end(
                            &gpu.context,
                            pass,
                            &mut *ctx.write::<VoxelWorld>()?,
                            &mut *ctx.write::<PhaseState>()?,
                            &*ctx.read::<PhaseTable>()?,
                        )
                        .map_err(|e| JobError::failed(READBACK, e))?;
                    if feedback {
                        kernel.page_use().start_readback(&gpu.context);
                    }
                    Ok(())
                });
            Ok((dispatch, readback, feedback_job))
        }

        fn phase_kernel(&self, job: &str) -> Result<&loam_gpu::GpuPhase, JobError> {
            self.phase
                .as_ref()
                .ok_or_else(|| JobError::failed(job, "the phase kernel was not set up"))
        }
    }

    /// A phase pass submitted by `phase.gpu.dispatch`, for
    /// `phase.gpu.readback` to end.
    pub struct PhaseInFlight(Option<loam_gpu::PhasePass>);

    /// Opens the first adapter and compiles the kernels.
    pub fn open() -> Result<Gpu, String> {
        let context = loam_gpu::GpuContext::new().map_err(|e| e.to_string())?;
        let fields = Mutex::new(loam_gpu::GpuFields::new(&context));
        Ok(Gpu {
            context,
            fields,
            phase: None,
            automaton: Mutex::new(None),
            bodies: None,
        })
    }
}

#[cfg(feature = "gpu")]
pub(crate) use enabled::{open, Gpu};

#[cfg(not(feature = "gpu"))]
mod disabled {
    /// Never built: this build has no GPU backend.
    pub enum Gpu {}

    impl Gpu {
        /// The adapter's name, for the report.
        pub fn adapter(&self) -> String {
            match *self {}
        }

        /// The GPU field diffusion and decay job.
        pub fn field_step_job(&self) -> loam_runtime::Job {
            match *self {}
        }

        /// The GPU automaton job.
        pub fn automaton_job(&self) -> loam_runtime::Job {
            match *self {}
        }

        /// Sets up soft bodies on the GPU.
        pub fn prepare_soft_bodies(&mut self, _: &loam_storage::VoxelWorld) -> Result<(), String> {
            match *self {}
        }

        /// A frame of soft bodies on the GPU.
        pub fn step_soft_bodies(
            &self,
            _: &mut loam_systems::xpbd::SoftBodies,
            _: &loam_storage::VoxelWorld,
            _: &loam_systems::MaterialTable,
            _: &loam_systems::xpbd::Environment<'_>,
        ) -> Result<(), String> {
            match *self {}
        }

        /// The GPU phase jobs.
        pub fn phase_jobs(
            &mut self,
            _: &mut loam_runtime::Engine,
            _: &loam_storage::VoxelWorld,
            _: &loam_systems::phase::PhaseTable,
            _: &loam_systems::materials::MaterialTable,
            _: &loam_systems::phase::PhaseConfig,
            _: bool,
        ) -> Result<
            (
                loam_runtime::Job,
                loam_runtime::Job,
                Option<loam_runtime::Job>,
            ),
            String,
        > {
            match *self {}
        }
    }

    /// Always fails: this build has no GPU backend.
    pub fn open() -> Result<Gpu, String> {
        Err("this build has no GPU backend (build loam with `--features gpu`)".into())
    }
}

#[cfg(not(feature = "gpu"))]
pub(crate) use disabled::{open, Gpu};
