//! `pread`: one positioned read per request.

use std::fs::File;
use std::os::unix::fs::FileExt;

use super::{PageIo, ReadRequest};

/// Reads with `pread(2)`.
pub struct Pread {
    file: File,
}

impl Pread {
    /// A backend over (a clone of the handle of) `file`.
    pub fn new(file: &File) -> std::io::Result<Self> {
        Ok(Self {
            file: file.try_clone()?,
        })
    }
}

impl PageIo for Pread {
    fn name(&self) -> &'static str {
        "pread"
    }

    fn read_batch(&mut self, requests: &mut [ReadRequest<'_>]) -> std::io::Result<()> {
        for r in requests {
            self.file.read_exact_at(r.buf, r.offset)?;
        }
        Ok(())
    }
}
