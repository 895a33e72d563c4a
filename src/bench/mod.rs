//! Benchmark workloads, defined once and run two ways: by criterion
//! (`cargo bench`, in `benches/`) and by `loam bench` (briefly, on the
//! user's machine, printing a table or JSON).

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

/// The benchmark groups `loam bench` knows, with what they measure.
pub const GROUPS: &[(&str, &str)] = &[
    (
        "jobgraph",
        "frame overhead per trivial job: chains, fan-out, random conflicts",
    ),
    (
        "ca",
        "falling-sand cell updates per second; sleeping-world frame time",
    ),
    (
        "fields",
        "diffusion and decay of a dense 64³ field-cell region, ms per step",
    ),
    (
        "phase",
        "Metropolis phase visits per second, against a 3D Ising sweep; settled-world cost",
    ),
    (
        "xpbd",
        "soft bodies: a 10,000-voxel jelly, ms per frame at 4 substeps",
    ),
    (
        "storage",
        "world-file loads per I/O backend and against the zstd program, saves, streaming frame time",
    ),
];

/// Runs the groups whose names start with any of `filters` (all when empty),
/// calling `progress` with each group's name before it starts.
pub fn run(filters: &[String], mut progress: impl FnMut(&str)) -> Vec<Measurement> {
    let wanted = |g: &str| filters.is_empty() || filters.iter().any(|f| g.starts_with(f.as_str()));
    let mut out = Vec::new();
    for (group, _) in GROUPS {
        if !wanted(group) {
            continue;
        }
        progress(group);
        match *group {
            "jobgraph" => out.extend(jobgraph_measurements()),
            "ca" => out.extend(ca::measurements()),
            "fields" => out.extend(fields::measurements()),
            "phase" => out.extend(phase::measurements()),
            "storage" => out.extend(storage::measurements()),
            "xpbd" => out.extend(xpbd::measurements()),
            _ => {}
        }
    }
    out
}

fn jobgraph_measurements() -> Vec<Measurement> {
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
