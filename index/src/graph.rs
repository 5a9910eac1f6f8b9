//! The knowledge graph: files and symbols as nodes; `defines`, `contains`, `calls`,
//! `references`, `implements` and `imports` as edges, linked across the repository after the
//! per-file extraction.
//!
//! Linking is global and deterministic: the same facts give the same graph, node for node, so
//! an incrementally updated index equals a full rebuild. See [`resolve`] for how a reference
//! finds its definition.

pub mod algo;
pub mod records;
pub mod resolve;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use petgraph::Direction;
use petgraph::graph::{EdgeIndex, NodeIndex};
use petgraph::stable_graph::StableDiGraph;
use petgraph::visit::{EdgeRef, IntoEdgeReferences};
use serde::{Deserialize, Serialize};

use crate::facts::{Import, LineSpan, Reference, Symbol, SymbolKind};
use crate::lang::Language;

/// What the linker needs of one file: its language and syntax facts (chunks are not needed).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkFacts {
    /// The file's language, which decides how its imports resolve.
    pub language: Option<Language>,
    /// Definitions.
    pub symbols: Vec<Symbol>,
    /// References.
    pub references: Vec<Reference>,
    /// Imports.
    pub imports: Vec<Import>,
    /// The package a manifest declares (a `Cargo.toml`'s `[package] name`, a `package.json`'s
    /// `name`), so imports of that package by name resolve to its sources.
    pub package: Option<String>,
}

impl LinkFacts {
    /// Leaves only what linking the whole tree reads of every file (names, kinds, spans and
    /// containers of symbols; imports; package), dropping references, signatures and docs:
    /// what a cold run holds for every file while the link decodes the whole facts of a
    /// batch of files at a time ([`resolve::link_in_batches`]).
    pub fn make_lean(&mut self) {
        self.references = Vec::new();
        for symbol in &mut self.symbols {
            symbol.signature = String::new();
            symbol.doc = None;
        }
    }

    /// The names the file defines, each once.
    pub fn defined_names(&self) -> std::collections::BTreeSet<&str> {
        self.symbols.iter().map(|s| s.name.as_str()).collect()
    }

    /// The words of the file's import specifiers (the file at `path`), each once
    /// (`crate::auth::jwt` → `crate`, `auth`, `jwt`; `../native/x.h` → `native`, `x`, `h`):
    /// an import can only resolve to a path with one of its words in the file's stem or a
    /// directory name ([`path_words`]), so when a file comes or goes, only files with one of
    /// its words can import it. A specifier of dots alone (`from . import x`, `'..'`) names
    /// the directory it climbs to, whose name is added.
    pub fn import_words<'s>(&'s self, path: &'s str) -> std::collections::BTreeSet<&'s str> {
        let mut words: std::collections::BTreeSet<&str> = self
            .imports
            .iter()
            .flat_map(|import| words_of(&import.path))
            .collect();
        for import in &self.imports {
            let spec = import.path.as_str();
            if spec.is_empty() || !spec.chars().all(|c| c == '.' || c == '/') {
                continue;
            }
            // Python counts dots (`.` is the file's package, `..` its parent); scripts count
            // `..` segments: both readings are kept.
            let dots = spec.chars().filter(|c| *c == '.').count();
            let parents = spec.split('/').filter(|s| *s == "..").count();
            let dirs: Vec<&str> = path.split('/').rev().skip(1).collect();
            for up in [dots.saturating_sub(1), parents] {
                if let Some(dir) = dirs.get(up) {
                    words.extend(words_of(dir));
                }
            }
        }
        words
    }

    /// The names the file's references look up, each once: each reference's name and its
    /// qualifier's last segment (`b` of `a::b::f`), the only keys the resolver asks about.
    pub fn looked_up_names(&self) -> std::collections::BTreeSet<&str> {
        let mut names = std::collections::BTreeSet::new();
        for reference in &self.references {
            names.insert(reference.name.as_str());
            if let Some(qualifier) = reference.qualifier.as_deref() {
                names.insert(qualifier_key(qualifier));
            }
        }
        names
    }

    /// The package a file declares when it is a manifest the linker reads: a `Cargo.toml`'s
    /// `[package] name` or a `package.json`'s `name`; `None` for every other file.
    pub fn manifest_package(path: &str, text: &str) -> Option<String> {
        let file = path.rsplit('/').next().unwrap_or(path);
        match file {
            "Cargo.toml" => cargo_package_name(text),
            "package.json" => package_json_name(text),
            _ => None,
        }
    }
}

/// The words an import that resolves to `path` must contain one of (see
/// [`LinkFacts::import_words`]), split as import specifiers are (`my-utils.ts` → `my`,
/// `utils`): the file's stem, and its directory's name where the directory is what imports
/// name — a Go or Java package, a Rust `mod.rs`, a Python package's `__init__.py`, a script
/// directory's `index` file.
pub fn path_words(path: &str) -> std::collections::BTreeSet<&str> {
    let (dir, file) = path.rsplit_once('/').unwrap_or(("", path));
    let stem = file.split('.').next().unwrap_or(file);
    let extension = file.rsplit_once('.').map_or("", |(_, e)| e);
    let dir_is_named =
        matches!(extension, "go" | "java") || matches!(stem, "mod" | "__init__" | "index");
    let dir_name = dir.rsplit('/').next().unwrap_or(dir);
    words_of(stem)
        .chain(words_of(dir_name).filter(|_| dir_is_named))
        .collect()
}

/// The words of an import specifier or a path: runs of letters, digits and `_`.
fn words_of(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|word| !word.is_empty())
}

/// The part of a reference's qualifier the resolver looks definitions up by: its last `::`
/// segment (`b` of `a::b`), trimmed.
pub fn qualifier_key(qualifier: &str) -> &str {
    qualifier.rsplit("::").next().unwrap_or(qualifier).trim()
}

/// The `[package] name` of a `Cargo.toml`, read line by line (no full TOML parse needed for one
/// key; a manifest that does not follow the common layout simply declares nothing).
pub fn cargo_package_name(text: &str) -> Option<String> {
    let mut in_package = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_package = line == "[package]";
            continue;
        }
        if in_package
            && let Some((key, value)) = line.split_once('=')
            && key.trim() == "name"
        {
            let name = value.trim().trim_matches('"').trim_matches('\'');
            return (!name.is_empty()).then(|| name.to_string());
        }
    }
    None
}

/// The `name` of a `package.json` (`@vue/shared`): a workspace package that other packages
/// of the repository import by that name. `None` when the file is not a JSON object with one.
pub fn package_json_name(text: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Manifest {
        name: Option<String>,
    }
    let manifest: Manifest = serde_json::from_str(text).ok()?;
    manifest.name.filter(|name| !name.trim().is_empty())
}

/// A node: a file or a symbol.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Node {
    /// A file, by path relative to the root.
    File {
        /// Path.
        path: String,
    },
    /// A definition.
    Symbol {
        /// Stable id: `path::Container::name` (plus `@line` if the same id repeats in a file).
        id: String,
        /// The defined name.
        name: String,
        /// What it is.
        kind: SymbolKind,
        /// The file that defines it.
        path: String,
        /// Its lines.
        span: LineSpan,
        /// Its signature as extracted (the outline line an agent is shown).
        #[serde(default)]
        signature: String,
    },
}

impl Node {
    /// The file path of a file node or of a symbol's file.
    pub fn path(&self) -> &str {
        match self {
            Node::File { path } | Node::Symbol { path, .. } => path,
        }
    }

    /// The id shown to people: the path for files, the symbol id for symbols.
    pub fn label(&self) -> &str {
        match self {
            Node::File { path } => path,
            Node::Symbol { id, .. } => id,
        }
    }
}

/// What an edge says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EdgeKind {
    /// File → top-level symbol it defines.
    Defines,
    /// Symbol → symbol nested in it.
    Contains,
    /// Caller (symbol, or file for top-level code) → called symbol.
    Calls,
    /// User → used type.
    References,
    /// Implementing type's site → implemented trait, interface or base class.
    Implements,
    /// File → file it imports or includes.
    Imports,
}

impl EdgeKind {
    /// Lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            EdgeKind::Defines => "defines",
            EdgeKind::Contains => "contains",
            EdgeKind::Calls => "calls",
            EdgeKind::References => "references",
            EdgeKind::Implements => "implements",
            EdgeKind::Imports => "imports",
        }
    }
}

/// An edge's meaning and strength.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Edge {
    /// What it says.
    pub kind: EdgeKind,
    /// How much it counts in ranking: confidence, discounted for common names and split
    /// between ambiguous candidates.
    pub weight: f32,
    /// How sure the resolution is (1.0 for structural edges and same-file references).
    pub confidence: f32,
    /// Line of the reference or import in the source file (0 for structural edges).
    pub line: u32,
}

/// Counts of how references resolved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolutionStats {
    /// References resolved to exactly one definition.
    pub resolved: u64,
    /// References with several candidate definitions (capped low-confidence edges).
    pub ambiguous: u64,
    /// References with no definition in the repository (library calls, builtins).
    pub unresolved: u64,
    /// Imports resolved to a file in the repository.
    pub imports_resolved: u64,
    /// Imports of something outside the repository.
    pub imports_external: u64,
}

impl ResolutionStats {
    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &ResolutionStats) {
        self.resolved += other.resolved;
        self.ambiguous += other.ambiguous;
        self.unresolved += other.unresolved;
        self.imports_resolved += other.imports_resolved;
        self.imports_external += other.imports_external;
    }
}

/// What the linker keeps per file so a later run can relink only what a change touches.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct FileLink {
    /// The node of each of the file's symbols, in the order of its facts.
    symbols: Vec<NodeIndex>,
    /// How the file's references and imports resolved.
    stats: ResolutionStats,
    /// Fingerprint of the file's resolved imports and scope.
    scope: u64,
}

/// The linked graph of a repository.
///
/// Nodes live in a stable graph: an incremental update removes and adds nodes without
/// renumbering the others, so per-file state stays valid; freed slots are reclaimed by a
/// fresh link once they are a quarter of all slots.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct CodeGraph {
    /// Nodes and edges.
    pub graph: StableDiGraph<Node, Edge>,
    /// How references and imports resolved.
    pub stats: ResolutionStats,
    /// File path → its node. (Symbols are found through their file's link state: a map by
    /// id cost a third of the graph's load time at 1.9M lines.)
    files: BTreeMap<String, NodeIndex>,
    /// File path → its link state.
    links: BTreeMap<String, FileLink>,
    /// Files whose references the link that produced this graph resolved: all of them for a
    /// fresh link, the affected ones for an update (not stored).
    #[serde(skip)]
    pub resolved_files: usize,
    /// The files whose records the link that produced this graph changed: the resolved
    /// files (all for a fresh link), sorted (not stored).
    #[serde(skip)]
    pub relinked: Vec<String>,
    /// Of a graph read in part: names whose definitions were not all read (defined in too
    /// many files to say which is meant), so that [`CodeGraph::find_symbols`] cannot tell
    /// where they are defined (not stored).
    #[serde(skip)]
    pub unread_names: std::collections::BTreeSet<String>,
}

impl PartialEq for CodeGraph {
    /// Two graphs are equal when they have the same nodes and edges by label, whatever slots
    /// the nodes occupy.
    fn eq(&self, other: &Self) -> bool {
        self.stats == other.stats
            && self.canonical_edges() == other.canonical_edges()
            && self.node_labels() == other.node_labels()
    }
}

impl CodeGraph {
    /// Links the facts of every file into a graph.
    pub fn build(files: &BTreeMap<String, LinkFacts>) -> CodeGraph {
        resolve::link(files)
    }

    /// This graph, linked from earlier facts, brought up to date with `files` after the paths
    /// in `touched` were added, changed or removed (`previous` holds their earlier facts):
    /// only what the change can affect is re-resolved. Equal to [`CodeGraph::build`] on
    /// `files`.
    pub fn update(
        self,
        files: &BTreeMap<String, LinkFacts>,
        previous: &BTreeMap<String, LinkFacts>,
        touched: &std::collections::BTreeSet<String>,
    ) -> CodeGraph {
        resolve::relink(self, files, previous, touched)
    }

    /// The node of a file.
    pub fn file(&self, path: &str) -> Option<NodeIndex> {
        self.files.get(path).copied()
    }

    /// The node of a symbol id (`path::Container::name`).
    pub fn symbol(&self, id: &str) -> Option<NodeIndex> {
        // The path is the part before one of the `::` (the first, unless a path has one).
        id.match_indices("::").find_map(|(at, _)| {
            let link = self.links.get(&id[..at])?;
            link.symbols.iter().copied().find(
                |node| matches!(&self.graph[*node], Node::Symbol { id: found, .. } if found == id),
            )
        })
    }

    /// Symbols whose id or name is `query`: an exact id wins; otherwise every symbol with that
    /// name (or whose id ends with `::query`), sorted by id.
    pub fn find_symbols(&self, query: &str) -> Vec<NodeIndex> {
        if let Some(node) = self.symbol(query) {
            return vec![node];
        }
        let suffix = format!("::{query}");
        let mut found: Vec<(&str, NodeIndex)> = self
            .links
            .values()
            .flat_map(|link| link.symbols.iter().copied())
            .filter_map(|node| match &self.graph[node] {
                Node::Symbol { id, name, .. } if name == query || id.ends_with(&suffix) => {
                    Some((id.as_str(), node))
                }
                _ => None,
            })
            .collect();
        found.sort();
        found.dedup();
        found.into_iter().map(|(_, node)| node).collect()
    }

    /// The symbols a file defined when it was indexed, in source order: (first line,
    /// signature). Empty for a file the graph does not know.
    pub fn signatures(&self, path: &str) -> Vec<(u32, &str)> {
        let Some(link) = self.links.get(path) else {
            return Vec::new();
        };
        link.symbols
            .iter()
            .filter_map(|&node| match self.graph.node_weight(node) {
                Some(Node::Symbol {
                    span, signature, ..
                }) => Some((span.start, signature.as_str())),
                _ => None,
            })
            .collect()
    }

    /// Number of file nodes.
    pub fn file_count(&self) -> usize {
        self.files.len()
    }

    /// Number of symbol nodes.
    pub fn symbol_count(&self) -> usize {
        self.links.values().map(|link| link.symbols.len()).sum()
    }

    /// Edge counts by kind.
    pub fn edge_counts(&self) -> BTreeMap<EdgeKind, usize> {
        let mut counts = BTreeMap::new();
        for edge in self.graph.edge_weights() {
            *counts.entry(edge.kind).or_default() += 1;
        }
        counts
    }

    /// Edges of `kinds` leaving (`Outgoing`) or entering (`Incoming`) a node, sorted by the
    /// other end's label and line.
    pub fn neighbours(
        &self,
        node: NodeIndex,
        direction: Direction,
        kinds: &[EdgeKind],
    ) -> Vec<(NodeIndex, Edge)> {
        let mut found: Vec<(NodeIndex, Edge)> = self
            .graph
            .edges_directed(node, direction)
            .filter(|e| kinds.contains(&e.weight().kind))
            .map(|e| {
                (
                    if direction == Direction::Outgoing {
                        e.target()
                    } else {
                        e.source()
                    },
                    *e.weight(),
                )
            })
            .collect();
        found.sort_by(|a, b| {
            self.graph[a.0]
                .label()
                .cmp(self.graph[b.0].label())
                .then(a.1.line.cmp(&b.1.line))
        });
        found
    }

    /// The file node a node belongs to (itself for files).
    pub fn file_of(&self, node: NodeIndex) -> Option<NodeIndex> {
        self.file(self.graph[node].path())
    }

    fn node_labels(&self) -> Vec<String> {
        let mut labels: Vec<String> = self
            .graph
            .node_weights()
            .map(|n| n.label().to_string())
            .collect();
        labels.sort();
        labels
    }

    /// Edges as sorted (source, target, kind, line, weight bits) tuples: two graphs are equal
    /// when these are.
    pub fn canonical_edges(&self) -> Vec<(String, String, EdgeKind, u32, u32, u32)> {
        let mut edges: Vec<_> = self
            .graph
            .edge_references()
            .map(|e| {
                let w = e.weight();
                (
                    self.graph[e.source()].label().to_string(),
                    self.graph[e.target()].label().to_string(),
                    w.kind,
                    w.line,
                    w.weight.to_bits(),
                    w.confidence.to_bits(),
                )
            })
            .collect();
        edges.sort();
        edges
    }

    /// An edge by index (for paths).
    pub fn edge(&self, index: EdgeIndex) -> Edge {
        self.graph[index]
    }
}
