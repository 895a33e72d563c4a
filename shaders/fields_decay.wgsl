// Exponential decay of one field channel over sparse bricks: every cell
// times the same factor, exp(-rate * dt), computed once on the CPU, so the
// result is the CPU's bit for bit (`loam_systems::fields::Fields::decay`).

struct Params {
    factor: f32,
    cells: u32,
};

// Parameters in a storage buffer, not a uniform one: lavapipe compiles a
// variant of a shader for the uniform values its branches depend on at
// every dispatch and never frees it (see ca_move.wgsl).
@group(0) @binding(0) var<storage, read> params: Params;
@group(0) @binding(1) var<storage, read_write> cells: array<f32>;

@compute @workgroup_size(64)
fn decay(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x < params.cells) {
        cells[id.x] = cells[id.x] * params.factor;
    }
}
