//! The Loam runtime: resources, jobs with declared access, a job graph compiled
//! once and run every frame on one rayon pool, actors with mailboxes, and the
//! fixed-`dt` frame loop.
//!
//! Planning and running are separate: [`access`] says which resources two jobs
//! fight over, [`graph`] turns [`Stage`]s, explicit edges and conflicts into
//! a reduced DAG, and [`executor`] runs that DAG with dependency counters. A
//! [`Plugin`] installs a system: its resources and its jobs.
//!
//! ```
//! use loam_runtime::{Engine, EngineConfig, Job};
//!
//! #[derive(Default)]
//! struct Gravity(f32);
//! #[derive(Default)]
//! struct Heights(Vec<f32>);
//!
//! let mut engine = Engine::new(EngineConfig { threads: 1, ..Default::default() }).unwrap();
//! engine.insert_resource(Gravity(9.81));
//! engine.insert_resource(Heights(vec![10.0; 4]));
//! engine.add_job(
//!     Job::new("fall")
//!         .reads::<Gravity>()
//!         .writes::<Heights>()
//!         .run(|ctx| {
//!             let g = ctx.read::<Gravity>()?.0;
//!             let dt = ctx.dt() as f32;
//!             for h in &mut ctx.write::<Heights>()?.0 {
//!                 *h -= g * dt;
//!             }
//!             Ok(())
//!         }),
//! );
//! engine.step().unwrap();
//! assert!(engine.resource::<Heights>().unwrap().0[0] < 10.0);
//! ```

pub mod access;
pub mod actor;
pub mod clock;
pub mod disjoint;
pub mod engine;
pub mod error;
pub mod executor;
pub mod graph;
pub mod job;
pub mod plugin;
pub mod profiling;
pub mod random;
pub mod resources;
pub mod stage;
pub mod state;
pub mod stats;

pub use access::Access;
pub use actor::{actor, Inbox, Mailbox};
pub use clock::{Clock, Seed};
pub use disjoint::Disjoint;
pub use engine::{Engine, EngineConfig, EngineError};
pub use error::{GraphError, JobError};
pub use job::{Job, JobContext, JobOptions};
pub use plugin::{Notes, Plugin, PluginError, Plugins};
pub use resources::{Res, ResMut, Resources};
pub use stage::Stage;
pub use state::{Persistent, StateError};
pub use stats::{JobStats, Samples, Summary};
