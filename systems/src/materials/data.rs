//! Materials and reactions in TOML: the format of `systems/materials.toml`,
//! of a scenario's `[[material]]` and `[[reaction]]` tables, and of a
//! materials file a scenario names. Each value keeps its place in the text,
//! so an error points at the key at fault.

use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

use super::diagram::{DiagramPoint, Phase, State, Substance, Transition};
use super::{Blast, Item, Kind, Material, MaterialError, MaterialsBuilder, Reaction, AMBIENT};

/// The built-in materials and reactions, as shipped.
pub const BUILTIN_DATA: &str = include_str!("../../materials.toml");

/// A `[[material]]` table.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaterialDef {
    /// `name`.
    pub name: Spanned<String>,
    /// `kind`: empty, solid, powder, liquid, gas or fire.
    pub kind: Spanned<Kind>,
    /// `density`, kg/m³.
    pub density: Spanned<f64>,
    /// `heat_capacity`, J/(m³·K).
    pub heat_capacity: Spanned<f64>,
    /// `conductivity` (default 0.1).
    pub conductivity: Option<Spanned<f64>>,
    /// `strength`, Pa (default: never thrown).
    pub strength: Option<Spanned<f64>>,
    /// `temperature` a new cell starts at, K (default room temperature).
    pub temperature: Option<Spanned<f64>>,
    /// `ignition`, K.
    pub ignition: Option<Spanned<f64>>,
    /// `spread`, for a fire.
    pub spread: Option<Spanned<f64>>,
    /// `viscosity`, for a liquid: 0 (water) to 1.
    pub viscosity: Option<Spanned<f64>>,
    /// `color`, sRGB.
    pub color: Spanned<[u8; 3]>,
    /// `override = true` redefines a material that exists, keeping its id.
    #[serde(rename = "override")]
    pub replaces: Option<Spanned<bool>>,
}

/// A `[[reaction]]` table.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReactionDef {
    /// `a`: the reacting cell's material.
    pub a: Spanned<String>,
    /// `b`: the face neighbour's material, for a pair reaction.
    pub b: Option<Spanned<String>>,
    /// `into`: what `a` (and `b`) become.
    pub into: Spanned<Vec<Spanned<String>>>,
    /// `rate`: chance per frame (and contact).
    pub rate: Spanned<f64>,
    /// `min_temperature`, K: only hotter.
    pub min_temperature: Option<Spanned<f64>>,
    /// `max_temperature`, K: only colder.
    pub max_temperature: Option<Spanned<f64>>,
    /// `heat`, J/m³ released (+) or absorbed (−).
    pub heat: Option<Spanned<f64>>,
    /// `min_product_temperature`: each product at least this hot, K (0:
    /// as its cell was).
    pub min_product_temperature: Option<Spanned<Vec<f64>>>,
    /// `phase_change`: off while the phase pass runs.
    pub phase_change: Option<Spanned<bool>>,
    /// `creates_matter`: may make matter from empty space.
    pub creates_matter: Option<Spanned<bool>>,
    /// `blast_pressure`, Pa: a blast through the fields where it happens.
    pub blast_pressure: Option<Spanned<f64>>,
    /// `blast_radius`, cells (default 3).
    pub blast_radius: Option<Spanned<f64>>,
    /// `blast_heat`, K of thermal excess (default 0).
    pub blast_heat: Option<Spanned<f64>>,
}

/// A `[[substance]]` table: a phase diagram over materials.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubstanceDef {
    /// `name`.
    pub name: Spanned<String>,
    /// `molar_mass`, kg/mol.
    pub molar_mass: Spanned<f64>,
    /// `reference_density`, kg/m³: the moles a voxel holds.
    pub reference_density: Spanned<f64>,
    /// `interface_energy`, J/m².
    pub interface_energy: Spanned<f64>,
    /// `phases`, the first the reference.
    pub phases: Spanned<Vec<PhaseDef>>,
    /// `transitions` measured at 1 atm.
    pub transitions: Spanned<Vec<TransitionDef>>,
    /// `triple = [K, Pa]`, for reference and checks.
    pub triple: Option<Spanned<[f64; 2]>>,
    /// `critical = [K, Pa]`.
    pub critical: Option<Spanned<[f64; 2]>>,
    /// `override = true` redefines a substance that exists.
    #[serde(rename = "override")]
    pub replaces: Option<Spanned<bool>>,
}

/// One of a `[[substance]]`'s `phases`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhaseDef {
    /// `material`: the material a cell in this phase is.
    pub material: Spanned<String>,
    /// `state`: solid, liquid or gas.
    pub state: Spanned<State>,
    /// `density` of the phase, kg/m³.
    pub density: Spanned<f64>,
    /// `cp`, molar heat capacity, J/(mol·K).
    pub cp: Spanned<f64>,
}

/// One of a `[[substance]]`'s `transitions`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransitionDef {
    /// `from`: the phase (by material) below the transition.
    pub from: Spanned<String>,
    /// `to`: the phase above it.
    pub to: Spanned<String>,
    /// `temperature` at 1 atm, K.
    pub temperature: Spanned<f64>,
    /// `latent_heat`, J/mol, absorbed on heating.
    pub latent_heat: Spanned<f64>,
}

/// Materials and reactions read from TOML, not yet checked.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaterialsData {
    /// `[[material]]`s.
    #[serde(default)]
    pub material: Vec<Spanned<MaterialDef>>,
    /// `[[reaction]]`s.
    #[serde(default)]
    pub reaction: Vec<Spanned<ReactionDef>>,
    /// `[[substance]]`s.
    #[serde(default)]
    pub substance: Vec<Spanned<SubstanceDef>>,
}

/// A mistake in materials data: where in the text (bytes) and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataError {
    /// Byte range of the value at fault.
    pub span: Range<usize>,
    /// What is wrong.
    pub message: String,
}

impl MaterialsData {
    /// Reads `text`, a file of `[[material]]` and `[[reaction]]` tables.
    pub fn parse(text: &str) -> Result<Self, DataError> {
        toml::from_str(text).map_err(|e| DataError {
            span: e.span().unwrap_or(0..0),
            message: e.message().trim().to_string(),
        })
    }

    /// The shipped data ([`BUILTIN_DATA`]).
    pub(super) fn builtin() -> Result<Self, String> {
        Self::parse(BUILTIN_DATA).map_err(|e| format!("at byte {}: {}", e.span.start, e.message))
    }

    /// Adds the materials, the substances, then the reactions, to
    /// `builder`, each checked.
    /// Reactions are numbered on from those the builder had; a conflict
    /// found by [`MaterialsBuilder::build`] is placed by [`Self::span_of`].
    pub fn apply(&self, builder: &mut MaterialsBuilder) -> Result<(), DataError> {
        for def in &self.material {
            let def = def.get_ref();
            let material = def.material();
            let added = if def.replaces.as_ref().is_some_and(|r| *r.get_ref()) {
                builder.replace(material)
            } else {
                builder.add(material)
            };
            added.map_err(|e| DataError {
                span: def.span_of(e.field),
                message: e.message,
            })?;
        }
        for def in &self.substance {
            let substance = def.get_ref().substance(builder)?;
            let def = def.get_ref();
            let added = if def.replaces.as_ref().is_some_and(|r| *r.get_ref()) {
                builder.replace_substance(substance)
            } else {
                builder.substance(substance)
            };
            added.map_err(|e| DataError {
                span: def.span_of(e.field),
                message: e.message,
            })?;
        }
        for def in &self.reaction {
            let reaction = def.get_ref().reaction(builder)?;
            builder.react(reaction).map_err(|e| DataError {
                span: def.get_ref().span_of(e.field).unwrap_or_else(|| def.span()),
                message: e.message,
            })?;
        }
        Ok(())
    }

    /// Where `error`, from building a table this data was applied to with
    /// its first reaction numbered `first`, points in this data's text (if
    /// it is about this data's reactions or substances).
    pub fn span_of(&self, error: &MaterialError, first: usize) -> Option<Range<usize>> {
        match &error.item {
            Item::Reaction(k) if *k >= first => self.reaction.get(k - first).map(|def| def.span()),
            Item::Substance(name) => self
                .substance
                .iter()
                .rev()
                .find(|def| def.get_ref().name.get_ref() == name)
                .map(|def| def.get_ref().span_of(error.field)),
            _ => None,
        }
    }
}

/// `v` as an `f32` (out of range becomes infinite, which checks refuse).
fn f32_of(v: &Spanned<f64>) -> f32 {
    *v.get_ref() as f32
}

impl MaterialDef {
    /// The material it defines, unchecked.
    fn material(&self) -> Material {
        let opt = |v: &Option<Spanned<f64>>| v.as_ref().map(f32_of);
        Material {
            name: self.name.get_ref().clone(),
            kind: *self.kind.get_ref(),
            density: f32_of(&self.density),
            conductivity: opt(&self.conductivity).unwrap_or(0.1),
            heat_capacity: f32_of(&self.heat_capacity),
            strength: opt(&self.strength).unwrap_or(f32::INFINITY),
            spawn_temperature: opt(&self.temperature).unwrap_or(AMBIENT),
            ignition: opt(&self.ignition),
            spread: opt(&self.spread).unwrap_or(0.0),
            viscosity: opt(&self.viscosity).unwrap_or(0.0),
            color: *self.color.get_ref(),
        }
    }

    /// The span of the value under key `field` (the name, when absent).
    fn span_of(&self, field: Option<&str>) -> Range<usize> {
        let opt = |v: &Option<Spanned<f64>>| v.as_ref().map(Spanned::span);
        let span = match field {
            Some("kind") => Some(self.kind.span()),
            Some("density") => Some(self.density.span()),
            Some("heat_capacity") => Some(self.heat_capacity.span()),
            Some("conductivity") => opt(&self.conductivity),
            Some("strength") => opt(&self.strength),
            Some("temperature") => opt(&self.temperature),
            Some("ignition") => opt(&self.ignition),
            Some("spread") => opt(&self.spread),
            Some("viscosity") => opt(&self.viscosity),
            Some("override") => self.replaces.as_ref().map(Spanned::span),
            _ => None,
        };
        span.unwrap_or_else(|| self.name.span())
    }
}

impl ReactionDef {
    /// The reaction it states, with names resolved in `builder`.
    fn reaction(&self, builder: &MaterialsBuilder) -> Result<Reaction, DataError> {
        let id = |name: &Spanned<String>| {
            builder.id(name.get_ref()).ok_or_else(|| DataError {
                span: name.span(),
                message: format!("unknown material `{}`", name.get_ref()),
            })
        };
        let a = id(&self.a)?;
        let b = self.b.as_ref().map(id).transpose()?;
        let products = if b.is_some() { 2 } else { 1 };
        let into = self.into.get_ref();
        if into.len() != products {
            return Err(DataError {
                span: self.into.span(),
                message: format!(
                    "into names {} material(s); a {} reaction has {products} product(s): {}",
                    into.len(),
                    if b.is_some() { "pair" } else { "single-cell" },
                    if b.is_some() {
                        "what a and b become"
                    } else {
                        "what a becomes"
                    }
                ),
            });
        }
        let mut ids = [a; 2];
        for (k, name) in into.iter().enumerate() {
            ids[k] = id(name)?;
        }
        if products == 1 {
            ids[1] = ids[0];
        }
        let mut at_least = [None; 2];
        if let Some(t) = &self.min_product_temperature {
            if t.get_ref().len() != products {
                return Err(DataError {
                    span: t.span(),
                    message: format!(
                        "min_product_temperature needs {products} value(s), one per product"
                    ),
                });
            }
            for (slot, &v) in at_least.iter_mut().zip(t.get_ref()) {
                *slot = (v != 0.0).then_some(v as f32);
            }
        }
        let flag = |v: &Option<Spanned<bool>>| v.as_ref().is_some_and(|v| *v.get_ref());
        let blast = match (&self.blast_pressure, &self.blast_radius, &self.blast_heat) {
            (None, None, None) => None,
            (None, Some(v), _) | (None, _, Some(v)) => {
                return Err(DataError {
                    span: v.span(),
                    message: "a blast needs blast_pressure".into(),
                })
            }
            (Some(pressure), radius, heat) => Some(Blast {
                pressure: f32_of(pressure),
                radius: radius.as_ref().map_or(3.0, f32_of),
                heat: heat.as_ref().map_or(0.0, f32_of),
            }),
        };
        Ok(Reaction {
            a,
            b,
            into: ids,
            rate: f32_of(&self.rate),
            min_temperature: self.min_temperature.as_ref().map(f32_of),
            max_temperature: self.max_temperature.as_ref().map(f32_of),
            heat: self.heat.as_ref().map_or(0.0, f32_of),
            products_at_least: at_least,
            phase_change: flag(&self.phase_change),
            creates_matter: flag(&self.creates_matter),
            blast,
        })
    }

    /// The span of the value under key `field`, if present.
    fn span_of(&self, field: Option<&str>) -> Option<Range<usize>> {
        let opt = |v: &Option<Spanned<f64>>| v.as_ref().map(Spanned::span);
        match field? {
            "a" => Some(self.a.span()),
            "b" => self.b.as_ref().map(Spanned::span),
            "into" => Some(self.into.span()),
            "rate" => Some(self.rate.span()),
            "min_temperature" => opt(&self.min_temperature),
            "max_temperature" => opt(&self.max_temperature),
            "heat" => opt(&self.heat),
            "min_product_temperature" => self.min_product_temperature.as_ref().map(Spanned::span),
            "blast_pressure" => opt(&self.blast_pressure),
            "blast_radius" => opt(&self.blast_radius),
            "blast_heat" => opt(&self.blast_heat),
            _ => None,
        }
    }
}

impl SubstanceDef {
    /// The substance it defines, its phases' materials and transitions'
    /// phases resolved by name in `builder`.
    fn substance(&self, builder: &MaterialsBuilder) -> Result<Substance, DataError> {
        let mut phases = Vec::new();
        for ph in self.phases.get_ref() {
            let material = builder.id(ph.material.get_ref()).ok_or_else(|| DataError {
                span: ph.material.span(),
                message: format!("unknown material `{}`", ph.material.get_ref()),
            })?;
            phases.push(Phase {
                material,
                state: *ph.state.get_ref(),
                density: *ph.density.get_ref(),
                cp: *ph.cp.get_ref(),
                a: 0.0,
                b: 0.0,
            });
        }
        let names: Vec<&str> = self
            .phases
            .get_ref()
            .iter()
            .map(|p| p.material.get_ref().as_str())
            .collect();
        let phase = |name: &Spanned<String>| {
            names
                .iter()
                .position(|n| *n == name.get_ref())
                .ok_or_else(|| DataError {
                    span: name.span(),
                    message: format!(
                        "`{}` is not a phase of `{}` (its phases: {})",
                        name.get_ref(),
                        self.name.get_ref(),
                        names.join(", ")
                    ),
                })
        };
        let mut transitions = Vec::new();
        for t in self.transitions.get_ref() {
            transitions.push(Transition {
                from: phase(&t.from)?,
                to: phase(&t.to)?,
                temperature: *t.temperature.get_ref(),
                latent_heat: *t.latent_heat.get_ref(),
            });
        }
        let mut substance = Substance::new(
            self.name.get_ref().clone(),
            *self.molar_mass.get_ref(),
            *self.reference_density.get_ref(),
            *self.interface_energy.get_ref(),
            phases,
            transitions,
        )
        .map_err(|message| DataError {
            span: self.transitions.span(),
            message,
        })?;
        let point = |p: &Option<Spanned<[f64; 2]>>| {
            p.as_ref().map(|p| DiagramPoint {
                temperature: p.get_ref()[0],
                pressure: p.get_ref()[1],
            })
        };
        substance.triple = point(&self.triple);
        substance.critical = point(&self.critical);
        Ok(substance)
    }

    /// The span of the value under key `field` (the name, when absent).
    fn span_of(&self, field: Option<&str>) -> Range<usize> {
        let point = self.triple.as_ref().or(self.critical.as_ref());
        match field {
            Some("molar_mass") => self.molar_mass.span(),
            Some("reference_density") => self.reference_density.span(),
            Some("interface_energy") => self.interface_energy.span(),
            Some("phases") => self.phases.span(),
            Some("transitions") => self.transitions.span(),
            Some("triple") => point.map_or_else(|| self.name.span(), Spanned::span),
            Some("override") => self
                .replaces
                .as_ref()
                .map_or_else(|| self.name.span(), Spanned::span),
            _ => self.name.span(),
        }
    }
}
