//! The `.loam` world file: `FORMAT.md` beside this crate is its specification.
//!
//! Temperatures are stored little-endian and decoded straight into the
//! pool's `f32`s, so this module builds only for little-endian targets.
//!
//! ```
//! use loam_storage::file::{SaveOptions, WorldFile};
//! use loam_storage::{VoxelWorld, WorldLayout};
//!
//! let dir = std::env::temp_dir().join(format!("loam-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let path = dir.join("tiny.loam");
//! let layout = WorldLayout::new([32, 32, 32], 16).unwrap();
//! let mut world = VoxelWorld::new(layout, 0, 293.15);
//! world.set_cell([1, 2, 3], 5, 400.0);
//!
//! let mut file = WorldFile::create(&path, layout, 7).unwrap();
//! let all: Vec<usize> = (0..layout.page_count()).collect();
//! file.save(&world, &all, &SaveOptions::default()).unwrap();
//!
//! // One writer at a time: while `file` is open, no one else opens it.
//! assert!(WorldFile::open_read_only(&path).is_err());
//! drop(file);
//! let reopened = WorldFile::open_read_only(&path).unwrap();
//! let mut copy = VoxelWorld::new(layout, 0, 0.0);
//! for p in all {
//!     reopened.load_page(&mut copy, p).unwrap();
//! }
//! assert_eq!(copy.hash(), world.hash());
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```

pub mod codec;
mod compact;
mod directory;
mod faults;
pub mod header;
mod lock;
mod read;
mod space;
mod write;

pub use compact::DamagedPages;
use directory::read_directory;
pub use directory::{Entry, ENTRY_BYTES};
pub use faults::Faults;
pub use lock::Access;
pub use space::{FreeSpace, KeptCommit};

#[cfg(not(target_endian = "little"))]
compile_error!("the .loam reader decodes little-endian channels in place");

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use codec::Codec;
use header::{
    BlockRef, Header, SlotError, ALIGN, CHANNEL_NAMES, CHANNEL_TYPES, SLOT_BYTES, SLOT_OFFSETS,
    VERSION,
};

use crate::layout::WorldLayout;
use crate::morton::PageId;
use crate::world::VoxelWorld;

/// Why a world file could not be opened, read or written.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The operating system refused.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The header or directory is unusable.
    #[error("{path}: {what}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong, and where.
        what: String,
    },
    /// The file does not hold every page of its world, and nothing was
    /// given to make the others.
    #[error(
        "{path}: holds {held} of the world's {total} pages; the others come from the \
         scenario's fills, which the file does not record: export the scenario instead \
         (`loam export-zarr SCENARIO.toml OUT.zarr`)"
    )]
    Incomplete {
        /// The file.
        path: PathBuf,
        /// Pages it holds.
        held: usize,
        /// Pages of its world.
        total: usize,
    },
    /// Pages whose stored data is damaged, found where they must not be
    /// (a compaction: see [`DamagedPages`]).
    #[error(
        "{path}: {} damaged pages, so it was not compacted: {}; compact with `--damaged drop` \
         to leave them out (a streamed world makes them again from its scenario) or \
         `--damaged keep` to copy them as they are",
        .pages.len(),
        .pages.join("; ")
    )]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What is wrong with each damaged page.
        pages: Vec<String>,
    },
    /// Another process holds a lock that excludes this one (see [`Access`]).
    #[error("{path}: {}", locked_message(*.wanted, .holder.as_deref()))]
    Locked {
        /// The file.
        path: PathBuf,
        /// The access this process asked for.
        wanted: Access,
        /// Who holds the file, where Linux says (`/proc/locks`).
        holder: Option<String>,
    },
    /// The file cannot be opened for writing, and writing was asked for.
    #[error(
        "{path}: not writable here ({source}), and this writes to it (a streamed run writes \
         evicted pages and saves to its world file): use a writable copy; `loam inspect` and \
         `loam export-zarr` read it as it is"
    )]
    NotWritable {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A write through a world file opened read-only.
    #[error("{path}: opened read-only, not for writing")]
    ReadOnly {
        /// The file.
        path: PathBuf,
    },
    /// A write after a commit failed part way through writing its header:
    /// the file holds that commit or the one before it, each whole, and
    /// only reopening it tells which.
    #[error(
        "{path}: an earlier commit failed while its header was written; reopen the file, \
         which opens at that commit or the one before it, each whole"
    )]
    CommitInDoubt {
        /// The file.
        path: PathBuf,
    },
    /// A commit through a file opened at one of its older commits
    /// ([`WorldFile::open_commit_to_write`]): the file's newest header
    /// would still win on reopening.
    #[error(
        "{path}: opened at commit {opened}, older than its newest commit {newest}: pages \
         written on top of it are this run's only, never committed"
    )]
    OlderCommit {
        /// The file.
        path: PathBuf,
        /// The commit it was opened at.
        opened: u64,
        /// The file's newest commit.
        newest: u64,
    },
    /// One page's stored data is unusable.
    #[error("{path}: page {id:#x} at page coordinates {coord:?}, channel {channel}: {what}")]
    Page {
        /// The file.
        path: PathBuf,
        /// The page id (Morton code).
        id: u64,
        /// The page's coordinates.
        coord: [u32; 3],
        /// The channel.
        channel: &'static str,
        /// What is wrong.
        what: String,
    },
}

fn locked_message(wanted: Access, holder: Option<&str>) -> String {
    let holder = holder.unwrap_or("another process");
    match wanted {
        Access::Write => format!(
            "in use by {holder}; a world file is written by one process at a time, and not \
             while another reads it"
        ),
        Access::Read => {
            format!("being written by {holder}; read it once that process has finished")
        }
    }
}

/// How to save.
#[derive(Clone, Copy, Debug)]
pub struct SaveOptions {
    /// zstd level for varied pages.
    pub zstd_level: i32,
}

impl Default for SaveOptions {
    fn default() -> Self {
        Self { zstd_level: 3 }
    }
}

/// What a save wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SaveStats {
    /// Pages written.
    pub pages: usize,
    /// Payload and directory bytes written.
    pub bytes: u64,
}

/// An open world file: its committed header and directory.
pub struct WorldFile {
    path: PathBuf,
    file: File,
    /// Whether it may be written, and so which lock it holds.
    access: Access,
    header: Header,
    /// Which slot holds `header`.
    slot: usize,
    layout: WorldLayout,
    /// Sorted by (page id, channel).
    entries: Vec<Entry>,
    /// Pages written since the last commit, by page id: readable now,
    /// durable once [`WorldFile::commit`] returns.
    pending: BTreeMap<u64, [Entry; 3]>,
    /// The end of allocated space: where a write goes that no free extent
    /// holds.
    cursor: u64,
    /// Space no kept commit uses (FORMAT.md, "Space block").
    free: FreeSpace,
    /// The older commits the committed one keeps readable, newest first.
    kept: Vec<KeptCommit>,
    /// How many commits, the newest included, stay readable.
    keep_commits: u64,
    /// Reads and writes failing on purpose ([`WorldFile::inject_faults`]).
    faults: Option<faults::Injector>,
    /// Whether page reads skip their payloads' CRCs ([`WorldFile::trust`]).
    trusted: bool,
    /// Whether a commit failed once its header slot may have been written:
    /// the slot on disk may then name that commit or the one before, and
    /// only reopening the file tells which.
    header_in_doubt: bool,
    /// The file's newest commit, which a commit must follow: the opened
    /// one, unless opened at an older one
    /// ([`WorldFile::open_commit_to_write`]).
    newest: u64,
}

/// How many commits a writer keeps readable unless told otherwise
/// ([`WorldFile::set_keep_commits`]): the last and the one before it, so
/// that space is reused once two later commits have superseded it.
pub const DEFAULT_KEEP_COMMITS: u64 = 2;

/// One page's channels outside the pool: where the I/O actor decodes and
/// the generator writes before the page is installed.
#[derive(Clone, Debug, PartialEq)]
pub struct PageBuf {
    /// Material ids, x fastest.
    pub material: Vec<u8>,
    /// Temperatures, x fastest.
    pub temperature: Vec<f32>,
    /// Flags, x fastest.
    pub flags: Vec<u8>,
}

impl PageBuf {
    /// A page of `cells` cells, all zero.
    pub fn new(cells: usize) -> Self {
        Self {
            material: vec![0; cells],
            temperature: vec![0.0; cells],
            flags: vec![0; cells],
        }
    }

    /// Copies page `p` out of `world`, as a save stores it: a cell part way
    /// through a phase change with its latent heat added to its
    /// temperature. False (and the buffer as it was) if `p` is not
    /// resident.
    pub fn copy_from(&mut self, world: &VoxelWorld, p: usize) -> bool {
        let Some(view) = world.page(p) else {
            return false;
        };
        self.material.copy_from_slice(view.material);
        self.temperature.copy_from_slice(view.temperature);
        if view.latent.iter().any(|&l| l != 0.0) {
            for (t, &l) in self.temperature.iter_mut().zip(view.latent) {
                *t += l;
            }
        }
        self.flags.copy_from_slice(view.flags);
        true
    }

    /// Which channels (material, temperature, flags) hold one value in
    /// every cell (temperatures compared bit for bit).
    pub fn uniform(&self) -> [bool; 3] {
        fn same<T: Copy + PartialEq>(cells: &[T]) -> bool {
            cells.first().is_none_or(|&v| cells.iter().all(|&c| c == v))
        }
        let temperature: &[u32] = bytemuck::cast_slice(&self.temperature);
        [same(&self.material), same(temperature), same(&self.flags)]
    }

    /// Copies the page into `world`'s slot for page `p`; false if `p` is
    /// not resident.
    pub fn install(&self, world: &mut VoxelWorld, p: usize) -> bool {
        let Some(view) = world.page_mut(p) else {
            return false;
        };
        view.material.copy_from_slice(&self.material);
        view.temperature.copy_from_slice(&self.temperature);
        view.latent.fill(0.0);
        view.flags.copy_from_slice(&self.flags);
        true
    }
}

impl std::fmt::Debug for WorldFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorldFile")
            .field("path", &self.path)
            .field("header", &self.header)
            .field("entries", &self.entries.len())
            .finish()
    }
}

fn align_up(v: u64) -> u64 {
    v.div_ceil(ALIGN) * ALIGN
}

impl WorldFile {
    /// Creates a new, empty world file (an existing file is an error), with
    /// no generator fingerprint (see [`WorldFile::create_for`]).
    pub fn create(path: &Path, layout: WorldLayout, seed: u64) -> Result<Self, FileError> {
        Self::create_for(path, layout, seed, 0)
    }

    /// Creates a new, empty world file (an existing file is an error) whose
    /// absent pages are made by the generator with fingerprint `generator`
    /// ([`Header::generator`]).
    pub fn create_for(
        path: &Path,
        layout: WorldLayout,
        seed: u64,
        generator: u64,
    ) -> Result<Self, FileError> {
        let io = |source| FileError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(io)?;
        lock::lock(&file, path, Access::Write)?;
        let header = Header {
            version: VERSION,
            sequence: 1,
            size: layout.size,
            page: layout.page,
            seed,
            dir_offset: ALIGN,
            dir_count: 0,
            dir_crc: crc32fast::hash(&[]),
            end: ALIGN,
            generator,
            state: None,
            space: None,
        };
        let mut start = vec![0u8; ALIGN as usize];
        start[..SLOT_BYTES].copy_from_slice(&header.encode());
        file.write_all_at(&start, 0).map_err(io)?;
        file.sync_all().map_err(io)?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
            access: Access::Write,
            header,
            slot: 0,
            layout,
            entries: Vec::new(),
            pending: BTreeMap::new(),
            cursor: ALIGN,
            free: FreeSpace::default(),
            kept: Vec::new(),
            keep_commits: DEFAULT_KEEP_COMMITS,
            faults: None,
            trusted: false,
            header_in_doubt: false,
            newest: header.sequence,
        })
    }

    /// Opens and checks a world file for reading and writing, by this
    /// process alone ([`Access::Write`]): the newest valid header slot, and
    /// its directory. Page payloads are checked when they are read.
    pub fn open(path: &Path) -> Result<Self, FileError> {
        Self::open_for(path, Access::Write)
    }

    /// Opens and checks a world file for reading only, beside other readers
    /// ([`Access::Read`]): a file without write permission opens.
    pub fn open_read_only(path: &Path) -> Result<Self, FileError> {
        Self::open_for(path, Access::Read)
    }

    /// Opens `path` for `access` and takes its lock, again if a compaction
    /// replaced the file between the two.
    fn open_for(path: &Path, access: Access) -> Result<Self, FileError> {
        let io = |source| FileError::Io {
            path: path.to_path_buf(),
            source,
        };
        for _ in 0..8 {
            let file = OpenOptions::new()
                .read(true)
                .write(access == Access::Write)
                .open(path)
                .map_err(|source| match source.kind() {
                    std::io::ErrorKind::PermissionDenied
                        if access == Access::Write && File::open(path).is_ok() =>
                    {
                        FileError::NotWritable {
                            path: path.to_path_buf(),
                            source,
                        }
                    }
                    _ => io(source),
                })?;
            if lock::lock(&file, path, access)? {
                return Self::read_committed(path, file, access);
            }
        }
        Err(FileError::Corrupt {
            path: path.to_path_buf(),
            what: "the file was replaced while it was being opened, again and again".into(),
        })
    }

    /// Reads and checks the committed header and directory of `file`.
    fn read_committed(path: &Path, file: File, access: Access) -> Result<Self, FileError> {
        let io = |source| FileError::Io {
            path: path.to_path_buf(),
            source,
        };
        let corrupt = |what: String| FileError::Corrupt {
            path: path.to_path_buf(),
            what,
        };
        let len = file.metadata().map_err(io)?.len();
        if len < ALIGN {
            return Err(corrupt(format!(
                "file of {len} bytes is shorter than its header area ({ALIGN})"
            )));
        }
        let mut slots = Vec::new();
        let mut problems = Vec::new();
        for (i, &at) in SLOT_OFFSETS.iter().enumerate() {
            let mut b = [0u8; SLOT_BYTES];
            file.read_exact_at(&mut b, at).map_err(io)?;
            match Header::decode(&b) {
                Ok(h) => slots.push((h, i)),
                Err(SlotError::Unreadable(e)) => {
                    return Err(corrupt(format!("header slot {}: {e}", ["A", "B"][i])));
                }
                Err(SlotError::Torn(e)) => {
                    problems.push(format!("header slot {}: {e}", ["A", "B"][i]))
                }
            }
        }
        let Some(&(header, slot)) = slots.iter().max_by_key(|(h, _)| h.sequence) else {
            return Err(corrupt(problems.join("; ")));
        };
        let layout = WorldLayout::new(header.size, header.page)
            .map_err(|e| corrupt(format!("header: {e}")))?;
        let entries = read_directory(path, &file, &header, &layout, len)?;
        let (kept, free) = match header.space {
            None => (Vec::new(), FreeSpace::default()),
            Some(space) => {
                let bytes = read_block(path, &file, space, len, "space block")?;
                space::decode(&bytes, header.sequence, header.end).map_err(|what| {
                    corrupt(format!("space block at offset {}: {what}", space.offset))
                })?
            }
        };
        Ok(Self {
            path: path.to_path_buf(),
            file,
            access,
            header,
            slot,
            layout,
            entries,
            pending: BTreeMap::new(),
            cursor: align_up(header.end),
            free,
            kept,
            keep_commits: DEFAULT_KEEP_COMMITS,
            faults: None,
            trusted: false,
            header_in_doubt: false,
            newest: header.sequence,
        })
    }

    /// Opens commit `sequence` of the file at `path` for reading only: the
    /// committed one, or one of the older commits it keeps
    /// ([`WorldFile::kept_commits`]). An error names the commits there are.
    pub fn open_commit(path: &Path, sequence: u64) -> Result<Self, FileError> {
        Self::open_read_only(path)?.rewind_to(sequence)
    }

    /// Opens commit `sequence` of the file at `path` (as
    /// [`WorldFile::open_commit`]) for writing pages on top of it that are
    /// never committed: a private copy's, such as the scratch file of a run
    /// that explores an old commit. Its pages read as that commit saved
    /// them until written; writes go to space the commit does not use; a
    /// commit is refused ([`FileError::OlderCommit`]) unless `sequence` is
    /// the newest.
    pub fn open_commit_to_write(path: &Path, sequence: u64) -> Result<Self, FileError> {
        Self::open(path)?.rewind_to(sequence)
    }

    /// Moves an opened file back to its kept commit `sequence` (nothing for
    /// the committed one).
    fn rewind_to(mut self, sequence: u64) -> Result<Self, FileError> {
        let path = self.path.clone();
        if sequence == self.header.sequence {
            return Ok(self);
        }
        let Some(kept) = self.kept.iter().find(|k| k.sequence == sequence).copied() else {
            let mut there: Vec<String> = vec![self.header.sequence.to_string()];
            there.extend(self.kept.iter().map(|k| k.sequence.to_string()));
            return Err(FileError::Corrupt {
                path: path.clone(),
                what: format!(
                    "holds no commit {sequence}: it keeps commits {} (newest first)",
                    there.join(", ")
                ),
            });
        };
        let len = self
            .file
            .metadata()
            .map_err(|source| FileError::Io {
                path: path.clone(),
                source,
            })?
            .len();
        let header = Header {
            sequence: kept.sequence,
            dir_offset: kept.dir_offset,
            dir_count: kept.dir_count,
            dir_crc: kept.dir_crc,
            generator: kept.generator,
            state: None,
            space: None,
            ..self.header
        };
        self.entries = read_directory(&path, &self.file, &header, &self.layout, len)?;
        self.kept.retain(|k| k.sequence < sequence);
        self.free = self.free.as_of(sequence);
        self.newest = self.header.sequence;
        self.header = header;
        Ok(self)
    }

    /// The world's geometry.
    pub fn layout(&self) -> WorldLayout {
        self.layout
    }

    /// Whether it was opened for writing or only for reading.
    pub fn access(&self) -> Access {
        self.access
    }

    /// The run state saved with the last commit ([`WorldFile::commit_with_state`]),
    /// checked against its CRC; `None` when the commit saved none.
    pub fn state(&self) -> Result<Option<Vec<u8>>, FileError> {
        let Some(state) = self.header.state else {
            return Ok(None);
        };
        let len = self.file.metadata().map_err(|source| FileError::Io {
            path: self.path.clone(),
            source,
        })?;
        read_block(&self.path, &self.file, state, len.len(), "run state").map(Some)
    }

    /// The older commits the committed one keeps readable, newest first
    /// (see [`WorldFile::open_commit`]).
    pub fn kept_commits(&self) -> &[KeptCommit] {
        &self.kept
    }

    /// Space in the file that no kept commit uses: the next writes go there
    /// once no kept commit may read it.
    pub fn free_space(&self) -> &FreeSpace {
        &self.free
    }

    /// Bytes the committed state uses: the header area, payloads,
    /// directory, run state and space block, each in the space it takes
    /// (whole 4096-byte blocks; the directory and run state with their
    /// room to grow). The rest of the file is free space, or held for the older
    /// commits it keeps.
    pub fn live_bytes(&self) -> u64 {
        let h = &self.header;
        let payloads: u64 = self
            .entries
            .iter()
            .filter(|e| e.codec != Codec::Uniform)
            .map(|e| align_up(u64::from(e.stored)))
            .sum();
        let taken = h.taken();
        let state = h.state.map_or(0, |b| taken(b.len));
        let space = h.space.map_or(0, |b| b.len);
        ALIGN + payloads + taken(h.dir_count * ENTRY_BYTES as u64) + state + space
    }

    /// Makes reads of page payloads and writes (and `fsync`s) fail on
    /// purpose as `faults` says, from now on; `None` stops it. For stress
    /// tests: every failure must leave the file at its last commit.
    pub fn inject_faults(&mut self, faults: Option<Faults>) {
        self.faults = faults.map(faults::Injector::new);
    }

    /// Makes page reads skip checking each decoded payload against its CRC
    /// (or check again, with `false`), for a file its user trusts: one this
    /// program wrote and nothing else touched, or one `verify` passed. A
    /// payload damaged since then reads as whatever it decodes to (the
    /// directory and headers are still checked, so a read never leaves the
    /// file's bounds). [`WorldFile::verify`] always checks.
    pub fn trust(&mut self, trusted: bool) {
        self.trusted = trusted;
    }

    /// Whether page reads skip their CRCs ([`WorldFile::trust`]).
    pub fn is_trusted(&self) -> bool {
        self.trusted
    }

    /// Faults injected since [`WorldFile::inject_faults`].
    pub fn faults_injected(&self) -> u64 {
        self.faults.as_ref().map_or(0, faults::Injector::injected)
    }

    /// An injected write failure, if one is due.
    fn write_fault(&self) -> std::io::Result<()> {
        self.faults.as_ref().map_or(Ok(()), faults::Injector::write)
    }

    /// Keeps `commits` commits readable (at least 1, the newest), from the
    /// next commit on: older ones' space is reused. The default is
    /// [`DEFAULT_KEEP_COMMITS`].
    pub fn set_keep_commits(&mut self, commits: u64) {
        self.keep_commits = commits.max(1);
    }

    /// The fingerprint of the generator of the pages the file does not hold
    /// (see [`Header::generator`]); 0 where none was recorded.
    pub fn generator(&self) -> u64 {
        self.header.generator
    }

    /// Records `generator` as the fingerprint of what makes the pages the
    /// file does not hold, from the next commit on (see
    /// [`Header::generator`]).
    pub fn set_generator(&mut self, generator: u64) {
        self.header.generator = generator;
    }

    /// The world seed recorded in the file.
    pub fn seed(&self) -> u64 {
        self.header.seed
    }

    /// The committed header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The open file, for I/O backends (see [`crate::io::open`]).
    pub fn file(&self) -> &File {
        &self.file
    }

    /// The committed directory.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Whether the file holds page `p` (dense index).
    pub fn contains(&self, p: usize) -> bool {
        self.page_entries(p).is_some()
    }

    /// The pages the file holds, committed or written since (dense
    /// indices, ascending).
    pub fn stored_pages(&self) -> Vec<usize> {
        let mut ids: Vec<u64> = self.entries.iter().map(|e| e.page_id).collect();
        ids.extend(self.pending.keys());
        let mut pages: Vec<usize> = ids
            .into_iter()
            .map(|id| self.layout.page_index(PageId(id).coord()))
            .collect();
        pages.sort_unstable();
        pages.dedup();
        pages
    }

    /// Stored payload bytes of page `p` (0 if the file does not hold it).
    pub fn stored_bytes(&self, p: usize) -> u64 {
        self.page_entries(p)
            .map_or(0, |es| es.iter().map(|e| u64::from(e.stored)).sum())
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The three directory entries of page `p`, if the file holds it
    /// (written since the last commit, or committed).
    pub(crate) fn page_entries(&self, p: usize) -> Option<&[Entry]> {
        let id = PageId::from_coord(self.layout.page_coord(p)).0;
        if let Some(e) = self.pending.get(&id) {
            return Some(e);
        }
        let start = self.entries.partition_point(|e| e.page_id < id);
        let found = self.entries.get(start..start + 3)?;
        found.iter().all(|e| e.page_id == id).then_some(found)
    }
}

/// Reads the block `at` names (`what`, for messages) from `file`, `len`
/// bytes long, and checks it fits and holds its CRC.
fn read_block(
    path: &Path,
    file: &File,
    at: BlockRef,
    len: u64,
    what: &str,
) -> Result<Vec<u8>, FileError> {
    let corrupt = |msg: String| FileError::Corrupt {
        path: path.to_path_buf(),
        what: msg,
    };
    let size = usize::try_from(at.len)
        .ok()
        .filter(|_| at.offset.checked_add(at.len).is_some_and(|end| end <= len))
        .ok_or_else(|| {
            corrupt(format!(
                "{what} of {} bytes at offset {} does not fit in the file ({len} bytes)",
                at.len, at.offset
            ))
        })?;
    let mut bytes = vec![0u8; size];
    file.read_exact_at(&mut bytes, at.offset)
        .map_err(|source| FileError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    if crc32fast::hash(&bytes) != at.crc {
        return Err(corrupt(format!(
            "the {what} at offset {} fails its CRC",
            at.offset
        )));
    }
    Ok(bytes)
}
