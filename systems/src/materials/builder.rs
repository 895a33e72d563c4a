//! Building a material table from definitions, each checked as it comes.

use super::diagram::{State, Substance};
use super::{id, Kind, Material, MaterialId, MaterialTable, Reaction, MAX_MATERIALS};

/// Hottest temperature a material or reaction may name, K (as scenarios).
const MAX_TEMPERATURE: f32 = 100_000.0;

/// Most reactions a table lists. With the rules a table adds (a fire's
/// spread to each flammable material, each ignition) they stay well within
/// the 16-bit indices the automaton's tables use.
pub const MAX_REACTIONS: usize = 4096;

/// What a [`MaterialError`] is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    /// The material of this name.
    Material(String),
    /// The reaction at this index in the builder (built-in ones first).
    Reaction(usize),
    /// The substance of this name.
    Substance(String),
}

/// A material or reaction that cannot be used: which one, which of its
/// values (the key in a data file), and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{what}: {message}")]
pub struct MaterialError {
    /// The material or reaction.
    pub item: Item,
    /// The value at fault, by its key in a data file (`density`, `rate`,
    /// ...); `None` for the definition as a whole.
    pub field: Option<&'static str>,
    /// What is wrong, for people.
    pub message: String,
    what: String,
}

/// Builds a [`MaterialTable`]: materials and reactions are checked as they
/// are added, conflicts between reactions when the table is built.
///
/// ```
/// use loam_systems::materials::{id, Kind, Material, MaterialTable, Reaction};
/// # fn main() -> Result<(), loam_systems::materials::MaterialError> {
/// let mut materials = MaterialTable::builder();
/// let acid = materials.add(Material {
///     color: [120, 230, 60],
///     ..Material::new("acid", Kind::Liquid, 1200.0, 3.9e6)
/// })?;
/// // Acid eats stone: the acid is used up, the stone turns to acid.
/// materials.react(Reaction::pair(acid, id::STONE, [id::AIR, acid], 0.05))?;
/// let table = materials.build()?;
/// assert_eq!(table.id("acid"), Some(acid));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct MaterialsBuilder {
    materials: Vec<Material>,
    reactions: Vec<Reaction>,
    substances: Vec<Substance>,
}

impl MaterialsBuilder {
    /// Nothing yet (the built-in data starts here; ids must then follow
    /// [`id`]).
    pub(super) fn empty() -> Self {
        Self {
            materials: Vec::new(),
            reactions: Vec::new(),
            substances: Vec::new(),
        }
    }

    /// The built-in materials and reactions.
    pub fn builtin() -> Self {
        let table = MaterialTable::default();
        Self {
            materials: table.materials().to_vec(),
            reactions: table.reactions().to_vec(),
            substances: table.substances().to_vec(),
        }
    }

    /// The id of the material called `name`.
    pub fn id(&self, name: &str) -> Option<MaterialId> {
        self.materials
            .iter()
            .position(|m| m.name == name)
            .map(|i| i as MaterialId)
    }

    /// Adds a new material; its id is the next free one.
    pub fn add(&mut self, material: Material) -> Result<MaterialId, MaterialError> {
        let item = Item::Material(material.name.clone());
        if self.id(&material.name).is_some() {
            return Err(self.error(
                item,
                Some("name"),
                format!(
                    "`{}` is already a material: redefine it with `override = true`",
                    material.name
                ),
            ));
        }
        if self.materials.len() >= MAX_MATERIALS {
            return Err(self.error(item, None, format!("more than {MAX_MATERIALS} materials")));
        }
        let id = self.materials.len() as MaterialId;
        self.check(id, &material)?;
        self.materials.push(material);
        Ok(id)
    }

    /// Replaces the material of the same name, keeping its id (a scenario
    /// file's `override = true`).
    pub fn replace(&mut self, material: Material) -> Result<MaterialId, MaterialError> {
        let Some(id) = self.id(&material.name) else {
            return Err(self.error(
                Item::Material(material.name.clone()),
                Some("override"),
                format!(
                    "`{}` is not a material yet, so there is nothing to override",
                    material.name
                ),
            ));
        };
        self.check(id, &material)?;
        self.materials[id as usize] = material;
        Ok(id)
    }

    /// Adds a reaction (tried after those added before it).
    pub fn react(&mut self, reaction: Reaction) -> Result<(), MaterialError> {
        let item = Item::Reaction(self.reactions.len());
        let fail = |field, message: String| Err(self.error(item.clone(), Some(field), message));
        if self.reactions.len() >= MAX_REACTIONS {
            return Err(self.error(
                item.clone(),
                None,
                format!("more than {MAX_REACTIONS} reactions"),
            ));
        }
        let n = self.materials.len();
        let known = |m: MaterialId| (m as usize) < n;
        if !known(reaction.a) {
            return fail("a", format!("no material has id {}", reaction.a));
        }
        if let Some(b) = reaction.b.filter(|&b| !known(b)) {
            return fail("b", format!("no material has id {b}"));
        }
        if let Some(&p) = reaction.into[..reaction.products()]
            .iter()
            .find(|&&p| !known(p))
        {
            return fail("into", format!("no material has id {p}"));
        }
        let kind = |m: MaterialId| self.materials[m as usize].kind;
        if kind(reaction.a) == Kind::Empty {
            return fail(
                "a",
                format!(
                    "`{}` is empty space, which never reacts (give the reaction to the other material)",
                    self.name(reaction.a)
                ),
            );
        }
        if !(0.0..=1.0).contains(&reaction.rate) {
            return fail("rate", "rate must be a chance per frame in [0, 1]".into());
        }
        let temperature = |t: Option<f32>| t.is_none_or(|t| (0.0..=MAX_TEMPERATURE).contains(&t));
        if !temperature(reaction.min_temperature) {
            return fail(
                "min_temperature",
                format!("min_temperature must be in [0, {MAX_TEMPERATURE}] K"),
            );
        }
        if !temperature(reaction.max_temperature) {
            return fail(
                "max_temperature",
                format!("max_temperature must be in [0, {MAX_TEMPERATURE}] K"),
            );
        }
        if let (Some(lo), Some(hi)) = (reaction.min_temperature, reaction.max_temperature) {
            if lo >= hi {
                return fail(
                    "max_temperature",
                    format!("max_temperature {hi} K is not above min_temperature {lo} K: the reaction could never happen"),
                );
            }
        }
        if !reaction.products_at_least.iter().all(|&t| temperature(t)) {
            return fail(
                "min_product_temperature",
                format!("product temperatures must be in [0, {MAX_TEMPERATURE}] K"),
            );
        }
        if !(reaction.heat.is_finite() && reaction.heat.abs() <= 1.0e12) {
            return fail("heat", "heat must be a number of J/m³ within ±1e12".into());
        }
        if let Some(b) = reaction.blast {
            if !(b.pressure > 0.0 && b.pressure <= 1.0e9) {
                return fail(
                    "blast_pressure",
                    "blast_pressure must be in (0, 1e9] Pa".into(),
                );
            }
            if !(b.radius > 0.0 && b.radius <= 64.0) {
                return fail(
                    "blast_radius",
                    "blast_radius must be in (0, 64] cells".into(),
                );
            }
            if !(0.0..=MAX_TEMPERATURE).contains(&b.heat) {
                return fail(
                    "blast_heat",
                    format!("blast_heat must be in [0, {MAX_TEMPERATURE}] K"),
                );
            }
        }
        let products = &reaction.into[..reaction.products()];
        if reaction.heat != 0.0 && products.iter().any(|&p| kind(p) == Kind::Fire) {
            return fail(
                "heat",
                "a fire product starts at its flame temperature, so heat would be lost: \
                 leave heat out"
                    .into(),
            );
        }
        let matter = |ms: &[MaterialId]| ms.iter().filter(|&&m| kind(m) != Kind::Empty).count();
        let before = match reaction.b {
            Some(b) => matter(&[reaction.a, b]),
            None => matter(&[reaction.a]),
        };
        let after = matter(products);
        if after > before && !reaction.creates_matter {
            return fail(
                "into",
                format!(
                    "it turns {before} cells of matter into {after}, making matter from empty \
                     space: set creates_matter = true if that is meant"
                ),
            );
        }
        self.reactions.push(reaction);
        Ok(())
    }

    /// Adds a substance with a phase diagram (see [`Substance::new`]); its
    /// phases are materials already added.
    pub fn substance(&mut self, substance: Substance) -> Result<(), MaterialError> {
        if self.substances.iter().any(|s| s.name == substance.name) {
            return Err(self.error(
                Item::Substance(substance.name.clone()),
                Some("name"),
                format!(
                    "`{}` is already a substance: redefine it with `override = true`",
                    substance.name
                ),
            ));
        }
        self.check_substance(&substance)?;
        self.substances.push(substance);
        Ok(())
    }

    /// Replaces the substance of the same name (`override = true`).
    pub fn replace_substance(&mut self, substance: Substance) -> Result<(), MaterialError> {
        let Some(k) = self
            .substances
            .iter()
            .position(|s| s.name == substance.name)
        else {
            return Err(self.error(
                Item::Substance(substance.name.clone()),
                Some("override"),
                format!(
                    "`{}` is not a substance yet, so there is nothing to override",
                    substance.name
                ),
            ));
        };
        self.check_substance(&substance)?;
        self.substances[k] = substance;
        Ok(())
    }

    /// Checks a substance's numbers and that its phases are materials of
    /// a matching kind (how they agree with the other substances and with
    /// the materials' heat capacities is checked by [`Self::build`]).
    fn check_substance(&self, s: &Substance) -> Result<(), MaterialError> {
        let fail = |field, message: String| {
            Err(self.error(Item::Substance(s.name.clone()), Some(field), message))
        };
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if s.name.is_empty() || s.name.len() > 64 {
            return fail("name", "a name is 1 to 64 characters".into());
        }
        if !positive(s.molar_mass) {
            return fail(
                "molar_mass",
                "molar_mass must be a positive number of kg/mol".into(),
            );
        }
        if !positive(s.reference_density) {
            return fail(
                "reference_density",
                "reference_density must be a positive number of kg/m³".into(),
            );
        }
        if !(s.interface_energy.is_finite() && s.interface_energy >= 0.0) {
            return fail(
                "interface_energy",
                "interface_energy must be ≥ 0 J/m²".into(),
            );
        }
        for ph in &s.phases {
            let Some(m) = self.materials.get(ph.material as usize) else {
                return fail("phases", format!("no material has id {}", ph.material));
            };
            let fits = match ph.state {
                State::Gas => m.kind == Kind::Gas,
                State::Liquid => m.kind == Kind::Liquid,
                State::Solid => matches!(m.kind, Kind::Solid | Kind::Powder),
            };
            if !fits {
                return fail(
                    "phases",
                    format!(
                        "`{}` is a {} material, not one of state {:?}",
                        m.name,
                        m.kind.name(),
                        ph.state
                    ),
                );
            }
            if !(positive(ph.density) && positive(ph.cp)) {
                return fail(
                    "phases",
                    format!("the phase `{}` needs a positive density and cp", m.name),
                );
            }
        }
        for t in &s.transitions {
            if !(positive(t.temperature) && t.latent_heat.is_finite()) {
                return fail(
                    "transitions",
                    "a transition needs a positive temperature and a finite latent_heat".into(),
                );
            }
        }
        for p in [s.triple, s.critical].into_iter().flatten() {
            if !(positive(p.temperature) && positive(p.pressure)) {
                return fail(
                    "triple",
                    "a triple or critical point is [K, Pa], both positive".into(),
                );
            }
        }
        Ok(())
    }

    /// Checks the reactions against each other and builds the table.
    pub fn build(self) -> Result<MaterialTable, MaterialError> {
        let mut owner: Vec<Option<&str>> = vec![None; self.materials.len()];
        for s in &self.substances {
            for (k, ph) in s.phases.iter().enumerate() {
                let m = &self.materials[ph.material as usize];
                let slot = &mut owner[ph.material as usize];
                if let Some(other) = slot.replace(&s.name) {
                    return Err(self.error(
                        Item::Substance(s.name.clone()),
                        Some("phases"),
                        format!("`{}` is already a phase of substance `{other}`", m.name),
                    ));
                }
                // The automaton conducts heat by the material's capacity, the
                // phase pass by the phase's: they must agree.
                let c = s.heat_capacity(k);
                if (f64::from(m.heat_capacity) - c).abs() > 1e-3 * c {
                    return Err(self.error(
                        Item::Substance(s.name.clone()),
                        Some("phases"),
                        format!(
                            "`{}` has heat_capacity {} J/(m³·K), but as a phase of `{}` it holds \
                             reference_density / molar_mass × cp = {c:.6e}: make them agree",
                            m.name, m.heat_capacity, s.name
                        ),
                    ));
                }
            }
        }
        for (k, r) in self.reactions.iter().enumerate() {
            if let Some(first) = self.reactions[..k].iter().position(|q| conflicts(q, r)) {
                return Err(self.error(
                    Item::Reaction(k),
                    None,
                    format!(
                        "conflicts with reaction {first} ({}): one pair of materials, or one \
                         material over overlapping temperatures, may have one reaction",
                        self.describe(&self.reactions[first])
                    ),
                ));
            }
        }
        Ok(MaterialTable::from_checked(
            self.materials,
            self.reactions,
            self.substances,
        ))
    }

    /// Checks one material definition for id `id`.
    fn check(&self, id: MaterialId, m: &Material) -> Result<(), MaterialError> {
        let fail = |field, message: String| {
            Err(self.error(Item::Material(m.name.clone()), Some(field), message))
        };
        let name_ok = !m.name.is_empty()
            && m.name.len() <= 64
            && m.name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !name_ok {
            return fail(
                "name",
                "a name is 1 to 64 letters, digits, `_` or `-`".into(),
            );
        }
        if (id == id::AIR) != (m.kind == Kind::Empty) {
            return fail(
                "kind",
                "only air (the first material) is empty space, and air must stay empty".into(),
            );
        }
        if !(m.density.is_finite() && m.density > 0.0) {
            return fail(
                "density",
                "density must be a positive number of kg/m³".into(),
            );
        }
        if !(m.heat_capacity.is_finite() && m.heat_capacity > 0.0) {
            return fail(
                "heat_capacity",
                "heat_capacity must be a positive number of J/(m³·K)".into(),
            );
        }
        if !(0.0..=0.5).contains(&m.conductivity) {
            return fail("conductivity", "conductivity must be in [0, 0.5]".into());
        }
        if m.strength.is_nan() || m.strength < 0.0 {
            return fail(
                "strength",
                "strength must be a pressure ≥ 0 Pa (inf: never thrown)".into(),
            );
        }
        if !(m.spawn_temperature > 0.0 && m.spawn_temperature <= MAX_TEMPERATURE) {
            return fail(
                "temperature",
                format!("temperature must be in (0, {MAX_TEMPERATURE}] K"),
            );
        }
        if m.ignition
            .is_some_and(|t| !(t > 0.0 && t <= MAX_TEMPERATURE))
        {
            return fail(
                "ignition",
                format!("ignition must be in (0, {MAX_TEMPERATURE}] K"),
            );
        }
        if m.ignition.is_some() && m.kind == Kind::Fire {
            return fail(
                "ignition",
                "a fire is already burning: it cannot ignite".into(),
            );
        }
        if !(0.0..=1.0).contains(&m.spread) {
            return fail(
                "spread",
                "spread must be a chance per frame in [0, 1]".into(),
            );
        }
        if m.spread > 0.0 && m.kind != Kind::Fire {
            return fail("spread", "only a fire spreads (kind = \"fire\")".into());
        }
        if !(0.0..=1.0).contains(&m.viscosity) {
            return fail("viscosity", "viscosity must be in [0, 1]".into());
        }
        if m.viscosity > 0.0 && m.kind != Kind::Liquid {
            return fail("viscosity", "only a liquid has a viscosity".into());
        }
        Ok(())
    }

    fn name(&self, m: MaterialId) -> &str {
        self.materials.get(m as usize).map_or("?", |m| &m.name)
    }

    /// `a + b -> x + y` in names.
    fn describe(&self, r: &Reaction) -> String {
        match r.b {
            Some(b) => format!(
                "{} + {} -> {} + {}",
                self.name(r.a),
                self.name(b),
                self.name(r.into[0]),
                self.name(r.into[1])
            ),
            None => format!("{} -> {}", self.name(r.a), self.name(r.into[0])),
        }
    }

    fn error(&self, item: Item, field: Option<&'static str>, message: String) -> MaterialError {
        let what = match &item {
            Item::Material(name) => format!("material `{name}`"),
            Item::Substance(name) => format!("substance `{name}`"),
            Item::Reaction(k) => match self.reactions.get(*k) {
                Some(r) => format!("reaction {k} ({})", self.describe(r)),
                None => format!("reaction {k}"),
            },
        };
        MaterialError {
            item,
            field,
            message,
            what,
        }
    }
}

/// Whether two reactions compete for the same cells: one pair of
/// materials (either way round), or one material's single-cell reactions
/// over overlapping temperatures.
fn conflicts(p: &Reaction, q: &Reaction) -> bool {
    match (p.b, q.b) {
        (Some(pb), Some(qb)) => (p.a, pb) == (q.a, qb) || (p.a, pb) == (qb, q.a),
        (None, None) => {
            let lo = |r: &Reaction| r.min_temperature.unwrap_or(f32::NEG_INFINITY);
            let hi = |r: &Reaction| r.max_temperature.unwrap_or(f32::INFINITY);
            p.a == q.a && lo(p) < hi(q) && lo(q) < hi(p)
        }
        _ => false,
    }
}
