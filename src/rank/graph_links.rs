//! The graph signals: files that define an identifier the task names, and files linked (calls,
//! references, imports) to the best lexical matches, each with the link in words.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use petgraph::Direction;
use petgraph::graph::NodeIndex;
use petgraph::visit::EdgeRef;
use sextant_index::graph::{CodeGraph, EdgeKind, Node};
use sextant_index::lexical::term_set;
use sextant_index::petgraph;

use super::query::TaskQuery;
use super::{FileSignals, GraphLink, SymbolMatch, Weights, lexical_score, normalise};

/// A name defined in more files than this says little about which one is meant.
pub const MAX_SYMBOL_FILES: usize = 5;
/// Best lexical files whose graph neighbours are considered. Of 1, 2, 3, 5 and 10 seeds (graph
/// weight 0.45), 3 gave the best mean Recall@10 on the development benchmark, round 2
/// (benches/RESULTS.md): 0.754, 0.780, 0.784, 0.774, 0.767.
const GRAPH_SEEDS: usize = 3;

/// Files that define an identifier the task names (longer than two characters), each name's
/// share split between the files defining it; names defined in too many files are skipped.
pub(super) fn symbol_signal(
    graph: &CodeGraph,
    query: &TaskQuery,
    files: &mut BTreeMap<String, FileSignals>,
) {
    let names = symbol_names(query);
    if names.is_empty() {
        return;
    }
    let share = 1.0 / names.len() as f64;
    for name in names {
        // A graph read in part did not read the definitions of a name defined in too many
        // files: the whole graph would skip it below.
        if graph.unread_names.contains(name) {
            continue;
        }
        let found = graph.find_symbols(name);
        let defining: BTreeSet<&str> = found.iter().map(|n| graph.graph[*n].path()).collect();
        if defining.is_empty() || defining.len() > MAX_SYMBOL_FILES {
            continue;
        }
        let each = share / defining.len() as f64;
        for node in found {
            let Node::Symbol { id, path, span, .. } = &graph.graph[node] else {
                continue;
            };
            let entry = files.entry(path.clone()).or_default();
            // One definition per name and file is evidence enough (impl blocks repeat names).
            if entry.symbols.iter().any(|s| &s.query == name) {
                continue;
            }
            entry.symbol += each;
            entry.symbols.push(SymbolMatch {
                query: name.clone(),
                id: id.clone(),
                line: span.start,
            });
        }
    }
}

/// The identifiers of a task whose definitions count ([`symbol_signal`]): longer than two
/// characters.
pub fn symbol_names(query: &TaskQuery) -> Vec<&String> {
    query.identifiers.iter().filter(|i| i.len() > 2).collect()
}

/// The files whose graph links count ([`graph_signal`]): the best lexical matches, with their
/// lexical scores, best first (ties by path).
pub fn graph_seeds(files: &BTreeMap<String, FileSignals>, weights: &Weights) -> Vec<(String, f64)> {
    let mut seeds: Vec<(String, f64)> = files
        .iter()
        .map(|(path, s)| (path.clone(), lexical_score(s, weights)))
        .filter(|(_, score)| *score > 0.0)
        .collect();
    seeds.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    seeds.truncate(GRAPH_SEEDS);
    seeds
}

/// The file node and every symbol it defines, directly or nested.
fn file_nodes(graph: &CodeGraph, file: NodeIndex) -> Vec<NodeIndex> {
    let mut nodes = vec![file];
    let mut next = 0;
    while next < nodes.len() {
        let node = nodes[next];
        next += 1;
        for edge in graph.graph.edges_directed(node, Direction::Outgoing) {
            if matches!(edge.weight().kind, EdgeKind::Defines | EdgeKind::Contains) {
                nodes.push(edge.target());
            }
        }
    }
    nodes
}

fn short_name(graph: &CodeGraph, node: NodeIndex) -> String {
    match &graph.graph[node] {
        Node::File { path } => path.clone(),
        Node::Symbol { name, .. } => format!("`{name}`"),
    }
}

/// A link in words, from the linked file's side: "`login` in api/routes.py calls `verify_token`
/// defined here", "imported by api/routes.py".
fn link_description(
    graph: &CodeGraph,
    source: NodeIndex,
    target: NodeIndex,
    kind: EdgeKind,
    seed: &str,
    direction: Direction,
) -> String {
    let seed_is_source = direction == Direction::Outgoing;
    let from_file = matches!(graph.graph[source], Node::File { .. });
    match (kind, seed_is_source) {
        (EdgeKind::Imports, true) => format!("imported by {seed}"),
        (EdgeKind::Imports, false) => format!("imports {seed}"),
        // Top-level code or an import line: the file itself is the source.
        (_, true) if from_file => format!(
            "{seed} {} {} defined here",
            kind.name(),
            short_name(graph, target)
        ),
        (_, false) if from_file => {
            format!("{} {} in {seed}", kind.name(), short_name(graph, target))
        }
        (_, true) => format!(
            "{} in {seed} {} {} defined here",
            short_name(graph, source),
            kind.name(),
            short_name(graph, target)
        ),
        (_, false) => format!(
            "{} here {} {} in {seed}",
            short_name(graph, source),
            kind.name(),
            short_name(graph, target)
        ),
    }
}

/// An edge that may be shown as a file's link to a seed.
#[derive(Clone, Copy)]
struct LinkEdge {
    source: NodeIndex,
    target: NodeIndex,
    kind: EdgeKind,
    /// `Outgoing` when the seed's side is the source.
    direction: Direction,
    line: u32,
}

impl LinkEdge {
    fn link(&self, graph: &CodeGraph, seed: &str) -> GraphLink {
        GraphLink {
            seed: seed.to_string(),
            description: link_description(
                graph,
                self.source,
                self.target,
                self.kind,
                seed,
                self.direction,
            ),
            line: (self.line > 0).then_some(self.line),
        }
    }
}

/// The edge shown for a linked file: how telling it is (× its seed's score), the seed, the edge.
type Shown<'s> = (f64, &'s str, LinkEdge);

/// How many of the task's terms a node's name holds (0 for files), remembered per node.
struct NamedTerms<'g> {
    graph: &'g CodeGraph,
    task: &'g BTreeSet<String>,
    seen: HashMap<NodeIndex, usize>,
}

impl NamedTerms<'_> {
    fn of(&mut self, node: NodeIndex) -> usize {
        let (graph, task) = (self.graph, self.task);
        *self
            .seen
            .entry(node)
            .or_insert_with(|| match &graph.graph[node] {
                Node::Symbol { name, .. } => term_set(name).intersection(task).count(),
                Node::File { .. } => 0,
            })
    }
}

/// Files linked to the best lexical files: for each seed, every cross-file edge of its symbols
/// counts for the file at the other end, combined as a noisy-or of edge weights (so many weak
/// links do not outweigh a strong one without bound) and scaled by the seed's lexical score.
///
/// The link shown for a file is the most telling edge: one whose ends are named with the
/// task's terms ("`typed_dict_get` here references `TypedDictType`" for a task about
/// TypedDict) before any other, then a call or reference before an import, then one made by a
/// definition before one made by top-level code or an import line, then the heavier.
pub(super) fn graph_signal(
    graph: &CodeGraph,
    weights: &Weights,
    task_terms: &BTreeSet<String>,
    files: &mut BTreeMap<String, FileSignals>,
) {
    let seeds = graph_seeds(files, weights);
    let top = normalise(seeds.iter().map(|(_, s)| *s));
    let mut named = NamedTerms {
        graph,
        task: task_terms,
        seen: HashMap::new(),
    };
    // Per linked file: its strength, and the most telling edge over all seeds with its seed.
    let mut linked: BTreeMap<String, (f64, Option<Shown>)> = BTreeMap::new();
    for (seed, seed_score) in &seeds {
        let Some(seed_node) = graph.file(seed) else {
            continue;
        };
        // Per linked file: product of (1 - weight) over its edges with this seed, and the most
        // telling edge.
        let mut per_file: BTreeMap<&str, (f64, f64, LinkEdge)> = BTreeMap::new();
        for node in file_nodes(graph, seed_node) {
            for direction in [Direction::Outgoing, Direction::Incoming] {
                // In a fixed order (kind, then the ends' labels, then line), not the order the
                // edges were added in: of equally telling edges the first is shown, and the
                // noisy-or multiplies in the same order however the graph was built.
                let mut edges: Vec<_> = graph.graph.edges_directed(node, direction).collect();
                edges.sort_by(|a, b| {
                    let key = |e: &petgraph::stable_graph::EdgeReference<
                        '_,
                        sextant_index::graph::Edge,
                    >| {
                        (
                            e.weight().kind,
                            graph.graph[e.target()].label(),
                            graph.graph[e.source()].label(),
                            e.weight().line,
                        )
                    };
                    key(a).cmp(&key(b))
                });
                for edge in edges {
                    let e = edge.weight();
                    if matches!(e.kind, EdgeKind::Defines | EdgeKind::Contains) {
                        continue;
                    }
                    let other = if direction == Direction::Outgoing {
                        edge.target()
                    } else {
                        edge.source()
                    };
                    let other_path = graph.graph[other].path();
                    if other_path == seed {
                        continue;
                    }
                    let weight = f64::from(e.weight).clamp(0.0, 1.0);
                    let candidate = LinkEdge {
                        source: edge.source(),
                        target: edge.target(),
                        kind: e.kind,
                        direction,
                        line: e.line,
                    };
                    let slot = per_file.entry(other_path).or_insert((1.0, -1.0, candidate));
                    slot.0 *= 1.0 - weight;
                    // Ordered as the doc comment says: weight is at most 1, a symbol (not
                    // the file's top level or import lines) as the source adds 2, the kind
                    // adds 4, each term named adds 8.
                    let not_import = if e.kind == EdgeKind::Imports {
                        0.0
                    } else {
                        1.0
                    };
                    let from_symbol = match graph.graph[edge.source()] {
                        Node::Symbol { .. } => 1.0,
                        Node::File { .. } => 0.0,
                    };
                    let terms = named.of(edge.source()) + named.of(edge.target());
                    let telling =
                        8.0 * terms as f64 + 4.0 * not_import + 2.0 * from_symbol + weight;
                    if telling > slot.1 {
                        slot.1 = telling;
                        slot.2 = candidate;
                    }
                }
            }
        }
        for (path, (miss, telling, edge)) in per_file {
            let strength = (1.0 - miss) * seed_score / top;
            let slot = linked.entry(path.to_string()).or_insert((0.0, None));
            slot.0 += strength;
            let contribution = telling * seed_score;
            if slot.1.as_ref().is_none_or(|(c, _, _)| contribution > *c) {
                slot.1 = Some((contribution, seed.as_str(), edge));
            }
        }
    }
    let best = normalise(linked.values().map(|(s, _)| *s));
    for (path, (strength, link)) in linked {
        let entry = files.entry(path).or_default();
        entry.graph = strength / best;
        // Described once per file, for the edge shown.
        entry.graph_link = link.map(|(_, seed, edge)| edge.link(graph, seed));
    }
}
