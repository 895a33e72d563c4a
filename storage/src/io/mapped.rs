//! A read-only memory map: a read is a copy out of the mapping.

use std::fs::File;

use memmap2::Mmap;

use super::{PageIo, ReadRequest};

/// Reads through a memory map of the whole file, remapped when the file
/// has grown past it.
pub struct Mapped {
    file: File,
    map: Mmap,
}

impl Mapped {
    /// Maps `file`.
    pub fn new(file: &File) -> std::io::Result<Self> {
        let file = file.try_clone()?;
        // SAFETY: the mapping is read-only, and Loam only ever appends to a
        // world file or writes its header slots: bytes a committed directory
        // points at are never changed while mapped, and a reader checks a
        // page's CRC after copying it out.
        let map = unsafe { Mmap::map(&file)? };
        Ok(Self { file, map })
    }
}

impl PageIo for Mapped {
    fn name(&self) -> &'static str {
        "mmap"
    }

    fn read_batch(&mut self, requests: &mut [ReadRequest<'_>]) -> std::io::Result<()> {
        let needed = requests
            .iter()
            .map(|r| r.offset + r.buf.len() as u64)
            .max()
            .unwrap_or(0);
        if needed > self.map.len() as u64 {
            // SAFETY: as in `new`.
            self.map = unsafe { Mmap::map(&self.file)? };
        }
        for r in requests {
            let start = usize::try_from(r.offset).map_err(std::io::Error::other)?;
            let src = self.map.get(start..start + r.buf.len()).ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "read past the end of the file",
                )
            })?;
            r.buf.copy_from_slice(src);
        }
        Ok(())
    }
}
