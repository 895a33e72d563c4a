//! The I/O actor: a thread that turns page requests into filled page
//! buffers, reading from the world file or generating what it lacks.

use flume::{Receiver, Sender};
use loam_runtime::profiling;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rayon::prelude::*;

use super::PageSource;
use crate::file::{FileError, PageBuf, WorldFile};
use crate::io::PageIo;

/// One frame's requests.
pub(super) struct Batch {
    pub pages: Vec<(usize, PageBuf)>,
    pub sent: Instant,
}

/// One frame's requests, served.
pub(super) struct Served {
    /// Each page with its contents and whether it came from the file
    /// (otherwise it was generated).
    pub pages: Vec<(usize, PageBuf, bool)>,
    /// Payload bytes read.
    pub bytes_read: u64,
    /// From the batch being sent to it being served.
    pub latency: Duration,
}

/// Serves batches until the request channel closes.
pub(super) fn run(
    requests: Receiver<Batch>,
    served: Sender<Result<Served, FileError>>,
    file: Arc<Mutex<WorldFile>>,
    mut io: Box<dyn PageIo>,
    source: Arc<dyn PageSource>,
) {
    profiling::name_thread("loam-io");
    let frames = profiling::FrameSet::new("io batches");
    let bytes_read = profiling::Plot::new("io bytes read");
    for batch in requests {
        let result = {
            let _zone = profiling::zone("io.batch");
            serve(batch, &file, io.as_mut(), source.as_ref())
        };
        if let Ok(served) = &result {
            bytes_read.set(served.bytes_read as f64);
        }
        frames.mark();
        if served.send(result).is_err() {
            return;
        }
    }
}

fn serve(
    batch: Batch,
    file: &Mutex<WorldFile>,
    io: &mut dyn PageIo,
    source: &dyn PageSource,
) -> Result<Served, FileError> {
    let mut pages = batch.pages;
    let (held, bytes_read, layout) = {
        // A poisoned lock means a writer panicked mid-write; the committed
        // state on disk is still whole, and reads only use committed or
        // fully written entries, so reading on is safe.
        let file = file.lock().unwrap_or_else(|e| e.into_inner());
        let mut refs: Vec<(usize, &mut PageBuf)> = pages.iter_mut().map(|(p, b)| (*p, b)).collect();
        let _zone = profiling::zone("io.read_decode");
        let held = file.load_into(&mut refs, io)?;
        let bytes: u64 = pages
            .iter()
            .zip(&held)
            .filter(|(_, &h)| h)
            .map(|((p, _), _)| file.stored_bytes(*p))
            .sum();
        (held, bytes, file.layout())
    };
    {
        let _zone = profiling::zone("io.generate");
        pages
            .par_iter_mut()
            .zip(&held)
            .filter(|(_, &h)| !h)
            .for_each(|((p, buf), _)| source.generate(&layout, *p, buf));
    }
    Ok(Served {
        pages: pages
            .into_iter()
            .zip(held)
            .map(|((p, b), h)| (p, b, h))
            .collect(),
        bytes_read,
        latency: batch.sent.elapsed(),
    })
}
