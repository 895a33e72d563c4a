//! Writing pages and committing them, crash-safely.

use super::space::block_space;
use super::*;

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
            let temperature = heat.as_deref().unwrap_or(view.temperature);
            encode_page(
                world.page_id(p).0,
                [view.material, bytemuck::cast_slice(temperature), view.flags],
                options,
            )
        })
        .collect()
}

/// Encodes one page's three channels (temperatures with any latent heat
/// already added).
fn encode_page(
    id: u64,
    channels: [&[u8]; 3],
    options: &SaveOptions,
) -> std::io::Result<(u64, [EncodedChannel; 3])> {
    let encode = |c: usize| -> std::io::Result<EncodedChannel> {
        let raw = channels[c];
        let (codec, uniform, payload) =
            codec::encode(raw, CHANNEL_TYPES[c] as usize, options.zstd_level)?;
        Ok((codec, uniform, payload, crc32fast::hash(raw)))
    };
    Ok((id, [encode(0)?, encode(1)?, encode(2)?]))
}

impl WorldFile {
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
        self.write_in_batches(pages, |batch| encode_pages(world, batch, options))
    }

    /// [`WorldFile::write_pages`] of pages copied out of a world
    /// ([`PageBuf::copy_from`]): dense index and contents. The I/O thread
    /// writes these while the frame goes on.
    pub fn write_bufs(
        &mut self,
        pages: &[(usize, PageBuf)],
        options: &SaveOptions,
    ) -> Result<SaveStats, FileError> {
        use rayon::prelude::*;
        let layout = self.layout;
        self.write_in_batches(pages, |batch| {
            batch
                .par_iter()
                .map(|(p, buf)| {
                    let id = PageId::from_coord(layout.page_coord(*p)).0;
                    let channels = [
                        buf.material.as_slice(),
                        bytemuck::cast_slice(buf.temperature.as_slice()),
                        buf.flags.as_slice(),
                    ];
                    encode_page(id, channels, options)
                })
                .collect()
        })
    }

    /// Encodes a batch of `pages` with `encode`, writes it, then the next:
    /// memory stays bounded by one batch whatever the number of pages.
    fn write_in_batches<T>(
        &mut self,
        pages: &[T],
        encode: impl Fn(&[T]) -> std::io::Result<Vec<(u64, [EncodedChannel; 3])>>,
    ) -> Result<SaveStats, FileError> {
        let _zone = loam_runtime::profiling::zone("storage.write_pages");
        self.check_writable()?;
        let mut stats = SaveStats::default();
        let written = pages.chunks(256).try_for_each(|batch| {
            let encoded = encode(batch)?;
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
                    self.write_fault()?;
                    entry.offset = self.allocate(payload.len() as u64);
                    self.file.write_all_at(&payload, entry.offset)?;
                    stats.bytes += payload.len() as u64;
                }
            }
            // A page written again before a commit: no commit ever used its
            // last payloads, so their space is free at once.
            if let Some(superseded) = self.pending.insert(id, entries) {
                for e in superseded {
                    self.free.free(e.offset, payload_space(&e), 0);
                }
            }
            stats.pages += 1;
        }
        Ok(())
    }

    /// The commit space freed at or before may be reused now: every commit
    /// that used it has left the kept ones (FORMAT.md, "Space block").
    fn reusable(&self) -> u64 {
        reusable_at(self.header.sequence, &self.kept, self.keep_commits)
    }

    /// Space for `len` bytes that no kept commit uses: a reusable free
    /// extent, or the end of the file.
    fn allocate(&mut self, len: u64) -> u64 {
        let (reusable, len) = (self.reusable(), align_up(len));
        take_space(&mut self.free, &mut self.cursor, len, reusable)
    }

    fn check_writable(&self) -> Result<(), FileError> {
        let path = self.path.clone();
        match self.access {
            Access::Read => Err(FileError::ReadOnly { path }),
            Access::Write if self.header_in_doubt => Err(FileError::CommitInDoubt { path }),
            Access::Write => Ok(()),
        }
    }

    /// Whether pages were written since the last commit.
    pub fn has_uncommitted(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Commits the pages written since the last commit, crash-safely, with
    /// no run state: a new directory after everything written, `fsync`, the
    /// other header slot, `fsync` (FORMAT.md, "Saving"). Returns the
    /// directory bytes written. With nothing written since the last commit,
    /// which saved no state, it writes nothing: the file and its commit stay
    /// as they are.
    pub fn commit(&mut self) -> Result<SaveStats, FileError> {
        self.commit_with_state(None)
    }

    /// [`WorldFile::commit`], saving `state` (a run's state, as the runtime
    /// encodes it) with the pages, in the same commit: after the directory,
    /// before the header slot that names both. A commit without state drops
    /// the last one's, which no longer matches the pages. Writes nothing
    /// when no page was written and the state is the one already saved.
    pub fn commit_with_state(&mut self, state: Option<&[u8]>) -> Result<SaveStats, FileError> {
        let _zone = loam_runtime::profiling::zone("storage.commit");
        self.check_writable()?;
        if self.header.sequence != self.newest {
            return Err(FileError::OlderCommit {
                path: self.path.clone(),
                opened: self.header.sequence,
                newest: self.newest,
            });
        }
        if self.pending.is_empty() && self.state().ok().flatten().as_deref() == state {
            return Ok(SaveStats::default());
        }
        let io = |source| FileError::Io {
            path: self.path.clone(),
            source,
        };
        let pending = std::mem::take(&mut self.pending);
        let sequence = self.header.sequence + 1;
        // Work on copies of the free space and the end, kept only once the
        // commit is durable: a failed commit leaves them as they were.
        let (mut free, mut cursor, reusable) = (self.free.clone(), self.cursor, self.reusable());
        let mut merged: Vec<Entry> = Vec::with_capacity(self.entries.len());
        for e in &self.entries {
            if pending.contains_key(&e.page_id) {
                free.free(e.offset, payload_space(e), sequence);
            } else {
                merged.push(*e);
            }
        }
        merged.extend(pending.values().flatten());
        merged.sort_by_key(|e| (e.page_id, e.channel));
        let mut dir = Vec::with_capacity(merged.len() * ENTRY_BYTES);
        merged.iter().for_each(|e| e.encode(&mut dir));
        let state = state.filter(|s| !s.is_empty());
        let dir_offset = take_space(
            &mut free,
            &mut cursor,
            block_space(dir.len() as u64),
            reusable,
        );
        let state_ref = state.map(|s| BlockRef {
            offset: take_space(
                &mut free,
                &mut cursor,
                block_space(s.len() as u64),
                reusable,
            ),
            len: s.len() as u64,
            crc: crc32fast::hash(s),
        });
        // The last commit's own blocks: this one has its own. Its directory
        // stays while it is kept; its space block and run state are not kept.
        let last = self.header;
        let taken = last.taken();
        free.free(
            last.dir_offset,
            taken(last.dir_count * ENTRY_BYTES as u64),
            sequence,
        );
        if let Some(block) = last.space {
            free.free(block.offset, align_up(block.len), sequence);
        }
        let mut kept = vec![KeptCommit {
            sequence: last.sequence,
            dir_offset: last.dir_offset,
            dir_count: last.dir_count,
            dir_crc: last.dir_crc,
            generator: last.generator,
        }];
        kept.extend(self.kept.iter().copied());
        kept.truncate((self.keep_commits - 1) as usize);
        // Taking the block's own space and settling add no free extent, and
        // the last run state one: a block sized for one more extent than
        // today's holds what is left.
        let space_len = align_up(space::block_bytes(kept.len(), free.len() + 1));
        let space_offset = take_space(&mut free, &mut cursor, space_len, reusable);
        // Only now, with every write of this commit placed: what becomes
        // reusable once it is the last. Until its header is durable, the
        // last commit and those it keeps stay untouched.
        free.settle(reusable_at(sequence, &kept, self.keep_commits));
        if let Some(block) = last.state {
            free.free(block.offset, taken(block.len), 0);
        }
        let space_bytes = space::encode(&kept, &free, space_len);
        let space_ref = BlockRef {
            offset: space_offset,
            len: space_len,
            crc: crc32fast::hash(&space_bytes),
        };
        let end = cursor;
        let written = (|| {
            self.write_fault()?;
            self.file.write_all_at(&dir, dir_offset)?;
            if let (Some(state), Some(at)) = (state, state_ref) {
                self.write_fault()?;
                self.file.write_all_at(state, at.offset)?;
            }
            self.write_fault()?;
            self.file.write_all_at(&space_bytes, space_offset)?;
            // Keep the file at least as long as the allocated space, so
            // `open`'s bounds checks accept every committed offset.
            if self.file.metadata()?.len() < end {
                self.file.set_len(end)?;
            }
            self.write_fault()?;
            self.file.sync_data()
        })();
        if let Err(e) = written {
            self.pending = pending;
            return Err(io(e));
        }
        let header = Header {
            version: VERSION,
            sequence,
            dir_offset,
            dir_count: merged.len() as u64,
            dir_crc: crc32fast::hash(&dir),
            end,
            state: state_ref,
            space: Some(space_ref),
            ..self.header
        };
        let slot = 1 - self.slot;
        let flipped = self
            .write_fault()
            .and_then(|()| self.file.write_all_at(&header.encode(), SLOT_OFFSETS[slot]))
            .and_then(|()| self.write_fault())
            .and_then(|()| self.file.sync_data());
        if let Err(e) = flipped {
            self.pending = pending;
            self.header_in_doubt = true;
            return Err(io(e));
        }
        self.header = header;
        self.newest = header.sequence;
        self.slot = slot;
        self.entries = merged;
        self.cursor = end;
        self.free = free;
        self.kept = kept;
        Ok(SaveStats {
            pages: 0,
            bytes: dir.len() as u64 + state_ref.map_or(0, |s| s.len),
        })
    }
}

/// The last commit whose freed space may be written once commit
/// `sequence`, keeping `kept`, is the last: no commit it keeps, nor any of
/// the `keep_commits` newest, used that space.
fn reusable_at(sequence: u64, kept: &[KeptCommit], keep_commits: u64) -> u64 {
    let oldest_kept = kept.last().map_or(sequence, |k| k.sequence);
    oldest_kept.min((sequence + 1).saturating_sub(keep_commits))
}

/// The space an entry's payload holds (FORMAT.md: payloads start on
/// 4096-byte boundaries): nothing for a uniform channel.
fn payload_space(e: &Entry) -> u64 {
    match e.codec {
        Codec::Uniform => 0,
        _ => align_up(u64::from(e.stored)),
    }
}

/// `len` bytes (aligned) from a free extent reusable at commit `reusable`,
/// or else at the end, `cursor`, which moves past them.
fn take_space(free: &mut FreeSpace, cursor: &mut u64, len: u64, reusable: u64) -> u64 {
    if len == 0 {
        return *cursor;
    }
    free.take(len, reusable).unwrap_or_else(|| {
        let at = *cursor;
        *cursor += len;
        at
    })
}
