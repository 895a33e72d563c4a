//! Frame times of a run of unknown length (a soak that runs for an hour),
//! kept in bounded memory, for the p95 of about its first and its last
//! tenth.
//!
//! Keeping every frame time would grow by 8 bytes a frame (11 MiB in an
//! hour of `streaming.toml`), which the soak's own memory watch then sees.
//! Instead the frames go into blocks of `block` consecutive frames, each a
//! histogram with bins 1/64 of a doubling wide (about 1.1 %): when
//! [`MAX_BLOCKS`] blocks are full, neighbours merge and `block` doubles. So
//! there are at most [`MAX_BLOCKS`] + 1 blocks whatever the length, and
//! each holds at most 1/20 of the frames once there are more than
//! [`MAX_BLOCKS`] of them: the first blocks holding a tenth of the frames
//! hold at most 15 % of them. A percentile comes out as its bin's upper
//! edge: at most 1.1 % over the true value.

/// Most full blocks before neighbours merge.
pub const MAX_BLOCKS: usize = 40;
/// Bins per doubling of the frame time.
const BINS_PER_DOUBLING: f64 = 64.0;
/// The first bin's upper edge, ms: shorter frames count there.
const SHORTEST_MS: f64 = 1e-3;
/// Bins from [`SHORTEST_MS`] to 2^26 times it (67 s); longer frames count
/// in the last.
const BINS: usize = 64 * 26;

/// Consecutive frames' times, binned.
#[derive(Clone, Debug)]
struct Block {
    frames: u64,
    bins: Vec<u32>,
}

impl Block {
    fn new() -> Self {
        Self {
            frames: 0,
            bins: vec![0; BINS],
        }
    }

    fn merge(&mut self, other: &Block) {
        self.frames += other.frames;
        self.bins
            .iter_mut()
            .zip(&other.bins)
            .for_each(|(a, b)| *a += b);
    }
}

/// A run's frame times, in bounded memory (see the module docs).
#[derive(Clone, Debug)]
pub struct FrameTenths {
    /// Frames a full block holds.
    block: u64,
    /// Full blocks, then the one filling.
    blocks: Vec<Block>,
}

impl Default for FrameTenths {
    fn default() -> Self {
        Self {
            block: 1,
            blocks: vec![Block::new()],
        }
    }
}

impl FrameTenths {
    /// Counts a frame of `ms`.
    pub fn push(&mut self, ms: f64) {
        if self.blocks.last().is_some_and(|b| b.frames == self.block) {
            if self.blocks.len() == MAX_BLOCKS {
                let pairs = std::mem::take(&mut self.blocks);
                self.blocks = pairs
                    .chunks(2)
                    .map(|pair| {
                        let mut merged = pair[0].clone();
                        pair.iter().skip(1).for_each(|b| merged.merge(b));
                        merged
                    })
                    .collect();
                self.block *= 2;
            }
            if self.blocks.last().is_some_and(|b| b.frames == self.block) {
                self.blocks.push(Block::new());
            }
        }
        let last = self
            .blocks
            .last_mut()
            .expect("there is always a block filling");
        last.frames += 1;
        last.bins[bin(ms)] += 1;
    }

    /// Frames counted.
    pub fn frames(&self) -> u64 {
        self.blocks.iter().map(|b| b.frames).sum()
    }

    /// Blocks held (at most [`MAX_BLOCKS`] + 1).
    pub fn blocks(&self) -> usize {
        self.blocks.len()
    }

    /// The p95 of about the first and about the last tenth of the frames
    /// (the fewest whole blocks from each end holding a tenth), ms; `None`
    /// with fewer than 20 frames a tenth.
    pub fn p95(&self) -> Option<[f64; 2]> {
        let tenth = self.frames() / 10;
        if tenth < 20 {
            return None;
        }
        let end = |blocks: &mut dyn Iterator<Item = &Block>| {
            let mut part = Block::new();
            for b in blocks {
                part.merge(b);
                if part.frames >= tenth {
                    break;
                }
            }
            percentile(&part, 0.95)
        };
        Some([
            end(&mut self.blocks.iter()),
            end(&mut self.blocks.iter().rev()),
        ])
    }
}

/// The bin of a frame of `ms`.
fn bin(ms: f64) -> usize {
    if ms.is_nan() || ms <= SHORTEST_MS {
        return 0;
    }
    let k = ((ms / SHORTEST_MS).log2() * BINS_PER_DOUBLING).ceil();
    (k.max(0.0) as usize).min(BINS - 1)
}

/// The upper edge of bin `k`, ms.
fn upper_edge(k: usize) -> f64 {
    SHORTEST_MS * (k as f64 / BINS_PER_DOUBLING).exp2()
}

/// The `q` quantile of `block`'s frames (nearest rank), as its bin's upper
/// edge.
fn percentile(block: &Block, q: f64) -> f64 {
    let rank = ((block.frames as f64 * q).ceil() as u64).max(1);
    let mut seen = 0;
    for (k, &n) in block.bins.iter().enumerate() {
        seen += u64::from(n);
        if seen >= rank {
            return upper_edge(k);
        }
    }
    upper_edge(BINS - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    use loam_runtime::random::mix64 as mix;

    /// The exact p95 of `ms`.
    fn exact(ms: &[f64]) -> f64 {
        let mut v = ms.to_vec();
        v.sort_by(f64::total_cmp);
        v[((v.len() as f64 * 0.95).ceil() as usize).max(1) - 1]
    }

    /// Generated runs of many lengths, steady (noise about a level) or with
    /// a slow stretch at the start or the end: the blocks stay bounded,
    /// every frame is counted, each p95 is at most a quarter over the exact
    /// p95 of the tenth at its end (steady, within 3 % of it), and the
    /// slow end is the one found slow.
    #[test]
    fn tenths_stay_bounded_and_match_the_exact_percentiles() {
        for case in 0..40u64 {
            let frames = 200 + mix(case) % 60_000;
            let level = 0.05 + (mix(case + 1) % 4000) as f64 / 100.0;
            let slow_at = mix(case + 2) % 3; // 0 steady, 1 start, 2 end
            let ms: Vec<f64> = (0..frames)
                .map(|f| {
                    let noise = (mix(case * 1_000_003 + f) % 1000) as f64 / 1000.0;
                    let slow = match slow_at {
                        1 => f < frames / 20,
                        2 => f >= frames - frames / 20,
                        _ => false,
                    };
                    level * (0.5 + noise) * if slow { 4.0 } else { 1.0 }
                })
                .collect();
            let mut t = FrameTenths::default();
            for &m in &ms {
                t.push(m);
                assert!(t.blocks() <= MAX_BLOCKS + 1, "case {case}");
            }
            assert_eq!(t.frames(), frames, "case {case}");
            let [first, last] = t.p95().unwrap();
            let tenth = frames as usize / 10;
            let (head, tail) = (exact(&ms[..tenth]), exact(&ms[ms.len() - tenth..]));
            for (got, want, end) in [(first, head, "first"), (last, tail, "last")] {
                assert!(
                    got <= want * 1.25 + 1e-9,
                    "case {case} {end}: {got} vs {want}"
                );
                if slow_at == 0 {
                    assert!(
                        (got / want - 1.0).abs() < 0.03,
                        "case {case} {end}: {got} vs {want}"
                    );
                }
            }
            match slow_at {
                1 => assert!(first > 2.0 * last, "case {case}: {first} {last}"),
                2 => assert!(last > 2.0 * first, "case {case}: {first} {last}"),
                _ => {}
            }
        }
        assert_eq!(FrameTenths::default().p95(), None);
    }
}
