//! Errors of building the job graph and of running jobs.

/// Why a job graph could not be compiled.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GraphError {
    /// The explicit `after`/`before` edges (with the conflict order) form a cycle.
    #[error("job graph has a cycle: {}", .0.join(" -> "))]
    Cycle(Vec<String>),
    /// An `after`/`before` edge names a job that was never added.
    #[error("job `{job}` is ordered against `{missing}`, which is not a registered job")]
    UnknownJob {
        /// The job that declared the edge.
        job: String,
        /// The name it refers to.
        missing: String,
    },
    /// Two jobs share a name, so edges and reports would be ambiguous.
    #[error("two jobs are named `{0}`")]
    DuplicateName(String),
    /// Two jobs of one stage conflict and nothing says which runs first.
    #[error(
        "jobs `{first}` and `{second}` of stage `{stage}` both use {} (one writes it) \
         and nothing orders them: add `.after(\"{first}\")` to `{second}`, or put them \
         in different stages",
        .resources.join(", ")
    )]
    Ambiguous {
        /// The stage both are in.
        stage: &'static str,
        /// One job.
        first: String,
        /// The other job.
        second: String,
        /// The resources they conflict over.
        resources: Vec<String>,
    },
    /// A substep group's jobs were put in different stages.
    #[error("substep group `{group}` has jobs in stages `{first}` and `{second}`")]
    GroupAcrossStages {
        /// The group.
        group: String,
        /// The stage of its first job.
        first: &'static str,
        /// Another stage among its jobs.
        second: &'static str,
    },
}

/// Why a job failed during a frame.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The job borrowed a resource it did not declare.
    #[error("job `{job}` borrowed `{resource}` for {mode} without declaring it")]
    Undeclared {
        /// The job's name.
        job: String,
        /// The resource's type name.
        resource: &'static str,
        /// "reading" or "writing".
        mode: &'static str,
    },
    /// The resource was never inserted.
    #[error("job `{job}` needs resource `{resource}`, which was never inserted")]
    Missing {
        /// The job's name.
        job: String,
        /// The resource's type name.
        resource: &'static str,
    },
    /// The job's own code reported an error.
    #[error("job `{job}` failed: {message}")]
    Failed {
        /// The job's name.
        job: String,
        /// What went wrong.
        message: String,
    },
    /// The job panicked; the panic was caught, the frame's other jobs still
    /// ran, and the engine stays usable.
    #[error("job `{job}` panicked: {message}")]
    Panicked {
        /// The job's name.
        job: String,
        /// The panic payload, if it was a string.
        message: String,
    },
}

impl JobError {
    /// A failure reported by a job body, with any message.
    pub fn failed(job: &str, message: impl std::fmt::Display) -> Self {
        JobError::Failed {
            job: job.to_string(),
            message: message.to_string(),
        }
    }
}
