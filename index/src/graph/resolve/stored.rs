//! Relinking from the stored index. A change that adds or removes no file and touches no file
//! that shapes other files' imports ([`super::shapes_layout`]) moves no import and no scope
//! but the touched files' own: what it can affect is found by name, so the facts it needs are
//! fetched from the index by name — the files that look up a changed name, and every file that
//! defines a name those files look up — instead of reading every file's facts and the whole
//! graph. The result is what [`super::relink`] gives those files (tested against a fresh link).

use std::collections::{BTreeMap, BTreeSet};

use rayon::prelude::*;

use super::imports::{PathEntry, PathIndex};
use super::names::{FileScope, REEXPORT_DEPTH, WantedNames, is_reexporting, resolve_files};
use super::{add_symbols, changed_names, layout_changed, shapes_layout};
use crate::graph::{CodeGraph, LinkFacts, Node};

/// Where a relink fetches the link facts of files it was not given.
pub trait FactsSource {
    /// What fetching fails with.
    type Error;
    /// The facts of the files `paths` (those indexed).
    fn facts_of(&self, paths: &[&str]) -> Result<Vec<(String, LinkFacts)>, Self::Error>;
    /// The facts of every file that defines one of `names`.
    fn defining(&self, names: &[&str]) -> Result<Vec<(String, LinkFacts)>, Self::Error>;
    /// The facts of every file whose references look up one of `names`
    /// ([`LinkFacts::looked_up_names`]).
    fn naming(&self, names: &[&str]) -> Result<Vec<(String, LinkFacts)>, Self::Error>;
}

/// Relinks the `touched` files (`files`: their facts now; `previous`: before) and every file
/// a change of them can affect, fetching the other facts it needs from `source` (which holds
/// the index before the change); `layout` lists every indexed file as it is now.
///
/// Returns a graph of every file node and of the symbols of the files it read, in which the
/// files it re-resolved ([`CodeGraph::relinked`]) have the records a fresh link of the whole
/// tree gives them; `None` when the change moves imports or scopes (a file came or went, or a
/// manifest or re-exporting file changed): the caller then relinks with every file's facts.
pub fn relink_stored<S: FactsSource>(
    source: &S,
    layout: &[PathEntry<'_>],
    files: &BTreeMap<String, LinkFacts>,
    previous: &BTreeMap<String, LinkFacts>,
    touched: &BTreeSet<String>,
) -> Result<Option<CodeGraph>, S::Error> {
    if touched
        .iter()
        .any(|path| files.contains_key(path) != previous.contains_key(path) || shapes_layout(path))
        || layout_changed(previous, files, touched)
    {
        return Ok(None);
    }
    // The touched files as they are now; what the index holds of them is their past.
    let mut loaded: BTreeMap<String, LinkFacts> = files.clone();
    let keep = |loaded: &mut BTreeMap<String, LinkFacts>, found: Vec<(String, LinkFacts)>| {
        for (path, facts) in found {
            if !touched.contains(&path) {
                loaded.entry(path).or_insert(facts);
            }
        }
    };
    // Who resolves again: the touched files, and the files that look up a changed name.
    let mut affected: BTreeSet<String> = touched
        .iter()
        .filter(|path| files.contains_key(*path))
        .cloned()
        .collect();
    let changed = changed_names(previous, files, touched);
    if !changed.is_empty() {
        let mut changed: Vec<&str> = changed.iter().map(String::as_str).collect();
        changed.sort_unstable();
        let naming = source.naming(&changed)?;
        affected.extend(naming.iter().map(|(path, _)| path.clone()));
        keep(&mut loaded, naming);
    }
    // Every definition of a name they look up, and every symbol named as one of their
    // qualifiers.
    let wanted: Vec<String> = {
        let affected: BTreeSet<&str> = affected.iter().map(String::as_str).collect();
        let wanted = WantedNames::of(&loaded, &affected);
        let mut names: Vec<String> = wanted
            .names
            .iter()
            .chain(&wanted.qualifiers)
            .map(|name| name.to_string())
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    };
    let wanted: Vec<&str> = wanted.iter().map(String::as_str).collect();
    keep(&mut loaded, source.defining(&wanted)?);
    // And the re-exporting files their imports reach, as deep as a scope follows them.
    let paths = PathIndex::of(layout.iter().copied());
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut frontier: Vec<String> = affected.iter().cloned().collect();
    for _ in 0..=REEXPORT_DEPTH {
        let mut barrels: BTreeSet<&str> = BTreeSet::new();
        for path in &frontier {
            let Some(facts) = loaded.get(path) else {
                continue;
            };
            for import in &facts.imports {
                let targets = paths
                    .resolve_import(path, facts.language, &import.path)
                    .unwrap_or_default();
                barrels.extend(
                    targets
                        .into_iter()
                        .filter(|target| is_reexporting(target) && !seen.contains(*target)),
                );
            }
        }
        if barrels.is_empty() {
            break;
        }
        let missing: Vec<&str> = barrels
            .iter()
            .copied()
            .filter(|barrel| !loaded.contains_key(*barrel))
            .collect();
        let found = source.facts_of(&missing)?;
        keep(&mut loaded, found);
        seen.extend(barrels.iter().map(|barrel| barrel.to_string()));
        frontier = barrels.iter().map(|barrel| barrel.to_string()).collect();
    }
    // The graph of what was read: every file's node, the read files' symbols.
    let mut graph = CodeGraph::default();
    for entry in layout {
        let node = graph.graph.add_node(Node::File {
            path: entry.path.to_string(),
        });
        graph.files.insert(entry.path.to_string(), node);
    }
    // (Only indexed files: the index and the tree agree on which those are when no file came
    // or went.)
    loaded.retain(|path, _| graph.files.contains_key(path));
    for (path, facts) in &loaded {
        add_symbols(&mut graph, path, facts, &BTreeMap::new());
    }
    let affected: BTreeSet<&str> = affected
        .iter()
        .map(String::as_str)
        .filter(|path| loaded.contains_key(*path))
        .collect();
    let scopes: BTreeMap<&str, FileScope> = affected
        .par_iter()
        .filter_map(|path| {
            let (path, facts) = loaded.get_key_value(*path)?;
            Some((path.as_str(), FileScope::new(&paths, &loaded, path, facts)))
        })
        .collect();
    resolve_files(
        &mut graph,
        &loaded,
        layout.iter().map(|entry| entry.path),
        &scopes,
        &affected,
    );
    graph.from_records = true;
    Ok(Some(graph))
}
