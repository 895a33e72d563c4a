//! Observers a game spawns, moves and removes from code: a camera or a
//! player that a streamed world keeps the pages around. They are the
//! entities the scenario's `[[observer]]`s are (an [`Observer`] with a
//! [`Position`] and a [`Velocity`] in the runtime's `hecs::World`), less a
//! path: the game moves them. A world streamed for observers from code
//! alone sets `[world] observers_from_code = true` (or
//! `StorageSpec::observers_from_code`) and needs no `[[observer]]`.
//!
//! ```
//! use loam::{Runtime, Scenario};
//! use loam::scenario::{SavePolicy, StorageSpec};
//!
//! let dir = std::env::temp_dir().join(format!("loam-doc-observers-{}", std::process::id()));
//! let mut scenario = Scenario::empty("camera", [256, 64, 256]);
//! scenario.world.storage = Some(StorageSpec {
//!     resident_pages: Some(16),
//!     save: SavePolicy::Never,
//!     observers_from_code: true,
//!     ..StorageSpec::new(dir.join("camera.loam"))
//! });
//! let mut runtime = Runtime::new(scenario)?;
//! let camera = runtime.spawn_observer([40.0, 30.0, 40.0], 24.0)?;
//! runtime.run(2)?; // one frame asks for its pages, the next has them
//! assert!(runtime.world().material([40, 30, 40]).is_some(), "resident around the camera");
//! runtime.move_observer(camera, [200.0, 30.0, 200.0], [0.0; 3])?;
//! runtime.run(3)?;
//! assert!(runtime.world().material([200, 30, 200]).is_some(), "and where it went");
//! runtime.remove_observer(camera)?;
//! # let _ = std::fs::remove_dir_all(&dir);
//! # Ok::<(), loam::LoamError>(())
//! ```

use crate::runtime::{LoamError, Runtime};
use crate::scenario::Scenario;
use crate::streaming::{Observer, Position, Velocity};

/// An observer spawned from code ([`Runtime::spawn_observer`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ObserverId(hecs::Entity);

impl Runtime {
    /// Spawns an observer at `position` (cells): the pages within `radius`
    /// cells of it are asked for in the next frame and resident from the
    /// one after (the frame waits for them). Refused for a
    /// world held in memory (every page is resident there), or a position
    /// or radius a scenario's `[[observer]]` could not have.
    pub fn spawn_observer(
        &mut self,
        position: [f64; 3],
        radius: f64,
    ) -> Result<ObserverId, LoamError> {
        self.check_observer(position, [0.0; 3])?;
        Scenario::check_observer_radius(radius).map_err(LoamError::Observer)?;
        let mut actors = self.actors()?;
        let entity = actors.spawn((Observer { radius }, Position(position), Velocity([0.0; 3])));
        Ok(ObserverId(entity))
    }

    /// Moves an observer to `position` (cells), going at `velocity` (cells
    /// per frame): the streamer loads ahead along it for `[world]
    /// lookahead` seconds. The pages around the new position are resident
    /// two frames on, as for a new observer.
    pub fn move_observer(
        &mut self,
        observer: ObserverId,
        position: [f64; 3],
        velocity: [f64; 3],
    ) -> Result<(), LoamError> {
        self.check_observer(position, velocity)?;
        let actors = self.actors()?;
        let mut query = actors.query_one::<(&mut Position, &mut Velocity, &Observer)>(observer.0);
        let (p, v, _) = query.get().map_err(|_| unknown(observer))?;
        (p.0, v.0) = (position, velocity);
        Ok(())
    }

    /// Removes an observer; its pages may be streamed out once no other
    /// observer wants them.
    pub fn remove_observer(&mut self, observer: ObserverId) -> Result<(), LoamError> {
        let mut actors = self.actors()?;
        if !actors.satisfies::<&Observer>(observer.0) {
            return Err(unknown(observer));
        }
        actors.despawn(observer.0).map_err(|_| unknown(observer))
    }

    /// Refuses what no scenario observer could be: non-finite numbers, or
    /// a world held in memory.
    fn check_observer(&self, position: [f64; 3], velocity: [f64; 3]) -> Result<(), LoamError> {
        if self.scenario().world.storage.is_none() {
            return Err(LoamError::Observer(
                "observers need a streamed world: set [world] file".into(),
            ));
        }
        if position.iter().chain(&velocity).any(|v| !v.is_finite()) {
            return Err(LoamError::Observer(format!(
                "position {position:?} and velocity {velocity:?} must be finite"
            )));
        }
        Ok(())
    }

    /// The runtime's actors, to spawn and move observers in.
    fn actors(&self) -> Result<loam_runtime::ResMut<'_, hecs::World>, LoamError> {
        self.engine()
            .resources()
            .try_write::<hecs::World>()
            .map_err(|e| LoamError::Observer(e.to_string()))
    }
}

/// The error for an observer that is gone.
fn unknown(observer: ObserverId) -> LoamError {
    LoamError::Observer(format!(
        "{observer:?} is no observer of this runtime: it was removed"
    ))
}
