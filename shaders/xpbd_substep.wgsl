// One XPBD substep of soft bodies, as the CPU does it (loam_systems::xpbd):
// predict (gravity, buoyancy, liquid and air drag), distance and volume
// constraints one colour per dispatch (the shared-corner solvers), shape
// constraints (all voxels at once: their corners are their own), face
// constraints one colour per dispatch, contacts between bodies, collision
// with the world's blocked cells, velocities damped relative to each
// body's mean, then the contacts' velocities along their normals taken
// away. Each entry point is one dispatch. Contacts are found once a
// substep (positions kept in `x0`, contacts counted per particle), then
// every Jacobi pass gathers, per particle, its share of each contact it
// is in, finding the same contacts afresh from `x0` in the CPU's order.
// Arithmetic follows the CPU's order (hand-written dot and cross
// products, the same divisions), so a driver that rounds as the CPU does
// (lavapipe) gives the CPU's bodies bit for bit, and any other agrees to
// float rounding. Sleeping bodies are skipped as on the CPU, and a contact
// deeper than a body rests under wakes it. Collision also records which
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
    // Room for page requests after the count in `requests[0]`; 0: record
    // no page use.
    capacity: u32,
    // World size in cells (xyz); w: words of blocked bits per page.
    world: vec4<u32>,
    // Pages along x, y, z; w: whether any body may touch another.
    pages: vec4<u32>,
    // Where each constraint type starts in `cons` (words): shapes, faces
    // (8 particles, then compliance and tear distance), distances,
    // volumes.
    at: vec4<u32>,
    // Where the parts of `links` start: per particle, where its list of
    // skin faces starts (x); the lists (y). Per body, its skin faces'
    // first and end come first.
    links: vec4<u32>,
    // The skin joints of Gram-Schmidt bodies in `joints`: how many (x),
    // where each one's particles start (y), the particles (z), per skin
    // face the joints of its corners (w). Per body 8 words come first,
    // then per particle its joint + 1 (0: none).
    volume: vec4<u32>,
}

struct Colour {
    start: u32,
    count: u32,
}

// Put in front by `loam_gpu::shaders::xpbd_substep`, from the CPU's:
// SKIN (distance kept from a blocked cell's face), LIQUID_DRAG (per
// second), RADIUS (a particle's contact radius), WAKE_DEPTH (the overlap
// beyond a resting contact that wakes a sleeping body), BEHIND (how far
// behind a skin face, in its edges, a particle still touches it), EDGE
// (bilinear coordinates this near a skin face's edge are on it), NEAR
// (bodies listed per body as near it; a body near more is compared with
// every body).

// Every kernel is dispatched in rows of at most 65535 workgroups (a
// dimension's limit): an invocation's index over the whole grid.
fn flat(id: vec3<u32>, groups: vec3<u32>) -> u32 {
    return id.x + id.y * groups.x * 64u;
}

// Parameters in a storage buffer, not a uniform one: lavapipe compiles a
// variant of a shader for the uniform values its branches depend on at
// every dispatch and never frees it (see ca_move.wgsl).
@group(0) @binding(0) var<storage, read> params: Params;
// Per particle, 3 floats each.
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> prev: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;
// Per particle: inverse mass, friction and air drag (bits), and its body.
@group(0) @binding(4) var<storage, read> pconst: array<vec4<u32>>;
// Per particle, this frame: the kinetic field's velocity (xyz, cells/s)
// and the buoyancy (w).
@group(0) @binding(5) var<storage, read> feel: array<vec4<f32>>;
// Per particle: how far collisions with powders pushed it this frame.
@group(0) @binding(6) var<storage, read_write> pressed: array<f32>;
// The constraints, each type from its `params.at`.
@group(0) @binding(7) var<storage, read> cons: array<u32>;
// Per face: torn.
@group(0) @binding(8) var<storage, read_write> broken: array<u32>;
// Constraint indices, colour after colour (distances, volumes, faces).
@group(0) @binding(9) var<storage, read> colours: array<u32>;
// Per body: first particle, end, damping per second (bits), whether it
// has a pinned particle.
@group(0) @binding(10) var<storage, read> bodies: array<vec4<u32>>;
// Per body: asleep.
@group(0) @binding(11) var<storage, read_write> sleeping: array<u32>;
// Per body: a contact this substep woke it.
@group(0) @binding(12) var<storage, read_write> woken: array<atomic<u32>>;
// Per body: mean velocity (xyz) and the part of the rest kept (w).
@group(0) @binding(13) var<storage, read_write> means: array<vec4<f32>>;
// Per body: its bounding box grown by a contact radius: low corner and
// how far its low x moved since the frame began (w), high corner and its
// extent along x (w). After them: the largest of each (see `reach`).
@group(0) @binding(14) var<storage, read_write> boxes: array<vec4<f32>>;
// Per body: a count of the bodies near it and up to NEAR indices.
@group(0) @binding(15) var<storage, read_write> near_list: array<u32>;
// Per particle: the sum of its contact pushes (xyz) and their count (w),
// then the part of them moved out of `prev`.
@group(0) @binding(16) var<storage, read_write> push: array<vec4<f32>>;
// The world mirror (loam_gpu::WorldMirror): per page, its slot + 1 (0: not
// resident, a wall); per slot, a bit per cell set where the cell stops
// particles (solid or powder), then a bit per cell set where it is loose
// (powder).
@group(0) @binding(17) var<storage, read> table: array<u32>;
@group(0) @binding(18) var<storage, read> solid: array<u32>;
// Page-use feedback (loam_gpu::PageUse): uses of resident pages, and
// absent pages asked for once.
@group(0) @binding(19) var<storage, read_write> uses: array<atomic<u32>>;
@group(0) @binding(20) var<storage, read_write> asked: array<atomic<u32>>;
@group(0) @binding(21) var<storage, read_write> requests: array<atomic<u32>>;
// The bodies by the low x of their boxes when the frame began (sent each
// frame): per rank k, the body (x), the rank of body k (y) and the body's
// low x (z, bits).
@group(0) @binding(22) var<storage, read> sweep: array<vec4<u32>>;
// The skin: per face its 4 corner particles, in cyclic order, wound so
// that its normal points out of its body.
@group(0) @binding(23) var<storage, read> skin: array<vec4<u32>>;
// See `Params::links`: per body its skin faces; per particle the skin
// faces it is a corner of (face * 4 + corner, faces ascending).
@group(0) @binding(24) var<storage, read> links: array<u32>;
// Per particle, 3 floats: its position when the substep's contacts were
// found. The contacts of every pass are those found there.
@group(0) @binding(25) var<storage, read_write> x0: array<f32>;
// Per particle: how many contacts it is in.
@group(0) @binding(26) var<storage, read_write> counts: array<u32>;
// Per body: the deepest contact it was in while awake (bits of a positive
// float, which order as the floats do).
@group(0) @binding(27) var<storage, read_write> resting: array<atomic<u32>>;
// See `Params::volume` (loam_gpu's `joints_of`).
@group(0) @binding(28) var<storage, read> joints: array<u32>;
// Per skin joint its mean position (xyz), then per skin joint the
// gradient of its body's volume (xyz), then per body the multiplier (x)
// and whether it has torn (y).
@group(0) @binding(29) var<storage, read_write> joint_work: array<vec4<f32>>;
@group(1) @binding(0) var<storage, read> colour: Colour;

fn load(p: u32) -> vec3<f32> {
    return vec3<f32>(x[3u * p], x[3u * p + 1u], x[3u * p + 2u]);
}

fn load_prev(p: u32) -> vec3<f32> {
    return vec3<f32>(prev[3u * p], prev[3u * p + 1u], prev[3u * p + 2u]);
}

fn store_x(p: u32, q: vec3<f32>) {
    x[3u * p] = q.x;
    x[3u * p + 1u] = q.y;
    x[3u * p + 2u] = q.z;
}

fn store_prev(p: u32, q: vec3<f32>) {
    prev[3u * p] = q.x;
    prev[3u * p + 1u] = q.y;
    prev[3u * p + 2u] = q.z;
}

fn dot3(a: vec3<f32>, b: vec3<f32>) -> f32 {
    return a.x * b.x + a.y * b.y + a.z * b.z;
}

fn cross3(a: vec3<f32>, b: vec3<f32>) -> vec3<f32> {
    return vec3<f32>(a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x);
}

fn mass_of(p: u32) -> f32 {
    return bitcast<f32>(pconst[p].x);
}

fn owner(p: u32) -> u32 {
    return pconst[p].w;
}

fn asleep(p: u32) -> bool {
    return sleeping[owner(p)] != 0u;
}

@compute @workgroup_size(64)
fn predict(
    @builtin(global_invocation_id) id: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let p = flat(id, groups);
    if (p >= params.particles) {
        return;
    }
    let here = load(p);
    store_prev(p, here);
    if (mass_of(p) == 0.0 || asleep(p)) {
        return;
    }
    let felt = feel[p];
    var vel = vec3<f32>(v[3u * p], v[3u * p + 1u], v[3u * p + 2u]);
    // Gravity less buoyancy; a liquid also slows the particle down.
    vel.y = vel.y - params.gravity * params.h * (1.0 - felt.w);
    if (felt.w > 0.0) {
        let keep = max(1.0 - LIQUID_DRAG * params.h, 0.0);
        vel = vel * keep;
    }
    // Drag toward the kinetic field's velocity.
    if (any(felt.xyz != vec3<f32>(0.0))) {
        let k = min(bitcast<f32>(pconst[p].z) * params.h, 1.0);
        vel = vel + (felt.xyz - vel) * k;
    }
    v[3u * p] = vel.x;
    v[3u * p + 1u] = vel.y;
    v[3u * p + 2u] = vel.z;
    store_x(p, here + vel * params.h);
}

// One distance constraint of the colour bound in group 1.
@compute @workgroup_size(64)
fn distance(
    @builtin(global_invocation_id) id: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let k = flat(id, groups);
    if (k >= colour.count) {
        return;
    }
    let at = params.at.z + 4u * colours[colour.start + k];
    let i = cons[at];
    let j = cons[at + 1u];
    if (asleep(i)) {
        return;
    }
    let xi = load(i);
    let xj = load(j);
    let delta = xi - xj;
    let len = sqrt(dot3(delta, delta));
    let wi = mass_of(i);
    let wj = mass_of(j);
    let wsum = wi + wj;
    if (len < 1e-9 || wsum == 0.0) {
        return;
    }
    let alpha = bitcast<f32>(cons[at + 3u]) / (params.h * params.h);
    let lambda = -(len - bitcast<f32>(cons[at + 2u])) / (wsum + alpha);
    let n = delta / len;
    store_x(i, xi + (wi * lambda) * n);
    store_x(j, xj - (wj * lambda) * n);
}

// The hexahedron split into 5 tetrahedra two ways (around its even
// corners' tetrahedron and its odd ones'), each way counted half, as the
// CPU's `TETS`.
const TETS = array<vec4<u32>, 10>(
    vec4<u32>(0u, 5u, 3u, 6u),
    vec4<u32>(1u, 3u, 0u, 5u),
    vec4<u32>(2u, 0u, 3u, 6u),
    vec4<u32>(4u, 6u, 5u, 0u),
    vec4<u32>(7u, 5u, 6u, 3u),
    vec4<u32>(1u, 2u, 4u, 7u),
    vec4<u32>(0u, 1u, 2u, 4u),
    vec4<u32>(3u, 2u, 1u, 7u),
    vec4<u32>(5u, 4u, 7u, 1u),
    vec4<u32>(6u, 7u, 4u, 2u),
);

// One volume constraint of the colour bound in group 1.
@compute @workgroup_size(64)
fn volume(
    @builtin(global_invocation_id) id: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let i = flat(id, groups);
    if (i >= colour.count) {
        return;
    }
    let at = params.at.w + 10u * colours[colour.start + i];
    if (asleep(cons[at])) {
        return;
    }
    var q: array<vec3<f32>, 8>;
    var grad: array<vec3<f32>, 8>;
    for (var k = 0u; k < 8u; k++) {
        q[k] = load(cons[at + k]);
        grad[k] = vec3<f32>(0.0);
    }
    var vol = 0.0;
    for (var n = 0u; n < 10u; n++) {
        let t = TETS[n];
        let e1 = q[t.y] - q[t.x];
        let e2 = q[t.z] - q[t.x];
        let e3 = q[t.w] - q[t.x];
        vol = vol + dot3(e1, cross3(e2, e3)) / 12.0;
        let g1 = cross3(e2, e3) / 12.0;
        let g2 = cross3(e3, e1) / 12.0;
        let g3 = cross3(e1, e2) / 12.0;
        grad[t.y] = grad[t.y] + g1;
        grad[t.z] = grad[t.z] + g2;
        grad[t.w] = grad[t.w] + g3;
        grad[t.x] = grad[t.x] - (g1 + g2 + g3);
    }
    var denom = 0.0;
    for (var k = 0u; k < 8u; k++) {
        denom = denom + mass_of(cons[at + k]) * dot3(grad[k], grad[k]);
    }
    denom = denom + bitcast<f32>(cons[at + 9u]) / (params.h * params.h);
    if (denom < 1e-12) {
        return;
    }
    let lambda = -(vol - bitcast<f32>(cons[at + 8u])) / denom;
    for (var k = 0u; k < 8u; k++) {
        let i = cons[at + k];
        store_x(i, load(i) + (mass_of(i) * lambda) * grad[k]);
    }
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
fn shape(
    @builtin(global_invocation_id) id: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let s = flat(id, groups);
    if (s >= params.shapes) {
        return;
    }
    let at = params.at.x + 3u * s;
    let first = cons[at];
    let edge = bitcast<f32>(cons[at + 1u]);
    let compliance = bitcast<f32>(cons[at + 2u]);
    if (asleep(first)) {
        return;
    }
    var q: array<vec3<f32>, 8>;
    for (var c = 0u; c < 8u; c++) {
        q[c] = load(first + c);
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
    var moves: array<vec3<f32>, 8>;
    var same = mass_of(first) != 0.0;
    for (var c = 0u; c < 8u; c++) {
        var goal = center;
        for (var axis = 0u; axis < 3u; axis++) {
            var half = -0.5;
            if ((c & (1u << axis)) != 0u) {
                half = 0.5;
            }
            goal = goal + (half * edge) * frame.e[axis];
        }
        let wk = mass_of(first + c);
        same = same && wk == mass_of(first);
        var f = 0.0;
        if (wk != 0.0) {
            f = wk / (wk + alpha);
        }
        moves[c] = f * (goal - q[c]);
    }
    // A free voxel's corners share one mass: the rigid turn the moves
    // would give it is taken out (the CPU's `without_spin`, whose sums run
    // in this order: a compiler may regroup `s + (a - b)`, not
    // `(s + a) - b`).
    if (same) {
        var r: array<vec3<f32>, 8>;
        var spin = vec3<f32>(0.0);
        // S = Σ r rᵀ: its diagonal, and its entries xy, yz, zx.
        var square = vec3<f32>(0.0);
        var mixed = vec3<f32>(0.0);
        for (var c = 0u; c < 8u; c++) {
            let p = q[c] - center;
            let m = moves[c];
            r[c] = p;
            spin = (spin + p.yzx * m.zxy) - p.zxy * m.yzx;
            square = square + p * p;
            mixed = mixed + p * p.yzx;
        }
        // I = tr(S) - S.
        let inertia = array<vec3<f32>, 3>(
            vec3<f32>(square.y + square.z, -mixed.x, -mixed.z),
            vec3<f32>(-mixed.x, square.z + square.x, -mixed.y),
            vec3<f32>(-mixed.z, -mixed.y, square.x + square.y),
        );
        let c0 = cross3(inertia[1], inertia[2]);
        let c1 = cross3(inertia[2], inertia[0]);
        let c2 = cross3(inertia[0], inertia[1]);
        let det = dot3(inertia[0], c0);
        let trace = inertia[0].x + inertia[1].y + inertia[2].z;
        if (det > 1e-6 * trace * trace * trace) {
            let omega = (c0 * spin.x + c1 * spin.y + c2 * spin.z) * (1.0 / det);
            for (var c = 0u; c < 8u; c++) {
                moves[c] = (moves[c] - omega.yzx * r[c].zxy) + omega.zxy * r[c].yzx;
            }
        }
    }
    for (var c = 0u; c < 8u; c++) {
        if (mass_of(first + c) != 0.0) {
            store_x(first + c, q[c] + moves[c]);
        }
    }
}

// One face constraint of the colour bound in group 1.
@compute @workgroup_size(64)
fn face(
    @builtin(global_invocation_id) id: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let i = flat(id, groups);
    if (i >= colour.count) {
        return;
    }
    let c = colours[colour.start + i];
    let at = params.at.y + 10u * c;
    if (broken[c] != 0u || asleep(cons[at])) {
        return;
    }
    var gaps: array<vec3<f32>, 4>;
    var sum = 0.0;
    for (var k = 0u; k < 4u; k++) {
        gaps[k] = load(cons[at + k]) - load(cons[at + 4u + k]);
        sum = sum + dot3(gaps[k], gaps[k]);
    }
    let tear = bitcast<f32>(cons[at + 9u]);
    if (sum / 4.0 > tear * tear) {
        broken[c] = 1u;
        return;
    }
    let alpha = bitcast<f32>(cons[at + 8u]) * params.inv_h2;
    for (var k = 0u; k < 4u; k++) {
        let i = cons[at + k];
        let j = cons[at + 4u + k];
        let wi = mass_of(i);
        let wj = mass_of(j);
        let wsum = wi + wj;
        if (wsum == 0.0) {
            continue;
        }
        let l = gaps[k] * (1.0 / (wsum + alpha));
        store_x(i, load(i) - wi * l);
        store_x(j, load(j) + wj * l);
    }
}

// The particles of skin joint `j`, as a range of `joints`.
fn joint_members(j: u32) -> vec2<u32> {
    let at = params.volume.y + j;
    return vec2<u32>(joints[at], joints[at + 1u]) + params.volume.z;
}

// The volume of Gram-Schmidt bodies (the CPU's
// `gram_schmidt::body_volumes`), in three dispatches. First each skin
// joint's position, the mean of its particles.
@compute @workgroup_size(64)
fn joint_mean(
    @builtin(global_invocation_id) id: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let j = flat(id, groups);
    if (j >= params.volume.x) {
        return;
    }
    let r = joint_members(j);
    var sum = vec3<f32>(0.0);
    for (var k = r.x; k < r.y; k++) {
        sum = sum + load(joints[k]);
    }
    joint_work[j] = vec4<f32>(sum / f32(r.y - r.x), 0.0);
}

// Then per body, in the CPU's order: the volume its skin encloses, its
// gradient per joint and the multiplier (0: the body is left alone).
@compute @workgroup_size(64)
fn body_volume(
    @builtin(global_invocation_id) id: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let b = flat(id, groups);
    if (b >= params.bodies) {
        return;
    }
    let count = params.volume.x;
    let at = 8u * b;
    // Whether it has torn (y), for the contacts too, asleep or not.
    var torn = 0.0;
    for (var f = joints[at + 3u]; f < joints[at + 4u]; f++) {
        if (broken[f] != 0u) {
            torn = 1.0;
        }
    }
    joint_work[2u * count + b] = vec4<f32>(0.0, torn, 0.0, 0.0);
    let j0 = joints[at];
    let j1 = joints[at + 1u];
    if (j0 == j1 || sleeping[b] != 0u || torn != 0.0) {
        return;
    }
    let n = j1 - j0;
    var centre = vec3<f32>(0.0);
    for (var k = j0; k < j1; k++) {
        centre = centre + joint_work[k].xyz / f32(n);
        joint_work[count + k] = vec4<f32>(0.0);
    }
    var volume = 0.0;
    // The quad as its two triangulations, averaged (the CPU's 6 cross
    // products).
    for (var q = links[2u * b]; q < links[2u * b + 1u]; q++) {
        let at_q = params.volume.w + 4u * q;
        var jq: array<u32, 4>;
        var c: array<vec3<f32>, 4>;
        for (var k = 0u; k < 4u; k++) {
            jq[k] = count + joints[at_q + k];
            c[k] = joint_work[joints[at_q + k]].xyz - centre;
        }
        let bc = cross3(c[1], c[2]);
        let cd = cross3(c[2], c[3]);
        let bd = cross3(c[1], c[3]);
        let ca = cross3(c[2], c[0]);
        let da = cross3(c[3], c[0]);
        let ab = cross3(c[0], c[1]);
        volume = volume + (dot3(c[0], bc) + dot3(c[0], cd) + dot3(c[1], cd) + dot3(c[1], da)) / 12.0;
        joint_work[jq[0]] = vec4<f32>(joint_work[jq[0]].xyz + (bc + cd + bd) / 12.0, 0.0);
        joint_work[jq[1]] = vec4<f32>(joint_work[jq[1]].xyz + (ca + cd + da) / 12.0, 0.0);
        joint_work[jq[2]] = vec4<f32>(joint_work[jq[2]].xyz + (ab + da - bd) / 12.0, 0.0);
        joint_work[jq[3]] = vec4<f32>(joint_work[jq[3]].xyz + (bc - ca + ab) / 12.0, 0.0);
    }
    var denom = 0.0;
    for (var k = j0; k < j1; k++) {
        let r = joint_members(k);
        var ws = 0.0;
        for (var i = r.x; i < r.y; i++) {
            ws = ws + mass_of(joints[i]);
        }
        let inv = 1.0 / f32(r.y - r.x);
        let g = joint_work[count + k].xyz;
        denom = denom + ws * dot3(g, g) * inv * inv;
    }
    if (denom < 1e-12) {
        return;
    }
    let rest = bitcast<f32>(joints[at + 2u]);
    joint_work[2u * count + b] = vec4<f32>(-(volume - rest) / denom, 0.0, 0.0, 0.0);
}

// Then each skin joint's particles move along their body's gradient.
@compute @workgroup_size(64)
fn joint_volume(
    @builtin(global_invocation_id) id: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let j = flat(id, groups);
    let count = params.volume.x;
    if (j >= count) {
        return;
    }
    let r = joint_members(j);
    let lambda = joint_work[2u * count + owner(joints[r.x])].x;
    if (lambda == 0.0) {
        return;
    }
    let g = joint_work[count + j].xyz;
    let inv = 1.0 / f32(r.y - r.x);
    for (var k = r.x; k < r.y; k++) {
        let i = joints[k];
        let s = mass_of(i) * lambda * inv;
        store_x(i, load(i) + s * g);
    }
}

// Per body: its bounding box, grown by a contact radius.
@compute @workgroup_size(64)
fn bounds(
    @builtin(global_invocation_id) id: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let b = flat(id, groups);
    if (b >= params.bodies) {
        return;
    }
    var lo = vec3<f32>(1e38);
    var hi = vec3<f32>(-1e38);
    for (var p = bodies[b].x; p < bodies[b].y; p++) {
        let q = load(p);
        lo = min(lo, q - RADIUS);
        hi = max(hi, q + RADIUS);
    }
    let start = bitcast<f32>(sweep[sweep[b].y].z);
    boxes[2u * b] = vec4<f32>(lo, abs(lo.x - start));
    boxes[2u * b + 1u] = vec4<f32>(hi, hi.x - lo.x);
}

var<workgroup> largest: array<vec2<f32>, 64>;

// The largest drift of a box's low x since the frame began and the
// largest box extent along x, into `boxes` after the bodies' boxes. One
// workgroup.
@compute @workgroup_size(64)
fn reach(@builtin(local_invocation_index) i: u32) {
    var m = vec2<f32>(0.0);
    for (var b = i; b < params.bodies; b += 64u) {
        m = max(m, vec2<f32>(boxes[2u * b].w, boxes[2u * b + 1u].w));
    }
    largest[i] = m;
    for (var half = 32u; half > 0u; half /= 2u) {
        workgroupBarrier();
        if (i < half) {
            largest[i] = max(largest[i], largest[i + half]);
        }
    }
    if (i == 0u) {
        boxes[2u * params.bodies] = vec4<f32>(largest[0], 0.0, 0.0);
    }
}

// Whether bodies `a` and `b` (a != b) may touch this substep: their boxes
// overlap and they are not both asleep.
fn may_touch(a: u32, b: u32) -> bool {
    if (sleeping[a] != 0u && sleeping[b] != 0u) {
        return false;
    }
    return all(boxes[2u * a].xyz <= boxes[2u * b + 1u].xyz)
        && all(boxes[2u * b].xyz <= boxes[2u * a + 1u].xyz);
}

// Per body: the bodies it may touch, in ascending order; more than NEAR
// are counted but not listed. Only bodies whose boxes began the frame
// near along x are tried: sorted by their low x then, a body's box can
// have moved by at most the largest drift, and reaches at most the
// largest extent beyond its low x (with a cell to spare for rounding).
@compute @workgroup_size(64)
fn near(
    @builtin(global_invocation_id) id: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let b = flat(id, groups);
    if (b >= params.bodies) {
        return;
    }
    let drift = boxes[2u * params.bodies].x;
    let extent = boxes[2u * params.bodies].y;
    let lo = boxes[2u * b].x - drift - extent - 1.0;
    let hi = boxes[2u * b + 1u].x + drift + 1.0;
    var found: array<u32, NEAR>;
    var n = 0u;
    let rank = sweep[b].y;
    for (var k = rank + 1u; k < params.bodies; k++) {
        if (bitcast<f32>(sweep[k].z) > hi) {
            break;
        }
        n = keep_near(b, sweep[k].x, &found, n);
    }
    for (var k = rank; k > 0u; k--) {
        if (bitcast<f32>(sweep[k - 1u].z) < lo) {
            break;
        }
        n = keep_near(b, sweep[k - 1u].x, &found, n);
    }
    let at = (NEAR + 1u) * b;
    near_list[at] = n;
    for (var k = 0u; k < min(n, NEAR); k++) {
        near_list[at + 1u + k] = found[k];
    }
}

// Adds body `c` to the `n` bodies found near `b`, kept in ascending order,
// if the two may touch; returns the new count.
fn keep_near(b: u32, c: u32, found: ptr<function, array<u32, NEAR>>, n: u32) -> u32 {
    if (!may_touch(b, c)) {
        return n;
    }
    if (n < NEAR) {
        var k = n;
        while (k > 0u && (*found)[k - 1u] > c) {
            (*found)[k] = (*found)[k - 1u];
            k--;
        }
        (*found)[k] = c;
    }
    return n + 1u;
}

// Whether `q` lies in the box (lo, hi).
fn within(q: vec3<f32>, lo: vec3<f32>, hi: vec3<f32>) -> bool {
    return all(q >= lo) && all(q <= hi);
}

fn load0(p: u32) -> vec3<f32> {
    return vec3<f32>(x0[3u * p], x0[3u * p + 1u], x0[3u * p + 2u]);
}

fn load_v(p: u32) -> vec3<f32> {
    return vec3<f32>(v[3u * p], v[3u * p + 1u], v[3u * p + 2u]);
}

// A particle's inverse mass, 0 while its body sleeps.
fn mobility(p: u32) -> f32 {
    return select(mass_of(p), 0.0, asleep(p));
}

// Per particle: its position now, where this substep's contacts are found.
@compute @workgroup_size(64)
fn snapshot(
    @builtin(global_invocation_id) id: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let p = flat(id, groups);
    if (p >= params.particles) {
        return;
    }
    for (var a = 0u; a < 3u; a++) {
        x0[3u * p + a] = x[3u * p + a];
    }
}

// What a pass does with the contacts of a particle.
const COUNT: u32 = 0u;
const PUSH: u32 = 1u;
const DAMP: u32 = 2u;

// One contact, as the CPU's `contact::Contacts` holds it: its particles
// and their weights along its normal (what presses first: a particle, +1,
// or the up to 8 corners of a skin joint, 1/n each; then what it is
// pushed off: -1, or the nonzero bilinear weights of a skin face's
// corners), how many of them press, which of them the invocation's
// particle is, and how firmly friction holds it.
struct Touch {
    parts: array<u32, 12>,
    k: array<f32, 12>,
    n_parts: u32,
    pressing: u32,
    me: u32,
    n: vec3<f32>,
    grip: f32,
}

// What an invocation adds up over its particle's contacts.
struct Gathered {
    sum: vec3<f32>,
    count: u32,
}

// Adds contact `t` to `acc` for `mode`: counts it, or adds the particle's
// share of its push (PUSH: the overlap left along the normal and the slide
// friction stops, at the positions now; DAMP: the velocity along the
// normal), scaled by one over the most contacts any of its particles is in
// and shared by mobility, in the CPU's order of operations.
fn contribute(t: Touch, mode: u32, acc: ptr<function, Gathered>) {
    if (mode == COUNT) {
        (*acc).count = (*acc).count + 1u;
        return;
    }
    var most = 1u;
    var mobile = 0.0;
    for (var q = 0u; q < t.n_parts; q++) {
        most = max(most, counts[t.parts[q]]);
        mobile = mobile + t.k[q] * t.k[q] * mobility(t.parts[q]);
    }
    if (mobile == 0.0) {
        return;
    }
    let me = t.parts[t.me];
    let m = 1.0 / f32(most) / mobile * t.k[t.me] * mobility(me);
    var d: vec3<f32>;
    if (mode == PUSH) {
        var along = 0.0;
        var r = vec3<f32>(0.0);
        for (var q = 0u; q < t.n_parts; q++) {
            let p = t.parts[q];
            let here = load(p);
            along = along + t.k[q] * dot3(here, t.n);
            r = r + t.k[q] * (here - load_prev(p));
        }
        let depth = 2.0 * RADIUS - along;
        let normal = dot3(r, t.n);
        var slide = r - normal * t.n;
        let length = sqrt(dot3(slide, slide));
        if (!(length <= t.grip)) {
            slide = slide * t.grip / length;
        }
        d = max(depth, 0.0) * t.n - slide;
    } else {
        var along = 0.0;
        for (var q = 0u; q < t.n_parts; q++) {
            along = along + t.k[q] * dot3(load_v(t.parts[q]), t.n);
        }
        d = (0.0 - along) * t.n;
    }
    (*acc).sum = (*acc).sum + m * d;
}

// A contact felt by bodies `a` and `b`, `depth` deep: an awake body
// remembers the deepest; a sleeping one wakes if pressed deeper than it
// was while it came to rest.
fn felt(a: u32, b: u32, depth: f32) {
    for (var i = 0u; i < 2u; i++) {
        let k = select(a, b, i == 1u);
        if (sleeping[k] == 0u) {
            atomicMax(&resting[k], bitcast<u32>(depth));
        } else if (depth > bitcast<f32>(atomicLoad(&resting[k])) + WAKE_DEPTH) {
            atomicStore(&woken[k], 1u);
        }
    }
}

fn snap(t: f32) -> f32 {
    if (abs(t) <= EDGE) {
        return 0.0;
    }
    if (abs(t - 1.0) <= EDGE) {
        return 1.0;
    }
    return t;
}

// Where `p` is over skin face `face` when the contacts were found, as the
// CPU's `contact::Foot`: `ok` false for a face collapsed to a line.
struct Foot {
    n: vec3<f32>,
    height: f32,
    u: f32,
    v: f32,
    ok: bool,
}

fn foot_on(face: u32, p: vec3<f32>) -> Foot {
    var out: Foot;
    out.ok = false;
    let q = skin[face];
    let c0 = load0(q.x);
    let c1 = load0(q.y);
    let c2 = load0(q.z);
    let c3 = load0(q.w);
    let centre = (c0 + c1 + c2 + c3) / 4.0;
    let n = cross3(c2 - c0, c3 - c1);
    let len = sqrt(dot3(n, n));
    let e1 = (c1 + c2 - c0 - c3) / 2.0;
    let e2 = (c2 + c3 - c0 - c1) / 2.0;
    let l1 = dot3(e1, e1);
    let l2 = dot3(e2, e2);
    if (len < 1e-6 || l1 < 1e-6 || l2 < 1e-6) {
        return out;
    }
    out.n = n / len;
    let r = p - centre;
    out.height = dot3(r, out.n);
    out.u = snap(dot3(r, e1) / l1 + 0.5);
    out.v = snap(dot3(r, e2) / l2 + 0.5);
    out.ok = true;
    return out;
}

// Whether body `b` presses on skins with its skin joints: a Gram-Schmidt
// body that has not torn (the CPU's `contact::pressing_points`;
// `body_volume` notes a tear).
fn by_joints(b: u32) -> bool {
    return params.volume.x > 0u && joints[8u * b] != joints[8u * b + 1u]
        && joint_work[2u * params.volume.x + b].y == 0.0;
}

// Particle `p`'s skin joint + 1; 0 if it is at none.
fn joint_of(p: u32) -> u32 {
    return joints[8u * params.bodies + p];
}

// Where skin joint `j` presses when the contacts were found: the mean of
// its particles, summed as the CPU sums it.
fn joint_at(j: u32) -> vec3<f32> {
    let r = joint_members(j);
    let w = 1.0 / f32(r.y - r.x);
    var at = vec3<f32>(0.0);
    for (var k = r.x; k < r.y; k++) {
        at = at + w * load0(joints[k]);
    }
    return at;
}

// The contact of what presses at `xp` (particle `p` if `joint` is 0, else
// skin joint `joint - 1`) on skin face `face`, if they touch: `n_parts` 0
// if not. Its depth goes in `depth`.
fn touch_skin(p: u32, joint: u32, xp: vec3<f32>, face: u32, depth: ptr<function, f32>) -> Touch {
    var t: Touch;
    t.n_parts = 0u;
    let f = foot_on(face, xp);
    if (!f.ok) {
        return t;
    }
    let q = skin[face];
    let e = load0(q.y) - load0(q.x);
    let edge = sqrt(dot3(e, e));
    let over = f.u >= 0.0 && f.u <= 1.0 && f.v >= 0.0 && f.v <= 1.0;
    let size = 2.0 * RADIUS;
    if (!over || f.height >= size || f.height < -BEHIND * edge) {
        return t;
    }
    let u = f.u;
    let v = f.v;
    let beta = array<f32, 4>((1.0 - u) * (1.0 - v), u * (1.0 - v), u * v, (1.0 - u) * v);
    let corners = array<u32, 4>(q.x, q.y, q.z, q.w);
    if (joint == 0u) {
        t.parts[0] = p;
        t.k[0] = 1.0;
        t.n_parts = 1u;
    } else {
        let r = joint_members(joint - 1u);
        let w = 1.0 / f32(r.y - r.x);
        for (var k = r.x; k < r.y; k++) {
            t.parts[t.n_parts] = joints[k];
            t.k[t.n_parts] = w;
            t.n_parts = t.n_parts + 1u;
        }
    }
    t.pressing = t.n_parts;
    for (var k = 0u; k < 4u; k++) {
        if (beta[k] != 0.0) {
            t.parts[t.n_parts] = corners[k];
            t.k[t.n_parts] = -beta[k];
            t.n_parts = t.n_parts + 1u;
        }
    }
    t.n = f.n;
    *depth = size - f.height;
    t.grip = sqrt(bitcast<f32>(pconst[t.parts[0]].y) * bitcast<f32>(pconst[q.x].y)) * *depth;
    return t;
}

// Which part of `t` particle `i` is among parts `first..`, or 12 if none.
fn part_of(t: Touch, i: u32, first: u32) -> u32 {
    var me = 12u;
    for (var k = first; k < t.n_parts; k++) {
        if (t.parts[k] == i && me == 12u) {
            me = k;
        }
    }
    return me;
}

// The contact of what presses at `xp` (as `touch_skin`) on skin face
// `face`, of which `i` is a corner, added to `acc` for `mode` if `i`'s
// weight in it is not zero.
fn pressed_on(i: u32, p: u32, joint: u32, xp: vec3<f32>, face: u32, mode: u32, acc: ptr<function, Gathered>) {
    var depth = 0.0;
    var t = touch_skin(p, joint, xp, face, &depth);
    if (t.n_parts == 0u) {
        return;
    }
    t.me = part_of(t, i, t.pressing);
    if (t.me == 12u) {
        return;
    }
    contribute(t, mode, acc);
}

// Whether skin face `face` reaches the box (lo, hi) grown by two radii.
fn face_near(face: u32, lo: vec3<f32>, hi: vec3<f32>) -> bool {
    let q = skin[face];
    let c = array<vec3<f32>, 4>(load0(q.x), load0(q.y), load0(q.z), load0(q.w));
    var l = c[0];
    var h = c[0];
    for (var k = 1u; k < 4u; k++) {
        l = min(l, c[k]);
        h = max(h, c[k]);
    }
    return all(l - 2.0 * RADIUS <= hi) && all(lo <= h + 2.0 * RADIUS);
}

// The contacts between particle `i` (of body `mine`) and body `other`,
// added to `acc` for `mode` in the CPU's order: the particle pairs, then
// the lower body's particles on the higher one's skin, then the higher
// one's on the lower's.
fn gather_with(i: u32, mine: u32, other: u32, mode: u32, acc: ptr<function, Gathered>) {
    // The two boxes' overlap grown by a radius: only particles in it can
    // touch (the CPU's narrow phase takes the same ones).
    let lo = max(boxes[2u * mine].xyz, boxes[2u * other].xyz) - RADIUS;
    let hi = min(boxes[2u * mine + 1u].xyz, boxes[2u * other + 1u].xyz) + RADIUS;
    let xi = load0(i);
    let i_in = within(xi, lo, hi);
    let span = bodies[other];
    let size = 2.0 * RADIUS;
    let low = mine < other;
    if (i_in) {
        for (var j = span.x; j < span.y; j++) {
            let xj = load0(j);
            if (!within(xj, lo, hi)) {
                continue;
            }
            // The lower body's particle first, as the CPU finds the pair.
            let a = select(j, i, low);
            let b = select(i, j, low);
            let d = load0(a) - load0(b);
            let len = sqrt(dot3(d, d));
            if (len >= size || len < 1e-6) {
                continue;
            }
            var t: Touch;
            t.parts[0] = a;
            t.k[0] = 1.0;
            t.parts[1] = b;
            t.k[1] = -1.0;
            t.n_parts = 2u;
            t.me = select(1u, 0u, low);
            t.n = d / len;
            t.grip = sqrt(bitcast<f32>(pconst[a].y) * bitcast<f32>(pconst[b].y)) * (size - len);
            if (mode == COUNT && low) {
                felt(mine, other, size - len);
            }
            contribute(t, mode, acc);
        }
    }
    for (var side = 0u; side < 2u; side++) {
        // First pass: the lower body's particles on the higher's skin.
        let as_vertex = (side == 0u) == low;
        if (as_vertex) {
            // `i` presses by itself, or as one of its skin joint's corners.
            var joint = 0u;
            var xp = xi;
            if (by_joints(mine)) {
                joint = joint_of(i);
                if (joint == 0u) {
                    continue;
                }
                xp = joint_at(joint - 1u);
            }
            if (!within(xp, lo, hi)) {
                continue;
            }
            for (var face = links[2u * other]; face < links[2u * other + 1u]; face++) {
                if (!face_near(face, lo, hi)) {
                    continue;
                }
                var depth = 0.0;
                var t = touch_skin(i, joint, xp, face, &depth);
                if (t.n_parts == 0u) {
                    continue;
                }
                t.me = part_of(t, i, 0u);
                if (mode == COUNT) {
                    felt(mine, other, depth);
                }
                contribute(t, mode, acc);
            }
        } else {
            // `i` a corner of its own skin faces, what of the other presses
            // on them.
            let jointed = by_joints(other);
            for (var at = links[params.links.x + i]; at < links[params.links.x + i + 1u]; at++) {
                let face = links[at] / 4u;
                if (!face_near(face, lo, hi)) {
                    continue;
                }
                if (jointed) {
                    for (var j = joints[8u * other]; j < joints[8u * other + 1u]; j++) {
                        let xj = joint_at(j);
                        if (within(xj, lo, hi)) {
                            pressed_on(i, 0u, j + 1u, xj, face, mode, acc);
                        }
                    }
                } else {
                    for (var j = span.x; j < span.y; j++) {
                        let xj = load0(j);
                        if (within(xj, lo, hi)) {
                            pressed_on(i, j, 0u, xj, face, mode, acc);
                        }
                    }
                }
            }
        }
    }
}

// The contacts of particle `p` for `mode`, over every body it may touch in
// ascending order.
fn gather(p: u32, mode: u32) -> Gathered {
    var acc: Gathered;
    acc.sum = vec3<f32>(0.0);
    acc.count = 0u;
    let mine = owner(p);
    let at = (NEAR + 1u) * mine;
    let n = near_list[at];
    if (n <= NEAR) {
        for (var k = 0u; k < n; k++) {
            gather_with(p, mine, near_list[at + 1u + k], mode, &acc);
        }
    } else {
        for (var c = 0u; c < params.bodies; c++) {
            if (c != mine && may_touch(mine, c)) {
                gather_with(p, mine, c, mode, &acc);
            }
        }
    }
    return acc;
}

// Per particle: the contacts it is in; wakes the bodies a contact presses
// deeper than they rest, and records how deep awake bodies are pressed.
@compute @workgroup_size(64)
fn count(
    @builtin(global_invocation_id) id: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let p = flat(id, groups);
    if (p >= params.particles) {
        return;
    }
    counts[p] = gather(p, COUNT).count;
}

// Per particle: the sum of its share of its contacts' pushes (a Jacobi
// pass; `separate` applies them).
@compute @workgroup_size(64)
fn contact(
    @builtin(global_invocation_id) id: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let p = flat(id, groups);
    if (p >= params.particles) {
        return;
    }
    push[2u * p] = vec4<f32>(gather(p, PUSH).sum, 0.0);
}

// Per particle: moved by its pushes.
@compute @workgroup_size(64)
fn separate(
    @builtin(global_invocation_id) id: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let p = flat(id, groups);
    if (p >= params.particles) {
        return;
    }
    store_x(p, load(p) + push[2u * p].xyz);
}

// Per body: woken by a contact.
@compute @workgroup_size(64)
fn wake(
    @builtin(global_invocation_id) id: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let b = flat(id, groups);
    if (b >= params.bodies) {
        return;
    }
    if (atomicLoad(&woken[b]) != 0u) {
        sleeping[b] = 0u;
        atomicStore(&woken[b], 0u);
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

// Whether `q` is a finite point inside the world (compared as floats: a
// conversion of a float beyond 2^32 to u32 need not saturate).
fn inside(q: vec3<f32>) -> bool {
    return all(q >= vec3<f32>(0.0)) && finite(q) && all(q < vec3<f32>(params.world.xyz));
}

// What the cell holding `q` is to a particle: 0 free, 1 blocked (solid,
// outside the world, in a page that is not resident, or not a finite
// position), 2 blocked and loose (powder).
fn blocked(q: vec3<f32>) -> u32 {
    if (!inside(q)) {
        return 1u;
    }
    let c = vec3<u32>(q);
    let slot = table[page_of(c)];
    if (slot == 0u) {
        return 1u;
    }
    let l = c % params.page;
    let i = l.x + params.page * (l.y + params.page * l.z);
    let at = (slot - 1u) * 2u * params.world.w + i / 32u;
    let stops = (solid[at] >> (i % 32u)) & 1u;
    let loose = (solid[at + params.world.w] >> (i % 32u)) & 1u;
    return stops + loose;
}

// Records that a particle at `q` touched its page: a use if resident, a
// request (once) if not.
fn touch(q: vec3<f32>) {
    if (params.capacity == 0u || !inside(q)) {
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

// `lo + 1.0` for a cell's low corner `lo`, where the compiler cannot
// reassociate it: Mesa's shader compiler turns `lo + 1.0 + SKIN` into
// `lo + (1.0 + SKIN)`, which rounds differently from the CPU. Integer
// cells convert exactly below 2^24.
fn next_edge(lo: f32) -> f32 {
    if (abs(lo) < 16777216.0) {
        return f32(i32(lo) + 1);
    }
    return lo + 1.0;
}

@compute @workgroup_size(64)
fn collide(
    @builtin(global_invocation_id) id: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let p = flat(id, groups);
    if (p >= params.particles) {
        return;
    }
    var q = load(p);
    touch(q);
    if (asleep(p)) {
        return;
    }
    var before = load_prev(p);
    var felt = vec3<f32>(pressed[3u * p], pressed[3u * p + 1u], pressed[3u * p + 2u]);
    let friction = bitcast<f32>(pconst[p].y);
    for (var step = 0u; step < 3u; step++) {
        let what = blocked(q);
        if (what == 0u) {
            break;
        }
        let lo = floor(q);
        let start = q;
        // The axis it entered this cell by with the shortest way back.
        var axis = 3u;
        var goal = 0.0;
        var dist = 0.0;
        for (var a = 0u; a < 3u; a++) {
            var t: f32;
            let edge = next_edge(lo[a]);
            if (before[a] < lo[a]) {
                t = lo[a] - SKIN;
            } else if (before[a] >= edge) {
                t = edge + SKIN;
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
            let up = next_edge(lo.y) + SKIN - q.y;
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
        if (what == 2u) {
            felt = felt + (q - start);
        }
    }
    store_x(p, q);
    store_prev(p, before);
    pressed[3u * p] = felt.x;
    pressed[3u * p + 1u] = felt.y;
    pressed[3u * p + 2u] = felt.z;
}

@compute @workgroup_size(64)
fn velocity(
    @builtin(global_invocation_id) id: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let p = flat(id, groups);
    if (p >= params.particles) {
        return;
    }
    let d = (load(p) - load_prev(p)) / params.h;
    v[3u * p] = d.x;
    v[3u * p + 1u] = d.y;
    v[3u * p + 2u] = d.z;
}

// Per body, in particle order like the CPU: its mass-weighted mean
// velocity (zero for a rooted or sleeping body) and the part of the rest
// it keeps (none for a sleeping body).
@compute @workgroup_size(64)
fn mean(
    @builtin(global_invocation_id) id: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let b = flat(id, groups);
    if (b >= params.bodies) {
        return;
    }
    let body = bodies[b];
    let keep = max(1.0 - bitcast<f32>(body.z) * params.h, 0.0);
    if (sleeping[b] != 0u) {
        means[b] = vec4<f32>(0.0);
        return;
    }
    if (body.w != 0u) {
        means[b] = vec4<f32>(0.0, 0.0, 0.0, keep);
        return;
    }
    var momentum = vec3<f32>(0.0);
    var mass = 0.0;
    for (var p = body.x; p < body.y; p++) {
        let m = 1.0 / mass_of(p);
        momentum = momentum + m * vec3<f32>(v[3u * p], v[3u * p + 1u], v[3u * p + 2u]);
        mass = mass + m;
    }
    means[b] = vec4<f32>(momentum / max(mass, 1.17549435e-38), keep);
}

@compute @workgroup_size(64)
fn damp(
    @builtin(global_invocation_id) id: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let p = flat(id, groups);
    if (p >= params.particles) {
        return;
    }
    let m = means[owner(p)];
    for (var a = 0u; a < 3u; a++) {
        v[3u * p + a] = m[a] + (v[3u * p + a] - m[a]) * m.w;
    }
}

// Per particle, after the velocities: its share of taking away its
// contacts' velocities along their normals (a Jacobi pass;
// `separate_velocity` applies them).
@compute @workgroup_size(64)
fn contact_velocity(
    @builtin(global_invocation_id) id: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let p = flat(id, groups);
    if (p >= params.particles) {
        return;
    }
    push[2u * p] = vec4<f32>(gather(p, DAMP).sum, 0.0);
}

@compute @workgroup_size(64)
fn separate_velocity(
    @builtin(global_invocation_id) id: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let p = flat(id, groups);
    if (p >= params.particles) {
        return;
    }
    let d = push[2u * p].xyz;
    for (var a = 0u; a < 3u; a++) {
        v[3u * p + a] = v[3u * p + a] + d[a];
    }
}
