// Counter-based randomness on the GPU, bit for bit the CPU's
// (loam_runtime::random): SplitMix64's mixer over (seed, frame, id).
// WGSL has no 64-bit integers, so a u64 is a vec2<u32> (low, high) and the
// 64-bit product is built from 16-bit halves. Kernels that need it get this
// file prepended (loam_gpu::shaders::with_random).

const GOLDEN: vec2<u32> = vec2<u32>(0x7F4A7C15u, 0x9E3779B9u);

// The full 64-bit product of two u32s, as (low, high).
fn mul_wide(x: u32, y: u32) -> vec2<u32> {
    let xl = x & 0xFFFFu;
    let xh = x >> 16u;
    let yl = y & 0xFFFFu;
    let yh = y >> 16u;
    let ll = xl * yl;
    let lh = xl * yh;
    let hl = xh * yl;
    let hh = xh * yh;
    let mid = (ll >> 16u) + (lh & 0xFFFFu) + (hl & 0xFFFFu);
    let lo = (ll & 0xFFFFu) | (mid << 16u);
    let hi = hh + (lh >> 16u) + (hl >> 16u) + (mid >> 16u);
    return vec2<u32>(lo, hi);
}

// a * b, wrapping (the low 64 bits).
fn mul64(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
    let low = mul_wide(a.x, b.x);
    return vec2<u32>(low.x, low.y + a.x * b.y + a.y * b.x);
}

// a + b, wrapping.
fn add64(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
    let lo = a.x + b.x;
    return vec2<u32>(lo, a.y + b.y + select(0u, 1u, lo < a.x));
}

// a >> n for 0 < n < 32.
fn shr64(a: vec2<u32>, n: u32) -> vec2<u32> {
    return vec2<u32>((a.x >> n) | (a.y << (32u - n)), a.y >> n);
}

// SplitMix64's output function.
fn mix64(v: vec2<u32>) -> vec2<u32> {
    var z = mul64(v ^ shr64(v, 30u), vec2<u32>(0x1CE4E5B9u, 0xBF58476Du));
    z = mul64(z ^ shr64(z, 27u), vec2<u32>(0x133111EBu, 0x94D049BBu));
    return z ^ shr64(z, 31u);
}

// A random 64-bit value for (seed, frame, id).
fn hash3(seed: vec2<u32>, frame: vec2<u32>, id: vec2<u32>) -> vec2<u32> {
    return mix64(add64(seed, mix64(mul64(frame, GOLDEN) ^ add64(id, GOLDEN))));
}

// A uniform value in [0, 1) from a hash: its top 24 bits.
fn unit(h: vec2<u32>) -> f32 {
    return f32(h.y >> 8u) * (1.0 / 16777216.0);
}
