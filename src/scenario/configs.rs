//! What the scenario asks of each system, as the systems' configurations.

use loam_storage::{LayoutError, WorldLayout};
use loam_systems::ca::CaConfig;
use loam_systems::phase::PhaseConfig;
use loam_systems::xpbd::SoftBodies;
use loam_systems::WorldScale;

use super::Scenario;

impl Scenario {
    /// The world's layout (its size in pages), or why its sizes make none.
    pub fn layout(&self) -> Result<WorldLayout, LayoutError> {
        WorldLayout::new(self.world.size, self.world.page)
    }

    /// The world's scale: its cell size, at Earth's gravity.
    pub fn world_scale(&self) -> WorldScale {
        WorldScale {
            cell_size: self.world.voxel_size,
            ..WorldScale::default()
        }
    }

    /// The automaton's configuration.
    pub fn ca_config(&self) -> CaConfig {
        CaConfig {
            reactions: self.systems.reactions,
            heat: self.systems.heat,
            thermal_transitions: !self.systems.phase,
            ..CaConfig::default()
        }
    }

    /// The phase pass's configuration (its scale comes from the world's
    /// [`WorldScale`](loam_systems::WorldScale)).
    pub fn phase_config(&self) -> PhaseConfig {
        PhaseConfig {
            ambient_pressure: self.world.pressure,
            stagger: self.systems.phase_stagger,
            ..PhaseConfig::default()
        }
    }

    /// The soft bodies, built.
    pub fn build_soft_bodies(&self) -> SoftBodies {
        let mut bodies = SoftBodies::default();
        for b in &self.soft_bodies {
            bodies.add_box(b, self.world.voxel_size as f32);
        }
        bodies
    }

    /// Soft-body substeps a frame: the scenario's, at least 4.
    pub fn soft_body_substeps(&self) -> u32 {
        self.run.substeps.max(4)
    }
}
