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

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use petgraph::graph::{EdgeIndex, NodeIndex};
use petgraph::stable_graph::StableDiGraph;
use petgraph::visit::{EdgeRef, NodeIndexable};
use rayon::prelude::*;

use super::{CodeGraph, Edge, EdgeKind, LinkFacts, Node, ResolutionStats};
use crate::facts::{ReferenceKind, SymbolKind};
use crate::lang::Language;

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
        .map(|(path, facts)| (path.as_str(), FileScope::new(&paths, path, facts)))
        .collect();
    let all: BTreeSet<&str> = files.keys().map(String::as_str).collect();
    resolve_files(&mut graph, files, &scopes, &all);
    graph
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
    let layout_changed = touched.iter().any(|path| {
        let before = previous.get(path).map(|f| (f.language, &f.package));
        let after = files.get(path).map(|f| (f.language, &f.package));
        before != after
    });

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
        .map(|(path, facts)| (path.as_str(), FileScope::new(&paths, path, facts)))
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
                        .is_some_and(|q| names.contains(q.rsplit("::").next().unwrap_or(q).trim()))
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
            scopes.insert(path, FileScope::new(&paths, path, &files[*path]));
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
    resolve_files(&mut graph, files, &scopes, &affected);
    graph
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
/// files: a name gained or lost a definition, a definition got another id or container, or a
/// file that stands for a module name appeared or vanished.
fn changed_names(
    previous: &BTreeMap<String, LinkFacts>,
    files: &BTreeMap<String, LinkFacts>,
    touched: &BTreeSet<String>,
) -> std::collections::HashSet<String> {
    type Definitions<'f> = BTreeMap<&'f str, Vec<(String, Option<&'f str>, bool)>>;
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
            let mut id = format!("{path}::{}", chain.join("::"));
            if !seen.insert(id.clone()) {
                id = format!("{id}@{}", symbol.span.start);
                seen.insert(id.clone());
            }
            id
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

/// A file's imports as resolved against the repository's paths, and the scope they give it.
struct FileScope<'a> {
    /// Imported files, each with the line of its first import.
    imported: BTreeMap<&'a str, u32>,
    /// Files whose definitions the file sees after its own: imports and peers.
    scope: BTreeSet<&'a str>,
    /// Go: package name → the repository files of that package (empty when external).
    packages: HashMap<&'a str, Vec<&'a str>>,
    /// Imports resolved to repository files, and imports of something outside.
    resolved: u64,
    external: u64,
    /// Fingerprint of all of the above, kept to tell whether a later layout changes it.
    hash: u64,
}

impl<'a> FileScope<'a> {
    fn new(paths: &PathIndex<'a>, path: &'a str, facts: &'a LinkFacts) -> FileScope<'a> {
        let mut imported: BTreeMap<&str, u32> = BTreeMap::new();
        let mut packages: HashMap<&str, Vec<&str>> = HashMap::new();
        let (mut resolved_count, mut external) = (0, 0);
        for import in &facts.imports {
            let resolved = paths.resolve_import(path, facts.language, &import.path);
            if facts.language == Some(Language::Go) {
                // Go code names a package by the last segment of its import path.
                let name = import.path.rsplit('/').next().unwrap_or(&import.path);
                packages.insert(name, resolved.clone().unwrap_or_default());
            }
            match resolved {
                Some(targets) => {
                    resolved_count += 1;
                    for target in targets {
                        if target != path {
                            imported.entry(target).or_insert(import.line);
                        }
                    }
                }
                None => external += 1,
            }
        }
        let mut scope: BTreeSet<&str> = imported.keys().copied().collect();
        scope.extend(paths.peers(path, facts.language, &imported));
        scope.remove(path);
        let hash = {
            use std::hash::{Hash, Hasher};
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            imported.hash(&mut hasher);
            scope.hash(&mut hasher);
            let mut sorted: Vec<_> = packages.iter().collect();
            sorted.sort();
            sorted.hash(&mut hasher);
            (resolved_count, external).hash(&mut hasher);
            hasher.finish()
        };
        FileScope {
            imported,
            scope,
            packages,
            resolved: resolved_count,
            external,
            hash,
        }
    }
}

/// Resolves the imports and references of the `affected` files (whose resolved edges are not
/// in the graph) against the definitions of all `files`, adds the edges and updates the
/// statistics. Each file resolves independently: in parallel, then added in path order.
fn resolve_files(
    graph: &mut CodeGraph,
    files: &BTreeMap<String, LinkFacts>,
    scopes: &BTreeMap<&str, FileScope>,
    affected: &BTreeSet<&str>,
) {
    // Where each name is defined. Impl blocks are not definitions of their type's name.
    let mut definitions: HashMap<&str, Vec<(&str, NodeIndex)>> = HashMap::new();
    // Definitions by (qualifier, name): `Type::f` finds `f` inside `Type` (or an impl of it)
    // and `module::f` finds `f` in file `module.rs`; every qualifier known in the repository.
    let mut qualified: HashMap<(&str, &str), Vec<(&str, NodeIndex)>> = HashMap::new();
    let mut known_qualifiers: std::collections::HashSet<&str> = std::collections::HashSet::new();
    for (path, facts) in files {
        let module = module_stem(path);
        known_qualifiers.insert(module);
        for (symbol, &node) in facts.symbols.iter().zip(&graph.links[path].symbols) {
            known_qualifiers.insert(symbol.name.as_str());
            if symbol.kind == SymbolKind::Impl {
                continue;
            }
            definitions
                .entry(symbol.name.as_str())
                .or_default()
                .push((path.as_str(), node));
            let container = symbol
                .container
                .map(|parent| facts.symbols[parent as usize].name.as_str());
            if let Some(container) = container {
                qualified
                    .entry((container, symbol.name.as_str()))
                    .or_default()
                    .push((path.as_str(), node));
            }
            if container != Some(module) {
                qualified
                    .entry((module, symbol.name.as_str()))
                    .or_default()
                    .push((path.as_str(), node));
            }
        }
    }
    let defining_files: HashMap<&str, usize> = definitions
        .iter()
        .map(|(name, defs)| {
            (
                *name,
                defs.iter().map(|(p, _)| *p).collect::<BTreeSet<_>>().len(),
            )
        })
        .collect();
    let per_file: Vec<(&str, FileEdges, ResolutionStats)> = affected
        .par_iter()
        .map(|path| {
            let facts = &files[*path];
            let scope = &scopes[path];
            let context = FileContext {
                path,
                language: facts.language,
                nodes: &graph.links[*path].symbols,
                file_node: graph.files[*path],
                scope: &scope.scope,
                packages: &scope.packages,
                definitions: &definitions,
                qualified: &qualified,
                known_qualifiers: &known_qualifiers,
                defining_files: &defining_files,
            };
            let (edges, mut stats) = context.resolve(facts);
            stats.imports_resolved = scope.resolved;
            stats.imports_external = scope.external;
            (*path, edges, stats)
        })
        .collect();
    for (path, edges, file_stats) in per_file {
        let scope = &scopes[path];
        let file_node = graph.files[path];
        for (&target, &line) in &scope.imported {
            let edge = Edge {
                kind: EdgeKind::Imports,
                weight: 1.0,
                confidence: 1.0,
                line,
            };
            graph.graph.add_edge(file_node, graph.files[target], edge);
        }
        for ((source, target, _), edge) in edges {
            graph.graph.add_edge(source, target, edge);
        }
        let link = graph.links.entry(path.to_string()).or_default();
        link.stats = file_stats;
        link.scope = scope.hash;
    }
    graph.resolved_files = affected.len();
    let mut stats = ResolutionStats::default();
    for link in graph.links.values() {
        stats.resolved += link.stats.resolved;
        stats.ambiguous += link.stats.ambiguous;
        stats.unresolved += link.stats.unresolved;
        stats.imports_resolved += link.stats.imports_resolved;
        stats.imports_external += link.stats.imports_external;
    }
    graph.stats = stats;
}

/// What resolving one file's references needs.
struct FileContext<'a> {
    path: &'a str,
    language: Option<Language>,
    nodes: &'a [NodeIndex],
    file_node: NodeIndex,
    scope: &'a BTreeSet<&'a str>,
    /// Go: package name → the repository files of that package (empty when external).
    packages: &'a HashMap<&'a str, Vec<&'a str>>,
    definitions: &'a HashMap<&'a str, Vec<(&'a str, NodeIndex)>>,
    qualified: &'a HashMap<(&'a str, &'a str), Vec<(&'a str, NodeIndex)>>,
    known_qualifiers: &'a std::collections::HashSet<&'a str>,
    defining_files: &'a HashMap<&'a str, usize>,
}

/// What a qualifier says about where a name is defined.
enum Qualified<'a> {
    /// No qualifier, or one that says nothing (`self`, a Go variable): resolve by scope.
    Unqualified,
    /// Only these candidates can be meant.
    Only(Vec<(&'a str, NodeIndex)>),
    /// The qualifier names something outside the repository (`HashMap`, `time`): no edge.
    External,
}

/// The targets chosen for a name, the confidence they share, and the common-name discount.
type Choice = (Vec<NodeIndex>, f32, f32);

/// Edges from one file, keyed so several references from one source to one target add up.
type FileEdges = BTreeMap<(NodeIndex, NodeIndex, EdgeKind), Edge>;

impl FileContext<'_> {
    fn resolve(&self, facts: &LinkFacts) -> (FileEdges, ResolutionStats) {
        let mut edges = FileEdges::new();
        let mut stats = ResolutionStats::default();
        // The choice depends only on the name and qualifier within one file: decide each once.
        let mut chosen_by_name: HashMap<(&str, Option<&str>, bool), Option<Choice>> =
            HashMap::new();
        for reference in &facts.references {
            let source = reference
                .container
                .map_or(self.file_node, |c| self.nodes[c as usize]);
            let kind = match reference.kind {
                ReferenceKind::Call => EdgeKind::Calls,
                ReferenceKind::Type => EdgeKind::References,
                ReferenceKind::Implementation => EdgeKind::Implements,
            };
            let key = (
                reference.name.as_str(),
                reference.qualifier.as_deref(),
                reference.on_value,
            );
            let decided = chosen_by_name.entry(key).or_insert_with(|| {
                let candidates = self.definitions.get(reference.name.as_str())?;
                let (chosen, confidence) = match self.qualified(
                    reference.name.as_str(),
                    reference.qualifier.as_deref(),
                    candidates,
                ) {
                    Qualified::External => return None,
                    Qualified::Only(only) if only.is_empty() => return None,
                    Qualified::Only(only) => choose(self.path, self.scope, &only, true)?,
                    Qualified::Unqualified => {
                        choose(self.path, self.scope, candidates, !reference.on_value)?
                    }
                };
                let defining = self
                    .defining_files
                    .get(reference.name.as_str())
                    .copied()
                    .unwrap_or(1);
                Some((chosen, confidence, 1.0 / (1.0 + (defining as f32).ln())))
            });
            let Some((chosen, confidence, discount)) = decided else {
                stats.unresolved += 1;
                continue;
            };
            if chosen.len() == 1 {
                stats.resolved += 1;
            } else {
                stats.ambiguous += 1;
            }
            let share = *confidence / chosen.len() as f32;
            for &target in chosen.iter() {
                if target == source {
                    continue;
                }
                let edge = edges.entry((source, target, kind)).or_insert(Edge {
                    kind,
                    weight: 0.0,
                    confidence: share,
                    line: reference.line,
                });
                edge.weight += share * *discount;
            }
        }
        (edges, stats)
    }

    /// Narrows the candidates for a qualified name.
    fn qualified<'c>(
        &'c self,
        name: &str,
        qualifier: Option<&str>,
        candidates: &'c [(&'c str, NodeIndex)],
    ) -> Qualified<'c> {
        let Some(qualifier) = qualifier else {
            return Qualified::Unqualified;
        };
        if self.language == Some(Language::Go) {
            // Only a package name qualifies in Go; `b.refill()` is a method on a value.
            return match self.packages.get(qualifier) {
                None => Qualified::Unqualified,
                Some(files) if files.is_empty() => Qualified::External,
                Some(files) => Qualified::Only(
                    candidates
                        .iter()
                        .filter(|(p, _)| files.contains(p))
                        .copied()
                        .collect(),
                ),
            };
        }
        // Rust paths and C++ scopes: `a::b::Type` qualifies by its last segment.
        let last = qualifier.rsplit("::").next().unwrap_or(qualifier).trim();
        if matches!(last, "Self" | "self" | "super" | "crate" | "") {
            return Qualified::Unqualified;
        }
        if !self.known_qualifiers.contains(last) {
            return Qualified::External;
        }
        Qualified::Only(
            self.qualified
                .get(&(last, name))
                .cloned()
                .unwrap_or_default(),
        )
    }
}

/// The module name a file stands for: its stem, or its directory's name for `mod.rs`.
fn module_stem(path: &str) -> &str {
    let (dir, file) = path.rsplit_once('/').unwrap_or(("", path));
    let stem = file.split('.').next().unwrap_or(file);
    if stem == "mod" {
        dir.rsplit('/').next().unwrap_or(stem)
    } else {
        stem
    }
}

/// Picks the definitions a reference from `path` means, and the confidence they share; with
/// `global` false, only the file and its scope are searched.
///
/// `candidates` are sorted by path (they are collected in path order), so the same-file and
/// scope tiers are binary searches and the nearest candidates of an ambiguous name sit around
/// `path`'s position: linking stays near-linear in the repository's size even for names like
/// `new` that thousands of files define.
fn choose(
    path: &str,
    scope: &BTreeSet<&str>,
    candidates: &[(&str, NodeIndex)],
    global: bool,
) -> Option<(Vec<NodeIndex>, f32)> {
    let in_file = |file: &str| {
        let start = candidates.partition_point(|(p, _)| *p < file);
        let end = candidates.partition_point(|(p, _)| *p <= file);
        candidates[start..end].iter().map(|(_, n)| *n)
    };
    let same_file: Vec<NodeIndex> = in_file(path).collect();
    if !same_file.is_empty() {
        return Some((same_file, SAME_FILE_CONFIDENCE));
    }
    let in_scope: Vec<NodeIndex> = scope.iter().flat_map(|file| in_file(file)).collect();
    if !in_scope.is_empty() {
        return Some((in_scope, IMPORTED_CONFIDENCE));
    }
    if !global {
        return None;
    }
    if candidates.len() == 1 {
        return Some((vec![candidates[0].1], UNIQUE_GLOBAL_CONFIDENCE));
    }
    // Paths sharing the most leading components with `path` sort next to it; a window around
    // its position holds the nearest ones.
    let position = candidates.partition_point(|(p, _)| *p < path);
    let reach = 4 * MAX_CANDIDATES;
    let window =
        &candidates[position.saturating_sub(reach)..(position + reach).min(candidates.len())];
    let mut nearest: Vec<(usize, &str, NodeIndex)> = window
        .iter()
        .map(|(p, n)| (shared_prefix(path, p), *p, *n))
        .collect();
    nearest.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)).then(a.2.cmp(&b.2)));
    nearest.truncate(MAX_CANDIDATES);
    Some((
        nearest.into_iter().map(|(_, _, n)| n).collect(),
        AMBIGUOUS_CONFIDENCE,
    ))
}

/// Number of leading path components two paths share.
fn shared_prefix(a: &str, b: &str) -> usize {
    a.split('/')
        .zip(b.split('/'))
        .take_while(|(x, y)| x == y)
        .count()
}

fn last_component(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The candidates (paths) that are `suffix` or end with `/suffix`.
fn ends_with_path<'a>(candidates: Option<&Vec<&'a str>>, suffix: &str) -> Vec<&'a str> {
    let slashed = format!("/{suffix}");
    candidates
        .map(|list| {
            list.iter()
                .filter(|p| **p == suffix || p.ends_with(&slashed))
                .copied()
                .collect()
        })
        .unwrap_or_default()
}

fn parent_dir(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(dir, _)| dir)
}

fn join(dir: &str, rest: &str) -> String {
    if dir.is_empty() {
        rest.to_string()
    } else {
        format!("{dir}/{rest}")
    }
}

/// Resolves `.` and `..` components; `None` if the path climbs above the root.
fn normalise(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            other => parts.push(other),
        }
    }
    Some(parts.join("/"))
}

/// Lookups over the set of indexed paths that import resolution needs.
struct PathIndex<'a> {
    paths: BTreeSet<&'a str>,
    /// Rust package name (with `-` as `_`, as code writes it) → its `src` directory.
    rust_crates: HashMap<String, String>,
    by_dir: BTreeMap<&'a str, Vec<&'a str>>,
    /// File name → paths with that name, and directory name → directories with that name, in
    /// path order: suffix lookups (`com/acme/X.java`, `include/x.h`) then look only at files
    /// that can match instead of scanning every path for every import.
    by_file_name: HashMap<&'a str, Vec<&'a str>>,
    dirs_by_name: HashMap<&'a str, Vec<&'a str>>,
    python_modules: HashMap<String, Vec<&'a str>>,
    languages: HashMap<&'a str, Option<Language>>,
}

const SCRIPT_EXTENSIONS: [&str; 8] = [
    ".ts", ".tsx", ".d.ts", ".js", ".jsx", ".mjs", ".cjs", ".mts",
];
const C_SOURCE_EXTENSIONS: [&str; 4] = ["c", "cc", "cpp", "cxx"];

impl<'a> PathIndex<'a> {
    fn new(files: &'a BTreeMap<String, LinkFacts>) -> PathIndex<'a> {
        let mut by_dir: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        let mut python_modules: HashMap<String, Vec<&str>> = HashMap::new();
        for path in files.keys() {
            by_dir.entry(parent_dir(path)).or_default().push(path);
            if let Some(module) = path
                .strip_suffix(".py")
                .or_else(|| path.strip_suffix(".pyi"))
            {
                let module = module.strip_suffix("/__init__").unwrap_or(module);
                let parts: Vec<&str> = module.split('/').collect();
                // Every suffix is a possible import name, since source roots (`src/`, `lib/`)
                // are not known: `src/pkg/mod.py` answers to `pkg.mod` and `src.pkg.mod`.
                for start in 0..parts.len() {
                    python_modules
                        .entry(parts[start..].join("."))
                        .or_default()
                        .push(path);
                }
            }
        }
        let paths: BTreeSet<&str> = files.keys().map(String::as_str).collect();
        let rust_crates = files
            .iter()
            .filter_map(|(path, facts)| {
                let source = join(parent_dir(path), "src");
                let has_lib = paths.contains(join(&source, "lib.rs").as_str());
                Some((facts.package.as_ref()?.replace('-', "_"), source)).filter(|_| has_lib)
            })
            .collect();
        let mut by_file_name: HashMap<&str, Vec<&str>> = HashMap::new();
        for path in &paths {
            by_file_name
                .entry(last_component(path))
                .or_default()
                .push(path);
        }
        let mut dirs_by_name: HashMap<&str, Vec<&str>> = HashMap::new();
        for dir in by_dir.keys() {
            dirs_by_name
                .entry(last_component(dir))
                .or_default()
                .push(dir);
        }
        PathIndex {
            paths,
            rust_crates,
            by_file_name,
            dirs_by_name,
            by_dir,
            python_modules,
            languages: files
                .iter()
                .map(|(p, f)| (p.as_str(), f.language))
                .collect(),
        }
    }

    fn existing(&self, candidate: &str) -> Option<&'a str> {
        self.paths.get(candidate).copied()
    }

    /// Files an import names, or `None` for an import of something outside the repository.
    fn resolve_import(
        &self,
        path: &str,
        language: Option<Language>,
        import: &str,
    ) -> Option<Vec<&'a str>> {
        let found = match language? {
            Language::Rust => self.rust(path, import),
            Language::Python => self.python(path, import),
            Language::JavaScript | Language::TypeScript | Language::Tsx => {
                self.script(path, import)
            }
            Language::Go => self.go(import),
            Language::Java => self.java(import),
            Language::C | Language::Cpp => self.include(path, import),
            Language::Text => Vec::new(),
        };
        (!found.is_empty()).then_some(found)
    }

    /// The directory holding a Rust file's submodules: its own directory for `lib.rs`,
    /// `main.rs` and `mod.rs`, else `dir/stem`.
    fn rust_module_dir(path: &str) -> String {
        let (dir, file) = path.rsplit_once('/').unwrap_or(("", path));
        match file {
            "lib.rs" | "main.rs" | "mod.rs" => dir.to_string(),
            other => join(dir, other.trim_end_matches(".rs")),
        }
    }

    fn rust_module_file(&self, dir: &str) -> Option<&'a str> {
        self.existing(&format!("{dir}.rs"))
            .or_else(|| self.existing(&join(dir, "mod.rs")))
    }

    fn rust(&self, path: &str, import: &str) -> Vec<&'a str> {
        let module_dir = Self::rust_module_dir(path);
        // `mod foo;`: a bare identifier.
        if !import.contains("::")
            && !import.contains('{')
            && let Some(file) = self.rust_module_file(&join(&module_dir, import))
        {
            return vec![file];
        }
        let head = import
            .split("::{")
            .next()
            .unwrap_or(import)
            .trim_start_matches("::");
        let segments: Vec<&str> = head
            .split("::")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        let Some((first, rest)) = segments.split_first() else {
            return Vec::new();
        };
        let base = match *first {
            "crate" => self.crate_root(path),
            "self" => Some(module_dir.clone()),
            "super" => {
                let mut dir = parent_dir(&module_dir).to_string();
                let mut rest_iter = rest.iter();
                let mut skipped = 0;
                while rest_iter.next() == Some(&"super") {
                    dir = parent_dir(&dir).to_string();
                    skipped += 1;
                }
                return self.rust_longest(&dir, &rest[skipped..]);
            }
            _ => None,
        };
        if base.is_none()
            && let Some(source) = self.rust_crates.get(*first)
        {
            // `use other_crate::a::b` in a workspace: the crate's own sources.
            let found = self.rust_longest(source, rest);
            return if found.is_empty() {
                self.existing(&join(source, "lib.rs")).into_iter().collect()
            } else {
                found
            };
        }
        match base {
            Some(base) => self.rust_longest(&base, rest),
            // `use foo::bar` relative to the current module (a sibling `mod foo`).
            None => self.rust_longest(&module_dir, &segments),
        }
    }

    fn rust_longest(&self, base: &str, segments: &[&str]) -> Vec<&'a str> {
        for length in (1..=segments.len()).rev() {
            if let Some(file) = self.rust_module_file(&join(base, &segments[..length].join("/"))) {
                return vec![file];
            }
        }
        Vec::new()
    }

    /// The directory of the crate root (`lib.rs` or `main.rs`) above a file.
    fn crate_root(&self, path: &str) -> Option<String> {
        let mut dir = parent_dir(path);
        loop {
            if self.existing(&join(dir, "lib.rs")).is_some()
                || self.existing(&join(dir, "main.rs")).is_some()
            {
                return Some(dir.to_string());
            }
            if dir.is_empty() {
                return None;
            }
            dir = parent_dir(dir);
        }
    }

    fn python(&self, path: &str, import: &str) -> Vec<&'a str> {
        let dots = import.len() - import.trim_start_matches('.').len();
        let name = &import[dots..];
        if dots > 0 {
            let mut dir = parent_dir(path).to_string();
            for _ in 1..dots {
                dir = parent_dir(&dir).to_string();
            }
            let relative = if name.is_empty() {
                dir.clone()
            } else {
                join(&dir, &name.replace('.', "/"))
            };
            let found = self
                .existing(&format!("{relative}.py"))
                .or_else(|| self.existing(&join(&relative, "__init__.py")));
            return found.into_iter().collect();
        }
        let parts: Vec<&str> = name.split('.').collect();
        for length in (1..=parts.len()).rev() {
            if let Some(candidates) = self.python_modules.get(&parts[..length].join(".")) {
                // The shortest path is the most likely top-level package.
                let best = candidates.iter().min_by_key(|p| (p.len(), **p)).copied();
                return best.into_iter().collect();
            }
        }
        Vec::new()
    }

    fn script(&self, path: &str, import: &str) -> Vec<&'a str> {
        if !import.starts_with('.') {
            return Vec::new();
        }
        let Some(base) = normalise(&join(parent_dir(path), import)) else {
            return Vec::new();
        };
        let stripped = SCRIPT_EXTENSIONS
            .iter()
            .find_map(|e| base.strip_suffix(e))
            .unwrap_or(&base);
        let mut candidates = vec![base.clone()];
        candidates.extend(SCRIPT_EXTENSIONS.iter().map(|e| format!("{stripped}{e}")));
        candidates.extend(SCRIPT_EXTENSIONS.iter().map(|e| format!("{base}/index{e}")));
        candidates
            .iter()
            .find_map(|c| self.existing(c))
            .into_iter()
            .collect()
    }

    /// A Go import path names a package directory; the module prefix is not known without
    /// go.mod, so the longest suffix of the import path that is a directory of Go files wins.
    fn go(&self, import: &str) -> Vec<&'a str> {
        let parts: Vec<&str> = import.split('/').collect();
        for start in 0..parts.len() {
            let dir = parts[start..].join("/");
            if let Some(files) = self.by_dir.get(dir.as_str()) {
                let go: Vec<&str> = files
                    .iter()
                    .filter(|f| f.ends_with(".go") && !f.ends_with("_test.go"))
                    .copied()
                    .collect();
                if !go.is_empty() {
                    return go;
                }
            }
        }
        Vec::new()
    }

    fn java(&self, import: &str) -> Vec<&'a str> {
        let import = import.trim_end_matches(".*");
        let parts: Vec<&str> = import.split('.').collect();
        for length in (1..=parts.len()).rev() {
            let suffix = parts[..length].join("/");
            let file = format!("{suffix}.java");
            let found = self.files_ending_with(&file);
            if !found.is_empty() {
                return found;
            }
            if length == parts.len() {
                // A package import (`com.acme.*`): every class in that directory.
                let package: Vec<&str> =
                    ends_with_path(self.dirs_by_name.get(last_component(&suffix)), &suffix)
                        .into_iter()
                        .flat_map(|dir| {
                            self.by_dir[dir]
                                .iter()
                                .filter(|f| f.ends_with(".java"))
                                .copied()
                        })
                        .collect();
                if !package.is_empty() {
                    return package;
                }
            }
        }
        Vec::new()
    }

    fn include(&self, path: &str, import: &str) -> Vec<&'a str> {
        if let Some(local) =
            normalise(&join(parent_dir(path), import)).and_then(|p| self.existing(&p))
        {
            return vec![local];
        }
        let mut found = self.files_ending_with(import);
        found.sort_by(|a, b| {
            shared_prefix(path, b)
                .cmp(&shared_prefix(path, a))
                .then(a.cmp(b))
        });
        found.into_iter().take(1).collect()
    }

    /// Indexed files whose path is `suffix` or ends with `/suffix`, in path order.
    fn files_ending_with(&self, suffix: &str) -> Vec<&'a str> {
        ends_with_path(self.by_file_name.get(last_component(suffix)), suffix)
    }

    /// Files in a file's scope without an import: Go and Java package peers (same directory,
    /// same language), and the source files paired with included C/C++ headers.
    fn peers(
        &self,
        path: &str,
        language: Option<Language>,
        imported: &BTreeMap<&str, u32>,
    ) -> Vec<&'a str> {
        match language {
            Some(Language::Go | Language::Java) => {
                self.by_dir
                    .get(parent_dir(path))
                    .map_or_else(Vec::new, |files| {
                        files
                            .iter()
                            .filter(|f| self.languages.get(**f) == Some(&language))
                            .copied()
                            .collect()
                    })
            }
            Some(Language::C | Language::Cpp) => imported
                .keys()
                .filter_map(|header| header.rsplit_once('.').map(|(stem, _)| stem))
                .flat_map(|stem| {
                    C_SOURCE_EXTENSIONS
                        .iter()
                        .filter_map(move |e| self.existing(&format!("{stem}.{e}")))
                })
                .collect(),
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalise_resolves_dots() {
        assert_eq!(normalise("a/./b/../c").as_deref(), Some("a/c"));
        assert_eq!(normalise("../x"), None);
    }

    #[test]
    fn rust_module_dirs() {
        assert_eq!(PathIndex::rust_module_dir("src/lib.rs"), "src");
        assert_eq!(PathIndex::rust_module_dir("src/auth.rs"), "src/auth");
        assert_eq!(PathIndex::rust_module_dir("src/auth/mod.rs"), "src/auth");
    }
}
