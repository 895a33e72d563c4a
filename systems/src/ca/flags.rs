//! Bits of the per-cell `flags` channel used by the automaton.

/// The cell moved (or was created by a reaction) this frame; it is not
/// updated again until the next frame. Cleared at the start of the frame in
/// every page that will be updated.
pub const MOVED: u8 = 1 << 0;
