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

#[cfg(not(target_endian = "little"))]
compile_error!("the .loam reader decodes little-endian channels in place");

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

    /// The three directory entries of page `p`, if the file holds it.
    fn page_entries(&self, p: usize) -> Option<&[Entry]> {
        let id = PageId::from_coord(self.layout.page_coord(p)).0;
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
        let wanted: Vec<(usize, &[Entry])> = pages
            .iter()
            .filter(|&&p| world.table.resident_slot(p).is_some())
            .filter_map(|&p| self.page_entries(p).map(|e| (p, e)))
            .collect();
        let mut buffers: Vec<Vec<u8>> = wanted
            .iter()
            .flat_map(|(_, es)| es.iter().map(|e| vec![0u8; e.stored as usize]))
            .collect();
        let mut requests: Vec<crate::io::ReadRequest<'_>> = wanted
            .iter()
            .flat_map(|(_, es)| es.iter())
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
        // Decode straight into the pool slots, pages in parallel on the
        // current rayon pool: each page owns its three slot slices.
        let slots: Vec<usize> = wanted
            .iter()
            .map(|(p, _)| {
                world
                    .table
                    .resident_slot(*p)
                    .expect("filtered to resident pages above")
            })
            .collect();
        let mut order: Vec<usize> = (0..wanted.len()).collect();
        order.sort_by_key(|&k| slots[k]);
        let mut sorted_slots: Vec<usize> = order.iter().map(|&k| slots[k]).collect();
        sorted_slots.dedup();
        if sorted_slots.len() != order.len() {
            return Err(FileError::Corrupt {
                path: self.path.clone(),
                what: "two pages asked for share a world slot".into(),
            });
        }
        let materials = world.material.slots_mut(&sorted_slots);
        let temperatures = world.temperature.slots_mut(&sorted_slots);
        let flags = world.flags.slots_mut(&sorted_slots);
        let jobs: Vec<_> = order
            .iter()
            .zip(materials.into_iter().zip(temperatures).zip(flags))
            .map(|(&k, ((m, t), f))| (k, m, t, f))
            .collect();
        use rayon::prelude::*;
        jobs.into_par_iter()
            .try_for_each(|(k, material, temperature, flags)| {
                let (p, es) = wanted[k];
                let coord = self.layout.page_coord(p);
                let targets: [&mut [u8]; 3] =
                    [material, bytemuck::cast_slice_mut(temperature), flags];
                for ((c, e), target) in es.iter().enumerate().zip(targets) {
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
        Ok(wanted.len())
    }

    /// Saves `pages` (dense indices) of `world`, crash-safely: payloads and a
    /// new directory go after everything committed, then `fsync`, then the
    /// other header slot, then `fsync` (FORMAT.md, "Saving").
    pub fn save(
        &mut self,
        world: &VoxelWorld,
        pages: &[usize],
        options: &SaveOptions,
    ) -> Result<SaveStats, FileError> {
        let io = |source| FileError::Io {
            path: self.path.clone(),
            source,
        };
        let mut cursor = align_up(self.header.end);
        let mut fresh: Vec<Entry> = Vec::new();
        let mut stats = SaveStats::default();
        for &p in pages {
            let Some(view) = world.page(p) else { continue };
            let id = world.page_id(p).0;
            let temperature: Vec<u8> = view
                .temperature
                .iter()
                .flat_map(|t| t.to_le_bytes())
                .collect();
            for (c, raw) in [view.material, &temperature[..], view.flags]
                .into_iter()
                .enumerate()
            {
                let (codec, uniform, payload) =
                    codec::encode(raw, CHANNEL_TYPES[c] as usize, options.zstd_level)
                        .map_err(io)?;
                let mut entry = Entry {
                    page_id: id,
                    channel: c as u8,
                    codec,
                    uniform,
                    offset: 0,
                    stored: payload.len() as u32,
                    crc: crc32fast::hash(raw),
                };
                if codec != Codec::Uniform {
                    entry.offset = cursor;
                    self.file.write_all_at(&payload, cursor).map_err(io)?;
                    cursor = align_up(cursor + payload.len() as u64);
                    stats.bytes += payload.len() as u64;
                }
                fresh.push(entry);
            }
            stats.pages += 1;
        }
        fresh.sort_by_key(|e| (e.page_id, e.channel));
        fresh.dedup_by_key(|e| (e.page_id, e.channel));
        let mut merged: Vec<Entry> = self
            .entries
            .iter()
            .filter(|e| {
                fresh
                    .binary_search_by_key(&(e.page_id, e.channel), |f| (f.page_id, f.channel))
                    .is_err()
            })
            .copied()
            .collect();
        merged.extend(fresh);
        merged.sort_by_key(|e| (e.page_id, e.channel));
        let mut dir = Vec::with_capacity(merged.len() * ENTRY_BYTES);
        merged.iter().for_each(|e| e.encode(&mut dir));
        let dir_offset = cursor;
        self.file.write_all_at(&dir, dir_offset).map_err(io)?;
        stats.bytes += dir.len() as u64;
        let end = align_up(dir_offset + dir.len() as u64);
        // Keep the file at least as long as the allocated space, so `open`'s
        // bounds checks accept every committed offset.
        if self.file.metadata().map_err(io)?.len() < end {
            self.file.set_len(end).map_err(io)?;
        }
        self.file.sync_data().map_err(io)?;
        let header = Header {
            sequence: self.header.sequence + 1,
            dir_offset,
            dir_count: merged.len() as u64,
            dir_crc: crc32fast::hash(&dir),
            end,
            ..self.header
        };
        let slot = 1 - self.slot;
        self.file
            .write_all_at(&header.encode(), SLOT_OFFSETS[slot])
            .map_err(io)?;
        self.file.sync_data().map_err(io)?;
        self.header = header;
        self.slot = slot;
        self.entries = merged;
        Ok(stats)
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
        let mut scratch = VoxelWorld::new(self.layout, 0, 0.0);
        let mut problems = Vec::new();
        let mut ids: Vec<u64> = self.entries.iter().map(|e| e.page_id).collect();
        ids.dedup();
        for id in ids {
            let p = self.layout.page_index(PageId(id).coord());
            if let Err(e) = self.load_page(&mut scratch, p) {
                problems.push(e);
            }
        }
        problems
    }
}
