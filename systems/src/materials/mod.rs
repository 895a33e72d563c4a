//! Materials and reactions, as data.
//!
//! What each material id is, how it moves and how it reacts comes from data:
//! the built-in set is `systems/materials.toml`, compiled in and read by
//! [`MaterialTable::default`]; a scenario adds its own in the same format
//! ([`MaterialsData`]), and a game in code through [`MaterialsBuilder`].
//! The builder checks every definition and reaction and builds the
//! [`MaterialTable`], the flat per-id arrays the kernels read.
//!
//! Units: density in kg/m³; temperatures in kelvin; `conductivity` is the
//! fraction of a temperature difference that two cells of this material
//! even out per frame (the pair uses the smaller of its two values, and the
//! values are capped so the explicit update stays stable);
//! `heat_capacity` is volumetric, J/(m³·K): heat flowing between two cells
//! changes each one's temperature by the heat over its capacity, so
//! conduction conserves energy. Materials with a phase diagram (water,
//! basalt, CO2) take theirs from the phase model (`phase`), where a voxel holds the
//! same moles in every phase (a test checks the two agree).
//!
//! # Reactions
//! A [`Reaction`] turns a cell of `a` (a single-cell reaction), or a cell
//! of `a` and a face neighbour of `b` (a pair reaction), into other
//! materials, with a chance per frame, within a range of `a`'s temperature.
//! Besides the listed reactions, a material with an `ignition` temperature
//! catches fire at or above it, and a fire spreads to flammable face
//! neighbours at its `spread` rate.

mod builder;
mod data;
pub mod diagram;
mod reaction;
mod table;

pub use builder::{Item, MaterialError, MaterialsBuilder, MAX_REACTIONS};
pub use data::{
    DataError, MaterialDef, MaterialsData, PhaseDef, ReactionDef, SubstanceDef, TransitionDef,
    BUILTIN_DATA,
};
pub use reaction::{Blast, Reaction, ReactionBlast, ReactionBlasts, Rule, IGNITE_RATE};
pub use table::{has, MaterialTable};

/// A material id, the value of the `material` channel.
pub type MaterialId = u8;

/// Most materials a table holds: ids 0 to 254 (255 is never a material).
pub const MAX_MATERIALS: usize = 255;

/// How a material moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Empty space (air): never moves by itself, anything fluid-heavier displaces it.
    Empty,
    /// Does not move.
    Solid,
    /// Falls, then slides to a lower diagonal neighbour.
    Powder,
    /// Falls, slides diagonally, then spreads sideways.
    Liquid,
    /// Rises, then spreads sideways; one denser than air sinks instead
    /// ([`MaterialTable::heavy`]).
    Gas,
    /// Stays in place at its flame temperature, spreads to flammable
    /// neighbours, burns out by its reactions.
    Fire,
}

impl Kind {
    /// Whether heavier materials can move through cells of this kind.
    pub fn is_fluid(self) -> bool {
        matches!(self, Kind::Empty | Kind::Liquid | Kind::Gas)
    }

    /// The kind's name in data files.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Empty => "empty",
            Kind::Solid => "solid",
            Kind::Powder => "powder",
            Kind::Liquid => "liquid",
            Kind::Gas => "gas",
            Kind::Fire => "fire",
        }
    }
}

/// One material's properties.
#[derive(Clone, Debug, PartialEq)]
pub struct Material {
    /// Name used in scenario files and reports.
    pub name: String,
    /// How it moves.
    pub kind: Kind,
    /// kg/m³; decides who sinks through whom.
    pub density: f32,
    /// Per-frame fraction of a temperature difference evened out (≤ 0.5).
    pub conductivity: f32,
    /// Volumetric heat capacity, J/(m³·K).
    pub heat_capacity: f32,
    /// Overpressure that breaks a cell loose and throws it along the
    /// kinetic field, Pa (infinite: never).
    pub strength: f32,
    /// Temperature a new cell of this material starts at, K; a fire's
    /// flame temperature, which it holds while it burns.
    pub spawn_temperature: f32,
    /// Ignites (becomes fire) at or above this temperature, K.
    pub ignition: Option<f32>,
    /// For a fire: chance per frame that it sets each flammable face
    /// neighbour alight (0 for other kinds).
    pub spread: f32,
    /// For a liquid: how reluctantly it spreads, 0 (water) to 1 (a paste
    /// that keeps its heap). A cell that could spread sideways does so
    /// with chance `1 − viscosity` a frame, and levelling moves that
    /// fraction of what it would.
    pub viscosity: f32,
    /// Colour for pictures, sRGB.
    pub color: [u8; 3],
}

impl Material {
    /// A material with the given name, kind, density (kg/m³) and
    /// volumetric heat capacity (J/(m³·K)); it conducts heat a little
    /// (0.1), is never thrown, starts at room temperature, does not burn,
    /// and is grey. Change the rest with struct update syntax:
    ///
    /// ```
    /// use loam_systems::materials::{Kind, Material};
    /// let acid = Material {
    ///     conductivity: 0.2,
    ///     color: [120, 230, 60],
    ///     ..Material::new("acid", Kind::Liquid, 1200.0, 3.9e6)
    /// };
    /// assert_eq!(acid.spawn_temperature, loam_systems::materials::AMBIENT);
    /// ```
    pub fn new(name: impl Into<String>, kind: Kind, density: f32, heat_capacity: f32) -> Self {
        Self {
            name: name.into(),
            kind,
            density,
            conductivity: 0.1,
            heat_capacity,
            strength: f32::INFINITY,
            spawn_temperature: AMBIENT,
            ignition: None,
            spread: 0.0,
            viscosity: 0.0,
            color: [128, 128, 128],
        }
    }
}

/// Ids of the built-in materials: the order of `systems/materials.toml`,
/// which a scenario's own materials follow.
pub mod id {
    use super::MaterialId;
    /// Empty space.
    pub const AIR: MaterialId = 0;
    /// Inert rock.
    pub const STONE: MaterialId = 1;
    /// A powder.
    pub const SAND: MaterialId = 2;
    /// A heavier powder.
    pub const GRAVEL: MaterialId = 3;
    /// A liquid.
    pub const WATER: MaterialId = 4;
    /// A light, flammable liquid.
    pub const OIL: MaterialId = 5;
    /// A hot, heavy liquid that solidifies to basalt.
    pub const LAVA: MaterialId = 6;
    /// A flammable solid.
    pub const WOOD: MaterialId = 7;
    /// Burning matter.
    pub const FIRE: MaterialId = 8;
    /// Dissipating gas left by fire.
    pub const SMOKE: MaterialId = 9;
    /// Water vapour.
    pub const STEAM: MaterialId = 10;
    /// Frozen water.
    pub const ICE: MaterialId = 11;
    /// Solidified lava.
    pub const BASALT: MaterialId = 12;
    /// Solid carbon dioxide.
    pub const DRY_ICE: MaterialId = 13;
    /// Liquid carbon dioxide (only above 5.18 bar).
    pub const LIQUID_CO2: MaterialId = 14;
    /// Carbon dioxide gas.
    pub const CO2: MaterialId = 15;
}

/// Room temperature, K.
pub const AMBIENT: f32 = 293.15;
