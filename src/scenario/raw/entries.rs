//! Fills, shapes, emitters and commands: the entries that put things into
//! the world, and the keys each kind may have.

use super::*;

/// Keys every fill (and `place` command) has.
pub(super) const FILL_KEYS: &[&str] = &["shape", "material", "temperature"];
/// Keys each shape adds.
pub(super) const SHAPE_KEYS: &[(&str, &[&str])] = &[
    ("box", &["min", "max"]),
    ("sphere", &["center", "radius"]),
    (
        "noise_terrain",
        &["height", "scale", "surface", "surface_depth"],
    ),
];
/// Keys of an emitter (and `emitter` command).
pub(super) const EMITTER_KEYS: &[&str] = &["material", "center", "radius", "frames", "temperature"];
/// Keys every command adds.
pub(super) const COMMAND_KEYS: &[&str] = &["frame", "kind"];

/// Rejects keys that parse but do not belong in this kind of entry.
pub(super) fn only_keys(
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

pub(super) fn required<'a, T>(
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
pub(super) fn check_fill(
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

pub(super) fn check_shape(
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

pub(super) fn check_sphere(
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

pub(super) fn check_emitter(
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

pub(super) fn check_command(
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
            let strength = src.checked(strength, rules::blast_strength)?;
            let heat = match &e.heat {
                Some(h) => src.checked(h, rules::blast_heat)?,
                None => 0.0,
            };
            Command::Explode(ExplosionSpec {
                center,
                radius,
                strength,
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
pub(super) fn check_box(
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
pub(super) fn box_in_world(
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
pub(super) fn check_frames(src: &Source<'_>, e: &RawEntry) -> Result<[u64; 2], ScenarioError> {
    match &e.frames {
        Some(f) => src.checked(f, rules::frames),
        None => Ok([0, u64::MAX]),
    }
}

pub(super) fn check_wind(
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
    let d = src.checked(dir, rules::wind_direction)?;
    let norm = d.iter().map(|v| v * v).sum::<f64>().sqrt();
    let strength = required(src, &e.strength, entry.span(), "strength")?;
    let strength = src.checked(strength, rules::wind_speed)?;
    let gust = match &e.gust {
        Some(g) => src.checked(g, rules::gust)?,
        None => 0.0,
    };
    let frames = check_frames(src, e)?;
    Ok(ScheduledCommand {
        frame: frames[0],
        command: Command::Wind(WindSpec {
            min,
            max,
            direction: d.map(|v| v / norm),
            strength,
            gust,
            frames,
        }),
    })
}

pub(super) fn check_pressure(
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
    let pressure = src.checked(p, |p| rules::overpressure(p, world.pressure))?;
    let frames = check_frames(src, e)?;
    Ok(ScheduledCommand {
        frame: frames[0],
        command: Command::Pressure(PressureSpec {
            min,
            max,
            pressure,
            frames,
        }),
    })
}

/// Keys of a `heat` command.
pub(super) const HEAT_KEYS: &[&str] = &["kind", "min", "max", "temperature", "frames"];

pub(super) fn check_heat(
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
