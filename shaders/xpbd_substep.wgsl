// One XPBD substep of `gram_schmidt` soft bodies, as the CPU does it
// (loam_systems::xpbd): predict, shape constraints (all voxels at once:
// their corners are their own), face constraints one colour per dispatch,
// collision with the world's solid cells, then velocities damped relative
// to each body's mean. Each entry point is one dispatch. Arithmetic follows
// the CPU's order (hand-written dot and cross products), so results agree
// to float rounding.
//
// Not mirrored yet: fields (wind, buoyancy), contacts between bodies,
// sleeping, and the shared-corner solvers. Collision also records which
// pages the particles touch, for the page-use feedback.

struct Params {
    h: f32,
    gravity: f32,
    inv_h2: f32,
    particles: u32,
    shapes: u32,
    bodies: u32,
    // Cells along a page edge.
    page: u32,
    // Room for page requests after the count in `requests[0]`.
    capacity: u32,
    // World size in cells (xyz); w: words of blocked bits per page.
    world: vec4<u32>,
    // Pages along x, y, z.
    pages: vec4<u32>,
}

struct Colour {
    start: u32,
    count: u32,
}

const SKIN: f32 = 1e-3;

// Parameters in a storage buffer, not a uniform one: lavapipe compiles a
// variant of a shader for the uniform values its branches depend on at
// every dispatch and never frees it (see ca_move.wgsl).
@group(0) @binding(0) var<storage, read> params: Params;
// Per particle, 3 floats each.
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> prev: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;
// Per particle: inverse mass, friction.
@group(0) @binding(4) var<storage, read> pconst: array<f32>;
// Per shape: first corner, edge (bits), compliance (bits).
@group(0) @binding(5) var<storage, read> shapes: array<u32>;
// Per face: 4 low-side particles, then 4 high-side ones.
@group(0) @binding(6) var<storage, read> faces: array<u32>;
// Per face: compliance, tear distance.
@group(0) @binding(7) var<storage, read> fconst: array<f32>;
@group(0) @binding(8) var<storage, read_write> broken: array<u32>;
// Face indices, colour after colour.
@group(0) @binding(9) var<storage, read> colours: array<u32>;
// Per body: first particle, end.
@group(0) @binding(10) var<storage, read> bodies: array<u32>;
// Per body: damping per second.
@group(0) @binding(11) var<storage, read> damping: array<f32>;
// Per body: mean velocity (xyz) and the part of the rest kept (w).
@group(0) @binding(12) var<storage, read_write> means: array<vec4<f32>>;
// The world mirror (loam_gpu::WorldMirror): per page, its slot + 1 (0: not
// resident, a wall); per slot, a bit per cell, set where the cell is solid
// or powder.
@group(0) @binding(13) var<storage, read> table: array<u32>;
@group(0) @binding(14) var<storage, read> solid: array<u32>;
// Page-use feedback (loam_gpu::PageUse): uses of resident pages, and
// absent pages asked for once.
@group(0) @binding(15) var<storage, read_write> uses: array<atomic<u32>>;
@group(0) @binding(16) var<storage, read_write> asked: array<atomic<u32>>;
@group(0) @binding(17) var<storage, read_write> requests: array<atomic<u32>>;
@group(1) @binding(0) var<storage, read> colour: Colour;

fn load(buf: u32, p: u32) -> vec3<f32> {
    if (buf == 0u) {
        return vec3<f32>(x[3u * p], x[3u * p + 1u], x[3u * p + 2u]);
    }
    return vec3<f32>(prev[3u * p], prev[3u * p + 1u], prev[3u * p + 2u]);
}

fn store_x(p: u32, q: vec3<f32>) {
    x[3u * p] = q.x;
    x[3u * p + 1u] = q.y;
    x[3u * p + 2u] = q.z;
}

fn dot3(a: vec3<f32>, b: vec3<f32>) -> f32 {
    return a.x * b.x + a.y * b.y + a.z * b.z;
}

fn cross3(a: vec3<f32>, b: vec3<f32>) -> vec3<f32> {
    return vec3<f32>(a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x);
}

@compute @workgroup_size(64)
fn predict(@builtin(global_invocation_id) id: vec3<u32>) {
    let p = id.x;
    if (p >= params.particles) {
        return;
    }
    let here = load(0u, p);
    prev[3u * p] = here.x;
    prev[3u * p + 1u] = here.y;
    prev[3u * p + 2u] = here.z;
    if (pconst[2u * p] == 0.0) {
        return;
    }
    var vel = vec3<f32>(v[3u * p], v[3u * p + 1u], v[3u * p + 2u]);
    vel.y = vel.y - params.gravity * params.h;
    v[3u * p + 1u] = vel.y;
    store_x(p, here + vel * params.h);
}

// Gram-Schmidt of `axes` in the order k, k + 1, k + 2 (cyclic) as a
// right-handed frame in axis order; `ok` false when degenerate.
struct Frame {
    e: array<vec3<f32>, 3>,
    ok: bool,
}

fn gram_schmidt(axes: array<vec3<f32>, 3>, k: u32) -> Frame {
    var out: Frame;
    out.ok = false;
    let a = axes[k];
    let b = axes[(k + 1u) % 3u];
    let la = sqrt(dot3(a, a));
    if (la < 1e-6) {
        return out;
    }
    let ea = a * (1.0 / la);
    let along = dot3(b, ea);
    let bo = b - along * ea;
    let lb = sqrt(dot3(bo, bo));
    if (lb < 1e-6) {
        return out;
    }
    let eb = bo * (1.0 / lb);
    out.e[k] = ea;
    out.e[(k + 1u) % 3u] = eb;
    out.e[(k + 2u) % 3u] = cross3(ea, eb);
    out.ok = true;
    return out;
}

@compute @workgroup_size(64)
fn shape(@builtin(global_invocation_id) id: vec3<u32>) {
    let s = id.x;
    if (s >= params.shapes) {
        return;
    }
    let first = shapes[3u * s];
    let edge = bitcast<f32>(shapes[3u * s + 1u]);
    let compliance = bitcast<f32>(shapes[3u * s + 2u]);
    var q: array<vec3<f32>, 8>;
    for (var c = 0u; c < 8u; c++) {
        q[c] = load(0u, first + c);
    }
    // Each axis: the mean of the voxel's 4 edges along it.
    var axes: array<vec3<f32>, 3>;
    for (var axis = 0u; axis < 3u; axis++) {
        let bit = 1u << axis;
        var e = vec3<f32>(0.0);
        for (var c = 0u; c < 8u; c++) {
            if ((c & bit) == 0u) {
                e = e + 0.25 * (q[c | bit] - q[c]);
            }
        }
        axes[axis] = e;
    }
    // The mean of the three cyclic orders, orthonormalised once more.
    var mean: array<vec3<f32>, 3>;
    mean[0] = vec3<f32>(0.0);
    mean[1] = vec3<f32>(0.0);
    mean[2] = vec3<f32>(0.0);
    for (var k = 0u; k < 3u; k++) {
        let f = gram_schmidt(axes, k);
        if (!f.ok) {
            return;
        }
        for (var a = 0u; a < 3u; a++) {
            mean[a] = mean[a] + f.e[a];
        }
    }
    let frame = gram_schmidt(mean, 0u);
    if (!frame.ok) {
        return;
    }
    var center = vec3<f32>(0.0);
    for (var c = 0u; c < 8u; c++) {
        center = center + 0.125 * q[c];
    }
    let alpha = compliance * params.inv_h2;
    for (var c = 0u; c < 8u; c++) {
        var goal = center;
        for (var axis = 0u; axis < 3u; axis++) {
            var half = -0.5;
            if ((c & (1u << axis)) != 0u) {
                half = 0.5;
            }
            goal = goal + (half * edge) * frame.e[axis];
        }
        let wk = pconst[2u * (first + c)];
        if (wk == 0.0) {
            continue;
        }
        let f = wk / (wk + alpha);
        store_x(first + c, q[c] + f * (goal - q[c]));
    }
}

@compute @workgroup_size(64)
fn face(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x >= colour.count) {
        return;
    }
    let c = colours[colour.start + id.x];
    if (broken[c] != 0u) {
        return;
    }
    var gaps: array<vec3<f32>, 4>;
    var sum = 0.0;
    for (var k = 0u; k < 4u; k++) {
        gaps[k] = load(0u, faces[8u * c + k]) - load(0u, faces[8u * c + 4u + k]);
        sum = sum + dot3(gaps[k], gaps[k]);
    }
    let tear = fconst[2u * c + 1u];
    if (sum / 4.0 > tear * tear) {
        broken[c] = 1u;
        return;
    }
    let alpha = fconst[2u * c] * params.inv_h2;
    for (var k = 0u; k < 4u; k++) {
        let i = faces[8u * c + k];
        let j = faces[8u * c + 4u + k];
        let wi = pconst[2u * i];
        let wj = pconst[2u * j];
        let wsum = wi + wj;
        if (wsum == 0.0) {
            continue;
        }
        let l = gaps[k] * (1.0 / (wsum + alpha));
        store_x(i, load(0u, i) - wi * l);
        store_x(j, load(0u, j) + wj * l);
    }
}

// Whether every component is finite. By the bits: WGSL lets compilers
// assume floats are never NaN, so `q != q` may be folded to false.
fn finite(q: vec3<f32>) -> bool {
    let exponent = bitcast<vec3<u32>>(q) & vec3<u32>(0x7f800000u);
    return all(exponent != vec3<u32>(0x7f800000u));
}

// The dense index of the page holding in-world cell `c`.
fn page_of(c: vec3<u32>) -> u32 {
    let p = c / params.page;
    return p.x + params.pages.x * (p.y + params.pages.y * p.z);
}

// Whether `q` is a finite point inside the world.
fn inside(q: vec3<f32>) -> bool {
    return all(q >= vec3<f32>(0.0)) && finite(q) && all(vec3<u32>(q) < params.world.xyz);
}

// Whether the cell holding `q` stops particles: solid or powder, outside
// the world, in a page that is not resident, or not a finite position.
fn blocked(q: vec3<f32>) -> bool {
    if (!inside(q)) {
        return true;
    }
    let c = vec3<u32>(q);
    let slot = table[page_of(c)];
    if (slot == 0u) {
        return true;
    }
    let l = c % params.page;
    let i = l.x + params.page * (l.y + params.page * l.z);
    let word = solid[(slot - 1u) * params.world.w + i / 32u];
    return ((word >> (i % 32u)) & 1u) != 0u;
}

// Records that a particle at `q` touched its page: a use if resident, a
// request (once) if not.
fn touch(q: vec3<f32>) {
    if (!inside(q)) {
        return;
    }
    let k = page_of(vec3<u32>(q));
    if (table[k] != 0u) {
        atomicAdd(&uses[k], 1u);
    } else if (atomicExchange(&asked[k], 1u) == 0u) {
        let n = atomicAdd(&requests[0], 1u);
        if (n < params.capacity) {
            atomicStore(&requests[1u + n], k);
        }
    }
}

@compute @workgroup_size(64)
fn collide(@builtin(global_invocation_id) id: vec3<u32>) {
    let p = id.x;
    if (p >= params.particles) {
        return;
    }
    var q = load(0u, p);
    var before = load(1u, p);
    touch(q);
    let friction = pconst[2u * p + 1u];
    for (var step = 0u; step < 3u; step++) {
        if (!blocked(q)) {
            break;
        }
        let lo = floor(q);
        // The axis it entered this cell by with the shortest way back.
        var axis = 3u;
        var goal = 0.0;
        var dist = 0.0;
        for (var a = 0u; a < 3u; a++) {
            var t: f32;
            if (before[a] < lo[a]) {
                t = lo[a] - SKIN;
            } else if (before[a] >= lo[a] + 1.0) {
                t = lo[a] + 1.0 + SKIN;
            } else {
                continue;
            }
            let d = abs(t - q[a]);
            if (axis == 3u || d < dist) {
                axis = a;
                goal = t;
                dist = d;
            }
        }
        if (axis == 3u) {
            // The world moved into it: out the top, `prev` with it.
            let up = lo.y + 1.0 + SKIN - q.y;
            q.y = q.y + up;
            before.y = before.y + up;
            continue;
        }
        q[axis] = goal;
        let keep = 1.0 - friction;
        for (var a = 0u; a < 3u; a++) {
            if (a != axis) {
                q[a] = before[a] + (q[a] - before[a]) * keep;
            }
        }
    }
    store_x(p, q);
    prev[3u * p] = before.x;
    prev[3u * p + 1u] = before.y;
    prev[3u * p + 2u] = before.z;
}

@compute @workgroup_size(64)
fn velocity(@builtin(global_invocation_id) id: vec3<u32>) {
    let p = id.x;
    if (p >= params.particles) {
        return;
    }
    let d = (load(0u, p) - load(1u, p)) / params.h;
    v[3u * p] = d.x;
    v[3u * p + 1u] = d.y;
    v[3u * p + 2u] = d.z;
}

// Per body, in particle order like the CPU: its mass-weighted mean
// velocity (zero for a rooted body) and the part of the rest it keeps.
@compute @workgroup_size(64)
fn mean(@builtin(global_invocation_id) id: vec3<u32>) {
    let b = id.x;
    if (b >= params.bodies) {
        return;
    }
    let keep = max(1.0 - damping[b] * params.h, 0.0);
    var momentum = vec3<f32>(0.0);
    var mass = 0.0;
    for (var p = bodies[2u * b]; p < bodies[2u * b + 1u]; p++) {
        let w = pconst[2u * p];
        if (w == 0.0) {
            means[b] = vec4<f32>(0.0, 0.0, 0.0, keep);
            return;
        }
        let m = 1.0 / w;
        momentum = momentum + m * vec3<f32>(v[3u * p], v[3u * p + 1u], v[3u * p + 2u]);
        mass = mass + m;
    }
    means[b] = vec4<f32>(momentum / max(mass, 1.17549435e-38), keep);
}

@compute @workgroup_size(64)
fn damp(@builtin(global_invocation_id) id: vec3<u32>) {
    let p = id.x;
    if (p >= params.particles) {
        return;
    }
    // The body owning p: the last whose first particle is at most p.
    var lo = 0u;
    var hi = params.bodies;
    while (hi - lo > 1u) {
        let mid = (lo + hi) / 2u;
        if (bodies[2u * mid] <= p) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let m = means[lo];
    for (var a = 0u; a < 3u; a++) {
        v[3u * p + a] = m[a] + (v[3u * p + a] - m[a]) * m.w;
    }
}
