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

use std::collections::{BTreeMap, BTreeSet, HashMap};

use petgraph::graph::{DiGraph, NodeIndex};
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

/// Links per-file facts into a graph.
pub fn link(files: &BTreeMap<String, LinkFacts>) -> CodeGraph {
    let mut graph: DiGraph<Node, Edge> = DiGraph::new();
    let mut file_nodes: BTreeMap<String, NodeIndex> = BTreeMap::new();
    let mut symbol_ids: BTreeMap<String, NodeIndex> = BTreeMap::new();
    for path in files.keys() {
        let node = graph.add_node(Node::File { path: path.clone() });
        file_nodes.insert(path.clone(), node);
    }
    // Symbols, with structural edges; `symbol_nodes[path][i]` is the node of symbol i.
    let mut symbol_nodes: BTreeMap<&str, Vec<NodeIndex>> = BTreeMap::new();
    let structural = Edge {
        kind: EdgeKind::Defines,
        weight: 1.0,
        confidence: 1.0,
        line: 0,
    };
    for (path, facts) in files {
        let mut nodes = Vec::with_capacity(facts.symbols.len());
        for symbol in &facts.symbols {
            let mut chain = vec![symbol.name.as_str()];
            let mut container = symbol.container;
            while let Some(parent) = container {
                let parent_symbol = &facts.symbols[parent as usize];
                chain.push(parent_symbol.name.as_str());
                container = parent_symbol.container;
            }
            chain.reverse();
            let mut id = format!("{path}::{}", chain.join("::"));
            if symbol_ids.contains_key(&id) {
                id = format!("{id}@{}", symbol.span.start);
            }
            let node = graph.add_node(Node::Symbol {
                id: id.clone(),
                name: symbol.name.clone(),
                kind: symbol.kind,
                path: path.clone(),
                span: symbol.span,
            });
            symbol_ids.insert(id, node);
            let (source, kind) = match symbol.container {
                Some(parent) => (nodes[parent as usize], EdgeKind::Contains),
                None => (file_nodes[path], EdgeKind::Defines),
            };
            graph.add_edge(source, node, Edge { kind, ..structural });
            nodes.push(node);
        }
        symbol_nodes.insert(path.as_str(), nodes);
    }

    // Where each name is defined. Impl blocks are not definitions of their type's name.
    let mut definitions: HashMap<&str, Vec<(&str, NodeIndex)>> = HashMap::new();
    // Definitions by (qualifier, name): `Type::f` finds `f` inside `Type` (or an impl of it)
    // and `module::f` finds `f` in file `module.rs`; every qualifier known in the repository.
    let mut qualified: HashMap<(&str, &str), Vec<(&str, NodeIndex)>> = HashMap::new();
    let mut known_qualifiers: std::collections::HashSet<&str> = std::collections::HashSet::new();
    for (path, facts) in files {
        let module = module_stem(path);
        known_qualifiers.insert(module);
        for (symbol, &node) in facts.symbols.iter().zip(&symbol_nodes[path.as_str()]) {
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

    let paths = PathIndex::new(files);
    let mut stats = ResolutionStats::default();
    let mut scopes: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut packages: BTreeMap<&str, HashMap<&str, Vec<&str>>> = BTreeMap::new();
    for (path, facts) in files {
        let mut imported: BTreeMap<&str, u32> = BTreeMap::new();
        let file_packages = packages.entry(path.as_str()).or_default();
        for import in &facts.imports {
            let resolved = paths.resolve_import(path, facts.language, &import.path);
            if facts.language == Some(Language::Go) {
                // Go code names a package by the last segment of its import path.
                let name = import.path.rsplit('/').next().unwrap_or(&import.path);
                file_packages.insert(name, resolved.clone().unwrap_or_default());
            }
            match resolved {
                Some(targets) => {
                    stats.imports_resolved += 1;
                    for target in targets {
                        if target != path.as_str() {
                            imported.entry(target).or_insert(import.line);
                        }
                    }
                }
                None => stats.imports_external += 1,
            }
        }
        for (&target, &line) in &imported {
            let edge = Edge {
                kind: EdgeKind::Imports,
                weight: 1.0,
                confidence: 1.0,
                line,
            };
            graph.add_edge(file_nodes[path], file_nodes[target], edge);
        }
        let mut scope: BTreeSet<&str> = imported.keys().copied().collect();
        scope.extend(paths.peers(path, facts.language, &imported));
        scope.remove(path.as_str());
        scopes.insert(path.as_str(), scope);
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
    // Each file's references resolve independently of the others: in parallel, then added to
    // the graph in path order so the result does not depend on scheduling.
    let per_file: Vec<(FileEdges, ResolutionStats)> = files
        .par_iter()
        .map(|(path, facts)| {
            let context = FileContext {
                path,
                language: facts.language,
                nodes: &symbol_nodes[path.as_str()],
                file_node: file_nodes[path],
                scope: &scopes[path.as_str()],
                packages: &packages[path.as_str()],
                definitions: &definitions,
                qualified: &qualified,
                known_qualifiers: &known_qualifiers,
                defining_files: &defining_files,
            };
            context.resolve(facts)
        })
        .collect();
    for (edges, file_stats) in per_file {
        stats.resolved += file_stats.resolved;
        stats.ambiguous += file_stats.ambiguous;
        stats.unresolved += file_stats.unresolved;
        for ((source, target, _), edge) in edges {
            graph.add_edge(source, target, edge);
        }
    }
    CodeGraph::from_parts(graph, stats, file_nodes, symbol_ids)
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
