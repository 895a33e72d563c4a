//! The file format as written, with source spans, and its checking into a
//! [`Scenario`].

use std::ops::Range;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use loam_storage::WorldLayout;
use loam_systems::materials::{MaterialDef, MaterialsData, ReactionDef, SubstanceDef};
use loam_systems::MaterialTable;

use super::{
    limits, Backend, Check, Emitter, ExplosionSpec, Fill, HeatBathSpec, LodMode, ObserverSpec,
    PressureSpec, RunSpec, SavePolicy, Scenario, ScenarioError, ScheduledCommand, Shape,
    StorageSpec, SystemsSpec, WindSpec, WorldSpec,
};
use super::{rules, Command};
use loam_systems::xpbd::{SoftBox, Solver};

mod bodies;
mod checks;
mod entries;
mod world;

use bodies::*;
use checks::*;
use entries::*;
use world::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    /// A file of `[[material]]`s and `[[reaction]]`s, relative to the scenario.
    materials: Option<Spanned<String>>,
    world: Spanned<RawWorld>,
    #[serde(default)]
    run: Option<Spanned<RawRun>>,
    #[serde(default)]
    systems: Option<RawSystems>,
    #[serde(default)]
    fill: Vec<Spanned<RawEntry>>,
    #[serde(default)]
    emitter: Vec<Spanned<RawEntry>>,
    #[serde(default)]
    command: Vec<Spanned<RawEntry>>,
    #[serde(default)]
    check: Vec<Spanned<RawCheck>>,
    #[serde(default)]
    observer: Vec<Spanned<RawObserver>>,
    #[serde(default)]
    softbody: Vec<Spanned<RawSoftBody>>,
    #[serde(default)]
    material: Vec<Spanned<MaterialDef>>,
    #[serde(default)]
    reaction: Vec<Spanned<ReactionDef>>,
    #[serde(default)]
    substance: Vec<Spanned<SubstanceDef>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSoftBody {
    name: Spanned<String>,
    shape: Spanned<String>,
    min: Option<Spanned<[f64; 3]>>,
    max: Option<Spanned<[f64; 3]>>,
    center: Option<Spanned<[f64; 3]>>,
    radius: Option<Spanned<f64>>,
    material: Spanned<String>,
    voxel: Option<Spanned<f64>>,
    velocity: Option<Spanned<[f64; 3]>>,
    solver: Option<Spanned<String>>,
    rooted: Option<bool>,
    repeat: Option<Spanned<[u32; 2]>>,
    spacing: Option<Spanned<[f64; 2]>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawObserver {
    path: Spanned<Vec<[f64; 4]>>,
    radius: Spanned<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorld {
    size: Spanned<[u32; 3]>,
    page: Option<Spanned<u32>>,
    seed: Option<u64>,
    file: Option<Spanned<String>>,
    resident_pages: Option<Spanned<usize>>,
    io: Option<Spanned<String>>,
    save: Option<Spanned<String>>,
    save_every: Option<Spanned<u64>>,
    load_per_frame: Option<Spanned<usize>>,
    lookahead: Option<Spanned<f64>>,
    accept_other_fills: Option<Spanned<bool>>,
    resume: Option<Spanned<bool>>,
    trusted: Option<Spanned<bool>>,
    commit: Option<Spanned<u64>>,
    observers_from_code: Option<Spanned<bool>>,
    pressure: Option<Spanned<f64>>,
    voxel_size: Option<Spanned<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRun {
    frames: Option<u64>,
    dt: Option<Spanned<f64>>,
    substeps: Option<Spanned<u32>>,
    threads: Option<Spanned<usize>>,
    backend: Option<Spanned<String>>,
    gpu_automaton: Option<bool>,
    frame_budget_ms: Option<Spanned<f64>>,
    lod_near: Option<Spanned<f64>>,
    lod: Option<Spanned<String>>,
    place_cells_per_frame: Option<Spanned<u64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSystems {
    ca: Option<bool>,
    reactions: Option<bool>,
    heat: Option<bool>,
    phase: Option<bool>,
    phase_stagger: Option<Spanned<u32>>,
}

/// The keys of `[[fill]]`, `[[emitter]]` and `[[command]]` together; which
/// apply where is checked after parsing, with a precise message.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    frame: Option<Spanned<u64>>,
    kind: Option<Spanned<String>>,
    shape: Option<Spanned<String>>,
    min: Option<Spanned<[i64; 3]>>,
    max: Option<Spanned<[i64; 3]>>,
    center: Option<Spanned<[f64; 3]>>,
    radius: Option<Spanned<f64>>,
    height: Option<Spanned<[i64; 2]>>,
    scale: Option<Spanned<f64>>,
    surface: Option<Spanned<String>>,
    surface_depth: Option<Spanned<u32>>,
    material: Option<Spanned<String>>,
    temperature: Option<Spanned<f64>>,
    frames: Option<Spanned<[u64; 2]>>,
    strength: Option<Spanned<f64>>,
    heat: Option<Spanned<f64>>,
    direction: Option<Spanned<[f64; 3]>>,
    gust: Option<Spanned<f64>>,
    pressure: Option<Spanned<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCheck {
    kind: Spanned<String>,
    material: Option<Spanned<String>>,
    min: Option<u64>,
    max: Option<u64>,
    from: Option<Spanned<[i64; 3]>>,
    to: Option<Spanned<[i64; 3]>>,
    tolerance: Option<Spanned<u32>>,
}

/// Turns spans into positioned errors.
struct Source<'a> {
    text: &'a str,
    path: &'a Path,
    materials: MaterialTable,
}

impl Source<'_> {
    /// The 1-based line where `span` starts.
    fn line(&self, span: Range<usize>) -> usize {
        self.text[..span.start.min(self.text.len())]
            .matches('\n')
            .count()
            + 1
    }

    fn error(&self, span: Range<usize>, message: impl Into<String>) -> ScenarioError {
        positioned(self.text, self.path, span, message.into())
    }

    /// `rule` of the value at `span`: a broken one is an error there.
    fn rule(&self, span: Range<usize>, rule: rules::Rule) -> Result<(), ScenarioError> {
        rule.map_err(|message| self.error(span, message))
    }

    /// The value `v`, which must keep `rule`.
    fn checked<T: Copy>(
        &self,
        v: &Spanned<T>,
        rule: impl FnOnce(T) -> rules::Rule,
    ) -> Result<T, ScenarioError> {
        self.rule(v.span(), rule(*v.get_ref()))?;
        Ok(*v.get_ref())
    }

    fn material(&self, name: &Spanned<String>) -> Result<u8, ScenarioError> {
        self.materials.id(name.get_ref()).ok_or_else(|| {
            let known: Vec<&str> = self
                .materials
                .iter()
                .map(|(_, m)| m.name.as_str())
                .collect();
            self.error(
                name.span(),
                format!(
                    "unknown material `{}` (known: {})",
                    name.get_ref(),
                    known.join(", ")
                ),
            )
        })
    }

    fn temperature(&self, t: &Option<Spanned<f64>>) -> Result<Option<f32>, ScenarioError> {
        t.as_ref()
            .map(|t| Ok(self.checked(t, rules::temperature)? as f32))
            .transpose()
    }
}

/// The error `message` at `span` of `text`, the file at `path`.
fn positioned(text: &str, path: &Path, span: Range<usize>, message: String) -> ScenarioError {
    let before = &text[..span.start.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    ScenarioError {
        path: path.to_path_buf(),
        line,
        column,
        message,
    }
}

/// The scenario's material table: the built-in one, with the materials
/// file's definitions and then the scenario's own added, each error placed
/// in the file that holds it.
fn check_materials(src: &Source<'_>, raw: &RawScenario) -> Result<MaterialTable, ScenarioError> {
    let inline = MaterialsData {
        material: raw.material.clone(),
        reaction: raw.reaction.clone(),
        substance: raw.substance.clone(),
    };
    let none = inline.material.is_empty() && inline.reaction.is_empty();
    if raw.materials.is_none() && none && inline.substance.is_empty() {
        return Ok(MaterialTable::default());
    }
    let mut builder = MaterialTable::builder();
    let first = MaterialTable::default().reactions().len();
    // The materials file, read and applied first: (its text, path, data).
    let mut file = None;
    if let Some(name) = &raw.materials {
        let path = src
            .path
            .parent()
            .unwrap_or(Path::new(""))
            .join(name.get_ref());
        let text = std::fs::read_to_string(&path).map_err(|e| {
            src.error(
                name.span(),
                format!("cannot read materials file {}: {e}", path.display()),
            )
        })?;
        let at =
            |e: loam_systems::materials::DataError| positioned(&text, &path, e.span, e.message);
        let data = MaterialsData::parse(&text).map_err(at)?;
        data.apply(&mut builder).map_err(at)?;
        file = Some((text, path, data));
    }
    let inline_first = first + file.as_ref().map_or(0, |(_, _, d)| d.reaction.len());
    inline
        .apply(&mut builder)
        .map_err(|e| src.error(e.span, e.message))?;
    builder.build().map_err(|e| {
        let message = e.to_string();
        if let Some(span) = inline.span_of(&e, inline_first) {
            return src.error(span, message);
        }
        match &file {
            Some((text, path, data)) => match data.span_of(&e, first) {
                Some(span) => positioned(text, path, span, message),
                None => positioned(text, path, 0..0, message),
            },
            None => src.error(0..0, message),
        }
    })
}

pub(super) fn parse(text: &str, path: &Path) -> Result<Scenario, ScenarioError> {
    let mut src = Source {
        text,
        path,
        materials: MaterialTable::default(),
    };
    let raw: RawScenario = toml::from_str(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        src.error(span, e.message().trim().to_string())
    })?;
    src.materials = check_materials(&src, &raw)?;

    let world = check_world(&src, &raw.world)?;
    let mut observers = Vec::new();
    for o in &raw.observer {
        observers.push(check_observer(&src, o, &world)?);
    }
    if !observers.is_empty() && world.storage.is_none() {
        return Err(src.error(
            raw.observer[0].span(),
            "observers need a streamed world: set [world] file",
        ));
    }
    if let (Some(storage), Some(r)) = (&world.storage, &raw.world.get_ref().resident_pages) {
        let pages: u64 = world
            .size
            .iter()
            .map(|&s| u64::from(s / world.page))
            .product();
        if (storage.resident_pages.unwrap_or(0) as u64) < pages
            && observers.is_empty()
            && !storage.observers_from_code
        {
            return Err(src.error(
                r.span(),
                format!(
                    "resident_pages is fewer than the world's {pages} pages, and no \
                     [[observer]] says which pages to keep (or set observers_from_code = true)"
                ),
            ));
        }
    }
    let run = check_run(&src, raw.run.as_ref())?;
    if let Some(budget) = raw
        .run
        .as_ref()
        .and_then(|r| r.get_ref().frame_budget_ms.as_ref())
    {
        let observed = world
            .storage
            .as_ref()
            .is_some_and(|s| s.observers_from_code || !observers.is_empty());
        src.rule(budget.span(), rules::lod_fits(observed, run.gpu_automaton))?;
    }
    let defaults = SystemsSpec::default();
    let systems = match raw.systems.as_ref() {
        None => defaults,
        Some(s) => SystemsSpec {
            ca: s.ca.unwrap_or(defaults.ca),
            reactions: s.reactions.unwrap_or(defaults.reactions),
            heat: s.heat.unwrap_or(defaults.heat),
            phase: s.phase.unwrap_or(defaults.phase),
            phase_stagger: match &s.phase_stagger {
                Some(n) => src.checked(n, rules::phase_stagger)?,
                None => defaults.phase_stagger,
            },
        },
    };

    let mut fills = Vec::new();
    for entry in &raw.fill {
        fills.push(check_fill(&src, entry, &world, "[[fill]]", &[])?);
    }
    let mut emitters = Vec::new();
    for entry in &raw.emitter {
        only_keys(&src, entry, "[[emitter]]", &[EMITTER_KEYS])?;
        emitters.push(check_emitter(&src, entry, &world)?);
    }
    let mut commands = Vec::new();
    for entry in &raw.command {
        commands.push(check_command(&src, entry, &world)?);
    }
    let mut soft_bodies: Vec<loam_systems::xpbd::SoftBox> = Vec::new();
    // Reports name bodies, so a name is used once (copies of a `repeat`
    // included).
    let mut names: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for b in &raw.softbody {
        let body = check_soft_body(&src, b, &world)?;
        let copies = repeat_soft_body(&src, b, body, &world)?;
        for copy in &copies {
            let line = src.line(b.get_ref().name.span());
            if let Some(first) = names.insert(copy.name.clone(), line) {
                return Err(src.error(
                    b.get_ref().name.span(),
                    format!(
                        "soft body name `{}` is already used on line {first}: names must be unique",
                        copy.name
                    ),
                ));
            }
        }
        soft_bodies.extend(copies);
        if soft_bodies.len() > 1 << 16 {
            return Err(src.error(b.span(), "more than 65536 soft bodies"));
        }
    }
    let mut checks = Vec::new();
    for c in &raw.check {
        checks.push(check_check(&src, c, &world)?);
    }
    let name = path.file_stem().map_or_else(
        || "scenario".to_string(),
        |s| s.to_string_lossy().into_owned(),
    );
    Ok(Scenario {
        name,
        materials: std::sync::Arc::new(src.materials),
        world,
        run,
        systems,
        fills,
        emitters,
        commands,
        checks,
        observers,
        soft_bodies,
    })
}
