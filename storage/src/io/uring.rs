//! io_uring: every request of a batch in flight at once.

use std::fs::File;
use std::os::fd::AsRawFd;

use io_uring::{opcode, types, IoUring};

use super::{PageIo, ReadRequest};

/// Submission queue depth: requests in flight at once.
const DEPTH: u32 = 64;

/// Reads with io_uring, up to [`DEPTH`] requests in flight.
pub struct Uring {
    file: File,
    ring: IoUring,
}

impl Uring {
    /// A ring over `file`. Fails with the OS error when the kernel refuses
    /// io_uring (EPERM in many sandboxes, ENOSYS on old kernels).
    pub fn new(file: &File) -> std::io::Result<Self> {
        Ok(Self {
            file: file.try_clone()?,
            ring: IoUring::new(DEPTH)?,
        })
    }
}

impl PageIo for Uring {
    fn name(&self) -> &'static str {
        "uring"
    }

    fn read_batch(&mut self, requests: &mut [ReadRequest<'_>]) -> std::io::Result<()> {
        let fd = types::Fd(self.file.as_raw_fd());
        for chunk in requests.chunks_mut(DEPTH as usize) {
            for (k, r) in chunk.iter_mut().enumerate() {
                let len = u32::try_from(r.buf.len()).map_err(std::io::Error::other)?;
                let read = opcode::Read::new(fd, r.buf.as_mut_ptr(), len)
                    .offset(r.offset)
                    .build()
                    .user_data(k as u64);
                // SAFETY: the buffer outlives the operation: we wait for every
                // completion of this chunk below before the borrow ends.
                unsafe { self.ring.submission().push(&read) }
                    .map_err(|_| std::io::Error::other("io_uring submission queue full"))?;
            }
            self.ring.submit_and_wait(chunk.len())?;
            let mut done = 0;
            let mut failure = None;
            while done < chunk.len() {
                let Some(cqe) = self.ring.completion().next() else {
                    self.ring.submit_and_wait(1)?;
                    continue;
                };
                done += 1;
                let k = cqe.user_data() as usize;
                let res = cqe.result();
                if res < 0 {
                    failure.get_or_insert(std::io::Error::from_raw_os_error(-res));
                } else if res as usize != chunk[k].buf.len() {
                    failure.get_or_insert(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        format!(
                            "short read: {res} of {} bytes at offset {}",
                            chunk[k].buf.len(),
                            chunk[k].offset
                        ),
                    ));
                }
            }
            if let Some(e) = failure {
                return Err(e);
            }
        }
        Ok(())
    }
}
