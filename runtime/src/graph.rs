//! Compiling jobs into a dependency graph, once.
//!
//! Edges come from three places: two conflicting jobs are ordered by
//! registration (the earlier runs first), and `after` / `before` add edges
//! by name. The graph is checked for cycles with Kahn's algorithm (Kahn,
//! "Topological sorting of large networks", CACM 1962) and then transitively
//! reduced: an edge `a -> c` is dropped when `c` is reachable through another
//! successor of `a` (Aho, Garey, Ullman, "The transitive reduction of a
//! directed graph", SIAM J. Comput. 1972; computed here with reachability
//! bitsets in reverse topological order). Fewer edges means fewer counter
//! decrements per frame.

use crate::access::Access;
use crate::error::GraphError;

/// What the graph builder needs to know about one node.
#[derive(Clone, Debug)]
pub struct NodeSpec<'a> {
    /// Unique name, for edges and messages.
    pub name: &'a str,
    /// Declared access.
    pub access: &'a Access,
    /// Names this node must run after.
    pub after: &'a [String],
    /// Names this node must run before.
    pub before: &'a [String],
    /// Extra names that resolve to this node (the jobs of a substep group).
    pub aliases: &'a [String],
}

/// A compiled, transitively reduced DAG over dense node indices.
#[derive(Clone, Debug, Default)]
pub struct JobGraph {
    /// For each node, the nodes that wait for it.
    pub dependents: Vec<Vec<usize>>,
    /// For each node, how many nodes it waits for.
    pub predecessors: Vec<u32>,
    /// Nodes that wait for nothing.
    pub roots: Vec<usize>,
    /// A topological order (registration order where edges allow).
    pub order: Vec<usize>,
}

impl JobGraph {
    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.predecessors.len()
    }

    /// Whether the graph has no nodes.
    pub fn is_empty(&self) -> bool {
        self.predecessors.is_empty()
    }

    /// Number of edges after reduction.
    pub fn edge_count(&self) -> usize {
        self.dependents.iter().map(Vec::len).sum()
    }
}

/// Builds the graph for `nodes`, given in registration order.
pub fn build(nodes: &[NodeSpec<'_>]) -> Result<JobGraph, GraphError> {
    let n = nodes.len();
    let index_of = |name: &str| -> Option<usize> {
        nodes
            .iter()
            .position(|s| s.name == name || s.aliases.iter().any(|a| a == name))
    };
    for (i, a) in nodes.iter().enumerate() {
        if nodes[..i].iter().any(|b| b.name == a.name) {
            return Err(GraphError::DuplicateName(a.name.to_string()));
        }
    }

    let mut succ: Vec<Vec<usize>> = vec![Vec::new(); n];
    for i in 0..n {
        for j in i + 1..n {
            if nodes[i].access.is_conflicting(nodes[j].access) {
                succ[i].push(j);
            }
        }
    }
    for (i, spec) in nodes.iter().enumerate() {
        let resolve = |name: &String| {
            index_of(name).ok_or_else(|| GraphError::UnknownJob {
                job: spec.name.to_string(),
                missing: name.clone(),
            })
        };
        for name in spec.after {
            let p = resolve(name)?;
            if p != i {
                succ[p].push(i);
            }
        }
        for name in spec.before {
            let s = resolve(name)?;
            if s != i {
                succ[i].push(s);
            }
        }
    }
    for s in &mut succ {
        s.sort_unstable();
        s.dedup();
    }

    let order = topological_order(&succ).map_err(|cycle| {
        GraphError::Cycle(
            cycle
                .into_iter()
                .map(|i| nodes[i].name.to_string())
                .collect(),
        )
    })?;
    let dependents = transitive_reduction(&succ, &order);

    let mut predecessors = vec![0u32; n];
    for d in dependents.iter().flatten() {
        predecessors[*d] += 1;
    }
    let roots = (0..n).filter(|&i| predecessors[i] == 0).collect();
    Ok(JobGraph {
        dependents,
        predecessors,
        roots,
        order,
    })
}

/// Kahn's algorithm, taking the lowest ready index first so the order follows
/// registration. On a cycle, returns the nodes of one cycle.
fn topological_order(succ: &[Vec<usize>]) -> Result<Vec<usize>, Vec<usize>> {
    let n = succ.len();
    let mut indegree = vec![0usize; n];
    for s in succ.iter().flatten() {
        indegree[*s] += 1;
    }
    let mut ready: std::collections::BinaryHeap<std::cmp::Reverse<usize>> = (0..n)
        .filter(|&i| indegree[i] == 0)
        .map(std::cmp::Reverse)
        .collect();
    let mut order = Vec::with_capacity(n);
    while let Some(std::cmp::Reverse(i)) = ready.pop() {
        order.push(i);
        for &s in &succ[i] {
            indegree[s] -= 1;
            if indegree[s] == 0 {
                ready.push(std::cmp::Reverse(s));
            }
        }
    }
    if order.len() == n {
        return Ok(order);
    }
    // Every node left has a predecessor that is also left: walk backwards
    // along such predecessors until a node repeats.
    let left: Vec<bool> = (0..n).map(|i| indegree[i] > 0).collect();
    let mut pred_in_left = vec![usize::MAX; n];
    for (i, s) in succ.iter().enumerate() {
        for &j in s {
            if left[i] && left[j] {
                pred_in_left[j] = i;
            }
        }
    }
    let start = (0..n).find(|&i| left[i]).unwrap_or(0);
    let mut seen = vec![usize::MAX; n];
    let mut path = Vec::new();
    let mut cur = start;
    while seen[cur] == usize::MAX {
        seen[cur] = path.len();
        path.push(cur);
        cur = pred_in_left[cur];
    }
    let mut cycle: Vec<usize> = path[seen[cur]..].to_vec();
    cycle.reverse();
    cycle.push(cycle[0]);
    Err(cycle)
}

fn transitive_reduction(succ: &[Vec<usize>], order: &[usize]) -> Vec<Vec<usize>> {
    let n = succ.len();
    let words = n.div_ceil(64);
    let mut position = vec![0usize; n];
    for (p, &i) in order.iter().enumerate() {
        position[i] = p;
    }
    // reach[i]: every node reachable from i by one or more edges.
    let mut reach = vec![0u64; n * words];
    let mut reduced = vec![Vec::new(); n];
    let mut covered = vec![0u64; words];
    for &i in order.iter().rev() {
        let mut s = succ[i].clone();
        s.sort_unstable_by_key(|&j| position[j]);
        covered.iter_mut().for_each(|w| *w = 0);
        for j in s {
            if covered[j / 64] & (1 << (j % 64)) != 0 {
                continue;
            }
            reduced[i].push(j);
            covered[j / 64] |= 1 << (j % 64);
            for w in 0..words {
                covered[w] |= reach[j * words + w];
            }
        }
        reach[i * words..(i + 1) * words].copy_from_slice(&covered);
    }
    reduced
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::ResourceKey;

    struct A;
    struct B;

    fn spec<'a>(name: &'a str, access: &'a Access, after: &'a [String]) -> NodeSpec<'a> {
        NodeSpec {
            name,
            access,
            after,
            before: &[],
            aliases: &[],
        }
    }

    fn writes<T: 'static>() -> Access {
        let mut a = Access::new();
        a.add_write(ResourceKey::of::<T>());
        a
    }

    fn reads<T: 'static>() -> Access {
        let mut a = Access::new();
        a.add_read(ResourceKey::of::<T>());
        a
    }

    #[test]
    fn chain_of_writers_is_reduced_to_a_path() {
        let w = writes::<A>();
        let nodes: Vec<_> = ["a", "b", "c", "d"]
            .iter()
            .map(|n| spec(n, &w, &[]))
            .collect();
        let g = build(&nodes).unwrap();
        assert_eq!(g.dependents, vec![vec![1], vec![2], vec![3], vec![]]);
        assert_eq!(g.roots, vec![0]);
        assert_eq!(g.edge_count(), 3);
    }

    #[test]
    fn readers_fan_out_in_parallel_after_writer() {
        let (w, r) = (writes::<A>(), reads::<A>());
        let nodes = vec![spec("w", &w, &[]), spec("r1", &r, &[]), spec("r2", &r, &[])];
        let g = build(&nodes).unwrap();
        assert_eq!(g.dependents[0], vec![1, 2]);
        assert!(g.dependents[1].is_empty() && g.dependents[2].is_empty());
    }

    #[test]
    fn independent_jobs_are_all_roots() {
        let (a, b) = (writes::<A>(), writes::<B>());
        let g = build(&[spec("a", &a, &[]), spec("b", &b, &[])]).unwrap();
        assert_eq!(g.roots, vec![0, 1]);
    }

    #[test]
    fn explicit_after_orders_unrelated_jobs() {
        let (a, b) = (writes::<A>(), writes::<B>());
        let after = vec!["second".to_string()];
        let g = build(&[spec("first", &a, &after), spec("second", &b, &[])]).unwrap();
        assert_eq!(g.dependents[1], vec![0]);
        assert_eq!(g.order, vec![1, 0]);
    }

    #[test]
    fn cycle_is_reported_with_job_names() {
        let w = writes::<A>();
        let after = vec!["late".to_string()];
        let err = build(&[spec("early", &w, &after), spec("late", &w, &[])]).unwrap_err();
        match err {
            GraphError::Cycle(names) => {
                assert!(names.contains(&"early".to_string()));
                assert!(names.contains(&"late".to_string()));
                assert_eq!(names.first(), names.last());
            }
            other => panic!("expected a cycle, got {other:?}"),
        }
    }

    #[test]
    fn unknown_and_duplicate_names_are_errors() {
        let w = writes::<A>();
        let after = vec!["ghost".to_string()];
        assert_eq!(
            build(&[spec("a", &w, &after)]).unwrap_err(),
            GraphError::UnknownJob {
                job: "a".into(),
                missing: "ghost".into()
            }
        );
        assert_eq!(
            build(&[spec("a", &w, &[]), spec("a", &w, &[])]).unwrap_err(),
            GraphError::DuplicateName("a".into())
        );
    }
}
