//! Compaction: a file rewritten with only its committed pages.

use super::*;

/// What a compaction does with committed pages whose stored data is
/// damaged (a payload that fails to decode or its CRC).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DamagedPages {
    /// Refuse to compact, naming them ([`FileError::Damaged`]): the file
    /// stays as it is.
    #[default]
    Refuse,
    /// Leave them out: a streamed world makes them again from its
    /// scenario's fills.
    Drop,
    /// Copy them forward as they are.
    Keep,
}

impl WorldFile {
    /// Rewrites the file at `path` with only its committed pages, dropping
    /// the space superseded payloads hold; refuses a file with damaged
    /// pages (see [`WorldFile::compact_with`]). Returns the file's size
    /// before and after.
    pub fn compact(path: &Path) -> Result<(u64, u64), FileError> {
        Self::compact_with(path, DamagedPages::Refuse)
    }

    /// [`WorldFile::compact`], with `damaged` saying what becomes of pages
    /// whose stored data is damaged. Every page is read and checked first.
    /// The new file is written beside the old one, synced, and renamed over
    /// it, so a crash leaves one or the other whole.
    pub fn compact_with(path: &Path, damaged: DamagedPages) -> Result<(u64, u64), FileError> {
        let old = Self::open(path)?;
        let io = |source| FileError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut dropped: Vec<u64> = Vec::new();
        if damaged != DamagedPages::Keep {
            let problems = old.verify();
            if let Some(e) = problems
                .iter()
                .find(|e| !matches!(e, FileError::Page { .. }))
            {
                return Err(FileError::Corrupt {
                    path: path.to_path_buf(),
                    what: format!("checking its pages: {e}"),
                });
            }
            if damaged == DamagedPages::Refuse && !problems.is_empty() {
                return Err(FileError::Damaged {
                    path: path.to_path_buf(),
                    pages: problems.iter().map(ToString::to_string).collect(),
                });
            }
            dropped = problems
                .iter()
                .filter_map(|e| match e {
                    FileError::Page { id, .. } => Some(*id),
                    _ => None,
                })
                .collect();
        }
        let before = old.file.metadata().map_err(io)?.len();
        let tmp = path.with_extension("loam.compacting");
        let _ = std::fs::remove_file(&tmp);
        let new = Self::create(&tmp, old.layout, old.header.seed)?;
        let mut cursor = ALIGN;
        let mut entries: Vec<Entry> = old
            .entries
            .iter()
            .filter(|e| !dropped.contains(&e.page_id))
            .copied()
            .collect();
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
        // The run state goes with the pages it was saved with.
        let state_offset = align_up(cursor + dir.len() as u64);
        let state = match old.state()? {
            Some(bytes) => {
                new.file.write_all_at(&bytes, state_offset).map_err(io)?;
                Some(BlockRef {
                    offset: state_offset,
                    ..old.header.state.expect("a state was read")
                })
            }
            None => None,
        };
        let end = align_up(state_offset + state.map_or(0, |s| s.len));
        new.file.set_len(end).map_err(io)?;
        new.file.sync_data().map_err(io)?;
        let header = Header {
            version: VERSION,
            sequence: old.header.sequence + 1,
            dir_offset: cursor,
            dir_count: entries.len() as u64,
            dir_crc: crc32fast::hash(&dir),
            end,
            state,
            space: None,
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
}
