//! Name resolution: which definitions a file's references mean, by the scope its imports give
//! it (same file, then imported files and peers, then a unique definition anywhere, then the
//! nearest candidates).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use petgraph::graph::NodeIndex;
use rayon::prelude::*;

use super::builtins::{is_builtin, is_common_method, is_standard_module};
use super::imports::{PathIndex, module_stem, shared_prefix};
use super::{
    AMBIGUOUS_CONFIDENCE, IMPORTED_CONFIDENCE, MAX_CANDIDATES, SAME_FILE_CONFIDENCE,
    UNIQUE_GLOBAL_CONFIDENCE,
};
use crate::facts::{ReferenceKind, SymbolKind};
use crate::graph::{CodeGraph, Edge, EdgeKind, LinkFacts, ResolutionStats, qualifier_key};
use crate::lang::Language;

/// A file's imports as resolved against the repository's paths, and the scope they give it.
pub(super) struct FileScope<'a> {
    /// Imported files, each with the line of its first import.
    imported: BTreeMap<&'a str, u32>,
    /// Files whose definitions the file sees after its own: imports, what they re-export, and
    /// peers.
    scope: BTreeSet<&'a str>,
    /// Of those, the ones searched first: in Python and JS/TS the files imported directly, so
    /// `import { f } from './m'` means `m`'s `f` before one an imported package re-exports.
    first: BTreeSet<&'a str>,
    /// Go: package name → the repository files of that package (empty when external).
    packages: HashMap<&'a str, Vec<&'a str>>,
    /// Imports resolved to repository files, and imports of something outside.
    resolved: u64,
    external: u64,
    /// Fingerprint of all of the above, kept to tell whether a later layout changes it.
    pub(super) hash: u64,
}

impl<'a> FileScope<'a> {
    /// Resolves a file's imports and gathers its scope: the files it imports, their
    /// re-exports (what an imported package's `__init__.py` or a script's `index` file imports
    /// in turn, see [`is_reexporting`]), and its peers.
    pub(super) fn new<'p: 'a>(
        paths: &PathIndex<'p>,
        files: &'a BTreeMap<String, LinkFacts>,
        path: &'a str,
        facts: &'a LinkFacts,
    ) -> FileScope<'a> {
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
        // Re-exports: `import pkg; pkg.helper()` means the `helper` that `pkg/__init__.py`
        // imports from `pkg/helpers.py`; `import { x } from './lib'` the `x` that
        // `lib/index.ts` exports from `./x`. Followed through a few levels of such files.
        let mut frontier: Vec<&str> = imported
            .keys()
            .copied()
            .filter(|file| is_reexporting(file))
            .collect();
        for _ in 0..REEXPORT_DEPTH {
            let mut next = Vec::new();
            for barrel in frontier {
                let Some((barrel_path, barrel_facts)) = files.get_key_value(barrel) else {
                    continue;
                };
                for import in &barrel_facts.imports {
                    let targets = paths
                        .resolve_import(barrel_path, barrel_facts.language, &import.path)
                        .unwrap_or_default();
                    for target in targets {
                        if target != path && scope.insert(target) && is_reexporting(target) {
                            next.push(target);
                        }
                    }
                }
            }
            frontier = next;
        }
        scope.extend(paths.peers(path, facts.language, &imported));
        scope.remove(path);
        let first = if imports_are_explicit(facts.language) {
            imported.keys().copied().collect()
        } else {
            BTreeSet::new()
        };
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
            first,
            packages,
            resolved: resolved_count,
            external,
            hash,
        }
    }
}

/// The names the references of some files look up: their names, and the last segment of
/// their qualifiers (what [`FileContext::qualified`] asks about).
pub(super) struct WantedNames<'a> {
    pub(super) names: std::collections::HashSet<&'a str>,
    pub(super) qualifiers: std::collections::HashSet<&'a str>,
}

impl<'a> WantedNames<'a> {
    pub(super) fn of(
        files: &'a BTreeMap<String, LinkFacts>,
        paths: &BTreeSet<&str>,
    ) -> WantedNames<'a> {
        let mut wanted = WantedNames {
            names: std::collections::HashSet::new(),
            qualifiers: std::collections::HashSet::new(),
        };
        for path in paths {
            let Some(facts) = files.get(*path) else {
                continue;
            };
            for reference in &facts.references {
                wanted.names.insert(reference.name.as_str());
                if let Some(qualifier) = reference.qualifier.as_deref() {
                    wanted.qualifiers.insert(qualifier_key(qualifier));
                }
            }
        }
        wanted
    }
}

/// How many levels of re-exporting files a scope follows (`pkg/__init__.py` importing
/// `pkg/sub/__init__.py` importing `pkg/sub/impl.py` is two).
pub(super) const REEXPORT_DEPTH: usize = 3;

/// Whether a file's imports are, by the language's convention, what it offers to its
/// importers: a Python package's `__init__.py` (`from .helpers import helper` makes
/// `pkg.helper` work) and a script directory's `index` file (`export { x } from './x'`).
pub(super) fn is_reexporting(path: &str) -> bool {
    let file = path.rsplit('/').next().unwrap_or(path);
    matches!(file, "__init__.py" | "__init__.pyi")
        || file.strip_prefix("index.").is_some_and(|extension| {
            matches!(
                extension,
                "ts" | "tsx" | "js" | "jsx" | "mjs" | "cjs" | "mts" | "d.ts"
            )
        })
}

/// Definitions grouped by a key (a name, or a qualifier and a name): one list of
/// `(path, node)` holding each key's definitions together, in the order they were added, and
/// each key's range in it. A map of one `Vec` per key costs a vector and an allocation per
/// name: at 26M lines building the three tables that way grew a cold link by ~0.9 GB,
/// grouped by ~0.5 GB (with the other tables of that step).
pub(super) struct Grouped<'f, K> {
    entries: Vec<(&'f str, NodeIndex)>,
    ranges: HashMap<K, (u32, u32)>,
}

impl<'f, K: std::hash::Hash + Eq + Copy> Grouped<'f, K> {
    /// Groups `items` by key, keeping their order within a key.
    fn of(items: Vec<(K, &'f str, NodeIndex)>) -> Grouped<'f, K> {
        // Each key's count, then its start (its count reset to serve as the cursor of the
        // next free slot, which ends back at the count once every item is placed).
        let mut ranges: HashMap<K, (u32, u32)> = HashMap::with_capacity(items.len() / 2);
        for (key, _, _) in &items {
            ranges.entry(*key).or_default().1 += 1;
        }
        let mut start = 0;
        for (first, count) in ranges.values_mut() {
            *first = start;
            start += std::mem::take(count);
        }
        let mut entries = vec![("", NodeIndex::end()); items.len()];
        for (key, path, node) in items {
            let (first, placed) = ranges.get_mut(&key).expect("counted");
            entries[(*first + *placed) as usize] = (path, node);
            *placed += 1;
        }
        Grouped { entries, ranges }
    }

    /// The definitions under `key`, in the order they were added.
    pub(super) fn get<Q>(&self, key: &Q) -> Option<&[(&'f str, NodeIndex)]>
    where
        K: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        let &(start, count) = self.ranges.get(key)?;
        Some(&self.entries[start as usize..(start + count) as usize])
    }

    /// Every key with its definitions.
    fn iter(&self) -> impl Iterator<Item = (&K, &[(&'f str, NodeIndex)])> {
        self.ranges.iter().map(|(key, &(start, count))| {
            (key, &self.entries[start as usize..(start + count) as usize])
        })
    }
}

/// Where the definitions of the names some files look up are: what resolving their
/// references searches, built once and shared by every file resolved against it.
pub(super) struct NameTables<'f> {
    /// Where each name is defined. Impl blocks are not definitions of their type's name.
    definitions: Grouped<'f, &'f str>,
    /// Definitions by (qualifier, name): `Type::f` finds `f` inside `Type` (or an impl of
    /// it) and `module::f` finds `f` in file `module.rs`; every qualifier known in the
    /// repository.
    qualified: Grouped<'f, (&'f str, &'f str)>,
    /// The same without members (methods, fields): what a bare `name()` can mean where a
    /// class's members are not in scope unqualified.
    non_members: Grouped<'f, &'f str>,
    known_qualifiers: std::collections::HashSet<&'f str>,
    /// How many files define each name.
    defining_files: HashMap<&'f str, usize>,
}

impl<'f> NameTables<'f> {
    /// The tables of the definitions in `files` (whose symbols `graph` holds) of what the
    /// `affected` files look up; `all_paths` lists every indexed file (each one's module name
    /// qualifies).
    pub(super) fn new(
        graph: &CodeGraph,
        files: &'f BTreeMap<String, LinkFacts>,
        all_paths: impl Iterator<Item = &'f str>,
        affected: &BTreeSet<&str>,
    ) -> NameTables<'f> {
        let mut known_qualifiers = std::collections::HashSet::new();
        // The tables are only ever asked about a reference's name and its qualifier's last
        // segment: when a few files resolve again, only their names are gathered, so a
        // one-file change does not rebuild tables of every definition in the repository.
        let wanted = (affected.len() < files.len()).then(|| WantedNames::of(files, affected));
        let name_wanted = |name: &str| wanted.as_ref().is_none_or(|w| w.names.contains(name));
        let qualifier_wanted =
            |name: &str| wanted.as_ref().is_none_or(|w| w.qualifiers.contains(name));
        // Every indexed file's module name qualifies (`files` may hold only the files that
        // define a wanted name).
        for path in all_paths {
            let module = module_stem(path);
            if qualifier_wanted(module) {
                known_qualifiers.insert(module);
            }
        }
        let mut definitions = Vec::new();
        let mut non_members = Vec::new();
        let mut qualified = Vec::new();
        for (path, facts) in files {
            let module = module_stem(path);
            for (symbol, &node) in facts.symbols.iter().zip(&graph.links[path].symbols) {
                if qualifier_wanted(&symbol.name) {
                    known_qualifiers.insert(symbol.name.as_str());
                }
                if symbol.kind == SymbolKind::Impl || !name_wanted(&symbol.name) {
                    continue;
                }
                definitions.push((symbol.name.as_str(), path.as_str(), node));
                if !matches!(symbol.kind, SymbolKind::Method | SymbolKind::Field) {
                    non_members.push((symbol.name.as_str(), path.as_str(), node));
                }
                let container = symbol
                    .container
                    .map(|parent| facts.symbols[parent as usize].name.as_str());
                if let Some(container) = container {
                    qualified.push(((container, symbol.name.as_str()), path.as_str(), node));
                }
                // A module qualifies only what it defines at its top level (`nodes.Var`); its
                // classes' methods are reached through the class or a value.
                if symbol.container.is_none() && container != Some(module) {
                    qualified.push(((module, symbol.name.as_str()), path.as_str(), node));
                }
            }
        }
        let definitions = Grouped::of(definitions);
        let defining_files = definitions
            .iter()
            .map(|(name, defs)| {
                let mut files = defs.iter().map(|(p, _)| *p).collect::<Vec<_>>();
                files.dedup();
                (*name, files.len())
            })
            .collect();
        NameTables {
            definitions,
            qualified: Grouped::of(qualified),
            non_members: Grouped::of(non_members),
            known_qualifiers,
            defining_files,
        }
    }
}

/// One file's resolved imports and references: the edges leaving its nodes (not yet in the
/// graph) and how they resolved.
pub(super) struct FileResolution {
    /// Reference edges by (source, target, kind).
    pub(super) edges: FileEdges,
    /// How the references and imports resolved.
    pub(super) stats: ResolutionStats,
}

/// Resolves file `path`'s references (its `facts`; its symbols in `graph`) in its `scope`
/// against `tables`.
pub(super) fn resolve_file(
    graph: &CodeGraph,
    facts: &LinkFacts,
    tables: &NameTables<'_>,
    scope: &FileScope<'_>,
    path: &str,
) -> FileResolution {
    let context = FileContext {
        path,
        language: facts.language,
        nodes: &graph.links[path].symbols,
        file_node: graph.files[path],
        scope: (&scope.first, &scope.scope),
        packages: &scope.packages,
        definitions: &tables.definitions,
        non_members: &tables.non_members,
        qualified: &tables.qualified,
        known_qualifiers: &tables.known_qualifiers,
        defining_files: &tables.defining_files,
    };
    let (edges, mut stats) = context.resolve(facts);
    stats.imports_resolved = scope.resolved;
    stats.imports_external = scope.external;
    FileResolution { edges, stats }
}

impl<'a> FileScope<'a> {
    /// The files the file imports.
    pub(super) fn imported_files(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.imported.keys().copied()
    }

    /// The `imports` edges of file `path` (whose nodes `graph` numbers): to each file it
    /// imports, at the line of its first import.
    pub(super) fn import_edges<'g>(
        &'g self,
        graph: &'g CodeGraph,
        path: &str,
    ) -> impl Iterator<Item = (NodeIndex, NodeIndex, Edge)> + 'g {
        let file_node = graph.files[path];
        self.imported.iter().map(move |(&target, &line)| {
            let edge = Edge {
                kind: EdgeKind::Imports,
                weight: 1.0,
                confidence: 1.0,
                line,
            };
            (file_node, graph.files[target], edge)
        })
    }
}

/// Resolves the imports and references of the `affected` files (whose resolved edges are not
/// in the graph) against the definitions of all `files`, adds the edges and updates the
/// statistics. Each file resolves independently: in parallel, then added in path order.
pub(super) fn resolve_files<'f>(
    graph: &mut CodeGraph,
    files: &'f BTreeMap<String, LinkFacts>,
    all_paths: impl Iterator<Item = &'f str>,
    scopes: &BTreeMap<&str, FileScope>,
    affected: &BTreeSet<&str>,
) {
    let tables = NameTables::new(graph, files, all_paths, affected);
    let per_file: Vec<(&str, FileResolution)> = affected
        .par_iter()
        .map(|path| {
            (
                *path,
                resolve_file(graph, &files[*path], &tables, &scopes[path], path),
            )
        })
        .collect();
    for (path, resolution) in per_file {
        let scope = &scopes[path];
        let imports: Vec<_> = scope.import_edges(graph, path).collect();
        for (source, target, edge) in imports {
            graph.graph.add_edge(source, target, edge);
        }
        for ((source, target, _), edge) in resolution.edges {
            graph.graph.add_edge(source, target, edge);
        }
        let link = graph.links.entry(path.to_string()).or_default();
        link.stats = resolution.stats;
        link.scope = scope.hash;
    }
    graph.resolved_files = affected.len();
    graph.relinked = affected.iter().map(|path| path.to_string()).collect();
    let mut stats = ResolutionStats::default();
    for link in graph.links.values() {
        stats.add(&link.stats);
    }
    graph.stats = stats;
}

/// What resolving one file's references needs.
struct FileContext<'a> {
    path: &'a str,
    language: Option<Language>,
    nodes: &'a [NodeIndex],
    file_node: NodeIndex,
    /// The files searched first, then the whole scope.
    scope: (&'a BTreeSet<&'a str>, &'a BTreeSet<&'a str>),
    /// Go: package name → the repository files of that package (empty when external).
    packages: &'a HashMap<&'a str, Vec<&'a str>>,
    definitions: &'a Grouped<'a, &'a str>,
    /// `definitions` without methods and fields.
    non_members: &'a Grouped<'a, &'a str>,
    qualified: &'a Grouped<'a, (&'a str, &'a str)>,
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
pub(super) type FileEdges = BTreeMap<(NodeIndex, NodeIndex, EdgeKind), Edge>;

impl FileContext<'_> {
    fn resolve(&self, facts: &LinkFacts) -> (FileEdges, ResolutionStats) {
        let mut edges = FileEdges::new();
        let mut stats = ResolutionStats::default();
        // The choice depends only on the name and qualifier within one file: decide each once.
        let mut chosen_by_name: HashMap<(&str, Option<&str>, bool), Option<Choice>> =
            HashMap::new();
        // Each symbol node's position in the file's facts (for lexical visibility).
        let index_of: HashMap<NodeIndex, usize> = self
            .nodes
            .iter()
            .enumerate()
            .map(|(index, node)| (*node, index))
            .collect();
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
                let bare = reference.qualifier.is_none() && !reference.on_value;
                let name = reference.name.as_str();
                let candidates = if bare && !bare_names_reach_members(self.language) {
                    self.non_members.get(name)?
                } else {
                    self.definitions.get(name)?
                };
                // Beyond the file and its imports, a name can mean a definition elsewhere only
                // where the language lets it (not a builtin; not where every name is imported).
                let explicit = imports_are_explicit(self.language);
                let global =
                    !(reference.on_value || explicit || (bare && is_builtin(self.language, name)));
                // A method called on a value of unknown type (`x.f()`, `a.b.f()`), where the
                // value is not a module, class or `self` the file can see.
                let on_unknown_value = || {
                    if !(explicit && reference.on_value) {
                        return None;
                    }
                    self.on_unknown_value(name, candidates)
                };
                let qualifier = reference.qualifier.as_deref();
                // `JSON.parse`, `asyncio.run`: the language's own object or module, whatever
                // the repository defines under that name.
                let outside = qualifier.is_some_and(|q| {
                    is_builtin(self.language, q) || is_standard_module(self.language, q)
                });
                let (chosen, confidence) = match self.qualified(name, qualifier, candidates) {
                    _ if explicit && outside => return None,
                    Qualified::Only(only) if !only.is_empty() => {
                        match choose(self.path, self.scope, &only, !explicit) {
                            Some(found) => found,
                            None => match self.in_imported_packages(&only) {
                                Some(found) => found,
                                None => on_unknown_value()?,
                            },
                        }
                    }
                    Qualified::Only(_) | Qualified::External => on_unknown_value()?,
                    Qualified::Unqualified
                        if explicit
                            && reference.on_value
                            && !matches!(qualifier, Some("self" | "this" | "cls" | "super")) =>
                    {
                        on_unknown_value()?
                    }
                    Qualified::Unqualified => choose(self.path, self.scope, candidates, global)?,
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
            // Same-file definitions nested in other functions or classes are hidden from a
            // bare name (where bare names cannot reach members); of several, a `self.f()`
            // prefers the enclosing class's.
            let bare = reference.qualifier.is_none() && !reference.on_value;
            let hides = bare && !bare_names_reach_members(self.language);
            let visible;
            let chosen = if *confidence == SAME_FILE_CONFIDENCE && (hides || chosen.len() > 1) {
                visible = self.lexically_visible(facts, &index_of, reference.container, chosen);
                match (visible.is_empty(), hides) {
                    (true, true) => {
                        stats.unresolved += 1;
                        continue;
                    }
                    (true, false) => chosen,
                    (false, _) => &visible,
                }
            } else {
                chosen
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

    /// `from pkg import module; module.f()`: of definitions in module files, those whose
    /// package (`pkg/__init__.py`) the file imports. Python only; `None` when there are none.
    fn in_imported_packages(&self, only: &[(&str, NodeIndex)]) -> Option<(Vec<NodeIndex>, f32)> {
        if self.language != Some(Language::Python) {
            return None;
        }
        let (_, scope) = self.scope;
        let found: Vec<NodeIndex> = only
            .iter()
            .filter(|(path, _)| {
                let package = match path.rsplit_once('/') {
                    Some((dir, _)) => format!("{dir}/__init__.py"),
                    None => "__init__.py".to_string(),
                };
                *path != package && scope.contains(package.as_str())
            })
            .map(|(_, node)| *node)
            .collect();
        (!found.is_empty()).then_some((found, IMPORTED_CONFIDENCE))
    }

    /// What a method called on a value of unknown type means: the one definition of it the
    /// file and its imports hold, if there is exactly one. A name that is also one of the
    /// language's common methods of builtin values (`items`, `add`, `push`, `then`) is trusted
    /// only to a definition in the file itself.
    fn on_unknown_value(
        &self,
        name: &str,
        candidates: &[(&str, NodeIndex)],
    ) -> Option<(Vec<NodeIndex>, f32)> {
        let (chosen, confidence) = choose(self.path, self.scope, candidates, false)?;
        let trusted = confidence == SAME_FILE_CONFIDENCE || !is_common_method(self.language, name);
        (chosen.len() == 1 && trusted).then_some((chosen, confidence))
    }

    /// Of several definitions of a name in the file itself, those a reference from inside
    /// `container` can see: the top-level ones and those nested in a symbol enclosing the
    /// reference (a function's own `helper`, the enclosing class's method for `self.f()`), not
    /// those hidden inside other functions or classes. Empty when none is visible.
    fn lexically_visible(
        &self,
        facts: &LinkFacts,
        index_of: &HashMap<NodeIndex, usize>,
        container: Option<u32>,
        chosen: &[NodeIndex],
    ) -> Vec<NodeIndex> {
        let mut enclosing = Vec::new();
        let mut next = container;
        while let Some(symbol) = next {
            enclosing.push(symbol);
            next = facts.symbols[symbol as usize].container;
        }
        chosen
            .iter()
            .copied()
            .filter(|&node| {
                let parent = index_of
                    .get(&node)
                    .and_then(|&index| facts.symbols[index].container);
                parent.is_none_or(|parent| enclosing.contains(&parent))
            })
            .collect()
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
        if matches!(
            last,
            "Self" | "self" | "super" | "crate" | "cls" | "this" | ""
        ) {
            return Qualified::Unqualified;
        }
        if !self.known_qualifiers.contains(last) {
            return Qualified::External;
        }
        Qualified::Only(
            self.qualified
                .get(&(last, name))
                .map(<[_]>::to_vec)
                .unwrap_or_default(),
        )
    }
}

/// Whether a bare name (`helper()`, not `x.helper()` or `T::helper()`) can mean a method or
/// field: only where code inside a class sees its members unqualified (Java, C++). In Python,
/// JavaScript, TypeScript, Rust and Go a member is always reached through a value or a type.
fn bare_names_reach_members(language: Option<Language>) -> bool {
    matches!(language, Some(Language::Java | Language::Cpp) | None)
}

/// Whether a module sees only what it defines, imports and the language's builtins, so a
/// name neither the file nor its imports define never means a definition elsewhere (Python,
/// and JavaScript and TypeScript modules).
fn imports_are_explicit(language: Option<Language>) -> bool {
    matches!(
        language,
        Some(Language::Python | Language::JavaScript | Language::TypeScript | Language::Tsx)
    )
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
    (first, scope): (&BTreeSet<&str>, &BTreeSet<&str>),
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
    for files in [first, scope] {
        let in_scope: Vec<NodeIndex> = files.iter().flat_map(|file| in_file(file)).collect();
        if !in_scope.is_empty() {
            return Some((in_scope, IMPORTED_CONFIDENCE));
        }
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
