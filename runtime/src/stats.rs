//! Wall-time statistics per job and per frame.

use std::time::Duration;

/// Samples of one timed thing, in milliseconds.
#[derive(Clone, Debug, Default)]
pub struct JobStats {
    /// The job's (or group's) name.
    pub name: String,
    /// One sample per run.
    pub samples_ms: Vec<f32>,
    /// Runs that took longer than the job's budget.
    pub over_budget: u64,
}

/// Mean, 95th percentile and maximum of a set of samples.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Summary {
    /// Number of samples.
    pub runs: u64,
    /// Arithmetic mean, ms.
    pub mean_ms: f64,
    /// 95th percentile (nearest rank), ms.
    pub p95_ms: f64,
    /// Largest sample, ms.
    pub max_ms: f64,
}

impl JobStats {
    /// Empty statistics for `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }

    /// Records one run.
    pub fn record(&mut self, elapsed: Duration, budget: Option<Duration>) {
        self.samples_ms.push(elapsed.as_secs_f32() * 1000.0);
        if budget.is_some_and(|b| elapsed > b) {
            self.over_budget += 1;
        }
    }

    /// Summary of all runs so far.
    pub fn summary(&self) -> Summary {
        Summary::of(&self.samples_ms)
    }
}

impl Summary {
    /// Summarises `samples` (milliseconds).
    pub fn of(samples: &[f32]) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        let mut sorted = samples.to_vec();
        sorted.sort_unstable_by(f32::total_cmp);
        let rank = ((sorted.len() as f64) * 0.95).ceil() as usize;
        let sum: f64 = sorted.iter().map(|&s| f64::from(s)).sum();
        Self {
            runs: sorted.len() as u64,
            mean_ms: sum / sorted.len() as f64,
            p95_ms: f64::from(sorted[rank.clamp(1, sorted.len()) - 1]),
            max_ms: f64::from(sorted[sorted.len() - 1]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_of_one_to_hundred() {
        let samples: Vec<f32> = (1..=100).map(|i| i as f32).collect();
        let s = Summary::of(&samples);
        assert_eq!(s.runs, 100);
        assert!((s.mean_ms - 50.5).abs() < 1e-9);
        assert_eq!(s.p95_ms, 95.0);
        assert_eq!(s.max_ms, 100.0);
    }

    #[test]
    fn over_budget_runs_are_counted() {
        let mut st = JobStats::new("x");
        st.record(Duration::from_millis(2), Some(Duration::from_millis(1)));
        st.record(Duration::from_micros(10), Some(Duration::from_millis(1)));
        assert_eq!(st.over_budget, 1);
        assert_eq!(st.summary().runs, 2);
    }
}
