//! Choosing the backend: `--backend gpu` swaps the CPU systems' plugins for
//! `loam-gpu`'s (built with the `gpu` feature), instead of branching inside
//! the systems.

use loam_runtime::{Engine, Plugins};

use crate::error::LoamError;
use crate::scenario::{Backend, Scenario};

/// Swaps in the GPU plugins where the scenario's backend asks for them and
/// a device opens; returns notes on what was chosen.
pub(crate) fn choose(scenario: &Scenario, plugins: &mut Plugins) -> Result<Vec<String>, LoamError> {
    let mut notes = Vec::new();
    let device = match scenario.run.backend {
        Backend::Cpu => None,
        Backend::Gpu => Some(gpu::open().map_err(|e| {
            LoamError::Unsupported(format!(
                "backend `gpu`: {e}; use `cpu`, or `auto` to fall back to the CPU"
            ))
        })?),
        Backend::Auto => gpu::open()
            .inspect_err(|e| notes.push(format!("backend auto: {e}; running on the CPU")))
            .ok(),
    };
    match device {
        Some(device) => gpu::swap(device, scenario, plugins)?,
        None if scenario.run.gpu_automaton => {
            notes.push("gpu_automaton: no GPU backend, so the automaton runs on the CPU".into())
        }
        None => {}
    }
    Ok(notes)
}

/// The GPU adapter's name, when the runtime in `engine` runs on one.
pub(crate) fn adapter(engine: &Engine) -> Option<String> {
    gpu::adapter(engine)
}

#[cfg(feature = "gpu")]
mod gpu {
    use loam_gpu::plugins::{
        GpuAutomatonPlugin, GpuDevice, GpuDevicePlugin, GpuFieldsPlugin, GpuPhasePlugin,
        GpuSoftBodyPlugin,
    };
    use loam_runtime::{Engine, Plugins};

    use crate::error::LoamError;
    use crate::scenario::Scenario;

    pub(super) fn open() -> Result<GpuDevicePlugin, String> {
        GpuDevicePlugin::open().map_err(|e| e.to_string())
    }

    /// Puts the device first and each system the GPU runs in the place of
    /// its CPU plugin.
    pub(super) fn swap(
        device: GpuDevicePlugin,
        scenario: &Scenario,
        plugins: &mut Plugins,
    ) -> Result<(), LoamError> {
        plugins.insert(0, Box::new(device));
        plugins.replace("fields", GpuFieldsPlugin)?;
        if scenario.run.gpu_automaton && plugins.contains("automaton") {
            loam_gpu::runs_reactions_of(&scenario.materials).map_err(LoamError::Unsupported)?;
            plugins.replace(
                "automaton",
                GpuAutomatonPlugin {
                    config: scenario.ca_config(),
                },
            )?;
        }
        if plugins.contains("phase") {
            plugins.replace(
                "phase",
                GpuPhasePlugin {
                    config: scenario.phase_config(),
                    streamed: scenario.world.storage.is_some(),
                },
            )?;
        }
        // Bodies a game adds later to a world that had none step on the
        // CPU's plugin.
        if plugins.contains("soft_bodies") && !scenario.soft_bodies.is_empty() {
            plugins.replace(
                "soft_bodies",
                GpuSoftBodyPlugin {
                    bodies: scenario.build_soft_bodies(),
                    substeps: scenario.soft_body_substeps(),
                },
            )?;
        }
        Ok(())
    }

    pub(super) fn adapter(engine: &Engine) -> Option<String> {
        engine
            .resource::<GpuDevice>()
            .map(|d| d.context().adapter_name().to_string())
    }
}

#[cfg(not(feature = "gpu"))]
mod gpu {
    use loam_runtime::{Engine, Plugins};

    use crate::error::LoamError;
    use crate::scenario::Scenario;

    /// No device can be opened without the GPU backend.
    pub(super) enum NoDevice {}

    pub(super) fn open() -> Result<NoDevice, String> {
        Err("this build has no GPU backend (build loam with `--features gpu`)".into())
    }

    pub(super) fn swap(device: NoDevice, _: &Scenario, _: &mut Plugins) -> Result<(), LoamError> {
        match device {}
    }

    pub(super) fn adapter(_: &Engine) -> Option<String> {
        None
    }
}
