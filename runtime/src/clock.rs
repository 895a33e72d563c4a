//! Time, frame number and seed: the resources every job may read.

/// The frame clock. The [`Clock`] resource is written by the engine between
/// frames and holds the frame's values; inside a substep group a job's
/// `ctx.clock()` holds the substep's (`dt`, `time` and `substep` of that substep).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Clock {
    /// Frames completed before this one (0 during the first frame).
    pub frame: u64,
    /// Fixed frame length in seconds.
    pub dt: f64,
    /// Simulated time at the start of this frame, in seconds.
    pub time: f64,
    /// Substeps per frame for jobs in a substep group (at least 1).
    pub substeps: u32,
    /// Index of the current substep (0 outside substep groups).
    pub substep: u32,
}

impl Clock {
    /// A clock at frame 0 with the given `dt` and substep count.
    pub fn new(dt: f64, substeps: u32) -> Self {
        Self {
            frame: 0,
            dt,
            time: 0.0,
            substeps: substeps.max(1),
            substep: 0,
        }
    }

    /// The length of one substep.
    pub fn substep_dt(&self) -> f64 {
        self.dt / f64::from(self.substeps)
    }
}

/// The world seed. All randomness is a hash of it with counters
/// (see [`crate::random`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Seed(pub u64);
