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
//! let mut reopened = WorldFile::open(&path).unwrap();
//! let mut copy = VoxelWorld::new(layout, 0, 0.0);
//! for p in all {
//!     reopened.load_page(&mut copy, p).unwrap();
//! }
//! assert_eq!(copy.hash(), world.hash());
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```

pub mod codec;
pub mod header;
pub mod zarr;

#[cfg(not(target_endian = "little"))]
compile_error!("the .loam reader decodes little-endian channels in place");

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use codec::Codec;
use header::{Header, ALIGN, CHANNEL_NAMES, CHANNEL_TYPES, SLOT_BYTES, SLOT_OFFSETS};

use crate::layout::WorldLayout;
use crate::morton::PageId;
use crate::world::VoxelWorld;

/// Bytes in one directory entry.
pub const ENTRY_BYTES: usize = 32;

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

/// One stored page channel (see FORMAT.md, "Directory").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Morton code of the page coordinates.
    pub page_id: u64,
    /// Channel index (0 material, 1 temperature, 2 flags).
    pub channel: u8,
    /// How it is stored.
    pub codec: Codec,
    /// The value of a uniform channel, zero-padded.
    pub uniform: [u8; 4],
    /// Payload offset (0 for uniform).
    pub offset: u64,
    /// Payload length (0 for uniform).
    pub stored: u32,
    /// CRC32 of the decoded channel bytes.
    pub crc: u32,
}

impl Entry {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.page_id.to_le_bytes());
        out.extend_from_slice(&[self.channel, self.codec as u8, 0, 0]);
        out.extend_from_slice(&self.uniform);
        out.extend_from_slice(&self.offset.to_le_bytes());
        out.extend_from_slice(&self.stored.to_le_bytes());
        out.extend_from_slice(&self.crc.to_le_bytes());
    }

    fn decode(b: &[u8]) -> Result<Self, String> {
        let u64_at = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap_or([0; 8]));
        let u32_at = |at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap_or([0; 4]));
        let codec = Codec::from_code(b[9]).ok_or(format!("unknown codec {}", b[9]))?;
        if b[8] as usize >= CHANNEL_TYPES.len() {
            return Err(format!("unknown channel {}", b[8]));
        }
        Ok(Self {
            page_id: u64_at(0),
            channel: b[8],
            codec,
            uniform: [b[12], b[13], b[14], b[15]],
            offset: u64_at(16),
            stored: u32_at(24),
            crc: u32_at(28),
        })
    }
}

/// One channel of a page, encoded: codec, uniform value, payload, CRC of
/// the raw bytes.
type EncodedChannel = (Codec, [u8; 4], Vec<u8>, u32);

/// Encodes the resident ones of `pages`, in parallel on the current rayon pool.
fn encode_pages(
    world: &VoxelWorld,
    pages: &[usize],
    options: &SaveOptions,
) -> std::io::Result<Vec<(u64, [EncodedChannel; 3])>> {
    use rayon::prelude::*;
    pages
        .par_iter()
        .filter_map(|&p| world.page(p).map(|v| (p, v)))
        .map(|(p, view)| {
            // A cell part way through a phase change is stored with its
            // latent heat as temperature: the same heat, which the phase
            // pass splits again after loading (see `VoxelWorld::latent`).
            let heat: Option<Vec<f32>> = view.latent.iter().any(|&l| l != 0.0).then(|| {
                view.temperature
                    .iter()
                    .zip(view.latent)
                    .map(|(&t, &l)| t + l)
                    .collect()
            });
            let channels: [&[u8]; 3] = [
                view.material,
                bytemuck::cast_slice(heat.as_deref().unwrap_or(view.temperature)),
                view.flags,
            ];
            let encode = |c: usize| -> std::io::Result<EncodedChannel> {
                let raw = channels[c];
                let (codec, uniform, payload) =
                    codec::encode(raw, CHANNEL_TYPES[c] as usize, options.zstd_level)?;
                Ok((codec, uniform, payload, crc32fast::hash(raw)))
            };
            Ok((world.page_id(p).0, [encode(0)?, encode(1)?, encode(2)?]))
        })
        .collect()
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
    header: Header,
    /// Which slot holds `header`.
    slot: usize,
    layout: WorldLayout,
    /// Sorted by (page id, channel).
    entries: Vec<Entry>,
    /// Pages written since the last commit, by page id: readable now,
    /// durable once [`WorldFile::commit`] returns.
    pending: BTreeMap<u64, [Entry; 3]>,
    /// Where the next payload goes.
    cursor: u64,
}

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
    /// Creates a new, empty world file (an existing file is an error).
    pub fn create(path: &Path, layout: WorldLayout, seed: u64) -> Result<Self, FileError> {
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
        let header = Header {
            sequence: 1,
            size: layout.size,
            page: layout.page,
            seed,
            dir_offset: ALIGN,
            dir_count: 0,
            dir_crc: crc32fast::hash(&[]),
            end: ALIGN,
        };
        let mut start = vec![0u8; ALIGN as usize];
        start[..SLOT_BYTES].copy_from_slice(&header.encode());
        file.write_all_at(&start, 0).map_err(io)?;
        file.sync_all().map_err(io)?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
            header,
            slot: 0,
            layout,
            entries: Vec::new(),
            pending: BTreeMap::new(),
            cursor: ALIGN,
        })
    }

    /// Opens and checks a world file: the newest valid header slot, and its
    /// directory. Page payloads are checked when they are read.
    pub fn open(path: &Path) -> Result<Self, FileError> {
        let io = |source| FileError::Io {
            path: path.to_path_buf(),
            source,
        };
        let corrupt = |what: String| FileError::Corrupt {
            path: path.to_path_buf(),
            what,
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(io)?;
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
                Err(e) => problems.push(format!("header slot {}: {e}", ["A", "B"][i])),
            }
        }
        let Some(&(header, slot)) = slots.iter().max_by_key(|(h, _)| h.sequence) else {
            return Err(corrupt(problems.join("; ")));
        };
        let layout = WorldLayout::new(header.size, header.page)
            .map_err(|e| corrupt(format!("header: {e}")))?;
        let dir_bytes = header
            .dir_count
            .checked_mul(ENTRY_BYTES as u64)
            .filter(|&n| {
                header
                    .dir_offset
                    .checked_add(n)
                    .is_some_and(|end| end <= len)
            })
            .ok_or_else(|| {
                corrupt(format!(
                    "directory of {} entries at offset {} does not fit in the file ({len} bytes)",
                    header.dir_count, header.dir_offset
                ))
            })?;
        let mut dir = vec![0u8; dir_bytes as usize];
        file.read_exact_at(&mut dir, header.dir_offset)
            .map_err(io)?;
        if crc32fast::hash(&dir) != header.dir_crc {
            return Err(corrupt(format!(
                "directory at offset {} fails its CRC",
                header.dir_offset
            )));
        }
        let mut entries = Vec::with_capacity(header.dir_count as usize);
        for (k, raw) in dir.chunks_exact(ENTRY_BYTES).enumerate() {
            let e = Entry::decode(raw).map_err(|w| corrupt(format!("directory entry {k}: {w}")))?;
            let coord = PageId(e.page_id).coord();
            if (0..3).any(|a| coord[a] >= layout.pages[a]) {
                return Err(corrupt(format!(
                    "directory entry {k}: page {:#x} at {coord:?} is outside the world",
                    e.page_id
                )));
            }
            let raw_len = (layout.page_cells() * CHANNEL_TYPES[e.channel as usize] as usize) as u64;
            let fits = e
                .offset
                .checked_add(u64::from(e.stored))
                .is_some_and(|end| end <= len);
            if e.codec != Codec::Uniform
                && (!fits || e.offset % ALIGN != 0 || u64::from(e.stored) > raw_len + 1024)
            {
                return Err(corrupt(format!(
                    "directory entry {k}: payload of {} bytes at offset {} is out of range",
                    e.stored, e.offset
                )));
            }
            entries.push(e);
        }
        if entries
            .windows(2)
            .any(|w| (w[0].page_id, w[0].channel) >= (w[1].page_id, w[1].channel))
        {
            return Err(corrupt(
                "directory entries are not sorted and unique".into(),
            ));
        }
        Ok(Self {
            path: path.to_path_buf(),
            file,
            header,
            slot,
            layout,
            entries,
            pending: BTreeMap::new(),
            cursor: align_up(header.end),
        })
    }

    /// The world's geometry.
    pub fn layout(&self) -> WorldLayout {
        self.layout
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

    /// Reads page `p` into the world's slot for it, with `pread`; `Ok(false)`
    /// if the file does not hold the page (or the world has no slot for it).
    pub fn load_page(&self, world: &mut VoxelWorld, p: usize) -> Result<bool, FileError> {
        let mut io = crate::io::Pread::new(&self.file).map_err(|source| FileError::Io {
            path: self.path.clone(),
            source,
        })?;
        Ok(self.load_pages(world, &[p], &mut io)? == 1)
    }

    /// Reads `pages` into the world's slots through `io`, all payload reads
    /// in one batch; returns how many pages the file held and were loaded.
    /// Each page is checked (decoded length, CRC) before it is installed.
    pub fn load_pages(
        &self,
        world: &mut VoxelWorld,
        pages: &[usize],
        io: &mut dyn crate::io::PageIo,
    ) -> Result<usize, FileError> {
        let mut held: Vec<(usize, usize)> = pages
            .iter()
            .filter(|&&p| self.contains(p))
            .filter_map(|&p| world.table.resident_slot(p).map(|s| (s, p)))
            .collect();
        // Each page owns its three slot slices, which must be distinct.
        held.sort_unstable();
        if held.windows(2).any(|w| w[0].0 == w[1].0) {
            return Err(FileError::Corrupt {
                path: self.path.clone(),
                what: "two pages asked for share a world slot".into(),
            });
        }
        let slots: Vec<usize> = held.iter().map(|&(s, _)| s).collect();
        let materials = world.material.slots_mut(&slots);
        let temperatures = world.temperature.slots_mut(&slots);
        for latent in world.latent.slots_mut(&slots) {
            latent.fill(0.0);
        }
        let flags = world.flags.slots_mut(&slots);
        let targets = held
            .iter()
            .zip(materials.into_iter().zip(temperatures).zip(flags))
            .map(|(&(_, p), ((m, t), f))| (p, [m, bytemuck::cast_slice_mut(t), f]))
            .collect();
        self.read_into(targets, io)
    }

    /// Reads pages into owned buffers through `io`, all payload reads in one
    /// batch; returns, per buffer, whether the file held its page (a buffer
    /// of a page it does not hold is left as it was).
    pub fn load_into(
        &self,
        bufs: &mut [(usize, &mut PageBuf)],
        io: &mut dyn crate::io::PageIo,
    ) -> Result<Vec<bool>, FileError> {
        let held: Vec<bool> = bufs.iter().map(|(p, _)| self.contains(*p)).collect();
        let targets = bufs
            .iter_mut()
            .zip(&held)
            .filter(|(_, &h)| h)
            .map(|((p, b), _)| {
                let b = &mut **b;
                (
                    *p,
                    [
                        b.material.as_mut_slice(),
                        bytemuck::cast_slice_mut(b.temperature.as_mut_slice()),
                        b.flags.as_mut_slice(),
                    ],
                )
            })
            .collect();
        self.read_into(targets, io)?;
        Ok(held)
    }

    /// Reads the payloads of `targets`' pages (all held by the file) in one
    /// batch, then decodes and checks each page into its three channel
    /// byte slices, pages in parallel on the current rayon pool.
    fn read_into(
        &self,
        targets: Vec<(usize, [&mut [u8]; 3])>,
        io: &mut dyn crate::io::PageIo,
    ) -> Result<usize, FileError> {
        let entries: Vec<&[Entry]> = targets
            .iter()
            .map(|(p, _)| self.page_entries(*p).unwrap_or(&[]))
            .collect();
        let mut buffers: Vec<Vec<u8>> = entries
            .iter()
            .flat_map(|es| es.iter().map(|e| vec![0u8; e.stored as usize]))
            .collect();
        let mut requests: Vec<crate::io::ReadRequest<'_>> = entries
            .iter()
            .flat_map(|es| es.iter())
            .zip(buffers.iter_mut())
            .filter(|(e, _)| e.codec != Codec::Uniform)
            .map(|(e, buf)| crate::io::ReadRequest {
                offset: e.offset,
                buf: buf.as_mut_slice(),
            })
            .collect();
        io.read_batch(&mut requests)
            .map_err(|source| FileError::Io {
                path: self.path.clone(),
                source,
            })?;
        drop(requests);
        let count = targets.len();
        use rayon::prelude::*;
        targets
            .into_par_iter()
            .enumerate()
            .try_for_each(|(k, (p, channels))| {
                let es = entries[k];
                if es.len() != 3 {
                    return Err(FileError::Corrupt {
                        path: self.path.clone(),
                        what: format!("page {p} is not in the file"),
                    });
                }
                let coord = self.layout.page_coord(p);
                for ((c, e), target) in es.iter().enumerate().zip(channels) {
                    let page_error = |what: String| FileError::Page {
                        path: self.path.clone(),
                        id: e.page_id,
                        coord,
                        channel: CHANNEL_NAMES[c],
                        what,
                    };
                    let elem = CHANNEL_TYPES[c] as usize;
                    codec::decode_into(e.codec, e.uniform, &buffers[3 * k + c], target, elem)
                        .map_err(page_error)?;
                    if crc32fast::hash(target) != e.crc {
                        return Err(page_error("CRC mismatch".into()));
                    }
                }
                Ok(())
            })?;
        Ok(count)
    }

    /// Saves `pages` (dense indices) of `world`, crash-safely:
    /// [`WorldFile::write_pages`], then [`WorldFile::commit`].
    pub fn save(
        &mut self,
        world: &VoxelWorld,
        pages: &[usize],
        options: &SaveOptions,
    ) -> Result<SaveStats, FileError> {
        let written = self.write_pages(world, pages, options)?;
        let dir = self.commit()?;
        Ok(SaveStats {
            pages: written.pages,
            bytes: written.bytes + dir.bytes,
        })
    }

    /// Writes the payloads of `pages` (dense indices; non-resident ones are
    /// skipped) after everything else in the file, without committing:
    /// reads see them at once, a crash forgets them, and the next
    /// [`WorldFile::commit`] makes them durable. Pages are encoded in
    /// parallel on the current rayon pool.
    pub fn write_pages(
        &mut self,
        world: &VoxelWorld,
        pages: &[usize],
        options: &SaveOptions,
    ) -> Result<SaveStats, FileError> {
        let mut stats = SaveStats::default();
        // Encode a batch of pages in parallel, write it, then the next: memory
        // stays bounded by one batch whatever the number of pages.
        let written = pages.chunks(256).try_for_each(|batch| {
            let encoded = encode_pages(world, batch, options)?;
            self.write_encoded(encoded, &mut stats)
        });
        written.map_err(|source| FileError::Io {
            path: self.path.clone(),
            source,
        })?;
        Ok(stats)
    }

    fn write_encoded(
        &mut self,
        encoded: Vec<(u64, [EncodedChannel; 3])>,
        stats: &mut SaveStats,
    ) -> std::io::Result<()> {
        for (id, channels) in encoded {
            let mut entries = [Entry {
                page_id: id,
                channel: 0,
                codec: Codec::Uniform,
                uniform: [0; 4],
                offset: 0,
                stored: 0,
                crc: 0,
            }; 3];
            for (c, (codec, uniform, payload, crc)) in channels.into_iter().enumerate() {
                let entry = &mut entries[c];
                *entry = Entry {
                    channel: c as u8,
                    codec,
                    uniform,
                    stored: payload.len() as u32,
                    crc,
                    ..*entry
                };
                if codec != Codec::Uniform {
                    entry.offset = self.cursor;
                    self.file.write_all_at(&payload, self.cursor)?;
                    self.cursor = align_up(self.cursor + payload.len() as u64);
                    stats.bytes += payload.len() as u64;
                }
            }
            self.pending.insert(id, entries);
            stats.pages += 1;
        }
        Ok(())
    }

    /// Whether pages were written since the last commit.
    pub fn has_uncommitted(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Commits the pages written since the last commit, crash-safely: a new
    /// directory after everything written, `fsync`, the other header slot,
    /// `fsync` (FORMAT.md, "Saving"). Returns the directory bytes written.
    pub fn commit(&mut self) -> Result<SaveStats, FileError> {
        let io = |source| FileError::Io {
            path: self.path.clone(),
            source,
        };
        let pending = std::mem::take(&mut self.pending);
        let mut merged: Vec<Entry> = self
            .entries
            .iter()
            .filter(|e| !pending.contains_key(&e.page_id))
            .copied()
            .collect();
        merged.extend(pending.values().flatten());
        merged.sort_by_key(|e| (e.page_id, e.channel));
        let mut dir = Vec::with_capacity(merged.len() * ENTRY_BYTES);
        merged.iter().for_each(|e| e.encode(&mut dir));
        let dir_offset = self.cursor;
        let end = align_up(dir_offset + dir.len() as u64);
        let written = (|| {
            self.file.write_all_at(&dir, dir_offset)?;
            // Keep the file at least as long as the allocated space, so
            // `open`'s bounds checks accept every committed offset.
            if self.file.metadata()?.len() < end {
                self.file.set_len(end)?;
            }
            self.file.sync_data()
        })();
        if let Err(e) = written {
            self.pending = pending;
            return Err(io(e));
        }
        let header = Header {
            sequence: self.header.sequence + 1,
            dir_offset,
            dir_count: merged.len() as u64,
            dir_crc: crc32fast::hash(&dir),
            end,
            ..self.header
        };
        let slot = 1 - self.slot;
        let flipped = self
            .file
            .write_all_at(&header.encode(), SLOT_OFFSETS[slot])
            .and_then(|()| self.file.sync_data());
        if let Err(e) = flipped {
            self.pending = pending;
            return Err(io(e));
        }
        self.header = header;
        self.slot = slot;
        self.entries = merged;
        self.cursor = end;
        Ok(SaveStats {
            pages: 0,
            bytes: dir.len() as u64,
        })
    }

    /// Rewrites the file at `path` with only its committed pages, dropping
    /// the space superseded payloads hold. The new file is written beside the
    /// old one, synced, and renamed over it, so a crash leaves one or the
    /// other whole. Returns the file's size before and after.
    pub fn compact(path: &Path) -> Result<(u64, u64), FileError> {
        let old = Self::open(path)?;
        let io = |source| FileError::Io {
            path: path.to_path_buf(),
            source,
        };
        let before = old.file.metadata().map_err(io)?.len();
        let tmp = path.with_extension("loam.compacting");
        let _ = std::fs::remove_file(&tmp);
        let new = Self::create(&tmp, old.layout, old.header.seed)?;
        let mut cursor = ALIGN;
        let mut entries = old.entries.clone();
        for e in entries.iter_mut().filter(|e| e.codec != Codec::Uniform) {
            let mut payload = vec![0u8; e.stored as usize];
            old.file.read_exact_at(&mut payload, e.offset).map_err(io)?;
            new.file.write_all_at(&payload, cursor).map_err(io)?;
            e.offset = cursor;
            cursor = align_up(cursor + payload.len() as u64);
        }
        let mut dir = Vec::with_capacity(entries.len() * ENTRY_BYTES);
        entries.iter().for_each(|e| e.encode(&mut dir));
        new.file.write_all_at(&dir, cursor).map_err(io)?;
        let end = align_up(cursor + dir.len() as u64);
        new.file.set_len(end).map_err(io)?;
        new.file.sync_data().map_err(io)?;
        let header = Header {
            sequence: old.header.sequence + 1,
            dir_offset: cursor,
            dir_count: entries.len() as u64,
            dir_crc: crc32fast::hash(&dir),
            end,
            ..old.header
        };
        new.file
            .write_all_at(&header.encode(), SLOT_OFFSETS[1])
            .map_err(io)?;
        new.file.sync_all().map_err(io)?;
        drop(new);
        std::fs::rename(&tmp, path).map_err(io)?;
        if let Some(dir) = path.parent() {
            // Make the rename itself durable.
            File::open(if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            })
            .and_then(|d| d.sync_all())
            .map_err(io)?;
        }
        Ok((before, end))
    }

    /// Reads and checks every stored page; returns every problem found.
    pub fn verify(&self) -> Vec<FileError> {
        let mut io = match crate::io::Pread::new(&self.file) {
            Ok(io) => io,
            Err(source) => {
                return vec![FileError::Io {
                    path: self.path.clone(),
                    source,
                }]
            }
        };
        let mut buf = PageBuf::new(self.layout.page_cells());
        let mut problems = Vec::new();
        let mut ids: Vec<u64> = self.entries.iter().map(|e| e.page_id).collect();
        ids.dedup();
        for id in ids {
            let p = self.layout.page_index(PageId(id).coord());
            if let Err(e) = self.load_into(&mut [(p, &mut buf)], &mut io) {
                problems.push(e);
            }
        }
        problems
    }
}
