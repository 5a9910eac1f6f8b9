//! `sextant graph`: callers, callees, dependencies, paths and statistics from the knowledge graph.

use std::collections::BTreeMap;
use std::fmt::Write;

use anyhow::{Context, bail};
use serde::Serialize;
use sextant_index::graph::algo::{Hop, file_projection, shortest_path};
use sextant_index::graph::{CodeGraph, EdgeKind, Node};
use sextant_index::petgraph::Direction;
use sextant_index::petgraph::graph::NodeIndex;

use crate::cli::{GlobalArgs, GraphArgs, GraphQuery};
use crate::output::{json_text, print, thousands};
use crate::settings::{Overrides, Settings};

/// The settings of the repository at `repo` and its current generation's graph.
pub(crate) fn open_graph(
    repo: Option<&std::path::Path>,
    global: &GlobalArgs,
) -> anyhow::Result<(Settings, CodeGraph)> {
    let settings = Settings::resolve(repo, global, &Overrides::default())?;
    let snapshot = settings.index_dir.open().context("opening the index")?;
    let graph = snapshot
        .read_graph(&settings.index_dir)
        .context("reading the graph")?;
    Ok((settings, graph))
}

/// Runs a graph query.
pub fn run(args: &GraphArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let (settings, graph) = open_graph(args.repo.as_deref(), global)?;
    let file = |f: &String| from_command_line(&settings, f);
    let query = match &args.query {
        GraphQuery::Deps { file: f } => GraphQuery::Deps { file: file(f) },
        GraphQuery::Rdeps { file: f } => GraphQuery::Rdeps { file: file(f) },
        GraphQuery::Path { from, to } => GraphQuery::Path {
            from: file(from),
            to: file(to),
        },
        other => other.clone(),
    };
    let answer = answer(&graph, &query)?;
    print(if args.json {
        &answer.json
    } else {
        &answer.text
    })
}

/// A graph query's answer: the JSON of `--json` and the text a person reads.
pub struct GraphAnswer {
    /// As `sextant graph … --json` prints it (fields in their declared order).
    pub json: String,
    /// As `sextant graph …` prints it.
    pub text: String,
}

/// Answers a graph query (the CLI and the server share it). File paths are taken as people
/// write them: `./src/a.rs`, `src//a.rs`, `src/a.rs/` all name `src/a.rs`.
pub fn answer(graph: &CodeGraph, query: &GraphQuery) -> anyhow::Result<GraphAnswer> {
    match query {
        GraphQuery::Callers { symbol } => {
            neighbours(graph, &normalized(symbol), Direction::Incoming)
        }
        GraphQuery::Callees { symbol } => {
            neighbours(graph, &normalized(symbol), Direction::Outgoing)
        }
        GraphQuery::Deps { file } => dependencies(graph, &normalized(file), Direction::Outgoing),
        GraphQuery::Rdeps { file } => dependencies(graph, &normalized(file), Direction::Incoming),
        GraphQuery::Path { from, to } => path(graph, &normalized(from), &normalized(to)),
        GraphQuery::Stats => stats(graph),
    }
}

/// A repository-relative path as the index writes it: no `./`, no empty parts, no trailing
/// `/`, `\` as `/`. A symbol name or id (`a.rs::Type::method`) passes through unchanged.
fn normalized(query: &str) -> String {
    let query = query.trim();
    if query.contains("::") {
        return query.to_string();
    }
    let parts: Vec<&str> = query
        .split(['/', '\\'])
        .filter(|part| !part.is_empty() && *part != ".")
        .collect();
    if parts.is_empty() {
        query.to_string()
    } else {
        parts.join("/")
    }
}

/// A path given on the command line, relative to the repository root: an absolute path
/// inside the root, or one relative to a working directory below the root, is made relative
/// to the root.
fn from_command_line(settings: &Settings, query: &str) -> String {
    let path = std::path::Path::new(query);
    let absolute = if path.is_absolute() {
        Some(path.to_path_buf())
    } else {
        std::env::current_dir()
            .ok()
            .filter(|cwd| cwd.starts_with(&settings.root) && cwd != &settings.root)
            .map(|cwd| cwd.join(path))
            .filter(|joined| joined.exists())
    };
    absolute
        .and_then(|p| {
            let p = p.canonicalize().unwrap_or(p);
            p.strip_prefix(&settings.root)
                .ok()
                .map(|rel| rel.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| query.to_string())
}

/// A node as printed.
#[derive(Debug, Serialize)]
struct NodeView {
    id: String,
    kind: String,
    path: String,
    line: Option<u32>,
}

fn view(graph: &CodeGraph, node: NodeIndex) -> NodeView {
    match &graph.graph[node] {
        Node::File { path } => NodeView {
            id: path.clone(),
            kind: "file".into(),
            path: path.clone(),
            line: None,
        },
        Node::Symbol {
            id,
            kind,
            path,
            span,
            ..
        } => NodeView {
            id: id.clone(),
            kind: kind.name().into(),
            path: path.clone(),
            line: Some(span.start),
        },
    }
}

/// Finds the one node a query names: a file path, a symbol id, or a symbol name that only one
/// symbol has. An ambiguous name is an error listing the candidates.
fn one_node(graph: &CodeGraph, query: &str) -> anyhow::Result<NodeIndex> {
    if let Some(file) = graph.file(query) {
        return Ok(file);
    }
    let found = graph.find_symbols(query);
    match found.as_slice() {
        [one] => Ok(*one),
        [] => bail!("no file or symbol named {query:?} in the graph"),
        many => {
            let mut message = format!("{query:?} names {} symbols; give one id:", many.len());
            for node in many {
                let _ = write!(message, "\n  {}", graph.graph[*node].label());
            }
            bail!(message)
        }
    }
}

/// One caller or callee.
#[derive(Debug, Serialize)]
struct Link {
    node: NodeView,
    line: u32,
    confidence: f32,
}

fn neighbours(graph: &CodeGraph, query: &str, direction: Direction) -> anyhow::Result<GraphAnswer> {
    let node = one_node(graph, query)?;
    let links: Vec<Link> = graph
        .neighbours(node, direction, &[EdgeKind::Calls])
        .into_iter()
        .map(|(other, edge)| Link {
            node: view(graph, other),
            line: edge.line,
            confidence: edge.confidence,
        })
        .collect();
    let json = json_text(&links)?;
    let label = graph.graph[node].label();
    let mut out = String::new();
    let (verb, none) = match direction {
        Direction::Incoming => ("called by", "no callers found"),
        Direction::Outgoing => ("calls", "calls nothing defined in the repository"),
    };
    if links.is_empty() {
        let _ = writeln!(out, "{label}: {none}");
    } else {
        let _ = writeln!(out, "{label} {verb}:");
    }
    for link in &links {
        // The line is where the call is written: in the caller's file for both directions.
        let at = match direction {
            Direction::Incoming => format!("{}:{}", link.node.path, link.line),
            Direction::Outgoing => format!("{}:{}", graph.graph[node].path(), link.line),
        };
        let certainty = if link.confidence < 1.0 {
            format!("  (confidence {:.2})", link.confidence)
        } else {
            String::new()
        };
        let _ = writeln!(out, "  {}  at {at}{certainty}", link.node.id);
    }
    Ok(GraphAnswer { json, text: out })
}

/// A dependency of a file.
#[derive(Debug, Serialize)]
struct Dependency {
    path: String,
    imports: bool,
    weight: f64,
}

fn dependencies(
    graph: &CodeGraph,
    file: &str,
    direction: Direction,
) -> anyhow::Result<GraphAnswer> {
    let node = graph
        .file(file)
        .with_context(|| format!("{file:?} is not an indexed file"))?;
    let mut found: BTreeMap<NodeIndex, Dependency> = BTreeMap::new();
    for (other, _) in graph.neighbours(node, direction, &[EdgeKind::Imports]) {
        found.insert(
            other,
            Dependency {
                path: graph.graph[other].path().to_string(),
                imports: true,
                weight: 0.0,
            },
        );
    }
    for ((from, to), weight) in file_projection(graph) {
        let other = match direction {
            Direction::Outgoing if from == node => to,
            Direction::Incoming if to == node => from,
            _ => continue,
        };
        found
            .entry(other)
            .or_insert(Dependency {
                path: graph.graph[other].path().to_string(),
                imports: false,
                weight: 0.0,
            })
            .weight += weight;
    }
    let mut list: Vec<Dependency> = found.into_values().collect();
    list.sort_by(|a, b| b.weight.total_cmp(&a.weight).then(a.path.cmp(&b.path)));
    let json = json_text(&list)?;
    let mut out = String::new();
    let title = match direction {
        Direction::Outgoing => "depends on",
        Direction::Incoming => "is used by",
    };
    let _ = writeln!(out, "{file} {title} {} files:", list.len());
    for dependency in &list {
        let how = if dependency.imports {
            "imports"
        } else {
            "uses"
        };
        let _ = writeln!(
            out,
            "  {:<60} {how:<8} weight {:.2}",
            dependency.path, dependency.weight
        );
    }
    Ok(GraphAnswer { json, text: out })
}

/// One hop of a path, as printed with `--json`.
#[derive(Debug, Serialize)]
struct HopView {
    from: NodeView,
    to: NodeView,
    relation: String,
    reversed: bool,
    line: u32,
}

/// A hop as a phrase: "`a` calls `b`" or, walked backwards, "`a` is called by `b`".
pub fn describe(graph: &CodeGraph, hop: &Hop) -> String {
    let name = |n: NodeIndex| match &graph.graph[n] {
        Node::File { path } => path.clone(),
        Node::Symbol { name, path, .. } => format!("`{name}` in {path}"),
    };
    let verb = match (hop.edge.kind, hop.reversed) {
        (EdgeKind::Calls, false) => "calls",
        (EdgeKind::Calls, true) => "is called by",
        (EdgeKind::References, false) => "uses",
        (EdgeKind::References, true) => "is used by",
        (EdgeKind::Implements, false) => "implements",
        (EdgeKind::Implements, true) => "is implemented by",
        (EdgeKind::Imports, false) => "imports",
        (EdgeKind::Imports, true) => "is imported by",
        (EdgeKind::Defines, false) => "defines",
        (EdgeKind::Defines, true) => "is defined in",
        (EdgeKind::Contains, false) => "contains",
        (EdgeKind::Contains, true) => "is inside",
    };
    format!("{} {verb} {}", name(hop.from), name(hop.to))
}

fn path(graph: &CodeGraph, from: &str, to: &str) -> anyhow::Result<GraphAnswer> {
    let start = one_node(graph, from)?;
    let end = one_node(graph, to)?;
    let Some(hops) = shortest_path(graph, start, end) else {
        bail!("no path between {from:?} and {to:?}");
    };
    let views: Vec<HopView> = hops
        .iter()
        .map(|hop| HopView {
            from: view(graph, hop.from),
            to: view(graph, hop.to),
            relation: hop.edge.kind.name().into(),
            reversed: hop.reversed,
            line: hop.edge.line,
        })
        .collect();
    let json = json_text(&views)?;
    let mut out = String::new();
    for hop in &hops {
        let _ = writeln!(out, "{}", describe(graph, hop));
    }
    Ok(GraphAnswer { json, text: out })
}

/// `graph stats --json`.
#[derive(Debug, Serialize)]
struct Stats {
    files: usize,
    symbols: usize,
    edges: BTreeMap<String, usize>,
    resolution: sextant_index::graph::ResolutionStats,
}

fn stats(graph: &CodeGraph) -> anyhow::Result<GraphAnswer> {
    let stats = Stats {
        files: graph.file_count(),
        symbols: graph.symbol_count(),
        edges: graph
            .edge_counts()
            .into_iter()
            .map(|(k, n)| (k.name().to_string(), n))
            .collect(),
        resolution: graph.stats,
    };
    let json = json_text(&stats)?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "nodes: {} files, {} symbols",
        thousands(stats.files as u64),
        thousands(stats.symbols as u64)
    );
    let total: usize = stats.edges.values().sum();
    let _ = writeln!(out, "edges: {}", thousands(total as u64));
    for (kind, count) in &stats.edges {
        let _ = writeln!(out, "  {kind:>10}: {}", thousands(*count as u64));
    }
    let r = &stats.resolution;
    let _ = writeln!(
        out,
        "references: {} resolved, {} ambiguous, {} unresolved (outside the repository)",
        thousands(r.resolved),
        thousands(r.ambiguous),
        thousands(r.unresolved)
    );
    let _ = writeln!(
        out,
        "imports: {} resolved, {} external",
        thousands(r.imports_resolved),
        thousands(r.imports_external)
    );
    Ok(GraphAnswer { json, text: out })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_taken_as_people_write_them() {
        assert_eq!(normalized("./server/src/auth.rs"), "server/src/auth.rs");
        assert_eq!(normalized("server//src/./auth.rs/"), "server/src/auth.rs");
        assert_eq!(normalized(" server\\src\\auth.rs "), "server/src/auth.rs");
        assert_eq!(
            normalized("src/auth.rs::Verifier::verify"),
            "src/auth.rs::Verifier::verify"
        );
        assert_eq!(normalized("getToken"), "getToken");
    }
}
