//! The GPU backend in the runtime (`backend = "gpu"`, built with the `gpu`
//! feature): the device, opened once, and the jobs that run on it. Field
//! diffusion (`fields.diffuse.gpu`, the CPU's stencil) and the Metropolis
//! phase pass (`phase.metropolis.gpu`, the CPU's pages and random draws,
//! Gibbs energies in `f32`) run on the GPU, each checked against the CPU in
//! `loam-gpu`'s tests; every other system stays on the CPU.

#[cfg(feature = "gpu")]
mod enabled {
    use loam_runtime::{Job, JobError, Seed};
    use loam_storage::VoxelWorld;
    use loam_systems::fields::Fields;
    use loam_systems::materials::MaterialTable;
    use loam_systems::phase::{HeatBaths, PhaseConfig, PhaseState, PhaseTable};

    /// The device and the kernels the runtime uses.
    pub struct Gpu {
        context: loam_gpu::GpuContext,
        diffusion: loam_gpu::FieldDiffusion,
        phase: Option<loam_gpu::GpuPhase>,
    }

    impl Gpu {
        /// The adapter's name, for the report.
        pub fn adapter(&self) -> String {
            self.context.adapter_name().to_string()
        }

        /// The `fields.diffuse.gpu` job: each substep of each field
        /// channel on this device (a resource of the engine).
        pub fn diffuse_job(&self) -> Job {
            const NAME: &str = "fields.diffuse.gpu";
            Job::new(NAME).writes::<Fields>().reads::<Gpu>().run(|ctx| {
                let gpu = ctx.read::<Gpu>()?;
                let mut fields = ctx.write::<Fields>()?;
                fields
                    .diffuse_with(ctx.dt(), |cells, neighbours, alpha| {
                        gpu.diffusion.run(&gpu.context, cells, neighbours, alpha, 1)
                    })
                    .map_err(|e| JobError::failed(NAME, e))
            })
        }

        /// Mirrors `world` for the phase pass; then the
        /// `phase.metropolis.gpu` job, with the access of the CPU's
        /// `phase.metropolis`.
        pub fn phase_job(
            &mut self,
            world: &VoxelWorld,
            phases: &PhaseTable,
            materials: &MaterialTable,
            config: &PhaseConfig,
        ) -> Result<Job, String> {
            const NAME: &str = "phase.metropolis.gpu";
            let kernel = loam_gpu::GpuPhase::new(&self.context, world, phases, materials, config)
                .map_err(|e| e.to_string())?;
            self.phase = Some(kernel);
            Ok(Job::new(NAME)
                .writes::<VoxelWorld>()
                .writes::<PhaseState>()
                .reads::<PhaseTable>()
                .reads::<HeatBaths>()
                .reads::<Fields>()
                .reads::<Seed>()
                .reads::<Gpu>()
                .run(|ctx| {
                    let gpu = ctx.read::<Gpu>()?;
                    let seed = ctx.read::<Seed>()?.0;
                    let phases = ctx.read::<PhaseTable>()?;
                    let baths = ctx.read::<HeatBaths>()?;
                    let fields = ctx.read::<Fields>()?;
                    let mut world = ctx.write::<VoxelWorld>()?;
                    let mut state = ctx.write::<PhaseState>()?;
                    let kernel = gpu
                        .phase
                        .as_ref()
                        .ok_or_else(|| JobError::failed(NAME, "no phase kernel"))?;
                    kernel
                        .pass(
                            &gpu.context,
                            &mut world,
                            &mut state,
                            &phases,
                            &baths.0,
                            Some(&fields),
                            seed,
                            ctx.clock().frame,
                        )
                        .map_err(|e| JobError::failed(NAME, e))
                }))
        }
    }

    /// Opens the first adapter and compiles the kernels.
    pub fn open() -> Result<Gpu, String> {
        let context = loam_gpu::GpuContext::new().map_err(|e| e.to_string())?;
        let diffusion = loam_gpu::FieldDiffusion::new(&context);
        Ok(Gpu {
            context,
            diffusion,
            phase: None,
        })
    }
}

#[cfg(feature = "gpu")]
pub(crate) use enabled::open;

#[cfg(not(feature = "gpu"))]
mod disabled {
    /// Never built: this build has no GPU backend.
    pub enum Gpu {}

    impl Gpu {
        /// The adapter's name, for the report.
        pub fn adapter(&self) -> String {
            match *self {}
        }

        /// The GPU diffusion job.
        pub fn diffuse_job(&self) -> loam_runtime::Job {
            match *self {}
        }

        /// The GPU phase job.
        pub fn phase_job(
            &mut self,
            _: &loam_storage::VoxelWorld,
            _: &loam_systems::phase::PhaseTable,
            _: &loam_systems::materials::MaterialTable,
            _: &loam_systems::phase::PhaseConfig,
        ) -> Result<loam_runtime::Job, String> {
            match *self {}
        }
    }

    /// Always fails: this build has no GPU backend.
    pub fn open() -> Result<Gpu, String> {
        Err("this build has no GPU backend (build loam with `--features gpu`)".into())
    }
}

#[cfg(not(feature = "gpu"))]
pub(crate) use disabled::open;
