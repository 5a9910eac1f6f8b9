//! Incremental indexing must give exactly the index a full rebuild gives, whatever sequence of
//! edits came before; plus the store's guarantees (lock, corruption, settings changes).

use std::path::Path;

use proptest::prelude::*;
use sextant_index::graph::CodeGraph;
use sextant_index::lexical::{LexicalIndex, LinkTerms, StoredChunk};
use sextant_index::store::{FactsMap, IndexDir, Manifest, StoreError};
use sextant_index::update::{
    IndexError, IndexSettings, IndexSummary, NoProgress, UpdateOptions, update_index,
};
use sextant_index::walk::Coverage;

const PATHS: [&str; 8] = [
    "src/lib.rs",
    "src/auth/jwt.rs",
    "app/views.py",
    "web/api.ts",
    "cmd/main.go",
    "README.md",
    "native/x.c",
    "deep/a/b/c/Util.java",
];

/// Source in the file's language defining `item_<variant>` and `helper_<next>`, calling
/// helpers and items defined in other files, so the graph links across files and a change in one
/// file changes how references in others resolve.
fn content(path: &str, variant: u8) -> String {
    let name = format!("item_{variant}");
    let next = (variant + 1) % 4;
    match Path::new(path).extension().and_then(|e| e.to_str()) {
        Some("rs") => format!(
            "mod auth;\nuse crate::auth::jwt;\n/// Doc {variant}.\npub fn {name}() -> u32 {{\n    helper_{variant}()\n}}\n\npub fn helper_{next}() -> u32 {{\n    item_{next}()\n}}\n"
        ),
        Some("py") => format!(
            "from .views import item_{next}\nimport web\n\ndef {name}():\n    \"\"\"Doc {variant}.\"\"\"\n    return helper_{variant}()\n\ndef helper_{next}():\n    return item_{next}()\n"
        ),
        Some("ts") => format!(
            "import {{ x }} from \"../native/x\";\nexport function {name}(): number {{\n  return helper_{variant}();\n}}\n"
        ),
        Some("go") => {
            format!("package main\n\nfunc {name}() int {{\n\treturn helper_{variant}()\n}}\n")
        }
        Some("c") => {
            format!("#include \"x.h\"\nint {name}(void) {{\n    return helper_{variant}();\n}}\n")
        }
        Some("java") => {
            format!("class Util {{\n    int {name}() {{ return helper_{variant}(); }}\n}}\n")
        }
        _ => format!(
            "# Notes {variant}\n\n{}\n",
            "word ".repeat(variant as usize + 1)
        ),
    }
}

#[derive(Clone, Debug)]
enum Edit {
    Write(usize, u8),
    Delete(usize),
    Rename(usize, usize),
    /// An ignore file beside the path, naming it; removed when there is one.
    Ignore(usize),
    /// The path's whole directory removed.
    DeleteDir(usize),
    /// The file replaced by a directory of its name holding one file.
    FileToDir(usize),
    /// The path's top directory replaced by a file of its name (what else was under it goes).
    DirToFile(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (0..PATHS.len(), 0u8..4).prop_map(|(p, v)| Edit::Write(p, v)),
        (0..PATHS.len()).prop_map(Edit::Delete),
        (0..PATHS.len(), 0..PATHS.len()).prop_map(|(a, b)| Edit::Rename(a, b)),
        (0..PATHS.len()).prop_map(Edit::Ignore),
        (0..PATHS.len()).prop_map(Edit::DeleteDir),
        (0..PATHS.len()).prop_map(Edit::FileToDir),
        (0..PATHS.len()).prop_map(Edit::DirToFile),
    ]
}

/// The ignore file an [`Edit::Ignore`] of `path` writes.
fn ignore_file(path: &str) -> String {
    match path.rsplit_once('/') {
        Some((dir, _)) => format!("{dir}/.gitignore"),
        None => ".gitignore".to_string(),
    }
}

/// The paths an edit touches, as a watcher or a hook would name them.
fn touched(edit: &Edit) -> Vec<String> {
    match edit {
        Edit::Write(path, _) | Edit::Delete(path) => vec![PATHS[*path].to_string()],
        Edit::Rename(from, to) => vec![PATHS[*from].to_string(), PATHS[*to].to_string()],
        Edit::Ignore(path) => vec![ignore_file(PATHS[*path])],
        Edit::DeleteDir(path) => vec![
            PATHS[*path]
                .rsplit_once('/')
                .map_or(PATHS[*path], |(dir, _)| dir)
                .to_string(),
        ],
        // What a watcher would name first: the file in the new directory.
        Edit::FileToDir(path) => vec![format!("{}/inner.py", PATHS[*path])],
        // One of the paths under the directory that went, not the directory.
        Edit::DirToFile(path) => vec![PATHS[*path].to_string()],
    }
}

/// Makes room for a file at `full` under `root`: a directory there (an [`Edit::FileToDir`])
/// goes, and so does a file where one of its directories belongs (an [`Edit::DirToFile`]).
fn clear(root: &Path, full: &Path) {
    for ancestor in full.ancestors().skip(1) {
        if ancestor == root {
            break;
        }
        if ancestor.is_file() {
            std::fs::remove_file(ancestor).expect("remove file");
        }
    }
    if full.is_dir() {
        std::fs::remove_dir_all(full).expect("remove dir");
    }
}

fn apply(root: &Path, edit: &Edit) {
    match edit {
        Edit::Write(path, variant) => {
            let full = root.join(PATHS[*path]);
            clear(root, &full);
            std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
            std::fs::write(full, content(PATHS[*path], *variant)).expect("write");
        }
        Edit::Delete(path) => {
            let _ = std::fs::remove_file(root.join(PATHS[*path]));
        }
        Edit::Rename(from, to) => {
            let source = root.join(PATHS[*from]);
            let target = root.join(PATHS[*to]);
            if source.is_file() && from != to {
                clear(root, &target);
                std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
                std::fs::rename(source, target).expect("rename");
            }
        }
        Edit::Ignore(path) => {
            let file = root.join(ignore_file(PATHS[*path]));
            if file.exists() {
                std::fs::remove_file(file).expect("remove");
            } else {
                clear(root, &file);
                std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
                let name = PATHS[*path].rsplit('/').next().expect("name");
                std::fs::write(file, format!("{name}\n")).expect("write");
            }
        }
        Edit::DeleteDir(path) => {
            if let Some((dir, _)) = PATHS[*path].rsplit_once('/') {
                let _ = std::fs::remove_dir_all(root.join(dir));
            } else {
                let _ = std::fs::remove_file(root.join(PATHS[*path]));
            }
        }
        Edit::DirToFile(path) => {
            if let Some((top, _)) = PATHS[*path].split_once('/') {
                let _ = std::fs::remove_dir_all(root.join(top));
                std::fs::write(root.join(top), "x = 1\n").expect("write");
            }
        }
        Edit::FileToDir(path) => {
            let full = root.join(PATHS[*path]);
            if full.is_file() {
                std::fs::remove_file(&full).expect("remove");
                std::fs::create_dir(&full).expect("mkdir");
                std::fs::write(full.join("inner.py"), "def inner():\n    return 1\n")
                    .expect("write");
            }
        }
    }
}

fn settings() -> IndexSettings {
    IndexSettings {
        threads: 2,
        ..IndexSettings::default()
    }
}

fn index(root: &Path, dir: &IndexDir, full: bool) {
    index_only(root, dir, full, None);
}

/// [`index`], walking only what `only` covers.
fn index_only(root: &Path, dir: &IndexDir, full: bool, only: Option<Coverage>) {
    update_index(
        root,
        dir,
        &settings(),
        UpdateOptions {
            full,
            vectors: None,
            only: only.map(std::sync::Arc::new),
        },
        &NoProgress,
    )
    .expect("index");
}

/// The manifest without what legitimately differs between runs (generation, time, and file
/// stamps, which depend on when each file was read).
fn comparable(manifest: &Manifest) -> Manifest {
    let mut manifest = Manifest {
        generation: 0,
        committed_at_unix: 0,
        ..manifest.clone()
    };
    for record in manifest.files.values_mut() {
        record.stamp = None;
    }
    manifest
}

fn contents(dir: &IndexDir) -> (Manifest, Vec<StoredChunk>, CodeGraph, FactsMap) {
    let snapshot = dir.open().expect("open");
    let graph = snapshot.read_graph(dir).expect("graph");
    (
        comparable(&snapshot.manifest),
        snapshot.lexical.all_chunks().expect("chunks"),
        graph,
        snapshot.read_facts(dir).expect("facts"),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn incremental_equals_full_rebuild(
        initial in proptest::collection::vec((0..PATHS.len(), 0u8..4), 0..6),
        batches in proptest::collection::vec(proptest::collection::vec(edit(), 1..4), 1..5),
        // Each batch indexed walking only the paths it touched (as `--changed` and the watch
        // do), or walking the whole tree.
        limited in any::<bool>(),
    ) {
        let repo = tempfile::tempdir().expect("repo");
        let root = repo.path();
        let incremental = IndexDir::new(root.join(".sextant"));
        for (path, variant) in initial {
            apply(root, &Edit::Write(path, variant));
        }
        index(root, &incremental, false);
        for batch in &batches {
            for edit in batch {
                apply(root, edit);
            }
            let only = limited
                .then(|| {
                    let paths: Vec<String> = batch.iter().flat_map(touched).collect();
                    Coverage::of(paths.iter().map(String::as_str))
                })
                .flatten();
            index_only(root, &incremental, false, only);
        }
        let scratch = tempfile::tempdir().expect("scratch");
        let full = IndexDir::new(scratch.path().join("index"));
        index(root, &full, true);
        let (incremental_manifest, incremental_chunks, incremental_graph, incremental_facts) =
            contents(&incremental);
        let (full_manifest, full_chunks, full_graph, full_facts) = contents(&full);
        prop_assert_eq!(incremental_facts, full_facts);
        prop_assert_eq!(incremental_manifest, full_manifest);
        prop_assert_eq!(incremental_chunks, full_chunks);
        prop_assert_eq!(incremental_graph.canonical_edges(), full_graph.canonical_edges());
        prop_assert!(incremental_graph == full_graph);
        for query in QUERIES {
            let (incremental, full) = (rankings(&incremental, query), rankings(&full, query));
            prop_assert!(same_ranking(&incremental, &full), "{query}: {incremental:?} != {full:?}");
        }
    }
}

/// Edits that only change existing files (no file comes or goes) are relinked from the stored
/// records — reading only the files the change concerns — and each leaves the graph a full
/// rebuild of the same tree has, every definition that moved, vanished or appeared included.
#[test]
fn body_edits_relink_from_the_stored_records_as_a_full_rebuild_would() {
    let repo = tempfile::tempdir().expect("repo");
    let root = repo.path();
    for (at, _) in PATHS.iter().enumerate() {
        apply(root, &Edit::Write(at, (at % 4) as u8));
    }
    let dir = IndexDir::new(root.join(".sextant"));
    index(root, &dir, false);
    let mut from_records = 0;
    for round in 0..3u8 {
        for (at, path) in PATHS.iter().enumerate() {
            apply(root, &Edit::Write(at, (at as u8 + round + 1) % 4));
            let summary = index_incrementally(root, &dir).expect("index");
            let graph = summary.graph.clone().expect("graph summary");
            assert!(summary.committed, "{path}: {summary:?}");
            if graph.from_records {
                from_records += 1;
            }
            let scratch = tempfile::tempdir().expect("scratch");
            let full = IndexDir::new(scratch.path().join("index"));
            index(root, &full, true);
            let (.., incremental_graph, _) = contents(&dir);
            let (.., full_graph, _) = contents(&full);
            assert_eq!(
                incremental_graph.canonical_edges(),
                full_graph.canonical_edges(),
                "round {round}, {path}"
            );
            assert!(incremental_graph == full_graph, "round {round}, {path}");
            // The summary adds up what the graph holds.
            assert_eq!(graph.edges, full_graph.graph.edge_count(), "{path}");
            assert_eq!(graph.resolution, full_graph.stats, "{path}");
        }
    }
    assert_eq!(
        from_records,
        3 * PATHS.len(),
        "every edit relinked from the records"
    );
}

/// Queries whose rankings must not depend on how the index was reached.
const QUERIES: [&str; 4] = [
    "item_1 helper_2",
    "doc word notes",
    "helper_0 item_3 util",
    "auth jwt",
];

/// One hit as a user sees it: path, lines, score.
type Hit = (String, u32, u32, f32);

/// Whether two rankings list the same hits in the same order with the same scores, up to float
/// noise (tantivy sums a document's clause scores in an order that depends on where it sits),
/// and with hits whose scores tie within that noise in either order.
fn same_ranking(a: &[Hit], b: &[Hit]) -> bool {
    let close = |x: f32, y: f32| (x - y).abs() <= 1e-5 * x.abs().max(y.abs()).max(1.0);
    let key = |hit: &Hit| (hit.0.clone(), hit.1, hit.2);
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| close(x.3, y.3))
        && a.iter()
            .all(|x| b.iter().any(|y| key(y) == key(x) && close(x.3, y.3)))
}

/// What a user sees of a query: chunk hits and file hits, with their scores.
fn rankings(dir: &IndexDir, query: &str) -> Vec<Hit> {
    let snapshot = dir.open().expect("open");
    let chunks = snapshot.lexical.search(query, 50).expect("search");
    let files = snapshot
        .lexical
        .search_files(query, 50)
        .expect("file search");
    chunks
        .into_iter()
        .chain(files)
        .map(|hit| (hit.path, hit.span.start, hit.span.end, hit.score))
        .collect()
}

/// Ten small Python files, each defining a function documented "Return the value."
fn ten_python_files() -> tempfile::TempDir {
    let repo = tempfile::tempdir().expect("repo");
    for n in 1..=10 {
        std::fs::write(
            repo.path().join(format!("m{n}.py")),
            format!("def f{n}():\n    \"\"\"Return the value.\"\"\"\n"),
        )
        .expect("write");
    }
    repo
}

/// What a full index of the tree at `root` (built in a scratch directory) answers `query`.
fn full_ranking(root: &Path, query: &str) -> Vec<Hit> {
    let scratch = tempfile::tempdir().expect("scratch");
    let full = IndexDir::new(scratch.path().join("index"));
    index(root, &full, true);
    rankings(&full, query)
}

/// Issue 16: ten small files, one changed, and a search panicked in tantivy's BM25 ("10 >= 11")
/// because a term's document frequency still counted the changed file's deleted documents.
#[test]
fn a_search_after_an_incremental_update_scores_as_a_full_index() {
    let repo = ten_python_files();
    let root = repo.path();
    let incremental = IndexDir::new(root.join(".sextant"));
    index(root, &incremental, false);
    let mut changed = std::fs::read_to_string(root.join("m1.py")).expect("read");
    changed.push_str("# a comment\n");
    std::fs::write(root.join("m1.py"), changed).expect("write");
    index(root, &incremental, false);
    let found = rankings(&incremental, "value");
    assert_eq!(found.len(), 20, "ten chunks and ten files: {found:?}");
    let expected = full_ranking(root, "value");
    assert!(same_ranking(&found, &expected), "{found:?} != {expected:?}");
}

/// A query keeps what BM25 counts of a commit (live documents, tokens) in `counts.bin` for
/// the next process. Those counts are of one commit: after a change they are counted again,
/// and a file of an earlier commit, or a damaged one, is ignored — no ranking ever differs
/// from a full index of the same tree.
#[test]
fn kept_counts_never_change_a_ranking() {
    let repo = ten_python_files();
    let root = repo.path();
    let dir = IndexDir::new(root.join(".sextant"));
    index(root, &dir, false);
    let counts = dir.path().join("counts.bin");
    let first = rankings(&dir, "value");
    assert!(counts.exists(), "the first query keeps its counts");
    assert!(same_ranking(&rankings(&dir, "value"), &first), "read back");
    assert!(same_ranking(&first, &full_ranking(root, "value")));
    let old_counts = std::fs::read(&counts).expect("counts");
    // A change: the counts kept are of the commit before it.
    std::fs::write(
        root.join("m1.py"),
        format!(
            "def f1():\n    \"\"\"Return the value.\"\"\"\n{}",
            "# words more words\n".repeat(40)
        ),
    )
    .expect("write");
    index(root, &dir, false);
    std::fs::write(&counts, &old_counts).expect("stale counts");
    let expected = full_ranking(root, "value");
    assert!(
        !same_ranking(&first, &expected),
        "the change moves the scores"
    );
    let after = rankings(&dir, "value");
    assert!(same_ranking(&after, &expected), "{after:?} != {expected:?}");
    // Damaged: ignored, counted again and rewritten.
    let mut damaged = std::fs::read(&counts).expect("counts");
    let last = damaged.len() - 1;
    damaged[last] ^= 0xff;
    std::fs::write(&counts, &damaged).expect("damage");
    assert!(same_ranking(&rankings(&dir, "value"), &expected));
    assert_ne!(
        std::fs::read(&counts).expect("counts"),
        damaged,
        "rewritten"
    );
    std::fs::write(&counts, b"garbage").expect("garbage");
    assert!(same_ranking(&rankings(&dir, "value"), &expected));
}

fn fixture_repo() -> tempfile::TempDir {
    let repo = tempfile::tempdir().expect("repo");
    for index in 0..PATHS.len() {
        apply(repo.path(), &Edit::Write(index, 1));
    }
    repo
}

/// One default (incremental) index run.
fn index_incrementally(root: &Path, dir: &IndexDir) -> Result<IndexSummary, IndexError> {
    update_index(
        root,
        dir,
        &settings(),
        UpdateOptions::default(),
        &NoProgress,
    )
}

#[test]
fn noop_reindex_commits_nothing() {
    let repo = fixture_repo();
    let dir = IndexDir::new(repo.path().join(".sextant"));
    let first = index_incrementally(repo.path(), &dir).expect("index");
    assert!(first.committed);
    assert_eq!(first.files.added, PATHS.len());
    let second = index_incrementally(repo.path(), &dir).expect("index");
    assert!(!second.committed);
    assert_eq!(second.generation, first.generation);
    assert_eq!(second.files.unchanged, PATHS.len());
    assert_eq!(second.indexed_chunks, first.indexed_chunks);
}

#[test]
fn second_writer_is_refused_while_the_lock_is_held() {
    let repo = fixture_repo();
    let dir = IndexDir::new(repo.path().join(".sextant"));
    let _held = dir.lock().expect("first lock");
    let error = index_incrementally(repo.path(), &dir).expect_err("second writer");
    assert!(
        error
            .to_string()
            .contains("another sextant process is updating the index"),
        "{error}"
    );
}

#[test]
fn corrupt_manifest_is_detected_and_rebuilt() {
    let repo = fixture_repo();
    let dir = IndexDir::new(repo.path().join(".sextant"));
    let first = index_incrementally(repo.path(), &dir).expect("index");
    let manifest = dir
        .path()
        .join(format!("manifest-{}.bin", first.generation));
    let mut bytes = std::fs::read(&manifest).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(&manifest, bytes).expect("write");
    assert!(matches!(dir.open(), Err(StoreError::Corrupt { .. })));
    let rebuilt = index_incrementally(repo.path(), &dir).expect("rebuild");
    assert!(rebuilt.full_rebuild);
    let reason = rebuilt.rebuild_reason.expect("reason given");
    assert!(
        reason.contains("damaged") && reason.contains("checksum"),
        "{reason}"
    );
    assert_eq!(
        dir.open().expect("usable").manifest.files.len(),
        PATHS.len()
    );
}

#[test]
fn corrupt_lexical_index_is_detected_and_rebuilt() {
    let repo = fixture_repo();
    let dir = IndexDir::new(repo.path().join(".sextant"));
    index_incrementally(repo.path(), &dir).expect("index");
    std::fs::write(dir.lexical_path().join("meta.json"), b"{ not json").expect("damage");
    assert!(matches!(dir.open(), Err(StoreError::Corrupt { .. })));
    let rebuilt = index_incrementally(repo.path(), &dir).expect("rebuild");
    assert!(rebuilt.full_rebuild);
    let snapshot = dir.open().expect("usable");
    assert_eq!(
        snapshot.lexical.all_chunks().expect("chunks").len(),
        snapshot.manifest.chunk_count()
    );
}

/// A lexical index written with another schema (an earlier format: no link records) is
/// reported as another version's, not as damage, and rebuilt.
#[test]
fn an_index_of_another_schema_is_another_version_and_is_rebuilt() {
    let repo = fixture_repo();
    let dir = IndexDir::new(repo.path().join(".sextant"));
    std::fs::create_dir_all(dir.lexical_path()).expect("dir");
    let mut builder = tantivy::schema::Schema::builder();
    let path = builder.add_text_field("path", tantivy::schema::STRING | tantivy::schema::STORED);
    let index = tantivy::Index::create_in_dir(dir.lexical_path(), builder.build()).expect("old");
    let mut writer: tantivy::IndexWriter = index.writer(15_000_000).expect("writer");
    writer
        .add_document(tantivy::doc!(path => "src/lib.rs"))
        .expect("add");
    let mut prepared = writer.prepare_commit().expect("prepare");
    prepared.set_payload(&IndexDir::commit_payload(1));
    prepared.commit().expect("commit");
    drop(writer);
    let error = dir.open().err().expect("refused");
    assert!(matches!(error, StoreError::OtherVersion { .. }), "{error}");
    assert!(error.needs_rebuild());
    assert!(
        error.to_string().contains("another version of sextant"),
        "{error}"
    );
    let rebuilt = index_incrementally(repo.path(), &dir).expect("rebuild");
    assert!(rebuilt.committed && rebuilt.full_rebuild);
    assert_eq!(
        dir.open().expect("usable").manifest.files.len(),
        PATHS.len()
    );
}

#[test]
fn changed_settings_force_a_rebuild() {
    let repo = fixture_repo();
    let dir = IndexDir::new(repo.path().join(".sextant"));
    index_incrementally(repo.path(), &dir).expect("index");
    let mut other = settings();
    other.chunk_limits.max_lines = 10;
    let summary = update_index(
        repo.path(),
        &dir,
        &other,
        UpdateOptions::default(),
        &NoProgress,
    )
    .expect("index");
    assert!(summary.full_rebuild);
    assert_eq!(
        summary.rebuild_reason.as_deref(),
        Some("index settings changed; rebuilding from scratch")
    );
}

#[test]
fn search_finds_split_identifiers_with_matched_lines() {
    let repo = fixture_repo();
    let dir = IndexDir::new(repo.path().join(".sextant"));
    index_incrementally(repo.path(), &dir).expect("index");
    let snapshot = dir.open().expect("open");
    let hits = snapshot.lexical.search("helper 1", 5).expect("search");
    assert!(!hits.is_empty());
    let top = &hits[0];
    assert!(!top.matched_lines.is_empty());
    assert!(
        top.matched_lines
            .iter()
            .all(|l| l.terms.iter().any(|t| t == "helper" || t == "1"))
    );
    let rust = snapshot.lexical.search("item_1", 10).expect("search");
    assert!(
        rust.iter()
            .any(|h| h.path == "src/lib.rs" && h.symbols.iter().any(|s| s == "item_1"))
    );
}

/// Damaged link and graph records (the stored documents of the lexical index) are rebuilt by
/// the next run, even one with nothing to do (issue 16: a no-op run used to say the index was
/// up to date and leave them damaged).
#[test]
fn damaged_link_and_graph_records_are_rebuilt_by_the_next_run() {
    let repo = fixture_repo();
    let dir = IndexDir::new(repo.path().join(".sextant"));
    index_incrementally(repo.path(), &dir).expect("index");
    let stores: Vec<_> = std::fs::read_dir(dir.path().join("lexical"))
        .expect("lexical")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "store"))
        .collect();
    assert!(!stores.is_empty());
    for store in &stores {
        let mut bytes = std::fs::read(store).expect("store");
        bytes[0] ^= 0x5A;
        std::fs::write(store, bytes).expect("damage");
    }
    let rebuilt = index_incrementally(repo.path(), &dir).expect("rebuild");
    assert!(rebuilt.committed && rebuilt.full_rebuild);
    assert!(
        rebuilt
            .rebuild_reason
            .as_deref()
            .is_some_and(|r| r.contains(".store") && r.contains("checksum")),
        "{:?}",
        rebuilt.rebuild_reason
    );
    let snapshot = dir.open().expect("open");
    assert_eq!(snapshot.read_facts(&dir).expect("facts").len(), PATHS.len());
    assert_eq!(
        snapshot.read_graph(&dir).expect("graph").file_count(),
        PATHS.len()
    );
    let quiet = index_incrementally(repo.path(), &dir).expect("no-op");
    assert!(!quiet.committed && quiet.rebuild_reason.is_none());
}

/// Writes into the lexical index what `write` adds, committed as generation `generation`
/// (as a foreign or damaged writer could, with the manifest left as it is).
fn write_as_a_foreign_writer(
    dir: &IndexDir,
    generation: u64,
    write: impl FnOnce(&sextant_index::lexical::LexicalWriter),
) {
    let lexical = LexicalIndex::open(&dir.path().join("lexical")).expect("lexical");
    let writer = lexical.writer(1).expect("writer");
    write(&writer);
    writer
        .commit(&IndexDir::commit_payload(generation))
        .expect("commit");
}

/// A graph record that does not fit the others (a foreign writer's bytes, with the count of
/// records still right, so a no-op run cannot see it) makes reading the graph fail naming the
/// file, and the reader's report makes the next run rebuild even with nothing changed.
#[test]
fn a_graph_record_that_does_not_fit_is_named_and_rebuilt_by_the_next_run() {
    let repo = fixture_repo();
    let root = repo.path();
    let dir = IndexDir::new(root.join(".sextant"));
    let first = index_incrementally(root, &dir).expect("index");
    write_as_a_foreign_writer(&dir, first.generation, |writer| {
        writer.remove_graph("src/lib.rs");
        writer
            .add_graph("src/lib.rs", b"not a graph", ["src/auth/jwt.rs"])
            .expect("add");
    });
    let snapshot = dir.open().expect("the lexical index itself is intact");
    let error = snapshot
        .read_graph(&dir)
        .expect_err("a record does not decode");
    assert!(error.to_string().contains("src/lib.rs"), "{error}");
    assert!(error.needs_rebuild(), "{error}");
    drop(snapshot);
    // The reader's report makes the next run rebuild, with nothing changed in the tree.
    let repaired = index_incrementally(root, &dir).expect("index");
    assert!(repaired.committed && repaired.full_rebuild, "{repaired:?}");
    assert!(
        repaired
            .rebuild_reason
            .as_deref()
            .is_some_and(|r| r.contains("src/lib.rs")),
        "{:?}",
        repaired.rebuild_reason
    );
    let snapshot = dir.open().expect("open");
    let graph = snapshot.read_graph(&dir).expect("every record rewritten");
    assert_eq!(
        graph,
        CodeGraph::build(&snapshot.read_facts(&dir).expect("facts"))
    );
    drop(snapshot);
    let quiet = index_incrementally(root, &dir).expect("no-op");
    assert!(
        !quiet.committed && quiet.rebuild_reason.is_none(),
        "{quiet:?}"
    );
}

/// Link records that disagree with the manifest (a record of a file the manifest does not
/// list, as a damaged or foreign writer could leave) are never trusted: reading them fails
/// naming the file, the next run rebuilds even with nothing changed (a no-op run used to say
/// the index was up to date), and the rebuilt index holds one record per indexed file.
#[test]
fn link_records_that_disagree_with_the_manifest_make_the_next_run_rebuild() {
    let repo = fixture_repo();
    let root = repo.path();
    let dir = IndexDir::new(root.join(".sextant"));
    let first = index_incrementally(root, &dir).expect("index");
    write_as_a_foreign_writer(&dir, first.generation, |writer| {
        writer
            .add_link(
                "ghost.rs",
                b"not facts",
                LinkTerms {
                    defines: vec!["ghost"],
                    names: vec![],
                    imports: vec![],
                },
            )
            .expect("add");
    });
    let snapshot = dir.open().expect("the lexical index itself is intact");
    let error = snapshot.read_facts(&dir).expect_err("records disagree");
    assert!(error.to_string().contains("ghost.rs"), "{error}");
    drop(snapshot);
    // Even with nothing changed in the tree, the next run sees it and rebuilds.
    let rebuilt = index_incrementally(root, &dir).expect("rebuild");
    assert!(rebuilt.committed && rebuilt.full_rebuild, "{rebuilt:?}");
    let expected = format!(
        "{} link records for {} indexed files",
        PATHS.len() + 1,
        PATHS.len()
    );
    assert!(
        rebuilt
            .rebuild_reason
            .as_deref()
            .is_some_and(|r| r.contains(&expected)),
        "{:?}",
        rebuilt.rebuild_reason
    );
    let facts = dir.open().expect("open").read_facts(&dir).expect("facts");
    assert_eq!(facts.len(), PATHS.len());
    // A change needing the facts reads them whole and right.
    std::fs::write(root.join("src/lib.rs"), "pub fn changed() {}\n").expect("edit");
    let changed = index_incrementally(root, &dir).expect("index");
    assert!(!changed.full_rebuild, "{:?}", changed.rebuild_reason);
    let facts = dir.open().expect("open").read_facts(&dir).expect("facts");
    assert!(
        facts["src/lib.rs"]
            .symbols
            .iter()
            .any(|s| s.name == "changed")
    );
}

#[test]
fn settled_files_are_not_read_again_and_every_write_is_seen() {
    let repo = fixture_repo();
    let root = repo.path();
    let dir = IndexDir::new(root.join(".sextant"));
    // Files whose stamps are older than the settle time are trusted by their stamp.
    std::thread::sleep(sextant_index::walk::SETTLE + std::time::Duration::from_millis(200));
    let first = index_incrementally(root, &dir).expect("index");
    assert_eq!(first.read_files, PATHS.len());
    let second = index_incrementally(root, &dir).expect("index");
    assert_eq!(second.read_files, 0, "unchanged files are not read");
    assert_eq!(second.files.unchanged, PATHS.len());

    // Touched without a change: read once, its new stamp stored without a new generation,
    // then trusted again.
    let touched = root.join(PATHS[1]);
    let same = std::fs::read(&touched).expect("read");
    std::fs::write(&touched, &same).expect("write");
    std::thread::sleep(sextant_index::walk::SETTLE + std::time::Duration::from_millis(200));
    let touched_run = index_incrementally(root, &dir).expect("index");
    assert_eq!(
        (
            touched_run.read_files,
            touched_run.restamped_files,
            touched_run.committed,
            touched_run.generation
        ),
        (1, 1, false, second.generation)
    );
    let after_touch = index_incrementally(root, &dir).expect("index");
    assert_eq!(
        (after_touch.read_files, after_touch.restamped_files),
        (0, 0)
    );

    // Same size, new content, modification time set back: the status change time still moves.
    let path = root.join(PATHS[0]);
    let modified = std::fs::metadata(&path)
        .expect("metadata")
        .modified()
        .expect("mtime");
    let text = std::fs::read_to_string(&path).expect("read");
    let flipped: String = text
        .chars()
        .map(|c| if c == '1' { '2' } else { c })
        .collect();
    assert_ne!(flipped, text);
    assert_eq!(flipped.len(), text.len());
    std::fs::write(&path, &flipped).expect("write");
    std::fs::File::options()
        .write(true)
        .open(&path)
        .expect("open")
        .set_modified(modified)
        .expect("set mtime");
    let third = index_incrementally(root, &dir).expect("index");
    assert_eq!(third.read_files, 1);
    assert_eq!(third.files.changed, 1);

    // Written again at once: its new stamp had not settled when it was read, so it is read
    // every time until it has, and the write is seen.
    std::fs::write(&path, &text).expect("write");
    let fourth = index_incrementally(root, &dir).expect("index");
    assert_eq!(fourth.files.changed, 1);
    let snapshot = dir.open().expect("open");
    assert_eq!(
        snapshot.manifest.files[PATHS[0]].hash,
        sextant_index::facts::ContentHash::of(text.as_bytes())
    );
}

/// A snapshot answers from the commit its manifest describes, whatever a writer commits
/// while it is open (a warm server answering while its background reindex commits): a word
/// added by the newer generation is not found, and the documents counted are the old ones.
#[test]
fn an_open_snapshot_reads_its_own_commit_while_a_writer_commits_a_newer_one() {
    let repo = fixture_repo();
    let dir = IndexDir::new(repo.path().join(".sextant"));
    index_incrementally(repo.path(), &dir).expect("index");
    let snapshot = dir.open().expect("open");
    let chunks = snapshot.lexical.chunk_count().expect("count");
    assert!(
        snapshot
            .lexical
            .search("zanzibarquux", 5)
            .expect("search")
            .is_empty(),
        "the word is not in the repository yet"
    );
    std::fs::write(
        repo.path().join("added.py"),
        "def zanzibarquux():\n    return 1\n\n\ndef other():\n    return 2\n",
    )
    .expect("write");
    let newer = index_incrementally(repo.path(), &dir).expect("reindex");
    assert!(newer.committed && newer.generation > snapshot.manifest.generation);
    assert!(
        snapshot
            .lexical
            .search("zanzibarquux", 5)
            .expect("search")
            .is_empty(),
        "an open snapshot read a newer commit than its manifest"
    );
    assert_eq!(snapshot.lexical.chunk_count().expect("count"), chunks);
    // A snapshot opened now reads the new commit.
    let fresh = dir.open().expect("open");
    assert_eq!(fresh.manifest.generation, newer.generation);
    assert!(
        !fresh
            .lexical
            .search("zanzibarquux", 5)
            .expect("search")
            .is_empty()
    );
}

/// The same when the newer commit only deletes (a file removed): its segments are the old
/// ones with new deletes, and the snapshot still reads its own commit's documents.
#[test]
fn an_open_snapshot_keeps_its_documents_while_a_writer_commits_deletions() {
    let repo = fixture_repo();
    std::fs::write(
        repo.path().join("doomed.py"),
        "def quillowisp():\n    return 1\n",
    )
    .expect("write");
    let dir = IndexDir::new(repo.path().join(".sextant"));
    index_incrementally(repo.path(), &dir).expect("index");
    let snapshot = dir.open().expect("open");
    assert!(
        !snapshot
            .lexical
            .search("quillowisp", 5)
            .expect("search")
            .is_empty()
    );
    std::fs::remove_file(repo.path().join("doomed.py")).expect("remove");
    let newer = index_incrementally(repo.path(), &dir).expect("reindex");
    assert!(newer.committed && newer.generation > snapshot.manifest.generation);
    assert!(
        !snapshot
            .lexical
            .search("quillowisp", 5)
            .expect("search")
            .is_empty(),
        "an open snapshot lost documents its manifest still lists"
    );
    let fresh = dir.open().expect("open");
    assert!(
        fresh
            .lexical
            .search("quillowisp", 5)
            .expect("search")
            .is_empty()
    );
}
