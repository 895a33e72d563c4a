//! The `loam` command-line tool: run, soak and benchmark scenarios.

use std::fs::File;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use loam::cli::kills::{kill_child, kill_trials, KillConfig};
use loam::cli::pictures::SnapshotWriter;
use loam::cli::replay::RecordingFile;
use loam::cli::scratch_file;
use loam::cli::soak::{soak, SoakConfig};
use loam::cli::stress::{stress, StressConfig};
use loam::loam_runtime::state::SavedState;
use loam::loam_storage::file::{Access, DamagedPages, FileError, WorldFile};
use loam::loam_storage::io::IoKind;
use loam::{Backend, LoamError, Overrides, Runtime, Scenario};

/// `println!` that ends the process quietly when stdout is a closed pipe
/// (`loam inspect f | head`), where `println!` would panic: a reader that has
/// seen enough is not an error.
macro_rules! say {
    ($($arg:tt)*) => {
        written(writeln!(std::io::stdout(), $($arg)*))
    };
}

/// `print!` with [`say!`]'s handling of a closed pipe.
macro_rules! say_raw {
    ($($arg:tt)*) => {
        written(write!(std::io::stdout(), $($arg)*))
    };
}

/// Ends the process on a failed write to stdout: quietly with success when the
/// reader closed the pipe, else with the error and exit code 2.
fn written(result: std::io::Result<()>) {
    match result {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => {
            eprintln!("error: writing to stdout: {e}");
            std::process::exit(2)
        }
    }
}

#[derive(Parser)]
#[command(
    name = "loam",
    version,
    about = "Run, soak and benchmark Loam voxel-world scenarios"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a scenario headlessly and report on it.
    Run {
        /// The scenario file (TOML).
        scenario: PathBuf,
        /// Frames to run (overrides [run] frames).
        #[arg(long)]
        frames: Option<u64>,
        /// Worker threads, 0 = all cores (overrides [run] threads).
        #[arg(long, value_parser = parse_threads)]
        threads: Option<usize>,
        /// World seed (overrides [world] seed).
        #[arg(long)]
        seed: Option<u64>,
        /// Compute backend: cpu, gpu or auto (overrides [run] backend).
        #[arg(long, value_parser = parse_backend)]
        backend: Option<Backend>,
        /// With the gpu backend, run the automaton on the GPU too: bit for
        /// bit the CPU's, and much slower (sets [run] gpu_automaton).
        #[arg(long)]
        gpu_automaton: bool,
        /// Simulate every page every frame, whatever [run] frame_budget_ms
        /// says: to compare a run with simulation LOD against one without.
        #[arg(long)]
        no_lod: bool,
        /// Page reads of a streamed world: uring, uring-direct, pread, mmap or auto (overrides [world] io).
        #[arg(long, value_parser = parse_io)]
        io: Option<IoKind>,
        /// Write the JSON report to this file.
        #[arg(long, value_name = "FILE.json")]
        report: Option<PathBuf>,
        /// Write PNG pictures (top-down, slice, frame-time chart) into this directory.
        #[arg(long, value_name = "DIR")]
        snapshot: Option<PathBuf>,
        /// Take world pictures every this many frames, at least 1 (default: about 8 per run).
        #[arg(long, value_name = "K", value_parser = clap::value_parser!(u64).range(1..))]
        snapshot_every: Option<u64>,
        /// Write the final material channel as raw bytes, x fastest, then y, then z.
        #[arg(long, value_name = "FILE")]
        dump_materials: Option<PathBuf>,
        /// Write the final world, every page, and the run's state to a new
        /// .loam world file, which `--resume-from` goes on from.
        #[arg(long, value_name = "FILE.loam")]
        save_world: Option<PathBuf>,
        /// Go on from a file `--save-world` wrote for this scenario: its
        /// frame, world and every system's state (a world held in memory).
        #[arg(long, value_name = "FILE.loam")]
        resume_from: Option<PathBuf>,
        /// Go on from the state the world file's last save recorded (a
        /// streamed world; sets [world] resume).
        #[arg(long)]
        resume: bool,
        /// Write every command with the frame it applied in, and the world
        /// hash, to FILE.json, for `loam replay`.
        #[arg(long, value_name = "FILE.json", conflicts_with_all = ["resume", "resume_from"])]
        record: Option<PathBuf>,
        /// Print only errors and failed checks.
        #[arg(long)]
        quiet: bool,
    },
    /// Run a scenario while threads send it random commands, with a tiny
    /// resident budget and frequent saves for a streamed world; check
    /// invariants and record the run for `loam replay`.
    Stress {
        /// The scenario file (TOML).
        scenario: PathBuf,
        /// Frames to run.
        #[arg(long, default_value_t = 300)]
        frames: u64,
        /// Stop after this long, e.g. 10m, even before --frames.
        #[arg(long, value_parser = humantime::parse_duration)]
        duration: Option<Duration>,
        /// Threads sending commands.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=64))]
        senders: u64,
        /// Up to this many commands per sender per frame.
        #[arg(long, default_value_t = 3)]
        per_frame: u32,
        /// Seeds the senders' choices (the world's seed is the scenario's).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// A streamed world holds at most this many pages.
        #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..))]
        resident_pages: u64,
        /// A streamed world saves every this many frames.
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
        save_every: u64,
        /// A streamed world's observers jump to a random place every this
        /// many frames (0: they follow their paths).
        #[arg(long, default_value_t = 30)]
        jump_every: u64,
        /// The chance, 0 to 1, that each read and write of a streamed
        /// world's file fails; each failure restarts the run from the file.
        #[arg(long, default_value_t = 0.0, value_parser = parse_fault_chance)]
        faults: f64,
        /// Run the stressed world in a child process and kill it after
        /// about this long, again and again (see --kills), saving every
        /// frame; each time its file must reopen at a commit.
        #[arg(long, value_parser = humantime::parse_duration)]
        kill_every: Option<Duration>,
        /// With --kill-every: how many kills (--duration may end it first).
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..))]
        kills: u64,
        /// The child process --kill-every runs (not for users).
        #[arg(long, hide = true, value_name = "FILE.loam")]
        kill_child: Option<PathBuf>,
        /// Where to write the recording (default: a file in the temporary
        /// directory, kept when the run fails).
        #[arg(long, value_name = "FILE.json")]
        record: Option<PathBuf>,
        /// Print the outcome as JSON.
        #[arg(long)]
        json: bool,
        /// Print only the verdict.
        #[arg(long)]
        quiet: bool,
    },
    /// Replay a recording (`loam run --record`, `loam stress`): the scenario
    /// as it was run, with every command at its frame; exit 1 unless the
    /// world hash is the recorded one.
    Replay {
        /// The recording (JSON).
        recording: PathBuf,
        /// Worker threads, 0 = all cores.
        #[arg(long, value_parser = parse_threads)]
        threads: Option<usize>,
        /// Print only the verdict.
        #[arg(long)]
        quiet: bool,
    },
    /// Run a scenario for a long time (one runtime, or a fresh one every N
    /// frames), checking invariants, its checks, memory, frame time and file.
    Soak {
        /// The scenario file (TOML).
        scenario: PathBuf,
        /// How long to keep going, e.g. 60s, 5m, 1h.
        #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
        duration: Duration,
        /// Stop after this many frames in all, even before the duration.
        #[arg(long)]
        frames: Option<u64>,
        /// Start a fresh runtime every N frames, with varied seeds and every
        /// third repeating the last (default: one runtime throughout).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        restart_every: Option<u64>,
        /// Worker threads, 0 = all cores.
        #[arg(long, value_parser = parse_threads)]
        threads: Option<usize>,
        /// Check invariants every this many frames.
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..))]
        check_every: u64,
        /// A streamed scenario's runs reopen its own world file one after
        /// another, each resuming from the last one's save, and check the
        /// file after each (runs of --restart-every frames, or the
        /// scenario's own count).
        #[arg(long)]
        own_file: bool,
        /// Print the outcome as JSON.
        #[arg(long)]
        json: bool,
        /// Print only the verdict.
        #[arg(long)]
        quiet: bool,
    },
    /// Run the benchmark workloads briefly and print a table.
    Bench {
        /// Groups to run (prefixes of: jobgraph, ca, fields, phase, storage, xpbd); all
        /// when none are given.
        names: Vec<String>,
        /// Print a JSON array of {name, value, unit} instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// List the materials and reactions scenario files can use: the
    /// built-in ones, or with SCENARIO, that scenario's (built-in and its own).
    Materials {
        /// A scenario file whose materials to list.
        scenario: Option<PathBuf>,
        /// Print the built-in materials data file (TOML) instead.
        #[arg(long, conflicts_with = "scenario")]
        data: bool,
    },
    /// Describe a .loam world file; with --verify, read and check every page.
    Inspect {
        /// The world file.
        file: PathBuf,
        /// Read every stored page and check its CRC; exit 1 naming each bad page.
        #[arg(long)]
        verify: bool,
        /// Describe an older commit the file keeps (see its "commits kept"
        /// line) instead of the last.
        #[arg(long, value_name = "K")]
        commit: Option<u64>,
    },
    /// Export one channel of a world as a Zarr v3 array (one chunk per page): a
    /// scenario (.toml; a streamed world's pages come from its file, or from
    /// its fills where the file has none), or a world file that holds every page.
    ExportZarr {
        /// The scenario (.toml) or world file (.loam).
        input: PathBuf,
        /// The Zarr array to create (a directory; must not exist).
        out: PathBuf,
        /// The channel: material, temperature or flags.
        #[arg(long, default_value = "material", value_parser = parse_channel)]
        channel: usize,
        /// zstd level (1 to 22) for pages not already stored as zstd.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(i32).range(1..=22))]
        level: i32,
    },
    /// Rewrite a .loam world file without the space superseded pages hold.
    Compact {
        /// The world file.
        file: PathBuf,
        /// Damaged pages: refuse to compact (exit 1, naming them), drop
        /// them, or keep them as they are.
        #[arg(long, default_value = "refuse", value_parser = parse_damaged)]
        damaged: DamagedPages,
    },
    /// Print a scenario's compiled job graph: each job and the jobs that wait for it.
    Graph {
        /// The scenario file (TOML).
        scenario: PathBuf,
    },
}

fn parse_threads(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n <= 1024 => Ok(n),
        _ => Err(format!(
            "`{s}` is not a thread count between 0 (all cores) and 1024"
        )),
    }
}

fn parse_fault_chance(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(format!("`{s}` is not a chance between 0 and 1")),
    }
}

fn parse_channel(s: &str) -> Result<usize, String> {
    loam::loam_storage::zarr::channel_index(s)
        .ok_or_else(|| format!("unknown channel `{s}` (expected material, temperature or flags)"))
}

fn parse_damaged(s: &str) -> Result<DamagedPages, String> {
    match s {
        "refuse" => Ok(DamagedPages::Refuse),
        "drop" => Ok(DamagedPages::Drop),
        "keep" => Ok(DamagedPages::Keep),
        _ => Err(format!(
            "unknown choice `{s}` (expected refuse, drop or keep)"
        )),
    }
}

fn parse_io(s: &str) -> Result<IoKind, String> {
    IoKind::parse(s).ok_or_else(|| {
        format!("unknown io `{s}` (expected uring, uring-direct, pread, mmap or auto)")
    })
}

fn parse_backend(s: &str) -> Result<Backend, String> {
    Backend::parse(s).ok_or_else(|| format!("unknown backend `{s}` (expected cpu, gpu or auto)"))
}

/// Exit codes: 0 ok, 1 a check or invariant failed, 2 bad input.
fn main() -> ExitCode {
    #[cfg(feature = "gpu")]
    headless_runtime_dir();
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::Run {
            scenario,
            frames,
            threads,
            seed,
            backend,
            gpu_automaton,
            no_lod,
            io,
            report,
            snapshot,
            snapshot_every,
            dump_materials,
            save_world,
            resume_from,
            resume,
            record,
            quiet,
        } => run(
            &scenario,
            &Overrides {
                frames,
                threads,
                seed,
                backend,
                gpu_automaton,
                no_lod,
                io,
                resume,
            },
            RunOutputs {
                report,
                snapshot,
                snapshot_every,
                dump_materials,
                save_world,
                resume_from,
                record,
                quiet,
            },
        ),
        Cmd::Stress {
            scenario,
            frames,
            duration,
            senders,
            per_frame,
            seed,
            resident_pages,
            save_every,
            jump_every,
            faults,
            kill_every,
            kills,
            kill_child,
            record,
            json,
            quiet,
        } => {
            let config = StressConfig {
                frames,
                duration,
                senders: senders as usize,
                per_frame,
                seed,
                resident_pages: usize::try_from(resident_pages).unwrap_or(usize::MAX),
                save_every,
                observer_jump_every: jump_every,
                faults,
                ..StressConfig::default()
            };
            match (kill_child, kill_every) {
                (Some(file), _) => kill_child_cmd(&scenario, &config, file),
                (None, Some(every)) => kill_cmd(&scenario, &config, every, kills, json, quiet),
                (None, None) => stress_cmd(&scenario, &config, record, json, quiet),
            }
        }
        Cmd::Replay {
            recording,
            threads,
            quiet,
        } => replay_cmd(&recording, threads, quiet),
        Cmd::Soak {
            scenario,
            duration,
            frames,
            restart_every,
            threads,
            check_every,
            own_file,
            json,
            quiet,
        } => soak_cmd(
            &scenario,
            SoakConfig {
                duration,
                frames,
                restart_every,
                check_every,
                own_file,
            },
            threads,
            json,
            quiet,
        ),
        Cmd::Bench { names, json } => bench(&names, json),
        Cmd::Graph { scenario } => graph(&scenario),
        Cmd::Inspect {
            file,
            verify,
            commit,
        } => inspect(&file, verify, commit),
        Cmd::ExportZarr {
            input,
            out,
            channel,
            level,
        } => export_zarr(&input, &out, channel, level),
        Cmd::Compact { file, damaged } => match WorldFile::compact_with(&file, damaged) {
            Ok((before, after)) => {
                say!("{}: {before} -> {after} bytes", file.display());
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                eprintln!("error: {e}");
                // Damaged pages are the file's trouble, not the command's.
                let damaged = matches!(e, FileError::Damaged { .. });
                Ok(ExitCode::from(if damaged { 1 } else { 2 }))
            }
        },
        Cmd::Materials { scenario, data } => materials(scenario.as_deref(), data),
    };
    result.unwrap_or_else(|e| e.report())
}

/// An error the CLI reports and turns into an exit code.
enum CliError {
    Loam(LoamError),
    Io { what: String, error: std::io::Error },
}

impl CliError {
    fn report(self) -> ExitCode {
        match self {
            CliError::Loam(e) => {
                eprintln!("error: {e}");
                ExitCode::from(e.exit_code() as u8)
            }
            CliError::Io { what, error } => {
                eprintln!("error: {what}: {error}");
                ExitCode::from(2)
            }
        }
    }
}

impl From<LoamError> for CliError {
    fn from(e: LoamError) -> Self {
        CliError::Loam(e)
    }
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> CliError {
    let what = what.into();
    move |error| CliError::Io { what, error }
}

struct RunOutputs {
    report: Option<PathBuf>,
    snapshot: Option<PathBuf>,
    snapshot_every: Option<u64>,
    dump_materials: Option<PathBuf>,
    save_world: Option<PathBuf>,
    resume_from: Option<PathBuf>,
    record: Option<PathBuf>,
    quiet: bool,
}

fn run(path: &Path, overrides: &Overrides, out: RunOutputs) -> Result<ExitCode, CliError> {
    let mut rt = Runtime::from_file(path, overrides)?;
    if overrides.resume && rt.stream().is_none() {
        return Err(CliError::Loam(LoamError::Unsupported(
            "--resume goes on from a streamed world's own file; a world held in memory goes \
             on from a file --save-world wrote, with --resume-from FILE.loam"
                .into(),
        )));
    }
    if let Some(file) = &out.resume_from {
        rt.load_state(file)?;
    }
    let recording = match &out.record {
        Some(file) => Some(start_recording(path, &mut rt, file)?),
        None => None,
    };
    let frames = rt.scenario().run.frames;
    // Open the output files now, so a bad path fails before the run, not after.
    let create = |file: &Option<PathBuf>| -> Result<Option<File>, CliError> {
        file.as_ref()
            .map(|f| File::create(f).map_err(io(format!("cannot create {}", f.display()))))
            .transpose()
    };
    if out.dump_materials.is_some() {
        rt.check_material_dump()?;
    }
    if out.save_world.is_some() && rt.stream().is_some() {
        return Err(CliError::Loam(LoamError::Unsupported(
            "--save-world needs a world held wholly in memory, not a streamed one (a \
             streamed world saves to its own file: see `[world] save`)"
                .into(),
        )));
    }
    // Create the world file now, so an existing file fails before the run.
    let mut save_world = match &out.save_world {
        Some(path) => {
            let layout = *rt.world().layout();
            Some(
                WorldFile::create_for(
                    path,
                    layout,
                    rt.scenario().world.seed,
                    rt.scenario().generator_fingerprint(),
                )
                .map_err(LoamError::from)?,
            )
        }
        None => None,
    };
    let (report_file, dump_file) = (create(&out.report)?, create(&out.dump_materials)?);
    if !out.quiet {
        for note in rt.notes() {
            eprintln!("{}", loam::report::note_line(note));
        }
    }
    let snapshots = match &out.snapshot {
        Some(dir) => {
            let every = out.snapshot_every.unwrap_or((frames / 8).max(1));
            Some(
                SnapshotWriter::new(dir, every)
                    .map_err(io(format!("cannot create {}", dir.display())))?,
            )
        }
        None => None,
    };
    let bar = progress_bar(frames, out.quiet);
    let shoot = |rt: &Runtime, s: &SnapshotWriter| -> Result<(), CliError> {
        s.world(&rt.world(), &rt.materials(), rt.frame())
            .map(|_| ())
            .map_err(io("cannot write a snapshot"))
    };
    if let Some(s) = &snapshots {
        shoot(&rt, s)?;
    }
    // A resumed run starts part way.
    let last = rt.frame() + frames;
    for _ in 0..frames {
        rt.step()?;
        bar.inc(1);
        if let Some(s) = &snapshots {
            if rt.frame() % s.every == 0 || rt.frame() == last {
                shoot(&rt, s)?;
            }
        }
    }
    bar.finish_and_clear();
    let file = rt
        .scenario()
        .world
        .storage
        .as_ref()
        .map_or(PathBuf::new(), |s| s.file.clone());
    // A failed save (a full disk) leaves the file at its last commit: the
    // run still reports what it did, and exits 1.
    let save_error = match rt.finish() {
        Ok(Some(saved)) if !out.quiet => {
            eprintln!(
                "saved {} pages ({} bytes) to {}",
                saved.pages,
                saved.bytes,
                file.display()
            );
            None
        }
        Ok(_) => None,
        Err(e) => {
            eprintln!(
                "error: the final save failed, so {} stays at its last commit: {e}",
                file.display()
            );
            Some(e.to_string())
        }
    };
    let mut report = rt.report();
    report.save_error = save_error;
    if let Some(s) = &snapshots {
        let chart = s
            .chart(&rt.engine().job_stats(), rt.engine().frame_samples())
            .map_err(io("cannot write the frame-time chart"))?;
        if !out.quiet {
            eprintln!(
                "snapshots in {} (chart: {})",
                out.snapshot.as_deref().unwrap_or(Path::new(".")).display(),
                chart.display()
            );
        }
    }
    if let Some(mut file) = report_file {
        let json = serde_json::to_string_pretty(&report).expect("reports serialise");
        writeln!(file, "{json}").map_err(io("cannot write the report"))?;
    }
    if let (Some((text, mut file)), Some(at)) = (recording, &out.record) {
        let recording = RecordingFile::of_run(path, text, &rt, None);
        recording
            .write_to(&mut file)
            .map_err(io(format!("cannot write the recording {}", at.display())))?;
    }
    if let Some(file) = save_world.as_mut() {
        rt.save_state_to(file)?;
    }
    if let Some(mut file) = dump_file {
        file.write_all(&rt.material_dump()?)
            .map_err(io("cannot write the material dump"))?;
    }
    if out.quiet {
        for c in report.checks.iter().filter(|c| !c.passed) {
            eprintln!("check {} FAILED: {}", c.kind, c.detail);
        }
    } else {
        say_raw!("{}", report.to_table());
    }
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Starts recording `rt`'s commands for `--record FILE`: creates the file
/// now (a bad path fails before the run) and keeps the scenario's text. A
/// streamed world must start from its fills, as a replay does.
fn start_recording(path: &Path, rt: &mut Runtime, file: &Path) -> Result<(String, File), CliError> {
    if let Some(stream) = rt.stream() {
        if !stream.streamer.file_is_new() {
            return Err(CliError::Loam(LoamError::Unsupported(format!(
                "--record: this run starts from the pages {} holds, and a replay starts from \
                 the scenario's fills; record a run on a new file (remove it, or point \
                 `[world] file` elsewhere)",
                rt.scenario()
                    .world
                    .storage
                    .as_ref()
                    .map_or(Path::new(""), |s| &s.file)
                    .display()
            ))));
        }
    }
    let text =
        std::fs::read_to_string(path).map_err(io(format!("cannot read {}", path.display())))?;
    let out = File::create(file).map_err(io(format!("cannot create {}", file.display())))?;
    rt.record_commands();
    Ok((text, out))
}

fn stress_cmd(
    path: &Path,
    config: &StressConfig,
    record: Option<PathBuf>,
    json: bool,
    quiet: bool,
) -> Result<ExitCode, CliError> {
    let text =
        std::fs::read_to_string(path).map_err(io(format!("cannot read {}", path.display())))?;
    let scenario = Scenario::parse(&text, path).map_err(LoamError::from)?;
    let record_path = record.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("loam-stress-{}.json", std::process::id()))
    });
    let record_file = File::create(&record_path)
        .map_err(io(format!("cannot create {}", record_path.display())))?;
    let world_file = scratch_file("stress");
    let bar = progress_bar(config.frames, quiet || json);
    let outcome = stress(&scenario, config, world_file.clone(), |_| bar.inc(1));
    bar.finish_and_clear();
    let _ = std::fs::remove_file(&world_file);
    let outcome = outcome?;
    let recording = RecordingFile::new(
        path,
        text,
        &outcome.scenario,
        outcome.frames,
        outcome.world_hash.clone(),
        outcome.recording.clone(),
        Some(config),
    )
    .with_lod_choices(outcome.lod_choices.clone());
    let mut record_file = record_file;
    recording.write_to(&mut record_file).map_err(io(format!(
        "cannot write the recording {}",
        record_path.display()
    )))?;
    // A run a fault restarted does not replay (where a fault lands depends
    // on the disk's timing): the same stress command, with its seed, is the
    // way back to it.
    let replay = if outcome.replayable() {
        format!("loam replay {}", record_path.display())
    } else {
        let args: Vec<String> = std::env::args().skip(1).collect();
        format!(
            "loam {} (faults restarted it: not replayable)",
            args.join(" ")
        )
    };
    if json {
        let mut value = serde_json::to_value(&outcome).expect("outcomes serialise");
        value["recording"] = serde_json::json!(record_path);
        value["replay"] = serde_json::json!(replay);
        say!(
            "{}",
            serde_json::to_string_pretty(&value).expect("JSON values serialise")
        );
    }
    match &outcome.violation {
        Some(v) => {
            eprintln!(
                "stress FAILED at {} frames: {v}\nreproduce it with: {replay}",
                outcome.frames
            );
            Ok(ExitCode::from(1))
        }
        None => {
            if !json {
                let file = outcome.file_bytes.map_or(String::new(), |[size, live]| {
                    format!(
                        ", world file {} KiB for {} KiB live",
                        size >> 10,
                        live >> 10
                    )
                });
                let faults = if config.faults > 0.0 {
                    format!(
                        ", {} faults injected, {} restarts, the world at frame {}",
                        outcome.faults_injected, outcome.restarts, outcome.frames
                    )
                } else {
                    String::new()
                };
                say!(
                    "stress ok: {} frames in {:.0} s, {} commands sent ({} for a later frame), {} \
                     cancels, world hash {}{file}{faults}",
                    outcome.steps,
                    outcome.seconds,
                    outcome.sent,
                    outcome.sent_ahead,
                    outcome.cancels,
                    outcome.world_hash
                );
                if !quiet {
                    say!("replay it with: {replay}");
                }
            }
            if record.is_none() {
                let _ = std::fs::remove_file(&record_path);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `loam stress --kill-every`: the kill trials.
fn kill_cmd(
    path: &Path,
    config: &StressConfig,
    every: Duration,
    kills: u64,
    json: bool,
    quiet: bool,
) -> Result<ExitCode, CliError> {
    // The child reads the scenario itself; refuse a bad one here, once.
    let scenario = Scenario::load(path).map_err(LoamError::from)?;
    if scenario.world.storage.is_none() {
        return Err(LoamError::Invalid(format!(
            "{}: --kill-every needs a streamed world (set [world] file): a world held in memory \
             has no file to kill a save of",
            path.display()
        ))
        .into());
    }
    let file = scratch_file("kills");
    let kill = KillConfig {
        every,
        kills,
        duration: config.duration,
    };
    let bar = progress_bar(kills, quiet || json);
    let outcome = kill_trials(path, config, &kill, &file, |_| bar.inc(1));
    bar.finish_and_clear();
    let _ = std::fs::remove_file(&file);
    let outcome = outcome?;
    if json {
        say!(
            "{}",
            serde_json::to_string_pretty(&outcome).expect("outcomes serialise")
        );
    }
    if let Some(v) = &outcome.violation {
        eprintln!(
            "kill trials FAILED after {} kills survived: {v}",
            outcome.kills_survived
        );
        return Ok(ExitCode::from(1));
    }
    if !json {
        say!(
            "kill trials ok: {} kills survived in {:.0} s ({} children ended by themselves); \
             the file reached commit {} at frame {}, {} KiB",
            outcome.kills_survived,
            outcome.seconds,
            outcome.children_ended,
            outcome.commit,
            outcome.frame,
            outcome.file_bytes >> 10
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The child process of [`kill_cmd`].
fn kill_child_cmd(path: &Path, config: &StressConfig, file: PathBuf) -> Result<ExitCode, CliError> {
    let scenario = Scenario::load(path).map_err(LoamError::from)?;
    match kill_child(&scenario, config, file)? {
        Some(v) => {
            eprintln!("stress FAILED: {v}");
            Ok(ExitCode::from(1))
        }
        None => Ok(ExitCode::SUCCESS),
    }
}

fn replay_cmd(path: &Path, threads: Option<usize>, quiet: bool) -> Result<ExitCode, CliError> {
    let recording = RecordingFile::read(path)?;
    let world_file = scratch_file("replay");
    let mut scenario = recording.scenario(world_file.clone())?;
    if let Some(t) = threads {
        scenario.run.threads = t;
    }
    let replayed = (|| -> Result<String, LoamError> {
        let mut rt = Runtime::new(scenario)?;
        rt.replay_commands(recording.commands.clone())?;
        // An adaptive LOD replays its choices, none included: measuring
        // again would choose anew.
        let adaptive = rt.scenario().run.adaptive_budget_ms().is_some();
        if adaptive || !recording.lod_choices.is_empty() {
            rt.replay_lod(recording.lod_choices.clone())?;
        }
        let bar = progress_bar(recording.frames, quiet);
        for _ in 0..recording.frames {
            rt.step()?;
            bar.inc(1);
        }
        bar.finish_and_clear();
        Ok(rt.world_hash())
    })();
    let _ = std::fs::remove_file(&world_file);
    let hash = replayed?;
    if hash == recording.world_hash {
        say!(
            "replay ok: {} frames, {} commands, world hash {hash} as recorded",
            recording.frames,
            recording.commands.len()
        );
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "replay DIFFERS: after {} frames the world hash is {hash}, the recording says {}",
            recording.frames, recording.world_hash
        );
        Ok(ExitCode::from(1))
    }
}

fn export_zarr(input: &Path, out: &Path, channel: usize, level: i32) -> Result<ExitCode, CliError> {
    use loam::loam_storage::zarr;
    let started = std::time::Instant::now();
    let stats = if input.extension().is_some_and(|e| e == "toml") {
        // The world as a run of the scenario starts it: the pages its file
        // holds, the others generated from its fills.
        let scenario = Scenario::load(input).map_err(LoamError::from)?;
        let world = &scenario.world;
        let layout = scenario
            .layout()
            .map_err(|e| LoamError::Invalid(e.to_string()))?;
        let file = match world.storage.as_ref().filter(|s| s.file.exists()) {
            Some(spec) => Some(
                loam::streaming::open_existing_world_file(&scenario, spec, Access::Read)
                    .map_err(LoamError::from)?,
            ),
            None => None,
        };
        let pages = loam::streaming::ScenarioPages::new(&scenario);
        zarr::export_world(
            layout,
            world.seed,
            file.as_ref(),
            Some(&pages),
            channel,
            out,
            level,
        )
    } else {
        let file = WorldFile::open_read_only(input).map_err(LoamError::from)?;
        zarr::export(&file, channel, out, level)
    }
    .map_err(LoamError::from)?;
    say!(
        "{}: {} chunks ({} bytes) written, {} pages left to the fill value, {} pages generated \
         from the scenario, in {:.2} s",
        out.display(),
        stats.chunks,
        stats.bytes,
        stats.skipped,
        stats.generated,
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

fn inspect(path: &Path, verify: bool, commit: Option<u64>) -> Result<ExitCode, CliError> {
    use loam::loam_storage::file::{codec::Codec, header::CHANNEL_NAMES, header::CHANNEL_TYPES};
    let opened = match commit {
        Some(k) => WorldFile::open_commit(path, k),
        None => WorldFile::open_read_only(path),
    };
    let file = match opened {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let h = file.header();
    let layout = file.layout();
    let mut pages: Vec<u64> = file.entries().iter().map(|e| e.page_id).collect();
    pages.dedup();
    say!("{}", path.display());
    say!(
        "  format {}, commit {}, world {:?} cells, page {}³, seed {}",
        h.version,
        h.sequence,
        h.size,
        h.page,
        h.seed
    );
    match (h.state, file.state()) {
        (Some(at), Ok(Some(bytes))) => match SavedState::decode(&bytes) {
            Ok(state) => say!(
                "  run state: {} bytes at offset {}, frame {}, sections {}",
                at.len,
                at.offset,
                state.frame,
                state
                    .sections
                    .iter()
                    .map(|(name, _)| name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Err(e) => say!("  run state: {} bytes at offset {}: {e}", at.len, at.offset),
        },
        (Some(at), _) => say!(
            "  run state: {} bytes at offset {}, damaged (--verify says how)",
            at.len,
            at.offset
        ),
        (None, _) => say!("  run state: none (this commit recorded none)"),
    }
    say!(
        "  {} of {} pages stored, directory {} entries at offset {}, {} bytes allocated",
        pages.len(),
        layout.page_count(),
        h.dir_count,
        h.dir_offset,
        h.end
    );
    let kept: Vec<String> = std::iter::once(format!("{} (this one)", h.sequence))
        .chain(file.kept_commits().iter().map(|k| k.sequence.to_string()))
        .collect();
    let free = file.free_space();
    say!(
        "  commits kept: {}; free space: {} bytes in {} extents",
        kept.join(", "),
        free.bytes(),
        free.len()
    );
    say!(
        "\n  {:<12} {:>9} {:>9} {:>9} {:>14} {:>14} {:>7}",
        "channel",
        "uniform",
        "raw",
        "zstd",
        "raw bytes",
        "stored bytes",
        "ratio"
    );
    for (c, name) in CHANNEL_NAMES.iter().enumerate() {
        let entries: Vec<_> = file
            .entries()
            .iter()
            .filter(|e| e.channel as usize == c)
            .collect();
        let count = |codec: Codec| entries.iter().filter(|e| e.codec == codec).count();
        let raw = (entries.len() * layout.page_cells() * CHANNEL_TYPES[c] as usize) as u64;
        let stored: u64 = entries.iter().map(|e| u64::from(e.stored)).sum();
        say!(
            "  {:<12} {:>9} {:>9} {:>9} {:>14} {:>14} {:>7}",
            name,
            count(Codec::Uniform),
            count(Codec::Raw),
            count(Codec::Zstd),
            raw,
            stored,
            if stored == 0 {
                "-".to_string()
            } else {
                format!("{:.1}x", raw as f64 / stored as f64)
            }
        );
    }
    if !verify {
        return Ok(ExitCode::SUCCESS);
    }
    let problems = file.verify();
    if problems.is_empty() {
        say!(
            "\n  verify: all {} stored pages read back and match their CRCs",
            pages.len()
        );
        Ok(ExitCode::SUCCESS)
    } else {
        for p in &problems {
            eprintln!("bad page: {p}");
        }
        eprintln!("verify FAILED: {} bad page channels", problems.len());
        Ok(ExitCode::from(1))
    }
}

fn materials(scenario: Option<&Path>, data: bool) -> Result<ExitCode, CliError> {
    if data {
        say_raw!("{}", loam::loam_systems::materials::BUILTIN_DATA);
        return Ok(ExitCode::SUCCESS);
    }
    let table = match scenario {
        Some(path) => Scenario::load(path).map_err(LoamError::from)?.materials,
        None => std::sync::Arc::new(loam::loam_systems::MaterialTable::default()),
    };
    say_raw!("{}", loam::cli::materials::listing(&table));
    Ok(ExitCode::SUCCESS)
}

fn graph(path: &Path) -> Result<ExitCode, CliError> {
    let mut scenario = Scenario::load(path).map_err(LoamError::from)?;
    // Building the runtime allocates the world; a graph needs none of it.
    scenario.world.size = [scenario.world.page; 3];
    scenario.fills.clear();
    scenario.emitters.clear();
    scenario.commands.clear();
    // A streamed world streams from a scratch file of the shrunk world: the
    // scenario's own file is of the real one, and must be neither opened
    // with another layout nor created with this one.
    let scratch = std::env::temp_dir().join(format!("loam-graph-{}.loam", std::process::id()));
    if let Some(storage) = scenario.world.storage.as_mut() {
        let _ = std::fs::remove_file(&scratch);
        storage.file = scratch.clone();
    }
    let listing = Runtime::new(scenario).and_then(|mut rt| {
        rt.engine_mut()
            .describe_graph()
            .map_err(|e| LoamError::from(loam::loam_runtime::EngineError::from(e)))
    });
    let _ = std::fs::remove_file(&scratch);
    say_raw!("{}", listing?);
    Ok(ExitCode::SUCCESS)
}

/// Gives the GPU driver stack a private `XDG_RUNTIME_DIR` where it is unset
/// or not a directory (headless machines, containers): the Vulkan loader and
/// Mesa's drivers print an error about it at every device start, though a
/// compute device needs nothing from it, so a working run looked like a
/// failing one. Runs first in `main`, before any other thread exists, as
/// changing the environment requires.
#[cfg(feature = "gpu")]
fn headless_runtime_dir() {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    if std::env::var_os("XDG_RUNTIME_DIR").is_some_and(|d| Path::new(&d).is_dir()) {
        return;
    }
    // Our uid, as the owner of our own /proc entry.
    let Ok(uid) = std::fs::metadata("/proc/self").map(|m| m.uid()) else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("loam-runtime-{uid}"));
    let _ = std::fs::DirBuilder::new().mode(0o700).create(&dir);
    // Only a directory of ours that nobody else can enter will do.
    let ours = std::fs::symlink_metadata(&dir)
        .is_ok_and(|m| m.is_dir() && m.uid() == uid && m.permissions().mode() & 0o077 == 0);
    if ours {
        std::env::set_var("XDG_RUNTIME_DIR", &dir);
    }
}

fn progress_bar(len: u64, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{spinner} frame {pos}/{len} {wide_bar} {per_sec} eta {eta}")
            .expect("a valid progress template"),
    );
    bar
}

fn soak_cmd(
    path: &Path,
    config: SoakConfig,
    threads: Option<usize>,
    json: bool,
    quiet: bool,
) -> Result<ExitCode, CliError> {
    let duration = config.duration;
    let mut scenario = Scenario::load(path).map_err(LoamError::from)?;
    scenario.apply(&Overrides {
        threads,
        ..Default::default()
    });
    let interactive = !quiet && !json && std::io::stderr().is_terminal();
    let outcome = soak(&scenario, &config, |p| {
        if interactive {
            eprint!(
                "\rsoak {}: run {}  frames {}  rss {} MiB  {:.0}/{:.0} s   ",
                scenario.name,
                p.runs,
                p.frames,
                p.rss_bytes >> 20,
                p.elapsed.as_secs_f64(),
                duration.as_secs_f64()
            );
            let _ = std::io::stderr().flush();
        }
    })?;
    if interactive {
        eprintln!();
    }
    if json {
        say!(
            "{}",
            serde_json::to_string_pretty(&outcome).expect("outcomes serialise")
        );
    }
    let mib = |b: u64| b >> 20;
    let rss = match (outcome.rss_bytes.first(), outcome.rss_bytes.last()) {
        (Some(first), Some(last)) => format!("rss {} -> {} MiB", mib(*first), mib(*last)),
        _ => "rss unknown".into(),
    };
    let p95 = outcome.frame_p95_ms.map_or(String::new(), |[a, b]| {
        format!(", frame p95 {a:.2} -> {b:.2} ms (first/last tenth)")
    });
    let file = outcome.file_bytes.map_or(String::new(), |[size, live]| {
        format!(", file {} MiB for {} MiB live", mib(size), mib(live))
    });
    match &outcome.violation {
        Some(v) => {
            eprintln!(
                "soak FAILED after {} runs, {} frames: {v}",
                outcome.runs, outcome.frames
            );
            Ok(ExitCode::from(1))
        }
        None => {
            if !json {
                say!(
                    "soak ok: {} runs, {} frames, {} repeated seeds matched, {} checks \
                     evaluated, {rss}{p95}{file}",
                    outcome.runs,
                    outcome.frames,
                    outcome.repeats_matched,
                    outcome.checks_evaluated
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn bench(names: &[String], json: bool) -> Result<ExitCode, CliError> {
    let known: Vec<&str> = loam::cli::bench::GROUPS.iter().map(|(g, _)| *g).collect();
    if let Some(bad) = names
        .iter()
        .find(|n| !known.iter().any(|g| g.starts_with(n.as_str())))
    {
        eprintln!(
            "error: unknown benchmark `{bad}` (known: {})",
            known.join(", ")
        );
        return Ok(ExitCode::from(2));
    }
    let results = loam::cli::bench::run(names, |g| {
        if !json {
            eprintln!("running {g} ...");
        }
    });
    if json {
        say!(
            "{}",
            serde_json::to_string_pretty(&results).expect("measurements serialise")
        );
    } else {
        say!("{:<48} {:>12} unit", "name", "value");
        for m in &results {
            say!("{:<48} {:>12.3} {}", m.name, m.value, m.unit);
        }
    }
    Ok(ExitCode::SUCCESS)
}
