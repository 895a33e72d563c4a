// One explicit diffusion substep of one field channel over sparse bricks
// of 8³ field cells: u' = (u + alpha * (sum of the 6 face neighbours - 6u))
// * scale, where scale is the channel's decay on its last substep of a
// step, else 1 (which changes no bit).
// A cell whose neighbour lies in a missing brick sees zero there, as on the
// CPU (`loam_systems::fields::diffuse_bricks`), and the six neighbours are
// summed in the same order (-x, +x, -y, +y, -z, +z).

struct Params {
    alpha: f32,
    bricks: u32,
    scale: f32,
}

const BRICK: u32 = 8u;
const CELLS: u32 = 512u;

// Parameters in a storage buffer, not a uniform one: lavapipe compiles a
// variant of a shader for the uniform values its branches depend on at
// every dispatch and never frees it (see ca_move.wgsl).
@group(0) @binding(0) var<storage, read> params: Params;
// Brick k's cells at [k * 512, (k + 1) * 512), x fastest.
@group(0) @binding(1) var<storage, read> cells_in: array<f32>;
// Brick k's face neighbours at [k * 6, k * 6 + 6); -1 where missing.
@group(0) @binding(2) var<storage, read> neighbours: array<i32>;
@group(0) @binding(3) var<storage, read_write> cells_out: array<f32>;

// The value of the cell at local coordinates `c` of brick `k`, stepping
// into the face neighbour `face` when `c` leaves the brick along its axis.
fn at(k: u32, c: vec3<i32>, face: u32) -> f32 {
    let b = i32(BRICK);
    if (all(c >= vec3<i32>(0)) && all(c < vec3<i32>(b))) {
        return cells_in[k * CELLS + u32(c.x + b * (c.y + b * c.z))];
    }
    let n = neighbours[k * 6u + face];
    if (n < 0) {
        return 0.0;
    }
    let w = (c + vec3<i32>(b)) % vec3<i32>(b);
    return cells_in[u32(n) * CELLS + u32(w.x + b * (w.y + b * w.z))];
}

// Dispatched in rows of at most 65535 workgroups (a dimension's limit):
// the cell is the invocation's index over the whole grid.
@compute @workgroup_size(64)
fn diffuse(
    @builtin(global_invocation_id) id: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let i = id.x + id.y * groups.x * 64u;
    if (i >= params.bricks * CELLS) {
        return;
    }
    let k = i / CELLS;
    let l = i % CELLS;
    let c = vec3<i32>(i32(l % BRICK), i32((l / BRICK) % BRICK), i32(l / (BRICK * BRICK)));
    let v = cells_in[i];
    let sum = at(k, c - vec3<i32>(1, 0, 0), 0u)
        + at(k, c + vec3<i32>(1, 0, 0), 1u)
        + at(k, c - vec3<i32>(0, 1, 0), 2u)
        + at(k, c + vec3<i32>(0, 1, 0), 3u)
        + at(k, c - vec3<i32>(0, 0, 1), 4u)
        + at(k, c + vec3<i32>(0, 0, 1), 5u);
    cells_out[i] = (v + params.alpha * (sum - 6.0 * v)) * params.scale;
}
