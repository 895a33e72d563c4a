//! Injected I/O faults: reads and writes of a world file that fail on
//! purpose, to test that every failure leaves the file at its last commit
//! and reaches the caller as an error naming the file.
//!
//! Whether a call fails is decided by a counter-based hash of the seed and
//! the call's number, so the same calls fail in the same order whatever the
//! timing.

use std::sync::atomic::{AtomicU64, Ordering};

/// How often reads and writes fail.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Faults {
    /// Seeds which calls fail.
    pub seed: u64,
    /// Chance that a read of page payloads fails, 0..=1.
    pub reads: f64,
    /// Chance that a write or `fsync` fails, 0..=1.
    pub writes: f64,
}

/// Faults being injected, with the calls counted so far.
#[derive(Debug)]
pub(super) struct Injector {
    faults: Faults,
    reads: AtomicU64,
    writes: AtomicU64,
    injected: AtomicU64,
}

impl Injector {
    pub(super) fn new(faults: Faults) -> Self {
        Self {
            faults,
            reads: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            injected: AtomicU64::new(0),
        }
    }

    /// Fails the next read with the chance asked for.
    pub(super) fn read(&self) -> std::io::Result<()> {
        let n = self.reads.fetch_add(1, Ordering::Relaxed);
        self.roll(self.faults.reads, n, 0x5245_4144, "read")
    }

    /// Fails the next write or `fsync` with the chance asked for.
    pub(super) fn write(&self) -> std::io::Result<()> {
        let n = self.writes.fetch_add(1, Ordering::Relaxed);
        self.roll(self.faults.writes, n, 0x5752_4954, "write")
    }

    /// Faults injected so far.
    pub(super) fn injected(&self) -> u64 {
        self.injected.load(Ordering::Relaxed)
    }

    fn roll(&self, chance: f64, n: u64, stream: u64, what: &str) -> std::io::Result<()> {
        let draw = loam_runtime::random::hash3(self.faults.seed, stream, n);
        if (draw >> 11) as f64 / (1u64 << 53) as f64 >= chance {
            return Ok(());
        }
        self.injected.fetch_add(1, Ordering::Relaxed);
        Err(std::io::Error::other(format!(
            "injected fault: {what} {n} failed on purpose"
        )))
    }
}
