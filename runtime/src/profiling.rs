//! Tracy integration: a zone per job, a frame mark per frame, plots.
//!
//! With the `tracy` feature off every type here is empty and every call
//! compiles to nothing. With it on, tracy-client is built with
//! `only-localhost`, so the profiler listens and announces itself on the
//! loopback interface only.

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

/// Opens a zone named `name` (a job name known only at run time).
#[inline]
pub fn zone(name: &str) -> Zone {
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
