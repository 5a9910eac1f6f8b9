//! Graph algorithms the ranking uses: file-level projection, personalised PageRank from seed
//! files, and the shortest explanation path between two nodes.

use std::collections::BTreeMap;

use petgraph::Direction;
use petgraph::graph::NodeIndex;
use petgraph::visit::{EdgeRef, IntoEdgeReferences, NodeIndexable};

use super::{CodeGraph, Edge, EdgeKind};

/// Damping of personalised PageRank: the chance of following an edge rather than jumping back
/// to a seed. 0.85 is the customary value; with it, most of the mass stays within a few hops of
/// the seeds, which is what "related to these files" should mean.
pub const PAGERANK_DAMPING: f64 = 0.85;
/// Iterations of the power method; enough for the scores to stop moving at display precision.
pub const PAGERANK_ITERATIONS: usize = 30;

/// File → file weights: every edge between symbols or files of two different files, summed.
/// Edges count both ways (a caller is related to its callee and back), so the projection is
/// stored per direction as found.
pub fn file_projection(graph: &CodeGraph) -> BTreeMap<(NodeIndex, NodeIndex), f64> {
    let mut weights: BTreeMap<(NodeIndex, NodeIndex), f64> = BTreeMap::new();
    for edge in graph.graph.edge_references() {
        let kind = edge.weight().kind;
        if matches!(kind, EdgeKind::Defines | EdgeKind::Contains) {
            continue;
        }
        let (Some(from), Some(to)) = (graph.file_of(edge.source()), graph.file_of(edge.target()))
        else {
            continue;
        };
        if from != to {
            *weights.entry((from, to)).or_default() += f64::from(edge.weight().weight);
        }
    }
    weights
}

/// Personalised PageRank over the file projection, treated as undirected, restarting at the
/// seed files (weights normalised). Returns each file's score, highest first.
pub fn personalized_pagerank(
    graph: &CodeGraph,
    seeds: &BTreeMap<NodeIndex, f64>,
) -> Vec<(NodeIndex, f64)> {
    let total_seed: f64 = seeds.values().sum();
    if total_seed <= 0.0 {
        return Vec::new();
    }
    // Dense vectors indexed by node: the iterations touch every file edge 30 times, so they
    // must not go through maps.
    let size = graph.graph.node_bound();
    let mut neighbours: Vec<Vec<(usize, f64)>> = vec![Vec::new(); size];
    for ((a, b), w) in file_projection(graph) {
        neighbours[a.index()].push((b.index(), w));
        neighbours[b.index()].push((a.index(), w));
    }
    let out_weight: Vec<f64> = neighbours
        .iter()
        .map(|list| list.iter().map(|(_, w)| w).sum())
        .collect();
    let mut restart = vec![0.0; size];
    for (node, weight) in seeds {
        if node.index() < size {
            restart[node.index()] += weight / total_seed;
        }
    }
    let mut rank = restart.clone();
    let mut next = vec![0.0; size];
    for _ in 0..PAGERANK_ITERATIONS {
        for (slot, r) in next.iter_mut().zip(&restart) {
            *slot = (1.0 - PAGERANK_DAMPING) * r;
        }
        let mut dangling = 0.0;
        for (node, &score) in rank.iter().enumerate() {
            if score == 0.0 {
                continue;
            }
            if out_weight[node] > 0.0 {
                let share = PAGERANK_DAMPING * score / out_weight[node];
                for &(other, w) in &neighbours[node] {
                    next[other] += share * w;
                }
            } else {
                dangling += score;
            }
        }
        // Mass at files with no edges goes back to the seeds.
        for (slot, r) in next.iter_mut().zip(&restart) {
            *slot += PAGERANK_DAMPING * dangling * r;
        }
        std::mem::swap(&mut rank, &mut next);
    }
    let mut ranked: Vec<(NodeIndex, f64)> = rank
        .into_iter()
        .enumerate()
        .filter(|(_, score)| *score > 0.0)
        .map(|(i, score)| (NodeIndex::new(i), score))
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked
}

/// One hop of an explanation path.
#[derive(Clone, Debug, PartialEq)]
pub struct Hop {
    /// Where the hop starts.
    pub from: NodeIndex,
    /// Where it ends.
    pub to: NodeIndex,
    /// The edge, as stored (its direction may be against the hop when `reversed`).
    pub edge: Edge,
    /// Whether the hop walks the edge backwards (`to` calls `from`, say).
    pub reversed: bool,
}

/// The most convincing path from `from` to `to`, over edges in either direction, for sentences
/// like "`login` calls `verify_token`": Dijkstra with each hop costing `1 / confidence`, so a
/// chain of certain links beats a shortcut through an ambiguous one. Ties break by node order,
/// so the answer is deterministic.
pub fn shortest_path(graph: &CodeGraph, from: NodeIndex, to: NodeIndex) -> Option<Vec<Hop>> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    // Costs in thousandths keep the heap on integers (total order, no float comparisons).
    let hop_cost = |edge: &Edge| (1000.0 / f64::from(edge.confidence.max(0.01))).round() as u64;
    let mut best: BTreeMap<NodeIndex, u64> = BTreeMap::from([(from, 0)]);
    let mut previous: BTreeMap<NodeIndex, Hop> = BTreeMap::new();
    let mut heap = BinaryHeap::from([Reverse((0u64, from))]);
    while let Some(Reverse((cost, node))) = heap.pop() {
        if node == to {
            let mut hops = Vec::new();
            let mut current = to;
            while current != from {
                let hop = previous.get(&current)?.clone();
                current = hop.from;
                hops.push(hop);
            }
            hops.reverse();
            return Some(hops);
        }
        if best.get(&node).is_some_and(|&b| cost > b) {
            continue;
        }
        for direction in [Direction::Outgoing, Direction::Incoming] {
            for edge in graph.graph.edges_directed(node, direction) {
                let other = if direction == Direction::Outgoing {
                    edge.target()
                } else {
                    edge.source()
                };
                let next = cost + hop_cost(edge.weight());
                let better = best.get(&other).is_none_or(|&b| next < b);
                if better {
                    best.insert(other, next);
                    let hop = Hop {
                        from: node,
                        to: other,
                        edge: *edge.weight(),
                        reversed: direction == Direction::Incoming,
                    };
                    previous.insert(other, hop);
                    heap.push(Reverse((next, other)));
                }
            }
        }
    }
    None
}
