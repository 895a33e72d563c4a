// Checks the GPU's counter-based randomness against the CPU's: for each
// (seed, frame, id) triple, its hash3 and unit value. Needs random.wgsl.

// Per triple: seed, frame, id as (low, high) pairs.
@group(0) @binding(0) var<storage, read> inputs: array<vec2<u32>>;
// Per triple: the hash (low, high), then the unit value's bits and zero.
@group(0) @binding(1) var<storage, read_write> outputs: array<vec2<u32>>;

@compute @workgroup_size(64)
fn check(@builtin(global_invocation_id) id: vec3<u32>) {
    let i = id.x;
    if (3u * i + 2u >= arrayLength(&inputs)) {
        return;
    }
    let h = hash3(inputs[3u * i], inputs[3u * i + 1u], inputs[3u * i + 2u]);
    outputs[2u * i] = h;
    outputs[2u * i + 1u] = vec2<u32>(bitcast<u32>(unit(h)), 0u);
}
