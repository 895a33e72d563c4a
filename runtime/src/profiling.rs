//! Tracy integration: a zone per job and zones inside them (the
//! automaton's phases, the phase pass's half-sweeps, the soft bodies'
//! substeps, the fields' substeps, the I/O thread's reads and generation,
//! saves and commits, world generation), frame marks for the frame and the
//! I/O thread, named threads, plots.
//!
//! With the `tracy` feature off the Tracy calls compile to nothing. With
//! it on, tracy-client is built with `only-localhost`, so the profiler
//! listens and announces itself on the loopback interface only.
//!
//! Either way, [`record_zones`] keeps the name of every zone opened from
//! then on, so a test can check that the zones a profile should show are
//! there (`recorded_zones`); until it is called a zone costs one relaxed
//! atomic load. And [`time_inner_zones`] times the zones a job opens
//! directly inside itself, on its own thread, for the report's per-job
//! breakdown without a profiler.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Whether zone names are being kept.
static RECORDING: AtomicBool = AtomicBool::new(false);

/// The names of the zones opened since [`record_zones`].
static RECORDED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// From now on, keeps the name of every zone opened, on every thread of
/// the process, for [`recorded_zones`].
pub fn record_zones() {
    RECORDING.store(true, Ordering::Relaxed);
}

/// The names of the zones opened since [`record_zones`] (on every thread
/// of the process), sorted.
pub fn recorded_zones() -> Vec<String> {
    let recorded = RECORDED.lock().unwrap_or_else(|e| e.into_inner());
    recorded.iter().cloned().collect()
}

/// Starts the Tracy client if the feature is on. Cheap to call repeatedly.
pub fn start() {
    #[cfg(feature = "tracy")]
    {
        let _ = tracy_client::Client::start();
    }
}

/// The zones opened on one thread while [`time_inner_zones`] runs there.
struct InnerZones {
    /// Zones open now, below the timed closure.
    depth: u32,
    /// Each outermost zone's name and time, in the order opened.
    spans: Vec<(String, Duration)>,
}

thread_local! {
    static INNER: RefCell<Option<InnerZones>> = const { RefCell::new(None) };
}

/// Runs `f`, timing the zones it opens on this thread that are not inside
/// another of its zones: returns what `f` returned and each zone's name and
/// time, in the order opened (a name opened twice appears twice). Zones
/// opened on other threads (rayon's workers) are not seen.
pub fn time_inner_zones<R>(f: impl FnOnce() -> R) -> (R, Vec<(String, Duration)>) {
    let outer = INNER.with(|i| {
        i.borrow_mut().replace(InnerZones {
            depth: 0,
            spans: Vec::new(),
        })
    });
    let result = f();
    let inner = INNER.with(|i| std::mem::replace(&mut *i.borrow_mut(), outer));
    (result, inner.map(|z| z.spans).unwrap_or_default())
}

/// A profiler zone; ends when dropped.
pub struct Zone {
    #[cfg(feature = "tracy")]
    _span: Option<tracy_client::Span>,
    /// Under [`time_inner_zones`]: this zone's index among the timed spans
    /// (when outermost) and when it opened.
    timed: Option<(Option<usize>, Instant)>,
}

impl Drop for Zone {
    fn drop(&mut self) {
        let Some((index, opened)) = self.timed else {
            return;
        };
        INNER.with(|i| {
            if let Some(z) = i.borrow_mut().as_mut() {
                z.depth = z.depth.saturating_sub(1);
                if let Some(span) = index.and_then(|k| z.spans.get_mut(k)) {
                    span.1 += opened.elapsed();
                }
            }
        });
    }
}

/// Opens a zone named `name`. Zones nest: one opened inside a job's zone
/// shows under it.
#[inline]
pub fn zone(name: &str) -> Zone {
    if RECORDING.load(Ordering::Relaxed) {
        let mut recorded = RECORDED.lock().unwrap_or_else(|e| e.into_inner());
        if !recorded.contains(name) {
            recorded.insert(name.to_string());
        }
    }
    let timed = INNER.with(|i| {
        let mut inner = i.borrow_mut();
        let z = inner.as_mut()?;
        z.depth += 1;
        let index = (z.depth == 1).then(|| {
            z.spans.push((name.to_string(), Duration::ZERO));
            z.spans.len() - 1
        });
        Some((index, Instant::now()))
    });
    #[cfg(feature = "tracy")]
    {
        Zone {
            _span: tracy_client::Client::running()
                .map(|c| c.span_alloc(Some(name), "job", file!(), line!(), 0)),
            timed,
        }
    }
    #[cfg(not(feature = "tracy"))]
    {
        Zone { timed }
    }
}

/// Marks the end of a frame.
#[inline]
pub fn frame_mark() {
    #[cfg(feature = "tracy")]
    if let Some(c) = tracy_client::Client::running() {
        c.frame_mark();
    }
}

/// The frames of a thread of its own (the I/O thread's batches), shown
/// beside the main frames: created once, marked at the end of each.
#[derive(Clone, Copy)]
pub struct FrameSet {
    #[cfg(feature = "tracy")]
    name: tracy_client::FrameName,
}

impl FrameSet {
    /// Creates the frame set `name` (leaked once with the feature on, as
    /// Tracy keeps it for the life of the program).
    pub fn new(name: &str) -> Self {
        #[cfg(feature = "tracy")]
        {
            Self {
                name: tracy_client::FrameName::new_leak(name.to_string()),
            }
        }
        #[cfg(not(feature = "tracy"))]
        {
            let _ = name;
            Self {}
        }
    }

    /// Marks the end of one of its frames.
    #[inline]
    pub fn mark(&self) {
        #[cfg(feature = "tracy")]
        if let Some(c) = tracy_client::Client::running() {
            c.secondary_frame_mark(self.name);
        }
    }
}

/// Names the calling thread in the profile.
pub fn name_thread(name: &str) {
    #[cfg(feature = "tracy")]
    if let Some(c) = tracy_client::Client::running() {
        c.set_thread_name(name);
    }
    #[cfg(not(feature = "tracy"))]
    let _ = name;
}

/// A named plot, created once and set every frame.
#[derive(Clone, Copy)]
pub struct Plot {
    #[cfg(feature = "tracy")]
    name: tracy_client::PlotName,
}

impl Plot {
    /// Creates the plot `name`. With the feature on, the name is leaked once
    /// (Tracy keeps plot names for the life of the program).
    pub fn new(name: &str) -> Self {
        #[cfg(feature = "tracy")]
        {
            Self {
                name: tracy_client::PlotName::new_leak(name.to_string()),
            }
        }
        #[cfg(not(feature = "tracy"))]
        {
            let _ = name;
            Self {}
        }
    }

    /// Whether a profiler is listening: a value costly to find need not be
    /// found otherwise.
    #[inline]
    pub fn is_on(&self) -> bool {
        #[cfg(feature = "tracy")]
        {
            tracy_client::Client::is_running()
        }
        #[cfg(not(feature = "tracy"))]
        false
    }

    /// Records `value` for this frame.
    #[inline]
    pub fn set(&self, value: f64) {
        #[cfg(feature = "tracy")]
        if let Some(c) = tracy_client::Client::running() {
            c.plot(self.name, value);
        }
        #[cfg(not(feature = "tracy"))]
        let _ = value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inner_zones_are_the_outermost_ones_opened_on_the_thread() {
        let ((), spans) = time_inner_zones(|| {
            {
                let _a = zone("a");
                let _nested = zone("nested");
                std::thread::sleep(Duration::from_millis(2));
            }
            std::thread::spawn(|| drop(zone("elsewhere")))
                .join()
                .unwrap();
            drop(zone("b"));
        });
        let names: Vec<&str> = spans.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert!(spans[0].1 >= Duration::from_millis(2), "{spans:?}");
        // Outside, nothing is timed.
        assert!(zone("c").timed.is_none());
    }
}
