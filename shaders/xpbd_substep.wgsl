// One XPBD substep of soft bodies, as the CPU does it (loam_systems::xpbd):
// predict (gravity, buoyancy, liquid and air drag), distance and volume
// constraints one colour per dispatch (the shared-corner solvers), shape
// constraints (all voxels at once: their corners are their own), face
// constraints one colour per dispatch, contacts between bodies, collision
// with the world's blocked cells, then velocities damped relative to each
// body's mean. Each entry point is one dispatch. Arithmetic follows the
// CPU's order (hand-written dot and cross products, the same divisions),
// so a driver that rounds as the CPU does (lavapipe) gives the CPU's bodies
// bit for bit, and any other agrees to float rounding. Sleeping bodies are skipped as on the
// CPU, and a deep contact wakes them. Collision also records which pages
// the particles touch, for the page-use feedback.

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
}

struct Colour {
    start: u32,
    count: u32,
}

// Put in front by `loam_gpu::shaders::xpbd_substep`, from the CPU's:
// SKIN (distance kept from a blocked cell's face), LIQUID_DRAG (per
// second), RADIUS (a particle's contact radius), WAKE_DEPTH (the overlap
// beyond a resting contact that wakes a sleeping body), NEAR (bodies
// listed per body as near it; a body near more is compared with every
// body).

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

// The hexahedron split into 6 tetrahedra around its 0-7 diagonal, as the
// CPU's `TETS`.
const TETS = array<vec4<u32>, 6>(
    vec4<u32>(0u, 1u, 3u, 7u),
    vec4<u32>(0u, 3u, 2u, 7u),
    vec4<u32>(0u, 2u, 6u, 7u),
    vec4<u32>(0u, 6u, 4u, 7u),
    vec4<u32>(0u, 4u, 5u, 7u),
    vec4<u32>(0u, 5u, 1u, 7u),
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
    for (var n = 0u; n < 6u; n++) {
        let t = TETS[n];
        let e1 = q[t.y] - q[t.x];
        let e2 = q[t.z] - q[t.x];
        let e3 = q[t.w] - q[t.x];
        vol = vol + dot3(e1, cross3(e2, e3)) / 6.0;
        let g1 = cross3(e2, e3) / 6.0;
        let g2 = cross3(e3, e1) / 6.0;
        let g3 = cross3(e1, e2) / 6.0;
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
        if (wk == 0.0) {
            continue;
        }
        let f = wk / (wk + alpha);
        store_x(first + c, q[c] + f * (goal - q[c]));
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

// The contact pushes on a particle: their sum, the part of it moved out
// of `prev`, and their count.
struct Pushes {
    x: vec3<f32>,
    prev: vec3<f32>,
    count: f32,
}

// The pushes on particle p (of body `mine`) from the particles of body
// `other`, added to `sum`, as the CPU's `contact::separate` finds them.
fn pushes_from(p: u32, mine: u32, other: u32, sum: ptr<function, Pushes>) {
    // The two boxes' overlap grown by a radius: only particles in it can
    // touch (the CPU's narrow phase takes the same ones).
    let lo = max(boxes[2u * mine].xyz, boxes[2u * other].xyz) - RADIUS;
    let hi = min(boxes[2u * mine + 1u].xyz, boxes[2u * other + 1u].xyz) + RADIUS;
    let xp = load(p);
    if (!within(xp, lo, hi)) {
        return;
    }
    let size = 2.0 * RADIUS;
    let wp = select(mass_of(p), 0.0, sleeping[mine] != 0u);
    let span = bodies[other];
    for (var q = span.x; q < span.y; q++) {
        let xq = load(q);
        if (!within(xq, lo, hi)) {
            continue;
        }
        let d = xp - xq;
        let len = sqrt(dot3(d, d));
        if (len >= size || len < 1e-6) {
            continue;
        }
        if (size - len > WAKE_DEPTH) {
            // A contact deeper than a resting one wakes both bodies.
            if (sleeping[mine] != 0u) {
                atomicStore(&woken[mine], 1u);
            }
            if (sleeping[other] != 0u) {
                atomicStore(&woken[other], 1u);
            }
        }
        let wq = select(mass_of(q), 0.0, sleeping[other] != 0u);
        let wsum = wp + wq;
        if (wsum == 0.0) {
            continue;
        }
        let dp = load_prev(p) - load_prev(q);
        let plen = sqrt(dot3(dp, dp));
        let old = clamp(size - plen, 0.0, size - len);
        let s = (size - len) / wsum / len;
        let so = old / wsum / len;
        (*sum).x = (*sum).x + (wp * s) * d;
        (*sum).prev = (*sum).prev + (wp * so) * d;
        (*sum).count = (*sum).count + 1.0;
    }
}

// Per particle: the sum of its contact pushes, from every body it may
// touch in ascending order, each's particles in ascending order (the
// CPU's order for pairs compared all against all).
@compute @workgroup_size(64)
fn contact(
    @builtin(global_invocation_id) id: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let p = flat(id, groups);
    if (p >= params.particles) {
        return;
    }
    var sum: Pushes;
    sum.x = vec3<f32>(0.0);
    sum.prev = vec3<f32>(0.0);
    sum.count = 0.0;
    let mine = owner(p);
    let at = (NEAR + 1u) * mine;
    let n = near_list[at];
    if (n <= NEAR) {
        for (var k = 0u; k < n; k++) {
            pushes_from(p, mine, near_list[at + 1u + k], &sum);
        }
    } else {
        for (var c = 0u; c < params.bodies; c++) {
            if (c != mine && may_touch(mine, c)) {
                pushes_from(p, mine, c, &sum);
            }
        }
    }
    push[2u * p] = vec4<f32>(sum.x, sum.count);
    push[2u * p + 1u] = vec4<f32>(sum.prev, 0.0);
}

// Per particle: moved by the mean of its pushes (Jacobi).
@compute @workgroup_size(64)
fn separate(
    @builtin(global_invocation_id) id: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let p = flat(id, groups);
    if (p >= params.particles) {
        return;
    }
    let d = push[2u * p];
    if (d.w == 0.0) {
        return;
    }
    store_x(p, load(p) + d.xyz / d.w);
    store_prev(p, load_prev(p) + push[2u * p + 1u].xyz / d.w);
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
