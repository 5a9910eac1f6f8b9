//! Relinking from the stored index. A change that touches no file that shapes other files'
//! imports ([`super::shapes_layout`]; nor adds or removes a Rust crate root) affects files
//! that can be found by name, so the facts it needs are fetched from the index by name: the
//! files that look up a changed name, every file that defines a name those files look up,
//! and — when files come or go — the files whose import words name them and their directory's
//! files, of which those whose scope now differs resolve again. Nothing else is read: not
//! every file's facts, not the whole graph. The result is what [`super::relink`] gives those
//! files (tested against a fresh link).

use std::collections::{BTreeMap, BTreeSet};

use rayon::prelude::*;

use super::imports::{PathEntry, PathIndex};
use super::names::{FileScope, NameTables, REEXPORT_DEPTH, WantedNames, is_reexporting};
use super::{changed_names, file_record, numbered, shapes_layout};
use crate::graph::records::GraphRecord;
use crate::graph::{LinkFacts, path_words};

/// What a relink from the stored records ([`relink_stored`]) gives: the files it resolved
/// again, each with its new graph record.
#[derive(Debug)]
pub struct StoredRelink {
    /// The graph records of the files resolved again, by path, in path order.
    pub records: Vec<(String, GraphRecord)>,
    /// How many files resolved again.
    pub resolved_files: usize,
}

/// Where a relink fetches the link facts of files it was not given.
pub trait FactsSource {
    /// What fetching fails with.
    type Error;
    /// The facts of the files `paths` (those indexed).
    fn facts_of(&self, paths: &[&str]) -> Result<Vec<(String, LinkFacts)>, Self::Error>;
    /// The facts of every file that defines one of `names`: their language and symbols at
    /// least (what a definition is looked up in; references and imports may be left out).
    fn defining(&self, names: &[&str]) -> Result<Vec<(String, LinkFacts)>, Self::Error>;
    /// The facts of every file whose references look up one of `names`
    /// ([`LinkFacts::looked_up_names`]).
    fn naming(&self, names: &[&str]) -> Result<Vec<(String, LinkFacts)>, Self::Error>;
    /// How many files [`FactsSource::naming`] would return.
    fn count_naming(&self, names: &[&str]) -> Result<usize, Self::Error>;
    /// The facts of every file with one of `words` among its import words
    /// ([`LinkFacts::import_words`]).
    fn importing(&self, words: &[&str]) -> Result<Vec<(String, LinkFacts)>, Self::Error>;
    /// The scope fingerprint each of the files `paths` was last linked with (those linked).
    fn scopes_of(&self, paths: &[&str]) -> Result<Vec<(String, u64)>, Self::Error>;
}

/// Relinks the `touched` files (`files`: their facts now; `previous`: before) and every file
/// a change of them can affect, fetching the other facts it needs from `source` (which holds
/// the index before the change); `layout` lists every indexed file as it is now.
///
/// Returns the graph records of the files it re-resolved, those a fresh link of the whole
/// tree gives them; `None` when a touched file is not [`relinkable_from_records`]: the
/// caller then relinks with every file's facts. No graph is built: the symbols of the files
/// read are numbered in a table, and file nodes are made only for them and the files their
/// imports reach (at 26M lines, a graph of every file's node and of 1,500 definers' symbols
/// was ~200 ms of a one-file change, its teardown ~55 ms more).
pub fn relink_stored<S: FactsSource>(
    source: &S,
    layout: &[PathEntry<'_>],
    files: &BTreeMap<String, LinkFacts>,
    previous: &BTreeMap<String, LinkFacts>,
    touched: &BTreeSet<String>,
) -> Result<Option<StoredRelink>, S::Error> {
    // A changed file that shapes others' imports, or such a file coming or going, moves scopes
    // anywhere: not for this path.
    let comes_or_goes = |path: &String| files.contains_key(path) != previous.contains_key(path);
    if !touched
        .iter()
        .all(|path| relinkable_from_records(path, comes_or_goes(path)))
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
        // A change of names many files look up (a new `new`) has them all resolve again, and
        // each would be read on its own: reading every file's facts at once is then cheaper.
        if source.count_naming(&changed)? > max_files_read(layout.len()) {
            return Ok(None);
        }
        let naming = source.naming(&changed)?;
        affected.extend(naming.iter().map(|(path, _)| path.clone()));
        keep(&mut loaded, naming);
    }
    // A file that comes or goes changes the imports and scopes of the files that can import
    // it (a word of theirs names it) and of its directory's files (package peers): those
    // whose scope now differs from the one they were linked with resolve again.
    let paths = PathIndex::of(layout.iter().copied());
    let moved: Vec<&String> = touched.iter().filter(|path| comes_or_goes(path)).collect();
    let mut candidates: BTreeSet<String> = BTreeSet::new();
    if !moved.is_empty() {
        let mut words: BTreeSet<&str> = BTreeSet::new();
        for path in &moved {
            words.extend(path_words(path));
            // Peers share the directory: only its files are looked at (a scan of every file
            // per file that came or went made 3,000 new files cost ~13 s at 26k files).
            candidates.extend(
                paths
                    .files_in_dir_of(path)
                    .iter()
                    .filter(|other| is_peer(path, other))
                    .map(|other| other.to_string()),
            );
        }
        let words: Vec<&str> = words.into_iter().collect();
        let importing = source.importing(&words)?;
        candidates.extend(importing.iter().map(|(path, _)| path.clone()));
        keep(&mut loaded, importing);
        // A re-exporting file among them passes what its imports now reach on to the scopes
        // of its importers, and so on as deep as a scope follows re-exports.
        let mut barrels: Vec<String> = candidates
            .iter()
            .filter(|path| is_reexporting(path))
            .cloned()
            .collect();
        let mut seen_barrels: BTreeSet<String> = barrels.iter().cloned().collect();
        for _ in 0..REEXPORT_DEPTH {
            if barrels.is_empty() {
                break;
            }
            let words: BTreeSet<&str> = barrels.iter().flat_map(|b| path_words(b)).collect();
            let words: Vec<&str> = words.into_iter().collect();
            let importing = source.importing(&words)?;
            let mut next = Vec::new();
            for (path, _) in &importing {
                if candidates.insert(path.clone())
                    && is_reexporting(path)
                    && seen_barrels.insert(path.clone())
                {
                    next.push(path.clone());
                }
            }
            keep(&mut loaded, importing);
            barrels = next;
        }
        candidates.retain(|path| !touched.contains(path) && !affected.contains(path));
        let missing: Vec<&str> = candidates
            .iter()
            .map(String::as_str)
            .filter(|path| !loaded.contains_key(*path))
            .collect();
        keep(&mut loaded, source.facts_of(&missing)?);
    }
    // The re-exporting files the imports of all of these reach, as deep as a scope follows
    // them.
    let frontier: Vec<String> = affected.iter().chain(&candidates).cloned().collect();
    load_barrels(source, &paths, &mut loaded, frontier, touched)?;
    if !candidates.is_empty() {
        let candidates: Vec<&str> = candidates.iter().map(String::as_str).collect();
        let before: BTreeMap<String, u64> = source.scopes_of(&candidates)?.into_iter().collect();
        let differ: Vec<String> = candidates
            .par_iter()
            .filter(|path| {
                let Some((path, facts)) = loaded.get_key_value(**path) else {
                    return false;
                };
                let now = FileScope::new(&paths, &loaded, path, facts).hash;
                before.get(path.as_str()) != Some(&now)
            })
            .map(|path| path.to_string())
            .collect();
        affected.extend(differ);
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
    // (Only indexed files: the index and the tree agree on which those are when no file came
    // or went.)
    loaded.retain(|path, _| paths.contains(path));
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
    // Nodes for the files read and the files their imports reach: not for every file.
    let reached: BTreeSet<&str> = scopes
        .values()
        .flat_map(FileScope::imported_files)
        .collect();
    let (graph, table) = numbered(&loaded, reached.into_iter());
    let tables = NameTables::new(
        &graph,
        &loaded,
        layout.iter().map(|entry| entry.path),
        &affected,
    );
    let records = affected
        .par_iter()
        .map(|path| {
            let (record, _) =
                file_record(&graph, &table, &tables, &loaded[*path], &scopes[path], path);
            (path.to_string(), record)
        })
        .collect();
    Ok(Some(StoredRelink {
        records,
        resolved_files: affected.len(),
    }))
}

/// Reads into `loaded` the re-exporting files the imports of the `frontier` files reach, and
/// theirs in turn, as deep as a scope follows them (what [`FileScope::new`] reads).
fn load_barrels<S: FactsSource>(
    source: &S,
    paths: &PathIndex<'_>,
    loaded: &mut BTreeMap<String, LinkFacts>,
    mut frontier: Vec<String>,
    touched: &BTreeSet<String>,
) -> Result<(), S::Error> {
    let mut seen: BTreeSet<String> = BTreeSet::new();
    for _ in 0..=REEXPORT_DEPTH {
        let mut barrels: BTreeSet<String> = BTreeSet::new();
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
                        .filter(|target| is_reexporting(target) && !seen.contains(*target))
                        .map(str::to_string),
                );
            }
        }
        if barrels.is_empty() {
            break;
        }
        let missing: Vec<&str> = barrels
            .iter()
            .map(String::as_str)
            .filter(|barrel| !loaded.contains_key(*barrel))
            .collect();
        for (path, facts) in source.facts_of(&missing)? {
            if !touched.contains(&path) {
                loaded.entry(path).or_insert(facts);
            }
        }
        seen.extend(barrels.iter().cloned());
        frontier = barrels.into_iter().collect();
    }
    Ok(())
}

/// Whether a change of the file at `path` (one that `comes_or_goes`, or whose content
/// changed) can be relinked from the stored records ([`relink_stored`]): no file that shapes
/// other files' imports changes, comes or goes.
pub fn relinkable_from_records(path: &str, comes_or_goes: bool) -> bool {
    !(shapes_layout(path) || (comes_or_goes && presence_shapes_layout(path)))
}

/// Most files a relink from the records resolves again, of `files` indexed: past it, reading
/// every file's facts in one pass costs less than reading them one by one.
pub fn max_files_read(files: usize) -> usize {
    (files / 20).max(1_000)
}

/// Whether `other`'s scope may include `path` without importing it: Go and Java files of one
/// directory (package peers), and a C or C++ source and header of one stem (paired).
fn is_peer(path: &str, other: &str) -> bool {
    let (dir, stem, extension) = path_parts(path);
    let (other_dir, other_stem, other_extension) = path_parts(other);
    const C_FAMILY: [&str; 8] = ["c", "h", "cc", "cpp", "cxx", "hh", "hpp", "hxx"];
    dir == other_dir
        && match extension {
            "go" | "java" => other_extension == extension,
            e if C_FAMILY.contains(&e) => other_stem == stem && C_FAMILY.contains(&other_extension),
            _ => false,
        }
}

/// A path's directory, file stem and extension.
fn path_parts(path: &str) -> (&str, &str, &str) {
    let (dir, file) = path.rsplit_once('/').unwrap_or(("", path));
    let (stem, extension) = file.rsplit_once('.').unwrap_or((file, ""));
    (dir, stem, extension)
}

/// Whether a file coming or going may move imports or scopes of files that do not name it:
/// what [`shapes_layout`] says, and a Rust crate root (`lib.rs`, `main.rs`: where `crate::`
/// paths of every file below start).
fn presence_shapes_layout(path: &str) -> bool {
    let file = path.rsplit('/').next().unwrap_or(path);
    shapes_layout(path) || matches!(file, "lib.rs" | "main.rs")
}
