//! Ranking reads only the part of the graph a query needs (the records around the best
//! lexical files, and where the task's identifiers are defined): it must answer exactly as the
//! whole graph does. Checked on a real repository — this one's own sources.

use std::path::Path;

use sextant::rank::Weights;
use sextant::rank::pack::{Budget, TokenCounter};
use sextant::retrieval::{HistoryFrom, Retrieval, VectorsFrom};
use sextant::secrets::SecretRules;
use sextant_index::store::IndexDir;
use sextant_index::update::{IndexSettings, NoProgress, UpdateOptions, update_index};

/// Tasks a developer of this repository might give, naming identifiers (plain, qualified,
/// common and rare) and describing behaviour.
const TASKS: [&str; 8] = [
    "make the index commit atomic",
    "relink the graph from the stored records after a change",
    "why does TaskQuery::parse drop filler words",
    "the packer leaves secret files out of the context",
    "CodeGraph::find_symbols returns nothing for a qualified name",
    "new get len",
    "the MCP server reopens the index after a reindex",
    "assemble_part drops edges into files not read",
];

/// `root` indexed into `dir` and opened twice: once as queries open it (each ranking reads
/// the part of the graph it needs) and once with the whole graph assembled.
fn part_and_whole(root: &Path, dir: &IndexDir) -> (Retrieval, Retrieval) {
    update_index(
        root,
        dir,
        &IndexSettings::default(),
        UpdateOptions::default(),
        &NoProgress,
    )
    .expect("index");
    let open = || {
        Retrieval::open(
            dir,
            root,
            VectorsFrom::Off("not wanted here".to_string()),
            HistoryFrom::Given(None),
        )
        .expect("open")
    };
    let (part, whole) = (open(), open());
    assert!(whole.graph().is_some(), "the whole graph assembles");
    (part, whole)
}

#[test]
fn ranking_with_the_graph_read_in_part_answers_as_the_whole_graph() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let scratch = tempfile::tempdir().expect("scratch");
    let (mut part, mut whole) = part_and_whole(root, &IndexDir::new(scratch.path().join("index")));
    let weights = Weights::default();
    let counter = TokenCounter::named("cl100k_base").expect("tokenizer");
    let secrets = SecretRules::default_rules();
    for task in TASKS {
        let a = part
            .answer(task, &weights, &counter, &Budget::default(), secrets)
            .expect("answer");
        let b = whole
            .answer(task, &weights, &counter, &Budget::default(), secrets)
            .expect("answer");
        assert!(
            a.ranked.iter().any(|f| f.signals.graph > 0.0),
            "{task}: the graph signal fired"
        );
        assert_eq!(a.ranked.len(), b.ranked.len(), "{task}: rankings differ");
        for (x, y) in a.ranked.iter().zip(&b.ranked) {
            assert_eq!(
                format!("{x:?}"),
                format!("{y:?}"),
                "{task}: rankings differ"
            );
        }
        let sections = |packed: &sextant::rank::pack::Packed| -> Vec<String> {
            packed.files.iter().map(|f| f.section.clone()).collect()
        };
        assert_eq!(
            sections(&a.packed),
            sections(&b.packed),
            "{task}: packed context differs"
        );
    }
    assert!(part.notes().is_empty(), "{:?}", part.notes());
}

/// A task naming a symbol by its exact id (`setup.py::run`, a file at the root, whose name
/// is defined in too many files to be read by name) finds it in the part of the graph as in
/// the whole.
#[test]
fn an_exact_symbol_id_is_found_in_the_part_of_the_graph() {
    let repo = tempfile::tempdir().expect("repo");
    let root = repo.path();
    std::fs::write(
        root.join("setup.py"),
        "def run():\n    return run_all()\n\ndef run_all():\n    return 1\n",
    )
    .expect("write");
    std::fs::create_dir_all(root.join("pkg")).expect("mkdir");
    for name in ["a", "b", "c", "d", "e", "f"] {
        std::fs::write(
            root.join(format!("pkg/{name}.py")),
            "from setup import run_all\n\ndef run():\n    return run_all()\n",
        )
        .expect("write");
    }
    let (mut part, mut whole) = part_and_whole(root, &IndexDir::new(root.join(".sextant")));
    let task = "`setup.py::run` fails when the suite is empty";
    // Without graph links the part holds only what names find (setup.py may be a seed).
    let weights = Weights {
        graph: 0.0,
        ..Weights::default()
    };
    let (_, a) = part.rank(task, &weights, 10).expect("rank");
    let (_, b) = whole.rank(task, &weights, 10).expect("rank");
    assert!(
        b.iter()
            .any(|f| f.signals.symbols.iter().any(|s| s.id == "setup.py::run")),
        "{b:?}"
    );
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
}
