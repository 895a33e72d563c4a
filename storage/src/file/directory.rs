//! The directory: one entry per stored page channel (FORMAT.md,
//! "Directory").

use super::codec::Codec;
use super::header::CHANNEL_TYPES;

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
