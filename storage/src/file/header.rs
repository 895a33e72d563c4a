//! The header slot (see FORMAT.md, "Header slot"):
//!
//! ```text
//! 0   8  magic "LOAMWRLD"        44  4  channel count
//! 8   4  format version          48  8  channel types (1 byte each)
//! 12  8  sequence number         56  8  directory offset
//! 20 12  world size x, y, z      64  8  directory entry count
//! 32  4  page edge P             72  4  directory CRC32
//! 36  8  world seed              76  8  end of allocated space
//!                                84  8  generator fingerprint
//!                                92  8  run state offset (version 2)
//!                               100  8  run state length (0: none)
//!                               108  4  run state CRC32
//!                               112  8  space block offset (version 3)
//!                               120  8  space block length (0: none)
//!                               128  4  space block CRC32
//! 508 4  CRC32 of bytes 0..508
//! ```

/// Bytes in one header slot.
pub const SLOT_BYTES: usize = 512;
/// File offsets of the two header slots.
pub const SLOT_OFFSETS: [u64; 2] = [0, SLOT_BYTES as u64];
/// Where payloads and directories start, and their alignment (O_DIRECT).
pub const ALIGN: u64 = 4096;
/// The file's magic bytes.
pub const MAGIC: [u8; 8] = *b"LOAMWRLD";
/// The format version this code writes.
pub const VERSION: u32 = 3;
/// The format versions this code reads: version 1 had no run state (its
/// bytes 92..112 are zero, which reads as none), version 2 no space block
/// (bytes 112..132 zero: no free space, no kept commits).
pub const READS: [u32; 3] = [1, 2, 3];
/// Channel element sizes of version 1: material u8, temperature f32, flags u8.
pub const CHANNEL_TYPES: [u8; 3] = [1, 4, 1];
/// Channel names, for messages.
pub const CHANNEL_NAMES: [&str; 3] = ["material", "temperature", "flags"];

const AT_MAGIC: usize = 0;
const AT_VERSION: usize = AT_MAGIC + 8;
const AT_SEQUENCE: usize = AT_VERSION + 4;
const AT_SIZE: usize = AT_SEQUENCE + 8;
const AT_PAGE: usize = AT_SIZE + 12;
const AT_SEED: usize = AT_PAGE + 4;
const AT_CHANNELS: usize = AT_SEED + 8;
const AT_TYPES: usize = AT_CHANNELS + 4;
const AT_DIR_OFFSET: usize = AT_TYPES + 8;
const AT_DIR_COUNT: usize = AT_DIR_OFFSET + 8;
const AT_DIR_CRC: usize = AT_DIR_COUNT + 8;
const AT_END: usize = AT_DIR_CRC + 4;
const AT_GENERATOR: usize = AT_END + 8;
/// A block reference: offset (8), length (8), CRC32 (4).
const BLOCK_REF_BYTES: usize = 20;
const AT_STATE: usize = AT_GENERATOR + 8;
const AT_SPACE: usize = AT_STATE + BLOCK_REF_BYTES;
const AT_CRC: usize = SLOT_BYTES - 4;
const _: () = assert!(AT_SPACE + BLOCK_REF_BYTES <= AT_CRC);

/// Why a header slot is unusable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SlotError {
    /// Not a whole slot (wrong magic, or a CRC mismatch): a torn write or
    /// damage. The other slot holds the last commit.
    #[error("{0}")]
    Torn(String),
    /// A whole slot (its CRC holds) in a format this build does not read:
    /// another version, or other channels. The file is refused rather than
    /// opened at the other slot, whose commit is older: a save there would
    /// destroy this one.
    #[error("{0}")]
    Unreadable(String),
}

/// One decoded header slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The format version the slot was written in (one of [`READS`]); a
    /// commit writes [`VERSION`], whatever this says.
    pub version: u32,
    /// Commit number; the valid slot with the higher one is current.
    pub sequence: u64,
    /// World size in cells.
    pub size: [u32; 3],
    /// Page edge in cells.
    pub page: u32,
    /// World seed.
    pub seed: u64,
    /// Where the directory starts.
    pub dir_offset: u64,
    /// Directory entries.
    pub dir_count: u64,
    /// CRC32 of the directory's bytes.
    pub dir_crc: u32,
    /// End of allocated space; the next save appends here.
    pub end: u64,
    /// A fingerprint of what generates the pages the file does not hold
    /// (for Loam's scenarios: the world's size, page, seed and fills), so
    /// that a file is not reused with pages generated otherwise; 0 where
    /// none was recorded. It took bytes version 1 left zero: builds before
    /// it read these files, and write 0 there.
    pub generator: u64,
    /// Where the run's state saved with this commit is, if it was (see
    /// FORMAT.md, "Run state").
    pub state: Option<BlockRef>,
    /// Where this commit's space block is (free space and kept commits,
    /// FORMAT.md "Space block"), if it wrote one (version 3).
    pub space: Option<BlockRef>,
}

/// Where a block the header names is stored (a commit's run state, its
/// space block), checked by CRC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockRef {
    /// File offset.
    pub offset: u64,
    /// Length in bytes (never 0).
    pub len: u64,
    /// CRC32 of the bytes.
    pub crc: u32,
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

impl Header {
    /// The slot's bytes, CRC included.
    pub fn encode(&self) -> [u8; SLOT_BYTES] {
        let mut b = [0u8; SLOT_BYTES];
        b[AT_MAGIC..AT_MAGIC + 8].copy_from_slice(&MAGIC);
        b[AT_VERSION..AT_VERSION + 4].copy_from_slice(&VERSION.to_le_bytes());
        b[AT_SEQUENCE..AT_SEQUENCE + 8].copy_from_slice(&self.sequence.to_le_bytes());
        for a in 0..3 {
            b[AT_SIZE + 4 * a..AT_SIZE + 4 * a + 4].copy_from_slice(&self.size[a].to_le_bytes());
        }
        b[AT_PAGE..AT_PAGE + 4].copy_from_slice(&self.page.to_le_bytes());
        b[AT_SEED..AT_SEED + 8].copy_from_slice(&self.seed.to_le_bytes());
        b[AT_CHANNELS..AT_CHANNELS + 4]
            .copy_from_slice(&(CHANNEL_TYPES.len() as u32).to_le_bytes());
        b[AT_TYPES..AT_TYPES + CHANNEL_TYPES.len()].copy_from_slice(&CHANNEL_TYPES);
        b[AT_DIR_OFFSET..AT_DIR_OFFSET + 8].copy_from_slice(&self.dir_offset.to_le_bytes());
        b[AT_DIR_COUNT..AT_DIR_COUNT + 8].copy_from_slice(&self.dir_count.to_le_bytes());
        b[AT_DIR_CRC..AT_DIR_CRC + 4].copy_from_slice(&self.dir_crc.to_le_bytes());
        b[AT_END..AT_END + 8].copy_from_slice(&self.end.to_le_bytes());
        b[AT_GENERATOR..AT_GENERATOR + 8].copy_from_slice(&self.generator.to_le_bytes());
        for (block, at) in [(self.state, AT_STATE), (self.space, AT_SPACE)] {
            if let Some(block) = block {
                b[at..at + 8].copy_from_slice(&block.offset.to_le_bytes());
                b[at + 8..at + 16].copy_from_slice(&block.len.to_le_bytes());
                b[at + 16..at + 20].copy_from_slice(&block.crc.to_le_bytes());
            }
        }
        let crc = crc32fast::hash(&b[..AT_CRC]);
        b[AT_CRC..].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes and checks one slot; the error says what is wrong with it.
    /// The magic and the CRC are checked first, and stay where they are in
    /// every version, so that a whole slot of another version is told from
    /// a torn one.
    pub fn decode(b: &[u8; SLOT_BYTES]) -> Result<Self, SlotError> {
        if b[AT_MAGIC..AT_MAGIC + 8] != MAGIC {
            return Err(SlotError::Torn(
                "wrong magic (not a .loam world file)".into(),
            ));
        }
        let crc = u32_at(b, AT_CRC);
        if crc32fast::hash(&b[..AT_CRC]) != crc {
            return Err(SlotError::Torn("header CRC mismatch".into()));
        }
        let version = u32_at(b, AT_VERSION);
        if !READS.contains(&version) {
            return Err(SlotError::Unreadable(format!(
                "unknown format version {version} (this build reads versions {READS:?}); \
                 a newer build wrote it: open it with that build"
            )));
        }
        let channels = u32_at(b, AT_CHANNELS) as usize;
        if channels != CHANNEL_TYPES.len() || b[AT_TYPES..AT_TYPES + channels] != CHANNEL_TYPES {
            return Err(SlotError::Unreadable(format!(
                "channels {:?} differ from version 1's {CHANNEL_TYPES:?}",
                &b[AT_TYPES..AT_TYPES + channels.min(8)]
            )));
        }
        Ok(Self {
            version,
            sequence: u64_at(b, AT_SEQUENCE),
            size: [
                u32_at(b, AT_SIZE),
                u32_at(b, AT_SIZE + 4),
                u32_at(b, AT_SIZE + 8),
            ],
            page: u32_at(b, AT_PAGE),
            seed: u64_at(b, AT_SEED),
            dir_offset: u64_at(b, AT_DIR_OFFSET),
            dir_count: u64_at(b, AT_DIR_COUNT),
            dir_crc: u32_at(b, AT_DIR_CRC),
            end: u64_at(b, AT_END),
            generator: u64_at(b, AT_GENERATOR),
            state: block_at(b, AT_STATE),
            space: block_at(b, AT_SPACE),
        })
    }
}

/// The block named at `at` (offset, length, CRC); `None` for length 0.
fn block_at(b: &[u8], at: usize) -> Option<BlockRef> {
    match u64_at(b, at + 8) {
        0 => None,
        len => Some(BlockRef {
            offset: u64_at(b, at),
            len,
            crc: u32_at(b, at + 16),
        }),
    }
}

/// Byte offsets of fields inside a slot, for corruption tests.
pub mod offsets {
    /// The version field.
    pub const VERSION: usize = super::AT_VERSION;
    /// The directory CRC field.
    pub const DIR_CRC: usize = super::AT_DIR_CRC;
    /// The slot's own CRC.
    pub const CRC: usize = super::AT_CRC;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            version: VERSION,
            sequence: 7,
            size: [64, 32, 96],
            page: 32,
            seed: 11,
            dir_offset: 8192,
            dir_count: 3,
            dir_crc: 0xdead_beef,
            end: 12288,
            generator: 0x1234_5678_9abc_def0,
            state: Some(BlockRef {
                offset: 16384,
                len: 300,
                crc: 0x0bad_f00d,
            }),
            space: Some(BlockRef {
                offset: 20480,
                len: 4096,
                crc: 0x5eed_cafe,
            }),
        }
    }

    #[test]
    fn round_trip() {
        assert_eq!(Header::decode(&header().encode()), Ok(header()));
    }

    #[test]
    fn a_version_1_slot_reads_with_no_state() {
        let mut b = Header {
            state: None,
            space: None,
            ..header()
        }
        .encode();
        b[AT_VERSION..AT_VERSION + 4].copy_from_slice(&1u32.to_le_bytes());
        let crc = crc32fast::hash(&b[..AT_CRC]);
        b[AT_CRC..].copy_from_slice(&crc.to_le_bytes());
        let read = Header::decode(&b).expect("version 1 reads");
        assert_eq!((read.version, read.state), (1, None));
        assert_eq!(read.generator, header().generator);
    }

    #[test]
    fn a_version_2_slot_reads_with_no_space_block() {
        let mut b = Header {
            space: None,
            ..header()
        }
        .encode();
        b[AT_VERSION..AT_VERSION + 4].copy_from_slice(&2u32.to_le_bytes());
        let crc = crc32fast::hash(&b[..AT_CRC]);
        b[AT_CRC..].copy_from_slice(&crc.to_le_bytes());
        let read = Header::decode(&b).expect("version 2 reads");
        assert_eq!((read.version, read.space), (2, None));
        assert_eq!(read.state, header().state);
    }

    #[test]
    fn every_flipped_byte_is_caught() {
        let good = header().encode();
        for i in 0..SLOT_BYTES {
            let mut b = good;
            b[i] ^= 0x40;
            assert!(
                Header::decode(&b).is_err(),
                "flip at byte {i} went unnoticed"
            );
        }
    }
}
