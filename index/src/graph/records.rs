//! The graph kept per file: each file's record holds its symbols and the edges leaving them
//! (from the file or one of its symbols), so a change rewrites only the records of the files
//! it re-resolves, and the whole graph is the union of every file's record.
//!
//! An edge's target is kept by path and symbol id (the id without its `path::` prefix), not
//! by node number: ids survive edits of the target's file that do not touch the symbol,
//! numbers do not. The target's position among its file's symbols is kept as a hint that
//! makes assembly a lookup instead of a search while the target's file is unchanged.
//! Structural edges (`defines`, `contains`) are not stored: they follow from each symbol's
//! container.

use std::collections::BTreeMap;

use petgraph::Direction;
use petgraph::graph::NodeIndex;
use petgraph::visit::{EdgeRef, NodeIndexable};
use serde::{Deserialize, Serialize};

use super::{CodeGraph, Edge, EdgeKind, FileLink, LinkFacts, Node, ResolutionStats};
use crate::facts::{LineSpan, SymbolKind};

/// One file's part of the graph.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GraphRecord {
    /// The file's symbols, in the order of its facts.
    symbols: Vec<SymbolRecord>,
    /// Paths the file's edges reach, each once.
    paths: Vec<String>,
    /// Nodes the file's edges reach, each once.
    targets: Vec<Target>,
    /// Resolved edges leaving the file and its symbols, sorted.
    edges: Vec<EdgeRecord>,
    /// How the file's references and imports resolved.
    stats: ResolutionStats,
    /// Fingerprint of the file's resolved imports and scope.
    scope: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct SymbolRecord {
    /// The id after `path::`.
    tail: String,
    name: String,
    kind: SymbolKind,
    span: LineSpan,
    signature: String,
    /// The enclosing symbol's position in the file's symbols.
    container: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Target {
    /// Index into the record's paths.
    path: u32,
    /// `None` for the file itself; else the symbol's position when the record was written
    /// (a hint) and its id after `path::`.
    symbol: Option<(u32, String)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
struct EdgeRecord {
    /// 0 for the file, `i + 1` for its symbol `i`.
    from: u32,
    /// Index into the record's targets.
    to: u32,
    kind: EdgeKind,
    weight: f32,
    confidence: f32,
    line: u32,
}

/// A file's part of the graph in numbers: what a summary of the whole graph adds up without
/// reading any record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GraphCounts {
    /// Resolved edges leaving the file and its symbols (structural ones are one per symbol).
    pub edges: u32,
    /// How the file's references and imports resolved.
    pub resolution: ResolutionStats,
}

impl GraphRecord {
    /// This record in numbers.
    pub fn counts(&self) -> GraphCounts {
        GraphCounts {
            edges: self.edges.len() as u32,
            resolution: self.stats,
        }
    }

    /// The paths this file's edges reach (what the index keeps searchable, so the files that
    /// point at a file are found without reading every record).
    pub fn target_paths(&self) -> impl Iterator<Item = &str> {
        self.paths.iter().map(String::as_str)
    }

    /// Fingerprint of the file's resolved imports and scope when it was linked.
    pub fn scope(&self) -> u64 {
        self.scope
    }

    /// Number of symbols.
    pub fn symbol_count(&self) -> usize {
        self.symbols.len()
    }
}

/// A target while a record is written: its path, and for a symbol its position and id tail.
type TargetRef<'g> = (&'g str, Option<(u32, &'g str)>);

/// Each live node's position among its file's symbols (files are not numbered): what the
/// records of one graph are written with.
pub struct SymbolPositions(Vec<u32>);

impl SymbolPositions {
    /// Positions in `graph`.
    pub fn of(graph: &CodeGraph) -> SymbolPositions {
        let mut positions = vec![u32::MAX; graph.graph.node_bound()];
        for link in graph.links.values() {
            for (position, node) in link.symbols.iter().enumerate() {
                positions[node.index()] = position as u32;
            }
        }
        SymbolPositions(positions)
    }

    fn get(&self, node: NodeIndex) -> u32 {
        self.0.get(node.index()).copied().unwrap_or(u32::MAX)
    }
}

/// The id of a symbol of `path` without its `path::` prefix.
fn tail<'i>(path: &str, id: &'i str) -> &'i str {
    id.strip_prefix(path)
        .and_then(|rest| rest.strip_prefix("::"))
        .unwrap_or(id)
}

/// Whether `id` is `path::tail`.
fn is_id(id: &str, path: &str, tail: &str) -> bool {
    id.len() == path.len() + 2 + tail.len()
        && id.starts_with(path)
        && id[path.len()..].starts_with("::")
        && id.ends_with(tail)
}

impl CodeGraph {
    /// The record of file `path` (which the graph must hold), written with the graph's
    /// `positions`.
    pub fn record(&self, path: &str, positions: &SymbolPositions) -> GraphRecord {
        let file_node = self.files[path];
        let link = &self.links[path];
        let mut symbols = Vec::with_capacity(link.symbols.len());
        for &node in &link.symbols {
            let Node::Symbol {
                id,
                name,
                kind,
                span,
                signature,
                ..
            } = &self.graph[node]
            else {
                continue;
            };
            let container = self
                .graph
                .edges_directed(node, Direction::Incoming)
                .find(|e| e.weight().kind == EdgeKind::Contains)
                .map(|e| positions.get(e.source()));
            symbols.push(SymbolRecord {
                tail: tail(path, id).to_string(),
                name: name.clone(),
                kind: *kind,
                span: *span,
                signature: signature.clone(),
                container,
            });
        }
        // A source is numbered 0 for the file, then by its position among the file's symbols.
        let sources = std::iter::once(file_node).chain(link.symbols.iter().copied());
        let edges = sources
            .flat_map(|source| self.graph.edges_directed(source, Direction::Outgoing))
            .filter(|edge| !matches!(edge.weight().kind, EdgeKind::Defines | EdgeKind::Contains))
            .map(|edge| {
                let from = if edge.source() == file_node {
                    0
                } else {
                    positions.get(edge.source()).saturating_add(1)
                };
                let target = match &self.graph[edge.target()] {
                    Node::File { path } => (path.as_str(), None),
                    Node::Symbol { id, path, .. } => (
                        path.as_str(),
                        Some((positions.get(edge.target()), tail(path, id))),
                    ),
                };
                (from, target, *edge.weight())
            })
            .collect();
        GraphRecord::of_parts(symbols, edges, link.stats, link.scope)
    }
}

/// Where the symbols of a link without a graph are ([`super::resolve::link_in_batches`]):
/// each node's file and position, and each file's symbol id tails — made the first time an
/// edge points into the file (a relink reads the symbols of 1,500 files that define a name
/// it looks up, and points into a few).
pub(crate) struct SymbolTable<'f> {
    /// By node index: the file's index in `paths`, and the symbol's position (`u32::MAX` for
    /// the file's own node).
    owners: Vec<(u32, u32)>,
    paths: Vec<&'f str>,
    facts: Vec<Option<&'f LinkFacts>>,
    tails: Vec<std::sync::OnceLock<Vec<String>>>,
}

impl<'f> SymbolTable<'f> {
    /// An empty table.
    pub(crate) fn new() -> SymbolTable<'f> {
        SymbolTable {
            owners: Vec::new(),
            paths: Vec::new(),
            facts: Vec::new(),
            tails: Vec::new(),
        }
    }

    /// Numbers file `path`, then its symbols (those of its `facts`, if given), returning
    /// their nodes.
    pub(crate) fn add_file(
        &mut self,
        path: &'f str,
        facts: Option<&'f LinkFacts>,
    ) -> (NodeIndex, Vec<NodeIndex>) {
        let file = self.paths.len() as u32;
        self.paths.push(path);
        self.facts.push(facts);
        self.tails.push(std::sync::OnceLock::new());
        let file_node = NodeIndex::new(self.owners.len());
        self.owners.push((file, u32::MAX));
        let count = facts.map_or(0, |facts| facts.symbols.len());
        let nodes = (0..count)
            .map(|position| {
                self.owners.push((file, position as u32));
                NodeIndex::new(self.owners.len() - 1)
            })
            .collect();
        (file_node, nodes)
    }

    /// The id tails of the symbols of the file numbered `file`.
    fn tails(&self, file: u32) -> &[String] {
        self.tails[file as usize].get_or_init(|| {
            self.facts[file as usize].map_or_else(Vec::new, super::resolve::symbol_tails)
        })
    }

    /// The record of the file numbered `file_node` (its `facts` whole) with its resolved
    /// `edges` (structural ones aside).
    pub(crate) fn record(
        &self,
        file_node: NodeIndex,
        facts: &LinkFacts,
        edges: impl Iterator<Item = (NodeIndex, NodeIndex, Edge)>,
        stats: ResolutionStats,
        scope: u64,
    ) -> GraphRecord {
        let (file, _) = self.owners[file_node.index()];
        let tails = self.tails(file);
        let symbols = facts
            .symbols
            .iter()
            .zip(tails)
            .map(|(symbol, tail)| SymbolRecord {
                tail: tail.clone(),
                name: symbol.name.clone(),
                kind: symbol.kind,
                span: symbol.span,
                signature: symbol.signature.clone(),
                container: symbol.container,
            })
            .collect();
        let edges = edges
            .map(|(source, target, edge)| {
                let from = if source == file_node {
                    0
                } else {
                    self.owners[source.index()].1.saturating_add(1)
                };
                let (file, position) = self.owners[target.index()];
                let target_path = self.paths[file as usize];
                let symbol = (position != u32::MAX)
                    .then(|| (position, self.tails(file)[position as usize].as_str()));
                (from, (target_path, symbol), edge)
            })
            .collect();
        GraphRecord::of_parts(symbols, edges, stats, scope)
    }
}

impl GraphRecord {
    /// The record of a file's `symbols` and the `edges` leaving it (each with its source
    /// numbered and its target named), sorted, then numbered in that order: the record does
    /// not depend on the order the edges came in.
    fn of_parts(
        symbols: Vec<SymbolRecord>,
        mut edges: Vec<(u32, TargetRef<'_>, Edge)>,
        stats: ResolutionStats,
        scope: u64,
    ) -> GraphRecord {
        let mut record = GraphRecord {
            symbols,
            stats,
            scope,
            ..GraphRecord::default()
        };
        edges.sort_by(|a, b| {
            (a.0, a.2.kind, a.1, a.2.line)
                .cmp(&(b.0, b.2.kind, b.1, b.2.line))
                .then(a.2.weight.total_cmp(&b.2.weight))
                .then(a.2.confidence.total_cmp(&b.2.confidence))
        });
        let paths: BTreeMap<&str, u32> = edges
            .iter()
            .map(|e| e.1.0)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .enumerate()
            .map(|(index, path)| (path, index as u32))
            .collect();
        let targets: BTreeMap<TargetRef<'_>, u32> = edges
            .iter()
            .map(|e| e.1)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .enumerate()
            .map(|(index, target)| (target, index as u32))
            .collect();
        record.edges = edges
            .iter()
            .map(|&(from, target, edge)| EdgeRecord {
                from,
                to: targets[&target],
                kind: edge.kind,
                weight: edge.weight,
                confidence: edge.confidence,
                line: edge.line,
            })
            .collect();
        record.targets = targets
            .keys()
            .map(|&(path, symbol)| Target {
                path: paths[path],
                symbol: symbol.map(|(hint, tail)| (hint, tail.to_string())),
            })
            .collect();
        record.paths = paths.keys().map(|p| p.to_string()).collect();
        record
    }
}

impl CodeGraph {
    /// The graph whose files' records are `records` (sorted by path, one per file): every
    /// file's nodes first, then the edges between them. Fails, naming the file, when a record
    /// is inconsistent or an edge reaches a node no record holds.
    pub fn assemble(records: Vec<(String, GraphRecord)>) -> Result<CodeGraph, String> {
        CodeGraph::assemble_from(records, false)
    }

    /// The part of a graph that `records` (sorted by path, one per file, some of the files)
    /// make: their nodes, and the edges between them. Edges into files whose records were not
    /// given are left out; an edge to a node missing from a given file's record still fails.
    pub fn assemble_part(records: Vec<(String, GraphRecord)>) -> Result<CodeGraph, String> {
        CodeGraph::assemble_from(records, true)
    }

    fn assemble_from(records: Vec<(String, GraphRecord)>, part: bool) -> Result<CodeGraph, String> {
        let mut graph = CodeGraph::default();
        for (path, _) in &records {
            let node = graph.graph.add_node(Node::File { path: path.clone() });
            if graph.files.insert(path.clone(), node).is_some() {
                return Err(format!("{path} has two graph records"));
            }
        }
        let structural = Edge {
            kind: EdgeKind::Defines,
            weight: 1.0,
            confidence: 1.0,
            line: 0,
        };
        for (path, record) in &records {
            let file_node = graph.files[path];
            let mut nodes: Vec<NodeIndex> = Vec::with_capacity(record.symbols.len());
            for symbol in &record.symbols {
                let node = graph.graph.add_node(Node::Symbol {
                    id: format!("{path}::{}", symbol.tail),
                    name: symbol.name.clone(),
                    kind: symbol.kind,
                    path: path.clone(),
                    span: symbol.span,
                    signature: symbol.signature.clone(),
                });
                let (source, kind) = match symbol.container {
                    Some(parent) => match nodes.get(parent as usize) {
                        Some(&parent) => (parent, EdgeKind::Contains),
                        None => {
                            return Err(format!(
                                "the graph record of {path} nests a symbol in a later one"
                            ));
                        }
                    },
                    None => (file_node, EdgeKind::Defines),
                };
                graph
                    .graph
                    .add_edge(source, node, Edge { kind, ..structural });
                nodes.push(node);
            }
            graph.links.insert(
                path.clone(),
                FileLink {
                    symbols: nodes,
                    stats: record.stats,
                    scope: record.scope,
                },
            );
        }
        for (path, record) in &records {
            let mut targets = Vec::with_capacity(record.targets.len());
            for target in &record.targets {
                let node = graph.target_node(record, target);
                let not_read = part
                    && record
                        .paths
                        .get(target.path as usize)
                        .is_some_and(|target_path| !graph.files.contains_key(target_path));
                match node {
                    Some(node) => targets.push(Some(node)),
                    None if not_read => targets.push(None),
                    None => {
                        return Err(format!(
                            "the graph record of {path} has an edge to a node no record holds"
                        ));
                    }
                }
            }
            let link = &graph.links[path];
            let sources: Vec<NodeIndex> = std::iter::once(graph.files[path])
                .chain(link.symbols.iter().copied())
                .collect();
            for edge in &record.edges {
                let (Some(&source), Some(&target)) = (
                    sources.get(edge.from as usize),
                    targets.get(edge.to as usize),
                ) else {
                    return Err(format!("the graph record of {path} has a dangling edge"));
                };
                // An edge into a file not read (only when assembling a part).
                let Some(target) = target else {
                    continue;
                };
                graph.graph.add_edge(
                    source,
                    target,
                    Edge {
                        kind: edge.kind,
                        weight: edge.weight,
                        confidence: edge.confidence,
                        line: edge.line,
                    },
                );
            }
        }
        let mut stats = ResolutionStats::default();
        for link in graph.links.values() {
            stats.add(&link.stats);
        }
        graph.stats = stats;
        Ok(graph)
    }

    /// The node a record's target names, if the graph holds it: the symbol at the hinted
    /// position when its id matches, else the one with that id.
    fn target_node(&self, record: &GraphRecord, target: &Target) -> Option<NodeIndex> {
        let path = record.paths.get(target.path as usize)?;
        let Some((hint, tail)) = &target.symbol else {
            return self.files.get(path).copied();
        };
        let symbols = &self.links.get(path)?.symbols;
        let matches = |node: &NodeIndex| matches!(&self.graph[*node], Node::Symbol { id, .. } if is_id(id, path, tail));
        match symbols.get(*hint as usize) {
            Some(node) if matches(node) => Some(*node),
            _ => symbols.iter().copied().find(matches),
        }
    }
}
