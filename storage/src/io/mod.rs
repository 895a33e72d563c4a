//! I/O backends for reading page payloads: one trait, three ways to read.
//!
//! - [`Uring`] (Linux): batched reads through io_uring — many scattered page
//!   reads in one submission; `uring-direct` reads with `O_DIRECT` into
//!   registered buffers, bypassing the page cache.
//! - [`Pread`]: one `pread` per request.
//! - [`Mapped`]: a read-only memory map of the file; a read is a copy.
//!
//! [`open`] picks one; `auto` tries io_uring and falls back to `pread` when
//! the kernel refuses it (`io_uring_setup` giving EPERM or ENOSYS), and says
//! which it chose. [`Faulty`] wraps any backend and fails after a number of
//! reads, for tests of error paths.

mod mapped;
mod pread;
#[cfg(target_os = "linux")]
mod uring;

use std::fs::File;

pub use mapped::Mapped;
pub use pread::Pread;
#[cfg(target_os = "linux")]
pub use uring::Uring;

/// One read: `buf.len()` bytes at `offset`.
pub struct ReadRequest<'a> {
    /// File offset.
    pub offset: u64,
    /// Where the bytes go; its length is the read's length.
    pub buf: &'a mut [u8],
}

/// A way to read page payloads from a world file.
pub trait PageIo: Send {
    /// The backend's name, for reports: `uring`, `pread` or `mmap`.
    fn name(&self) -> &'static str;

    /// Fills every request's buffer, or fails. Reads past the end of the
    /// file are errors.
    fn read_batch(&mut self, requests: &mut [ReadRequest<'_>]) -> std::io::Result<()>;
}

/// Which backend to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoKind {
    /// io_uring (Linux), through the page cache.
    Uring,
    /// io_uring (Linux) with `O_DIRECT` and registered buffers, where the
    /// file system allows `O_DIRECT` (else through the page cache).
    UringDirect,
    /// `pread`.
    Pread,
    /// A memory map.
    Mmap,
    /// io_uring when the kernel allows it, else `pread`.
    Auto,
}

impl IoKind {
    /// Every kind, in the order `--help` lists them.
    pub const ALL: [IoKind; 5] = [
        IoKind::Uring,
        IoKind::UringDirect,
        IoKind::Pread,
        IoKind::Mmap,
        IoKind::Auto,
    ];

    /// The name used in files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            IoKind::Uring => "uring",
            IoKind::UringDirect => "uring-direct",
            IoKind::Pread => "pread",
            IoKind::Mmap => "mmap",
            IoKind::Auto => "auto",
        }
    }

    /// Parses `uring`, `uring-direct`, `pread`, `mmap` or `auto`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// Opens a backend of `kind` over `file`. With `Auto`, the note says which
/// backend was chosen and why.
pub fn open(file: &File, kind: IoKind) -> std::io::Result<(Box<dyn PageIo>, Option<String>)> {
    match kind {
        IoKind::Pread => Ok((Box::new(Pread::new(file)?), None)),
        IoKind::Mmap => Ok((Box::new(Mapped::new(file)?), None)),
        #[cfg(target_os = "linux")]
        IoKind::Uring => Ok((Box::new(Uring::new(file, false)?), None)),
        #[cfg(target_os = "linux")]
        IoKind::UringDirect => {
            let u = Uring::new(file, true)?;
            let note = format!("io: io_uring{}", uring_mode(&u));
            Ok((Box::new(u), Some(note)))
        }
        #[cfg(not(target_os = "linux"))]
        IoKind::Uring | IoKind::UringDirect => Err(std::io::Error::other("io_uring needs Linux")),
        IoKind::Auto => auto(file),
    }
}

/// io_uring if the kernel allows it, else `pread`, with a note saying which.
#[cfg(target_os = "linux")]
fn auto(file: &File) -> std::io::Result<(Box<dyn PageIo>, Option<String>)> {
    const EPERM: i32 = 1;
    const ENOSYS: i32 = 38;
    match Uring::new(file, false) {
        Ok(u) => Ok((Box::new(u), Some("io: auto chose io_uring".into()))),
        Err(e) if matches!(e.raw_os_error(), Some(EPERM | ENOSYS)) => {
            let note = format!("io: auto fell back to pread (io_uring_setup refused: {e})");
            Ok((Box::new(Pread::new(file)?), Some(note)))
        }
        Err(e) => Err(e),
    }
}

/// How a ring reads, for notes.
#[cfg(target_os = "linux")]
fn uring_mode(u: &Uring) -> &'static str {
    match (u.is_direct(), u.is_registered()) {
        (true, true) => " (O_DIRECT, registered buffers)",
        (true, false) => " (O_DIRECT)",
        _ => " through the page cache (the file system refused O_DIRECT)",
    }
}

/// `pread`, the only choice off Linux.
#[cfg(not(target_os = "linux"))]
fn auto(file: &File) -> std::io::Result<(Box<dyn PageIo>, Option<String>)> {
    Ok((
        Box::new(Pread::new(file)?),
        Some("io: auto chose pread".into()),
    ))
}

/// A backend that fails every read after the first `ok_reads`, for tests.
pub struct Faulty<B> {
    inner: B,
    ok_reads: usize,
}

impl<B: PageIo> Faulty<B> {
    /// Wraps `inner`, letting `ok_reads` requests through.
    pub fn new(inner: B, ok_reads: usize) -> Self {
        Self { inner, ok_reads }
    }
}

impl<B: PageIo> PageIo for Faulty<B> {
    fn name(&self) -> &'static str {
        "faulty"
    }

    fn read_batch(&mut self, requests: &mut [ReadRequest<'_>]) -> std::io::Result<()> {
        if requests.len() > self.ok_reads {
            self.ok_reads = 0;
            return Err(std::io::Error::other("injected I/O fault"));
        }
        self.ok_reads -= requests.len();
        self.inner.read_batch(requests)
    }
}
