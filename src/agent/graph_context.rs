//! What the knowledge graph says around a set of files a plan changes: the code elsewhere
//! that calls, references, implements or imports what they define (the blast radius the
//! impact analysis shows, and the callers a step is given), and the definitions elsewhere
//! that they call (the interfaces a step is given).

use std::collections::{BTreeMap, BTreeSet};

use sextant_index::facts::LineSpan;
use sextant_index::graph::{CodeGraph, EdgeKind, Node};
use sextant_index::petgraph::Direction;
use sextant_index::petgraph::graph::NodeIndex;

/// Edges through which one piece of code depends on another.
const USE_EDGES: [EdgeKind; 3] = [EdgeKind::Calls, EdgeKind::References, EdgeKind::Implements];

/// Most uses listed per dependent file (the rest are counted).
const USES_PER_FILE: usize = 3;

/// One use of the changed code from another file.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Use {
    /// The line of the use in the dependent file.
    pub line: u32,
    /// `calls`, `references`, `implements` or `imports`.
    pub kind: &'static str,
    /// What is used: a symbol id (`app/orders.py::get_order`), or the imported file.
    pub target: String,
    /// The span of the definition the use sits in, when it sits in one (the region a step
    /// is shown).
    pub within: Option<LineSpan>,
}

/// A file outside the changed set that depends on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dependent {
    /// The dependent file.
    pub path: String,
    /// Its uses of the changed files, by line.
    pub uses: Vec<Use>,
}

/// A definition outside the changed set that the changed files use.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Dependency {
    /// Its file.
    pub path: String,
    /// Its lines.
    pub span: LineSpan,
    /// Its id.
    pub id: String,
    /// Its signature line.
    pub signature: String,
}

/// Every node of `path`: the file and the symbols it defines, nested ones included.
fn nodes_of(graph: &CodeGraph, path: &str) -> Vec<NodeIndex> {
    let Some(file) = graph.file(path) else {
        return Vec::new();
    };
    let mut nodes = vec![file];
    let mut next = 0;
    while next < nodes.len() {
        let node = nodes[next];
        next += 1;
        for (child, _) in graph.neighbours(
            node,
            Direction::Outgoing,
            &[EdgeKind::Defines, EdgeKind::Contains],
        ) {
            if !nodes.contains(&child) {
                nodes.push(child);
            }
        }
    }
    nodes
}

/// The definitions of `path` (nested ones included): name and lines, in node order.
pub fn definitions(graph: &CodeGraph, path: &str) -> Vec<(String, LineSpan)> {
    nodes_of(graph, path)
        .into_iter()
        .filter_map(|node| match &graph.graph[node] {
            Node::Symbol { name, span, .. } => Some((name.clone(), *span)),
            Node::File { .. } => None,
        })
        .collect()
}

/// The files outside `changed` that use what `changed` defines, each with its uses (at
/// most a few per file, by line), most-using files first, then by path.
pub fn dependents(graph: &CodeGraph, changed: &[String]) -> Vec<Dependent> {
    let changed_set: BTreeSet<&str> = changed.iter().map(String::as_str).collect();
    let mut by_file: BTreeMap<String, BTreeSet<Use>> = BTreeMap::new();
    for path in changed {
        for node in nodes_of(graph, path) {
            let kinds: &[EdgeKind] = if matches!(graph.graph[node], Node::File { .. }) {
                &[EdgeKind::Imports]
            } else {
                &USE_EDGES
            };
            for (user, edge) in graph.neighbours(node, Direction::Incoming, kinds) {
                let user_node = &graph.graph[user];
                if changed_set.contains(user_node.path()) {
                    continue;
                }
                let within = match user_node {
                    Node::Symbol { span, .. } => Some(*span),
                    Node::File { .. } => None,
                };
                by_file
                    .entry(user_node.path().to_string())
                    .or_default()
                    .insert(Use {
                        line: edge.line,
                        kind: edge.kind.name(),
                        target: graph.graph[node].label().to_string(),
                        within,
                    });
            }
        }
    }
    let mut dependents: Vec<Dependent> = by_file
        .into_iter()
        .map(|(path, uses)| {
            let mut uses: Vec<Use> = uses.into_iter().collect();
            // What is shown first: the import, then uses inside definitions, then the file's
            // top-level uses (the names an import line brings in repeat the import).
            uses.sort_by_key(|u| {
                let rank = match (u.kind, u.within) {
                    ("imports", _) => 0,
                    (_, Some(_)) => 1,
                    (_, None) => 2,
                };
                (rank, u.line)
            });
            Dependent { path, uses }
        })
        .collect();
    dependents.sort_by(|a, b| b.uses.len().cmp(&a.uses.len()).then(a.path.cmp(&b.path)));
    dependents
}

/// The definitions outside `changed` that `changed` calls, references or implements, by
/// path and line.
pub fn dependencies(graph: &CodeGraph, changed: &[String]) -> Vec<Dependency> {
    let changed_set: BTreeSet<&str> = changed.iter().map(String::as_str).collect();
    let mut found = BTreeSet::new();
    for path in changed {
        for node in nodes_of(graph, path) {
            for (used, _) in graph.neighbours(node, Direction::Outgoing, &USE_EDGES) {
                if let Node::Symbol {
                    id,
                    path,
                    span,
                    signature,
                    ..
                } = &graph.graph[used]
                    && !changed_set.contains(path.as_str())
                {
                    found.insert(Dependency {
                        path: path.clone(),
                        span: *span,
                        id: id.clone(),
                        signature: signature.clone(),
                    });
                }
            }
        }
    }
    found.into_iter().collect()
}

/// The dependents as lines for the impact analysis: `- path:line kind target` per use, at
/// most [`USES_PER_FILE`] per file and `max_files` files, with what was left counted.
pub fn affected_lines(dependents: &[Dependent], max_files: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for dependent in dependents.iter().take(max_files) {
        let uses: Vec<String> = dependent
            .uses
            .iter()
            .take(USES_PER_FILE)
            .map(|u| {
                if u.line > 0 {
                    format!("line {} {} {}", u.line, u.kind, u.target)
                } else {
                    format!("{} {}", u.kind, u.target)
                }
            })
            .collect();
        let more = dependent.uses.len().saturating_sub(USES_PER_FILE);
        let mut line = format!("- {}: {}", dependent.path, uses.join("; "));
        if more > 0 {
            line.push_str(&format!("; and {more} more"));
        }
        lines.push(line);
    }
    let left = dependents.len().saturating_sub(max_files);
    if left > 0 {
        lines.push(format!("- and {left} more files"));
    }
    lines
}
