// The falling-sand automaton's movement, one invocation per page of one
// checkerboard phase, as the CPU does it (loam_systems::ca): cells in the
// page's order (y, then z, then x), powders fall and slide, liquids fall,
// slide and spread, gases rise and spread; a random choice only where there
// is one, from the same counter-based hash; reactions first where the
// page's temperatures allow them; then, with `heat`, heat conduction.
// Reactions come from the CPU's material table, packed into `reactions`
// (loam_gpu::reaction_tables; its layout's constants are a prelude,
// loam_gpu::shaders::ca_constants).
//
// A page's update is sequential, so it is cut into dispatches of one slab
// each, in the CPU's order: per phase, `range` (the page's temperature
// range), `move_slab` for y = 0, 1, ... (one invocation per page of the
// phase), then `heat_slab` for z = 0, 1, ... and `finish`. Short
// invocations keep within drivers' limits: llvmpipe ends every loop of an
// invocation after 65,535 iterations in all, which a whole page of 32³
// cells in one invocation passed.
//
// Materials and flags are bytes packed 4 to a word. A page writes its own
// cells and a one-cell border of its neighbours; pages of one phase are two
// pages apart, so they never write the same cell, but they can write
// different bytes of one word (pages of 4 cells): bytes are written with
// atomic and/or. Needs random.wgsl.

struct Params {
    // Cells along a page edge.
    p: i32,
    // How far a liquid looks sideways for a drop.
    reach: i32,
    // This phase's pages: pages[start .. start + count].
    start: u32,
    count: u32,
    seed: vec2<u32>,
    frame: vec2<u32>,
    // 1: conduct heat after moving (CaConfig::heat).
    heat: u32,
    // Bit 0: reactions (CaConfig::reactions); bit 1: thermal transitions.
    reactions: u32,
    // The slab of this dispatch: y for `move_slab`, z for `heat_slab`.
    slab: i32,
    _pad: u32,
}

// Temperature changes smaller than this (K a frame) let a page sleep.
const HEAT_EPSILON: f32 = 1e-3;

const NONE: u32 = 0xFFFFFFFFu;
const MOVED: u32 = 1u;
// Kinds, as loam_systems::materials::Kind.
const EMPTY: u32 = 0u;
const POWDER: u32 = 2u;
const LIQUID: u32 = 3u;
const GAS: u32 = 4u;
const FIRE: u32 = 5u;
// Not a kind of the CPU's: the kinds table marks a gas denser than air
// (MaterialTable::heavy) with it, and such a gas sinks as a liquid does.
const HEAVY_GAS: u32 = 6u;

// A storage buffer, not a uniform one: lavapipe compiles a variant of a
// shader for the values of uniforms its loops depend on, at every
// dispatch, and keeps each one (gigabytes over a test).
@group(0) @binding(0) var<storage, read> params: Params;
@group(0) @binding(1) var<storage, read_write> material: array<atomic<u32>>;
@group(0) @binding(2) var<storage, read_write> temperature: array<f32>;
@group(0) @binding(3) var<storage, read_write> flags: array<atomic<u32>>;
// Per page: the pool offsets of its 27 neighbourhood pages (NONE where
// absent), index (ox+1) + 3(oy+1) + 9(oz+1); then its origin (3 words).
@group(0) @binding(4) var<storage, read> pages: array<u32>;
// Phase lists: page numbers (indices into `pages` rows), phase after phase.
@group(0) @binding(5) var<storage, read> phase_pages: array<u32>;
// Per material: its kind.
@group(0) @binding(6) var<storage, read> kinds: array<u32>;
// Bit sets, 256 bits per material: what it may sink into, rise into.
@group(0) @binding(7) var<storage, read> sinks: array<u32>;
@group(0) @binding(8) var<storage, read> rises: array<u32>;
// Per page row, what its update changed, CHANGE_WORDS words: the box
// around every change (lo xyz, hi xyz; local coordinates, inclusive; lo >
// hi when none), the swaps made, flags (1: heat moved, 2: a reaction is
// pending), the reactions; then the page's temperature range as bit
// patterns (min, max) and the largest temperature change of its heat pass
// (f32 bits). The CPU sets each row to "nothing yet" before a frame.
@group(0) @binding(9) var<storage, read_write> changes: array<atomic<i32>>;
const CHANGE_WORDS: u32 = 12u;
// Per material: conductivity, then volumetric heat capacity.
@group(0) @binding(10) var<storage, read> heat: array<f32>;
// The reaction tables: per material, the pair index, the rules (see
// loam_gpu::reaction_tables).
@group(0) @binding(11) var<storage, read> reactions_table: array<u32>;
// Latent heat a cell holds part way through a phase change (see
// `VoxelWorld::latent`): it moves with the cell.
@group(0) @binding(12) var<storage, read_write> latent: array<f32>;

// A reaction whose condition held but whose dice said "not yet", this
// page update: the page stays awake.
var<private> pending: bool;
// Swaps made, this page update.
var<private> swaps: i32;
// Reactions that changed a material, counted as the CPU counts them.
var<private> reactions: i32;

fn byte(buf: u32, i: u32) -> u32 {
    var w: u32;
    if (buf == 0u) {
        w = atomicLoad(&material[i / 4u]);
    } else {
        w = atomicLoad(&flags[i / 4u]);
    }
    return (w >> (8u * (i % 4u))) & 0xFFu;
}

fn set_material(i: u32, m: u32) {
    let shift = 8u * (i % 4u);
    atomicAnd(&material[i / 4u], ~(0xFFu << shift));
    atomicOr(&material[i / 4u], m << shift);
}

fn set_moved(i: u32) {
    atomicOr(&flags[i / 4u], MOVED << (8u * (i % 4u)));
}

fn in_set(table_id: u32, m: u32, t: u32) -> bool {
    let word = m * 8u + t / 32u;
    var bits: u32;
    if (table_id == 0u) {
        bits = sinks[word];
    } else {
        bits = rises[word];
    }
    return ((bits >> (t % 32u)) & 1u) != 0u;
}

// The pool index of local cell (x, y, z) of page row `row`, or NONE.
fn addr(row: u32, x: i32, y: i32, z: i32) -> u32 {
    let p = params.p;
    let nx = i32(x >= 0) + i32(x >= p);
    let ny = i32(y >= 0) + i32(y >= p);
    let nz = i32(z >= 0) + i32(z >= p);
    let base = pages[30u * row + u32(nx + 3 * ny + 9 * nz)];
    if (base == NONE) {
        return NONE;
    }
    let l = vec3<i32>(x - (nx - 1) * p, y - (ny - 1) * p, z - (nz - 1) * p);
    return base + u32(l.x + p * (l.y + p * l.z));
}

fn enters(table_id: u32, m: u32, cell: u32) -> bool {
    if (cell == NONE) {
        return false;
    }
    let t = byte(0u, cell);
    return in_set(table_id, m, t) && (kinds[t] == EMPTY || (byte(1u, cell) & MOVED) == 0u);
}

// 64 random bits for the cell (x, y, z) this frame from `stream` (0: moves
// and slow reactions, 1: which neighbours a pair reaction happens with, 2:
// the second byte of a neighbour whose first falls on the rate).
fn random_stream(row: u32, x: i32, y: i32, z: i32, stream: u32) -> vec2<u32> {
    let gx = pages[30u * row + 27u] + u32(x);
    let gy = pages[30u * row + 28u] + u32(y);
    let gz = pages[30u * row + 29u] + u32(z);
    // (gx | gz << 32) ^ gy * GOLDEN, as on the CPU.
    let id = vec2<u32>(gx, gz) ^ mul64(vec2<u32>(gy, 0u), GOLDEN);
    let frame = vec2<u32>(params.frame.x, params.frame.y ^ (stream << 24u));
    return hash3(params.seed, frame, id);
}

fn random(row: u32, x: i32, y: i32, z: i32) -> vec2<u32> {
    return random_stream(row, x, y, z, 0u);
}

fn choose(open: u32, row: u32, x: i32, y: i32, z: i32, salt: u32) -> u32 {
    if ((open & (open - 1u)) == 0u) {
        return firstTrailingBit(open);
    }
    let h = random(row, x, y, z);
    // (hash >> 8 * salt) as u32, for salt 0 or 1.
    var r = h.x;
    if (salt == 1u) {
        r = (h.x >> 8u) | (h.y << 24u);
    }
    // The nth set bit, counting from the lowest.
    var nth = (r & 0xFFu) % countOneBits(open);
    for (var k = 0u; k < 4u; k++) {
        if (((open >> k) & 1u) != 0u) {
            if (nth == 0u) {
                return k;
            }
            nth -= 1u;
        }
    }
    return 0u;
}

fn drop_ahead(row: u32, x: i32, y: i32, z: i32, dx: i32, dz: i32, dy: i32, table_id: u32, m: u32) -> bool {
    for (var k = 1; k <= params.reach; k++) {
        let cx = x + k * dx;
        let cz = z + k * dz;
        if (k > 1 && !enters(table_id, m, addr(row, cx, y, cz))) {
            return false;
        }
        if (enters(table_id, m, addr(row, cx, y + dy, cz))) {
            return true;
        }
    }
    return false;
}

const SIDES: array<vec2<i32>, 4> = array<vec2<i32>, 4>(
    vec2<i32>(1, 0), vec2<i32>(-1, 0), vec2<i32>(0, 1), vec2<i32>(0, -1)
);

// Where the cell at (x, y, z) of material m moves to, or NONE.
fn flow(row: u32, x: i32, y: i32, z: i32, m: u32, dy: i32, table_id: u32, spreads: bool) -> u32 {
    let ahead = addr(row, x, y + dy, z);
    if (enters(table_id, m, ahead)) {
        return ahead;
    }
    var targets: array<u32, 4>;
    var open = 0u;
    for (var k = 0u; k < 4u; k++) {
        let s = SIDES[k];
        targets[k] = addr(row, x + s.x, y + dy, z + s.y);
        open |= u32(enters(table_id, m, targets[k])) << k;
    }
    if (open != 0u) {
        return targets[choose(open, row, x, y, z, 0u)];
    }
    if (!spreads) {
        return NONE;
    }
    let behind = addr(row, x, y - dy, z);
    let pressed = behind != NONE && byte(0u, behind) == m;
    for (var k = 0u; k < 4u; k++) {
        let s = SIDES[k];
        targets[k] = addr(row, x + s.x, y, z + s.y);
        // Pressure pushes sideways into empty cells only, as on the CPU.
        let flows = enters(table_id, m, targets[k])
            && ((pressed && kinds[byte(0u, targets[k])] == EMPTY)
                || drop_ahead(row, x, y, z, s.x, s.y, dy, table_id, m));
        open |= u32(flows) << k;
    }
    if (open != 0u) {
        // A viscous liquid spreads with chance 1 - viscosity; held back, it
        // keeps its page awake.
        let viscosity = material_float(m, 8u);
        if (viscosity > 0.0 && f32((random(row, x, y, z).x >> 16u) & 0xFFu) < viscosity * 256.0) {
            pending = true;
            return NONE;
        }
        return targets[choose(open, row, x, y, z, 1u)];
    }
    return NONE;
}

// Word `k` of material m's record in the reaction tables.
fn material_word(m: u32, k: u32) -> u32 {
    return reactions_table[m * MATERIAL_WORDS + k];
}

fn material_float(m: u32, k: u32) -> f32 {
    return bitcast<f32>(material_word(m, k));
}

// Word `k` of rule `r`.
fn rule_word(r: u32, k: u32) -> u32 {
    return reactions_table[RULES_AT + r * RULE_WORDS + k];
}

fn rule_float(r: u32, k: u32) -> f32 {
    return bitcast<f32>(rule_word(r, k));
}

// Whether rule r applies at temperature t, as the CPU's Rule::applies.
fn applies(r: u32, t: f32, phase_changes: bool) -> bool {
    return (phase_changes || (rule_word(r, 9u) & 1u) == 0u) && rule_float(r, 3u) <= t && t < rule_float(r, 4u);
}

// Whether material m can react in a page whose temperatures span [lo, hi]:
// it has pair reactions, or its single-cell ones span a temperature there.
fn can_react(m: u32, lo: f32, hi: f32) -> bool {
    let flags = material_word(m, 0u);
    if ((params.reactions & 1u) == 0u || (flags & 1u) == 0u) {
        return false;
    }
    let window = 3u + 2u * ((params.reactions >> 1u) & 1u);
    return (flags & 2u) != 0u || (hi >= material_float(m, window) && lo < material_float(m, window + 1u));
}

fn transmute(i: u32, m: u32, t: f32) {
    set_material(i, m);
    temperature[i] = t;
    latent[i] = 0.0;
    set_moved(i);
}

// Turns cell i into product p of rule r, as the CPU's `produce`.
fn produce(i: u32, r: u32, p: u32) {
    let into = rule_word(r, p);
    let warm = rule_float(r, 5u + p);
    if (into == byte(0u, i)) {
        if (warm != 0.0) {
            temperature[i] = temperature[i] + warm;
        }
        return;
    }
    var t: f32;
    if (kinds[into] == FIRE) {
        t = material_float(into, 7u);
    } else {
        t = temperature[i];
        if ((rule_word(r, 9u) & (2u << p)) != 0u) {
            t = max(t, rule_float(r, 7u + p));
        }
    }
    if (warm != 0.0) {
        t = t + warm;
    }
    transmute(i, into, t);
}

// Whether a pair reaction of chance `rate` happens with face neighbour k,
// as the CPU's `pair_dice`: byte k of `r`, and on the rate's boundary
// byte k of a second draw.
fn pair_dice(r: vec2<u32>, k: u32, rate: f32, row: u32, x: i32, y: i32, z: i32) -> bool {
    var b = (r.x >> (8u * k)) & 0xFFu;
    if (k >= 4u) {
        b = (r.y >> (8u * (k - 4u))) & 0xFFu;
    }
    let byte_k = f32(b);
    let scaled = rate * 256.0;
    if (byte_k + 1.0 <= scaled) {
        return true;
    }
    if (byte_k >= scaled) {
        return false;
    }
    let f = random_stream(row, x, y, z, 2u);
    var fine = (f.x >> (8u * k)) & 0xFFu;
    if (k >= 4u) {
        fine = (f.y >> (8u * (k - 4u))) & 0xFFu;
    }
    return f32(fine) < (scaled - byte_k) * 256.0;
}

const REACTED: u32 = 1u;
const CHANGED: u32 = 2u;

// The reactions of cell i (material m, at (x, y, z)), as the CPU's: pair
// reactions with each face neighbour in turn, then the first single-cell
// one whose dice say yes. REACTED if it changed, CHANGED if it or a
// neighbour changed.
fn react(row: u32, x: i32, y: i32, z: i32, i: u32, m: u32) -> u32 {
    let t = temperature[i];
    let phase_changes = (params.reactions & 2u) != 0u;
    var out = 0u;
    if ((material_word(m, 0u) & 2u) != 0u) {
        let r = random_stream(row, x, y, z, 1u);
        for (var k = 0u; k < 6u; k++) {
            let d = NEIGHBOURS[k];
            let j = addr(row, x + d.x, y + d.y, z + d.z);
            if (j == NONE) {
                continue;
            }
            let index = reactions_table[PAIRS_AT + 256u * m + byte(0u, j)];
            if (index == 0u) {
                continue;
            }
            let rule = index - 1u;
            if (!applies(rule, t, phase_changes)) {
                continue;
            }
            if (!pair_dice(r, k, rule_float(rule, 2u), row, x, y, z)) {
                pending = true;
                continue;
            }
            produce(j, rule, 1u);
            reactions += 1;
            out |= CHANGED;
            let changes_itself = rule_word(rule, 0u) != m;
            produce(i, rule, 0u);
            if (changes_itself) {
                return REACTED | CHANGED;
            }
        }
    }
    var reacted = false;
    var rolled = false;
    var dice = 0.0;
    let end = material_word(m, 2u);
    for (var rule = material_word(m, 1u); rule < end; rule++) {
        if (!applies(rule, t, phase_changes)) {
            continue;
        }
        if (!rolled) {
            dice = f32(random(row, x, y, z).y >> 8u) * (1.0 / 16777216.0);
            rolled = true;
        }
        if (dice < rule_float(rule, 2u)) {
            produce(i, rule, 0u);
            reacted = true;
            break;
        }
        pending = true;
    }
    if (!reacted && kinds[m] == FIRE) {
        // A burning cell holds its flame temperature.
        temperature[i] = material_float(m, 7u);
    }
    if (reacted) {
        reactions += 1;
        out |= REACTED | CHANGED;
    }
    return out;
}

const NEIGHBOURS: array<vec3<i32>, 6> = array<vec3<i32>, 6>(
    vec3<i32>(0, -1, 0), vec3<i32>(0, 1, 0), vec3<i32>(1, 0, 0),
    vec3<i32>(-1, 0, 0), vec3<i32>(0, 0, 1), vec3<i32>(0, 0, -1)
);

// Updates one cell; whether it, or a neighbour, changed.
fn update_cell(row: u32, x: i32, y: i32, z: i32, lo: f32, hi: f32) -> bool {
    let i = addr(row, x, y, z);
    let m = byte(0u, i);
    let kind = kinds[m];
    if (kind == EMPTY || (byte(1u, i) & MOVED) != 0u) {
        return false;
    }
    if (can_react(m, lo, hi)) {
        let r = react(row, x, y, z, i, m);
        if ((r & REACTED) != 0u) {
            return true;
        }
        if ((r & CHANGED) != 0u) {
            // A flame spread but the fire stayed: the cell goes on.
            _ = move_cell(row, x, y, z, i, m, kind);
            return true;
        }
    }
    return move_cell(row, x, y, z, i, m, kind);
}

// Moves the cell i (material m of `kind`) if it can; whether it did.
fn move_cell(row: u32, x: i32, y: i32, z: i32, i: u32, m: u32, kind: u32) -> bool {
    var j = NONE;
    if (kind == POWDER) {
        j = flow(row, x, y, z, m, -1, 0u, false);
    } else if (kind == LIQUID) {
        j = flow(row, x, y, z, m, -1, 0u, true);
    } else if (kind == GAS) {
        j = flow(row, x, y, z, m, 1, 1u, true);
    } else if (kind == HEAVY_GAS) {
        j = flow(row, x, y, z, m, -1, 0u, true);
    }
    if (j == NONE) {
        return false;
    }
    let mj = byte(0u, j);
    set_material(i, mj);
    set_material(j, m);
    let t = temperature[i];
    temperature[i] = temperature[j];
    temperature[j] = t;
    let h = latent[i];
    latent[i] = latent[j];
    latent[j] = h;
    set_moved(i);
    set_moved(j);
    swaps += 1;
    return true;
}

// The temperature range of one slab (y) of a page of the phase, merged
// into the page's record: one invocation per (page, slab).
@compute @workgroup_size(64)
fn range(@builtin(global_invocation_id) id: vec3<u32>) {
    let p = u32(params.p);
    if (id.x >= params.count * p) {
        return;
    }
    let row = phase_pages[params.start + id.x / p];
    let y = id.x % p;
    let own = pages[30u * row + 13u];
    var lo_bits = 2147483647;
    var hi_bits = -2147483647 - 1;
    for (var c = 0u; c < p * p; c++) {
        let b = bitcast<i32>(temperature[own + c % p + p * (y + p * (c / p))]);
        lo_bits = min(lo_bits, b);
        hi_bits = max(hi_bits, b);
    }
    let at = CHANGE_WORDS * row;
    atomicMin(&changes[at + 9u], lo_bits);
    atomicMax(&changes[at + 10u], hi_bits);
}

// Reactions and movement of the cells of slab y = params.slab of each page
// of the phase, row by row.
@compute @workgroup_size(1)
fn move_slab(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x >= params.count) {
        return;
    }
    let row = phase_pages[params.start + id.x];
    let p = params.p;
    let y = params.slab;
    let at = CHANGE_WORDS * row;
    pending = false;
    swaps = 0;
    reactions = 0;
    // The page's temperature range, from the bit patterns as the CPU takes
    // it (anything negative or beyond infinity: all of them).
    let lo_bits = atomicLoad(&changes[at + 9u]);
    let hi_bits = atomicLoad(&changes[at + 10u]);
    var lo_t = bitcast<f32>(0xFF800000u);
    var hi_t = bitcast<f32>(0x7F800000u);
    if (!(lo_bits < 0 || hi_bits > 0x7F800000)) {
        lo_t = bitcast<f32>(lo_bits);
        hi_t = bitcast<f32>(hi_bits);
    }
    // The box around the changes, as the CPU keeps it: each row's x range
    // of cells that moved, widened by a cell all round when the row ends.
    var lo = vec3<i32>(2147483647);
    var hi = vec3<i32>(-2147483647 - 1);
    for (var z = 0; z < p; z++) {
        var row_lo = 2147483647;
        var row_hi = -2147483647 - 1;
        for (var x = 0; x < p; x++) {
            if (update_cell(row, x, y, z, lo_t, hi_t)) {
                row_lo = min(row_lo, x);
                row_hi = max(row_hi, x);
            }
        }
        if (row_lo <= row_hi) {
            lo = min(lo, vec3<i32>(row_lo - 1, y - 1, z - 1));
            hi = max(hi, vec3<i32>(row_hi + 1, y + 1, z + 1));
        }
    }
    atomicMin(&changes[at], lo.x);
    atomicMin(&changes[at + 1u], lo.y);
    atomicMin(&changes[at + 2u], lo.z);
    atomicMax(&changes[at + 3u], hi.x);
    atomicMax(&changes[at + 4u], hi.y);
    atomicMax(&changes[at + 5u], hi.z);
    atomicAdd(&changes[at + 6u], swaps);
    atomicOr(&changes[at + 7u], i32(pending) << 1u);
    atomicAdd(&changes[at + 8u], reactions);
}

// Heat conduction over slab z = params.slab of each page of the phase, as
// the CPU's heat pass: each cell exchanges with its +x, +y, +z neighbours,
// q = c·ΔT·min(Ci, Cj) leaving one and entering the other. The largest
// change goes into the page's record.
@compute @workgroup_size(1)
fn heat_slab(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x >= params.count) {
        return;
    }
    let row = phase_pages[params.start + id.x];
    let p = params.p;
    let z = params.slab;
    var largest = 0.0;
    for (var y = 0; y < p; y++) {
        for (var x = 0; x < p; x++) {
            let i = addr(row, x, y, z);
            let mi = byte(0u, i);
            let ki = heat[mi];
            let ci = heat[256u + mi];
            var ti = temperature[i];
            var next: array<u32, 3>;
            next[0] = addr(row, x + 1, y, z);
            next[1] = addr(row, x, y + 1, z);
            next[2] = addr(row, x, y, z + 1);
            for (var n = 0u; n < 3u; n++) {
                let j = next[n];
                if (j == NONE) {
                    continue;
                }
                let mj = byte(0u, j);
                let cj = heat[256u + mj];
                let c = min(ki, heat[mj]) * (1.0 / 3.0);
                let tj = temperature[j];
                let q = c * (tj - ti) * min(ci, cj);
                let di = q / ci;
                let dj = q / cj;
                ti += di;
                temperature[j] = tj - dj;
                largest = max(max(largest, abs(di)), abs(dj));
            }
            temperature[i] = ti;
        }
    }
    // Non-negative floats order as their bit patterns do.
    atomicMax(&changes[CHANGE_WORDS * row + 11u], bitcast<i32>(largest));
}

// Whether heat moved in each page of the phase: more than HEAT_EPSILON.
@compute @workgroup_size(64)
fn finish(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x >= params.count) {
        return;
    }
    let at = CHANGE_WORDS * phase_pages[params.start + id.x];
    if (bitcast<f32>(atomicLoad(&changes[at + 11u])) > HEAT_EPSILON) {
        atomicOr(&changes[at + 7u], 1);
    }
}

// Clears the MOVED bits of every cell (one invocation per word).
@compute @workgroup_size(64)
fn clear(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x < arrayLength(&flags)) {
        atomicAnd(&flags[id.x], ~0x01010101u);
    }
}
