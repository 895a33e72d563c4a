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
//! atomic load.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

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

/// A profiler zone; ends when dropped.
pub struct Zone {
    #[cfg(feature = "tracy")]
    _span: Option<tracy_client::Span>,
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
    #[cfg(feature = "tracy")]
    {
        Zone {
            _span: tracy_client::Client::running()
                .map(|c| c.span_alloc(Some(name), "job", file!(), line!(), 0)),
        }
    }
    #[cfg(not(feature = "tracy"))]
    {
        let _ = name;
        Zone {}
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
