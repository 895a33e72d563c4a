//! Writing pages and committing them, crash-safely.

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
        let _zone = loam_runtime::profiling::zone("storage.write_pages");
        self.check_writable()?;
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

    fn check_writable(&self) -> Result<(), FileError> {
        match self.access {
            Access::Write => Ok(()),
            Access::Read => Err(FileError::ReadOnly {
                path: self.path.clone(),
            }),
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
        if self.pending.is_empty() && self.state().ok().flatten().as_deref() == state {
            return Ok(SaveStats::default());
        }
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
        let state_offset = align_up(dir_offset + dir.len() as u64);
        let state_ref = state.filter(|s| !s.is_empty()).map(|s| StateRef {
            offset: state_offset,
            len: s.len() as u64,
            crc: crc32fast::hash(s),
        });
        let end = align_up(state_offset + state_ref.map_or(0, |s| s.len));
        let written = (|| {
            self.file.write_all_at(&dir, dir_offset)?;
            if let Some(state) = state.filter(|s| !s.is_empty()) {
                self.file.write_all_at(state, state_offset)?;
            }
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
            version: VERSION,
            sequence: self.header.sequence + 1,
            dir_offset,
            dir_count: merged.len() as u64,
            dir_crc: crc32fast::hash(&dir),
            end,
            state: state_ref,
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
            bytes: dir.len() as u64 + state_ref.map_or(0, |s| s.len),
        })
    }
}
