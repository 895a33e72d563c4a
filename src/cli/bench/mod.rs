//! `loam bench`: the benchmark groups, each the workloads over the kernels
//! (the `loam-bench` crate) and, where a group has them, workloads of the
//! whole engine, which live here beside the runtime they measure. Criterion
//! (`cargo bench`, in `benches/`) runs the same workloads.

pub mod sleeping;
pub mod streaming;

pub use loam_bench::Measurement;
use loam_bench::{ca, fields, phase, xpbd};

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
            "jobgraph" => out.extend(loam_bench::jobgraph_measurements()),
            "ca" => {
                out.extend(ca::measurements());
                out.extend(sleeping::ca_measurements());
            }
            "fields" => out.extend(fields::measurements()),
            "phase" => {
                out.extend(phase::measurements());
                out.extend(sleeping::phase_measurements());
            }
            "storage" => out.extend(streaming::measurements()),
            "xpbd" => out.extend(xpbd::measurements()),
            _ => {}
        }
    }
    out
}
