//! A run's state between frames, saved and restored whole: the clock and
//! every section a plugin registered, so that a run saved after `N` frames
//! and restored goes on exactly as if it had never stopped.
//!
//! A plugin names the resources that carry state from one frame to the
//! next ([`Engine::persist`](crate::Engine::persist) for a
//! [`Persistent`] resource, [`Engine::persist_with`](crate::Engine::persist_with)
//! for state spread over several), and nothing else: caches and per-frame
//! scratch are rebuilt. [`Engine::save_state`](crate::Engine::save_state)
//! encodes the clock and the sections, in the order they were registered;
//! [`Engine::load_state`](crate::Engine::load_state) restores them in that
//! order, into an engine built the same way.
//!
//! ```
//! use loam_runtime::state::Persistent;
//! use loam_runtime::{Engine, EngineConfig, Job};
//!
//! struct Counter(u64);
//!
//! impl Persistent for Counter {
//!     type Saved = u64;
//!     fn save(&self) -> u64 {
//!         self.0
//!     }
//!     fn restore(&mut self, saved: u64) -> Result<(), String> {
//!         self.0 = saved;
//!         Ok(())
//!     }
//! }
//!
//! fn engine() -> Engine {
//!     let mut engine = Engine::new(EngineConfig::default()).unwrap();
//!     engine.insert_resource(Counter(0));
//!     engine.persist::<Counter>("counter");
//!     engine.add_job(Job::new("count").writes::<Counter>().run(|ctx| {
//!         ctx.write::<Counter>()?.0 += 1;
//!         Ok(())
//!     }));
//!     engine
//! }
//!
//! let mut first = engine();
//! first.run(3).unwrap();
//! let saved = first.save_state().unwrap();
//!
//! let mut second = engine();
//! second.load_state(&saved).unwrap();
//! assert_eq!(second.clock().frame, 3);
//! second.run(2).unwrap();
//! assert_eq!(second.resource::<Counter>().unwrap().0, 5);
//! ```
//!
//! # Encoding
//!
//! The state is [postcard](https://docs.rs/postcard) (its stable wire
//! format, version 1) of [`SavedState`]: a version, the frame, the time,
//! and each section as its name and its own postcard bytes. A section's
//! bytes are its `Saved` type's encoding, so a change to one of those types
//! is a change of [`STATE_VERSION`].

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::{Res, ResMut, Resources};

/// The version of [`SavedState`] and of every section's encoding this
/// build writes and reads.
/// Version 2 added the handles of sent commands.
pub const STATE_VERSION: u32 = 2;

/// A resource whose value carries from one frame to the next, and so must
/// be saved for a run to resume exactly.
pub trait Persistent: Send + Sync + 'static {
    /// What is saved: everything the next frames depend on.
    type Saved: Serialize + DeserializeOwned;

    /// The value to save.
    fn save(&self) -> Self::Saved;

    /// Takes `saved` back, into a resource built the way the saved one was;
    /// an error says why it does not fit.
    fn restore(&mut self, saved: Self::Saved) -> Result<(), String>;
}

/// A run's state as it is stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SavedState {
    /// [`STATE_VERSION`] of the build that saved it.
    pub version: u32,
    /// Frames completed.
    pub frame: u64,
    /// Simulated time at the start of the next frame, seconds.
    pub time: f64,
    /// Each registered section's name and bytes, in registration order.
    pub sections: Vec<(String, Vec<u8>)>,
}

impl SavedState {
    /// The stored bytes.
    pub fn encode(&self) -> Result<Vec<u8>, StateError> {
        encode(self)
    }

    /// Reads stored bytes; another [`STATE_VERSION`] is an error.
    pub fn decode(bytes: &[u8]) -> Result<Self, StateError> {
        // The version leads, so it is read before anything else could fail.
        let (version, _): (u32, _) = postcard::take_from_bytes(bytes)
            .map_err(|e| StateError::Encoding(format!("the state's version: {e}")))?;
        if version != STATE_VERSION {
            return Err(StateError::Version(version));
        }
        decode(bytes)
    }
}

/// Why a state could not be saved or restored.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The bytes are not a state of this build's encoding.
    #[error("the saved state is unreadable: {0}")]
    Encoding(String),
    /// Another build's state.
    #[error(
        "the saved state is of version {0}; this build reads version {STATE_VERSION}: \
         resume it with the build that saved it"
    )]
    Version(u32),
    /// A section this runtime restores is not in the state.
    #[error(
        "the saved state has no `{0}`: it was saved by a runtime without that plugin, \
         and this one needs it to go on"
    )]
    Missing(String),
    /// A section in the state that no plugin of this runtime restores.
    #[error(
        "the saved state holds `{0}`, which no plugin of this runtime restores: \
         build the runtime with the plugins that saved it"
    )]
    Unknown(String),
    /// A section that does not fit the runtime restoring it.
    #[error("restoring `{section}`: {message}")]
    Section {
        /// The section's name.
        section: String,
        /// What is wrong.
        message: String,
    },
    /// A section's resource was not there, or was borrowed.
    #[error("`{section}`: its resource `{resource}` is missing or in use")]
    Resource {
        /// The section's name.
        section: String,
        /// The resource's type.
        resource: &'static str,
    },
}

/// Saves a section from the resources.
pub type SaveFn = Box<dyn Fn(&Resources) -> Result<Vec<u8>, StateError> + Send + Sync>;
/// Restores a section into the resources.
pub type RestoreFn = Box<dyn Fn(&Resources, &[u8]) -> Result<(), StateError> + Send + Sync>;

/// One registered section.
pub(crate) struct Section {
    pub name: String,
    pub save: SaveFn,
    pub restore: RestoreFn,
}

/// Borrows resource `T` to save section `section`.
pub fn read<'a, T: 'static>(
    resources: &'a Resources,
    section: &str,
) -> Result<Res<'a, T>, StateError> {
    resources.try_read::<T>().map_err(|_| missing::<T>(section))
}

/// Borrows resource `T` mutably to restore section `section`.
pub fn write<'a, T: 'static>(
    resources: &'a Resources,
    section: &str,
) -> Result<ResMut<'a, T>, StateError> {
    resources
        .try_write::<T>()
        .map_err(|_| missing::<T>(section))
}

fn missing<T: 'static>(section: &str) -> StateError {
    StateError::Resource {
        section: section.to_string(),
        resource: std::any::type_name::<T>(),
    }
}

/// Encodes a section's value (postcard).
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, StateError> {
    postcard::to_allocvec(value).map_err(|e| StateError::Encoding(e.to_string()))
}

/// Decodes a section's value (postcard); bytes left over are an error.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StateError> {
    let (value, rest) =
        postcard::take_from_bytes(bytes).map_err(|e| StateError::Encoding(e.to_string()))?;
    if !rest.is_empty() {
        return Err(StateError::Encoding(format!(
            "{} bytes past the end",
            rest.len()
        )));
    }
    Ok(value)
}

/// The section of a [`Persistent`] resource `T`.
pub(crate) fn section_of<T: Persistent>(name: &str) -> Section {
    let owned = name.to_string();
    let (save_name, restore_name) = (owned.clone(), owned.clone());
    Section {
        name: owned,
        save: Box::new(move |resources| encode(&read::<T>(resources, &save_name)?.save())),
        restore: Box::new(move |resources, bytes| {
            let saved: T::Saved = decode(bytes)?;
            let mut value = write::<T>(resources, &restore_name)?;
            value.restore(saved).map_err(|message| StateError::Section {
                section: restore_name.clone(),
                message,
            })
        }),
    }
}
