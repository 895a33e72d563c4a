//! Space reuse and kept commits: the space block (FORMAT.md, "Space
//! block").
//!
//! ```text
//! 0        4  kept commits K            each kept commit (40 bytes):
//! 4        4  free extents F              0  8 sequence      28 4 zero
//! 8   K × 40  kept commits, newest first  8  8 dir offset    32 8 generator
//! .   F × 24  free extents, by offset    16  8 dir entries
//! .           zero padding to 4096       24  4 dir CRC32
//!                                       each free extent (24 bytes):
//!                                         0  8 offset   8 8 length   16 8 freed at
//! ```
//!
//! An extent "freed at" commit `F` was last used by commit `F − 1`; one
//! never committed is freed at 0. A writer reuses an extent only once
//! every commit that may have used it has left the kept ones, so a crash
//! part way through a save, which opens the file at its last commit, finds
//! that commit and every commit it keeps as they were written.
//!
//! A kept commit keeps its pages, not its run state: a run resumes from
//! the last commit, and a run state written whole at every commit would
//! otherwise be held two and three times over.

use std::collections::BTreeMap;

use super::header::ALIGN;

/// The space a directory or run state of `len` bytes takes: `len` rounded
/// up to 4096 bytes, and above 64 KiB to an eighth of the power of two at
/// or below it. Both are written whole at every commit and grow slowly;
/// with room to grow, the next one fits where the one before the last was.
pub fn block_space(len: u64) -> u64 {
    let aligned = len.div_ceil(ALIGN) * ALIGN;
    if aligned <= 16 * ALIGN {
        return aligned;
    }
    let step = (1u64 << (63 - aligned.leading_zeros())) / 8;
    aligned.div_ceil(step) * step
}

impl super::Header {
    /// The space this commit's directory or run state of `len` bytes
    /// takes: [`block_space`] for a commit that wrote a space block; whole
    /// 4096-byte blocks, back to back, for one that did not (versions 1
    /// and 2, and a compacted file).
    pub fn taken(&self) -> fn(u64) -> u64 {
        match self.space {
            Some(_) => block_space,
            None => |len| len.div_ceil(ALIGN) * ALIGN,
        }
    }
}

/// Bytes of one kept commit record.
const KEPT_BYTES: usize = 40;
/// Bytes of one free extent record.
const FREE_BYTES: usize = 24;

/// An older commit a newer one keeps readable (`loam inspect --commit`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeptCommit {
    /// Its commit number.
    pub sequence: u64,
    /// Where its directory starts.
    pub dir_offset: u64,
    /// Its directory entries.
    pub dir_count: u64,
    /// CRC32 of its directory's bytes.
    pub dir_crc: u32,
    /// Its generator fingerprint.
    pub generator: u64,
}

/// Space in the file that no kept commit uses, by offset: each extent's
/// length and the commit it was freed at (see the module's text).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FreeSpace {
    extents: BTreeMap<u64, (u64, u64)>,
}

impl FreeSpace {
    /// Frees `len` bytes at `offset` (both multiples of [`ALIGN`]), last
    /// used by commit `freed_at − 1`. It merges with a free neighbour freed
    /// at the same commit; one freed at another stays apart, so that a
    /// long-free extent is not held back by a newly freed one beside it.
    pub fn free(&mut self, offset: u64, len: u64, freed_at: u64) {
        if len == 0 {
            return;
        }
        let (mut start, mut end) = (offset, offset + len);
        if let Some((&before, &(before_len, before_at))) = self.extents.range(..start).next_back() {
            if before + before_len == start && before_at == freed_at {
                self.extents.remove(&before);
                start = before;
            }
        }
        if let Some(&(after_len, after_at)) = self.extents.get(&end) {
            if after_at == freed_at {
                self.extents.remove(&end);
                end += after_len;
            }
        }
        self.extents.insert(start, (end - start, freed_at));
    }

    /// Marks every extent freed at or before commit `reusable` as free for
    /// good (freed at 0), merging neighbours: once no kept commit may read
    /// an extent, none ever will again, as commits are kept only going
    /// forward.
    pub fn settle(&mut self, reusable: u64) {
        let old = std::mem::take(&mut self.extents);
        for (offset, (len, at)) in old {
            self.free(offset, len, if at <= reusable { 0 } else { at });
        }
    }

    /// Takes `len` bytes (a multiple of [`ALIGN`]) from the first extent
    /// that holds them and was freed at or before commit `reusable`;
    /// `None` when none does.
    pub fn take(&mut self, len: u64, reusable: u64) -> Option<u64> {
        let (&offset, &(have, at)) = self
            .extents
            .iter()
            .find(|(_, &(have, at))| have >= len && at <= reusable)?;
        self.extents.remove(&offset);
        if have > len {
            self.extents.insert(offset + len, (have - len, at));
        }
        Some(offset)
    }

    /// The extents free as commit `sequence` saw them: those freed at it or
    /// before. An extent freed later was in use then (the list holds each
    /// extent's last freeing).
    pub fn as_of(&self, sequence: u64) -> Self {
        let mut extents = self.extents.clone();
        extents.retain(|_, &mut (_, at)| at <= sequence);
        Self { extents }
    }

    /// Free bytes in all.
    pub fn bytes(&self) -> u64 {
        self.extents.values().map(|&(len, _)| len).sum()
    }

    /// The extents, by offset: offset, length, freed at.
    pub fn extents(&self) -> impl Iterator<Item = (u64, u64, u64)> + '_ {
        self.extents
            .iter()
            .map(|(&offset, &(len, at))| (offset, len, at))
    }

    /// Extents in all.
    pub fn len(&self) -> usize {
        self.extents.len()
    }

    /// Whether nothing is free.
    pub fn is_empty(&self) -> bool {
        self.extents.is_empty()
    }
}

/// The bytes of a space block for `kept` and `free`, padded with zeros to
/// `padded` bytes (at least what they need: [`block_bytes`]).
pub(super) fn encode(kept: &[KeptCommit], free: &FreeSpace, padded: u64) -> Vec<u8> {
    let mut b = Vec::with_capacity(padded as usize);
    b.extend_from_slice(&(kept.len() as u32).to_le_bytes());
    b.extend_from_slice(&(free.len() as u32).to_le_bytes());
    for k in kept {
        b.extend_from_slice(&k.sequence.to_le_bytes());
        b.extend_from_slice(&k.dir_offset.to_le_bytes());
        b.extend_from_slice(&k.dir_count.to_le_bytes());
        b.extend_from_slice(&k.dir_crc.to_le_bytes());
        b.extend_from_slice(&[0; 4]);
        b.extend_from_slice(&k.generator.to_le_bytes());
    }
    for (offset, len, at) in free.extents() {
        b.extend_from_slice(&offset.to_le_bytes());
        b.extend_from_slice(&len.to_le_bytes());
        b.extend_from_slice(&at.to_le_bytes());
    }
    b.resize((padded as usize).max(b.len()), 0);
    b
}

/// Bytes a space block of `kept` commits and `free` extents needs, before
/// padding.
pub(super) fn block_bytes(kept: usize, free: usize) -> u64 {
    (8 + kept * KEPT_BYTES + free * FREE_BYTES) as u64
}

/// Decodes and checks a space block of commit `sequence`, whose allocated
/// space ends at `end`: kept commits older than it, newest first; free
/// extents aligned, in order, apart and inside `ALIGN..end`, none freed
/// after it. The error says what is wrong.
pub(super) fn decode(
    b: &[u8],
    sequence: u64,
    end: u64,
) -> Result<(Vec<KeptCommit>, FreeSpace), String> {
    let u32_at = |at: usize| u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
    let u64_at = |at: usize| {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[at..at + 8]);
        u64::from_le_bytes(a)
    };
    if b.len() < 8 {
        return Err(format!("{} bytes, shorter than its counts", b.len()));
    }
    let (kept_count, free_count) = (u32_at(0) as usize, u32_at(4) as usize);
    if block_bytes(kept_count, free_count) > b.len() as u64 {
        return Err(format!(
            "{kept_count} kept commits and {free_count} free extents do not fit its {} bytes",
            b.len()
        ));
    }
    let mut kept = Vec::with_capacity(kept_count);
    for k in 0..kept_count {
        let at = 8 + k * KEPT_BYTES;
        let commit = KeptCommit {
            sequence: u64_at(at),
            dir_offset: u64_at(at + 8),
            dir_count: u64_at(at + 16),
            dir_crc: u32_at(at + 24),
            generator: u64_at(at + 32),
        };
        let newer = kept.last().map_or(sequence, |c: &KeptCommit| c.sequence);
        if commit.sequence >= newer {
            return Err(format!(
                "kept commit {k} is commit {}, not older than {newer}",
                commit.sequence
            ));
        }
        kept.push(commit);
    }
    let mut free = FreeSpace::default();
    let mut last_end = ALIGN;
    for f in 0..free_count {
        let at = 8 + kept_count * KEPT_BYTES + f * FREE_BYTES;
        let (offset, len, freed_at) = (u64_at(at), u64_at(at + 8), u64_at(at + 16));
        let fits = offset >= last_end
            && offset % ALIGN == 0
            && len % ALIGN == 0
            && len > 0
            && offset.checked_add(len).is_some_and(|e| e <= end);
        if !fits || freed_at > sequence {
            return Err(format!(
                "free extent {f} ({len} bytes at offset {offset}, freed at commit {freed_at}) \
                 is out of order, unaligned, outside the allocated space or from a later commit"
            ));
        }
        last_end = offset + len;
        free.extents.insert(offset, (len, freed_at));
    }
    Ok((kept, free))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neighbours_freed_together_merge_and_settled_ones_merge_later() {
        let mut free = FreeSpace::default();
        free.free(4 * ALIGN, ALIGN, 5);
        free.free(6 * ALIGN, ALIGN, 3);
        free.free(5 * ALIGN, ALIGN, 5);
        let extents = |f: &FreeSpace| f.extents().collect::<Vec<_>>();
        assert_eq!(
            extents(&free),
            [(4 * ALIGN, 2 * ALIGN, 5), (6 * ALIGN, ALIGN, 3)]
        );
        assert_eq!(
            free.take(2 * ALIGN, 4),
            None,
            "freed at 5, not reusable at 4"
        );
        assert_eq!(free.take(ALIGN, 4), Some(6 * ALIGN));
        free.free(6 * ALIGN, ALIGN, 3);
        free.settle(5);
        assert_eq!(extents(&free), [(4 * ALIGN, 3 * ALIGN, 0)]);
        assert_eq!(free.take(2 * ALIGN, 0), Some(4 * ALIGN));
        assert_eq!(extents(&free), [(6 * ALIGN, ALIGN, 0)]);
        assert_eq!(free.bytes(), ALIGN);
    }

    #[test]
    fn blocks_take_room_to_grow_in_steps_of_an_eighth() {
        assert_eq!(block_space(0), 0);
        assert_eq!(block_space(1), ALIGN);
        assert_eq!(block_space(16 * ALIGN), 16 * ALIGN);
        assert_eq!(block_space(16 * ALIGN + 1), 18 * ALIGN);
        for len in [70_000u64, 1 << 20, 47_913_077, (1 << 20) + 1] {
            let space = block_space(len);
            assert!(space >= len && space % ALIGN == 0, "{len} -> {space}");
            assert!(
                space as f64 <= len as f64 * 1.126 + ALIGN as f64,
                "{len} -> {space}"
            );
        }
        assert_eq!(block_space(47_000_000), block_space(48_000_000));
    }

    #[test]
    fn a_block_round_trips_and_every_flaw_is_named() {
        let kept = vec![
            KeptCommit {
                sequence: 8,
                dir_offset: 3 * ALIGN,
                dir_count: 6,
                dir_crc: 7,
                generator: 12,
            },
            KeptCommit {
                sequence: 7,
                dir_offset: ALIGN,
                dir_count: 0,
                dir_crc: 0,
                generator: 0,
            },
        ];
        let mut free = FreeSpace::default();
        free.free(2 * ALIGN, ALIGN, 0);
        free.free(5 * ALIGN, 2 * ALIGN, 9);
        let b = encode(&kept, &free, 4096);
        assert_eq!(b.len(), 4096);
        assert_eq!(decode(&b, 9, 20 * ALIGN), Ok((kept.clone(), free.clone())));
        assert!(
            decode(&b, 8, 20 * ALIGN).is_err(),
            "a kept commit as new as it"
        );
        assert!(
            decode(&b, 9, 6 * ALIGN).is_err(),
            "a free extent past the end"
        );
        assert!(decode(&b[..40], 9, 20 * ALIGN).is_err(), "truncated");
        let mut later = FreeSpace::default();
        later.free(2 * ALIGN, ALIGN, 10);
        assert!(decode(&encode(&[], &later, 0), 9, 20 * ALIGN).is_err());
    }
}
