//! One writer at a time: every open world file holds an advisory lock
//! (`flock`) for as long as it is open: exclusive where it may be written
//! (a run that saves, a compaction, a new file), shared where it is only
//! read (`inspect`, `export-zarr`). Readers run beside each other; a writer
//! runs alone. A process that cannot have its lock is refused at once,
//! with the holder named where Linux says who it is.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::FileError;

/// How a world file is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Read only, beside other readers.
    Read,
    /// Read and written, by this process alone.
    Write,
}

impl Access {
    fn flock(self) -> libc::c_int {
        match self {
            Access::Read => libc::LOCK_SH,
            Access::Write => libc::LOCK_EX,
        }
    }
}

/// Whether `file` took its lock: `Ok(false)` when `path` no longer names
/// it (it was replaced, by a compaction, between opening and locking: open
/// it again); an error when another process holds a lock that excludes it.
pub(super) fn lock(file: &File, path: &Path, access: Access) -> Result<bool, FileError> {
    // SAFETY: `file` is an open descriptor for the whole call; flock reads
    // no memory of ours.
    let taken = unsafe { libc::flock(file.as_raw_fd(), access.flock() | libc::LOCK_NB) } == 0;
    if !taken {
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::WouldBlock {
            return Err(FileError::Io {
                path: path.to_path_buf(),
                source: err,
            });
        }
        let inode = file.metadata().map(|m| m.ino()).unwrap_or(0);
        return Err(FileError::Locked {
            path: path.to_path_buf(),
            wanted: access,
            holder: holder(inode),
        });
    }
    let io = |source| FileError::Io {
        path: path.to_path_buf(),
        source,
    };
    let (ours, named) = (
        file.metadata().map_err(io)?,
        std::fs::metadata(path).map_err(io)?,
    );
    Ok(ours.dev() == named.dev() && ours.ino() == named.ino())
}

/// Who holds a lock on the file with inode `inode`, from `/proc/locks`: its
/// process id and command line, if Linux says.
fn holder(inode: u64) -> Option<String> {
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    // "1: FLOCK  ADVISORY  WRITE 12345 08:01:1234567 0 EOF"
    let pid = locks.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (pid, file) = (fields.get(4)?, fields.get(5)?);
        let ino = file.rsplit(':').next()?.parse::<u64>().ok()?;
        (fields.get(1) == Some(&"FLOCK") && ino == inode)
            .then(|| pid.parse::<u32>().ok())
            .flatten()
    })?;
    if pid == std::process::id() {
        return Some(format!("this process (pid {pid}), through another handle"));
    }
    let command = std::fs::read(format!("/proc/{pid}/cmdline"))
        .ok()
        .map(|c| {
            c.split(|&b| b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|c| !c.is_empty());
    Some(match command {
        Some(command) => format!("pid {pid}: {command}"),
        None => format!("pid {pid}"),
    })
}
