//! The rules a scenario's values keep, written once. A file's parser
//! (`raw`) reports a broken rule at the value's line and column;
//! [`Scenario::validate`](super::Scenario::validate) reports it for a
//! scenario built in code. Each rule returns the message, without position.

use super::limits;

/// A check of one value: `Ok` or what is wrong with it.
pub(super) type Rule = Result<(), String>;

fn holds(ok: bool, message: impl FnOnce() -> String) -> Rule {
    if ok {
        Ok(())
    } else {
        Err(message())
    }
}

/// `[world] pressure`, Pa.
pub(super) fn ambient_pressure(p: f64) -> Rule {
    holds(p.is_finite() && (1.0..=1.0e9).contains(&p), || {
        "pressure must be in [1, 1e9] Pa".into()
    })
}

/// `[world] voxel_size`, m.
pub(super) fn voxel_size(v: f64) -> Rule {
    holds(v.is_finite() && (1e-3..=100.0).contains(&v), || {
        "voxel_size must be in [0.001, 100] m".into()
    })
}

/// `[systems] phase_stagger`.
pub(super) fn phase_stagger(n: u32) -> Rule {
    holds(n >= 1, || "phase_stagger must be at least 1".into())
}

/// `[run] dt`, s.
pub(super) fn dt(v: f64) -> Rule {
    holds(v.is_finite() && v > 0.0 && v <= 1.0, || {
        "dt must be a number of seconds in (0, 1]".into()
    })
}

/// `[run] substeps`.
pub(super) fn substeps(n: u32) -> Rule {
    holds((1..=64).contains(&n), || {
        "substeps must be between 1 and 64".into()
    })
}

/// `[run] threads`.
pub(super) fn threads(n: usize) -> Rule {
    holds(n <= 1024, || {
        "threads must be between 0 (all cores) and 1024".into()
    })
}

/// A temperature, K.
pub(super) fn temperature(t: f64) -> Rule {
    holds((0.0..=limits::MAX_TEMPERATURE).contains(&t), || {
        format!(
            "temperature must be a number of kelvin in [0, {}]",
            limits::MAX_TEMPERATURE
        )
    })
}

/// `frames = [start, end]`.
pub(super) fn frames(f: [u64; 2]) -> Rule {
    holds(f[0] <= f[1], || {
        "frames [start, end] needs start <= end".into()
    })
}

/// An explosion's peak overpressure, Pa.
pub(super) fn blast_strength(s: f64) -> Rule {
    holds(s.is_finite() && s > 0.0 && s <= 1.0e9, || {
        "strength must be a peak overpressure in (0, 1e9] Pa".into()
    })
}

/// An explosion's heat, K.
pub(super) fn blast_heat(h: f64) -> Rule {
    holds(
        h.is_finite() && (0.0..=limits::MAX_TEMPERATURE).contains(&h),
        || {
            format!(
                "heat must be a temperature in [0, {}] K",
                limits::MAX_TEMPERATURE
            )
        },
    )
}

/// A wind's direction: any non-zero vector (it is normalised).
pub(super) fn wind_direction(d: [f64; 3]) -> Rule {
    let norm = d.iter().map(|v| v * v).sum::<f64>().sqrt();
    holds(norm.is_finite() && norm > 0.0, || {
        "direction must be a non-zero vector".into()
    })
}

/// A wind's speed, m/s.
pub(super) fn wind_speed(s: f64) -> Rule {
    holds(s.is_finite() && (0.0..=1000.0).contains(&s), || {
        "strength must be a wind speed in [0, 1000] m/s".into()
    })
}

/// A wind's gusts, a relative amplitude.
pub(super) fn gust(g: f64) -> Rule {
    holds(g.is_finite() && (0.0..=1.0).contains(&g), || {
        "gust must be a relative amplitude in [0, 1]".into()
    })
}

/// A pressure hold's overpressure, Pa, over `ambient`.
pub(super) fn overpressure(p: f64, ambient: f64) -> Rule {
    holds(p.is_finite() && p.abs() <= 1.0e9, || {
        "pressure must be an overpressure in [-1e9, 1e9] Pa".into()
    })?;
    holds(ambient + p >= 1.0, || {
        format!("ambient {ambient} Pa plus this overpressure leaves no pressure at all")
    })
}

/// `[run] frame_budget_ms`.
pub(super) fn frame_budget_ms(v: f64) -> Rule {
    holds(v.is_finite() && v > 0.0 && v <= 60_000.0, || {
        "frame_budget_ms must be in (0, 60000] ms".into()
    })
}

/// `[run] place_cells_per_frame`.
pub(super) fn place_cells_per_frame(n: u64) -> Rule {
    holds(n >= 1, || "place_cells_per_frame must be at least 1".into())
}

/// `[run] lod_near`, cells.
pub(super) fn lod_near(v: f64) -> Rule {
    holds(
        v.is_finite() && (1.0..=limits::MAX_RADIUS).contains(&v),
        || format!("lod_near must be in [1, {}] cells", limits::MAX_RADIUS),
    )
}

/// A frame budget's LOD: it needs observers to measure distance from, and
/// the CPU automaton to schedule.
pub(super) fn lod_fits(observed: bool, gpu_automaton: bool) -> Rule {
    holds(observed, || {
        "frame_budget_ms simulates pages far from every observer less often: it needs a \
         streamed world with observers ([world] file, and [[observer]] or \
         observers_from_code = true)"
            .into()
    })?;
    holds(!gpu_automaton, || {
        "frame_budget_ms schedules the CPU automaton: it cannot be used with gpu_automaton".into()
    })
}

/// An observer's radius, cells.
pub(super) fn observer_radius(r: f64) -> Rule {
    holds(r.is_finite() && r > 0.0 && r <= limits::MAX_RADIUS, || {
        format!("radius must be in (0, {}] cells", limits::MAX_RADIUS)
    })
}

/// `[world] lookahead`, s.
pub(super) fn lookahead(l: f64) -> Rule {
    holds(l.is_finite() && (0.0..=60.0).contains(&l), || {
        "lookahead must be in [0, 60] seconds".into()
    })
}

/// A count that must be at least 1 (`load_per_frame`, `save_every`,
/// `resident_pages`), named `key`.
pub(super) fn at_least_one(key: &str, n: u64) -> Rule {
    holds(n >= 1, || format!("{key} must be at least 1"))
}
