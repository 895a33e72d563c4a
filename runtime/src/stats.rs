//! Wall-time statistics per job and per frame, in bounded memory.
//!
//! Counts, means and maxima cover every run. The 95th percentile and the
//! per-run samples (for charts) cover the most recent [`WINDOW`] runs, so a
//! runtime stepped for hours keeps a fixed footprint per job.

use std::time::Duration;

/// How many recent samples are kept per job (and for frames).
pub const WINDOW: usize = 4096;

/// Recent samples plus running totals of one timed thing, in milliseconds.
#[derive(Clone, Debug, Default)]
pub struct Samples {
    runs: u64,
    total_ms: f64,
    max_ms: f32,
    /// Ring buffer of the last `WINDOW` samples; `next` is the oldest once full.
    recent: Vec<f32>,
    next: usize,
}

impl Samples {
    /// Records one sample, ms.
    pub fn push(&mut self, ms: f32) {
        self.runs += 1;
        self.total_ms += f64::from(ms);
        self.max_ms = self.max_ms.max(ms);
        if self.recent.len() < WINDOW {
            self.recent.push(ms);
        } else {
            self.recent[self.next] = ms;
            self.next = (self.next + 1) % WINDOW;
        }
    }

    /// The recent samples, oldest first.
    pub fn recent(&self) -> impl Iterator<Item = f32> + '_ {
        self.recent[self.next..]
            .iter()
            .chain(&self.recent[..self.next])
            .copied()
    }

    /// Number of samples ever recorded.
    pub fn runs(&self) -> u64 {
        self.runs
    }

    /// Summary: exact count, mean and maximum; p95 of the recent window.
    pub fn summary(&self) -> Summary {
        if self.runs == 0 {
            return Summary::default();
        }
        let mut sorted = self.recent.clone();
        sorted.sort_unstable_by(f32::total_cmp);
        let rank = ((sorted.len() as f64) * 0.95).ceil() as usize;
        Summary {
            runs: self.runs,
            mean_ms: self.total_ms / self.runs as f64,
            p95_ms: f64::from(sorted[rank.clamp(1, sorted.len()) - 1]),
            max_ms: f64::from(self.max_ms),
        }
    }
}

/// One job's timings.
#[derive(Clone, Debug, Default)]
pub struct JobStats {
    /// The job's name.
    pub name: String,
    /// Wall time per run.
    pub samples: Samples,
    /// Runs that took longer than the job's budget.
    pub over_budget: u64,
    /// The zones the job opens directly inside itself (its phases), in the
    /// order first seen: per run that opened it, the time spent in it.
    pub inner: Vec<(String, Samples)>,
}

/// Mean, 95th percentile and maximum of a set of samples.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Summary {
    /// Number of samples.
    pub runs: u64,
    /// Arithmetic mean, ms.
    pub mean_ms: f64,
    /// 95th percentile (nearest rank) of the last [`WINDOW`] samples, ms.
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
        self.samples.push(elapsed.as_secs_f32() * 1000.0);
        if budget.is_some_and(|b| elapsed > b) {
            self.over_budget += 1;
        }
    }

    /// Records the inner zones of one run (see
    /// [`time_inner_zones`](crate::profiling::time_inner_zones)): the times
    /// of a name opened several times add up.
    pub fn record_inner(&mut self, spans: &[(String, Duration)]) {
        let mut run: Vec<(&str, Duration)> = Vec::new();
        for (name, t) in spans {
            match run.iter_mut().find(|(n, _)| n == name) {
                Some((_, sum)) => *sum += *t,
                None => run.push((name, *t)),
            }
        }
        for (name, t) in run {
            let ms = t.as_secs_f32() * 1000.0;
            match self.inner.iter_mut().find(|(n, _)| n == name) {
                Some((_, samples)) => samples.push(ms),
                None => {
                    let mut samples = Samples::default();
                    samples.push(ms);
                    self.inner.push((name.to_string(), samples));
                }
            }
        }
    }

    /// Summary of all runs so far.
    pub fn summary(&self) -> Summary {
        self.samples.summary()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_of_one_to_hundred() {
        let mut s = Samples::default();
        (1..=100).for_each(|i| s.push(i as f32));
        let s = s.summary();
        assert_eq!(s.runs, 100);
        assert!((s.mean_ms - 50.5).abs() < 1e-9);
        assert_eq!(s.p95_ms, 95.0);
        assert_eq!(s.max_ms, 100.0);
    }

    #[test]
    fn memory_is_bounded_and_totals_stay_exact() {
        let mut s = Samples::default();
        for i in 0..(3 * WINDOW) {
            s.push(if i == 10 { 1000.0 } else { 1.0 });
        }
        assert_eq!(s.recent().count(), WINDOW);
        let sum = s.summary();
        assert_eq!(sum.runs, 3 * WINDOW as u64);
        assert_eq!(sum.max_ms, 1000.0, "the maximum covers every run");
        assert_eq!(sum.p95_ms, 1.0, "the percentile covers the recent window");
        s.push(7.0);
        assert_eq!(s.recent().last(), Some(7.0), "oldest first, newest last");
    }

    #[test]
    fn inner_zones_of_a_run_add_up_by_name_in_the_order_first_seen() {
        let mut st = JobStats::new("x");
        let ms = Duration::from_millis;
        let span = |n: &str, t| (n.to_string(), t);
        st.record_inner(&[span("b", ms(1)), span("a", ms(2)), span("b", ms(3))]);
        st.record_inner(&[span("a", ms(4))]);
        let names: Vec<&str> = st.inner.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["b", "a"]);
        let (b, a) = (st.inner[0].1.summary(), st.inner[1].1.summary());
        assert_eq!((b.runs, b.max_ms), (1, 4.0));
        assert_eq!((a.runs, a.mean_ms), (2, 3.0));
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
