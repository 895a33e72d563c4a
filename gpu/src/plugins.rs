//! The GPU variants of Loam's systems as plugins, and the device as a
//! resource.
//!
//! The device ([`GpuDevice`]) is read-only and shared by every GPU job.
//! Each kernel's state is its own resource, declared written by the jobs
//! that use it, so the job graph sees every write:
//!
//! - [`GpuFieldsPlugin`] (`fields.gpu`): field diffusion and decay on a
//!   mirror of the fields kept on the device ([`GpuFieldsState`]); the
//!   coupling stays the CPU's.
//! - [`GpuAutomatonPlugin`] (`automaton.gpu`): the automaton, bit for bit
//!   the CPU's on the CPU's schedule ([`GpuAutomatonState`]).
//! - [`GpuPhasePlugin`] (`phase.gpu`): the Metropolis pass dispatched in
//!   stage `phase` and read back in stage `output`, so jobs between that
//!   only read the world run while the device works ([`GpuPhaseState`]);
//!   with a streamed world also the pass's page use, read back a frame
//!   later for the LRU and streaming.
//! - [`GpuSoftBodyPlugin`] (`soft_bodies.gpu`): the soft bodies' substeps on
//!   a copy of their arrays kept on the device ([`GpuBodiesState`]).
//!
//! Each is checked against the CPU in this crate's tests. Add
//! [`GpuDevicePlugin`] before them; they take the device (and the world
//! they mirror) from the engine when they are built.

use loam_runtime::{Engine, Job, JobError, Plugin, PluginError, Res, Seed, Stage};
use loam_storage::stream::PageRequests;
use loam_storage::VoxelWorld;
use loam_systems::ca::{CaConfig, CaStats};
use loam_systems::fields::{Fields, FieldsPlugin};
use loam_systems::phase::{HeatBaths, PhaseConfig, PhasePlugin, PhaseState, PhaseTable};
use loam_systems::xpbd::plugin::{environment, step_job};
use loam_systems::xpbd::SoftBodies;
use loam_systems::{MaterialTable, WorldScale};

use crate::{
    GpuAutomaton, GpuContext, GpuError, GpuFields, GpuPhase, GpuSoftBodies, PhasePass, WorldMirror,
};

/// The device, opened once: a read-only resource every GPU job shares.
pub struct GpuDevice(GpuContext);

impl GpuDevice {
    /// The device and its queue.
    pub fn context(&self) -> &GpuContext {
        &self.0
    }
}

/// Inserts the [`GpuDevice`] it opened.
pub struct GpuDevicePlugin(GpuContext);

impl GpuDevicePlugin {
    /// Opens the first adapter.
    pub fn open() -> Result<Self, GpuError> {
        GpuContext::new().map(Self)
    }
}

impl Plugin for GpuDevicePlugin {
    fn name(&self) -> &str {
        "gpu"
    }

    fn build(self: Box<Self>, engine: &mut Engine) -> Result<(), PluginError> {
        engine.insert_resource(GpuDevice(self.0));
        Ok(())
    }
}

/// Resource `T` of `engine`, which `plugin` needs at build time.
fn needs<'a, T: 'static>(engine: &'a Engine, plugin: &str) -> Result<Res<'a, T>, PluginError> {
    engine.resource::<T>().ok_or_else(|| {
        PluginError::new(
            plugin,
            format!(
                "needs `{}`: add the plugin that makes it first",
                std::any::type_name::<T>()
            ),
        )
    })
}

/// The fields' mirror on the device, between frames.
pub struct GpuFieldsState(GpuFields);

/// Field diffusion and decay on the device (`fields.step.gpu`, stage
/// `fields`), sent the bricks the CPU wrote since the last frame; the CPU
/// grows and frees bricks from the peaks the device measures, as its
/// `fields.step` does, and reads the cells back for the other systems.
/// Also the CPU's `fields.couple`.
#[derive(Clone, Copy, Debug, Default)]
pub struct GpuFieldsPlugin;

impl Plugin for GpuFieldsPlugin {
    fn name(&self) -> &str {
        "fields.gpu"
    }

    fn build(self: Box<Self>, engine: &mut Engine) -> Result<(), PluginError> {
        let mirror = GpuFields::new(needs::<GpuDevice>(engine, self.name())?.context());
        engine.insert_resource(GpuFieldsState(mirror));
        FieldsPlugin::install_coupling(engine);
        const NAME: &str = "fields.step.gpu";
        engine.add_job(
            Job::new(NAME)
                .in_stage(Stage::Fields)
                .writes::<Fields>()
                .writes::<GpuFieldsState>()
                .reads::<GpuDevice>()
                .run(|ctx| {
                    let device = ctx.read::<GpuDevice>()?;
                    let mut mirror = ctx.write::<GpuFieldsState>()?;
                    ctx.write::<Fields>()?
                        .step_mirrored(ctx.dt(), &mut mirror.0.on(device.context()))
                        .map_err(|e| JobError::failed(NAME, e))
                }),
        );
        Ok(())
    }
}

/// The automaton on the device, made on its first frame and again when the
/// world's resident pages change (streaming).
pub struct GpuAutomatonState(Option<GpuAutomaton>);

/// The automaton on the device (`ca.step.gpu`, stage `automaton`), on the
/// CPU's schedule, bit for bit the CPU's `ca.step`; levelling runs on the
/// CPU's world after it, as after the CPU's sweep.
#[derive(Clone, Copy, Debug, Default)]
pub struct GpuAutomatonPlugin {
    /// Which parts of the automaton run.
    pub config: CaConfig,
}

impl Plugin for GpuAutomatonPlugin {
    fn name(&self) -> &str {
        "automaton.gpu"
    }

    fn build(self: Box<Self>, engine: &mut Engine) -> Result<(), PluginError> {
        needs::<GpuDevice>(engine, self.name())?;
        if let Some(table) = engine.resource::<MaterialTable>() {
            crate::runs_reactions_of(&table).map_err(|e| PluginError::new(self.name(), e))?;
        }
        engine.insert_resource(self.config);
        engine.insert_resource(CaStats::default());
        engine.insert_resource(GpuAutomatonState(None));
        const NAME: &str = "ca.step.gpu";
        engine.add_job(
            Job::new(NAME)
                .in_stage(Stage::Automaton)
                .writes::<VoxelWorld>()
                .writes::<CaStats>()
                .writes::<GpuAutomatonState>()
                .reads::<MaterialTable>()
                .reads::<CaConfig>()
                .reads::<Seed>()
                .reads::<GpuDevice>()
                .run(|ctx| {
                    let device = ctx.read::<GpuDevice>()?;
                    let gpu = device.context();
                    let seed = ctx.read::<Seed>()?.0;
                    let table = ctx.read::<MaterialTable>()?;
                    let mut world = ctx.write::<VoxelWorld>()?;
                    let mut automaton = ctx.write::<GpuAutomatonState>()?;
                    let frame = ctx.clock().frame;
                    // The pages the sweep is about to update.
                    let swept = world.table().woken().to_vec();
                    let stepped = automaton
                        .0
                        .as_ref()
                        .map(|a| a.step_world(gpu, &mut world, frame));
                    let mut stats = match stepped {
                        Some(Ok(stats)) => stats,
                        None | Some(Err(GpuError::Stale(_))) => {
                            let config = *ctx.read::<CaConfig>()?;
                            let made = GpuAutomaton::new(gpu, &world, &table, &config, seed);
                            let stats = made
                                .step_world(gpu, &mut world, frame)
                                .map_err(|e| JobError::failed(NAME, e))?;
                            automaton.0 = Some(made);
                            stats
                        }
                        Some(Err(e)) => return Err(JobError::failed(NAME, e)),
                    };
                    loam_systems::ca::level(&mut world, &table, seed, frame, &swept);
                    stats.active_pages = world.table().awake_count() as u64;
                    *ctx.write::<CaStats>()? = stats;
                    Ok(())
                }),
        );
        Ok(())
    }
}

/// The phase kernel and the pass in flight between dispatch and readback.
pub struct GpuPhaseState {
    kernel: GpuPhase,
    in_flight: Option<PhasePass>,
}

/// The Metropolis phase pass on the device, on the CPU's pages with its
/// random draws, Gibbs energies in `f32`:
///
/// - `phase.gpu.dispatch` (stage `phase`) plans the pass (the CPU's plan),
///   sends the pages it reads and submits it, reading the world;
/// - `phase.gpu.readback` (stage `output`) waits for it and writes its
///   changes into the world; when `streamed`, it then starts reading back
///   the pass's page use;
/// - when `streamed`, `phase.gpu.feedback` (stage `storage`, before
///   `storage.stream`) takes the page use the previous frame's pass
///   recorded (mapped meanwhile, so it does not wait in practice), marks
///   the pages used in the LRU and leaves the absent pages the columns
///   reached in [`PageRequests`].
///
/// Jobs between dispatch and readback that do not write the world (soft
/// bodies, field diffusion and decay) run on the CPU while the device
/// works; they see the world before this frame's transitions.
#[derive(Clone, Copy, Debug, Default)]
pub struct GpuPhasePlugin {
    /// Pressure and stagger (the scale comes from [`WorldScale`]).
    pub config: PhaseConfig,
    /// Whether the world is streamed, so the page use is read back.
    pub streamed: bool,
}

impl Plugin for GpuPhasePlugin {
    fn name(&self) -> &str {
        "phase.gpu"
    }

    fn build(self: Box<Self>, engine: &mut Engine) -> Result<(), PluginError> {
        let name = self.name().to_string();
        let cpu = PhasePlugin {
            config: self.config,
        };
        cpu.insert_resources(engine);
        let config = cpu.config_in(engine);
        let kernel = {
            let device = needs::<GpuDevice>(engine, &name)?;
            let world = needs::<VoxelWorld>(engine, &name)?;
            let materials = needs::<MaterialTable>(engine, &name)?;
            let phases = needs::<PhaseTable>(engine, &name)?;
            GpuPhase::new(device.context(), &world, &phases, &materials, &config)
                .map_err(|e| PluginError::new(&name, e))?
        };
        engine.insert_resource(GpuPhaseState {
            kernel,
            in_flight: None,
        });
        engine.add_job(dispatch_job());
        engine.add_job(readback_job(self.streamed));
        if self.streamed {
            engine.add_job(feedback_job());
        }
        Ok(())
    }
}

fn dispatch_job() -> Job {
    const NAME: &str = "phase.gpu.dispatch";
    Job::new(NAME)
        .in_stage(Stage::Phase)
        .reads::<VoxelWorld>()
        .reads::<PhaseState>()
        .reads::<PhaseTable>()
        .reads::<HeatBaths>()
        .reads::<Fields>()
        .reads::<Seed>()
        .reads::<GpuDevice>()
        .writes::<GpuPhaseState>()
        .run(|ctx| {
            let device = ctx.read::<GpuDevice>()?;
            let mut phase = ctx.write::<GpuPhaseState>()?;
            let pass = phase
                .kernel
                .begin(
                    device.context(),
                    &*ctx.read::<VoxelWorld>()?,
                    &*ctx.read::<PhaseState>()?,
                    &*ctx.read::<PhaseTable>()?,
                    &ctx.read::<HeatBaths>()?.0,
                    Some(&*ctx.read::<Fields>()?),
                    ctx.read::<Seed>()?.0,
                    ctx.clock().frame,
                )
                .map_err(|e| JobError::failed(NAME, e))?;
            phase.in_flight = Some(pass);
            Ok(())
        })
}

fn readback_job(streamed: bool) -> Job {
    const NAME: &str = "phase.gpu.readback";
    Job::new(NAME)
        .in_stage(Stage::Output)
        .writes::<VoxelWorld>()
        .writes::<PhaseState>()
        .writes::<GpuPhaseState>()
        .reads::<PhaseTable>()
        .reads::<GpuDevice>()
        .run(move |ctx| {
            let device = ctx.read::<GpuDevice>()?;
            let gpu = device.context();
            let mut phase = ctx.write::<GpuPhaseState>()?;
            let Some(pass) = phase.in_flight.take() else {
                return Err(JobError::failed(NAME, "no pass was dispatched"));
            };
            phase
                .kernel
                .end(
                    gpu,
                    pass,
                    &mut *ctx.write::<VoxelWorld>()?,
                    &mut *ctx.write::<PhaseState>()?,
                    &*ctx.read::<PhaseTable>()?,
                )
                .map_err(|e| JobError::failed(NAME, e))?;
            if streamed {
                phase.kernel.page_use().start_readback(gpu);
            }
            Ok(())
        })
}

fn feedback_job() -> Job {
    const NAME: &str = "phase.gpu.feedback";
    Job::new(NAME)
        .in_stage(Stage::Storage)
        .before("storage.stream")
        .writes::<VoxelWorld>()
        .writes::<PageRequests>()
        .writes::<GpuPhaseState>()
        .reads::<GpuDevice>()
        .run(|ctx| {
            let device = ctx.read::<GpuDevice>()?;
            let phase = ctx.write::<GpuPhaseState>()?;
            let taken = phase.kernel.page_use().take(device.context(), true);
            let Some(used) = taken.map_err(|e| JobError::failed(NAME, e))? else {
                return Ok(());
            };
            // Recorded by the previous frame's pass.
            let frame = ctx.clock().frame.saturating_sub(1);
            let asked = used.apply(&mut *ctx.write::<VoxelWorld>()?, frame);
            ctx.write::<PageRequests>()?.pages = asked.to_vec();
            Ok(())
        })
}

/// The soft bodies and the world they collide with, mirrored on the device.
pub struct GpuBodiesState {
    mirror: WorldMirror,
    bodies: GpuSoftBodies,
}

/// Soft bodies on the device (`softbody.step.gpu`, stage `bodies`): the
/// world's blocked cells are sent for the pages that changed, the bodies'
/// arrays once and then only what the CPU changed; their push on the fields
/// is the CPU's.
#[derive(Debug, Default)]
pub struct GpuSoftBodyPlugin {
    /// The bodies to simulate.
    pub bodies: SoftBodies,
    /// Substeps a frame.
    pub substeps: u32,
}

impl Plugin for GpuSoftBodyPlugin {
    fn name(&self) -> &str {
        "soft_bodies.gpu"
    }

    fn build(self: Box<Self>, engine: &mut Engine) -> Result<(), PluginError> {
        let state = {
            let device = needs::<GpuDevice>(engine, self.name())?;
            let world = needs::<VoxelWorld>(engine, self.name())?;
            let gpu = device.context();
            let mirror =
                WorldMirror::new(gpu, &world).map_err(|e| PluginError::new(self.name(), e))?;
            let bodies = GpuSoftBodies::new(gpu, &mirror, None);
            GpuBodiesState { mirror, bodies }
        };
        engine.insert_resource(state);
        engine.insert_resource(self.bodies);
        let substeps = self.substeps;
        const NAME: &str = "softbody.step.gpu";
        engine.add_job(
            step_job(NAME)
                .writes::<GpuBodiesState>()
                .reads::<GpuDevice>()
                .run(move |ctx| {
                    let device = ctx.read::<GpuDevice>()?;
                    let gpu = device.context();
                    let scale = *ctx.read::<WorldScale>()?;
                    let world = ctx.read::<VoxelWorld>()?;
                    let table = ctx.read::<MaterialTable>()?;
                    let mut fields = ctx.write::<Fields>()?;
                    let mut bodies = ctx.write::<SoftBodies>()?;
                    let mut state = ctx.write::<GpuBodiesState>()?;
                    let GpuBodiesState {
                        mirror,
                        bodies: on_gpu,
                    } = &mut *state;
                    let env = environment(&scale, ctx.dt(), substeps);
                    mirror.sync(gpu, &world, &table);
                    bodies
                        .step_mirrored(&world, &table, &env.feeling(&fields), &mut on_gpu.on(gpu))
                        .map_err(|e| JobError::failed(NAME, e))?;
                    bodies.push_fields(&mut fields, &world, &table, &env);
                    Ok(())
                }),
        );
        Ok(())
    }
}
