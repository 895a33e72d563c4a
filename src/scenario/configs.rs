//! What the scenario asks of each system, as the systems' configurations.

use loam_storage::{LayoutError, WorldLayout};
use loam_systems::ca::CaConfig;
use loam_systems::phase::PhaseConfig;
use loam_systems::xpbd::SoftBodies;
use loam_systems::WorldScale;

use super::{Scenario, Shape};

impl Scenario {
    /// The world's layout (its size in pages), or why its sizes make none.
    pub fn layout(&self) -> Result<WorldLayout, LayoutError> {
        WorldLayout::new(self.world.size, self.world.page)
    }

    /// A fingerprint of everything that generates the world's pages and
    /// says what they hold: its size, page, seed and `[[fill]]`s, in order,
    /// and the names of its materials when they are not the built-in set
    /// (xxh3 of a fixed little-endian encoding, the same on every machine
    /// and build). A world file records it, so that it is not reused with
    /// other fills, nor read with other materials.
    pub fn generator_fingerprint(&self) -> u64 {
        let mut bytes: Vec<u8> = Vec::new();
        let mut put = |b: &[u8]| bytes.extend_from_slice(b);
        self.world.size.iter().for_each(|v| put(&v.to_le_bytes()));
        put(&self.world.page.to_le_bytes());
        put(&self.world.seed.to_le_bytes());
        for fill in &self.fills {
            put(&[fill.material]);
            match fill.temperature {
                None => put(&[0]),
                Some(t) => {
                    put(&[1]);
                    put(&t.to_bits().to_le_bytes());
                }
            }
            match fill.shape {
                Shape::Box { min, max } => {
                    put(&[0]);
                    min.iter().chain(&max).for_each(|v| put(&v.to_le_bytes()));
                }
                Shape::Sphere { center, radius } => {
                    put(&[1]);
                    center
                        .iter()
                        .chain([&radius])
                        .for_each(|v| put(&v.to_bits().to_le_bytes()));
                }
                Shape::NoiseTerrain {
                    height,
                    scale,
                    surface,
                } => {
                    put(&[2]);
                    height.iter().for_each(|v| put(&v.to_le_bytes()));
                    put(&scale.to_bits().to_le_bytes());
                    match surface {
                        None => put(&[0]),
                        Some((m, depth)) => {
                            put(&[1, m]);
                            put(&depth.to_le_bytes());
                        }
                    }
                }
            }
        }
        // What the ids in the pages mean: a world made with materials of
        // its own is another world under other materials. (The built-in
        // table adds nothing, so files made before tables were data keep
        // their fingerprint.)
        if *self.materials != loam_systems::MaterialTable::default() {
            put(b"materials");
            for (_, m) in self.materials.iter() {
                put(m.name.as_bytes());
                put(&[0]);
            }
        }
        // 0 means "not recorded" in a world file.
        xxhash_rust::xxh3::xxh3_64(&bytes).max(1)
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
