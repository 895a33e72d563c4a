// GPU cache feedback, after GigaVoxels: every point a kernel touched (in
// cell coordinates) counts one use of its page when the page is resident,
// and asks for it once when it is not. The counts and the requests are read
// back asynchronously; they feed the page table's LRU and the streamer.

struct Params {
    points: u32,
    // Room for requests after the count in `requests[0]`.
    capacity: u32,
    // Cells along a page edge.
    page: u32,
    _pad: u32,
    // Pages along x, y, z.
    pages: vec4<u32>,
}

// Parameters in a storage buffer, not a uniform one: lavapipe compiles a
// variant of a shader for the uniform values its branches depend on at
// every dispatch and never frees it (see ca_move.wgsl).
@group(0) @binding(0) var<storage, read> params: Params;
// 3 floats per point, cell coordinates.
@group(0) @binding(1) var<storage, read> points: array<f32>;
// Per page (dense index, x fastest): 1 if resident.
@group(0) @binding(2) var<storage, read> resident: array<u32>;
// Per page: uses since the last readback.
@group(0) @binding(3) var<storage, read_write> uses: array<atomic<u32>>;
// Per page: 1 once it has been asked for since the last readback.
@group(0) @binding(4) var<storage, read_write> asked: array<atomic<u32>>;
// requests[0]: how many pages were asked for; then their indices.
@group(0) @binding(5) var<storage, read_write> requests: array<atomic<u32>>;

// Whether every component is finite. By the bits: WGSL lets compilers
// assume floats are never NaN, so `q != q` may be folded to false.
fn finite(q: vec3<f32>) -> bool {
    let exponent = bitcast<vec3<u32>>(q) & vec3<u32>(0x7f800000u);
    return all(exponent != vec3<u32>(0x7f800000u));
}

@compute @workgroup_size(64)
fn record(@builtin(global_invocation_id) id: vec3<u32>) {
    let i = id.x;
    if (i >= params.points) {
        return;
    }
    let p = vec3<f32>(points[3u * i], points[3u * i + 1u], points[3u * i + 2u]);
    if (any(p < vec3<f32>(0.0)) || !finite(p)) {
        return;
    }
    let c = vec3<u32>(p) / params.page;
    if (any(c >= params.pages.xyz)) {
        return;
    }
    let k = c.x + params.pages.x * (c.y + params.pages.y * c.z);
    if (resident[k] != 0u) {
        atomicAdd(&uses[k], 1u);
    } else if (atomicExchange(&asked[k], 1u) == 0u) {
        let n = atomicAdd(&requests[0], 1u);
        if (n < params.capacity) {
            atomicStore(&requests[1u + n], k);
        }
    }
}
