//! Counter-based randomness in WGSL, bit for bit the CPU's.

use super::*;

pub(super) fn random_numbers_on_the_gpu_are_the_cpus_bit_for_bit() {
    use loam_runtime::random::{hash3, unit3};
    let gpu = gpu();
    // Edge values and a spread of counters, as the kernels will use them.
    let edges = [
        0,
        1,
        2,
        u64::from(u32::MAX),
        1 << 32,
        u64::MAX,
        0x9E37_79B9_7F4A_7C15,
    ];
    let mut triples = Vec::new();
    for &a in &edges {
        for &b in &edges {
            for &c in &edges {
                triples.push([a, b, c]);
            }
        }
    }
    triples.extend(
        (0..50_000u64).map(|k| [k.wrapping_mul(0x2545_F491_4F6C_DD1D), k / 7, k << 21 ^ k]),
    );
    let got = loam_gpu::random::hash3_on_gpu(&gpu, &triples).expect("the kernel runs");
    for (t, &(h, u)) in triples.iter().zip(&got) {
        assert_eq!(h, hash3(t[0], t[1], t[2]), "hash3{t:?}");
        assert_eq!(u.to_bits(), unit3(t[0], t[1], t[2]).to_bits(), "unit3{t:?}");
    }
}
