//! `[world]` (with its storage), `[run]` and `[[observer]]`.

use super::*;

pub(super) fn check_observer(
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
    let radius = src.checked(&raw.radius, rules::observer_radius)?;
    Ok(ObserverSpec { path, radius })
}

pub(super) fn check_storage(
    src: &Source<'_>,
    raw: &RawWorld,
) -> Result<Option<StorageSpec>, ScenarioError> {
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
            raw.accept_other_fills
                .as_ref()
                .map(|v| ("accept_other_fills", v.span())),
            raw.resume.as_ref().map(|v| ("resume", v.span())),
            raw.trusted.as_ref().map(|v| ("trusted", v.span())),
            raw.commit.as_ref().map(|v| ("commit", v.span())),
            raw.observers_from_code
                .as_ref()
                .map(|v| ("observers_from_code", v.span())),
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
        // An older commit is explored, never saved over.
        None if raw.commit.is_some() => SavePolicy::Never,
        None | Some(("on_exit", _)) => SavePolicy::OnExit,
        Some(("never", _)) => SavePolicy::Never,
        Some(("every_n_frames", span)) => {
            let n = raw
                .save_every
                .as_ref()
                .ok_or_else(|| src.error(span, "save = \"every_n_frames\" needs save_every = N"))?;
            SavePolicy::EveryNFrames(src.checked(n, |n| rules::at_least_one("save_every", n))?)
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
    if let Some(commit) = &raw.commit {
        if save != SavePolicy::Never {
            return Err(src.error(
                commit.span(),
                "commit opens a commit the file keeps to run from it, never to save over it: \
                 remove `save` or set save = \"never\"",
            ));
        }
        if let Some(resume) = raw.resume.as_ref().filter(|r| *r.get_ref()) {
            return Err(src.error(
                resume.span(),
                "resume goes on from the file's last save; commit starts at frame 0 from an \
                 older commit's pages: use one or the other",
            ));
        }
    }
    if let Some(r) = &raw.resident_pages {
        src.checked(r, |r| rules::at_least_one("resident_pages", r as u64))?;
    }
    let load_per_frame = match &raw.load_per_frame {
        Some(n) => src.checked(n, |n| rules::at_least_one("load_per_frame", n as u64))?,
        None => 256,
    };
    let lookahead = match &raw.lookahead {
        Some(l) => src.checked(l, rules::lookahead)?,
        None => 1.0,
    };
    Ok(Some(StorageSpec {
        file: path,
        resident_pages: raw.resident_pages.as_ref().map(|r| *r.get_ref()),
        io,
        save,
        load_per_frame,
        lookahead,
        accept_other_fills: raw
            .accept_other_fills
            .as_ref()
            .is_some_and(|a| *a.get_ref()),
        resume: raw.resume.as_ref().is_some_and(|r| *r.get_ref()),
        trusted: raw.trusted.as_ref().is_some_and(|t| *t.get_ref()),
        commit: raw.commit.as_ref().map(|c| *c.get_ref()),
        observers_from_code: raw
            .observers_from_code
            .as_ref()
            .is_some_and(|o| *o.get_ref()),
    }))
}

pub(super) fn check_world(
    src: &Source<'_>,
    w: &Spanned<RawWorld>,
) -> Result<WorldSpec, ScenarioError> {
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
        Some(p) => src.checked(p, rules::ambient_pressure)?,
        None => 101_325.0,
    };
    let voxel_size = match &raw.voxel_size {
        Some(v) => src.checked(v, rules::voxel_size)?,
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

pub(super) fn check_run(
    src: &Source<'_>,
    r: Option<&Spanned<RawRun>>,
) -> Result<RunSpec, ScenarioError> {
    let mut run = RunSpec::default();
    let Some(r) = r else { return Ok(run) };
    let r = r.get_ref();
    if let Some(f) = r.frames {
        run.frames = f;
    }
    if let Some(dt) = &r.dt {
        run.dt = src.checked(dt, rules::dt)?;
    }
    if let Some(s) = &r.substeps {
        run.substeps = src.checked(s, rules::substeps)?;
    }
    if let Some(t) = &r.threads {
        run.threads = src.checked(t, rules::threads)?;
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
    if let Some(b) = &r.frame_budget_ms {
        run.frame_budget_ms = Some(src.checked(b, rules::frame_budget_ms)?);
    }
    if let Some(n) = &r.place_cells_per_frame {
        run.place_cells_per_frame = Some(src.checked(n, rules::place_cells_per_frame)?);
    }
    if let Some(n) = &r.lod_near {
        run.lod_near = src.checked(n, rules::lod_near)?;
    }
    if let Some(mode) = &r.lod {
        run.lod = match mode.get_ref().as_str() {
            "fixed" => LodMode::Fixed,
            "adaptive" if run.frame_budget_ms.is_some() => LodMode::Adaptive,
            "adaptive" => {
                return Err(src.error(
                    mode.span(),
                    "lod = \"adaptive\" steers toward a frame budget: set frame_budget_ms",
                ))
            }
            other => {
                return Err(src.error(
                    mode.span(),
                    format!("unknown lod `{other}` (expected fixed or adaptive)"),
                ))
            }
        };
    }
    Ok(run)
}
