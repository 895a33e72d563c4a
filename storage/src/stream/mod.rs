//! Streaming: which pages are resident, loading and generating the ones
//! observers will need, evicting the ones nobody needs.
//!
//! A [`Streamer`] runs once per frame, in two halves:
//!
//! 1. [`Streamer::install`] takes the pages asked for last frame from the
//!    I/O actor and installs them (waiting, and counting a stall, if the
//!    actor is not done yet), waking them and their neighbours.
//! 2. [`Streamer::plan`] works out the pages wanted now ([`wanted_pages`]),
//!    evicts least-recently-used pages nobody wants to make room (writing
//!    dirty ones back first, uncommitted, so a crash leaves the file at its
//!    last save), and sends the next requests, most urgent first and at
//!    most `load_per_frame` of them.
//!
//! The actor reads and decodes (or generates, for pages the file does not
//! hold) while the rest of the frame simulates, and writes: an evicted
//! page's write-back and a save are copies of the pages, which the actor
//! encodes, writes and commits while the frames go on
//! ([`Streamer::save_in_background`]). It takes jobs in the order they were
//! sent, so a page read back sees every write sent before it. Because pages asked for in
//! frame `f` always become resident at the start of frame `f + 1`, which
//! pages are resident when is decided by frame numbers alone, never by I/O
//! timing: a streamed world is as deterministic as one that fits in memory.

mod actor;
mod install;
mod requests;
mod wanted;

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

pub use requests::PageRequests;
pub use wanted::{wanted_pages, Viewpoint, Want};

use crate::file::{FileError, PageBuf, SaveOptions, SaveStats, WorldFile};
use crate::io::PageIo;
use crate::layout::WorldLayout;
use crate::page_table::PageState;
use crate::world::VoxelWorld;

/// Makes the contents of pages that the world file does not hold: a world's
/// implicit data, such as terrain from a seed.
pub trait PageSource: Send + Sync {
    /// Fills every cell of `buf` with page `p`'s contents.
    fn generate(&self, layout: &WorldLayout, p: usize, buf: &mut PageBuf);
}

/// How a streamer behaves.
#[derive(Clone, Copy, Debug)]
pub struct StreamConfig {
    /// Most pages sent to the I/O actor per frame.
    pub load_per_frame: usize,
    /// How far ahead (frames) observers' velocities are followed.
    pub lookahead: f64,
    /// How pages are encoded when written.
    pub save: SaveOptions,
}

impl Default for StreamConfig {
    fn default() -> Self {
        Self {
            load_per_frame: 256,
            lookahead: 60.0,
            save: SaveOptions::default(),
        }
    }
}

/// Counters over a streamer's life.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Pages read from the world file.
    pub pages_loaded: u64,
    /// Pages generated because the file did not hold them.
    pub pages_generated: u64,
    /// Pages evicted.
    pub pages_evicted: u64,
    /// Pages written (eviction write-backs and saves).
    pub pages_written: u64,
    /// Payload bytes read.
    pub bytes_read: u64,
    /// Payload and directory bytes written.
    pub bytes_written: u64,
    /// Frames that waited for the I/O actor.
    pub stalls: u64,
    /// Queued requests dropped because no observer wanted them any more.
    pub requests_cancelled: u64,
    /// Frames in which observers wanted more pages than fit the budget.
    pub over_budget_frames: u64,
    /// Absent pages other jobs asked for ([`Streamer::ask`]), such as the
    /// pages above a phase pass's columns.
    pub pages_asked: u64,
}

/// What of a [`Streamer`] carries from one frame to the next (see
/// [`Streamer::saved`]).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StreamerState {
    /// Resident pages and the frame each was last used in.
    pub resident: Vec<(usize, u64)>,
    /// The batch with the I/O actor, in the order it was sent, with
    /// priorities: installed at the start of the next frame's stream job.
    pub loading: Vec<(usize, f32)>,
    /// Wanted pages not yet asked for, in order, with priorities.
    pub queued: Vec<(usize, f32)>,
    /// Pages other jobs asked for since the last plan.
    pub asked: Vec<usize>,
}

/// What [`Streamer::install`] did this frame.
#[derive(Clone, Copy, Debug, Default)]
pub struct Installed {
    /// Pages installed.
    pub pages: usize,
    /// Time from the batch being sent to it being served, if there was one.
    pub latency: Option<Duration>,
    /// Whether the frame had to wait for the actor.
    pub stalled: bool,
}

/// Decides which pages are resident and moves them in and out.
pub struct Streamer {
    file: Arc<Mutex<WorldFile>>,
    requests: Option<flume::Sender<actor::Job>>,
    served: flume::Receiver<Result<actor::Served, FileError>>,
    written: flume::Receiver<actor::Written>,
    /// Write jobs sent whose outcome has not come back.
    writes_in_flight: usize,
    actor: Option<JoinHandle<()>>,
    io_name: &'static str,
    config: StreamConfig,
    /// The pages of the batch with the actor, in the order they were sent.
    in_flight: Option<Vec<usize>>,
    /// Wanted pages not yet asked for, in the order they would be.
    queued: Vec<usize>,
    /// Pages asked for since the last plan ([`Streamer::ask`]).
    asked: Vec<usize>,
    spare: Vec<PageBuf>,
    stats: StreamStats,
}

impl std::fmt::Debug for Streamer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Streamer")
            .field("io", &self.io_name)
            .field("config", &self.config)
            .field("stats", &self.stats)
            .finish()
    }
}

impl Streamer {
    /// A streamer over `file`, reading through `io` and generating what the
    /// file lacks with `source`. Starts the I/O actor thread.
    pub fn new(
        file: WorldFile,
        io: Box<dyn PageIo>,
        source: Arc<dyn PageSource>,
        config: StreamConfig,
    ) -> std::io::Result<Self> {
        let io_name = io.name();
        let file = Arc::new(Mutex::new(file));
        let (requests, requests_rx) = flume::unbounded();
        let (served_tx, served) = flume::unbounded();
        let (written_tx, written) = flume::unbounded();
        let replies = actor::Replies {
            served: served_tx,
            written: written_tx,
        };
        let actor_file = Arc::clone(&file);
        let actor = std::thread::Builder::new()
            .name("loam-io".into())
            .spawn(move || actor::run(requests_rx, replies, actor_file, io, source))?;
        Ok(Self {
            file,
            requests: Some(requests),
            served,
            written,
            writes_in_flight: 0,
            actor: Some(actor),
            io_name,
            config,
            in_flight: None,
            queued: Vec::new(),
            asked: Vec::new(),
            spare: Vec::new(),
            stats: StreamStats::default(),
        })
    }

    /// The I/O backend's name.
    pub fn io_name(&self) -> &'static str {
        self.io_name
    }

    /// Counters so far.
    pub fn stats(&self) -> StreamStats {
        self.stats
    }

    /// The run state the file's last commit saved, if it saved one.
    pub fn committed_state(&self) -> Result<Option<Vec<u8>>, FileError> {
        self.file().state()
    }

    /// Whether the file has never been committed to since it was created.
    pub fn file_is_new(&self) -> bool {
        let file = self.file();
        file.header().sequence == 1 && file.entries().is_empty()
    }

    /// Makes the world file's reads and writes fail on purpose as `faults`
    /// says ([`WorldFile::inject_faults`]), from the I/O thread's next job.
    pub fn inject_faults(&self, faults: Option<crate::file::Faults>) {
        self.file().inject_faults(faults);
    }

    /// Faults injected so far ([`WorldFile::faults_injected`]).
    pub fn faults_injected(&self) -> u64 {
        self.file().faults_injected()
    }

    /// Sets the most pages sent to the I/O actor per frame, from the next
    /// plan on (the adaptive LOD's cap on page loads).
    pub fn set_load_per_frame(&mut self, pages: usize) {
        self.config.load_per_frame = pages.max(1);
    }

    /// Pages wanted but not yet asked for.
    pub fn queued(&self) -> usize {
        self.queued.len()
    }

    fn file(&self) -> std::sync::MutexGuard<'_, WorldFile> {
        self.file.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Installs the pages asked for last frame, waiting for the actor if it
    /// is not done (a stall). Each installed page and its resident
    /// neighbours are woken: cells may now move into it, and any flags it
    /// was saved with are cleared by the simulation's next frame.
    pub fn install(&mut self, world: &mut VoxelWorld) -> Result<Installed, FileError> {
        // A write that failed fails the frame that learns of it; the file
        // is still at its last commit.
        self.collect_writes(false)?;
        if self.in_flight.is_none() {
            return Ok(Installed::default());
        }
        let mut done = Installed::default();
        let served = match self.served.try_recv() {
            Ok(s) => s,
            Err(flume::TryRecvError::Empty) => {
                let _zone = loam_runtime::profiling::zone("storage.stall");
                done.stalled = true;
                self.stats.stalls += 1;
                self.served.recv().map_err(|_| actor_gone())?
            }
            Err(flume::TryRecvError::Disconnected) => return Err(actor_gone()),
        };
        self.in_flight = None;
        let served = served?;
        self.stats.bytes_read += served.bytes_read;
        done.latency = Some(served.latency);
        let _zone = loam_runtime::profiling::zone("storage.install");
        // A slot for every page, then their cells, pages in parallel; `plan`
        // freed a slot for every page it asked for, and should one be
        // missing the page goes back to absent and is asked for again.
        let mut placed: Vec<(usize, usize)> = Vec::with_capacity(served.pages.len());
        for (k, page) in served.pages.iter().enumerate() {
            match world.place(page.page) {
                Some(slot) => placed.push((slot, k)),
                None => world.table.set_state(page.page, PageState::Absent),
            }
        }
        install::fill_slots(world, &placed, &served.pages);
        for &(_, k) in &placed {
            let page = &served.pages[k];
            world.wake_around(page.page);
            done.pages += 1;
            if page.from_file {
                self.stats.pages_loaded += 1;
            } else {
                self.stats.pages_generated += 1;
            }
        }
        self.spare
            .extend(served.pages.into_iter().map(|page| page.buf));
        Ok(done)
    }

    /// Asks for `pages` at the next [`Streamer::plan`], after the pages the
    /// viewpoints want: a job that found it needs them (the phase pass,
    /// whose columns reached an absent page) gets them a frame or two
    /// later. They are wanted at that plan, so not evicted by it; after
    /// that, their uses keep them in the page table's LRU.
    pub fn ask(&mut self, pages: &[usize]) {
        self.asked.extend_from_slice(pages);
    }

    /// Plans frame `frame`: marks the pages `viewpoints` want as used,
    /// evicts unwanted pages if the next requests need their slots, and
    /// sends up to `load_per_frame` requests (`cap` overrides it, for a
    /// first load that must be complete). With no viewpoints every page of
    /// the world is wanted.
    pub fn plan(
        &mut self,
        world: &mut VoxelWorld,
        viewpoints: &[Viewpoint],
        frame: u64,
        cap: Option<usize>,
    ) -> Result<(), FileError> {
        let layout = *world.layout();
        let wants: Vec<Want> = if viewpoints.is_empty() {
            // Without observers the whole world is wanted, if it fits.
            let pages = if layout.page_count() <= world.capacity() {
                layout.page_count()
            } else {
                0
            };
            (0..pages).map(|page| Want { page, frames: 0.0 }).collect()
        } else {
            wanted_pages(&layout, viewpoints, self.config.lookahead)
        };
        let mut wants = wants;
        let mut wanted: Vec<usize> = wants.iter().map(|w| w.page).collect();
        wanted.sort_unstable();
        // Pages other jobs asked for come after the viewpoints' own.
        let mut asked = std::mem::take(&mut self.asked);
        asked.sort_unstable();
        asked.dedup();
        asked.retain(|&p| {
            p < layout.page_count()
                && wanted.binary_search(&p).is_err()
                && world.table.resident_slot(p).is_none()
        });
        self.stats.pages_asked += asked.len() as u64;
        wants.extend(asked.iter().map(|&page| Want { page, frames: 0.0 }));
        wanted.extend(asked);
        wanted.sort_unstable();
        let is_wanted = |p: usize| wanted.binary_search(&p).is_ok();
        if wants.len() > world.capacity() {
            self.stats.over_budget_frames += 1;
        }

        // Wanted pages stay; requests go out most urgent first.
        let mut missing = Vec::new();
        for w in wants.iter().take(world.capacity()) {
            if world.table.resident_slot(w.page).is_some() {
                world.table.set_last_use(w.page, frame);
            } else {
                missing.push(*w);
            }
        }
        // Last frame's queue is rebuilt below; its pages go back to absent
        // (counted as cancelled when nobody wants them any more).
        for &p in &self.queued {
            if world.table.state(p) == PageState::Requested {
                world.table.set_state(p, PageState::Absent);
                if !is_wanted(p) {
                    self.stats.requests_cancelled += 1;
                }
            }
        }

        let cap = cap.unwrap_or(self.config.load_per_frame);
        let mut send = missing.len().min(cap);
        let free = world.capacity() - world.resident_count();
        if free < send {
            let mut victims: Vec<(u64, usize)> = world
                .resident_pages()
                .into_iter()
                .filter(|&p| !is_wanted(p))
                .map(|p| (world.table.last_use(p), p))
                .collect();
            victims.sort_unstable();
            victims.truncate(send - free);
            let victims: Vec<usize> = victims.into_iter().map(|(_, p)| p).collect();
            self.evict(world, &victims)?;
            send = send.min(world.capacity() - world.resident_count());
        }

        let load: Vec<(usize, f32)> = missing[..send].iter().map(|w| (w.page, w.frames)).collect();
        self.send(world, &load)?;
        self.queued = missing[send..].iter().map(|w| w.page).collect();
        for w in &missing[send..] {
            world.table.set_state(w.page, PageState::Requested);
            world.table.set_priority(w.page, w.frames);
        }
        Ok(())
    }

    /// Sends `pages` (with their priorities) to the actor as one batch, to
    /// be installed by the next [`Streamer::install`]; nothing for none.
    fn send(&mut self, world: &mut VoxelWorld, pages: &[(usize, f32)]) -> Result<(), FileError> {
        if pages.is_empty() {
            return Ok(());
        }
        let cells = world.layout().page_cells();
        let mut batch = Vec::with_capacity(pages.len());
        for &(p, priority) in pages {
            world.table.set_state(p, PageState::Loading);
            world.table.set_priority(p, priority);
            let buf = self.spare.pop().unwrap_or_else(|| PageBuf::new(cells));
            batch.push((p, buf));
        }
        self.send_job(actor::Job::Load(actor::Batch {
            pages: batch,
            sent: std::time::Instant::now(),
        }))?;
        self.in_flight = Some(pages.iter().map(|&(p, _)| p).collect());
        Ok(())
    }

    /// What of the streamer carries from one frame to the next, read
    /// between frames: which pages are resident and when each was last
    /// used, the batch with the actor and the queue behind it.
    pub fn saved(&self, world: &VoxelWorld) -> StreamerState {
        let with_priority = |p: usize| (p, world.table.priority(p));
        StreamerState {
            resident: world
                .resident_pages()
                .into_iter()
                .map(|p| (p, world.table.last_use(p)))
                .collect(),
            loading: self
                .in_flight
                .iter()
                .flatten()
                .map(|&p| with_priority(p))
                .collect(),
            queued: self.queued.iter().map(|&p| with_priority(p)).collect(),
            asked: self.asked.clone(),
        }
    }

    /// Puts the streamer and `world` back as [`Streamer::saved`] found them,
    /// with the pages' contents as the file holds them: evicts what is
    /// resident now, loads the saved resident pages (waiting for them),
    /// sends the saved batch and queues the rest. The world's activity
    /// (which pages are awake) is the caller's to restore after.
    pub fn restore(
        &mut self,
        world: &mut VoxelWorld,
        state: &StreamerState,
    ) -> Result<(), FileError> {
        let layout = *world.layout();
        let outside = state
            .resident
            .iter()
            .map(|&(p, _)| p)
            .chain(state.loading.iter().map(|&(p, _)| p))
            .chain(state.queued.iter().map(|&(p, _)| p))
            .chain(state.asked.iter().copied())
            .find(|&p| p >= layout.page_count());
        let path = self.file().path().to_path_buf();
        let misfit = |what: String| FileError::Corrupt {
            path: path.clone(),
            what: format!("the saved streaming state does not fit this world: {what}"),
        };
        if let Some(p) = outside {
            return Err(misfit(format!("page {p} is outside it")));
        }
        let holding = state.resident.len() + state.loading.len();
        if holding > world.capacity() {
            return Err(misfit(format!(
                "it held {holding} pages resident or loading, the budget is {} \
                 (resident_pages must be at least what it was when saved)",
                world.capacity()
            )));
        }
        self.install(world)?;
        let resident = world.resident_pages();
        self.evict(world, &resident)?;
        for &p in &self.queued {
            world.table.set_state(p, PageState::Absent);
        }
        let load: Vec<(usize, f32)> = state.resident.iter().map(|&(p, _)| (p, 0.0)).collect();
        self.send(world, &load)?;
        self.install(world)?;
        for &(p, last_use) in &state.resident {
            if world.table.resident_slot(p).is_none() {
                return Err(misfit(format!("page {p} could not be loaded")));
            }
            world.table.set_last_use(p, last_use);
        }
        self.send(world, &state.loading)?;
        self.queued = state.queued.iter().map(|&(p, _)| p).collect();
        for &(p, priority) in &state.queued {
            world.table.set_state(p, PageState::Requested);
            world.table.set_priority(p, priority);
        }
        self.asked = state.asked.clone();
        Ok(())
    }

    /// Evicts `pages`, sending copies of the dirty ones to be written back
    /// (uncommitted) first.
    fn evict(&mut self, world: &mut VoxelWorld, pages: &[usize]) -> Result<(), FileError> {
        let _zone = loam_runtime::profiling::zone("storage.evict");
        let dirty: Vec<usize> = pages
            .iter()
            .copied()
            .filter(|&p| world.table.state(p) == PageState::Dirty)
            .collect();
        self.write_in_background(world, &dirty, None)?;
        for &p in pages {
            world.evict(p);
        }
        self.stats.pages_evicted += pages.len() as u64;
        Ok(())
    }

    /// Copies `pages` (the resident ones) out of `world` and sends them to
    /// the actor to write, then to commit with `commit`'s state when given.
    fn write_in_background(
        &mut self,
        world: &VoxelWorld,
        pages: &[usize],
        commit: Option<Option<&[u8]>>,
    ) -> Result<(), FileError> {
        if pages.is_empty() && commit.is_none() {
            return Ok(());
        }
        let cells = world.layout().page_cells();
        let copies: Vec<(usize, PageBuf)> = {
            let _zone = loam_runtime::profiling::zone("storage.copy_pages");
            pages
                .iter()
                .filter_map(|&p| {
                    let mut buf = self.spare.pop().unwrap_or_else(|| PageBuf::new(cells));
                    if buf.copy_from(world, p) {
                        Some((p, buf))
                    } else {
                        self.spare.push(buf);
                        None
                    }
                })
                .collect()
        };
        self.send_job(actor::Job::Write(actor::Write {
            pages: copies,
            commit: commit.map(|state| state.map(<[u8]>::to_vec)),
            options: self.config.save,
        }))?;
        self.writes_in_flight += 1;
        Ok(())
    }

    fn send_job(&self, job: actor::Job) -> Result<(), FileError> {
        let requests = self.requests.as_ref().ok_or_else(actor_gone)?;
        requests.send(job).map_err(|_| actor_gone())
    }

    /// Takes the outcomes of finished writes (all of them, waiting, with
    /// `wait`), counting what they wrote; the first failure is returned.
    fn collect_writes(&mut self, wait: bool) -> Result<SaveStats, FileError> {
        let mut total = SaveStats::default();
        let mut failed = None;
        while self.writes_in_flight > 0 {
            let done = if wait {
                self.written.recv().map_err(|_| actor_gone())?
            } else {
                match self.written.try_recv() {
                    Ok(done) => done,
                    Err(flume::TryRecvError::Empty) => break,
                    Err(flume::TryRecvError::Disconnected) => return Err(actor_gone()),
                }
            };
            self.writes_in_flight -= 1;
            self.spare.extend(done.bufs);
            match done.stats {
                Ok(s) => {
                    total.pages += s.pages;
                    total.bytes += s.bytes;
                }
                Err(e) => {
                    failed.get_or_insert(e);
                }
            }
        }
        self.stats.pages_written += total.pages as u64;
        self.stats.bytes_written += total.bytes;
        failed.map_or(Ok(total), Err)
    }

    /// Reads page `p` as the world file holds it once every write sent
    /// before is done (its last save, or a later write-back on eviction)
    /// into `buf`; `Ok(false)` when the file does not hold it. For reading
    /// a page that is not resident, outside the frame loop.
    pub fn read_page(&self, p: usize, buf: &mut PageBuf) -> Result<bool, FileError> {
        let (reply, answer) = flume::bounded(1);
        self.send_job(actor::Job::Peek(actor::Peek {
            page: p,
            buf: PageBuf::new(buf.material.len()),
            reply,
        }))?;
        let (read, held) = answer.recv().map_err(|_| actor_gone())??;
        *buf = read;
        Ok(held)
    }

    /// A hash of every page the world file holds (committed or written
    /// back since) that `world` does not hold resident, as the file holds
    /// it once every write sent before is done: with the resident pages'
    /// own hash, a streamed world's whole state, since the pages in
    /// neither are the ones generated and never changed. `None` when there
    /// are none.
    pub fn hash_stored(&self, world: &VoxelWorld) -> Result<Option<u64>, FileError> {
        let (reply, answer) = flume::bounded(1);
        let mut skip = world.resident_pages();
        skip.sort_unstable();
        self.send_job(actor::Job::HashStored(actor::HashStored {
            skip,
            cells: world.layout().page_cells(),
            reply,
        }))?;
        answer.recv().map_err(|_| actor_gone())?
    }

    /// Sends every dirty resident page to be written and committed,
    /// crash-safely, with the run's `state` when given (see
    /// [`WorldFile::commit_with_state`]), and returns at once: the I/O
    /// thread encodes, writes and commits while the frames go on. The pages
    /// are copied now, so the commit holds the world as it is now, whenever
    /// the disk finishes. A failure is returned by a later frame's
    /// [`Streamer::install`] (or [`Streamer::flush`]); the file is then at
    /// its last commit.
    pub fn save_in_background(
        &mut self,
        world: &mut VoxelWorld,
        state: Option<&[u8]>,
    ) -> Result<(), FileError> {
        let dirty: Vec<usize> = world.table.pages_in(PageState::Dirty).collect();
        self.write_in_background(world, &dirty, Some(state))?;
        world.table.mark_all_clean();
        Ok(())
    }

    /// Waits for every write sent to the I/O thread; returns what they
    /// wrote, or the first failure.
    pub fn flush(&mut self) -> Result<SaveStats, FileError> {
        self.collect_writes(true)
    }

    /// [`Streamer::save_in_background`], then waits for it (and every write
    /// before it): after this the file holds the whole world as it is now.
    /// Returns what the writes waited for wrote.
    pub fn save(
        &mut self,
        world: &mut VoxelWorld,
        state: Option<&[u8]>,
    ) -> Result<SaveStats, FileError> {
        self.save_in_background(world, state)?;
        self.flush()
    }
}

impl Drop for Streamer {
    fn drop(&mut self) {
        // Closing the request channel ends the actor's loop.
        self.requests.take();
        if let Some(actor) = self.actor.take() {
            let _ = actor.join();
        }
    }
}

fn actor_gone() -> FileError {
    FileError::Io {
        path: "<io actor>".into(),
        source: std::io::Error::other("the I/O actor thread stopped"),
    }
}
