// The peaks of one field channel of each brick: the largest magnitude on
// each face plane (-x, +x, -y, +y, -z, +z) and over the brick, which the
// CPU grows and frees bricks by (`loam_systems::fields::Peaks::of`: the
// same maxima, exact, unless a GPU flushes subnormal values to zero). One
// workgroup per brick, in rows of at most 65535 workgroups, one invocation
// per row of 8 cells (row = y + 8 z).

struct Params {
    bricks: u32,
    // Where this channel's peaks start in `peaks`, in floats.
    first: u32,
}

@group(0) @binding(0) var<storage, read> params: Params;
@group(0) @binding(1) var<storage, read> cells: array<f32>;
// Brick k's seven peaks at [first + 7 k, first + 7 k + 7).
@group(0) @binding(2) var<storage, read_write> peaks: array<f32>;

var<workgroup> top: array<atomic<u32>, 7>;

// |v| as bits, which order as the values do for non-negative floats; NaN
// counts as nothing, as the CPU's comparison ignores it.
fn magnitude(v: f32) -> u32 {
    let a = abs(v);
    return select(bitcast<u32>(a), 0u, a != a);
}

@compute @workgroup_size(64)
fn peaks_of(
    @builtin(workgroup_id) group: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) row: u32,
) {
    let k = group.x + group.y * groups.x;
    if (row < 7u) {
        atomicStore(&top[row], 0u);
    }
    workgroupBarrier();
    if (k < params.bricks) {
        let base = k * 512u + row * 8u;
        var m = 0u;
        for (var x = 0u; x < 8u; x++) {
            m = max(m, magnitude(cells[base + x]));
        }
        atomicMax(&top[0], magnitude(cells[base]));
        atomicMax(&top[1], magnitude(cells[base + 7u]));
        let y = row % 8u;
        let z = row / 8u;
        if (y == 0u) {
            atomicMax(&top[2], m);
        }
        if (y == 7u) {
            atomicMax(&top[3], m);
        }
        if (z == 0u) {
            atomicMax(&top[4], m);
        }
        if (z == 7u) {
            atomicMax(&top[5], m);
        }
        atomicMax(&top[6], m);
    }
    workgroupBarrier();
    if (k < params.bricks && row < 7u) {
        peaks[params.first + k * 7u + row] = bitcast<f32>(atomicLoad(&top[row]));
    }
}
