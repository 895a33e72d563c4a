//! The world's scale, shared by every system that turns cells into metres.

/// How big a cell is and how strongly things fall: a resource read by the
/// fields' coupling, the soft bodies and the phase pass, so that no system
/// reads another's configuration for it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WorldScale {
    /// Edge of a cell, m.
    pub cell_size: f64,
    /// Gravity, m/s².
    pub gravity: f64,
}

impl WorldScale {
    /// Gravity in cells/s², as the soft bodies integrate it.
    pub fn gravity_in_cells(&self) -> f32 {
        self.gravity as f32 / self.cell_size as f32
    }
}

impl Default for WorldScale {
    fn default() -> Self {
        Self {
            cell_size: 0.25,
            gravity: 9.81,
        }
    }
}
