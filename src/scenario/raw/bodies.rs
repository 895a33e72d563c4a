//! `[[softbody]]` entries: a body, and the copies `repeat` asks for.

use super::*;

pub(super) fn check_soft_body(
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
pub(super) fn repeat_soft_body(
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
