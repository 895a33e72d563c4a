//! The named stages of a frame.
//!
//! A stage is a rank, not a barrier: when two jobs of different stages
//! conflict over a resource, the one of the earlier stage runs first; jobs
//! that touch different data run together whatever their stages. Inside one
//! stage, conflicting jobs must be ordered by an explicit
//! [`Job::after`](crate::Job::after) or [`Job::before`](crate::Job::before):
//! the graph refuses to guess (see [`GraphError::Ambiguous`](crate::GraphError::Ambiguous)),
//! so the order in which jobs or plugins were added never decides what a
//! frame computes.

/// Where a job sits in the frame. Stages run in the order listed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    /// What is resident: observers move, pages stream in and out.
    Storage,
    /// Commands from the scenario and the API, emitters.
    Input,
    /// Forces on the world: fields moving and heating cells.
    Forces,
    /// The fields' own evolution: diffusion and decay. After the coupling
    /// and before the systems that read the fields, and beside the
    /// automaton, which does not touch them.
    Fields,
    /// The falling-sand automaton.
    Automaton,
    /// Heat held or supplied from outside: heat baths.
    Heat,
    /// Phase transitions.
    Phase,
    /// Soft bodies (and, later, rigid bodies).
    Bodies,
    /// What the frame hands out: GPU readbacks, statistics, pictures.
    /// Jobs that name no stage run here.
    #[default]
    Output,
}

impl Stage {
    /// Every stage, in frame order.
    pub const ALL: [Stage; 9] = [
        Stage::Storage,
        Stage::Input,
        Stage::Forces,
        Stage::Fields,
        Stage::Automaton,
        Stage::Heat,
        Stage::Phase,
        Stage::Bodies,
        Stage::Output,
    ];

    /// The stage's name, as `loam graph` prints it.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Storage => "storage",
            Stage::Input => "input",
            Stage::Forces => "forces",
            Stage::Automaton => "automaton",
            Stage::Heat => "heat",
            Stage::Phase => "phase",
            Stage::Bodies => "bodies",
            Stage::Fields => "fields",
            Stage::Output => "output",
        }
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
