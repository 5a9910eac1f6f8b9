//! Call-edge precision and recall on the annotated fixture repository.
//!
//! A `@@call NAME @@to ID` annotation says the call on that line resolves to the symbol `ID`;
//! a `@@call` without `@@to` says it names nothing in the repository. The expected edges are
//! (innermost symbol containing the line, or the file) → each `@@to` target.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use petgraph::visit::{EdgeRef, IntoEdgeReferences};

use super::records::{GraphRecord, SymbolPositions};
use super::resolve::PathEntry;
use super::{CodeGraph, EdgeKind, LinkFacts};
use crate::lang::Language;
use crate::syntax::{ChunkLimits, extract};

fn fixture_facts() -> (BTreeMap<String, LinkFacts>, BTreeMap<String, String>) {
    facts_of("polyglot")
}

/// The link facts and texts of every file of `fixtures/NAME`.
fn facts_of(name: &str) -> (BTreeMap<String, LinkFacts>, BTreeMap<String, String>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures")
        .join(name);
    let mut facts = BTreeMap::new();
    let mut texts = BTreeMap::new();
    for entry in ignore::Walk::new(&root) {
        let entry = entry.expect("walk");
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        let path = entry
            .path()
            .strip_prefix(&root)
            .expect("inside")
            .to_string_lossy()
            .replace('\\', "/");
        let text = std::fs::read_to_string(entry.path()).expect("read");
        let language = Language::from_path(entry.path());
        let extracted = extract(language, &text, &ChunkLimits::default());
        facts.insert(
            path.clone(),
            LinkFacts {
                language: Some(language),
                symbols: extracted.symbols,
                references: extracted.references,
                imports: extracted.imports,
                package: LinkFacts::manifest_package(&path, &text),
            },
        );
        texts.insert(path, text);
    }
    (facts, texts)
}

/// Expected call edges per language: (source label, target id).
fn expected_edges(
    graph: &CodeGraph,
    facts: &BTreeMap<String, LinkFacts>,
    texts: &BTreeMap<String, String>,
) -> BTreeMap<Language, BTreeSet<(String, String)>> {
    let mut expected: BTreeMap<Language, BTreeSet<(String, String)>> = BTreeMap::new();
    for (path, text) in texts {
        let file_facts = &facts[path];
        let language = file_facts.language.expect("language");
        for (index, line) in text.lines().enumerate() {
            let line_number = index as u32 + 1;
            let targets: Vec<&str> = line
                .split("@@")
                .skip(1)
                .filter_map(|a| a.strip_prefix("to "))
                .map(|a| a.split_whitespace().next().expect("target"))
                .collect();
            if targets.is_empty() {
                continue;
            }
            let reference = file_facts
                .references
                .iter()
                .find(|r| r.line == line_number && r.kind == crate::facts::ReferenceKind::Call)
                .unwrap_or_else(|| panic!("{path}:{line_number}: no call extracted"));
            let source = match reference.container {
                Some(c) => graph_label_of_symbol(graph, path, file_facts, c),
                None => path.clone(),
            };
            for target in targets {
                assert!(
                    graph.symbol(target).is_some(),
                    "{path}:{line_number}: unknown target {target}"
                );
                expected
                    .entry(language)
                    .or_default()
                    .insert((source.clone(), target.to_string()));
            }
        }
    }
    expected
}

fn graph_label_of_symbol(graph: &CodeGraph, path: &str, facts: &LinkFacts, index: u32) -> String {
    let symbol = &facts.symbols[index as usize];
    let node = graph
        .find_symbols(&symbol.name)
        .into_iter()
        .find(|n| matches!(&graph.graph[*n], super::Node::Symbol { path: p, span, .. } if p == path && *span == symbol.span))
        .expect("symbol node");
    graph.graph[node].label().to_string()
}

#[test]
fn call_edges_meet_precision_and_recall_on_fixtures() {
    let (facts, texts) = fixture_facts();
    let graph = CodeGraph::build(&facts);
    let expected = expected_edges(&graph, &facts, &texts);
    let mut actual: BTreeMap<Language, BTreeSet<(String, String)>> = BTreeMap::new();
    for edge in graph
        .graph
        .edge_references()
        .filter(|e| e.weight().kind == EdgeKind::Calls)
    {
        let source = &graph.graph[edge.source()];
        let language = facts[source.path()].language.expect("language");
        actual.entry(language).or_default().insert((
            source.label().to_string(),
            graph.graph[edge.target()].label().to_string(),
        ));
    }
    let mut report = String::new();
    let (mut all_hits, mut all_actual, mut all_expected) = (0, 0, 0);
    for language in crate::lang::PARSED_LANGUAGES {
        let wanted = expected.get(&language).cloned().unwrap_or_default();
        let found = actual.get(&language).cloned().unwrap_or_default();
        let hits = wanted.intersection(&found).count();
        let precision = if found.is_empty() {
            1.0
        } else {
            hits as f64 / found.len() as f64
        };
        let recall = if wanted.is_empty() {
            1.0
        } else {
            hits as f64 / wanted.len() as f64
        };
        report.push_str(&format!(
            "{:>10}: precision {precision:.2} ({hits}/{}), recall {recall:.2} ({hits}/{})\n",
            language.name(),
            found.len(),
            wanted.len()
        ));
        for wrong in found.difference(&wanted) {
            report.push_str(&format!(
                "            spurious {} -> {}\n",
                wrong.0, wrong.1
            ));
        }
        for missed in wanted.difference(&found) {
            report.push_str(&format!(
                "            missed {} -> {}\n",
                missed.0, missed.1
            ));
        }
        all_hits += hits;
        all_actual += found.len();
        all_expected += wanted.len();
    }
    let precision = all_hits as f64 / all_actual.max(1) as f64;
    let recall = all_hits as f64 / all_expected.max(1) as f64;
    eprintln!(
        "call edges on fixtures/polyglot:\n{report}    overall: precision {precision:.2}, recall {recall:.2}"
    );
    assert!(precision >= 0.9, "precision {precision:.2} < 0.9\n{report}");
    assert!(recall >= 0.9, "recall {recall:.2} < 0.9\n{report}");
}

#[test]
fn imports_resolve_to_fixture_files() {
    let (facts, _) = fixture_facts();
    let graph = CodeGraph::build(&facts);
    let imports = |path: &str| -> Vec<String> {
        let node = graph.file(path).expect("file");
        graph
            .neighbours(node, petgraph::Direction::Outgoing, &[EdgeKind::Imports])
            .into_iter()
            .map(|(n, _)| graph.graph[n].label().to_string())
            .collect()
    };
    assert_eq!(imports("web/src/api.js"), ["web/src/session.ts"]);
    assert_eq!(imports("web/src/LoginForm.tsx"), ["web/src/session.ts"]);
    assert_eq!(imports("native/cache.cpp"), ["native/checksum.h"]);
    assert_eq!(imports("native/checksum.c"), ["native/checksum.h"]);
}

#[test]
fn pagerank_from_a_seed_reaches_its_neighbours_first() {
    let (facts, _) = fixture_facts();
    let graph = CodeGraph::build(&facts);
    let seed = graph.file("web/src/LoginForm.tsx").expect("seed");
    let ranked = super::algo::personalized_pagerank(&graph, &BTreeMap::from([(seed, 1.0)]));
    let labels: Vec<&str> = ranked
        .iter()
        .map(|(n, _)| graph.graph[*n].label())
        .collect();
    // The seed and the file it imports lead (a well-connected neighbour may outrank the seed),
    // then the file that shares that neighbour; unconnected files get nothing.
    let top: BTreeSet<&str> = labels[..2].iter().copied().collect();
    assert_eq!(
        top,
        BTreeSet::from(["web/src/LoginForm.tsx", "web/src/session.ts"]),
        "{labels:?}"
    );
    assert_eq!(labels[2], "web/src/api.js", "{labels:?}");
    assert!(!labels.contains(&"native/cache.cpp"), "{labels:?}");
    let total: f64 = ranked.iter().map(|(_, s)| s).sum();
    assert!(
        (total - 1.0).abs() < 1e-6,
        "scores are a distribution: {total}"
    );
}

#[test]
fn explanation_path_follows_calls() {
    let (facts, _) = fixture_facts();
    let graph = CodeGraph::build(&facts);
    let from = graph.symbol("web/src/api.js::fetchJson").expect("from");
    let to = graph.symbol("web/src/session.ts::getToken").expect("to");
    let hops = super::algo::shortest_path(&graph, from, to).expect("path");
    assert_eq!(hops.len(), 1);
    assert_eq!(hops[0].edge.kind, EdgeKind::Calls);
    assert!(!hops[0].reversed);
}

#[test]
fn rust_workspace_crates_resolve_by_package_name() {
    let sources = [
        (
            "core/Cargo.toml",
            "[package]\nname = \"acme-core\"\nversion = \"0.1.0\"\n",
        ),
        ("core/src/lib.rs", "pub mod util;\n"),
        ("core/src/util.rs", "pub fn helper() -> u32 { 1 }\n"),
        (
            "app/Cargo.toml",
            "[package]\nname = \"app\"\n\n[dependencies]\nname = \"not-a-package\"\n",
        ),
        (
            "app/src/main.rs",
            "use acme_core::util::helper;\nfn main() { helper(); }\n",
        ),
    ];
    let facts: BTreeMap<String, LinkFacts> = sources
        .iter()
        .map(|(path, text)| {
            let language = Language::from_path(Path::new(path));
            let extracted = extract(language, text, &ChunkLimits::default());
            let package = path
                .ends_with("Cargo.toml")
                .then(|| super::cargo_package_name(text))
                .flatten();
            let link = LinkFacts {
                language: Some(language),
                symbols: extracted.symbols,
                references: extracted.references,
                imports: extracted.imports,
                package,
            };
            (path.to_string(), link)
        })
        .collect();
    assert_eq!(facts["app/Cargo.toml"].package.as_deref(), Some("app"));
    let graph = CodeGraph::build(&facts);
    let main = graph.file("app/src/main.rs").expect("main");
    let imports: Vec<&str> = graph
        .neighbours(main, petgraph::Direction::Outgoing, &[EdgeKind::Imports])
        .into_iter()
        .map(|(n, _)| graph.graph[n].label())
        .collect();
    assert_eq!(imports, ["core/src/util.rs"]);
    let caller = graph.symbol("app/src/main.rs::main").expect("main fn");
    let callees = graph.neighbours(caller, petgraph::Direction::Outgoing, &[EdgeKind::Calls]);
    assert_eq!(callees.len(), 1);
    assert_eq!(
        graph.graph[callees[0].0].label(),
        "core/src/util.rs::helper"
    );
    assert_eq!(callees[0].1.confidence, super::resolve::IMPORTED_CONFIDENCE);
}

thread_local! {
    /// Changes [`update_matches_fresh_link`] also relinked from the stored facts.
    static STORED_RELINKS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// The index's link and graph records as maps: what a relink from the stored index fetches
/// from.
struct MapSource<'m>(
    &'m BTreeMap<String, LinkFacts>,
    &'m BTreeMap<String, GraphRecord>,
);

impl MapSource<'_> {
    fn matching(&self, keep: impl Fn(&str, &LinkFacts) -> bool) -> Vec<(String, LinkFacts)> {
        self.0
            .iter()
            .filter(|(path, facts)| keep(path, facts))
            .map(|(path, facts)| (path.clone(), facts.clone()))
            .collect()
    }
}

impl super::resolve::FactsSource for MapSource<'_> {
    type Error = std::convert::Infallible;

    fn facts_of(&self, paths: &[&str]) -> Result<Vec<(String, LinkFacts)>, Self::Error> {
        Ok(paths
            .iter()
            .filter_map(|path| self.0.get_key_value(*path))
            .map(|(path, facts)| (path.clone(), facts.clone()))
            .collect())
    }

    fn defining(&self, names: &[&str]) -> Result<Vec<(String, LinkFacts)>, Self::Error> {
        Ok(self.matching(|_, facts| facts.defined_names().iter().any(|n| names.contains(n))))
    }

    fn naming(&self, names: &[&str]) -> Result<Vec<(String, LinkFacts)>, Self::Error> {
        Ok(self.matching(|_, facts| facts.looked_up_names().iter().any(|n| names.contains(n))))
    }

    fn count_naming(&self, names: &[&str]) -> Result<usize, Self::Error> {
        Ok(self.naming(names)?.len())
    }

    fn importing(&self, words: &[&str]) -> Result<Vec<(String, LinkFacts)>, Self::Error> {
        Ok(self.matching(|path, facts| facts.import_words(path).iter().any(|w| words.contains(w))))
    }

    fn scopes_of(&self, paths: &[&str]) -> Result<Vec<(String, u64)>, Self::Error> {
        Ok(paths
            .iter()
            .filter_map(|path| Some((path.to_string(), self.1.get(*path)?.scope())))
            .collect())
    }
}

/// What import resolution needs of every file of `files`, as the manifest gives it.
fn layout_of(files: &BTreeMap<String, LinkFacts>) -> Vec<PathEntry<'_>> {
    files
        .iter()
        .map(|(path, facts)| PathEntry {
            path,
            language: facts.language,
            package: facts.package.as_deref(),
        })
        .collect()
}

/// Every file's graph record, as the index keeps them (encoded and decoded).
fn all_records(graph: &CodeGraph) -> BTreeMap<String, GraphRecord> {
    let positions = SymbolPositions::of(graph);
    graph
        .files
        .keys()
        .map(|path| (path.clone(), stored(graph.record(path, &positions))))
        .collect()
}

/// A record through the bytes the index stores.
fn stored(record: GraphRecord) -> GraphRecord {
    crate::store::frame::decode_body(&crate::store::encode_graph_record(&record)).expect("decode")
}

/// Updates `graph` (linked from `before`) to `after` and checks the result against a fresh
/// link of `after`, and so do `records` once the records of the files the update re-resolved
/// replace theirs (the others keep what they said, hints of moved targets included); returns
/// the updated graph and how many files it re-resolved.
fn update_matches_fresh_link(
    graph: CodeGraph,
    records: &mut BTreeMap<String, GraphRecord>,
    before: &BTreeMap<String, LinkFacts>,
    after: &BTreeMap<String, LinkFacts>,
    what: &str,
    one_by_one: usize,
) -> (CodeGraph, usize) {
    let touched: BTreeSet<String> = before
        .keys()
        .chain(after.keys())
        .filter(|p| before.get(*p) != after.get(*p))
        .cloned()
        .collect();
    let previous: BTreeMap<String, LinkFacts> = touched
        .iter()
        .filter_map(|p| Some((p.clone(), before.get(p)?.clone())))
        .collect();
    let updated = super::resolve::relink_removing(graph, after, &previous, &touched, one_by_one);
    let fresh = CodeGraph::build(after);
    assert!(updated == fresh, "{what}: update differs from a fresh link");
    // The same change relinked from what the index stores (the facts before it, fetched by
    // name), where it allows: the records it writes make a fresh link too.
    let layout = layout_of(after);
    let now: BTreeMap<String, LinkFacts> = touched
        .iter()
        .filter_map(|path| Some((path.clone(), after.get(path)?.clone())))
        .collect();
    let source = MapSource(before, records);
    if let Ok(Some(partial)) =
        super::resolve::relink_stored(&source, &layout, &now, &previous, &touched)
    {
        // A removed file's records go with it.
        let mut from_stored = records.clone();
        from_stored.retain(|path, _| after.contains_key(path));
        for (path, record) in partial.records {
            from_stored.insert(path, stored(record));
        }
        let assembled = CodeGraph::assemble(from_stored.into_iter().collect()).expect("assemble");
        assert!(
            assembled == fresh,
            "{what}: relinked from the stored facts differs from a fresh link"
        );
        STORED_RELINKS.with(|n| n.set(n.get() + 1));
    }
    records.retain(|path, _| after.contains_key(path));
    let positions = SymbolPositions::of(&updated);
    for path in &updated.relinked {
        records.insert(path.clone(), stored(updated.record(path, &positions)));
    }
    let assembled = CodeGraph::assemble(records.clone().into_iter().collect()).expect("assemble");
    assert!(
        assembled == fresh,
        "{what}: the records after the update differ from a fresh link"
    );
    let resolved = updated.resolved_files;
    (updated, resolved)
}

#[test]
fn an_updated_graph_equals_a_fresh_link_after_every_kind_of_change() {
    // Edges removed one by one, and all in one pass.
    for one_by_one in [usize::MAX, 0] {
        updates_equal_fresh_links(one_by_one);
    }
}

fn updates_equal_fresh_links(one_by_one: usize) {
    let (facts, _) = fixture_facts();
    let mut current = facts.clone();
    let mut graph = CodeGraph::build(&current);
    let mut records = all_records(&graph);
    let mut body_edits_resolved = Vec::new();
    // One change after another on the same graph, so freed slots and reused nodes pile up.
    for path in facts.keys() {
        // A body edit: references change, definitions do not.
        let mut edited = current.clone();
        let file = edited.get_mut(path).expect("file");
        file.references = file.references.iter().step_by(2).cloned().collect();
        let (next, resolved) = update_matches_fresh_link(
            graph,
            &mut records,
            &current,
            &edited,
            &format!("body edit of {path}"),
            one_by_one,
        );
        body_edits_resolved.push(resolved);
        (graph, current) = (next, edited);
        // A rename of the first definition (and so of everything inside it).
        let mut renamed = current.clone();
        if let Some(symbol) = renamed.get_mut(path).expect("file").symbols.first_mut() {
            symbol.name.push_str("_renamed");
        }
        (graph, _) = update_matches_fresh_link(
            graph,
            &mut records,
            &current,
            &renamed,
            &format!("rename in {path}"),
            one_by_one,
        );
        current = renamed;
        // The file removed, then added back as it was.
        let mut without = current.clone();
        let removed = without.remove(path).expect("file");
        (graph, _) = update_matches_fresh_link(
            graph,
            &mut records,
            &current,
            &without,
            &format!("remove {path}"),
            one_by_one,
        );
        let mut with = without.clone();
        with.insert(path.clone(), removed);
        (graph, _) = update_matches_fresh_link(
            graph,
            &mut records,
            &without,
            &with,
            &format!("re-add {path}"),
            one_by_one,
        );
        current = with;
        // A new definition before the others: every symbol of the file moves one place, while
        // files that use them resolve nothing anew (their records keep stale positions).
        let mut inserted = current.clone();
        let file = inserted.get_mut(path).expect("file");
        if let Some(first) = file.symbols.first().cloned() {
            for symbol in &mut file.symbols {
                symbol.container = symbol.container.map(|c| c + 1);
            }
            for reference in &mut file.references {
                reference.container = reference.container.map(|c| c + 1);
            }
            file.symbols.insert(
                0,
                crate::facts::Symbol {
                    name: "inserted_first".to_string(),
                    container: None,
                    ..first
                },
            );
            (graph, _) = update_matches_fresh_link(
                graph,
                &mut records,
                &current,
                &inserted,
                &format!("definition inserted first in {path}"),
                one_by_one,
            );
            current = inserted;
        }
    }
    assert!(
        STORED_RELINKS.with(|n| n.get()) > 0,
        "no change was relinked from the stored facts"
    );
    // A body edit re-resolves the edited file alone (none when the edit changed nothing).
    assert!(
        body_edits_resolved.iter().all(|&n| n <= 1) && body_edits_resolved.contains(&1),
        "{body_edits_resolved:?}"
    );
}

/// The edges (source label, target label, confidence) of the kinds that resolve names.
fn resolved_edges(graph: &CodeGraph) -> Vec<(String, String, f32)> {
    graph
        .graph
        .edge_references()
        .filter(|e| {
            matches!(
                e.weight().kind,
                EdgeKind::Calls | EdgeKind::References | EdgeKind::Implements
            )
        })
        .map(|e| {
            (
                graph.graph[e.source()].label().to_string(),
                graph.graph[e.target()].label().to_string(),
                e.weight().confidence,
            )
        })
        .collect()
}

fn edge<'e>(
    edges: &'e [(String, String, f32)],
    source: &str,
    target: &str,
) -> Option<&'e (String, String, f32)> {
    edges.iter().find(|(s, t, _)| s == source && t == target)
}

#[test]
fn builtins_and_bare_names_do_not_resolve_to_methods_or_unimported_definitions() {
    let (facts, _) = facts_of("resolution");
    let edges = resolved_edges(&CodeGraph::build(&facts));
    let text_str = "pyproj/models.py::Text::str";
    // `str(item)` is the builtin, not `Text.str`; `item.text()` is the method.
    assert!(
        edge(&edges, "pyproj/report.py::as_text", text_str).is_none(),
        "{edges:#?}"
    );
    assert!(
        edge(
            &edges,
            "pyproj/report.py::via_method",
            "pyproj/models.py::Text::text"
        )
        .is_some()
    );
    // `set()` is the builtin, not the `set` method nor an unimported module's `set`.
    for target in ["pyproj/models.py::Text::set", "pyproj/other/util.py::set"] {
        assert!(
            edge(&edges, "pyproj/report.py::fresh", target).is_none(),
            "{target}: {edges:#?}"
        );
    }
    // `import os` is the standard library's, not a vendored stub tree's.
    assert!(
        edge(
            &edges,
            "pyproj/paths.py::here",
            "stubs/stdlib/os/__init__.pyi::getcwd"
        )
        .is_none(),
        "{edges:#?}"
    );
    // A Python module sees only what it defines and imports.
    assert!(
        edge(
            &edges,
            "pyproj/report.py::loud",
            "pyproj/other/util.py::shout"
        )
        .is_none()
    );
    // `asyncio.run` and `json.loads` are the standard library's, `JSON.parse` the global's,
    // whatever the file imports under those names; the imported ones are linked.
    for (source, target, linked) in [
        ("pyproj/runner.py::start", "pyproj/jobs.py::run", false),
        ("pyproj/runner.py::start", "pyproj/jobs.py::loads", false),
        ("pyproj/runner.py::direct", "pyproj/jobs.py::run", true),
        ("pyproj/runner.py::direct", "pyproj/jobs.py::loads", true),
        (
            "web/widgets/views.ts::load",
            "web/widgets/parser.ts::parse",
            true,
        ),
    ] {
        let found = edges
            .iter()
            .filter(|(s, t, _)| s == source && t == target)
            .count();
        let expected = usize::from(linked);
        assert_eq!(found, expected, "{source} -> {target}: {edges:#?}");
    }
    // `this.render()` is the enclosing class's `render`, not another class's.
    let update = "web/widgets/views.ts::Card::update";
    assert!(edge(&edges, update, "web/widgets/views.ts::Card::render").is_some());
    assert!(edge(&edges, update, "web/widgets/views.ts::Badge::render").is_none());
    // A function nested in another is hidden from a third: `bind`'s `onClick` is its parameter.
    assert!(
        edge(
            &edges,
            "web/widgets/views.ts::outer",
            "web/widgets/views.ts::outer::onClick"
        )
        .is_some()
    );
    assert!(
        edges
            .iter()
            .all(|(s, t, _)| !(s == "web/widgets/views.ts::bind" && t.contains("onClick"))),
        "{edges:#?}"
    );
    // `from pyproj import models; models.Text(...)`: a submodule of an imported package.
    assert!(edge(&edges, "pyproj/app.py::make", "pyproj/models.py::Text").is_some());
    // `new Map()` is the global Map, not a component that happens to be called Map.
    assert!(
        edges
            .iter()
            .all(|(s, t, _)| !(s.starts_with("web/app.ts") && t.starts_with("web/widgets/Map.ts"))),
        "{edges:#?}"
    );
}

#[test]
fn reexports_through_init_and_index_files_are_followed() {
    let (facts, _) = facts_of("resolution");
    let edges = resolved_edges(&CodeGraph::build(&facts));
    let helper = "pyproj/pkg/helpers.py::helper";
    // `import pyproj.pkg; pyproj.pkg.helper()` and `from pyproj.pkg import helper`.
    for caller in ["pyproj/app.py::twice", "pyproj/app.py::direct"] {
        let found = edge(&edges, caller, helper);
        assert!(found.is_some(), "{caller}: {edges:#?}");
    }
    // `import { formatDate } from './lib'` finds it through `lib/index.ts` as an import, not
    // as the one definition of that name anywhere.
    // A workspace package imported by its `package.json` name, through its `src/index.ts`.
    let found = edge(
        &edges,
        "packages/app/src/main.ts::greet",
        "packages/shared/src/strings.ts::capitalize",
    )
    .unwrap_or_else(|| panic!("{edges:#?}"));
    assert!(found.2 >= super::resolve::IMPORTED_CONFIDENCE);
    // A name imported directly from a module means that module's, not a same-named one an
    // imported package re-exports.
    let title = "packages/app/src/local.ts::title";
    assert!(edge(&edges, title, "packages/app/src/format.ts::capitalize").is_some());
    assert!(
        edge(&edges, title, "packages/shared/src/strings.ts::capitalize").is_none(),
        "{edges:#?}"
    );
    assert!(edge(&edges, title, "packages/shared/src/strings.ts::shout").is_some());
    let found = edge(&edges, "web/app.ts::stamp", "web/lib/format.ts::formatDate")
        .unwrap_or_else(|| panic!("{edges:#?}"));
    assert!(
        found.2 >= super::resolve::IMPORTED_CONFIDENCE,
        "confidence {}",
        found.2
    );
}

#[test]
fn a_changed_reexport_updates_its_importers_as_a_fresh_link_would() {
    let (facts, _) = facts_of("resolution");
    let mut without = facts.clone();
    without
        .get_mut("pyproj/pkg/__init__.py")
        .expect("init")
        .imports
        .clear();
    for one_by_one in [usize::MAX, 0] {
        let graph = CodeGraph::build(&without);
        let mut records = all_records(&graph);
        assert!(
            edge(
                &resolved_edges(&graph),
                "pyproj/app.py::direct",
                "pyproj/pkg/helpers.py::helper"
            )
            .is_none()
        );
        let (graph, _) = update_matches_fresh_link(
            graph,
            &mut records,
            &without,
            &facts,
            "re-export added",
            one_by_one,
        );
        update_matches_fresh_link(
            graph,
            &mut records,
            &facts,
            &without,
            "re-export removed",
            one_by_one,
        );
    }
}

#[test]
fn a_definition_that_becomes_a_method_updates_its_callers_as_a_fresh_link_would() {
    let (facts, _) = facts_of("resolution");
    let mut method = facts.clone();
    let helpers = method.get_mut("pyproj/pkg/helpers.py").expect("helpers");
    helpers.symbols[0].kind = crate::facts::SymbolKind::Method;
    for one_by_one in [usize::MAX, 0] {
        let graph = CodeGraph::build(&facts);
        let mut records = all_records(&graph);
        let (graph, _) = update_matches_fresh_link(
            graph,
            &mut records,
            &facts,
            &method,
            "function to method",
            one_by_one,
        );
        update_matches_fresh_link(
            graph,
            &mut records,
            &method,
            &facts,
            "method to function",
            one_by_one,
        );
    }
}

/// Link facts of source texts, as `facts_of` extracts a fixture's.
fn facts_from(files: &[(&str, &str)]) -> BTreeMap<String, LinkFacts> {
    files
        .iter()
        .map(|(path, text)| {
            let language = Language::from_path(Path::new(path));
            let extracted = extract(language, text, &ChunkLimits::default());
            (
                path.to_string(),
                LinkFacts {
                    language: Some(language),
                    symbols: extracted.symbols,
                    references: extracted.references,
                    imports: extracted.imports,
                    package: LinkFacts::manifest_package(path, text),
                },
            )
        })
        .collect()
}

/// A file that comes or goes in another directory than its importers, which name nothing it
/// defines: only the words of their imports tell that their import edges move. Relinked from
/// the stored records, in each language, as a fresh link would.
#[test]
fn importers_that_name_nothing_of_a_file_that_comes_and_goes_relink_from_the_records() {
    /// A language, its importers (path, text), and the file that comes and goes.
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], (&'a str, &'a str));
    let cases: [Case; 7] = [
        (
            "typescript, a hyphenated name",
            &[(
                "src/app/main.ts",
                "import '../polyfill-setup';\nexport function run() { return 1; }\n",
            )],
            (
                "src/polyfill-setup.ts",
                "export function shared() { return 2; }\n",
            ),
        ),
        (
            "python, a specifier of dots alone",
            &[(
                "a/pkg/mod.py",
                "from . import x\n\ndef run():\n    return 1\n",
            )],
            ("a/pkg.py", "def shared():\n    return 2\n"),
        ),
        (
            "go, a hyphenated directory",
            &[(
                "cmd/main.go",
                "package main\n\nimport _ \"example.com/proj/db-drivers\"\n\nfunc main() {}\n",
            )],
            (
                "db-drivers/register.go",
                "package drivers\n\nfunc Register() {}\n",
            ),
        ),
        (
            "python",
            &[(
                "app/main.py",
                "import helpers\n\ndef run():\n    return 1\n",
            )],
            ("lib/helpers.py", "def shared():\n    return 2\n"),
        ),
        (
            "javascript",
            &[(
                "web/app.js",
                "import './lib/util';\nexport function run() { return 1; }\n",
            )],
            (
                "web/lib/util.js",
                "export function shared() { return 2; }\n",
            ),
        ),
        (
            "c",
            &[(
                "src/main.c",
                "#include \"config.h\"\nint main(void) { return 0; }\n",
            )],
            ("include/config.h", "int shared(void);\n"),
        ),
        (
            "go",
            &[(
                "cmd/main.go",
                "package main\n\nimport \"example.com/proj/store\"\n\nfunc main() {}\n",
            )],
            ("store/db.go", "package store\n\nfunc Shared() {}\n"),
        ),
    ];
    for (language, importers, (added, text)) in cases {
        let without = facts_from(importers);
        let mut with = without.clone();
        with.extend(facts_from(&[(added, text)]));
        let linked = CodeGraph::build(&with);
        let importer = importers[0].0;
        assert!(
            linked
                .neighbours(
                    linked.file(importer).expect("importer"),
                    petgraph::Direction::Outgoing,
                    &[EdgeKind::Imports]
                )
                .iter()
                .any(|(node, _)| linked.graph[*node].path() == added),
            "{language}: {importer} imports {added}"
        );
        added_and_removed_relink_from_the_records(&without, &with, &format!("{language}: {added}"));
    }
}

/// Adds and then removes what `with` has beyond `without`, checking each update (in memory
/// and from the stored records) against a fresh link, and that both were relinked from the
/// records.
fn added_and_removed_relink_from_the_records(
    without: &BTreeMap<String, LinkFacts>,
    with: &BTreeMap<String, LinkFacts>,
    what: &str,
) {
    let graph = CodeGraph::build(without);
    let mut records = all_records(&graph);
    let before = STORED_RELINKS.with(|n| n.get());
    let (graph, _) = update_matches_fresh_link(
        graph,
        &mut records,
        without,
        with,
        &format!("{what} added"),
        usize::MAX,
    );
    update_matches_fresh_link(
        graph,
        &mut records,
        with,
        without,
        &format!("{what} removed"),
        usize::MAX,
    );
    assert_eq!(
        STORED_RELINKS.with(|n| n.get()),
        before + 2,
        "{what}: both relinked from the records"
    );
}

/// A file that comes or goes changes what a re-exporting file's import reaches, and so the
/// scope of the files importing that re-exporting file, which name nothing of either: they
/// resolve again, relinked from the stored records as a fresh link would.
#[test]
fn importers_of_a_reexporting_file_whose_import_moves_relink_from_the_records() {
    let without = facts_from(&[
        ("src/shared/util.py", "def helper():\n    return 1\n"),
        ("a/__init__.py", "from shared.util import helper\n"),
        (
            "app.py",
            "from a import helper\n\ndef run():\n    return helper()\n",
        ),
    ]);
    let mut with = without.clone();
    with.extend(facts_from(&[(
        "shared/util.py",
        "def other():\n    pass\n",
    )]));
    assert_ne!(
        resolved_edges(&CodeGraph::build(&without)),
        resolved_edges(&CodeGraph::build(&with)),
        "the new file changes what app.py resolves"
    );
    added_and_removed_relink_from_the_records(&without, &with, "shared/util.py");
}

/// A change of a name that more files look up than a relink from the records reads one by one
/// is left to the relink that reads every file's facts at once (`relink_stored` says `None`).
#[test]
fn a_change_many_files_look_up_is_not_relinked_from_the_records() {
    let many = super::resolve::max_files_read(0) + 1;
    let mut files: Vec<(String, String)> = (0..many)
        .map(|i| {
            (
                format!("users/u{i}.py"),
                "from lib import shared\n\ndef go():\n    return shared()\n".to_string(),
            )
        })
        .collect();
    files.push((
        "lib.py".to_string(),
        "def shared():\n    return 1\n".to_string(),
    ));
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    let before = facts_from(&refs);
    let mut after = before.clone();
    after.extend(facts_from(&[(
        "lib.py",
        "def shared_renamed():\n    return 1\n",
    )]));
    let graph = CodeGraph::build(&before);
    let records = all_records(&graph);
    let layout = layout_of(&after);
    let touched = BTreeSet::from(["lib.py".to_string()]);
    let now = BTreeMap::from([("lib.py".to_string(), after["lib.py"].clone())]);
    let previous = BTreeMap::from([("lib.py".to_string(), before["lib.py"].clone())]);
    let source = MapSource(&before, &records);
    let relinked = super::resolve::relink_stored(&source, &layout, &now, &previous, &touched);
    assert!(matches!(relinked, Ok(None)));
    // One user fewer than the limit is relinked from the records.
    let few: BTreeMap<String, LinkFacts> = before
        .iter()
        .filter(|(path, _)| path.as_str() != "users/u0.py" && path.as_str() != "users/u1.py")
        .map(|(p, f)| (p.clone(), f.clone()))
        .collect();
    let few_source = MapSource(&few, &records);
    let layout: Vec<PathEntry> = layout
        .into_iter()
        .filter(|entry| few.contains_key(entry.path))
        .collect();
    let relinked = super::resolve::relink_stored(&few_source, &layout, &now, &previous, &touched);
    assert!(matches!(relinked, Ok(Some(_))));
}

/// A cold index links in batches, writing each batch's records and letting its edges go: the
/// records and statistics are those of the whole graph's link, whatever the batch size.
#[test]
fn a_link_in_batches_writes_the_records_of_a_whole_link() {
    // The fixtures, and this crate's own sources (real code, ids repeated within files).
    for fixture in ["polyglot", "resolution", "shop", "../index/src"] {
        let (facts, _) = facts_of(fixture);
        let whole = super::resolve::link(&facts);
        let expected = all_records(&whole);
        // As a full run keeps them: references only in the encoded records, until the link
        // decodes them back.
        let lean_facts: BTreeMap<String, LinkFacts> = facts
            .iter()
            .map(|(path, facts)| {
                let mut lean = facts.clone();
                lean.make_lean();
                (path.clone(), lean)
            })
            .collect();
        let encoded: BTreeMap<&String, Vec<u8>> = facts
            .iter()
            .map(|(path, facts)| (path, crate::store::encode_link_record(facts)))
            .collect();
        let decoded =
            |path: &str| crate::store::decode_link_record(&encoded[&path.to_string()]).map(Some);
        for (batch, from_lean) in [(1, false), (3, true), (7, false), (usize::MAX, true)] {
            let mut written: Vec<(String, GraphRecord)> = Vec::new();
            let write = |records: Vec<(String, GraphRecord)>| {
                assert!(records.len() <= batch, "batches of at most {batch}");
                written.extend(records.into_iter().map(|(p, r)| (p, stored(r))));
                Ok(())
            };
            let stats = if from_lean {
                super::resolve::link_in_batches(&lean_facts, decoded, batch, write)
            } else {
                super::resolve::link_in_batches(&facts, |_| Ok(None), batch, write)
            }
            .expect("link");
            let paths: Vec<&String> = written.iter().map(|(p, _)| p).collect();
            let mut sorted = paths.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(paths, sorted, "{fixture}: each file once, in path order");
            let written: BTreeMap<String, GraphRecord> = written.into_iter().collect();
            assert_eq!(stats, whole.stats, "{fixture}, batches of {batch}");
            assert_eq!(written, expected, "{fixture}, batches of {batch}");
        }
    }
}
