//! The material table: what each material id is and how it behaves.
//!
//! Kernels read the table as flat arrays of 256 entries indexed by material
//! id, so a lookup is one load with no bounds check to fail. Unused ids
//! behave as inert solids.
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

/// A material id, the value of the `material` channel.
pub type MaterialId = u8;

/// How a material moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
    /// Stays in place, hot, burns out.
    Fire,
}

impl Kind {
    /// Whether heavier materials can move through cells of this kind.
    pub fn is_fluid(self) -> bool {
        matches!(self, Kind::Empty | Kind::Liquid | Kind::Gas)
    }
}

/// One material's properties.
#[derive(Clone, Debug, PartialEq)]
pub struct Material {
    /// Name used in scenario files and reports.
    pub name: &'static str,
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
    /// Temperature a new cell of this material starts at, K.
    pub spawn_temperature: f32,
    /// Ignites (becomes fire) at or above this temperature, K.
    pub ignition: Option<f32>,
    /// Colour for pictures, sRGB.
    pub color: [u8; 3],
}

/// Ids of the built-in materials.
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

/// The built-in materials, indexed by id.
pub fn builtin() -> Vec<Material> {
    let m = |name, kind, density, conductivity, spawn_temperature, ignition, color| Material {
        name,
        kind,
        density,
        conductivity,
        heat_capacity: 0.0,
        strength: f32::INFINITY,
        spawn_temperature,
        ignition,
        color,
    };
    use Kind::*;
    let materials = vec![
        m("air", Empty, 1.2, 0.02, AMBIENT, None, [0, 0, 0]),
        m("stone", Solid, 2600.0, 0.3, AMBIENT, None, [128, 128, 132]),
        m("sand", Powder, 1600.0, 0.15, AMBIENT, None, [222, 196, 120]),
        m(
            "gravel",
            Powder,
            1800.0,
            0.2,
            AMBIENT,
            None,
            [140, 130, 118],
        ),
        m("water", Liquid, 1000.0, 0.25, AMBIENT, None, [40, 100, 220]),
        m(
            "oil",
            Liquid,
            900.0,
            0.1,
            AMBIENT,
            Some(500.0),
            [70, 50, 30],
        ),
        m("lava", Liquid, 3100.0, 0.3, 1400.0, None, [255, 90, 10]),
        m(
            "wood",
            Solid,
            700.0,
            0.08,
            AMBIENT,
            Some(570.0),
            [120, 80, 40],
        ),
        m("fire", Fire, 0.3, 0.5, 1200.0, None, [255, 180, 40]),
        m("smoke", Gas, 0.9, 0.02, 400.0, None, [90, 90, 90]),
        m("steam", Gas, 0.6, 0.05, 400.0, None, [220, 230, 240]),
        m("ice", Solid, 917.0, 0.4, 260.0, None, [180, 220, 255]),
        m("basalt", Solid, 3000.0, 0.3, 900.0, None, [60, 55, 60]),
        m("dry_ice", Solid, 1562.0, 0.2, 190.0, None, [235, 240, 250]),
        m(
            "liquid_co2",
            Liquid,
            1178.0,
            0.1,
            230.0,
            None,
            [200, 215, 235],
        ),
        m("co2", Gas, 1.98, 0.02, AMBIENT, None, [170, 175, 185]),
    ];
    // Volumetric heat capacities, J/(m³·K): density × specific heat for the
    // rest (engineering tables), the phase model's for water, basalt, CO2.
    let capacities = [
        1.206e3, // air: 1.2 kg/m³ × 1005 J/(kg·K)
        2.05e6,  // stone: 2600 × 790
        1.33e6,  // sand: 1600 × 830
        1.51e6,  // gravel: 1800 × 840
        4.180e6, // water: 1000/0.018015 mol/m³ × 75.3 J/(mol·K)
        1.8e6,   // oil: 900 × 2000
        3.240e6, // lava: 2700/0.1 × 120
        1.19e6,  // wood: 700 × 1700
        330.0,   // fire: hot gas, 0.3 × 1100
        990.0,   // smoke: 0.9 × 1100
        1.887e6, // steam: 1000/0.018015 × 34.0 (a voxel holds a liquid's worth)
        2.115e6, // ice: 1000/0.018015 × 38.1
        3.240e6, // basalt: 2700/0.1 × 120
        1.258e6, // dry ice: 1178/0.04401 × 47
        2.275e6, // liquid CO2: 1178/0.04401 × 85
        0.990e6, // CO2 gas: 1178/0.04401 × 37
    ];
    // Overpressure that throws a cell, Pa: loose grains and liquids go
    // first, wood and ice need a real blast, rock does not move.
    let strengths = [
        f32::INFINITY, // air
        5.0e6,         // stone
        2.0e3,         // sand
        5.0e3,         // gravel
        1.0e3,         // water
        1.0e3,         // oil
        2.0e4,         // lava
        8.0e4,         // wood
        0.0,           // fire
        0.0,           // smoke
        0.0,           // steam
        2.0e5,         // ice
        5.0e6,         // basalt
        1.0e5,         // dry ice
        1.0e3,         // liquid CO2
        0.0,           // CO2 gas
    ];
    let mut materials = materials;
    for ((m, c), s) in materials.iter_mut().zip(capacities).zip(strengths) {
        m.heat_capacity = c;
        m.strength = s;
    }
    materials
}

/// Temperatures at which the built-in reactions happen, K.
pub mod thresholds {
    /// Water boils to steam above this.
    pub const BOIL: f32 = 373.15;
    /// Steam condenses to water below this.
    pub const CONDENSE: f32 = 363.15;
    /// Ice melts above this.
    pub const MELT: f32 = 273.15;
    /// Lava solidifies to basalt below this.
    pub const SOLIDIFY: f32 = 1000.0;
    /// Temperature fire holds while it burns.
    pub const FLAME: f32 = 1200.0;
}

/// The material table as flat per-id arrays for kernels, plus the
/// descriptions for people.
#[derive(Clone, Debug)]
pub struct MaterialTable {
    materials: Vec<Material>,
    /// Kind per id.
    pub kind: [Kind; 256],
    /// Density per id.
    pub density: [f32; 256],
    /// Conductivity per id, capped at 0.5.
    pub conductivity: [f32; 256],
    /// Volumetric heat capacity per id, J/(m³·K) (1 for unknown ids).
    pub heat_capacity: [f32; 256],
    /// Overpressure that throws a cell, Pa, per id.
    pub strength: [f32; 256],
    /// Ignition temperature per id (infinity when it does not burn).
    pub ignition: [f32; 256],
    /// `sinks[m][t]`: a cell of `m` may move down or sideways into a cell of
    /// `t` (fluid and lighter). One byte load answers a move check.
    pub sinks: Box<[[bool; 256]; 256]>,
    /// `rises[m][t]`: a cell of `m` may move up into a cell of `t` (fluid and heavier).
    pub rises: Box<[[bool; 256]; 256]>,
    /// Whether cells of the id can react at all (skips reaction logic for the rest).
    pub reactive: [bool; 256],
    /// A gas denser than air (carbon dioxide): it sinks through air and
    /// lighter gases and pools in low places, where other gases rise.
    pub heavy: [bool; 256],
}

/// Whether `t` is in a set of material ids (a row of [`MaterialTable::sinks`]
/// or [`MaterialTable::rises`]).
#[inline(always)]
pub fn has(set: &[bool; 256], t: u8) -> bool {
    set[t as usize]
}

impl Default for MaterialTable {
    fn default() -> Self {
        Self::new(builtin())
    }
}

impl MaterialTable {
    /// A table of `materials`, indexed by position (at most 256).
    pub fn new(materials: Vec<Material>) -> Self {
        let mut t = Self {
            materials: Vec::new(),
            kind: [Kind::Solid; 256],
            density: [f32::INFINITY; 256],
            conductivity: [0.0; 256],
            heat_capacity: [1.0; 256],
            strength: [f32::INFINITY; 256],
            ignition: [f32::INFINITY; 256],
            sinks: Box::new([[false; 256]; 256]),
            rises: Box::new([[false; 256]; 256]),
            reactive: [false; 256],
            heavy: [false; 256],
        };
        for (i, m) in materials.iter().enumerate().take(256) {
            t.kind[i] = m.kind;
            t.density[i] = m.density;
            t.conductivity[i] = m.conductivity.clamp(0.0, 0.5);
            t.strength[i] = m.strength;
            t.heat_capacity[i] = if m.heat_capacity > 0.0 {
                m.heat_capacity
            } else {
                1.0
            };
            t.ignition[i] = m.ignition.unwrap_or(f32::INFINITY);
            t.reactive[i] = m.ignition.is_some()
                || [id::LAVA, id::WATER, id::STEAM, id::ICE, id::FIRE, id::SMOKE]
                    .contains(&(i as u8));
        }
        let air = t.density[id::AIR as usize];
        for m in 0..256 {
            t.heavy[m] = t.kind[m] == Kind::Gas && t.density[m] > air;
        }
        for m in 0..256 {
            for target in 0..256 {
                if !t.kind[target].is_fluid() {
                    continue;
                }
                t.sinks[m][target] = t.density[target] < t.density[m];
                t.rises[m][target] = t.density[target] > t.density[m];
            }
        }
        t.materials = materials;
        t
    }

    /// The material with id `id`.
    pub fn get(&self, id: MaterialId) -> Option<&Material> {
        self.materials.get(id as usize)
    }

    /// The id of the material called `name`.
    pub fn id(&self, name: &str) -> Option<MaterialId> {
        self.materials
            .iter()
            .position(|m| m.name == name)
            .map(|i| i as MaterialId)
    }

    /// Name of id `id`, or `"#<id>"` for an unknown id.
    pub fn name(&self, id: MaterialId) -> String {
        self.get(id)
            .map_or_else(|| format!("#{id}"), |m| m.name.to_string())
    }

    /// All materials, by id.
    pub fn iter(&self) -> impl Iterator<Item = (MaterialId, &Material)> {
        self.materials
            .iter()
            .enumerate()
            .map(|(i, m)| (i as MaterialId, m))
    }

    /// Number of materials.
    pub fn len(&self) -> usize {
        self.materials.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.materials.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_ids_match_names() {
        let t = MaterialTable::default();
        for (id, name) in [
            (id::AIR, "air"),
            (id::STONE, "stone"),
            (id::SAND, "sand"),
            (id::GRAVEL, "gravel"),
            (id::WATER, "water"),
            (id::OIL, "oil"),
            (id::LAVA, "lava"),
            (id::WOOD, "wood"),
            (id::FIRE, "fire"),
            (id::SMOKE, "smoke"),
            (id::STEAM, "steam"),
            (id::ICE, "ice"),
            (id::BASALT, "basalt"),
            (id::DRY_ICE, "dry_ice"),
            (id::LIQUID_CO2, "liquid_co2"),
            (id::CO2, "co2"),
        ] {
            assert_eq!(t.id(name), Some(id));
        }
        assert_eq!(t.id("unobtainium"), None);
        assert_eq!(t.kind[200], Kind::Solid);
    }

    #[test]
    fn density_order_gives_the_expected_layering() {
        let t = MaterialTable::default();
        let d = |id: MaterialId| t.density[id as usize];
        assert!(d(id::SAND) > d(id::WATER) && d(id::WATER) > d(id::OIL));
        assert!(d(id::OIL) > d(id::AIR) && d(id::AIR) > d(id::SMOKE));
        assert!(d(id::SMOKE) > d(id::STEAM));
        assert!(has(&t.sinks[id::SAND as usize], id::WATER));
        assert!(!has(&t.sinks[id::SAND as usize], id::STONE));
        assert!(!has(&t.sinks[id::OIL as usize], id::WATER));
        assert!(has(&t.rises[id::STEAM as usize], id::AIR));
        assert!(!t.reactive[id::SAND as usize] && t.reactive[id::WOOD as usize]);
    }

    #[test]
    fn nothing_enters_its_own_material() {
        // The CA's exact skips rely on this.
        let t = MaterialTable::default();
        for m in 0..256 {
            assert!(!t.sinks[m][m] && !t.rises[m][m], "material {m}");
        }
    }
}
