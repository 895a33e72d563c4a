//! `[[check]]` entries: what a run must end with.

use super::*;

/// A check's box `from..to`: both given, inside the world, `to` above `from`.
pub(super) fn check_region(
    src: &Source<'_>,
    c: &Spanned<RawCheck>,
    world: &WorldSpec,
) -> Result<([u32; 3], [u32; 3]), ScenarioError> {
    let raw = c.get_ref();
    let from = required(src, &raw.from, c.span(), "from")?;
    let to = required(src, &raw.to, c.span(), "to")?;
    box_in_world(src, (from, "from"), (to, "to"), world)
}

pub(super) fn check_check(
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
