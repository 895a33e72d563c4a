//! The GPU backend in the runtime (`backend = "gpu"`, built with the `gpu`
//! feature): the device, opened once, and the jobs that run on it. So far
//! field diffusion runs on the GPU (`fields.diffuse.gpu`, the same stencil
//! as the CPU's, checked against it in `loam-gpu`'s tests); every other
//! system stays on the CPU.

#[cfg(feature = "gpu")]
mod enabled {
    use loam_runtime::{Job, JobError};
    use loam_systems::fields::Fields;

    /// The device and the kernels the runtime uses.
    pub struct Gpu {
        context: loam_gpu::GpuContext,
        diffusion: loam_gpu::FieldDiffusion,
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
    }

    /// Opens the first adapter and compiles the kernels.
    pub fn open() -> Result<Gpu, String> {
        let context = loam_gpu::GpuContext::new().map_err(|e| e.to_string())?;
        let diffusion = loam_gpu::FieldDiffusion::new(&context);
        Ok(Gpu { context, diffusion })
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
    }

    /// Always fails: this build has no GPU backend.
    pub fn open() -> Result<Gpu, String> {
        Err("this build has no GPU backend (build loam with `--features gpu`)".into())
    }
}

#[cfg(not(feature = "gpu"))]
pub(crate) use disabled::open;
