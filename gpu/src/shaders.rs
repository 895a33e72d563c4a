//! The WGSL kernels, one file per kernel in the repository's `shaders/`
//! folder, compiled into the crate.

/// One explicit diffusion substep of one field channel over sparse bricks.
pub const FIELDS_DIFFUSE: &str = include_str!("../../shaders/fields_diffuse.wgsl");

/// One XPBD substep of `gram_schmidt` soft bodies, an entry point per phase.
pub const XPBD_SUBSTEP: &str = include_str!("../../shaders/xpbd_substep.wgsl");

/// GPU cache feedback: page uses and requests for absent pages.
pub const PAGE_USE: &str = include_str!("../../shaders/page_use.wgsl");

/// Every kernel, by file name (for validation).
pub const ALL: &[(&str, &str)] = &[
    ("fields_diffuse.wgsl", FIELDS_DIFFUSE),
    ("xpbd_substep.wgsl", XPBD_SUBSTEP),
    ("page_use.wgsl", PAGE_USE),
];
