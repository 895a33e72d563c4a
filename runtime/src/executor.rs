//! Running a compiled [`JobGraph`] once: dependency counters and rayon tasks.
//!
//! Every node starts with its predecessor count. A finished node decrements
//! the counters of its dependents; a counter that reaches zero makes that
//! dependent ready. The last dependent made ready by a node runs on the same
//! thread right away (no task is spawned for the common chain case); the
//! others are spawned into the rayon scope, where idle workers steal them.
//! With one thread the graph runs in its topological order with no atomics.

use std::sync::atomic::{AtomicU32, Ordering};

use crate::graph::JobGraph;

/// Per-graph executor state, allocated once when the graph is compiled.
pub struct Executor {
    /// Outstanding predecessors per node, reset at the start of every run.
    counters: Vec<AtomicU32>,
}

impl Executor {
    /// State for running `graph`.
    pub fn new(graph: &JobGraph) -> Self {
        Self {
            counters: (0..graph.len()).map(|_| AtomicU32::new(0)).collect(),
        }
    }

    /// Runs every node of `graph` once, calling `run_node` with its index,
    /// respecting the edges. Must be called inside the engine's rayon pool.
    pub fn run(&self, graph: &JobGraph, parallel: bool, run_node: &(dyn Fn(usize) + Sync)) {
        if !parallel || graph.len() <= 1 {
            graph.order.iter().for_each(|&i| run_node(i));
            return;
        }
        for (c, &p) in self.counters.iter().zip(&graph.predecessors) {
            c.store(p, Ordering::Relaxed);
        }
        rayon::scope(|scope| {
            for &root in &graph.roots {
                scope.spawn(move |s| self.run_from(root, graph, run_node, s));
            }
        });
    }

    fn run_from<'s>(
        &'s self,
        mut node: usize,
        graph: &'s JobGraph,
        run_node: &'s (dyn Fn(usize) + Sync),
        scope: &rayon::Scope<'s>,
    ) {
        loop {
            run_node(node);
            let mut next = None;
            for &d in &graph.dependents[node] {
                // AcqRel: the dependent must see everything its predecessors
                // wrote, whichever of them finishes last.
                if self.counters[d].fetch_sub(1, Ordering::AcqRel) == 1 {
                    if let Some(ready) = next.replace(d) {
                        scope.spawn(move |s| self.run_from(ready, graph, run_node, s));
                    }
                }
            }
            match next {
                Some(n) => node = n,
                None => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::{Access, ResourceKey};
    use crate::graph::{build, NodeSpec};
    use std::sync::Mutex;

    struct R<const N: usize>;

    #[test]
    fn every_node_runs_once_and_after_its_predecessors() {
        // A diamond repeated: w0 -> (r1, r2) -> w3 ...
        let mut accesses = Vec::new();
        for i in 0..40 {
            let mut a = Access::new();
            if i % 3 == 0 {
                a.add_write(ResourceKey::of::<R<0>>());
            } else {
                a.add_read(ResourceKey::of::<R<0>>());
                if i % 3 == 1 {
                    a.add_write(ResourceKey::of::<R<1>>());
                } else {
                    a.add_write(ResourceKey::of::<R<2>>());
                }
            }
            accesses.push(a);
        }
        let names: Vec<String> = (0..40).map(|i| format!("j{i}")).collect();
        // Each job after the earlier ones it conflicts with.
        let after: Vec<Vec<String>> = (0..40)
            .map(|i| {
                (0..i)
                    .filter(|&j| accesses[i].is_conflicting(&accesses[j]))
                    .map(|j| names[j].clone())
                    .collect()
            })
            .collect();
        let specs: Vec<_> = names
            .iter()
            .zip(&accesses)
            .zip(&after)
            .map(|((n, a), after)| NodeSpec {
                name: n,
                access: a,
                stage: crate::Stage::Output,
                after,
                before: &[],
                aliases: &[],
            })
            .collect();
        let graph = build(&specs).unwrap();
        let exec = Executor::new(&graph);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        for _ in 0..50 {
            let log = Mutex::new(Vec::new());
            pool.install(|| exec.run(&graph, true, &|i| log.lock().unwrap().push(i)));
            let log = log.into_inner().unwrap();
            assert_eq!(log.len(), 40);
            let pos = |i: usize| log.iter().position(|&x| x == i).unwrap();
            for (i, deps) in graph.dependents.iter().enumerate() {
                for &d in deps {
                    assert!(pos(i) < pos(d), "{i} must run before {d}");
                }
            }
        }
    }
}
