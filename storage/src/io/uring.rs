//! io_uring: every request of a batch in flight at once. Two modes:
//!
//! - buffered (`uring`): reads through the page cache straight into the
//!   caller's buffers — fastest while the file is cached;
//! - direct (`uring-direct`): `O_DIRECT` reads into registered buffers
//!   where the file system and the kernel allow, for worlds far larger than
//!   memory.
//!
//! `O_DIRECT` keeps pages that the resident pool already holds out of the
//! kernel's page cache, so a streamed world is not cached twice. It needs
//! block-aligned offsets, lengths and memory. World-file payloads start on
//! 4096-byte boundaries, and each read goes into one of [`DEPTH`] aligned
//! staging buffers. The ring registers these buffers once (`READ_FIXED`),
//! so the kernel does not map them again for every read. A request that
//! does not fit a staging buffer, or is not aligned, is read through the
//! page cache straight into its own buffer. So is every request when the
//! file system refuses `O_DIRECT` (tmpfs, for one).

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;

use io_uring::{opcode, types, IoUring};

use super::{PageIo, ReadRequest};

/// Submission queue depth: requests in flight at once.
const DEPTH: usize = 64;
/// Bytes of each staging buffer: a 32³ page's temperature channel, stored
/// raw, with room to spare.
const STAGING_BYTES: usize = 192 * 1024;
/// Alignment of `O_DIRECT` offsets, lengths and memory (covers 512- and
/// 4096-byte logical blocks).
const BLOCK: usize = 4096;

/// [`DEPTH`] block-aligned buffers of [`STAGING_BYTES`] in one allocation.
struct Staging {
    ptr: *mut u8,
    layout: Layout,
}

// SAFETY: the allocation is owned, and only used through `&mut Uring`.
unsafe impl Send for Staging {}

impl Staging {
    fn new() -> Self {
        let layout =
            Layout::from_size_align(DEPTH * STAGING_BYTES, BLOCK).expect("a valid staging layout");
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { alloc_zeroed(layout) };
        if ptr.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        Self { ptr, layout }
    }

    fn buffer(&self, k: usize) -> *mut u8 {
        debug_assert!(k < DEPTH);
        // SAFETY: within the allocation.
        unsafe { self.ptr.add(k * STAGING_BYTES) }
    }

    fn iovecs(&self) -> Vec<libc::iovec> {
        (0..DEPTH)
            .map(|k| libc::iovec {
                iov_base: self.buffer(k).cast(),
                iov_len: STAGING_BYTES,
            })
            .collect()
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { dealloc(self.ptr, self.layout) }
    }
}

/// Reads with io_uring, up to [`DEPTH`] requests in flight.
pub struct Uring {
    file: File,
    /// The same file opened with `O_DIRECT`, if the file system allows it.
    direct: Option<File>,
    ring: IoUring,
    staging: Staging,
    /// Whether `staging` is registered with the ring.
    registered: bool,
}

impl Uring {
    /// A ring over `file`, reading with `O_DIRECT` if `direct` is asked for
    /// and the file system allows it. Fails with the OS error when the
    /// kernel refuses io_uring (EPERM in many sandboxes, ENOSYS on old
    /// kernels).
    pub fn new(file: &File, direct: bool) -> std::io::Result<Self> {
        let ring = IoUring::new(DEPTH as u32)?;
        let direct = direct
            .then(|| {
                OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_DIRECT)
                    .open(format!("/proc/self/fd/{}", file.as_raw_fd()))
                    .ok()
            })
            .flatten();
        let staging = Staging::new();
        // SAFETY: the buffers live as long as the ring: both are fields of
        // `Uring`, and `ring` is declared (so dropped) before `staging`.
        let registered = direct.is_some()
            && unsafe { ring.submitter().register_buffers(&staging.iovecs()) }.is_ok();
        Ok(Self {
            file: file.try_clone()?,
            direct,
            ring,
            staging,
            registered,
        })
    }

    /// Whether reads bypass the page cache.
    pub fn is_direct(&self) -> bool {
        self.direct.is_some()
    }

    /// Whether the staging buffers are registered with the ring.
    pub fn is_registered(&self) -> bool {
        self.registered
    }
}

impl Uring {
    /// Submits what is queued and waits for `n` completions, retrying when
    /// interrupted. Returning early would leave the kernel writing into
    /// buffers the caller is about to free, so an error that cannot be
    /// retried ends the process instead.
    fn wait(&mut self, n: usize) {
        loop {
            match self.ring.submit_and_wait(n) {
                Ok(_) => return,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::Interrupted | std::io::ErrorKind::WouldBlock
                    ) || e.raw_os_error() == Some(libc::EBUSY) =>
                {
                    continue
                }
                Err(e) => {
                    eprintln!("io_uring failed with reads in flight: {e}; stopping");
                    std::process::abort();
                }
            }
        }
    }
}

impl PageIo for Uring {
    fn name(&self) -> &'static str {
        if self.direct.is_some() {
            "uring-direct"
        } else {
            "uring"
        }
    }

    fn read_batch(&mut self, requests: &mut [ReadRequest<'_>]) -> std::io::Result<()> {
        let buffered = types::Fd(self.file.as_raw_fd());
        let direct = self.direct.as_ref().map(|f| types::Fd(f.as_raw_fd()));
        for chunk in requests.chunks_mut(DEPTH) {
            // Everything that can fail is checked before the first entry is
            // pushed: once the kernel may write into a buffer, this function
            // does not return until every entry of the chunk has completed.
            if chunk.iter().any(|r| u32::try_from(r.buf.len()).is_err()) {
                return Err(std::io::Error::other("a read longer than 4 GiB"));
            }
            // Per request: the bytes read into staging buffer `k`, if staged.
            let mut staged = [0usize; DEPTH];
            for (k, r) in chunk.iter_mut().enumerate() {
                let len = r.buf.len();
                let rounded = len.div_ceil(BLOCK) * BLOCK;
                let entry = match direct {
                    Some(fd) if r.offset % BLOCK as u64 == 0 && rounded <= STAGING_BYTES => {
                        staged[k] = rounded;
                        let buf = self.staging.buffer(k);
                        if self.registered {
                            opcode::ReadFixed::new(fd, buf, rounded as u32, k as u16)
                                .offset(r.offset)
                                .build()
                        } else {
                            opcode::Read::new(fd, buf, rounded as u32)
                                .offset(r.offset)
                                .build()
                        }
                    }
                    _ => {
                        let len = len as u32; // checked above
                        opcode::Read::new(buffered, r.buf.as_mut_ptr(), len)
                            .offset(r.offset)
                            .build()
                    }
                };
                // SAFETY: every buffer outlives the operation: we wait for
                // every completion of this chunk below before the borrows end,
                // and each staging buffer serves one request of the chunk. The
                // queue holds DEPTH entries and was drained by the last chunk,
                // so the push cannot fail.
                let pushed = unsafe { self.ring.submission().push(&entry.user_data(k as u64)) };
                assert!(pushed.is_ok(), "the drained submission queue has room");
            }
            self.wait(chunk.len());
            let mut done = 0;
            let mut failure = None;
            while done < chunk.len() {
                let Some(cqe) = self.ring.completion().next() else {
                    self.wait(1);
                    continue;
                };
                done += 1;
                let k = cqe.user_data() as usize;
                let res = cqe.result();
                let wanted = chunk[k].buf.len();
                // A direct read of a rounded length may stop at the end of
                // the file, past the bytes wanted.
                if res < 0 {
                    failure.get_or_insert(std::io::Error::from_raw_os_error(-res));
                } else if (res as usize) < wanted || (staged[k] == 0 && res as usize != wanted) {
                    failure.get_or_insert(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        format!(
                            "short read: {res} of {wanted} bytes at offset {}",
                            chunk[k].offset
                        ),
                    ));
                } else if staged[k] > 0 {
                    // SAFETY: the kernel wrote at least `wanted` bytes there.
                    let src = unsafe { std::slice::from_raw_parts(self.staging.buffer(k), wanted) };
                    chunk[k].buf.copy_from_slice(src);
                }
            }
            if let Some(e) = failure {
                return Err(e);
            }
        }
        Ok(())
    }
}
