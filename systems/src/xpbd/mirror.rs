//! The solver's arrays as another backend (the GPU's) mirrors them: the
//! particles, the Gram-Schmidt shapes and the face constraints with their
//! colours, read-only.

use super::{SoftBodies, Span};

/// A read-only view of the arrays a `gram_schmidt` substep works on.
#[derive(Clone, Debug)]
pub struct Mirror<'a> {
    /// Positions, cells.
    pub x: &'a [[f32; 3]],
    /// Velocities, cells/s.
    pub v: &'a [[f32; 3]],
    /// Inverse masses, 1/kg (0: pinned).
    pub w: &'a [f32],
    /// Per particle: Coulomb friction against the world.
    pub friction: &'a [f32],
    /// Per particle: its body.
    pub owner: &'a [u32],
    /// Per body: its particles.
    pub bodies: Vec<Span>,
    /// Per body: damping of its motion relative to its mean, per second.
    pub damping: Vec<f32>,
    /// Per shape constraint: its first corner particle (8 in a row).
    pub shape_first: &'a [u32],
    /// Per shape constraint: rest edge, cells.
    pub shape_edge: &'a [f32],
    /// Per shape constraint: XPBD compliance.
    pub shape_compliance: &'a [f32],
    /// Per face constraint: the 4 particles on its low side.
    pub face_a: &'a [[u32; 4]],
    /// Per face constraint: the 4 coincident particles on its high side.
    pub face_b: &'a [[u32; 4]],
    /// Per face constraint: XPBD compliance.
    pub face_compliance: &'a [f32],
    /// Per face constraint: root-mean-square gap at which it tears, cells.
    pub face_tear: &'a [f32],
    /// Per face constraint: torn.
    pub face_broken: &'a [bool],
    /// Face constraints by colour (no two in a colour share a particle).
    pub face_colours: &'a [Vec<u32>],
}

impl SoftBodies {
    /// The arrays of the `gram_schmidt` solver, coloured. Distance and
    /// volume constraints (the shared-corner solvers) are not in it yet.
    pub fn mirror(&mut self) -> Mirror<'_> {
        self.prepare();
        Mirror {
            x: &self.x,
            v: &self.v,
            w: &self.w,
            friction: &self.friction,
            owner: &self.owner,
            bodies: self.bodies.iter().map(|b| b.particles).collect(),
            damping: self.bodies.iter().map(|b| b.material.damping).collect(),
            shape_first: &self.shapes.first,
            shape_edge: &self.shapes.edge,
            shape_compliance: &self.shapes.compliance,
            face_a: &self.faces.a,
            face_b: &self.faces.b,
            face_compliance: &self.faces.compliance,
            face_tear: &self.faces.tear,
            face_broken: &self.faces.broken,
            face_colours: &self.face_colours,
        }
    }
}
