//! The engine: resources, compiled jobs, the thread pool and the frame loop.
//!
//! A frame is: deliver mail into inboxes → run the job graph (substep groups
//! run their own small graph `substeps` times) → advance the clock → frame
//! mark. The graph is compiled on the first step after jobs change and reused.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;
use std::time::Instant;

use crate::access::Access;
use crate::actor::{Inbox, Mailbox};
use crate::clock::{Clock, Seed};
use crate::error::{GraphError, JobError};
use crate::executor::Executor;
use crate::graph::{self, JobGraph, NodeSpec};
use crate::job::{Job, JobContext, JobFn, JobOptions};
use crate::profiling;
use crate::resources::{Res, Resources};
use crate::stage::Stage;
use crate::state::{self, Persistent, SavedState, StateError, STATE_VERSION};
use crate::stats::{JobStats, Samples, Summary};

/// How an engine is set up.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Worker threads; 0 means one per core.
    pub threads: usize,
    /// Fixed frame length in seconds.
    pub dt: f64,
    /// Substeps per frame for substep groups.
    pub substeps: u32,
    /// World seed, available as the [`Seed`] resource.
    pub seed: u64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            threads: 0,
            dt: 1.0 / 60.0,
            substeps: 1,
            seed: 0,
        }
    }
}

/// Why a frame or the engine's setup failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The job graph could not be compiled.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// A job failed; the frame's other jobs still ran.
    #[error(transparent)]
    Job(#[from] JobError),
    /// The thread pool could not be created.
    #[error("could not start {threads} worker threads: {message}")]
    Pool {
        /// Threads asked for.
        threads: usize,
        /// The pool builder's message.
        message: String,
    },
}

/// A job's mutable half: only the thread running it touches this.
struct JobState {
    body: JobFn,
    stats: JobStats,
}

/// A registered job: the immutable half is read by any thread.
struct JobSlot {
    name: String,
    access: Access,
    stage: Stage,
    after: Vec<String>,
    before: Vec<String>,
    options: JobOptions,
    state: Mutex<JobState>,
}

/// A node of the top-level graph.
enum Unit {
    /// One job, by index into `Engine::jobs`.
    Job(usize),
    /// A substep group: its jobs and their own graph.
    Group {
        jobs: Vec<usize>,
        graph: JobGraph,
        executor: Executor,
    },
}

struct Compiled {
    units: Vec<Unit>,
    graph: JobGraph,
    executor: Executor,
}

type Drain = Box<dyn FnMut(&mut Resources) + Send>;

/// Resources, jobs, one rayon pool and a fixed-`dt` clock.
pub struct Engine {
    resources: Resources,
    jobs: Vec<JobSlot>,
    compiled: Option<Compiled>,
    pool: rayon::ThreadPool,
    drains: Vec<Drain>,
    /// What [`Engine::save_state`] saves, in registration order.
    sections: Vec<state::Section>,
    frame_ms: Samples,
    clock: Clock,
}

impl Engine {
    /// An engine with no jobs, holding the [`Clock`] and [`Seed`] resources.
    pub fn new(config: EngineConfig) -> Result<Self, EngineError> {
        profiling::start();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(config.threads)
            .thread_name(|i| format!("loam-worker-{i}"))
            .start_handler(|i| crate::profiling::name_thread(&format!("loam-worker-{i}")))
            .build()
            .map_err(|e| EngineError::Pool {
                threads: config.threads,
                message: e.to_string(),
            })?;
        let clock = Clock::new(config.dt, config.substeps);
        let mut resources = Resources::default();
        resources.insert(clock);
        resources.insert(Seed(config.seed));
        Ok(Self {
            resources,
            jobs: Vec::new(),
            compiled: None,
            pool,
            drains: Vec::new(),
            sections: Vec::new(),
            frame_ms: Samples::default(),
            clock,
        })
    }

    /// Inserts or replaces a resource.
    pub fn insert_resource<T: Send + Sync + 'static>(&mut self, value: T) {
        self.resources.insert(value);
    }

    /// Borrows a resource between frames.
    pub fn resource<T: 'static>(&self) -> Option<Res<'_, T>> {
        self.resources.try_read::<T>().ok()
    }

    /// Mutably borrows a resource between frames.
    pub fn resource_mut<T: 'static>(&mut self) -> Option<&mut T> {
        self.resources.get_mut::<T>()
    }

    /// Removes a resource.
    pub fn remove_resource<T: Send + Sync + 'static>(&mut self) -> Option<T> {
        self.resources.remove::<T>()
    }

    /// All resources, between frames.
    pub fn resources(&self) -> &Resources {
        &self.resources
    }

    /// Adds a job; the graph is recompiled before the next frame.
    pub fn add_job(&mut self, job: Job) {
        let Job {
            name,
            access,
            stage,
            after,
            before,
            options,
            body,
        } = job;
        self.jobs.push(JobSlot {
            name: name.clone(),
            access,
            stage,
            after,
            before,
            options,
            state: Mutex::new(JobState {
                body,
                stats: JobStats::new(name),
            }),
        });
        self.compiled = None;
    }

    /// The sending side of a mailbox for messages of type `M`, creating the
    /// mailbox and its [`Inbox<M>`] resource on first use.
    pub fn mailbox<M: Send + Sync + 'static>(&mut self) -> Mailbox<M> {
        if let Some(existing) = self.resources.get_mut::<MailboxSender<M>>() {
            return Mailbox {
                tx: existing.0.clone(),
            };
        }
        let (tx, rx) = flume::unbounded::<M>();
        self.resources.insert(Inbox::<M>::default());
        self.resources.insert(MailboxSender(tx.clone()));
        self.drains.push(Box::new(move |res: &mut Resources| {
            if let Some(inbox) = res.get_mut::<Inbox<M>>() {
                inbox.messages.extend(rx.try_iter());
            }
        }));
        Mailbox { tx }
    }

    /// Compiles the job graph now (it is otherwise compiled by the next step).
    pub fn compile(&mut self) -> Result<(), GraphError> {
        if self.compiled.is_none() {
            self.compiled = Some(compile(&self.jobs)?);
        }
        Ok(())
    }

    /// A readable listing of the compiled graph: each node with its stage
    /// and what waits for it, then how much of it can overlap.
    pub fn describe_graph(&mut self) -> Result<String, GraphError> {
        self.compile()?;
        let compiled = self.compiled.as_ref().expect("compiled above");
        let name = |u: usize| match &compiled.units[u] {
            Unit::Job(j) => self.jobs[*j].name.clone(),
            Unit::Group { jobs, .. } => format!(
                "substeps[{}]",
                jobs.iter()
                    .map(|&j| self.jobs[j].name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let stage = |u: usize| match &compiled.units[u] {
            Unit::Job(j) => self.jobs[*j].stage,
            Unit::Group { jobs, .. } => self.jobs[jobs[0]].stage,
        };
        let graph = &compiled.graph;
        let mut out = String::new();
        for &u in &graph.order {
            let next: Vec<String> = graph.dependents[u].iter().map(|&d| name(d)).collect();
            out.push_str(&format!(
                "{:<10} {} -> [{}]\n",
                stage(u).name(),
                name(u),
                next.join(", ")
            ));
        }
        let levels = graph.levels();
        let widest = (0..=levels.iter().copied().max().unwrap_or(0))
            .map(|l| {
                (0..graph.len())
                    .filter(|&u| levels[u] == l)
                    .collect::<Vec<_>>()
            })
            .max_by_key(|level| level.len())
            .unwrap_or_default();
        out.push_str(&format!(
            "{} jobs, {} pairs that may run at the same time; up to {} at once ({})\n",
            graph.len(),
            graph.concurrent_pairs().len(),
            widest.len(),
            widest
                .iter()
                .map(|&u| name(u))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        Ok(out)
    }

    /// Saves the [`Persistent`] resource `T` as section `name` of the
    /// run's state (see [`crate::state`]); registering a name again
    /// replaces the earlier section.
    pub fn persist<T: Persistent>(&mut self, name: &str) {
        self.add_section(state::section_of::<T>(name));
    }

    /// Saves section `name` of the run's state with `save` and restores it
    /// with `restore`: for state spread over several resources, or kept in
    /// a type of another crate.
    pub fn persist_with(
        &mut self,
        name: &str,
        save: impl Fn(&Resources) -> Result<Vec<u8>, StateError> + Send + Sync + 'static,
        restore: impl Fn(&Resources, &[u8]) -> Result<(), StateError> + Send + Sync + 'static,
    ) {
        self.add_section(state::Section {
            name: name.to_string(),
            save: Box::new(save),
            restore: Box::new(restore),
        });
    }

    fn add_section(&mut self, section: state::Section) {
        self.sections.retain(|s| s.name != section.name);
        self.sections.push(section);
    }

    /// The names of the state's sections, in the order they are restored.
    pub fn state_sections(&self) -> impl Iterator<Item = &str> {
        self.sections.iter().map(|s| s.name.as_str())
    }

    /// The run's state between frames: the clock and every registered
    /// section (see [`crate::state`]).
    pub fn save_state(&self) -> Result<Vec<u8>, StateError> {
        let sections = self
            .sections
            .iter()
            .map(|s| Ok((s.name.clone(), (s.save)(&self.resources)?)))
            .collect::<Result<_, StateError>>()?;
        SavedState {
            version: STATE_VERSION,
            frame: self.clock.frame,
            time: self.clock.time,
            sections,
        }
        .encode()
    }

    /// Restores a state [`Engine::save_state`] made, into an engine built
    /// the same way: the clock, then each section in registration order.
    /// Every registered section must be in it, and nothing else; on an
    /// error the engine may hold part of the state, so build it anew.
    pub fn load_state(&mut self, bytes: &[u8]) -> Result<(), StateError> {
        let saved = SavedState::decode(bytes)?;
        if let Some((name, _)) = saved
            .sections
            .iter()
            .find(|(name, _)| !self.sections.iter().any(|s| &s.name == name))
        {
            return Err(StateError::Unknown(name.clone()));
        }
        let bytes: Vec<&[u8]> = self
            .sections
            .iter()
            .map(|section| {
                saved
                    .sections
                    .iter()
                    .find(|(name, _)| *name == section.name)
                    .map(|(_, bytes)| bytes.as_slice())
                    .ok_or_else(|| StateError::Missing(section.name.clone()))
            })
            .collect::<Result<_, _>>()?;
        for (section, bytes) in self.sections.iter().zip(bytes) {
            (section.restore)(&self.resources, bytes)?;
        }
        self.clock.frame = saved.frame;
        self.clock.time = saved.time;
        Ok(())
    }

    /// Runs one frame.
    pub fn step(&mut self) -> Result<(), EngineError> {
        let started = Instant::now();
        self.compile()?;
        for drain in &mut self.drains {
            drain(&mut self.resources);
        }
        if let Some(c) = self.resources.get_mut::<Clock>() {
            *c = self.clock;
        }
        let compiled = self.compiled.as_ref().expect("compiled above");
        let parallel = self.pool.current_num_threads() > 1;
        let failure: Mutex<Option<(usize, JobError)>> = Mutex::new(None);
        let frame = FrameRun {
            jobs: &self.jobs,
            resources: &self.resources,
            failure: &failure,
            parallel,
        };
        let clock = self.clock;
        self.pool.install(|| {
            compiled.executor.run(&compiled.graph, parallel, &|u| {
                frame.run_unit(&compiled.units[u], clock)
            })
        });
        self.clock.frame += 1;
        self.clock.time += self.clock.dt;
        self.frame_ms.push(started.elapsed().as_secs_f32() * 1000.0);
        profiling::frame_mark();
        match failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
            Some((_, e)) => Err(e.into()),
            None => Ok(()),
        }
    }

    /// Runs `frames` frames, stopping at the first error.
    pub fn run(&mut self, frames: u64) -> Result<(), EngineError> {
        for _ in 0..frames {
            self.step()?;
        }
        Ok(())
    }

    /// The clock of the next frame.
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// Worker threads in the pool.
    pub fn threads(&self) -> usize {
        self.pool.current_num_threads()
    }

    /// Runs `f` on the engine's pool, so rayon calls inside use its workers.
    pub fn install<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        self.pool.install(f)
    }

    /// Per-job statistics, in registration order.
    pub fn job_stats(&self) -> Vec<JobStats> {
        self.jobs
            .iter()
            .map(|j| {
                j.state
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .stats
                    .clone()
            })
            .collect()
    }

    /// Frame wall times, ms (the most recent [`crate::stats::WINDOW`] in
    /// order, with totals over all frames).
    pub fn frame_samples(&self) -> &Samples {
        &self.frame_ms
    }

    /// Summary of frame wall times.
    pub fn frame_summary(&self) -> Summary {
        self.frame_ms.summary()
    }
}

/// The sender kept by the engine so later `mailbox()` calls share a channel.
struct MailboxSender<M>(flume::Sender<M>);

/// Shared, read-only view of the engine while a frame runs.
struct FrameRun<'a> {
    jobs: &'a [JobSlot],
    resources: &'a Resources,
    failure: &'a Mutex<Option<(usize, JobError)>>,
    parallel: bool,
}

impl FrameRun<'_> {
    fn run_unit(&self, unit: &Unit, clock: Clock) {
        match unit {
            Unit::Job(j) => self.run_job(*j, clock),
            Unit::Group {
                jobs,
                graph,
                executor,
            } => {
                for s in 0..clock.substeps {
                    let sub = Clock {
                        dt: clock.substep_dt(),
                        time: clock.time + clock.substep_dt() * f64::from(s),
                        substep: s,
                        ..clock
                    };
                    executor.run(graph, self.parallel, &|i| self.run_job(jobs[i], sub));
                }
            }
        }
    }

    fn run_job(&self, index: usize, clock: Clock) {
        let slot = &self.jobs[index];
        let every = u64::from(slot.options.every.max(1));
        if clock.frame % every != 0 {
            return;
        }
        let mut state = slot.state.lock().unwrap_or_else(|p| p.into_inner());
        let state = &mut *state;
        let _zone = profiling::zone(&slot.name);
        let started = Instant::now();
        let mut ctx = JobContext {
            name: &slot.name,
            access: &slot.access,
            resources: self.resources,
            clock,
            budget: slot.options.budget,
            started,
        };
        let (result, inner) = profiling::time_inner_zones(|| {
            catch_unwind(AssertUnwindSafe(|| (state.body)(&mut ctx)))
        });
        state.stats.record(started.elapsed(), slot.options.budget);
        state.stats.record_inner(&inner);
        let error = match result {
            Ok(Ok(())) => return,
            Ok(Err(e)) => e,
            Err(payload) => JobError::Panicked {
                job: slot.name.clone(),
                message: panic_message(&payload),
            },
        };
        let mut failure = self.failure.lock().unwrap_or_else(|p| p.into_inner());
        // Keep the error of the earliest-registered job, so the reported
        // error does not depend on thread timing.
        if failure.as_ref().is_none_or(|(i, _)| index < *i) {
            *failure = Some((index, error));
        }
    }
}

fn panic_message(payload: &Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_string())
}

/// Groups jobs into units (a substep group sits where its first job was
/// registered) and builds the top-level graph and each group's graph.
///
/// A group runs as one node where its first job was registered, so a job
/// registered between two members of a group, and conflicting with the
/// group, runs after the whole group (all its substeps) — not between them.
fn compile(jobs: &[JobSlot]) -> Result<Compiled, GraphError> {
    for (i, a) in jobs.iter().enumerate() {
        if jobs[..i].iter().any(|b| b.name == a.name) {
            return Err(GraphError::DuplicateName(a.name.clone()));
        }
    }
    struct UnitSpec {
        name: String,
        jobs: Vec<usize>,
        access: Access,
        stage: Stage,
        after: Vec<String>,
        before: Vec<String>,
        aliases: Vec<String>,
        group: bool,
    }
    let mut units: Vec<UnitSpec> = Vec::new();
    for (j, slot) in jobs.iter().enumerate() {
        let group = slot.options.substep_group.as_deref();
        let existing = group.and_then(|g| units.iter_mut().find(|u| u.group && u.name == g));
        let unit = match existing {
            Some(u) => u,
            None => {
                units.push(UnitSpec {
                    name: group.unwrap_or(&slot.name).to_string(),
                    jobs: Vec::new(),
                    access: Access::new(),
                    stage: slot.stage,
                    after: Vec::new(),
                    before: Vec::new(),
                    aliases: Vec::new(),
                    group: group.is_some(),
                });
                units.last_mut().expect("just pushed")
            }
        };
        if unit.stage != slot.stage {
            return Err(GraphError::GroupAcrossStages {
                group: unit.name.clone(),
                first: unit.stage.name(),
                second: slot.stage.name(),
            });
        }
        unit.jobs.push(j);
        unit.access.extend(&slot.access);
        unit.aliases.push(slot.name.clone());
        unit.after.extend(slot.after.iter().cloned());
        unit.before.extend(slot.before.iter().cloned());
    }
    // Edges between jobs of the same group are handled inside the group.
    for u in &mut units {
        let members = u.aliases.clone();
        u.after.retain(|n| !members.contains(n));
        u.before.retain(|n| !members.contains(n));
    }
    let specs: Vec<NodeSpec<'_>> = units
        .iter()
        .map(|u| NodeSpec {
            name: &u.name,
            access: &u.access,
            stage: u.stage,
            after: &u.after,
            before: &u.before,
            aliases: if u.group { &u.aliases } else { &[] },
        })
        .collect();
    let top = graph::build(&specs)?;

    let mut compiled_units = Vec::with_capacity(units.len());
    for u in &units {
        if !u.group {
            compiled_units.push(Unit::Job(u.jobs[0]));
            continue;
        }
        let inner_edges: Vec<(Vec<String>, Vec<String>)> = u
            .jobs
            .iter()
            .map(|&j| {
                let keep = |names: &[String]| -> Vec<String> {
                    names
                        .iter()
                        .filter(|n| u.aliases.contains(n))
                        .cloned()
                        .collect()
                };
                (keep(&jobs[j].after), keep(&jobs[j].before))
            })
            .collect();
        let inner: Vec<NodeSpec<'_>> = u
            .jobs
            .iter()
            .zip(&inner_edges)
            .map(|(&j, (after, before))| NodeSpec {
                name: &jobs[j].name,
                access: &jobs[j].access,
                stage: jobs[j].stage,
                after,
                before,
                aliases: &[],
            })
            .collect();
        let graph = graph::build(&inner)?;
        let executor = Executor::new(&graph);
        compiled_units.push(Unit::Group {
            jobs: u.jobs.clone(),
            graph,
            executor,
        });
    }
    let executor = Executor::new(&top);
    Ok(Compiled {
        units: compiled_units,
        graph: top,
        executor,
    })
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field(
                "jobs",
                &self.jobs.iter().map(|j| &j.name).collect::<Vec<_>>(),
            )
            .field("threads", &self.threads())
            .field("clock", &self.clock)
            .finish()
    }
}
