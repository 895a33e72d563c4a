//! Loam's benchmark workloads over its kernels, defined once and run three
//! ways: by criterion (`cargo bench`, in the workspace's `benches/`), by
//! `loam bench` (briefly, on the user's machine, printing a table or JSON)
//! and by the GPU comparison (`cargo run -p loam-gpu --example gpu_bench`).
//!
//! Each module builds its workload from the kernel crates alone
//! (`loam-runtime`, `loam-storage`, `loam-systems`) and measures it with
//! `measurements()`. The workloads that measure the whole engine (a
//! scenario's runtime, streaming) live beside that engine, in the `loam`
//! crate's `bench` module, which also names the groups `loam bench` runs.

pub mod ca;
pub mod fields;
pub mod jobgraph;
pub mod phase;
pub mod storage;
pub mod xpbd;

use serde::Serialize;

/// One measured number.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Measurement {
    /// Dotted name, e.g. `jobgraph.ns_per_job.100`.
    pub name: String,
    /// The value.
    pub value: f64,
    /// Its unit.
    pub unit: &'static str,
}

/// The `jobgraph` group for `loam bench`. Here rather than in
/// `jobgraph.rs`, which names nothing else of this crate: the bevy
/// comparison (`peers/`) compiles that file into itself, so that its slot
/// types are its own and can be bevy resources.
pub fn jobgraph_measurements() -> Vec<Measurement> {
    let mut out = Vec::new();
    for n in [10usize, 100, 1000] {
        let frames = (200_000 / n).clamp(100, 5_000) as u32;
        let mut per_shape = Vec::new();
        for shape in jobgraph::Shape::ALL {
            let set = jobgraph::job_set(shape, n);
            let ns = jobgraph::ns_per_job(&set, 2, frames);
            out.push(Measurement {
                name: format!("jobgraph.{}.ns_per_job.{n}", shape.name()),
                value: ns,
                unit: "ns",
            });
            per_shape.push(ns);
        }
        out.push(Measurement {
            name: format!("jobgraph.ns_per_job.{n}"),
            value: per_shape.iter().sum::<f64>() / per_shape.len() as f64,
            unit: "ns",
        });
    }
    out
}
