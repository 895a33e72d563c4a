//! Compaction: a file rewritten with only its committed pages.

use super::*;

impl WorldFile {
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
}
