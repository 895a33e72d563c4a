//! The I/O actor: a thread that turns page requests into filled page
//! buffers, reading from the world file or generating what it lacks, and
//! writes and commits pages copied out of the world while the frame goes
//! on. It takes its jobs in the order they were sent, so a read sees every
//! write sent before it.

use flume::{Receiver, Sender};
use loam_runtime::profiling;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rayon::prelude::*;

use super::PageSource;
use crate::file::{FileError, PageBuf, SaveOptions, SaveStats, WorldFile};
use crate::io::PageIo;

/// One frame's requests.
pub(super) struct Batch {
    pub pages: Vec<(usize, PageBuf)>,
    pub sent: Instant,
}

/// What the actor is asked to do.
pub(super) enum Job {
    /// Read or generate a frame's pages.
    Load(Batch),
    /// Write pages, then commit if asked.
    Write(Write),
    /// Read one page as the file holds it once every earlier job is done.
    Peek(Peek),
    /// Hash the pages the file holds once every earlier job is done.
    HashStored(HashStored),
}

/// The pages the file holds but for `skip` (sorted), hashed for a caller
/// outside the frame loop.
pub(super) struct HashStored {
    pub skip: Vec<usize>,
    pub cells: usize,
    pub reply: Sender<Result<Option<u64>, FileError>>,
}

/// Pages copied out of the world, to write (uncommitted), then commit with
/// `commit`'s run state when it is there.
pub(super) struct Write {
    pub pages: Vec<(usize, PageBuf)>,
    pub commit: Option<Option<Vec<u8>>>,
    pub options: SaveOptions,
}

/// A write done: what it wrote, and its buffers back for reuse.
pub(super) struct Written {
    pub stats: Result<SaveStats, FileError>,
    pub bufs: Vec<PageBuf>,
}

/// One page read for a caller outside the frame loop.
pub(super) struct Peek {
    pub page: usize,
    pub buf: PageBuf,
    pub reply: Sender<Result<(PageBuf, bool), FileError>>,
}

/// One page read or generated.
pub(super) struct ServedPage {
    /// The page (dense index).
    pub page: usize,
    /// Its contents.
    pub buf: PageBuf,
    /// Whether it came from the file (otherwise it was generated).
    pub from_file: bool,
    /// Which of its channels (material, temperature, flags) hold one value
    /// in every cell: the frame fills those in place instead of copying.
    pub uniform: [bool; 3],
}

/// One frame's requests, served.
pub(super) struct Served {
    /// Each page, in the order asked for.
    pub pages: Vec<ServedPage>,
    /// Payload bytes read.
    pub bytes_read: u64,
    /// From the batch being sent to it being served.
    pub latency: Duration,
}

/// Where the actor sends what it did.
pub(super) struct Replies {
    pub served: Sender<Result<Served, FileError>>,
    pub written: Sender<Written>,
}

/// Does jobs until the request channel closes (after the jobs sent before
/// it closed).
pub(super) fn run(
    jobs: Receiver<Job>,
    replies: Replies,
    file: Arc<Mutex<WorldFile>>,
    mut io: Box<dyn PageIo>,
    source: Arc<dyn PageSource>,
) {
    profiling::name_thread("loam-io");
    let frames = profiling::FrameSet::new("io batches");
    let bytes_read = profiling::Plot::new("io bytes read");
    let bytes_written = profiling::Plot::new("io bytes written");
    let lock = || file.lock().unwrap_or_else(|e| e.into_inner());
    for job in jobs {
        match job {
            Job::Load(batch) => {
                let result = {
                    let _zone = profiling::zone("io.batch");
                    serve(batch, &file, io.as_mut(), source.as_ref())
                };
                if let Ok(served) = &result {
                    bytes_read.set(served.bytes_read as f64);
                }
                frames.mark();
                if replies.served.send(result).is_err() {
                    return;
                }
            }
            Job::Write(write) => {
                let _zone = profiling::zone("io.write");
                let stats = {
                    let mut file = lock();
                    file.write_bufs(&write.pages, &write.options)
                        .and_then(|pages| {
                            let Some(state) = &write.commit else {
                                return Ok(pages);
                            };
                            let dir = file.commit_with_state(state.as_deref())?;
                            Ok(SaveStats {
                                pages: pages.pages,
                                bytes: pages.bytes + dir.bytes,
                            })
                        })
                };
                if let Ok(s) = &stats {
                    bytes_written.set(s.bytes as f64);
                }
                let bufs = write.pages.into_iter().map(|(_, b)| b).collect();
                if replies.written.send(Written { stats, bufs }).is_err() {
                    return;
                }
            }
            Job::Peek(mut peek) => {
                let read = {
                    let file = lock();
                    crate::io::Pread::new(file.file())
                        .map_err(|source| FileError::Io {
                            path: file.path().to_path_buf(),
                            source,
                        })
                        .and_then(|mut pread| {
                            file.load_into(&mut [(peek.page, &mut peek.buf)], &mut pread)
                        })
                };
                let _ = peek.reply.send(read.map(|held| (peek.buf, held[0])));
            }
            Job::HashStored(job) => {
                let hash = hash_stored(&lock(), &job.skip, job.cells);
                let _ = job.reply.send(hash);
            }
        }
    }
}

/// Each page `file` holds but for those in `skip` (sorted), in page order:
/// its index and its channels as stored, hashed; `None` for no page.
fn hash_stored(file: &WorldFile, skip: &[usize], cells: usize) -> Result<Option<u64>, FileError> {
    let mut pread = crate::io::Pread::new(file.file()).map_err(|source| FileError::Io {
        path: file.path().to_path_buf(),
        source,
    })?;
    let mut buf = PageBuf::new(cells);
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    let mut any = false;
    for p in file.stored_pages() {
        if skip.binary_search(&p).is_ok() {
            continue;
        }
        any = true;
        file.load_into(&mut [(p, &mut buf)], &mut pread)?;
        h.update(&(p as u64).to_le_bytes());
        h.update(&buf.material);
        h.update(bytemuck::cast_slice(&buf.temperature));
        h.update(&buf.flags);
    }
    Ok(any.then(|| h.digest()))
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
    let uniform: Vec<[bool; 3]> = {
        let _zone = profiling::zone("io.find_uniform");
        pages.par_iter().map(|(_, buf)| buf.uniform()).collect()
    };
    Ok(Served {
        pages: pages
            .into_iter()
            .zip(held)
            .zip(uniform)
            .map(|(((page, buf), from_file), uniform)| ServedPage {
                page,
                buf,
                from_file,
                uniform,
            })
            .collect(),
        bytes_read,
        latency: batch.sent.elapsed(),
    })
}
