//! The WGSL kernels, one file per kernel in the repository's `shaders/`
//! folder, compiled into the crate.

/// One explicit diffusion substep of one field channel over sparse bricks.
pub const FIELDS_DIFFUSE: &str = include_str!("../../shaders/fields_diffuse.wgsl");

/// The peaks of one field channel of each brick, for growth and freeing.
pub const FIELDS_PEAKS: &str = include_str!("../../shaders/fields_peaks.wgsl");

/// Exponential decay of one field channel.
pub const FIELDS_DECAY: &str = include_str!("../../shaders/fields_decay.wgsl");

/// One XPBD substep of soft bodies, an entry point per phase, without the
/// constants [`xpbd_substep`] puts in front.
pub const XPBD_SUBSTEP: &str = include_str!("../../shaders/xpbd_substep.wgsl");

/// GPU cache feedback: page uses and requests for absent pages.
pub const PAGE_USE: &str = include_str!("../../shaders/page_use.wgsl");

/// The CPU's counter-based randomness (`loam_runtime::random`) in WGSL, for
/// kernels to prepend ([`with_random`]); not a kernel by itself.
pub const RANDOM: &str = include_str!("../../shaders/random.wgsl");

/// Checks the GPU's randomness against the CPU's (needs [`RANDOM`]).
pub const RANDOM_CHECK: &str = include_str!("../../shaders/random_check.wgsl");

/// The automaton's movement (needs [`RANDOM`]).
pub const CA_MOVE: &str = include_str!("../../shaders/ca_move.wgsl");

/// The Metropolis phase pass (needs [`RANDOM`]).
pub const PHASE_METROPOLIS: &str = include_str!("../../shaders/phase_metropolis.wgsl");

/// `phase_metropolis.wgsl` ready to compile: the randomness, the kernel.
pub fn phase_metropolis() -> String {
    with_random(PHASE_METROPOLIS)
}

/// The layout of the reaction tables (`reaction_tables`) as WGSL
/// constants, for `ca_move.wgsl`.
pub fn ca_constants() -> String {
    use crate::reaction_tables::{MATERIAL_WORDS, PAIRS_AT, RULES_AT, RULE_WORDS};
    [
        ("MATERIAL_WORDS", MATERIAL_WORDS),
        ("PAIRS_AT", PAIRS_AT),
        ("RULES_AT", RULES_AT),
        ("RULE_WORDS", RULE_WORDS),
    ]
    .iter()
    .map(|(name, v)| format!("const {name}: u32 = {v}u;\n"))
    .collect()
}

/// Bodies a body lists as near it in `xpbd_substep.wgsl`; one near more
/// is compared with every body.
pub const XPBD_NEAR: u32 = 15;

/// `xpbd_substep.wgsl` ready to compile: the CPU's constants, the kernels.
pub fn xpbd_substep() -> String {
    use loam_systems::xpbd::{
        CONTACT_BEHIND, CONTACT_EDGE, CONTACT_RADIUS, LIQUID_DRAG, SKIN, WAKE_DEPTH,
    };
    let floats = [
        ("SKIN", SKIN),
        ("LIQUID_DRAG", LIQUID_DRAG),
        ("RADIUS", CONTACT_RADIUS),
        ("WAKE_DEPTH", WAKE_DEPTH),
        ("BEHIND", CONTACT_BEHIND),
        ("EDGE", CONTACT_EDGE),
    ];
    let mut out = format!("const NEAR: u32 = {XPBD_NEAR}u;\n");
    for (name, v) in floats {
        out += &format!("const {name}: f32 = {v:?};\n");
    }
    out + XPBD_SUBSTEP
}

/// `ca_move.wgsl` ready to compile: the constants, the randomness, the
/// kernel.
pub fn ca_move() -> String {
    format!("{}\n{}", ca_constants(), with_random(CA_MOVE))
}

/// `kernel` with the randomness functions in front of it.
pub fn with_random(kernel: &str) -> String {
    format!("{RANDOM}\n{kernel}")
}

/// Every kernel, by file name (for validation; those that need
/// [`RANDOM`] already have it in front).
pub fn all() -> Vec<(&'static str, String)> {
    let mut all: Vec<(&str, String)> = ALL.iter().map(|&(n, s)| (n, s.to_string())).collect();
    all.push(("random_check.wgsl", with_random(RANDOM_CHECK)));
    all.push(("ca_move.wgsl", ca_move()));
    all.push(("phase_metropolis.wgsl", phase_metropolis()));
    all.push(("xpbd_substep.wgsl", xpbd_substep()));
    all
}

/// The kernels that stand alone, by file name.
pub const ALL: &[(&str, &str)] = &[
    ("fields_diffuse.wgsl", FIELDS_DIFFUSE),
    ("fields_decay.wgsl", FIELDS_DECAY),
    ("fields_peaks.wgsl", FIELDS_PEAKS),
    ("page_use.wgsl", PAGE_USE),
];
