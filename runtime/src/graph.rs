//! Compiling jobs into a dependency graph, once.
//!
//! Edges come from two places: two conflicting jobs of different
//! [`Stage`]s are ordered by stage (the earlier stage runs first), and
//! `after` / `before` add edges by name. Two conflicting jobs of one stage
//! must be ordered by such edges, directly or through other jobs; otherwise
//! the graph is [`GraphError::Ambiguous`], since their order would otherwise
//! be the order they were added in. The graph is checked for cycles with Kahn's algorithm (Kahn,
//! "Topological sorting of large networks", CACM 1962) and then transitively
//! reduced: an edge `a -> c` is dropped when `c` is reachable through another
//! successor of `a` (Aho, Garey, Ullman, "The transitive reduction of a
//! directed graph", SIAM J. Comput. 1972; computed here with reachability
//! bitsets in reverse topological order). Fewer edges means fewer counter
//! decrements per frame.

use crate::access::Access;
use crate::error::GraphError;
use crate::stage::Stage;

/// What the graph builder needs to know about one node.
#[derive(Clone, Debug)]
pub struct NodeSpec<'a> {
    /// Unique name, for edges and messages.
    pub name: &'a str,
    /// Declared access.
    pub access: &'a Access,
    /// The stage it runs in.
    pub stage: Stage,
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
    /// A topological order: stage by stage, registration order inside one
    /// where edges allow (it only decides what a listing shows first).
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

    /// Each node's level: the length of the longest path to it from a root.
    /// No path joins two nodes of one level, so a level's nodes may all run
    /// at the same time.
    pub fn levels(&self) -> Vec<usize> {
        let mut level = vec![0; self.len()];
        for &i in &self.order {
            for &d in &self.dependents[i] {
                level[d] = level[d].max(level[i] + 1);
            }
        }
        level
    }

    /// The pairs `(a, b)`, `a < b`, that no path orders: jobs that may run
    /// at the same time.
    pub fn concurrent_pairs(&self) -> Vec<(usize, usize)> {
        let n = self.len();
        // reach[i]: i and every node after it.
        let mut reach = vec![Vec::new(); n];
        for &i in self.order.iter().rev() {
            let mut r = vec![false; n];
            r[i] = true;
            for &d in &self.dependents[i] {
                r.iter_mut().zip(&reach[d]).for_each(|(r, &f)| *r |= f);
            }
            reach[i] = r;
        }
        (0..n)
            .flat_map(|a| (a + 1..n).map(move |b| (a, b)))
            .filter(|&(a, b)| !reach[a][b] && !reach[b][a])
            .collect()
    }
}

/// Builds the graph for `nodes`, given in registration order.
pub fn build(nodes: &[NodeSpec<'_>]) -> Result<JobGraph, GraphError> {
    let n = nodes.len();
    let mut by_name = std::collections::HashMap::with_capacity(n);
    for (i, a) in nodes.iter().enumerate() {
        if by_name.insert(a.name, i).is_some() {
            return Err(GraphError::DuplicateName(a.name.to_string()));
        }
    }
    for (i, a) in nodes.iter().enumerate() {
        for alias in a.aliases {
            by_name.entry(alias.as_str()).or_insert(i);
        }
    }
    let index_of = |name: &str| by_name.get(name).copied();

    let mut succ: Vec<Vec<usize>> = vec![Vec::new(); n];
    // Conflicting pairs of one stage, which explicit edges must order.
    let mut same_stage = Vec::new();
    for i in 0..n {
        for j in i + 1..n {
            if !nodes[i].access.is_conflicting(nodes[j].access) {
                continue;
            }
            match nodes[i].stage.cmp(&nodes[j].stage) {
                std::cmp::Ordering::Less => succ[i].push(j),
                std::cmp::Ordering::Greater => succ[j].push(i),
                std::cmp::Ordering::Equal => same_stage.push((i, j)),
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

    let stages: Vec<Stage> = nodes.iter().map(|s| s.stage).collect();
    let order = topological_order(&succ, &stages).map_err(|cycle| {
        GraphError::Cycle(
            cycle
                .into_iter()
                .map(|i| nodes[i].name.to_string())
                .collect(),
        )
    })?;
    let (dependents, reach) = transitive_reduction(&succ, &order);
    let words = n.div_ceil(64);
    let reaches = |a: usize, b: usize| reach[a * words + b / 64] & (1 << (b % 64)) != 0;
    if let Some(&(i, j)) = same_stage
        .iter()
        .find(|&&(i, j)| !reaches(i, j) && !reaches(j, i))
    {
        return Err(GraphError::Ambiguous {
            stage: nodes[i].stage.name(),
            first: nodes[i].name.to_string(),
            second: nodes[j].name.to_string(),
            resources: nodes[i]
                .access
                .conflicts(nodes[j].access)
                .iter()
                .map(|k| k.name.to_string())
                .collect(),
        });
    }

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

/// Kahn's algorithm, taking the ready node of the earliest stage first, and
/// of those the lowest index. On a cycle, returns the nodes of one cycle.
fn topological_order(succ: &[Vec<usize>], stages: &[Stage]) -> Result<Vec<usize>, Vec<usize>> {
    let n = succ.len();
    let mut indegree = vec![0usize; n];
    for s in succ.iter().flatten() {
        indegree[*s] += 1;
    }
    let mut ready: std::collections::BinaryHeap<std::cmp::Reverse<(Stage, usize)>> = (0..n)
        .filter(|&i| indegree[i] == 0)
        .map(|i| std::cmp::Reverse((stages[i], i)))
        .collect();
    let mut order = Vec::with_capacity(n);
    while let Some(std::cmp::Reverse((_, i))) = ready.pop() {
        order.push(i);
        for &s in &succ[i] {
            indegree[s] -= 1;
            if indegree[s] == 0 {
                ready.push(std::cmp::Reverse((stages[s], s)));
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

/// The reduced successor lists, and for each node the bitset (`n.div_ceil(64)`
/// words) of every node reachable from it.
fn transitive_reduction(succ: &[Vec<usize>], order: &[usize]) -> (Vec<Vec<usize>>, Vec<u64>) {
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
    (reduced, reach)
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
            stage: Stage::Output,
            after,
            before: &[],
            aliases: &[],
        }
    }

    fn staged<'a>(name: &'a str, access: &'a Access, stage: Stage) -> NodeSpec<'a> {
        NodeSpec {
            stage,
            ..spec(name, access, &[])
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
        // Added in reverse of their stages: the stages decide.
        let nodes: Vec<_> = [
            ("d", Stage::Output),
            ("c", Stage::Fields),
            ("b", Stage::Forces),
            ("a", Stage::Storage),
        ]
        .iter()
        .map(|&(n, s)| staged(n, &w, s))
        .collect();
        let g = build(&nodes).unwrap();
        assert_eq!(g.dependents, vec![vec![], vec![0], vec![1], vec![2]]);
        assert_eq!(g.roots, vec![3]);
        assert_eq!(g.order, vec![3, 2, 1, 0]);
        assert_eq!(g.edge_count(), 3);
    }

    #[test]
    fn explicit_edges_chain_writers_of_one_stage() {
        let w = writes::<A>();
        let (after_a, after_b, after_c) = (
            vec!["a".to_string()],
            vec!["b".to_string()],
            vec!["c".to_string()],
        );
        let nodes = vec![
            spec("a", &w, &[]),
            spec("b", &w, &after_a),
            spec("c", &w, &after_b),
            spec("d", &w, &after_c),
        ];
        let g = build(&nodes).unwrap();
        assert_eq!(g.dependents, vec![vec![1], vec![2], vec![3], vec![]]);
        assert_eq!(g.roots, vec![0]);
        assert_eq!(g.edge_count(), 3);
    }

    #[test]
    fn conflicting_jobs_of_one_stage_without_an_order_are_an_error() {
        let w = writes::<A>();
        let r = reads::<A>();
        let err = build(&[spec("x", &w, &[]), spec("y", &r, &[])]).unwrap_err();
        match err {
            GraphError::Ambiguous {
                stage,
                first,
                second,
                resources,
            } => {
                assert_eq!(
                    (stage, first.as_str(), second.as_str()),
                    ("output", "x", "y")
                );
                assert!(resources[0].ends_with("::A"));
            }
            other => panic!("expected an ambiguity, got {other:?}"),
        }
        // Ordered through a third job is ordered.
        let (after_x, after_z) = (vec!["x".to_string()], vec!["z".to_string()]);
        let b = writes::<B>();
        let g = build(&[
            spec("x", &w, &[]),
            spec("y", &r, &after_z),
            spec("z", &b, &after_x),
        ]);
        assert!(g.is_ok(), "{g:?}");
    }

    #[test]
    fn jobs_of_different_stages_that_touch_different_data_overlap() {
        let (a, b) = (writes::<A>(), writes::<B>());
        let g = build(&[
            staged("late", &a, Stage::Output),
            staged("early", &b, Stage::Storage),
        ])
        .unwrap();
        assert_eq!(g.roots, vec![0, 1]);
        assert_eq!(g.order, vec![1, 0]);
    }

    #[test]
    fn readers_fan_out_in_parallel_after_writer() {
        let (w, r) = (writes::<A>(), reads::<A>());
        let nodes = vec![
            staged("w", &w, Stage::Input),
            staged("r1", &r, Stage::Output),
            staged("r2", &r, Stage::Output),
        ];
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
        let err = build(&[
            NodeSpec {
                stage: Stage::Input,
                ..spec("early", &w, &after)
            },
            spec("late", &w, &[]),
        ])
        .unwrap_err();
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
