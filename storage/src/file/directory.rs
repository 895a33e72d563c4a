//! The directory: one entry per stored page channel (FORMAT.md,
//! "Directory").

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::codec::Codec;
use super::header::{Header, ALIGN, CHANNEL_TYPES};
use super::FileError;
use crate::layout::WorldLayout;
use crate::morton::PageId;

/// Bytes in one directory entry.
pub const ENTRY_BYTES: usize = 32;

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
    pub(super) fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.page_id.to_le_bytes());
        out.extend_from_slice(&[self.channel, self.codec as u8, 0, 0]);
        out.extend_from_slice(&self.uniform);
        out.extend_from_slice(&self.offset.to_le_bytes());
        out.extend_from_slice(&self.stored.to_le_bytes());
        out.extend_from_slice(&self.crc.to_le_bytes());
    }

    pub(super) fn decode(b: &[u8]) -> Result<Self, String> {
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

/// Reads and checks the directory `header` names in `file` (`len` bytes
/// long): it fits and holds its CRC, every entry is known, inside the
/// world and the file, sorted and unique; and the run state fits.
pub(super) fn read_directory(
    path: &Path,
    file: &File,
    header: &Header,
    layout: &WorldLayout,
    len: u64,
) -> Result<Vec<Entry>, FileError> {
    let io = |source| FileError::Io {
        path: path.to_path_buf(),
        source,
    };
    let corrupt = |what: String| FileError::Corrupt {
        path: path.to_path_buf(),
        what,
    };
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
    if let Some(state) = header.state {
        if state
            .offset
            .checked_add(state.len)
            .is_none_or(|end| end > len)
        {
            return Err(corrupt(format!(
                "run state of {} bytes at offset {} does not fit in the file ({len} bytes)",
                state.len, state.offset
            )));
        }
    }
    if entries
        .windows(2)
        .any(|w| (w[0].page_id, w[0].channel) >= (w[1].page_id, w[1].channel))
    {
        return Err(corrupt(
            "directory entries are not sorted and unique".into(),
        ));
    }
    Ok(entries)
}
