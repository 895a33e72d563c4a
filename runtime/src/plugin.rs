//! Plugins: a system installed as one unit — its resources and its jobs,
//! each job in its [`Stage`](crate::Stage).
//!
//! A runtime is a list of plugins. An embedder keeps the defaults, leaves
//! one out, replaces one with their own, or adds their own:
//!
//! ```
//! use loam_runtime::{Engine, EngineConfig, Job, Plugin, PluginError, Plugins, Stage};
//!
//! struct Counter(u64);
//!
//! /// Counts frames.
//! struct Counting;
//!
//! impl Plugin for Counting {
//!     fn name(&self) -> &str {
//!         "counting"
//!     }
//!     fn build(self: Box<Self>, engine: &mut Engine) -> Result<(), PluginError> {
//!         engine.insert_resource(Counter(0));
//!         engine.add_job(
//!             Job::new("count")
//!                 .in_stage(Stage::Output)
//!                 .writes::<Counter>()
//!                 .run(|ctx| {
//!                     ctx.write::<Counter>()?.0 += 1;
//!                     Ok(())
//!                 }),
//!         );
//!         Ok(())
//!     }
//! }
//!
//! let mut engine = Engine::new(EngineConfig { threads: 1, ..Default::default() }).unwrap();
//! Plugins::new().with(Counting).install(&mut engine).unwrap();
//! engine.run(3).unwrap();
//! assert_eq!(engine.resource::<Counter>().unwrap().0, 3);
//! ```

use crate::engine::Engine;

/// A system: what it inserts and the jobs it adds.
pub trait Plugin {
    /// The plugin's name, unique in a runtime: what [`Plugins::remove`] and
    /// [`Plugins::replace`] look for.
    fn name(&self) -> &str;

    /// Inserts the plugin's resources and adds its jobs to `engine`.
    fn build(self: Box<Self>, engine: &mut Engine) -> Result<(), PluginError>;
}

/// Notes plugins leave while they are installed, about what they chose
/// (a fallback taken, the I/O backend opened): a resource, for the
/// embedder's log and the run's report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Notes(pub Vec<String>);

/// Why a plugin could not be installed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("plugin `{plugin}`: {message}")]
pub struct PluginError {
    /// The plugin's name.
    pub plugin: String,
    /// What went wrong.
    pub message: String,
}

impl PluginError {
    /// An error of plugin `plugin`.
    pub fn new(plugin: impl Into<String>, message: impl std::fmt::Display) -> Self {
        Self {
            plugin: plugin.into(),
            message: message.to_string(),
        }
    }
}

/// An ordered list of plugins, to be installed into an engine.
///
/// The order is the order resources are inserted in (a later plugin's
/// resource replaces an earlier one's of the same type); it is never the
/// order jobs run in, which their stages, access and edges decide.
#[derive(Default)]
pub struct Plugins {
    list: Vec<Box<dyn Plugin>>,
}

impl Plugins {
    /// No plugins.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `plugin` at the end.
    pub fn with(mut self, plugin: impl Plugin + 'static) -> Self {
        self.list.push(Box::new(plugin));
        self
    }

    /// Adds an already boxed plugin at the end.
    pub fn push(&mut self, plugin: Box<dyn Plugin>) {
        self.list.push(plugin);
    }

    /// Inserts `plugin` at position `at` (the end if past it).
    pub fn insert(&mut self, at: usize, plugin: Box<dyn Plugin>) {
        self.list.insert(at.min(self.list.len()), plugin);
    }

    /// Takes out the plugin named `name`, if there is one.
    pub fn remove(&mut self, name: &str) -> Option<Box<dyn Plugin>> {
        let at = self.list.iter().position(|p| p.name() == name)?;
        Some(self.list.remove(at))
    }

    /// Puts `plugin` in the place of the one named `name`; an error naming
    /// the plugins there are when there is none of that name.
    pub fn replace(
        &mut self,
        name: &str,
        plugin: impl Plugin + 'static,
    ) -> Result<Box<dyn Plugin>, PluginError> {
        let at = self
            .list
            .iter()
            .position(|p| p.name() == name)
            .ok_or_else(|| {
                PluginError::new(
                    plugin.name(),
                    format!(
                        "replaces `{name}`, which is not one of the plugins: {}",
                        self.names().join(", ")
                    ),
                )
            })?;
        Ok(std::mem::replace(&mut self.list[at], Box::new(plugin)))
    }

    /// The plugins' names, in order.
    pub fn names(&self) -> Vec<&str> {
        self.list.iter().map(|p| p.name()).collect()
    }

    /// Whether a plugin named `name` is in the list.
    pub fn contains(&self, name: &str) -> bool {
        self.list.iter().any(|p| p.name() == name)
    }

    /// Builds every plugin into `engine`, in order; the first error stops it.
    pub fn install(self, engine: &mut Engine) -> Result<(), PluginError> {
        let names = self.names();
        let twice = (0..names.len()).find(|&i| names[..i].contains(&names[i]));
        if let Some(i) = twice {
            return Err(PluginError::new(names[i], "two plugins have this name"));
        }
        for plugin in self.list {
            plugin.build(engine)?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for Plugins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}
