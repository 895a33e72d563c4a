// The Metropolis phase pass (loam_systems::phase) over the visited pages,
// one invocation per cell of the half-sweep's colour. Within a half-sweep a
// decision reads only cells of the other colour and the column weights
// found before it, so the invocations are independent. The arithmetic is
// the CPU's in f32 instead of f64 (the CPU's own logarithms are f32); the
// random numbers are the CPU's, bit for bit (random.wgsl is prepended).
//
// Entry points, in order each pass: `overburden` once (the weight of the
// column above each visited page), then per colour `columns` (the weight
// above each cell) and `decide`.

struct Params {
    p: u32,             // page edge
    colour: u32,
    stride: u32,        // outcome words per visited page
    substances: u32,
    size_x: u32,
    size_y: u32,
    size_z: u32,
    pages_x: u32,
    pages_y: u32,
    pages_z: u32,
    baths: u32,
    field_cell: u32,    // 0: no pressure field
    field_n: u32,       // field cells along a page edge
    ambient: f32,       // Pa
    layer: f32,         // g * voxel size: a cell's weight per kg/m^3, Pa
    capacity: u32,      // room for requests after requests[0]
    key: vec2<u32>,     // the half-sweep's random key (plan::sweep_key)
    _tail: vec2<u32>,
};

// Parameters in a storage buffer, not a uniform one: lavapipe compiles a
// variant of a shader for the uniform values its branches depend on at
// every dispatch and never frees it (see ca_move.wgsl).
@group(0) @binding(0) var<storage, read> params: Params;
// Byte pools packed 4 to a word: bytes of same-colour cells share words.
@group(0) @binding(1) var<storage, read_write> material: array<atomic<u32>>;
@group(0) @binding(2) var<storage, read_write> temperature: array<f32>;
// Page -> slot + 1 (0: not resident).
@group(0) @binding(3) var<storage, read> table: array<u32>;
// The heat baths, 6 u32 each (min, max), then the visited pages' indices.
@group(0) @binding(4) var<storage, read> visited: array<u32>;
// Per material: substance << 8 | phase, or NONE; then per material its
// density if condensed, else -1 (as f32 bits); then per substance
// SUBSTANCE_WORDS words (see `substance`).
@group(0) @binding(5) var<storage, read> terms: array<u32>;
// Per visited page: the weight above each cell, then above each column
// of its top face (overburden).
@group(0) @binding(6) var<storage, read_write> above: array<f32>;
// Per visited page: the pressure field over it, field_n^3 values.
@group(0) @binding(7) var<storage, read> field: array<f32>;
// Per visited page: visits, proposals, candidate, lo xyz, hi xyz, then
// accepted transitions by substance, from phase, to phase.
@group(0) @binding(8) var<storage, read_write> outcome: array<atomic<u32>>;
// Page-use feedback (page_use.wgsl's buffers, GigaVoxels style): per page,
// the uses since the last readback; per page, 1 once asked for; and
// requests[0] the number of absent pages asked for, then their indices.
@group(0) @binding(9) var<storage, read_write> uses: array<atomic<u32>>;
@group(0) @binding(10) var<storage, read_write> asked: array<atomic<u32>>;
@group(0) @binding(11) var<storage, read_write> requests: array<atomic<u32>>;
// Latent heat a cell holds part way through a phase change (see
// `VoxelWorld::latent`).
@group(0) @binding(12) var<storage, read_write> latent: array<f32>;

const NONE: u32 = 0xFFFFu;
const GAS: u32 = 2u;
const SUBSTANCE_WORDS: u32 = 64u;
const P0: f32 = 101325.0;
const R: f32 = 8.314462618;
const SKIP: f32 = 40.0;
const MIN_TEMPERATURE: f32 = 1.0;
const HELD_DRIFT: f32 = 0.01;
const ABSENT: u32 = 0xFFFFFFFFu;

fn f(k: u32) -> f32 {
    return bitcast<f32>(terms[k]);
}

fn density(m: u32) -> f32 {
    return f(256u + m);
}

// Substance s: moles, interface, triple pressure (< 0: none), phases; then
// per phase (5 words): material, state, a, cp, volume; then per pair
// (k, q) (5 words): a, b, c, v, gas.
fn substance(s: u32) -> u32 {
    return 512u + s * SUBSTANCE_WORDS;
}

fn phase_word(s: u32, k: u32, w: u32) -> u32 {
    return terms[substance(s) + 4u + 5u * k + w];
}

fn pair(s: u32, k: u32, q: u32, w: u32) -> f32 {
    return f(substance(s) + 19u + 5u * (3u * k + q) + w);
}

fn material_at(i: u32) -> u32 {
    return (atomicLoad(&material[i >> 2u]) >> ((i & 3u) * 8u)) & 0xFFu;
}

fn set_material(i: u32, m: u32) {
    let shift = (i & 3u) * 8u;
    atomicAnd(&material[i >> 2u], ~(0xFFu << shift));
    atomicOr(&material[i >> 2u], m << shift);
}

fn page_coord(p: u32) -> vec3<u32> {
    return vec3<u32>(p % params.pages_x, (p / params.pages_x) % params.pages_y,
                     p / (params.pages_x * params.pages_y));
}

// The slot base (in cells) of the page at page coordinates c, or ABSENT.
fn base_of(c: vec3<i32>) -> u32 {
    if (any(c < vec3<i32>(0)) || c.x >= i32(params.pages_x) || c.y >= i32(params.pages_y)
        || c.z >= i32(params.pages_z)) {
        return ABSENT;
    }
    let u = vec3<u32>(c);
    let slot = table[u.x + params.pages_x * (u.y + params.pages_y * u.z)];
    if (slot == 0u) {
        return ABSENT;
    }
    return (slot - 1u) * params.p * params.p * params.p;
}

// The material at local cell l of the page at page coordinates c (l may be
// one step outside the page), or ABSENT.
fn material_near(c: vec3<i32>, l: vec3<i32>) -> u32 {
    let p = i32(params.p);
    let step = vec3<i32>(select(vec3<i32>(0), vec3<i32>(-1), l < vec3<i32>(0)))
        + vec3<i32>(select(vec3<i32>(0), vec3<i32>(1), l >= vec3<i32>(p)));
    let base = base_of(c + step);
    if (base == ABSENT) {
        return ABSENT;
    }
    let w = l - step * p;
    return material_at(base + u32(w.x + p * (w.y + p * w.z)));
}

fn visited_page(v: u32) -> u32 {
    return visited[6u * params.baths + v];
}

fn cells() -> u32 {
    return params.p * params.p * params.p;
}

// Asks once for the absent page k (the CPU's streaming loads it).
fn ask(k: u32) {
    if (atomicExchange(&asked[k], 1u) == 0u) {
        let n = atomicAdd(&requests[0], 1u);
        if (n < params.capacity) {
            atomicStore(&requests[1u + n], k);
        }
    }
}

// One invocation per (column of a visited page's top face, page): the
// weight of the contiguous condensed column above the page, up to the
// world's top or a page that is not resident, which it asks for. The first
// invocation of a page counts a use of it, and every column a use of each
// page above that it enters.
@compute @workgroup_size(64)
fn overburden(@builtin(global_invocation_id) id: vec3<u32>) {
    let p = params.p;
    let v = id.y;
    if (id.x >= p * p) {
        return;
    }
    if (id.x == 0u) {
        atomicAdd(&uses[visited_page(v)], 1u);
    }
    let c = vec3<i32>(page_coord(visited_page(v)));
    let x = id.x % p;
    let z = id.x / p;
    var weight = 0.0;
    if (params.layer > 0.0) {
        var y = (c.y + 1) * i32(p);
        loop {
            if (y >= i32(params.size_y)) {
                break;
            }
            let page = vec3<i32>(c.x, y / i32(p), c.z);
            let m = material_near(page, vec3<i32>(i32(x), y % i32(p), i32(z)));
            if (y % i32(p) == 0) {
                // Into the next page up: used if resident, else asked for.
                let u = vec3<u32>(page);
                let k = u.x + params.pages_x * (u.y + params.pages_y * u.z);
                if (m == ABSENT) {
                    ask(k);
                    break;
                }
                atomicAdd(&uses[k], 1u);
            }
            if (density(m) < 0.0) {
                break;
            }
            weight += density(m) * params.layer;
            y += 1;
        }
    }
    above[v * (cells() + p * p) + cells() + id.x] = weight;
}

// One invocation per (column of a visited page, page): the weight above
// each of its cells, top down, as the half-sweep finds the materials.
@compute @workgroup_size(64)
fn columns(@builtin(global_invocation_id) id: vec3<u32>) {
    let p = params.p;
    let v = id.y;
    if (id.x >= p * p) {
        return;
    }
    let row = v * (cells() + p * p);
    let base = base_of(vec3<i32>(page_coord(visited_page(v))));
    let x = id.x % p;
    let z = id.x / p;
    var column = above[row + cells() + id.x];
    for (var y = i32(p) - 1; y >= 0; y -= 1) {
        let l = x + p * (u32(y) + p * z);
        above[row + l] = column;
        if (params.layer > 0.0) {
            let d = density(material_at(base + l));
            column = select(0.0, column + d * params.layer, d >= 0.0);
        }
    }
}

var<workgroup> wg_visits: atomic<u32>;
var<workgroup> wg_proposals: atomic<u32>;
var<workgroup> wg_candidate: atomic<u32>;

fn in_bath(g: vec3<u32>) -> bool {
    for (var b = 0u; b < params.baths; b += 1u) {
        let k = 6u * b;
        let lo = vec3<u32>(visited[k], visited[k + 1u], visited[k + 2u]);
        let hi = vec3<u32>(visited[k + 3u], visited[k + 4u], visited[k + 5u]);
        if (all(g >= lo) && all(g < hi)) {
            return true;
        }
    }
    return false;
}

// 1: visited; 2: proposed (near a transition).
fn visit(v: u32, j: u32) -> u32 {
    let p = params.p;
    // The j-th cell of this colour: page origins are even, so a cell's
    // colour is the parity of its local x + y + z.
    let even = 2u * j;
    let y = (even / p) % p;
    let z = even / (p * p);
    let x = even % p + ((params.colour + y + z) & 1u);
    let l = vec3<u32>(x, y, z);
    let c = page_coord(visited_page(v));
    let base = base_of(vec3<i32>(c));
    let local = x + p * (y + p * z);
    let i = base + local;
    let m = material_at(i);
    let sp = terms[m];
    if (sp == NONE) {
        return 0u;
    }
    let s = sp >> 8u;
    let k = sp & 0xFFu;
    let t = temperature[i];
    // NaN (by its bits: a compiler may fold t != t), zero and negative
    // temperatures are not decided.
    if ((bitcast<u32>(t) & 0x7FFFFFFFu) > 0x7F800000u || t <= 0.0) {
        return 1u;
    }
    let g = c * p + l;
    var blast = 0.0;
    if (params.field_cell > 0u) {
        let fc = params.field_cell;
        let fl = g / fc - (c * p) / fc;
        let n = params.field_n;
        blast = field[v * n * n * n + fl.x + n * (fl.y + n * fl.z)];
    }
    let row = v * (cells() + p * p);
    let pressure = max(params.ambient + above[row + local] + blast, 1.0);
    let ln_t = log(t);
    let dp = pressure - P0;
    let rt = R * t;
    let rt_ln_p = rt * log(pressure / P0);
    let sub = substance(s);
    let moles = f(sub);
    let surface = f(sub + 1u);
    let triple = f(sub + 2u);
    let phases = terms[sub + 3u];
    let state_k = phase_word(s, k, 1u);
    // The most stable bordering phase (see the CPU's `decide`).
    var q = k;
    var dg = 3.0e38;
    for (var o = 0u; o < phases; o += 1u) {
        let state_o = phase_word(s, o, 1u);
        let solid_gas = (state_k == 0u && state_o == GAS) || (state_k == GAS && state_o == 0u);
        let adjacent = !solid_gas || (triple >= 0.0 && pressure < triple);
        if (o != k && adjacent) {
            let d = pair(s, k, o, 0u) + pair(s, k, o, 2u) * t
                - t * (pair(s, k, o, 1u) + pair(s, k, o, 2u) * ln_t)
                + pair(s, k, o, 3u) * dp + pair(s, k, o, 4u) * rt_ln_p;
            if (d < dg) {
                q = o;
                dg = d;
            }
        }
    }
    let bath = in_bath(g);
    // What the voxel holds toward another phase (a bath supplies or takes
    // the latent heat, so it holds none), and its heat as a temperature of
    // its phase.
    let held = select(latent[i], 0.0, bath);
    let theta = t + held;
    // A held voxel sits at a transition: it is decided whatever the
    // proposal's odds.
    let proposed = moles * dg <= SKIP * rt;
    let done = select(1u, 3u, proposed);
    if (!proposed && held == 0.0) {
        return 1u;
    }
    let new_material = phase_word(s, q, 0u);
    let old_material = phase_word(s, k, 0u);
    let ci = vec3<i32>(c);
    let li = vec3<i32>(l);
    var unlike = 0;
    var steps = array<vec3<i32>, 6>(vec3<i32>(-1, 0, 0), vec3<i32>(1, 0, 0), vec3<i32>(0, -1, 0),
                                    vec3<i32>(0, 1, 0), vec3<i32>(0, 0, -1), vec3<i32>(0, 0, 1));
    for (var d = 0u; d < 6u; d += 1u) {
        let n = material_near(ci, li + steps[d]);
        if (n != ABSENT) {
            unlike += i32(n != new_material) - i32(n != old_material);
        }
    }
    let log_accept = -(moles * dg + surface * f32(unlike)) / rt;
    // The CPU's draw: mix64(key ^ index), index = x + X * (y + Y * z).
    let index = add64(mul_wide(params.size_x, g.y + params.size_y * g.z), vec2<u32>(g.x, 0u));
    let random = mix64(params.key ^ index);
    let u = (f32(random.y >> 8u) + 0.5) * (1.0 / 16777216.0);
    let metropolis = log_accept >= 0.0 || log(u) < log_accept;
    if (bath) {
        if (metropolis) {
            change(v, i, x, y, z, s, k, q, new_material, t);
        }
        return done;
    }
    // Elsewhere enthalpy is conserved (see the CPU's `decide`): the
    // voxel's heat pays the latent heat, and past the point where the two
    // phases meet without the whole of it, the voxel sits there holding
    // what it has.
    let a_k = f(sub + 4u + 5u * k + 2u);
    let cp_k = f(sub + 4u + 5u * k + 3u);
    let v_k = select(f(sub + 4u + 5u * k + 4u), 0.0, state_k == GAS);
    let a_q = f(sub + 4u + 5u * q + 2u);
    let cp_q = f(sub + 4u + 5u * q + 3u);
    let state_q = phase_word(s, q, 1u);
    let v_q = select(f(sub + 4u + 5u * q + 4u), 0.0, state_q == GAS);
    let t_new = (a_k + cp_k * theta + v_k * dp - (a_q + v_q * dp)) / cp_q;
    let slope = pair(s, k, q, 4u) * R * log(pressure / P0)
        - (pair(s, k, q, 1u) + pair(s, k, q, 2u) * ln_t);
    let meet = t - dg / slope;
    let up = select(-1.0, 1.0, state_q > state_k);
    let holding = held != 0.0;
    let heading = !holding || up * held > 0.0;
    let past = heading && up * (theta - meet) > 0.0;
    let whole = up * (t_new - meet) >= 0.0 && t_new > MIN_TEMPERATURE;
    if (past && whole) {
        if (holding || metropolis) {
            change(v, i, x, y, z, s, k, q, new_material, t_new);
        }
    } else if (past) {
        let rest = theta - meet;
        // A voxel already holding heat that is still within HELD_DRIFT of
        // the meeting point stays as it is (see the CPU's `HELD_DRIFT`).
        if (!holding || abs(meet - t) > HELD_DRIFT) {
            temperature[i] = meet;
            latent[i] = rest;
            touch(v, x, y, z);
        }
    } else if (holding && heading) {
        // No longer past the meeting point: what it held is temperature.
        temperature[i] = theta;
        latent[i] = 0.0;
        touch(v, x, y, z);
    }
    return done;
}

// Grows page `v`'s box of changed cells to cover local cell (x, y, z).
fn touch(v: u32, x: u32, y: u32, z: u32) {
    let out = v * params.stride;
    atomicMin(&outcome[out + 3u], x);
    atomicMin(&outcome[out + 4u], y);
    atomicMin(&outcome[out + 5u], z);
    atomicMax(&outcome[out + 6u], x);
    atomicMax(&outcome[out + 7u], y);
    atomicMax(&outcome[out + 8u], z);
}

// Turns cell `i` (local x, y, z of page `v`) of substance `s` from phase
// `k` into phase `q` (material `m`) at temperature `t`, and counts it.
fn change(v: u32, i: u32, x: u32, y: u32, z: u32, s: u32, k: u32, q: u32, m: u32, t: f32) {
    set_material(i, m);
    temperature[i] = t;
    latent[i] = 0.0;
    touch(v, x, y, z);
    atomicAdd(&outcome[v * params.stride + 9u + 9u * s + 3u * k + q], 1u);
}

// One invocation per cell of the colour of a visited page (id.y): decides
// it; the workgroup's visits and proposals are summed before they are
// added to the page's outcome.
@compute @workgroup_size(64)
fn decide(@builtin(global_invocation_id) id: vec3<u32>,
          @builtin(local_invocation_index) lane: u32) {
    if (lane == 0u) {
        atomicStore(&wg_visits, 0u);
        atomicStore(&wg_proposals, 0u);
        atomicStore(&wg_candidate, 0u);
    }
    workgroupBarrier();
    let half = cells() / 2u;
    var did = 0u;
    if (id.x < half) {
        did = visit(id.y, id.x);
    }
    if (did != 0u) {
        atomicAdd(&wg_visits, 1u);
    }
    if ((did & 2u) != 0u) {
        atomicAdd(&wg_proposals, 1u);
        atomicStore(&wg_candidate, 1u);
    }
    workgroupBarrier();
    if (lane == 0u) {
        let out = id.y * params.stride;
        atomicAdd(&outcome[out], atomicLoad(&wg_visits));
        atomicAdd(&outcome[out + 1u], atomicLoad(&wg_proposals));
        atomicMax(&outcome[out + 2u], atomicLoad(&wg_candidate));
    }
}
