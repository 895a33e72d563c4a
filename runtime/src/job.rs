//! Jobs: a name, a declared access set, options and a body.

use std::time::{Duration, Instant};

use crate::access::{Access, ResourceKey};
use crate::clock::Clock;
use crate::error::JobError;
use crate::resources::{BorrowError, Res, ResMut, Resources};
use crate::stage::Stage;

/// The body of a job. It runs on one thread at a time and may use rayon
/// inside (on the engine's pool).
pub type JobFn = Box<dyn FnMut(&mut JobContext<'_>) -> Result<(), JobError> + Send>;

/// How often and in which group a job runs.
#[derive(Clone, Debug, Default)]
pub struct JobOptions {
    /// Run on frames where `frame % every == 0` (0 and 1 both mean every frame).
    pub every: u32,
    /// Jobs sharing a group run together `Clock::substeps` times per frame.
    pub substep_group: Option<String>,
    /// Time the job is meant to stay within each frame; the job can ask how
    /// much is left, and runs past it are counted in its statistics.
    pub budget: Option<Duration>,
}

/// A unit of work in the job graph.
pub struct Job {
    pub(crate) name: String,
    pub(crate) access: Access,
    pub(crate) stage: Stage,
    pub(crate) after: Vec<String>,
    pub(crate) before: Vec<String>,
    pub(crate) options: JobOptions,
    pub(crate) body: JobFn,
}

impl Job {
    /// A job that does nothing until given a body with [`Job::run`].
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            access: Access::new(),
            stage: Stage::default(),
            after: Vec::new(),
            before: Vec::new(),
            options: JobOptions::default(),
            body: Box::new(|_| Ok(())),
        }
    }

    /// Declares a read of resource `T`.
    pub fn reads<T: 'static>(mut self) -> Self {
        self.access.add_read(ResourceKey::of::<T>());
        self
    }

    /// Declares a write of resource `T`.
    pub fn writes<T: 'static>(mut self) -> Self {
        self.access.add_write(ResourceKey::of::<T>());
        self
    }

    /// Declares access with a prepared [`Access`] value (added to what is there).
    pub fn with_access(mut self, access: &Access) -> Self {
        self.access.extend(access);
        self
    }

    /// Puts the job in `stage` (without one it runs in [`Stage::Output`]).
    pub fn in_stage(mut self, stage: Stage) -> Self {
        self.stage = stage;
        self
    }

    /// Runs after the job named `other`, whatever their access.
    pub fn after(mut self, other: impl Into<String>) -> Self {
        self.after.push(other.into());
        self
    }

    /// Runs before the job named `other`, whatever their access.
    pub fn before(mut self, other: impl Into<String>) -> Self {
        self.before.push(other.into());
        self
    }

    /// Runs only every `n` frames (on frames divisible by `n`).
    pub fn every(mut self, n: u32) -> Self {
        self.options.every = n;
        self
    }

    /// Puts the job in substep group `group`.
    pub fn substep_group(mut self, group: impl Into<String>) -> Self {
        self.options.substep_group = Some(group.into());
        self
    }

    /// Gives the job a per-frame time budget.
    pub fn budget(mut self, budget: Duration) -> Self {
        self.options.budget = Some(budget);
        self
    }

    /// Sets the body.
    pub fn run(
        mut self,
        body: impl FnMut(&mut JobContext<'_>) -> Result<(), JobError> + Send + 'static,
    ) -> Self {
        self.body = Box::new(body);
        self
    }

    /// The job's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The job's declared access.
    pub fn access(&self) -> &Access {
        &self.access
    }

    /// The job's stage.
    pub fn stage(&self) -> Stage {
        self.stage
    }
}

/// What a running job sees: its declared resources, the clock and its budget.
pub struct JobContext<'a> {
    pub(crate) name: &'a str,
    pub(crate) access: &'a Access,
    pub(crate) resources: &'a Resources,
    pub(crate) clock: Clock,
    pub(crate) budget: Option<Duration>,
    pub(crate) started: Instant,
}

impl<'a> JobContext<'a> {
    /// Borrows `T` for reading; an error if the job did not declare it.
    pub fn read<T: 'static>(&self) -> Result<Res<'a, T>, JobError> {
        if !self.access.can_read(std::any::TypeId::of::<T>()) {
            return Err(self.undeclared::<T>("reading"));
        }
        self.resources
            .try_read::<T>()
            .map_err(|e| self.borrow_error::<T>(e))
    }

    /// Borrows `T` for writing; an error if the job did not declare a write.
    pub fn write<T: 'static>(&self) -> Result<ResMut<'a, T>, JobError> {
        if !self.access.can_write(std::any::TypeId::of::<T>()) {
            return Err(self.undeclared::<T>("writing"));
        }
        self.resources
            .try_write::<T>()
            .map_err(|e| self.borrow_error::<T>(e))
    }

    /// The job's name.
    pub fn name(&self) -> &str {
        self.name
    }

    /// The frame clock (with `substep` set inside a substep group).
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The step length this job should integrate over: the substep length in
    /// a substep group, the frame length otherwise.
    pub fn dt(&self) -> f64 {
        self.clock.dt
    }

    /// Time left of the job's budget this frame (`None` without a budget).
    pub fn budget_left(&self) -> Option<Duration> {
        self.budget
            .map(|b| b.saturating_sub(self.started.elapsed()))
    }

    /// An error from this job's own logic.
    pub fn fail(&self, message: impl std::fmt::Display) -> JobError {
        JobError::failed(self.name, message)
    }

    fn undeclared<T>(&self, mode: &'static str) -> JobError {
        JobError::Undeclared {
            job: self.name.to_string(),
            resource: std::any::type_name::<T>(),
            mode,
        }
    }

    fn borrow_error<T>(&self, e: BorrowError) -> JobError {
        match e {
            BorrowError::Missing => JobError::Missing {
                job: self.name.to_string(),
                resource: std::any::type_name::<T>(),
            },
            BorrowError::Busy => JobError::failed(
                self.name,
                format!(
                    "`{}` is borrowed by a concurrently running job (job graph bug)",
                    std::any::type_name::<T>()
                ),
            ),
        }
    }
}
