//! The material table: the flat per-id arrays kernels read.
//!
//! Kernels read the table as arrays of 256 entries indexed by material
//! id, so a lookup is one load with no bounds check to fail. Unused ids
//! behave as inert solids.

use std::sync::OnceLock;

use super::diagram::Substance;
use super::reaction::{just_above, Rule, IGNITE_RATE};
use super::{id, Kind, Material, MaterialId, MaterialsBuilder, Reaction};

/// The material table as flat per-id arrays for kernels, plus the
/// descriptions for people. Build one with [`MaterialTable::builder`];
/// [`MaterialTable::default`] is the built-in set.
#[derive(Clone, PartialEq)]
pub struct MaterialTable {
    materials: Vec<Material>,
    reactions: Vec<Reaction>,
    substances: Vec<Substance>,
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
    /// Temperature a new cell starts at per id; a fire's flame.
    pub start_temperature: [f32; 256],
    /// Viscosity per id (0 but for thick liquids).
    pub viscosity: [f32; 256],
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
    /// Whether the id has pair reactions (as the reacting cell `a`).
    pub has_pairs: [bool; 256],
    /// The ids that react at all, ascending.
    pub reactive_ids: Vec<MaterialId>,
    /// Per id, the temperatures `[lo, hi)` its single-cell reactions span
    /// (the union of their windows), `[0]` with fixed-temperature phase
    /// changes off, `[1]` with them on; empty (`lo > hi`) without any.
    pub single_window: Box<[[(f32, f32); 2]; 256]>,
    /// `pair[a][b]`: 1 + the index in `rules` of the reaction of a cell of
    /// `a` with a face neighbour of `b`, or 0.
    pair: Box<[[u16; 256]; 256]>,
    /// The single-cell rules of each id: a range of `rules`, tried in order.
    singles: [(u16, u16); 256],
    rules: Vec<Rule>,
}

/// Whether `t` is in a set of material ids (a row of [`MaterialTable::sinks`]
/// or [`MaterialTable::rises`]).
#[inline(always)]
pub fn has(set: &[bool; 256], t: u8) -> bool {
    set[t as usize]
}

impl Default for MaterialTable {
    /// The built-in materials and reactions (`systems/materials.toml`).
    fn default() -> Self {
        static BUILTIN: OnceLock<MaterialTable> = OnceLock::new();
        BUILTIN
            .get_or_init(|| {
                let mut builder = MaterialsBuilder::empty();
                super::MaterialsData::builtin()
                    .and_then(|data| {
                        data.apply(&mut builder)
                            .map_err(|e| format!("at byte {}: {}", e.span.start, e.message))
                    })
                    .and_then(|()| builder.build().map_err(|e| e.to_string()))
                    .unwrap_or_else(|e| panic!("the shipped materials.toml: {e}"))
            })
            .clone()
    }
}

impl std::fmt::Debug for MaterialTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MaterialTable")
            .field("materials", &self.materials)
            .field("reactions", &self.reactions)
            .field("substances", &self.substances)
            .finish_non_exhaustive()
    }
}

impl MaterialTable {
    /// A builder that starts from the built-in materials and reactions.
    pub fn builder() -> MaterialsBuilder {
        MaterialsBuilder::builtin()
    }

    /// The table of checked `materials`, `reactions` and `substances` (the
    /// builder's work): the per-id arrays, and the reactions as rules, with
    /// each flammable material's ignition and each fire's spread added.
    pub(super) fn from_checked(
        materials: Vec<Material>,
        reactions: Vec<Reaction>,
        substances: Vec<Substance>,
    ) -> Self {
        let mut t = Self {
            materials: Vec::new(),
            reactions: Vec::new(),
            substances,
            kind: [Kind::Solid; 256],
            density: [f32::INFINITY; 256],
            conductivity: [0.0; 256],
            heat_capacity: [1.0; 256],
            strength: [f32::INFINITY; 256],
            ignition: [f32::INFINITY; 256],
            start_temperature: [super::AMBIENT; 256],
            viscosity: [0.0; 256],
            sinks: Box::new([[false; 256]; 256]),
            rises: Box::new([[false; 256]; 256]),
            reactive: [false; 256],
            heavy: [false; 256],
            has_pairs: [false; 256],
            reactive_ids: Vec::new(),
            single_window: Box::new([[(f32::INFINITY, f32::NEG_INFINITY); 2]; 256]),
            pair: Box::new([[0; 256]; 256]),
            singles: [(0, 0); 256],
            rules: Vec::new(),
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
            t.start_temperature[i] = m.spawn_temperature;
            t.viscosity[i] = m.viscosity;
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
        t.add_rules(&materials, &reactions);
        t.materials = materials;
        t.reactions = reactions;
        t
    }

    /// Fills `rules`, `pair` and `singles`: the listed reactions, then a
    /// fire's spread to each flammable material it has no listed reaction
    /// with, then ignition after each material's listed single-cell ones.
    fn add_rules(&mut self, materials: &[Material], reactions: &[Reaction]) {
        for r in reactions.iter().filter(|r| r.b.is_some()) {
            let rule = self.rule(r);
            self.add_pair(r.a, r.b.unwrap_or(r.a), rule);
        }
        for (f, fire) in materials.iter().enumerate() {
            if fire.kind != Kind::Fire || fire.spread <= 0.0 {
                continue;
            }
            for (b, fuel) in materials.iter().enumerate() {
                if fuel.ignition.is_some() && self.pair[f][b] == 0 {
                    let f = f as MaterialId;
                    let rule = self.rule(&Reaction::pair(f, b as MaterialId, [f, f], fire.spread));
                    self.add_pair(f, b as MaterialId, rule);
                }
            }
        }
        for (m, material) in materials.iter().enumerate() {
            let start = self.rules.len() as u16;
            for r in reactions
                .iter()
                .filter(|r| r.b.is_none() && r.a as usize == m)
            {
                let rule = self.rule(r);
                self.rules.push(rule);
            }
            if let Some(ignition) = material.ignition {
                let mut rule = self.rule(&Reaction::single(m as MaterialId, id::FIRE, IGNITE_RATE));
                rule.lo = ignition;
                self.rules.push(rule);
            }
            self.singles[m] = (start, self.rules.len() as u16);
            self.reactive[m] |= start < self.rules.len() as u16;
            for (phase_changes, window) in self.single_window[m].iter_mut().enumerate() {
                let rules = &self.rules[start as usize..];
                for rule in rules
                    .iter()
                    .filter(|r| phase_changes == 1 || !r.phase_change)
                {
                    *window = (window.0.min(rule.lo), window.1.max(rule.hi));
                }
            }
        }
        self.reactive_ids = (0..=255).filter(|&m| self.reactive[m as usize]).collect();
    }

    fn add_pair(&mut self, a: MaterialId, b: MaterialId, rule: Rule) {
        self.rules.push(rule);
        self.pair[a as usize][b as usize] = self.rules.len() as u16;
        self.has_pairs[a as usize] = true;
        self.reactive[a as usize] = true;
    }

    /// `r` as a rule: its heat shared among its products.
    fn rule(&self, r: &Reaction) -> Rule {
        let n = r.products();
        let share = r.heat / n as f32;
        let mut warm = [0.0; 2];
        for (w, &p) in warm.iter_mut().zip(&r.into).take(n) {
            *w = share / self.heat_capacity[p as usize];
        }
        Rule {
            into: r.into,
            rate: r.rate,
            lo: r.min_temperature.map_or(f32::NEG_INFINITY, just_above),
            hi: r.max_temperature.unwrap_or(f32::INFINITY),
            warm,
            at_least: r.products_at_least,
            phase_change: r.phase_change,
            blast: r.blast,
        }
    }

    /// The reaction of a cell of `a` with a face neighbour of `b`.
    #[inline(always)]
    pub fn pair(&self, a: MaterialId, b: MaterialId) -> Option<&Rule> {
        self.pair_index(a, b).and_then(|k| self.rules.get(k))
    }

    /// The index in [`Self::rules`] of the reaction of `a` with `b`.
    #[inline(always)]
    pub fn pair_index(&self, a: MaterialId, b: MaterialId) -> Option<usize> {
        match self.pair[a as usize][b as usize] {
            0 => None,
            k => Some(k as usize - 1),
        }
    }

    /// Every rule: the pair reactions and the single-cell ones, which
    /// [`Self::pair_index`] and [`Self::single_range`] index (for kernels
    /// that take the tables as buffers: the GPU's).
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Where the single-cell rules of `a` are in [`Self::rules`].
    pub fn single_range(&self, a: MaterialId) -> std::ops::Range<usize> {
        let (start, end) = self.singles[a as usize];
        start as usize..end as usize
    }

    /// Whether any reaction sets off a blast (then the fields plugin applies
    /// them: `fields.blasts`).
    pub fn has_blasts(&self) -> bool {
        self.rules.iter().any(|r| r.blast.is_some())
    }

    /// The single-cell reactions of `a`, in the order they are tried.
    #[inline(always)]
    pub fn singles(&self, a: MaterialId) -> &[Rule] {
        &self.rules[self.single_range(a)]
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
            .map_or_else(|| format!("#{id}"), |m| m.name.clone())
    }

    /// All materials, by id.
    pub fn iter(&self) -> impl Iterator<Item = (MaterialId, &Material)> {
        self.materials
            .iter()
            .enumerate()
            .map(|(i, m)| (i as MaterialId, m))
    }

    /// The listed reactions, in order (ignition and a fire's spread are
    /// the materials' properties, not listed here).
    pub fn reactions(&self) -> &[Reaction] {
        &self.reactions
    }

    /// The materials, by id.
    pub fn materials(&self) -> &[Material] {
        &self.materials
    }

    /// The substances with phase diagrams (the phase pass's
    /// [`PhaseTable`](crate::phase::PhaseTable) is built from them).
    pub fn substances(&self) -> &[Substance] {
        &self.substances
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
