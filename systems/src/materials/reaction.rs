//! Reactions: as a user states them ([`Reaction`]) and as the automaton
//! reads them ([`Rule`]).

use super::MaterialId;

/// Chance per frame that a material at or above its ignition temperature
/// catches fire.
pub const IGNITE_RATE: f32 = 0.05;

/// A blast a reaction sets off at the reacting cell, through the force
/// fields: overpressure `pressure` (Pa) at the cell falling to nothing at
/// `radius` cells, an outward push, and `heat` K of thermal excess.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Blast {
    /// Peak overpressure, Pa.
    pub pressure: f32,
    /// Reach, cells.
    pub radius: f32,
    /// Thermal excess at the centre, K.
    pub heat: f32,
}

/// A reaction, as data: a cell of `a` (and, for a pair reaction, a face
/// neighbour of `b`) becomes `into`, with chance `rate` per frame (per
/// contact for a pair), while `a`'s temperature is strictly between
/// `min_temperature` and `max_temperature`.
///
/// ```
/// use loam_systems::materials::{id, Reaction};
/// // Water boils above 373.15 K, 5 % of such cells a frame.
/// let boil = Reaction::single(id::WATER, id::STEAM, 0.05).above(373.15);
/// // Lava meeting water: basalt, and steam at least 403.15 K.
/// let quench = Reaction::pair(id::LAVA, id::WATER, [id::BASALT, id::STEAM], 1.0)
///     .products_at_least([None, Some(403.15)]);
/// assert!(boil.b.is_none() && quench.b == Some(id::WATER));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Reaction {
    /// The reacting cell's material.
    pub a: MaterialId,
    /// For a pair reaction, the face neighbour's material; `None` for a
    /// single-cell reaction.
    pub b: Option<MaterialId>,
    /// What `a` becomes, and what `b` becomes (a single-cell reaction uses
    /// only the first).
    pub into: [MaterialId; 2],
    /// Chance per frame (per frame and contact for a pair), in [0, 1].
    pub rate: f32,
    /// Reacts only while `a` is hotter than this, K.
    pub min_temperature: Option<f32>,
    /// Reacts only while `a` is colder than this, K.
    pub max_temperature: Option<f32>,
    /// Heat released (+) or absorbed (−), J per m³ of cell: a single-cell
    /// reaction's product gets it all, a pair's two products half each,
    /// each warming by its share over its own heat capacity.
    pub heat: f32,
    /// Temperatures the products are raised to at least, K (`None`: each
    /// keeps its cell's temperature). A product that is a fire starts at
    /// its flame temperature instead.
    pub products_at_least: [Option<f32>; 2],
    /// A phase change at a fixed temperature: off while the phase pass
    /// decides phases from phase diagrams.
    pub phase_change: bool,
    /// The products may hold more non-empty cells than the reactants (a
    /// reaction that makes matter from empty space must say so).
    pub creates_matter: bool,
    /// A blast through the force fields where it happens (gunpowder).
    pub blast: Option<Blast>,
}

impl Reaction {
    /// `a` becomes `into` with chance `rate` per frame.
    pub fn single(a: MaterialId, into: MaterialId, rate: f32) -> Self {
        Self {
            a,
            b: None,
            into: [into, into],
            rate,
            min_temperature: None,
            max_temperature: None,
            heat: 0.0,
            products_at_least: [None; 2],
            phase_change: false,
            creates_matter: false,
            blast: None,
        }
    }

    /// A cell of `a` touching a cell of `b` becomes `into[0]`, the `b` cell
    /// `into[1]`, with chance `rate` per frame and contact.
    pub fn pair(a: MaterialId, b: MaterialId, into: [MaterialId; 2], rate: f32) -> Self {
        Self {
            b: Some(b),
            into,
            ..Self::single(a, into[0], rate)
        }
    }

    /// Only while `a` is hotter than `t` K.
    pub fn above(self, t: f32) -> Self {
        Self {
            min_temperature: Some(t),
            ..self
        }
    }

    /// Only while `a` is colder than `t` K.
    pub fn below(self, t: f32) -> Self {
        Self {
            max_temperature: Some(t),
            ..self
        }
    }

    /// Releasing `heat` J/m³ (absorbing, when negative).
    pub fn releasing(self, heat: f32) -> Self {
        Self { heat, ..self }
    }

    /// Products at least this hot, K.
    pub fn products_at_least(self, at_least: [Option<f32>; 2]) -> Self {
        Self {
            products_at_least: at_least,
            ..self
        }
    }

    /// Setting off `blast` where it happens.
    pub fn exploding(self, blast: Blast) -> Self {
        Self {
            blast: Some(blast),
            ..self
        }
    }

    /// Marks it a phase change (see [`Reaction::phase_change`]).
    pub fn as_phase_change(self) -> Self {
        Self {
            phase_change: true,
            ..self
        }
    }

    /// How many products a reaction has: 1 or 2.
    pub(super) fn products(&self) -> usize {
        if self.b.is_some() {
            2
        } else {
            1
        }
    }
}

/// A reaction as the automaton applies it, built once per table: the
/// temperature window as `lo <= t < hi`, the heat as a temperature change
/// per product.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rule {
    /// What the reacting cell and (for a pair) its neighbour become.
    pub into: [MaterialId; 2],
    /// Chance per frame (and contact).
    pub rate: f32,
    /// Reacts while `lo <= t`, t the reacting cell's temperature.
    pub lo: f32,
    /// ... and `t < hi`.
    pub hi: f32,
    /// Temperature each product gains from the reaction's heat, K.
    pub warm: [f32; 2],
    /// Temperatures the products are raised to at least, K.
    pub at_least: [Option<f32>; 2],
    /// Off while the phase pass runs.
    pub phase_change: bool,
    /// The blast it sets off.
    pub blast: Option<Blast>,
}

impl Rule {
    /// Whether the rule applies at temperature `t`, with fixed-temperature
    /// phase changes on or off.
    #[inline(always)]
    pub fn applies(&self, t: f32, phase_changes: bool) -> bool {
        (phase_changes || !self.phase_change) && self.lo <= t && t < self.hi
    }

    /// Whether the rule could apply to some temperature in `[lo, hi]`.
    #[inline]
    pub fn possible(&self, lo: f32, hi: f32, phase_changes: bool) -> bool {
        (phase_changes || !self.phase_change) && hi >= self.lo && lo < self.hi
    }
}

/// The smallest `f32` greater than `t` (for finite, non-negative `t`):
/// "hotter than t" as an inclusive bound.
pub(super) fn just_above(t: f32) -> f32 {
    f32::from_bits(t.to_bits() + 1)
}

/// A blast a reaction set off this frame, for the fields
/// (`fields.blasts` applies them in the same frame): what the automaton
/// and the fields share.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReactionBlast {
    /// Where, in cells: the reacting cell's centre, or for a pair the
    /// middle of the face the two share.
    pub center: [f32; 3],
    /// How strong.
    pub blast: Blast,
}

/// The blasts the automaton's reactions set off this frame, in a fixed
/// order (`ca::step_with_blasts`): a resource the automaton
/// writes and the fields read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReactionBlasts(pub Vec<ReactionBlast>);
