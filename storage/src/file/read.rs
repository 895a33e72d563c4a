//! Reading pages: one with `pread`, many in one batch through an I/O
//! backend, each checked before it is installed; and checking every page.

use super::*;

impl WorldFile {
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
        self.read_into(targets, io, !self.trusted)
    }

    /// Reads pages into owned buffers through `io`, all payload reads in one
    /// batch; returns, per buffer, whether the file held its page (a buffer
    /// of a page it does not hold is left as it was).
    pub fn load_into(
        &self,
        bufs: &mut [(usize, &mut PageBuf)],
        io: &mut dyn crate::io::PageIo,
    ) -> Result<Vec<bool>, FileError> {
        self.load_checked(bufs, io, !self.trusted)
    }

    /// [`WorldFile::load_into`], checking each payload's CRC if `check`.
    fn load_checked(
        &self,
        bufs: &mut [(usize, &mut PageBuf)],
        io: &mut dyn crate::io::PageIo,
        check: bool,
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
        self.read_into(targets, io, check)?;
        Ok(held)
    }

    /// Reads the payloads of `targets`' pages (all held by the file) in one
    /// batch, then decodes and checks each page into its three channel
    /// byte slices, pages in parallel on the current rayon pool; checks
    /// each payload's CRC if `check`.
    fn read_into(
        &self,
        targets: Vec<(usize, [&mut [u8]; 3])>,
        io: &mut dyn crate::io::PageIo,
        check: bool,
    ) -> Result<usize, FileError> {
        let entries: Vec<&[Entry]> = targets
            .iter()
            .map(|(p, _)| self.page_entries(*p).unwrap_or(&[]))
            .collect();
        // One allocation for the batch's payloads, cut into one slice each
        // (empty for a uniform channel, which has none).
        let stored = |e: &Entry| match e.codec {
            Codec::Uniform => 0,
            _ => e.stored as usize,
        };
        let mut arena = vec![0u8; entries.iter().flat_map(|es| es.iter()).map(stored).sum()];
        let mut buffers: Vec<&mut [u8]> = Vec::with_capacity(3 * entries.len());
        let mut rest = arena.as_mut_slice();
        for e in entries.iter().flat_map(|es| es.iter()) {
            let (payload, tail) = rest.split_at_mut(stored(e));
            buffers.push(payload);
            rest = tail;
        }
        let mut requests: Vec<crate::io::ReadRequest<'_>> = entries
            .iter()
            .flat_map(|es| es.iter())
            .zip(buffers.iter_mut())
            .filter(|(e, _)| e.codec != Codec::Uniform)
            .map(|(e, buf)| crate::io::ReadRequest {
                offset: e.offset,
                buf,
            })
            .collect();
        self.faults
            .as_ref()
            .map_or(Ok(()), |f| f.read())
            .and_then(|()| io.read_batch(&mut requests))
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
                    codec::decode_into(e.codec, e.uniform, buffers[3 * k + c], target, elem)
                        .map_err(page_error)?;
                    if check && crc32fast::hash(target) != e.crc {
                        return Err(page_error("CRC mismatch".into()));
                    }
                }
                Ok(())
            })?;
        Ok(count)
    }

    /// Reads and checks every stored page and the run state; returns every
    /// problem found.
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
            if let Err(e) = self.load_checked(&mut [(p, &mut buf)], &mut io, true) {
                problems.push(e);
            }
        }
        if let Err(e) = self.state() {
            problems.push(e);
        }
        problems.extend(self.free_space_in_use());
        problems
    }

    /// Free extents that overlap what the committed state uses: its
    /// payloads, directory, run state and space block. Any is damage a
    /// later save would make worse, by writing over live data.
    fn free_space_in_use(&self) -> Option<FileError> {
        let h = &self.header;
        let mut used: Vec<(u64, u64, String)> = self
            .entries
            .iter()
            .filter(|e| e.codec != Codec::Uniform)
            .map(|e| {
                let coord = PageId(e.page_id).coord();
                (e.offset, u64::from(e.stored), format!("page {coord:?}"))
            })
            .collect();
        used.push((
            h.dir_offset,
            h.dir_count * ENTRY_BYTES as u64,
            "the directory".into(),
        ));
        for (block, what) in [(h.state, "the run state"), (h.space, "the space block")] {
            if let Some(b) = block {
                used.push((b.offset, b.len, what.into()));
            }
        }
        used.retain(|&(_, len, _)| len > 0);
        used.sort_unstable();
        let free: Vec<(u64, u64, u64)> = self.free.extents().collect();
        used.into_iter().find_map(|(offset, len, what)| {
            // The free extent starting last at or before this use's end.
            let k = free.partition_point(|&(at, _, _)| at < offset + len);
            let (at, flen, _) = *free.get(k.checked_sub(1)?)?;
            (at + flen > offset).then(|| FileError::Corrupt {
                path: self.path.clone(),
                what: format!(
                    "the space block lists {flen} bytes at offset {at} as free, which \
                     {what} uses ({len} bytes at offset {offset})"
                ),
            })
        })
    }
}
