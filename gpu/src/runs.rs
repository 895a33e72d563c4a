//! Runs of consecutive elements (bricks, particles, faces), and sending
//! them to the GPU a write per run rather than a write per element.

use bytemuck::Pod;

use crate::GpuContext;

/// Half-open ranges of elements.
pub(crate) type Runs = Vec<(usize, usize)>;

/// The ranges of `spans` that `pick` chooses (by index), adjacent ones
/// merged, empty ones left out.
pub(crate) fn runs(spans: &[(usize, usize)], pick: impl Fn(usize) -> bool) -> Runs {
    let mut out: Runs = Vec::new();
    for (k, &(lo, hi)) in spans.iter().enumerate() {
        if !pick(k) || lo == hi {
            continue;
        }
        match out.last_mut() {
            Some(last) if last.1 == lo => last.1 = hi,
            _ => out.push((lo, hi)),
        }
    }
    out
}

/// The elements in `runs`.
pub(crate) fn length(runs: &[(usize, usize)]) -> u64 {
    runs.iter().map(|r| (r.1 - r.0) as u64).sum()
}

/// Writes the elements `runs` of `data` into `buffer`, at their places.
pub(crate) fn send<T: Pod>(
    gpu: &GpuContext,
    buffer: &wgpu::Buffer,
    data: &[T],
    runs: &[(usize, usize)],
) {
    let size = std::mem::size_of::<T>();
    for &(lo, hi) in runs {
        gpu.queue.write_buffer(
            buffer,
            (lo * size) as u64,
            bytemuck::cast_slice(&data[lo..hi]),
        );
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn runs_merge_adjacent_picked_spans_and_skip_empty_ones() {
        let spans = [(0, 3), (3, 5), (5, 5), (5, 9), (9, 12), (12, 14)];
        let got = super::runs(&spans, |k| k != 4);
        assert_eq!(got, vec![(0, 9), (12, 14)]);
        assert_eq!(super::length(&got), 11);
    }
}
