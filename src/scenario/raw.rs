//! The file format as written, with source spans, and its checking into a
//! [`Scenario`].

use std::ops::Range;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use loam_storage::WorldLayout;
use loam_systems::MaterialTable;

use super::Command;
use super::{
    limits, Backend, Check, Emitter, ExplosionSpec, Fill, HeatBathSpec, ObserverSpec, PressureSpec,
    RunSpec, SavePolicy, Scenario, ScenarioError, ScheduledCommand, Shape, StorageSpec,
    SystemsSpec, WindSpec, WorldSpec,
};
use loam_systems::xpbd::{SoftBox, Solver};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
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
        let before = &self.text[..span.start.min(self.text.len())];
        let line = self.line(span.clone());
        let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
        ScenarioError {
            path: self.path.to_path_buf(),
            line,
            column,
            message: message.into(),
        }
    }

    fn material(&self, name: &Spanned<String>) -> Result<u8, ScenarioError> {
        self.materials.id(name.get_ref()).ok_or_else(|| {
            let known: Vec<&str> = self.materials.iter().map(|(_, m)| m.name).collect();
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
        match t {
            None => Ok(None),
            Some(t) if (0.0..=limits::MAX_TEMPERATURE).contains(t.get_ref()) => {
                Ok(Some(*t.get_ref() as f32))
            }
            Some(t) => Err(self.error(
                t.span(),
                format!(
                    "temperature must be a number of kelvin in [0, {}]",
                    limits::MAX_TEMPERATURE
                ),
            )),
        }
    }
}

pub(super) fn parse(text: &str, path: &Path) -> Result<Scenario, ScenarioError> {
    let src = Source {
        text,
        path,
        materials: MaterialTable::default(),
    };
    let raw: RawScenario = toml::from_str(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        src.error(span, e.message().trim().to_string())
    })?;

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
        if (storage.resident_pages.unwrap_or(0) as u64) < pages && observers.is_empty() {
            return Err(src.error(
                r.span(),
                format!(
                    "resident_pages is fewer than the world's {pages} pages, and no \
                     [[observer]] says which pages to keep"
                ),
            ));
        }
    }
    let run = check_run(&src, raw.run.as_ref())?;
    let defaults = SystemsSpec::default();
    let systems = match raw.systems.as_ref() {
        None => defaults,
        Some(s) => SystemsSpec {
            ca: s.ca.unwrap_or(defaults.ca),
            reactions: s.reactions.unwrap_or(defaults.reactions),
            heat: s.heat.unwrap_or(defaults.heat),
            phase: s.phase.unwrap_or(defaults.phase),
            phase_stagger: match &s.phase_stagger {
                Some(n) if *n.get_ref() == 0 => {
                    return Err(src.error(n.span(), "phase_stagger must be at least 1"))
                }
                Some(n) => *n.get_ref(),
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

fn check_soft_body(
    src: &Source<'_>,
    b: &Spanned<RawSoftBody>,
    world: &WorldSpec,
) -> Result<SoftBox, ScenarioError> {
    let raw = b.get_ref();
    let names: Vec<&str> = loam_systems::xpbd::materials()
        .iter()
        .map(|m| m.name)
        .collect();
    let material = names
        .iter()
        .position(|&n| n == raw.material.get_ref())
        .ok_or_else(|| {
            src.error(
                raw.material.span(),
                format!(
                    "unknown soft material `{}` (known: {})",
                    raw.material.get_ref(),
                    names.join(", ")
                ),
            )
        })?;
    let voxel = match &raw.voxel {
        Some(v) if !(v.get_ref().is_finite() && *v.get_ref() > 0.0 && *v.get_ref() <= 64.0) => {
            return Err(src.error(v.span(), "voxel must be in (0, 64] cells"))
        }
        Some(v) => *v.get_ref(),
        None => 1.0,
    };
    let inside = |p: [f64; 3]| {
        (0..3).all(|a| p[a].is_finite() && p[a] >= 0.0 && p[a] <= f64::from(world.size[a]))
    };
    let (origin, extent, sphere) = match raw.shape.get_ref().as_str() {
        "box" => {
            let lo = required(src, &raw.min, b.span(), "min")?;
            let hi = required(src, &raw.max, b.span(), "max")?;
            let (min, max) = (*lo.get_ref(), *hi.get_ref());
            if !inside(min) {
                return Err(src.error(
                    lo.span(),
                    format!("min {min:?} lies outside the world {:?}", world.size),
                ));
            }
            if !inside(max) || (0..3).any(|a| max[a] - min[a] < voxel) {
                return Err(src.error(
                    hi.span(),
                    format!("max {max:?} must be inside the world and at least one voxel above min {min:?}"),
                ));
            }
            (min, [0, 1, 2].map(|a| max[a] - min[a]), false)
        }
        "sphere" => {
            let c = required(src, &raw.center, b.span(), "center")?;
            let r = required(src, &raw.radius, b.span(), "radius")?;
            let (center, radius) = (*c.get_ref(), *r.get_ref());
            if !(radius.is_finite() && radius >= voxel / 2.0 && radius <= 256.0) {
                return Err(src.error(
                    r.span(),
                    "radius must be at least half a voxel and at most 256 cells",
                ));
            }
            let min = center.map(|v| v - radius);
            if !inside(min) || !inside(center.map(|v| v + radius)) {
                return Err(src.error(c.span(), "the sphere must lie inside the world"));
            }
            (min, [2.0 * radius; 3], true)
        }
        other => {
            return Err(src.error(
                raw.shape.span(),
                format!("unknown soft-body shape `{other}` (expected box or sphere)"),
            ))
        }
    };
    let voxels = extent.map(|e| ((e / voxel).round() as u32).max(1));
    if voxels.iter().map(|&v| u64::from(v)).product::<u64>() > 1 << 20 {
        return Err(src.error(
            b.span(),
            "a soft body of more than 2^20 voxels is too large",
        ));
    }
    let solver = match &raw.solver {
        None => Solver::default(),
        Some(s) => Solver::parse(s.get_ref()).ok_or_else(|| {
            src.error(
                s.span(),
                format!(
                    "unknown solver `{}` (expected gram_schmidt, volume or distance)",
                    s.get_ref()
                ),
            )
        })?,
    };
    let velocity = match &raw.velocity {
        Some(v)
            if v.get_ref()
                .iter()
                .any(|c| !c.is_finite() || c.abs() > 1.0e4) =>
        {
            return Err(src.error(
                v.span(),
                "velocity must be finite, at most 10000 cells/s per axis",
            ))
        }
        Some(v) => *v.get_ref(),
        None => [0.0; 3],
    };
    if raw.name.get_ref().trim().is_empty() {
        return Err(src.error(raw.name.span(), "a soft body needs a name"));
    }
    Ok(SoftBox {
        name: raw.name.get_ref().clone(),
        origin: origin.map(|v| v as f32),
        voxels,
        voxel: voxel as f32,
        material: loam_systems::xpbd::materials()[material],
        velocity: velocity.map(|v| v as f32),
        sphere,
        solver,
        rooted: raw.rooted.unwrap_or(false),
    })
}

/// The copies `repeat = [nx, nz]` asks for, `spacing = [dx, dz]` cells
/// apart along x and z (a field of grass blades), each named
/// `name.i.k`; the body itself without `repeat`.
fn repeat_soft_body(
    src: &Source<'_>,
    b: &Spanned<RawSoftBody>,
    body: SoftBox,
    world: &WorldSpec,
) -> Result<Vec<SoftBox>, ScenarioError> {
    let raw = b.get_ref();
    let Some(repeat) = &raw.repeat else {
        return Ok(vec![body]);
    };
    let [nx, nz] = *repeat.get_ref();
    if nx == 0 || nz == 0 || u64::from(nx) * u64::from(nz) > 1 << 16 {
        return Err(src.error(
            repeat.span(),
            "repeat must be between [1, 1] and 65536 bodies",
        ));
    }
    let spacing = required(src, &raw.spacing, repeat.span(), "spacing")?;
    let [dx, dz] = *spacing.get_ref();
    let extent = body.voxels.map(|v| v as f32 * body.voxel);
    let fits = |a: usize, n: u32, d: f64| {
        d.is_finite()
            && d >= f64::from(extent[a])
            && f64::from(body.origin[a]) + d * f64::from(n - 1) + f64::from(extent[a])
                <= f64::from(world.size[a])
    };
    if !(fits(0, nx, dx) && fits(2, nz, dz)) {
        return Err(src.error(
            spacing.span(),
            "spacing must be at least a body's width and keep every copy inside the world",
        ));
    }
    Ok((0..nx)
        .flat_map(|i| (0..nz).map(move |k| (i, k)))
        .map(|(i, k)| {
            let mut copy = body.clone();
            copy.name = format!("{}.{i}.{k}", body.name);
            copy.origin[0] += (dx * f64::from(i)) as f32;
            copy.origin[2] += (dz * f64::from(k)) as f32;
            copy
        })
        .collect())
}

fn check_observer(
    src: &Source<'_>,
    o: &Spanned<RawObserver>,
    world: &WorldSpec,
) -> Result<ObserverSpec, ScenarioError> {
    let raw = o.get_ref();
    let path = raw.path.get_ref().clone();
    if path.is_empty() {
        return Err(src.error(
            raw.path.span(),
            "path needs at least one [x, y, z, frame] keyframe",
        ));
    }
    for (k, key) in path.iter().enumerate() {
        let inside = (0..3)
            .all(|a| key[a].is_finite() && key[a] >= 0.0 && key[a] < f64::from(world.size[a]));
        if !(inside && key[3].is_finite() && key[3] >= 0.0) {
            return Err(src.error(
                raw.path.span(),
                format!(
                    "keyframe {k} {key:?} must lie inside the world {:?} at a frame >= 0",
                    world.size
                ),
            ));
        }
        if k > 0 && path[k - 1][3] >= key[3] {
            return Err(src.error(
                raw.path.span(),
                format!("keyframe {k}'s frame must come after keyframe {}'s", k - 1),
            ));
        }
    }
    let radius = *raw.radius.get_ref();
    if !(radius.is_finite() && radius > 0.0 && radius <= limits::MAX_RADIUS) {
        return Err(src.error(
            raw.radius.span(),
            format!("radius must be in (0, {}] cells", limits::MAX_RADIUS),
        ));
    }
    Ok(ObserverSpec { path, radius })
}

fn check_storage(src: &Source<'_>, raw: &RawWorld) -> Result<Option<StorageSpec>, ScenarioError> {
    let Some(file) = &raw.file else {
        let stray = [
            raw.resident_pages
                .as_ref()
                .map(|v| ("resident_pages", v.span())),
            raw.io.as_ref().map(|v| ("io", v.span())),
            raw.save.as_ref().map(|v| ("save", v.span())),
            raw.save_every.as_ref().map(|v| ("save_every", v.span())),
            raw.load_per_frame
                .as_ref()
                .map(|v| ("load_per_frame", v.span())),
            raw.lookahead.as_ref().map(|v| ("lookahead", v.span())),
        ];
        if let Some((key, span)) = stray.into_iter().flatten().next() {
            return Err(src.error(
                span,
                format!("`{key}` needs a streamed world: set [world] file"),
            ));
        }
        return Ok(None);
    };
    if file.get_ref().trim().is_empty() {
        return Err(src.error(file.span(), "file must name a .loam file"));
    }
    let path = std::path::Path::new(file.get_ref());
    let path = match src.path.parent() {
        Some(dir) if path.is_relative() => dir.join(path),
        _ => path.to_path_buf(),
    };
    let io = match &raw.io {
        None => loam_storage::io::IoKind::Auto,
        Some(v) => loam_storage::io::IoKind::parse(v.get_ref()).ok_or_else(|| {
            src.error(
                v.span(),
                format!(
                    "unknown io `{}` (expected uring, uring-direct, pread, mmap or auto)",
                    v.get_ref()
                ),
            )
        })?,
    };
    let save = match raw.save.as_ref().map(|v| (v.get_ref().as_str(), v.span())) {
        None | Some(("on_exit", _)) => SavePolicy::OnExit,
        Some(("never", _)) => SavePolicy::Never,
        Some(("every_n_frames", span)) => {
            let n = raw
                .save_every
                .as_ref()
                .ok_or_else(|| src.error(span, "save = \"every_n_frames\" needs save_every = N"))?;
            if *n.get_ref() == 0 {
                return Err(src.error(n.span(), "save_every must be at least 1"));
            }
            SavePolicy::EveryNFrames(*n.get_ref())
        }
        Some((other, span)) => {
            return Err(src.error(
                span,
                format!("unknown save `{other}` (expected never, on_exit or every_n_frames)"),
            ))
        }
    };
    if let (Some(n), false) = (&raw.save_every, matches!(save, SavePolicy::EveryNFrames(_))) {
        return Err(src.error(
            n.span(),
            "save_every applies only with save = \"every_n_frames\"",
        ));
    }
    if let Some(r) = &raw.resident_pages {
        if *r.get_ref() == 0 {
            return Err(src.error(r.span(), "resident_pages must be at least 1"));
        }
    }
    let load_per_frame = match &raw.load_per_frame {
        Some(n) if *n.get_ref() == 0 => {
            return Err(src.error(n.span(), "load_per_frame must be at least 1"))
        }
        Some(n) => *n.get_ref(),
        None => 256,
    };
    let lookahead = match &raw.lookahead {
        Some(l) if !(l.get_ref().is_finite() && (0.0..=60.0).contains(l.get_ref())) => {
            return Err(src.error(l.span(), "lookahead must be in [0, 60] seconds"))
        }
        Some(l) => *l.get_ref(),
        None => 1.0,
    };
    Ok(Some(StorageSpec {
        file: path,
        resident_pages: raw.resident_pages.as_ref().map(|r| *r.get_ref()),
        io,
        save,
        load_per_frame,
        lookahead,
    }))
}

fn check_world(src: &Source<'_>, w: &Spanned<RawWorld>) -> Result<WorldSpec, ScenarioError> {
    let raw = w.get_ref();
    let size = *raw.size.get_ref();
    let (page, page_span) = raw
        .page
        .as_ref()
        .map_or((32, raw.size.span()), |p| (*p.get_ref(), p.span()));
    WorldLayout::new(size, page).map_err(|e| {
        let span = if matches!(e, loam_storage::LayoutError::PageSize(_)) {
            page_span
        } else {
            raw.size.span()
        };
        src.error(span, e.to_string())
    })?;
    let storage = check_storage(src, raw)?;
    let pressure = match &raw.pressure {
        Some(p) if !(p.get_ref().is_finite() && (1.0..=1.0e9).contains(p.get_ref())) => {
            return Err(src.error(p.span(), "pressure must be in [1, 1e9] Pa"))
        }
        Some(p) => *p.get_ref(),
        None => 101_325.0,
    };
    let voxel_size = match &raw.voxel_size {
        Some(v) if !(v.get_ref().is_finite() && (1e-3..=100.0).contains(v.get_ref())) => {
            return Err(src.error(v.span(), "voxel_size must be in [0.001, 100] m"))
        }
        Some(v) => *v.get_ref(),
        None => 0.25,
    };
    let spec = WorldSpec {
        size,
        page,
        seed: raw.seed.unwrap_or(0),
        storage,
        pressure,
        voxel_size,
    };
    let mut probe = Scenario::empty("", size);
    probe.world = spec.clone();
    let cells = probe.resident_cells();
    if cells > limits::MAX_RESIDENT_CELLS {
        let (span, why) = match &raw.resident_pages {
            Some(r) => (r.span(), "resident_pages asks for"),
            None => (
                raw.size.span(),
                "every page is held in memory, so this world needs",
            ),
        };
        return Err(src.error(
            span,
            format!(
                "{why} {cells} resident cells; at most 2^31 fit (6 bytes a cell): \
                 stream the world from a [world] file with a smaller resident_pages"
            ),
        ));
    }
    Ok(spec)
}

fn check_run(src: &Source<'_>, r: Option<&Spanned<RawRun>>) -> Result<RunSpec, ScenarioError> {
    let mut run = RunSpec::default();
    let Some(r) = r else { return Ok(run) };
    let r = r.get_ref();
    if let Some(f) = r.frames {
        run.frames = f;
    }
    if let Some(dt) = &r.dt {
        let v = *dt.get_ref();
        if !(v.is_finite() && v > 0.0 && v <= 1.0) {
            return Err(src.error(dt.span(), "dt must be a number of seconds in (0, 1]"));
        }
        run.dt = v;
    }
    if let Some(s) = &r.substeps {
        if !(1..=64).contains(s.get_ref()) {
            return Err(src.error(s.span(), "substeps must be between 1 and 64"));
        }
        run.substeps = *s.get_ref();
    }
    if let Some(t) = &r.threads {
        if *t.get_ref() > 1024 {
            return Err(src.error(t.span(), "threads must be between 0 (all cores) and 1024"));
        }
        run.threads = *t.get_ref();
    }
    if let Some(b) = &r.backend {
        run.backend = Backend::parse(b.get_ref()).ok_or_else(|| {
            src.error(
                b.span(),
                format!(
                    "unknown backend `{}` (expected cpu, gpu or auto)",
                    b.get_ref()
                ),
            )
        })?;
    }
    if let Some(g) = r.gpu_automaton {
        run.gpu_automaton = g;
    }
    Ok(run)
}

/// Keys every fill (and `place` command) has.
const FILL_KEYS: &[&str] = &["shape", "material", "temperature"];
/// Keys each shape adds.
const SHAPE_KEYS: &[(&str, &[&str])] = &[
    ("box", &["min", "max"]),
    ("sphere", &["center", "radius"]),
    (
        "noise_terrain",
        &["height", "scale", "surface", "surface_depth"],
    ),
];
/// Keys of an emitter (and `emitter` command).
const EMITTER_KEYS: &[&str] = &["material", "center", "radius", "frames", "temperature"];
/// Keys every command adds.
const COMMAND_KEYS: &[&str] = &["frame", "kind"];

/// Rejects keys that parse but do not belong in this kind of entry.
fn only_keys(
    src: &Source<'_>,
    entry: &Spanned<RawEntry>,
    section: &str,
    allowed: &[&[&str]],
) -> Result<(), ScenarioError> {
    let allowed: Vec<&str> = allowed.concat();
    let e = entry.get_ref();
    let present: [(&str, Option<Range<usize>>); 19] = [
        ("strength", e.strength.as_ref().map(Spanned::span)),
        ("heat", e.heat.as_ref().map(Spanned::span)),
        ("direction", e.direction.as_ref().map(Spanned::span)),
        ("gust", e.gust.as_ref().map(Spanned::span)),
        ("pressure", e.pressure.as_ref().map(Spanned::span)),
        ("frame", e.frame.as_ref().map(Spanned::span)),
        ("kind", e.kind.as_ref().map(Spanned::span)),
        ("shape", e.shape.as_ref().map(Spanned::span)),
        ("min", e.min.as_ref().map(Spanned::span)),
        ("max", e.max.as_ref().map(Spanned::span)),
        ("center", e.center.as_ref().map(Spanned::span)),
        ("radius", e.radius.as_ref().map(Spanned::span)),
        ("height", e.height.as_ref().map(Spanned::span)),
        ("scale", e.scale.as_ref().map(Spanned::span)),
        ("surface", e.surface.as_ref().map(Spanned::span)),
        ("surface_depth", e.surface_depth.as_ref().map(Spanned::span)),
        ("material", e.material.as_ref().map(Spanned::span)),
        ("temperature", e.temperature.as_ref().map(Spanned::span)),
        ("frames", e.frames.as_ref().map(Spanned::span)),
    ];
    for (key, span) in present {
        if let Some(span) = span {
            if !allowed.contains(&key) {
                return Err(src.error(
                    span,
                    format!(
                        "key `{key}` does not belong in {section} (allowed: {})",
                        allowed.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn required<'a, T>(
    src: &Source<'_>,
    value: &'a Option<Spanned<T>>,
    entry: Range<usize>,
    what: &str,
) -> Result<&'a Spanned<T>, ScenarioError> {
    value
        .as_ref()
        .ok_or_else(|| src.error(entry, format!("missing key `{what}`")))
}

/// Checks a fill (or a `place` command, whose own keys are `extra`) in
/// `section`: its shape first, then that only that shape's keys are present.
fn check_fill(
    src: &Source<'_>,
    entry: &Spanned<RawEntry>,
    world: &WorldSpec,
    section: &str,
    extra: &[&str],
) -> Result<Fill, ScenarioError> {
    let e = entry.get_ref();
    let kind = required(src, &e.shape, entry.span(), "shape")?;
    let shape_keys = SHAPE_KEYS
        .iter()
        .find(|(name, _)| *name == kind.get_ref())
        .map(|(_, keys)| *keys)
        .ok_or_else(|| {
            src.error(
                kind.span(),
                format!(
                    "unknown shape `{}` (expected box, sphere or noise_terrain)",
                    kind.get_ref()
                ),
            )
        })?;
    let section = format!("{section} of shape `{}`", kind.get_ref());
    only_keys(src, entry, &section, &[extra, FILL_KEYS, shape_keys])?;
    let material = src.material(required(src, &e.material, entry.span(), "material")?)?;
    let shape = check_shape(src, entry, world)?;
    Ok(Fill {
        shape,
        material,
        temperature: src.temperature(&e.temperature)?,
    })
}

fn check_shape(
    src: &Source<'_>,
    entry: &Spanned<RawEntry>,
    world: &WorldSpec,
) -> Result<Shape, ScenarioError> {
    let e = entry.get_ref();
    let kind = required(src, &e.shape, entry.span(), "shape")?;
    let size = world.size;
    match kind.get_ref().as_str() {
        "box" => {
            let min = required(src, &e.min, entry.span(), "min")?;
            let max = required(src, &e.max, entry.span(), "max")?;
            let (lo, hi) = (*min.get_ref(), *max.get_ref());
            for a in 0..3 {
                if lo[a] < 0 || lo[a] >= i64::from(size[a]) {
                    return Err(src.error(
                        min.span(),
                        format!("box min {lo:?} lies outside the world {size:?}"),
                    ));
                }
                if hi[a] <= lo[a] || hi[a] > i64::from(size[a]) {
                    return Err(src.error(
                        max.span(),
                        format!("box max {hi:?} must be above min {lo:?} and at most the world size {size:?}"),
                    ));
                }
            }
            Ok(Shape::Box { min: lo, max: hi })
        }
        "sphere" => {
            let (center, radius) = check_sphere(src, entry, world)?;
            Ok(Shape::Sphere { center, radius })
        }
        "noise_terrain" => {
            let height = required(src, &e.height, entry.span(), "height")?;
            let [lo, hi] = *height.get_ref();
            if lo < 0 || hi < lo || hi > i64::from(size[1]) {
                return Err(src.error(
                    height.span(),
                    format!(
                        "height [{lo}, {hi}] must satisfy 0 <= low <= high <= world height {}",
                        size[1]
                    ),
                ));
            }
            let scale = match &e.scale {
                Some(s) if s.get_ref().is_finite() && *s.get_ref() >= 1.0 => *s.get_ref(),
                Some(s) => return Err(src.error(s.span(), "scale must be a number of cells >= 1")),
                None => 64.0,
            };
            let surface = match (&e.surface, &e.surface_depth) {
                (Some(m), depth) => {
                    Some((src.material(m)?, depth.as_ref().map_or(3, |d| *d.get_ref())))
                }
                (None, Some(d)) => {
                    return Err(src.error(d.span(), "`surface_depth` needs a `surface` material"))
                }
                (None, None) => None,
            };
            Ok(Shape::NoiseTerrain {
                height: [lo, hi],
                scale,
                surface,
            })
        }
        other => Err(src.error(
            kind.span(),
            format!("unknown shape `{other}` (expected box, sphere or noise_terrain)"),
        )),
    }
}

fn check_sphere(
    src: &Source<'_>,
    entry: &Spanned<RawEntry>,
    world: &WorldSpec,
) -> Result<([f64; 3], f64), ScenarioError> {
    let e = entry.get_ref();
    let center = required(src, &e.center, entry.span(), "center")?;
    let radius = required(src, &e.radius, entry.span(), "radius")?;
    let c = *center.get_ref();
    if (0..3).any(|a| !(c[a].is_finite() && c[a] >= 0.0 && c[a] < f64::from(world.size[a]))) {
        return Err(src.error(
            center.span(),
            format!("center {c:?} lies outside the world {:?}", world.size),
        ));
    }
    let r = *radius.get_ref();
    if !(r.is_finite() && r > 0.0 && r <= 4096.0) {
        return Err(src.error(
            radius.span(),
            "radius must be a number of cells in (0, 4096]",
        ));
    }
    Ok((c, r))
}

fn check_emitter(
    src: &Source<'_>,
    entry: &Spanned<RawEntry>,
    world: &WorldSpec,
) -> Result<Emitter, ScenarioError> {
    let e = entry.get_ref();
    let material = src.material(required(src, &e.material, entry.span(), "material")?)?;
    let (center, radius) = check_sphere(src, entry, world)?;
    let frames = check_frames(src, e)?;
    Ok(Emitter {
        material,
        center,
        radius,
        frames,
        temperature: src.temperature(&e.temperature)?,
    })
}

fn check_command(
    src: &Source<'_>,
    entry: &Spanned<RawEntry>,
    world: &WorldSpec,
) -> Result<ScheduledCommand, ScenarioError> {
    let e = entry.get_ref();
    let kind = required(src, &e.kind, entry.span(), "kind")?;
    match kind.get_ref().as_str() {
        "heat" => return check_heat(src, entry, world),
        "wind" => return check_wind(src, entry, world),
        "pressure" => return check_pressure(src, entry, world),
        _ => {}
    }
    let frame = *required(src, &e.frame, entry.span(), "frame")?.get_ref();
    let command = match kind.get_ref().as_str() {
        "place" => Command::Place(check_fill(
            src,
            entry,
            world,
            "a `place` [[command]]",
            COMMAND_KEYS,
        )?),
        "emitter" => {
            only_keys(
                src,
                entry,
                "an `emitter` [[command]]",
                &[COMMAND_KEYS, EMITTER_KEYS],
            )?;
            Command::SpawnEmitter(check_emitter(src, entry, world)?)
        }
        "explode" => {
            only_keys(
                src,
                entry,
                "an `explode` [[command]]",
                &[COMMAND_KEYS, &["center", "radius", "strength", "heat"]],
            )?;
            let (center, radius) = check_sphere(src, entry, world)?;
            let strength = required(src, &e.strength, entry.span(), "strength")?;
            if !(strength.get_ref().is_finite() && *strength.get_ref() > 0.0 && *strength.get_ref() <= 1.0e9) {
                return Err(src.error(strength.span(), "strength must be a peak overpressure in (0, 1e9] Pa"));
            }
            let heat = match &e.heat {
                Some(h) if !(h.get_ref().is_finite() && (0.0..=limits::MAX_TEMPERATURE).contains(h.get_ref())) => {
                    return Err(src.error(h.span(), "heat must be a temperature in [0, 100000] K"))
                }
                Some(h) => *h.get_ref(),
                None => 0.0,
            };
            Command::Explode(ExplosionSpec {
                center,
                radius,
                strength: *strength.get_ref(),
                heat,
            })
        }
        other => {
            return Err(src.error(
                kind.span(),
                format!("unknown command kind `{other}` (expected place, emitter, explode, wind, pressure or heat)"),
            ))
        }
    };
    Ok(ScheduledCommand { frame, command })
}

/// A box given by `min` and `max`, checked against the world.
fn check_box(
    src: &Source<'_>,
    entry: &Spanned<RawEntry>,
    world: &WorldSpec,
) -> Result<([u32; 3], [u32; 3]), ScenarioError> {
    let e = entry.get_ref();
    let lo = required(src, &e.min, entry.span(), "min")?;
    let hi = required(src, &e.max, entry.span(), "max")?;
    box_in_world(src, (lo, "min"), (hi, "max"), world)
}

/// The box `lo..hi`: `lo` inside the world, `hi` above it and at most the
/// world's size; errors name each corner by its key.
fn box_in_world(
    src: &Source<'_>,
    (lo, lo_key): (&Spanned<[i64; 3]>, &str),
    (hi, hi_key): (&Spanned<[i64; 3]>, &str),
    world: &WorldSpec,
) -> Result<([u32; 3], [u32; 3]), ScenarioError> {
    let size = world.size.map(i64::from);
    let (min, max) = (*lo.get_ref(), *hi.get_ref());
    if (0..3).any(|a| min[a] < 0 || min[a] >= size[a]) {
        return Err(src.error(
            lo.span(),
            format!("{lo_key} {min:?} lies outside the world {:?}", world.size),
        ));
    }
    if (0..3).any(|a| max[a] <= min[a] || max[a] > size[a]) {
        return Err(src.error(
            hi.span(),
            format!(
                "{hi_key} {max:?} must be above {lo_key} {min:?} and at most the world size {:?}",
                world.size
            ),
        ));
    }
    Ok((min.map(|v| v as u32), max.map(|v| v as u32)))
}

/// `frames = [start, end]`, all frames when absent.
fn check_frames(src: &Source<'_>, e: &RawEntry) -> Result<[u64; 2], ScenarioError> {
    match &e.frames {
        Some(f) if f.get_ref()[0] <= f.get_ref()[1] => Ok(*f.get_ref()),
        Some(f) => Err(src.error(f.span(), "frames [start, end] needs start <= end")),
        None => Ok([0, u64::MAX]),
    }
}

fn check_wind(
    src: &Source<'_>,
    entry: &Spanned<RawEntry>,
    world: &WorldSpec,
) -> Result<ScheduledCommand, ScenarioError> {
    only_keys(
        src,
        entry,
        "a `wind` [[command]]",
        &[&[
            "kind",
            "min",
            "max",
            "direction",
            "strength",
            "gust",
            "frames",
        ]],
    )?;
    let e = entry.get_ref();
    let (min, max) = check_box(src, entry, world)?;
    let dir = required(src, &e.direction, entry.span(), "direction")?;
    let d = *dir.get_ref();
    let norm = d.iter().map(|v| v * v).sum::<f64>().sqrt();
    if !(norm.is_finite() && norm > 0.0) {
        return Err(src.error(dir.span(), "direction must be a non-zero vector"));
    }
    let strength = required(src, &e.strength, entry.span(), "strength")?;
    if !(strength.get_ref().is_finite() && (0.0..=1000.0).contains(strength.get_ref())) {
        return Err(src.error(
            strength.span(),
            "strength must be a wind speed in [0, 1000] m/s",
        ));
    }
    let gust = match &e.gust {
        Some(g) if !(g.get_ref().is_finite() && (0.0..=1.0).contains(g.get_ref())) => {
            return Err(src.error(g.span(), "gust must be a relative amplitude in [0, 1]"))
        }
        Some(g) => *g.get_ref(),
        None => 0.0,
    };
    let frames = check_frames(src, e)?;
    Ok(ScheduledCommand {
        frame: frames[0],
        command: Command::Wind(WindSpec {
            min,
            max,
            direction: d.map(|v| v / norm),
            strength: *strength.get_ref(),
            gust,
            frames,
        }),
    })
}

fn check_pressure(
    src: &Source<'_>,
    entry: &Spanned<RawEntry>,
    world: &WorldSpec,
) -> Result<ScheduledCommand, ScenarioError> {
    only_keys(
        src,
        entry,
        "a `pressure` [[command]]",
        &[&["kind", "min", "max", "pressure", "frames"]],
    )?;
    let e = entry.get_ref();
    let (min, max) = check_box(src, entry, world)?;
    let p = required(src, &e.pressure, entry.span(), "pressure")?;
    if !(p.get_ref().is_finite() && p.get_ref().abs() <= 1.0e9) {
        return Err(src.error(
            p.span(),
            "pressure must be an overpressure in [-1e9, 1e9] Pa",
        ));
    }
    if world.pressure + p.get_ref() < 1.0 {
        return Err(src.error(
            p.span(),
            format!(
                "ambient {} Pa plus this overpressure leaves no pressure at all",
                world.pressure
            ),
        ));
    }
    let frames = check_frames(src, e)?;
    Ok(ScheduledCommand {
        frame: frames[0],
        command: Command::Pressure(PressureSpec {
            min,
            max,
            pressure: *p.get_ref(),
            frames,
        }),
    })
}

/// Keys of a `heat` command.
const HEAT_KEYS: &[&str] = &["kind", "min", "max", "temperature", "frames"];

fn check_heat(
    src: &Source<'_>,
    entry: &Spanned<RawEntry>,
    world: &WorldSpec,
) -> Result<ScheduledCommand, ScenarioError> {
    only_keys(src, entry, "a `heat` [[command]]", &[HEAT_KEYS])?;
    let e = entry.get_ref();
    let (min, max) = check_box(src, entry, world)?;
    let temperature = src
        .temperature(&e.temperature)?
        .ok_or_else(|| src.error(entry.span(), "a `heat` command needs `temperature`"))?;
    let frames = check_frames(src, e)?;
    Ok(ScheduledCommand {
        frame: frames[0],
        command: Command::Heat(HeatBathSpec {
            min,
            max,
            temperature,
            frames,
        }),
    })
}

/// A check's box `from..to`: both given, inside the world, `to` above `from`.
fn check_region(
    src: &Source<'_>,
    c: &Spanned<RawCheck>,
    world: &WorldSpec,
) -> Result<([u32; 3], [u32; 3]), ScenarioError> {
    let raw = c.get_ref();
    let from = required(src, &raw.from, c.span(), "from")?;
    let to = required(src, &raw.to, c.span(), "to")?;
    box_in_world(src, (from, "from"), (to, "to"), world)
}

fn check_check(
    src: &Source<'_>,
    c: &Spanned<RawCheck>,
    world: &WorldSpec,
) -> Result<Check, ScenarioError> {
    let raw = c.get_ref();
    let kind = &raw.kind;
    // Keys that belong to one kind only.
    let only = |allowed: &[&str]| -> Result<(), ScenarioError> {
        let present = [
            ("material", raw.material.as_ref().map(|m| m.span())),
            ("min", raw.min.map(|_| c.span())),
            ("max", raw.max.map(|_| c.span())),
            ("from", raw.from.as_ref().map(|v| v.span())),
            ("to", raw.to.as_ref().map(|v| v.span())),
            ("tolerance", raw.tolerance.as_ref().map(|v| v.span())),
        ];
        match present
            .into_iter()
            .find(|(key, span)| span.is_some() && !allowed.contains(key))
        {
            Some((key, span)) => Err(src.error(
                span.unwrap_or_else(|| c.span()),
                format!("check `{}` takes no `{key}`", kind.get_ref()),
            )),
            None => Ok(()),
        }
    };
    match kind.get_ref().as_str() {
        "count" => {
            only(&["material", "min", "max", "from", "to"])?;
            let material = src.material(required(src, &raw.material, c.span(), "material")?)?;
            if raw.min.is_none() && raw.max.is_none() {
                return Err(src.error(c.span(), "check `count` needs `min`, `max` or both"));
            }
            if let (Some(lo), Some(hi)) = (raw.min, raw.max) {
                if lo > hi {
                    return Err(
                        src.error(c.span(), format!("check `count` has min {lo} > max {hi}"))
                    );
                }
            }
            let region = match (&raw.from, &raw.to) {
                (None, None) => None,
                _ => Some(check_region(src, c, world)?),
            };
            Ok(Check::Count {
                material,
                min: raw.min,
                max: raw.max,
                region,
            })
        }
        "level" => {
            only(&["material", "from", "to", "tolerance"])?;
            let material = src.material(required(src, &raw.material, c.span(), "material")?)?;
            let (min, max) = check_region(src, c, world)?;
            Ok(Check::Level {
                material,
                min,
                max,
                tolerance: raw.tolerance.as_ref().map_or(1, |t| *t.get_ref()),
            })
        }
        "settled" => only(&[]).map(|_| Check::Settled),
        "at_rest" => only(&[]).map(|_| Check::AtRest),
        "finite" => only(&[]).map(|_| Check::Finite),
        other => Err(src.error(
            kind.span(),
            format!(
                "unknown check kind `{other}` (expected count, level, settled, at_rest or finite)"
            ),
        )),
    }
}
