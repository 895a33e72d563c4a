//! Counter-based randomness.
//!
//! There is no shared random state: every random choice is a pure function of
//! (seed, frame, id, stream), so results do not depend on which thread makes
//! the choice or in which order. The mixer is SplitMix64's finaliser
//! (Steele, Lea, Flood: "Fast splittable pseudorandom number generators",
//! OOPSLA 2014), applied to a combination of the counters.

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's output function: a bijective 64-bit mixer.
#[inline(always)]
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A random 64-bit value for (`seed`, `frame`, `id`).
#[inline(always)]
pub fn hash3(seed: u64, frame: u64, id: u64) -> u64 {
    mix64(seed.wrapping_add(mix64(frame.wrapping_mul(GOLDEN) ^ id.wrapping_add(GOLDEN))))
}

/// A uniform value in `[0, 1)` for (`seed`, `frame`, `id`).
#[inline(always)]
pub fn unit3(seed: u64, frame: u64, id: u64) -> f32 {
    (hash3(seed, frame, id) >> 40) as f32 * (1.0 / (1u64 << 24) as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_counters_same_value_and_neighbours_differ() {
        assert_eq!(hash3(7, 3, 99), hash3(7, 3, 99));
        assert_ne!(hash3(7, 3, 99), hash3(7, 3, 100));
        assert_ne!(hash3(7, 3, 99), hash3(7, 4, 99));
        assert_ne!(hash3(7, 3, 99), hash3(8, 3, 99));
    }

    #[test]
    fn unit_values_are_roughly_uniform() {
        let n = 100_000u64;
        let mut buckets = [0u32; 10];
        for i in 0..n {
            let u = unit3(1, 2, i);
            assert!((0.0..1.0).contains(&u));
            buckets[(u * 10.0) as usize] += 1;
        }
        for b in buckets {
            assert!((9_500..10_500).contains(&b), "bucket count {b}");
        }
    }
}
