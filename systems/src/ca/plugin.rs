//! The automaton as a plugin.

use loam_runtime::{Engine, Plugin, PluginError};

use super::{CaConfig, CaStats};
use crate::materials::ReactionBlasts;

/// The falling-sand automaton (`ca.step`, stage `automaton`) with its
/// configuration, statistics and the blasts its reactions set off as
/// resources.
#[derive(Clone, Copy, Debug, Default)]
pub struct AutomatonPlugin {
    /// Which parts of the automaton run.
    pub config: CaConfig,
}

impl Plugin for AutomatonPlugin {
    fn name(&self) -> &str {
        "automaton"
    }

    fn build(self: Box<Self>, engine: &mut Engine) -> Result<(), PluginError> {
        engine.insert_resource(self.config);
        engine.insert_resource(CaStats::default());
        engine.insert_resource(ReactionBlasts::default());
        engine.add_job(super::job());
        Ok(())
    }
}
