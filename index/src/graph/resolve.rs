//! Linking: symbol ids, import resolution per language, and reference resolution by scope.
//!
//! A reference to `name` from file F resolves, in order, to definitions of `name`:
//! 1. in F itself (confidence [`SAME_FILE_CONFIDENCE`]);
//! 2. in F's scope: the files F imports, plus its package peers (Go and Java files in the same
//!    directory) and the sources paired with included C/C++ headers ([`IMPORTED_CONFIDENCE`]);
//! 3. anywhere, if exactly one definition exists ([`UNIQUE_GLOBAL_CONFIDENCE`]);
//! 4. otherwise to at most [`MAX_CANDIDATES`] candidates sharing [`AMBIGUOUS_CONFIDENCE`],
//!    counted as ambiguous. Unresolved names (library calls) get no edge.
//!
//! Within a tier several definitions share the confidence. Weights are the confidence times a
//! discount for names defined in many files (`1 / (1 + ln files)`), so `new` or `get` still
//! link but count little. The confidences are starting values set by judgment; issue 5's
//! `sextant eval` is where they get tuned.
//!
//! This module links and relinks; `imports` resolves imports to files and `names` resolves
//! references to symbols.

mod builtins;
mod imports;
mod names;
mod stored;

use std::collections::{BTreeMap, BTreeSet, HashSet};

use petgraph::graph::{EdgeIndex, NodeIndex};
use petgraph::stable_graph::StableDiGraph;
use petgraph::visit::{EdgeRef, NodeIndexable};
use rayon::prelude::*;

pub use self::imports::PathEntry;
use self::imports::{PathIndex, module_stem};
use self::names::{FileScope, NameTables, is_reexporting, resolve_file, resolve_files};
pub use self::stored::{
    FactsSource, StoredRelink, max_files_read, relink_stored, relinkable_from_records,
};
use super::records::{GraphRecord, SymbolTable};
use super::{CodeGraph, Edge, EdgeKind, FileLink, LinkFacts, Node, ResolutionStats};
use crate::facts::SymbolKind;

/// Confidence of a reference resolved in its own file.
pub const SAME_FILE_CONFIDENCE: f32 = 1.0;
/// Confidence of a reference resolved in an imported file or package peer.
pub const IMPORTED_CONFIDENCE: f32 = 0.9;
/// Confidence of a reference whose name is defined exactly once in the repository.
pub const UNIQUE_GLOBAL_CONFIDENCE: f32 = 0.6;
/// Total confidence shared by the candidates of an ambiguous reference.
pub const AMBIGUOUS_CONFIDENCE: f32 = 0.3;
/// Most candidates an ambiguous reference links to (the nearest by path).
pub const MAX_CANDIDATES: usize = 5;
/// Up to this many edges an update removes one by one; more go in one pass over the graph.
const ONE_BY_ONE_EDGES: usize = 2_000;

/// Links per-file facts into a graph.
pub fn link(files: &BTreeMap<String, LinkFacts>) -> CodeGraph {
    let mut graph = CodeGraph::default();
    for path in files.keys() {
        let node = graph.graph.add_node(Node::File { path: path.clone() });
        graph.files.insert(path.clone(), node);
    }
    for (path, facts) in files {
        add_symbols(&mut graph, path, facts, &BTreeMap::new());
    }
    let paths = PathIndex::new(files);
    let scopes: BTreeMap<&str, FileScope> = files
        .par_iter()
        .map(|(path, facts)| (path.as_str(), FileScope::new(&paths, files, path, facts)))
        .collect();
    let all: BTreeSet<&str> = files.keys().map(String::as_str).collect();
    resolve_files(&mut graph, files, all.iter().copied(), &scopes, &all);
    graph
}

/// Links `files` as [`link`] does (a file's facts there may lack their references, which
/// `whole` then gives, a batch of files at a time), handing the records of each `batch`
/// files (in path order) to `write` as soon as they are resolved, and returns how references
/// and imports resolved over all of them. No graph is built: symbols are numbered in a
/// [`SymbolTable`], and a batch's reference edges, scopes and whole facts live only while
/// its records are made — at 26M lines those were most of a cold index's memory. The records
/// equal those of [`link`]'s graph (tested).
pub fn link_in_batches<E: Send>(
    files: &BTreeMap<String, LinkFacts>,
    whole: impl Fn(&str) -> Result<Option<LinkFacts>, E> + Sync,
    batch: usize,
    mut write: impl FnMut(Vec<(String, GraphRecord)>) -> Result<(), E>,
) -> Result<ResolutionStats, E> {
    // Resolving reads only which node is which file's symbol, and a record only where each
    // node is and its id: the nodes are numbered in a table, not built (a symbol node with
    // its strings was ~300 bytes, 600 MB at 26M lines).
    let (graph, table) = numbered(files, std::iter::empty());
    let paths = PathIndex::new(files);
    let all: BTreeSet<&str> = files.keys().map(String::as_str).collect();
    let tables = NameTables::new(&graph, files, all.iter().copied(), &all);
    let ordered: Vec<&str> = all.iter().copied().collect();
    let mut stats = ResolutionStats::default();
    for chunk in ordered.chunks(batch.max(1)) {
        let records: Vec<(String, GraphRecord, ResolutionStats)> = chunk
            .par_iter()
            .map(|path| {
                let lean = &files[*path];
                let whole = whole(path)?;
                let facts = whole.as_ref().unwrap_or(lean);
                let scope = FileScope::new(&paths, files, path, lean);
                let (record, stats) = file_record(&graph, &table, &tables, facts, &scope, path);
                Ok((path.to_string(), record, stats))
            })
            .collect::<Result<_, E>>()?;
        let records = records
            .into_iter()
            .map(|(path, record, file_stats)| {
                stats.add(&file_stats);
                (path, record)
            })
            .collect();
        write(records)?;
    }
    Ok(stats)
}

/// The files of `files` and their symbols, then the files `also` names (without symbols of
/// their own: what imports reach), numbered in a [`SymbolTable`], with the maps of file nodes
/// and symbol nodes [`resolve_file`] reads. No graph nodes are built.
fn numbered<'f>(
    files: &'f BTreeMap<String, LinkFacts>,
    also: impl Iterator<Item = &'f str>,
) -> (CodeGraph, SymbolTable<'f>) {
    let mut graph = CodeGraph::default();
    let mut table = SymbolTable::new();
    for (path, facts) in files {
        let (file_node, symbols) = table.add_file(path, Some(facts));
        graph.files.insert(path.clone(), file_node);
        graph.links.insert(
            path.clone(),
            FileLink {
                symbols,
                ..FileLink::default()
            },
        );
    }
    for path in also {
        if !graph.files.contains_key(path) {
            let (file_node, _) = table.add_file(path, None);
            graph.files.insert(path.to_string(), file_node);
        }
    }
    (graph, table)
}

/// Resolves file `path` (its `facts`, numbered in `graph` and `table`) in its `scope` against
/// `tables`: the graph record a whole link writes for it, and how its references resolved.
fn file_record(
    graph: &CodeGraph,
    table: &SymbolTable<'_>,
    tables: &NameTables<'_>,
    facts: &LinkFacts,
    scope: &FileScope<'_>,
    path: &str,
) -> (GraphRecord, ResolutionStats) {
    let resolution = resolve_file(graph, facts, tables, scope, path);
    let imports = scope.import_edges(graph, path);
    let references = resolution
        .edges
        .iter()
        .map(|(&(source, target, _), &edge)| (source, target, edge));
    let record = table.record(
        graph.files[path],
        facts,
        imports.chain(references),
        resolution.stats,
        scope.hash,
    );
    (record, resolution.stats)
}

/// Brings `graph`, linked from an earlier version of the facts, up to date with `files` after
/// the paths in `touched` were added, changed or removed (`previous` holds their earlier
/// facts). Only what the change can affect is re-resolved:
/// - the touched files themselves; their symbols keep their nodes (and so their incoming
///   edges) when their ids survive;
/// - files that reference a name whose definitions changed (added, removed, renamed, moved to
///   another container), or qualify a reference by such a name: their answer may differ;
/// - when files were added or removed, files whose imports or scope now resolve differently.
///
/// Every other edge stays as it was. The result equals [`link`] on `files` (proved by tests);
/// when the graph has too many freed slots, or lacks the per-file state, it is linked afresh.
pub fn relink(
    graph: CodeGraph,
    files: &BTreeMap<String, LinkFacts>,
    previous: &BTreeMap<String, LinkFacts>,
    touched: &BTreeSet<String>,
) -> CodeGraph {
    relink_removing(graph, files, previous, touched, ONE_BY_ONE_EDGES)
}

/// [`relink`], removing up to `one_by_one` edges one by one (tests force either way).
pub(crate) fn relink_removing(
    mut graph: CodeGraph,
    files: &BTreeMap<String, LinkFacts>,
    previous: &BTreeMap<String, LinkFacts>,
    touched: &BTreeSet<String>,
    one_by_one: usize,
) -> CodeGraph {
    let freed = graph.graph.node_bound() - graph.graph.node_count();
    if graph.links.len() != graph.files.len()
        || freed * 4 > graph.graph.node_bound()
        || touched
            .iter()
            .any(|p| graph.files.contains_key(p) != previous.contains_key(p))
    {
        return link(files);
    }
    let names = changed_names(previous, files, touched);
    let layout_changed = layout_changed(previous, files, touched);

    // What goes: every edge leaving a touched file's nodes, and the nodes of vanished files and
    // vanished symbols (with every edge touching them). Surviving symbol ids keep their nodes.
    let mut drop_all_from: HashSet<NodeIndex> = HashSet::new();
    let mut doomed: HashSet<NodeIndex> = HashSet::new();
    let mut reusable: BTreeMap<&str, BTreeMap<String, NodeIndex>> = BTreeMap::new();
    for path in touched {
        let Some(&file_node) = graph.files.get(path) else {
            continue;
        };
        let old_nodes = graph
            .links
            .get(path.as_str())
            .map(|l| l.symbols.clone())
            .unwrap_or_default();
        match files.get(path) {
            None => {
                doomed.insert(file_node);
                doomed.extend(old_nodes);
                graph.files.remove(path);
                graph.links.remove(path.as_str());
            }
            Some(facts) => {
                drop_all_from.insert(file_node);
                let surviving: HashSet<String> = symbol_ids(path, facts).into_iter().collect();
                let mut keep = BTreeMap::new();
                for node in old_nodes {
                    let Node::Symbol { id, .. } = &graph.graph[node] else {
                        continue;
                    };
                    let id = id.clone();
                    if surviving.contains(&id) {
                        drop_all_from.insert(node);
                        keep.insert(id, node);
                    } else {
                        doomed.insert(node);
                    }
                }
                reusable.insert(path.as_str(), keep);
            }
        }
    }

    // Who must resolve again: the touched files; files whose scope now differs (only possible
    // when the set of paths or packages changed); files that name a changed name.
    let paths = PathIndex::new(files);
    let mut scopes: BTreeMap<&str, FileScope> = files
        .par_iter()
        .filter(|(path, _)| layout_changed || touched.contains(*path))
        .map(|(path, facts)| (path.as_str(), FileScope::new(&paths, files, path, facts)))
        .collect();
    let mut affected: BTreeSet<&str> = scopes
        .iter()
        .filter(|(path, scope)| {
            touched.contains(**path)
                || graph
                    .links
                    .get(**path)
                    .is_none_or(|link| link.scope != scope.hash)
        })
        .map(|(path, _)| *path)
        .collect();
    if !names.is_empty() {
        let names_a_changed_name = |facts: &LinkFacts| {
            facts.references.iter().any(|r| {
                names.contains(r.name.as_str())
                    || r.qualifier
                        .as_deref()
                        .is_some_and(|q| names.contains(super::qualifier_key(q)))
            })
        };
        affected.extend(
            files
                .par_iter()
                .filter(|(_, facts)| names_a_changed_name(facts))
                .map(|(path, _)| path.as_str())
                .collect::<Vec<_>>(),
        );
    }
    let mut drop_resolved_from: HashSet<NodeIndex> = HashSet::new();
    for path in &affected {
        if !scopes.contains_key(path) {
            scopes.insert(path, FileScope::new(&paths, files, path, &files[*path]));
        }
        if !touched.contains(*path) {
            // An unchanged file whose answers may differ: its resolved edges go.
            drop_resolved_from.insert(graph.files[*path]);
            drop_resolved_from.extend(&graph.links[*path].symbols);
        }
    }
    remove_edges_and_nodes(
        &mut graph.graph,
        &drop_all_from,
        &drop_resolved_from,
        &doomed,
        one_by_one,
    );

    // The touched files' nodes as they are now.
    for path in touched {
        let Some(facts) = files.get(path) else {
            continue;
        };
        if !graph.files.contains_key(path) {
            let node = graph.graph.add_node(Node::File { path: path.clone() });
            graph.files.insert(path.clone(), node);
        }
        let reuse = reusable.remove(path.as_str()).unwrap_or_default();
        add_symbols(&mut graph, path, facts, &reuse);
    }
    resolve_files(
        &mut graph,
        files,
        files.keys().map(String::as_str),
        &scopes,
        &affected,
    );
    graph
}

/// Whether a change moves imports or scopes beyond the touched files: a file came or went, a
/// changed package or language moves imports, a re-exporting file whose imports changed
/// changes the scope of every file importing it. Every scope is then worked out again (only
/// files whose scope differs resolve again).
fn layout_changed(
    previous: &BTreeMap<String, LinkFacts>,
    files: &BTreeMap<String, LinkFacts>,
    touched: &BTreeSet<String>,
) -> bool {
    touched.iter().any(|path| {
        let before = previous.get(path).map(|f| (f.language, &f.package));
        let after = files.get(path).map(|f| (f.language, &f.package));
        let imports_before = previous.get(path).map(|f| &f.imports);
        let imports_after = files.get(path).map(|f| &f.imports);
        let same_imports = imports_before.map(|i| i.iter().map(|i| &i.path).collect::<Vec<_>>())
            == imports_after.map(|i| i.iter().map(|i| &i.path).collect::<Vec<_>>());
        before != after || (is_reexporting(path) && !same_imports)
    })
}

/// Whether a change to the file at `path` may move imports or scopes of other files (it is a
/// manifest that names a package, or a re-exporting file): see [`relinkable_from_records`].
pub fn shapes_layout(path: &str) -> bool {
    let file = path.rsplit('/').next().unwrap_or(path);
    matches!(file, "Cargo.toml" | "package.json") || is_reexporting(path)
}

/// Removes the edges leaving `drop_all_from` nodes, the resolved (non-structural) edges leaving
/// `drop_resolved_from` nodes, and the `doomed` nodes with their edges. A handful of edges go
/// one by one; more go in one linear pass that rebuilds the edge lists (removing an edge walks
/// its target's incoming list, which is long for popular definitions), keeping node indices.
fn remove_edges_and_nodes(
    graph: &mut StableDiGraph<Node, Edge>,
    drop_all_from: &HashSet<NodeIndex>,
    drop_resolved_from: &HashSet<NodeIndex>,
    doomed: &HashSet<NodeIndex>,
    one_by_one: usize,
) {
    let goes = |source: NodeIndex, kind: EdgeKind| {
        drop_all_from.contains(&source)
            || (drop_resolved_from.contains(&source)
                && !matches!(kind, EdgeKind::Defines | EdgeKind::Contains))
    };
    let mut edges: Vec<_> = drop_all_from
        .iter()
        .chain(drop_resolved_from)
        .flat_map(|&node| {
            graph
                .edges_directed(node, petgraph::Direction::Outgoing)
                .filter(|e| goes(e.source(), e.weight().kind))
                .map(|e| e.id())
                .collect::<Vec<_>>()
        })
        .collect();
    // Removing a node removes its edges both ways, each one a list walk too.
    let incident: usize = doomed
        .iter()
        .map(|&n| {
            graph
                .edges_directed(n, petgraph::Direction::Incoming)
                .count()
                + graph
                    .edges_directed(n, petgraph::Direction::Outgoing)
                    .count()
        })
        .sum();
    if edges.len() + incident <= one_by_one {
        edges.sort();
        edges.dedup();
        for edge in edges {
            graph.remove_edge(edge);
        }
        for &node in doomed {
            graph.remove_node(node);
        }
        return;
    }
    let dropped: HashSet<EdgeIndex> = edges.into_iter().collect();
    *graph = std::mem::take(graph).filter_map_owned(
        |node, weight| (!doomed.contains(&node)).then_some(weight),
        |index, edge| (!dropped.contains(&index)).then_some(edge),
    );
}

/// Names whose definitions differ between the earlier and the current facts of the touched
/// files: a name gained or lost a definition, a definition got another id, container or kind
/// of member, or a file that stands for a module name appeared or vanished.
fn changed_names(
    previous: &BTreeMap<String, LinkFacts>,
    files: &BTreeMap<String, LinkFacts>,
    touched: &BTreeSet<String>,
) -> std::collections::HashSet<String> {
    /// Per name: each definition's id, container, whether it is an impl block and whether it
    /// is a member (a method or field, which a bare name cannot reach).
    type Definitions<'f> = BTreeMap<&'f str, Vec<(String, Option<&'f str>, bool, bool)>>;
    fn definitions<'f>(path: &str, facts: Option<&'f LinkFacts>) -> Definitions<'f> {
        let mut by_name: Definitions<'f> = BTreeMap::new();
        if let Some(facts) = facts {
            for (symbol, id) in facts.symbols.iter().zip(symbol_ids(path, facts)) {
                let container = symbol
                    .container
                    .map(|parent| facts.symbols[parent as usize].name.as_str());
                by_name.entry(symbol.name.as_str()).or_default().push((
                    id,
                    container,
                    symbol.kind == SymbolKind::Impl,
                    matches!(symbol.kind, SymbolKind::Method | SymbolKind::Field),
                ));
            }
        }
        by_name
    }
    let mut names = std::collections::HashSet::new();
    for path in touched {
        let before = definitions(path, previous.get(path));
        let after = definitions(path, files.get(path));
        for name in before.keys().chain(after.keys()) {
            if before.get(name) != after.get(name) {
                names.insert((*name).to_string());
            }
        }
        if previous.contains_key(path) != files.contains_key(path) {
            names.insert(module_stem(path).to_string());
        }
    }
    names
}

/// Each symbol's stable id, in the order of the file's facts: `path::Container::name`, plus
/// `@line` when the same id repeats in the file.
fn symbol_ids(path: &str, facts: &LinkFacts) -> Vec<String> {
    symbol_tails(facts)
        .into_iter()
        .map(|tail| format!("{path}::{tail}"))
        .collect()
}

/// The ids of a file's symbols without their `path::` prefix: the chain of container names
/// (`Type::method`), with `@line` added to a chain an earlier symbol of the file already has.
pub(super) fn symbol_tails(facts: &LinkFacts) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    facts
        .symbols
        .iter()
        .map(|symbol| {
            let mut chain = vec![symbol.name.as_str()];
            let mut container = symbol.container;
            while let Some(parent) = container {
                let parent_symbol = &facts.symbols[parent as usize];
                chain.push(parent_symbol.name.as_str());
                container = parent_symbol.container;
            }
            chain.reverse();
            let mut tail = chain.join("::");
            if !seen.insert(tail.clone()) {
                tail = format!("{tail}@{}", symbol.span.start);
                seen.insert(tail.clone());
            }
            tail
        })
        .collect()
}

/// Adds a file's symbol nodes (reusing the node of an id in `reuse`, so its incoming edges
/// survive) and their `defines`/`contains` edges; records the nodes in the file's link state.
fn add_symbols(
    graph: &mut CodeGraph,
    path: &str,
    facts: &LinkFacts,
    reuse: &BTreeMap<String, NodeIndex>,
) {
    let structural = Edge {
        kind: EdgeKind::Defines,
        weight: 1.0,
        confidence: 1.0,
        line: 0,
    };
    let file_node = graph.files[path];
    let mut nodes = Vec::with_capacity(facts.symbols.len());
    for (symbol, id) in facts.symbols.iter().zip(symbol_ids(path, facts)) {
        let weight = Node::Symbol {
            id: id.clone(),
            name: symbol.name.clone(),
            kind: symbol.kind,
            path: path.to_string(),
            span: symbol.span,
            signature: symbol.signature.clone(),
        };
        let node = match reuse.get(&id) {
            Some(&node) => {
                graph.graph[node] = weight;
                node
            }
            None => graph.graph.add_node(weight),
        };
        let (source, kind) = match symbol.container {
            Some(parent) => (nodes[parent as usize], EdgeKind::Contains),
            None => (file_node, EdgeKind::Defines),
        };
        graph
            .graph
            .add_edge(source, node, Edge { kind, ..structural });
        nodes.push(node);
    }
    graph.links.entry(path.to_string()).or_default().symbols = nodes;
}
