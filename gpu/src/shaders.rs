//! The WGSL kernels, one file per kernel in the repository's `shaders/`
//! folder, compiled into the crate.

/// One explicit diffusion substep of one field channel over sparse bricks.
pub const FIELDS_DIFFUSE: &str = include_str!("../../shaders/fields_diffuse.wgsl");

/// One XPBD substep of `gram_schmidt` soft bodies, an entry point per phase.
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

/// `kernel` with the randomness functions in front of it.
pub fn with_random(kernel: &str) -> String {
    format!("{RANDOM}\n{kernel}")
}

/// Every kernel, by file name (for validation; those that need
/// [`RANDOM`] already have it in front).
pub fn all() -> Vec<(&'static str, String)> {
    let mut all: Vec<(&str, String)> = ALL.iter().map(|&(n, s)| (n, s.to_string())).collect();
    all.push(("random_check.wgsl", with_random(RANDOM_CHECK)));
    all.push(("ca_move.wgsl", with_random(CA_MOVE)));
    all
}

/// The kernels that stand alone, by file name.
pub const ALL: &[(&str, &str)] = &[
    ("fields_diffuse.wgsl", FIELDS_DIFFUSE),
    ("xpbd_substep.wgsl", XPBD_SUBSTEP),
    ("page_use.wgsl", PAGE_USE),
];
