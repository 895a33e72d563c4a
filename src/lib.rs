//! Loam: a data-oriented simulation runtime for large voxel worlds.
//!
//! This crate is the facade: it wires a scenario's world and its systems
//! into a job graph ([`Runtime`]). The building blocks are re-exported:
//! [`loam_runtime`] (jobs, graph, executor), [`loam_storage`] (paged world)
//! and [`loam_systems`] (simulation kernels).
//!
//! Features: `cli` (default) builds the `loam` command-line tool and its
//! pieces ([`cli`]: benchmarks, soak, pictures); `scenario-files` (part of
//! `cli`) reads scenario files ([`Scenario::load`]). A game builds with
//! `default-features = false`, adding `scenario-files` if it reads them;
//! `gpu` adds the GPU backend, `tracy` the profiler.
//!
//! Embedding in a game loop:
//!
//! ```
//! use loam::{Command, Fill, Runtime, Scenario, Shape};
//!
//! let mut scenario = Scenario::empty("demo", [64, 64, 64]);
//! scenario.run.threads = 2;
//! let mut runtime = Runtime::new(scenario).unwrap();
//! let sand = runtime.materials().id("sand").unwrap();
//! let sender = runtime.command_sender();
//! std::thread::spawn(move || {
//!     let shape = Shape::Sphere { center: [32.0, 40.0, 32.0], radius: 4.0 };
//!     sender.send(Command::Place(Fill { shape, material: sand, temperature: None })).unwrap();
//! })
//! .join()
//! .unwrap();
//! runtime.run(30).unwrap();
//! let report = runtime.report();
//! assert!(report.materials["sand"].min_y < 40);
//! ```

mod backend;
#[cfg(feature = "cli")]
pub mod cli;
pub mod command;
mod error;
mod generate;
pub mod heat_baths;
pub mod input;
pub mod lod;
pub mod observers;
pub mod placement;
mod plugins;
pub mod recording;
pub mod report;
pub mod runtime;
pub mod scenario;
pub mod streaming;
pub mod world;

pub use command::{Command, CommandHandle, CommandSender, SendError};
pub use loam_storage::{
    BoxCount, CellPos, ChangeKind, PageChange, PagePos, RefreshStats, WorldSnapshot,
};
pub use observers::ObserverId;
pub use recording::{CommandEvent, RecordedCommand};
pub use report::Report;
pub use runtime::{LoamError, Runtime};
pub use scenario::{
    Backend, Check, Emitter, ExplosionSpec, Fill, HeatBathSpec, LodMode, ObserverSpec, Overrides,
    PressureSpec, SavePolicy, Scenario, ScenarioError, ScheduledCommand, Shape, StorageSpec,
    WindSpec,
};

/// The README's Rust blocks, compiled (and run, but for `no_run` ones) as
/// doc tests, so they do not go stale.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub use hecs;
#[cfg(feature = "cli")]
pub use loam_bench;
pub use loam_runtime;
pub use loam_storage;
pub use loam_systems;
