//! The knowledge graph's call, reference and implementation edges checked against a SCIP index
//! (the oracle): precision of the edges sextant resolved, recall of the oracle's cross-file
//! references, per language and edge kind, with samples of what went wrong.
//!
//! - **Precision.** An edge from file F at line L to symbol T (`name`, file G, lines S) is
//!   *right* when the oracle has, on F:L, a mention of that name (or of its constructor) whose
//!   definition lies in G within S; *wrong* when the oracle's mentions of that name on F:L are
//!   all defined elsewhere (another file, a library, the standard library); *unverifiable* when
//!   the oracle has no mention of the name there (it could not type the receiver, or the
//!   source is not in the SCIP index). Unverifiable edges are counted, not scored.
//! - **Recall.** Each pair (file F, global symbol D) where F mentions D outside an import and D
//!   is defined in another indexed file G is one oracle reference. It is *modelled* when the
//!   graph has a symbol node for D (same file, name, lines containing D's definition); it is
//!   *found* when some node of F has a call, reference or implementation edge to that node.
//!   Recall is found / modelled; what the graph does not model (attributes, module variables)
//!   is reported beside it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use petgraph::graph::NodeIndex;
use petgraph::visit::{EdgeRef, IntoEdgeReferences};
use serde::Serialize;

use super::{ScipDefinition, ScipFacts, ScipKind};
use crate::graph::{CodeGraph, EdgeKind, Node};
use crate::lang::Language;

/// How many wrong and missed examples a report keeps per language and kind.
pub const SAMPLES: usize = 12;

/// Precision of one language's edges of one kind.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Precision {
    /// Edges the oracle confirms.
    pub right: u64,
    /// Edges the oracle contradicts.
    pub wrong: u64,
    /// Edges the oracle cannot judge (no mention of the name on the edge's line).
    pub unverifiable: u64,
    /// Of `right`, those crossing files.
    pub right_cross_file: u64,
    /// Of `wrong`, those crossing files.
    pub wrong_cross_file: u64,
    /// Examples of wrong edges: `F:L -> target (oracle: what the name means there)`.
    pub wrong_samples: Vec<String>,
}

impl Precision {
    /// right / (right + wrong), or `None` when nothing was judged.
    pub fn value(&self) -> Option<f64> {
        ratio(self.right, self.right + self.wrong)
    }

    /// The same over cross-file edges only.
    pub fn cross_file(&self) -> Option<f64> {
        ratio(
            self.right_cross_file,
            self.right_cross_file + self.wrong_cross_file,
        )
    }
}

/// Recall of one language's cross-file references.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Recall {
    /// Oracle references (file, symbol defined in another file).
    pub references: u64,
    /// Of those, the ones whose target the graph has a node for.
    pub modelled: u64,
    /// Of the modelled ones, those the graph links.
    pub found: u64,
    /// Unmodelled references by the oracle's kind of target.
    pub unmodelled_by_kind: BTreeMap<ScipKind, u64>,
    /// Examples of modelled references the graph misses: `F:L -> G::name`.
    pub missed_samples: Vec<String>,
}

impl Recall {
    /// found / modelled, or `None` when nothing is modelled.
    pub fn value(&self) -> Option<f64> {
        ratio(self.found, self.modelled)
    }
}

/// The comparison for one language.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LanguageReport {
    /// Files in both the graph and the oracle.
    pub files: u64,
    /// Precision per edge kind (`calls`, `references`, `implements`).
    pub precision: BTreeMap<&'static str, Precision>,
    /// All kinds together.
    pub precision_all: Precision,
    /// Cross-file recall.
    pub recall: Recall,
}

/// The comparison of a graph with an oracle.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Comparison {
    /// The oracle's indexer.
    pub tool: String,
    /// Per language name.
    pub languages: BTreeMap<&'static str, LanguageReport>,
    /// Graph files the oracle does not cover (not scored).
    pub files_not_in_oracle: u64,
    /// Oracle documents the graph does not hold (not scored).
    pub documents_not_in_graph: u64,
}

fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// A graph symbol as the comparison needs it.
struct Target<'g> {
    name: &'g str,
    path: &'g str,
    start: u32,
    end: u32,
    label: &'g str,
}

/// Each symbol node with its first and last line, under its (file, name).
type SpansByName<'g> = HashMap<(&'g str, &'g str), Vec<(u32, u32, NodeIndex)>>;

/// Graph symbols by (file, name), to find the node standing for an oracle definition.
struct SymbolsByName<'g> {
    map: SpansByName<'g>,
    labels: HashMap<NodeIndex, &'g str>,
}

impl<'g> SymbolsByName<'g> {
    fn new(graph: &'g CodeGraph) -> Self {
        let mut map: SpansByName = HashMap::new();
        let mut labels = HashMap::new();
        for node in graph.graph.node_indices() {
            if let Node::Symbol {
                name,
                path,
                span,
                id,
                ..
            } = &graph.graph[node]
            {
                labels.insert(node, id.as_str());
                map.entry((path.as_str(), name.as_str()))
                    .or_default()
                    .push((span.start, span.end, node));
            }
        }
        // The innermost span first, so a method wins over a class that happens to share its
        // name and contain it.
        for spans in map.values_mut() {
            spans.sort_by_key(|(start, end, node)| (end - start, *node));
        }
        SymbolsByName { map, labels }
    }

    /// The node standing for an oracle definition: same file and name, lines containing the
    /// defining line; a constructor stands for its class.
    fn node_for(&self, definition: &ScipDefinition) -> Option<NodeIndex> {
        let find = |name: &str| {
            self.map
                .get(&(definition.path.as_str(), name))?
                .iter()
                .find(|(start, end, _)| (*start..=*end).contains(&definition.line))
                .map(|(_, _, node)| *node)
        };
        find(&definition.name).or_else(|| {
            constructor_of(&definition.name, definition.parent.as_deref()).and_then(find)
        })
    }
}

impl SymbolsByName<'_> {
    /// Whether `target` is another declaration of what the oracle's definition declares: an
    /// overload (`@overload def f` three times) or a conditional redefinition, which the graph
    /// keeps as `f`, `f@58`, `f@62` and the oracle names by the first.
    fn overload_of(&self, definition: &ScipDefinition, target: &Target) -> bool {
        let base = |label: &str| label.split('@').next().unwrap_or(label).to_string();
        self.node_for(definition).is_some_and(|node| {
            base(self.labels.get(&node).copied().unwrap_or_default()) == base(target.label)
        })
    }
}

/// The class a constructor symbol stands for (`Foo#__init__().` and `Foo#<constructor>().`
/// are what `Foo(...)` and `new Foo(...)` mention).
fn constructor_of<'a>(name: &str, parent: Option<&'a str>) -> Option<&'a str> {
    matches!(
        name,
        "__init__" | "__new__" | "<constructor>" | "constructor"
    )
    .then_some(parent)
    .flatten()
}

fn language_of(path: &str) -> &'static str {
    Language::from_path(Path::new(path)).name()
}

/// Compares `graph` with `oracle`.
pub fn compare(graph: &CodeGraph, oracle: &ScipFacts) -> Comparison {
    let mut comparison = Comparison {
        tool: oracle.tool.clone(),
        ..Comparison::default()
    };
    let graph_files: HashSet<&str> = graph
        .graph
        .node_weights()
        .filter_map(|node| match node {
            Node::File { path } => Some(path.as_str()),
            Node::Symbol { .. } => None,
        })
        .collect();
    for path in &graph_files {
        if oracle.documents.contains_key(*path) {
            comparison
                .languages
                .entry(language_of(path))
                .or_default()
                .files += 1;
        } else {
            comparison.files_not_in_oracle += 1;
        }
    }
    comparison.documents_not_in_graph = oracle
        .documents
        .keys()
        .filter(|path| !graph_files.contains(path.as_str()))
        .count() as u64;

    // Per file, the oracle's mentions by line (sorted by line, so a binary search finds them).
    let target_of = |node: NodeIndex| match &graph.graph[node] {
        Node::Symbol {
            name,
            path,
            span,
            id,
            ..
        } => Some(Target {
            name,
            path,
            start: span.start,
            end: span.end,
            label: id,
        }),
        Node::File { .. } => None,
    };
    let symbols = SymbolsByName::new(graph);
    let mut linked: HashSet<(&str, NodeIndex)> = HashSet::new();
    for edge in graph.graph.edge_references() {
        let kind = edge.weight().kind;
        if !matches!(
            kind,
            EdgeKind::Calls | EdgeKind::References | EdgeKind::Implements
        ) {
            continue;
        }
        let source_path = graph.graph[edge.source()].path();
        linked.insert((source_path, edge.target()));
        let Some(target) = target_of(edge.target()) else {
            continue;
        };
        let Some(mentions) = oracle.documents.get(source_path) else {
            continue;
        };
        let report = comparison
            .languages
            .entry(language_of(source_path))
            .or_default();
        let verdict = judge(oracle, &symbols, mentions, edge.weight().line, &target);
        let cross_file = target.path != source_path;
        for precision in [
            report.precision.entry(kind.name()).or_default(),
            &mut report.precision_all,
        ] {
            match &verdict {
                Verdict::Right => {
                    precision.right += 1;
                    precision.right_cross_file += u64::from(cross_file);
                }
                Verdict::Wrong(meant) => {
                    precision.wrong += 1;
                    precision.wrong_cross_file += u64::from(cross_file);
                    if precision.wrong_samples.len() < SAMPLES {
                        precision.wrong_samples.push(format!(
                            "{source_path}:{} {} {} (oracle: {meant})",
                            edge.weight().line,
                            kind.name(),
                            target.label
                        ));
                    }
                }
                Verdict::Unverifiable => precision.unverifiable += 1,
            }
        }
    }

    for (path, mentions) in &oracle.documents {
        if !graph_files.contains(path.as_str()) {
            continue;
        }
        let report = comparison.languages.entry(language_of(path)).or_default();
        let mut seen: HashSet<&str> = HashSet::new();
        for mention in mentions {
            if mention.definition || mention.import {
                continue;
            }
            let Some(definition) = oracle.definitions.get(&mention.symbol) else {
                continue;
            };
            if definition.path == *path
                || !graph_files.contains(definition.path.as_str())
                || definition.kind == ScipKind::Namespace
                || !seen.insert(mention.symbol.as_str())
            {
                continue;
            }
            let recall = &mut report.recall;
            recall.references += 1;
            let Some(node) = symbols.node_for(definition) else {
                *recall
                    .unmodelled_by_kind
                    .entry(definition.kind)
                    .or_default() += 1;
                continue;
            };
            recall.modelled += 1;
            if linked.contains(&(path.as_str(), node)) {
                recall.found += 1;
            } else if recall.missed_samples.len() < SAMPLES {
                recall.missed_samples.push(format!(
                    "{path}:{} -> {}",
                    mention.line,
                    graph.graph[node].label()
                ));
            }
        }
    }
    comparison
}

enum Verdict {
    Right,
    /// What the oracle says the name means on that line.
    Wrong(String),
    Unverifiable,
}

/// Whether the oracle's mentions on `line` confirm an edge to `target`.
fn judge(
    oracle: &ScipFacts,
    symbols: &SymbolsByName,
    mentions: &[super::ScipOccurrence],
    line: u32,
    target: &Target,
) -> Verdict {
    let start = mentions.partition_point(|m| m.line < line);
    let mut meant = None;
    for mention in mentions[start..].iter().take_while(|m| m.line == line) {
        let Some((name, _, parent)) = ScipFacts::describe(&mention.symbol) else {
            continue;
        };
        let names_it =
            name == target.name || constructor_of(&name, parent.as_deref()) == Some(target.name);
        if !names_it {
            continue;
        }
        match oracle.definitions.get(&mention.symbol) {
            Some(definition)
                if definition.path == target.path
                    && ((target.start..=target.end).contains(&definition.line)
                        || symbols.overload_of(definition, target)) =>
            {
                return Verdict::Right;
            }
            Some(definition) => {
                meant.get_or_insert_with(|| format!("{}:{}", definition.path, definition.line));
            }
            None => {
                meant.get_or_insert_with(|| mention.symbol.clone());
            }
        }
    }
    meant.map_or(Verdict::Unverifiable, Verdict::Wrong)
}
