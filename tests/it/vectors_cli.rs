//! The vector index end to end with the real model (all-MiniLM-L6-v2 int8 on ONNX Runtime,
//! installed by `sextant models install` into `$SEXTANT_HOME`; `.ci/run` installs them). Where
//! the model is not installed these tests are skipped, except under CI, where that fails.

use std::path::PathBuf;

use serde_json::Value;

use crate::support::{Damage, copy_fixture, damage, sextant, stdout_of};

/// `$SEXTANT_HOME` with the model installed, or `None` (skip) outside CI.
fn model_home() -> Option<PathBuf> {
    let home = std::env::var_os("SEXTANT_HOME").map(PathBuf::from);
    let installed = home
        .as_ref()
        .is_some_and(|h| h.join("models/minilm-l6-v2-int8/model.onnx").is_file());
    if installed {
        return home;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must install the embedding model (sextant models install) and set SEXTANT_HOME"
    );
    eprintln!("skipped: no embedding model in $SEXTANT_HOME");
    None
}

fn index_json(root: &std::path::Path, home: &std::path::Path, extra: &[&str]) -> Value {
    let mut command = sextant(root);
    command
        .env("SEXTANT_HOME", home)
        .args(["index", "--json"])
        .args(extra);
    serde_json::from_str(&stdout_of(&mut command)).expect("json")
}

/// A tree with nothing to embed (empty, or files without definitions) gets an empty vector
/// index, not an error: hnsw_rs cannot write an empty graph, and every run said "writing
/// hnsw-1: unexpected error". The first file with definitions is then embedded and found.
#[test]
fn a_tree_with_nothing_to_embed_has_empty_vectors_not_an_error() {
    let Some(home) = model_home() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let summary = index_json(root, &home, &[]);
    assert_eq!(summary["vectors"]["units"], 0, "{summary}");
    assert!(summary["vectors_missing"].is_null(), "{summary}");
    // The next run finds the empty vectors complete: nothing to say.
    let summary = index_json(root, &home, &[]);
    assert!(summary["vectors_missing"].is_null(), "{summary}");
    let status = stdout_of(sextant(root).env("SEXTANT_HOME", &home).args(["status"]));
    assert!(!status.contains("error"), "{status}");
    std::fs::write(
        root.join("limits.py"),
        "def throttle_requests(per_second):\n    return per_second\n",
    )
    .expect("write");
    let summary = index_json(root, &home, &[]);
    assert!(summary["vectors"]["units"].as_u64() > Some(0), "{summary}");
    let hits = stdout_of(sextant(root).env("SEXTANT_HOME", &home).args([
        "search",
        "--semantic",
        "rate limiting",
        "--json",
    ]));
    assert!(hits.contains("limits.py"), "{hits}");
}

#[test]
fn vectors_find_by_meaning_and_update_incrementally() {
    let Some(home) = model_home() else { return };
    let repo = copy_fixture("shop");
    let first = index_json(repo.path(), &home, &[]);
    let vectors = &first["vectors"];
    let units = vectors["units"].as_u64().expect("units");
    assert!(units > 30, "{vectors}");
    assert_eq!(vectors["embedded"], units);

    // "rate limiting" shares no word with app/throttle.py; meaning finds it.
    let hits = stdout_of(sextant(repo.path()).env("SEXTANT_HOME", &home).args([
        "search",
        "--semantic",
        "rate limiting",
        "-n",
        "3",
        "--json",
    ]));
    let hits: Value = serde_json::from_str(&hits).expect("json");
    assert_eq!(hits[0]["unit"]["path"], "app/throttle.py", "{hits}");
    assert!(hits[0]["similarity"].as_f64().expect("similarity") > 0.3);

    // why-relevant: only meaning links the task to the file.
    let why = |extra: &[&str]| -> Value {
        let mut command = sextant(repo.path());
        command
            .env("SEXTANT_HOME", &home)
            .args(["why-relevant", "rate limiting", "--json"])
            .args(extra);
        serde_json::from_str(&stdout_of(&mut command)).expect("json")
    };
    let with_vectors = why(&[]);
    assert_eq!(with_vectors["signals"]["vectors"], true);
    assert_eq!(
        with_vectors["files"][0]["path"], "app/throttle.py",
        "{with_vectors}"
    );
    assert_eq!(with_vectors["files"][0]["signals"]["chunks"], 0.0);
    assert_eq!(
        with_vectors["files"][0]["signals"]["similar"]["label"],
        "app/throttle.py::throttle_requests"
    );
    // The budget can be counted with the model's own tokenizer.json.
    let own = home.join("models/minilm-l6-v2-int8/tokenizer.json");
    let own = own.to_string_lossy().into_owned();
    let counted = why(&["--tokenizer", &own]);
    assert_eq!(counted["tokenizer"], own.as_str());
    let tokens = |v: &Value| v["files"][0]["tokens"].as_u64().expect("tokens");
    assert!(tokens(&counted) > 0);
    assert_ne!(
        tokens(&counted),
        tokens(&with_vectors),
        "WordPiece and cl100k differ"
    );
    let without = why(&["--vector-weight", "0"]);
    assert!(
        !without.to_string().contains("app/throttle.py"),
        "{without}"
    );

    // One changed function: only its units are embedded again, the graph is patched.
    let cache = repo.path().join("app/cache.py");
    let text = std::fs::read_to_string(&cache).expect("read");
    std::fs::write(&cache, text.replace("maxsize=1024", "maxsize=4096")).expect("write");
    std::fs::write(
        repo.path().join("app/email.py"),
        "\"\"\"Outgoing mail.\"\"\"\n",
    )
    .expect("write");
    let second = index_json(repo.path(), &home, &[]);
    let vectors = &second["vectors"];
    assert_eq!(vectors["ann_rebuilt"], false, "{vectors}");
    let embedded = vectors["embedded"].as_u64().expect("embedded");
    assert!((1..=3).contains(&embedded), "{vectors}");
    // The removed function is gone from the results.
    let hits = stdout_of(sextant(repo.path()).env("SEXTANT_HOME", &home).args([
        "search",
        "--semantic",
        "email the receipt",
        "-n",
        "40",
        "--json",
    ]));
    assert!(!hits.contains("send_receipt\""), "{hits}");
}

#[test]
fn an_interrupted_embedding_resumes_from_the_cache() {
    let Some(home) = model_home() else { return };
    let repo = copy_fixture("shop");
    // Abort after the first batch has been embedded and cached.
    let status = sextant(repo.path())
        .env("SEXTANT_HOME", &home)
        .env("SEXTANT_FAILPOINT", "after-embed-batch")
        .args(["index", "--quiet"])
        .output()
        .expect("runs")
        .status;
    assert!(!status.success());
    // The lexical index was committed before the vectors started.
    stdout_of(sextant(repo.path()).args(["search", "verify_token"]));
    let resumed = index_json(repo.path(), &home, &[]);
    let vectors = &resumed["vectors"];
    let units = vectors["units"].as_u64().expect("units");
    let embedded = vectors["embedded"].as_u64().expect("embedded");
    assert_eq!(embedded, units - 8, "{vectors}");
}

#[test]
fn without_a_model_the_index_says_so_and_keeps_working() {
    let empty_home = tempfile::tempdir().expect("tempdir");
    let repo = copy_fixture("shop");
    let summary = index_json(repo.path(), empty_home.path(), &[]);
    assert!(summary["vectors"].is_null());
    let reason = summary["vectors_missing"].as_str().expect("reason");
    assert!(reason.contains("sextant models install"), "{reason}");
    let human = stdout_of(
        sextant(repo.path())
            .env("SEXTANT_HOME", empty_home.path())
            .args(["index", "--full"]),
    );
    assert!(human.contains("vectors: none"), "{human}");
    let output = sextant(repo.path())
        .env("SEXTANT_HOME", empty_home.path())
        .args(["index", "--vectors", "sync"])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("sextant models install"), "{stderr}");
    // why-relevant ranks without vectors and says why.
    let table = stdout_of(
        sextant(repo.path())
            .env("SEXTANT_HOME", empty_home.path())
            .args(["why-relevant", "verify_token rejects expired tokens"]),
    );
    assert!(table.contains("note: no vectors"), "{table}");
}

/// Issue 16: a truncated HNSW file made every command exit 1 with no message (hnsw_rs calls
/// `process::exit`), flipped bytes aborted allocating 412 GB, a deleted one was never rebuilt.
/// Now each file of the vector index is checked against the digest recorded when it was written
/// before hnsw_rs reads it: queries answer without vectors and say why, and the next `index`
/// rebuilds them from the embedding cache (nothing embedded again).
#[test]
fn damaged_vector_files_never_crash_a_query_and_the_next_index_repairs_them() {
    let Some(home) = model_home() else { return };
    let repo = copy_fixture("shop");
    let root = repo.path();
    index_json(root, &home, &[]);
    let vectors = root.join(".sextant/vectors");
    let files: Vec<String> = std::fs::read_dir(&vectors)
        .expect("vectors dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("hnsw-") || name.starts_with("units-"))
        .collect();
    assert_eq!(files.len(), 3, "{files:?}");
    let mut cases = 0;
    for name in &files {
        for how in [Damage::Truncate, Damage::FlipBytes, Damage::Delete] {
            let case = format!("{how:?} {name}");
            assert!(damage(&vectors.join(name), how), "{how:?} {name}");
            let why = sextant(root)
                .env("SEXTANT_HOME", &home)
                .args(["why-relevant", "throttle requests per client", "--json"])
                .output()
                .expect("runs");
            assert_eq!(
                why.status.code(),
                Some(0),
                "{case}: {}",
                String::from_utf8_lossy(&why.stderr)
            );
            let report: Value = serde_json::from_slice(&why.stdout).expect("json");
            assert!(
                !report["files"].as_array().expect("files").is_empty(),
                "{case}: answers from text and graph"
            );
            assert!(
                report["vectors_missing"]
                    .as_str()
                    .is_some_and(|m| m.contains("sextant index")),
                "{case}: says the vectors are left out and why: {}",
                report["vectors_missing"]
            );
            let semantic = sextant(root)
                .env("SEXTANT_HOME", &home)
                .args(["search", "--semantic", "rate limiting"])
                .output()
                .expect("runs");
            let stderr = String::from_utf8_lossy(&semantic.stderr);
            assert_eq!(semantic.status.code(), Some(1), "{case}: {stderr}");
            assert!(
                stderr.contains("sextant index"),
                "{case}: says what repairs it: {stderr}"
            );
            let repaired = index_json(root, &home, &[]);
            assert_eq!(repaired["vectors"]["embedded"], 0, "{case}: {repaired}");
            assert!(
                repaired["repaired"][0]
                    .as_str()
                    .is_some_and(|r| r.contains("vectors rebuilt")),
                "{case}: says what it repaired: {repaired}"
            );
            assert_eq!(
                nearest_path(root, &home, "rate limiting"),
                "app/throttle.py",
                "{case}"
            );
            cases += 1;
        }
    }
    assert_eq!(cases, 9);

    // The embedding cache: flipped bits inside a record are caught by its checksum, the
    // record dropped and its unit embedded again — a damaged vector never reaches the graph.
    let cache = std::fs::read_dir(&vectors)
        .expect("vectors dir")
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("embeddings-"))
        })
        .expect("an embedding cache");
    let mut bytes = std::fs::read(&cache).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x10;
    std::fs::write(&cache, &bytes).expect("write");
    for name in &files {
        let _ = std::fs::remove_file(vectors.join(name));
    }
    let repaired = index_json(root, &home, &[]);
    assert_eq!(repaired["vectors"]["embedded"], 1, "{repaired}");
    assert_eq!(
        repaired["vectors"]["dropped_cache_records"], 1,
        "{repaired}"
    );
    assert!(
        repaired["repaired"]
            .as_array()
            .expect("repaired")
            .iter()
            .any(|r| r
                .as_str()
                .is_some_and(|r| r.contains("1 damaged records dropped"))),
        "{repaired}"
    );
    assert_eq!(
        nearest_path(root, &home, "rate limiting"),
        "app/throttle.py"
    );
}

/// Issue 16: while an index run was still embedding the new generation's units, `search
/// --semantic` failed ("no vectors for its current state") in 71 of 158 probes. Readers now
/// answer from the newest intact earlier vectors until the new ones are written. The run is
/// stopped right after its first embedded batch, which holds the window open.
#[test]
fn queries_answer_from_the_last_vectors_while_new_ones_are_built() {
    let Some(home) = model_home() else { return };
    let repo = copy_fixture("shop");
    let root = repo.path();
    index_json(root, &home, &[]);
    let functions: String = (0..40)
        .map(|i| format!("def report_{i}(orders):\n    \"\"\"Total of report {i}.\"\"\"\n    return sum(orders)\n\n"))
        .collect();
    std::fs::write(root.join("app/reports.py"), functions).expect("write");
    let stopped = sextant(root)
        .env("SEXTANT_HOME", &home)
        .env("SEXTANT_FAILPOINT", "after-embed-batch")
        .args(["index", "--quiet"])
        .output()
        .expect("runs");
    assert!(!stopped.status.success(), "stopped while embedding");
    // The new generation is committed (its text is searchable) but has no vectors yet.
    assert!(stdout_of(sextant(root).args(["search", "report_7"])).contains("app/reports.py"));
    assert_eq!(
        nearest_path(root, &home, "rate limiting"),
        "app/throttle.py"
    );
    let report = stdout_of(sextant(root).env("SEXTANT_HOME", &home).args([
        "why-relevant",
        "rate limiting",
        "--json",
    ]));
    let report: Value = serde_json::from_str(&report).expect("json");
    assert!(
        report["vectors_missing"].is_null(),
        "{}",
        report["vectors_missing"]
    );
    assert_eq!(report["files"][0]["path"], "app/throttle.py");
    // The next run finishes the vectors of the current generation.
    let finished = index_json(root, &home, &[]);
    assert!(
        finished["vectors"]["units"].as_u64().expect("units") > 40,
        "{finished}"
    );
}

/// The path of the unit `search --semantic` finds nearest to `query`.
fn nearest_path(root: &std::path::Path, home: &std::path::Path, query: &str) -> String {
    let hits = stdout_of(sextant(root).env("SEXTANT_HOME", home).args([
        "search",
        "--semantic",
        query,
        "--json",
    ]));
    let hits: Value = serde_json::from_str(&hits).expect("json");
    hits[0]["unit"]["path"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// A warm server keeps its model and vectors across generations: the next generation opens
/// with them as they are (no query waits for an HNSW graph to load), and the newer vectors,
/// loaded elsewhere, are swapped in and answer as a fresh open does.
#[test]
fn a_new_generation_keeps_the_loaded_model_and_adopts_newer_vectors() {
    use sextant::retrieval::{HistoryFrom, Retrieval, VectorsFrom};
    let Some(home) = model_home() else { return };
    let repo = copy_fixture("shop");
    let root = repo.path();
    index_json(root, &home, &[]);
    let model = sextant_index::vector::embed::EmbeddingProvider::local(
        sextant::models::resolve(&home, None, None).expect("model"),
    );
    let dir = sextant_index::store::IndexDir::new(root.join(".sextant"));
    let first = Retrieval::open(
        &dir,
        root,
        VectorsFrom::Model(model.clone(), 0),
        HistoryFrom::Stored,
    )
    .expect("open");
    assert!(first.has_vectors());
    std::fs::write(
        root.join("app/limits.py"),
        "def throttle_uploads(user):\n    \"\"\"Rate limit uploads per user.\"\"\"\n    return True\n",
    )
    .expect("write");
    index_json(root, &home, &[]);
    let semantic = first.into_semantic().expect("the vectors");
    let mut reopened =
        Retrieval::open(&dir, root, VectorsFrom::Kept(semantic), HistoryFrom::Stored)
            .expect("reopen");
    let mut fresh = Retrieval::open(
        &dir,
        root,
        VectorsFrom::Model(model, 0),
        HistoryFrom::Stored,
    )
    .expect("open");
    let near = |r: &mut Retrieval| -> Vec<String> {
        r.nearest("rate limiting uploads", 3)
            .expect("nearest")
            .into_iter()
            .map(|hit| hit.unit.path)
            .collect()
    };
    assert_eq!(reopened.snapshot().manifest.generation, 2);
    // Still generation 1's vectors: the new file is not among them yet.
    assert_eq!(reopened.newer_vectors(&dir), Some(2));
    assert!(!near(&mut reopened).contains(&"app/limits.py".to_string()));
    let newer = sextant_index::vector::VectorSnapshot::open(&dir, 2)
        .expect("read")
        .expect("vectors of generation 2");
    reopened.adopt_vectors(newer).expect("adopt");
    assert_eq!(reopened.newer_vectors(&dir), None);
    // Vectors no newer than the loaded ones are refused (loaded for another generation).
    let again = sextant_index::vector::VectorSnapshot::open(&dir, 2)
        .expect("read")
        .expect("vectors of generation 2");
    assert!(reopened.adopt_vectors(again).is_err());
    assert_eq!(near(&mut reopened), near(&mut fresh));
    assert!(near(&mut reopened).contains(&"app/limits.py".to_string()));
}

/// A vector step asked to stop (the watch gives way to a newer change) leaves the committed
/// lexical index and graph as they are and the generation without vectors, saying why; the
/// next run builds them.
#[test]
fn a_vector_step_asked_to_stop_gives_way_and_the_next_run_builds_the_vectors() {
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    use sextant_index::update::{UpdateOptions, update_index};
    use sextant_index::vector::{VECTOR_STEP_STOPPED, VectorOptions, VectorState, vector_state};

    let Some(home) = model_home() else { return };
    let repo = copy_fixture("shop");
    let root = repo.path();
    index_json(root, &home, &[]);
    std::fs::write(
        root.join("app/limits.py"),
        "def throttle_uploads(user):\n    \"\"\"Rate limit uploads per user.\"\"\"\n    return True\n",
    )
    .expect("write");
    let dir = sextant_index::store::IndexDir::new(root.join(".sextant"));
    let options = |stop: Option<Arc<AtomicBool>>| UpdateOptions {
        full: false,
        vectors: Some(VectorOptions {
            model: sextant_index::vector::embed::EmbeddingProvider::local(
                sextant::models::resolve(&home, None, None).expect("model"),
            ),
            design: sextant_index::vector::units::UnitDesign::Symbols,
            threads: 0,
            stop,
            live: None,
        }),
        only: None,
    };
    let settings = sextant_index::update::IndexSettings::default();
    let stopped = update_index(
        root,
        &dir,
        &settings,
        options(Some(Arc::new(AtomicBool::new(true)))),
        &sextant_index::update::NoProgress,
    )
    .expect("update");
    assert!(stopped.committed);
    assert!(stopped.vectors.is_none());
    assert_eq!(
        stopped.vectors_missing.as_deref(),
        Some(VECTOR_STEP_STOPPED),
        "{stopped:?}"
    );
    assert_eq!(vector_state(&dir, stopped.generation), VectorState::Absent);
    // The lexical index has the change regardless.
    let hits = stdout_of(sextant(root).env("SEXTANT_HOME", &home).args([
        "search",
        "throttle_uploads",
        "--json",
    ]));
    assert!(hits.contains("app/limits.py"), "{hits}");
    let next = update_index(
        root,
        &dir,
        &settings,
        options(None),
        &sextant_index::update::NoProgress,
    )
    .expect("update");
    assert!(!next.committed, "nothing changed in the tree");
    assert!(next.vectors.is_some(), "{next:?}");
    assert_eq!(vector_state(&dir, stopped.generation), VectorState::Intact);
    assert_eq!(
        nearest_path(root, &home, "rate limiting uploads"),
        "app/limits.py"
    );
}

/// A long-lived process (the server and its watch) keeps its vectors in memory: the watch's
/// vector step patches the graph the readers hold instead of loading it from disk, and the
/// readers take the result instead of loading it. What they answer equals vectors read from
/// disk; a reader still on the older table never sees the units inserted for the newer one;
/// and a held graph with ids its table lacks (a step that stopped after inserting) is not
/// patched again but read from disk.
#[test]
fn vectors_patched_in_memory_answer_as_vectors_read_from_disk() {
    use std::sync::Arc;

    use sextant::retrieval::{HistoryFrom, Retrieval, VectorsFrom};
    use sextant_index::update::{UpdateOptions, update_index};
    use sextant_index::vector::{LiveVectors, VectorOptions};

    let Some(home) = model_home() else { return };
    let repo = copy_fixture("shop");
    let root = repo.path();
    index_json(root, &home, &[]);
    let model = sextant_index::vector::embed::EmbeddingProvider::local(
        sextant::models::resolve(&home, None, None).expect("model"),
    );
    let dir = sextant_index::store::IndexDir::new(root.join(".sextant"));
    let open = || {
        Retrieval::open(
            &dir,
            root,
            VectorsFrom::Model(model.clone(), 0),
            HistoryFrom::Stored,
        )
        .expect("open")
    };
    let near = |r: &mut Retrieval, query: &str| -> Vec<String> {
        r.nearest(query, 3)
            .expect("nearest")
            .into_iter()
            .map(|hit| format!("{}:{}", hit.unit.path, hit.unit.label))
            .collect()
    };
    let mut reader = open();
    let live = LiveVectors::default();
    live.offer(reader.vector_snapshot().expect("vectors"));
    let before = near(&mut reader, "rate limiting uploads");
    let update = |live: &LiveVectors| {
        update_index(
            root,
            &dir,
            &sextant_index::update::IndexSettings::default(),
            UpdateOptions {
                full: false,
                vectors: Some(VectorOptions {
                    model: model.clone(),
                    design: sextant_index::vector::units::UnitDesign::Symbols,
                    threads: 0,
                    stop: None,
                    live: Some(live.clone()),
                }),
                only: None,
            },
            &sextant_index::update::NoProgress,
        )
        .expect("update")
    };

    std::fs::write(
        root.join("app/limits.py"),
        "def throttle_uploads(user):\n    \"\"\"Rate limit uploads per user.\"\"\"\n    return True\n",
    )
    .expect("write");
    let summary = update(&live);
    assert_eq!(summary.generation, 2);
    let held = live
        .of_generation(2)
        .expect("the step left its vectors in memory");
    assert!(
        Arc::ptr_eq(&held.ann, &reader.vector_snapshot().expect("vectors").ann),
        "the held graph was patched, not loaded again"
    );
    // The reader's own table is generation 1's: the inserted unit is not among its answers.
    assert_eq!(near(&mut reader, "rate limiting uploads"), before);
    reader = Retrieval::open(
        &dir,
        root,
        VectorsFrom::Kept(reader.into_semantic().expect("vectors")),
        HistoryFrom::Stored,
    )
    .expect("reopen");
    reader.adopt_vectors(held.clone()).expect("adopt");
    let mut from_disk = open();
    assert_eq!(from_disk.vector_snapshot().expect("vectors").generation, 2);
    for query in [
        "rate limiting uploads",
        "checkout cart total",
        "send an email",
    ] {
        assert_eq!(
            near(&mut reader, query),
            near(&mut from_disk, query),
            "{query}"
        );
    }
    assert!(near(&mut reader, "rate limiting uploads")[0].starts_with("app/limits.py"));

    // A step that inserted and then stopped leaves the graph ahead of its table.
    let stray = vec![0.1_f32; held.table.dimension];
    held.ann
        .insert(&[(stray.as_slice(), held.table.units.len())]);
    std::fs::write(
        root.join("app/quota.py"),
        "def storage_quota(account):\n    \"\"\"Bytes an account may store.\"\"\"\n    return 10\n",
    )
    .expect("write");
    update(&live);
    let next = live.of_generation(3).expect("held again");
    assert!(
        !Arc::ptr_eq(&next.ann, &held.ann),
        "a graph ahead of its table is read from disk, not patched"
    );
    assert_eq!(next.ann.len(), next.table.units.len());
    let mut from_disk = open();
    let mut reader = Retrieval::open(
        &dir,
        root,
        VectorsFrom::Kept(reader.into_semantic().expect("vectors")),
        HistoryFrom::Stored,
    )
    .expect("reopen");
    reader.adopt_vectors(next).expect("adopt");
    for query in ["storage quota of an account", "rate limiting uploads"] {
        assert_eq!(
            near(&mut reader, query),
            near(&mut from_disk, query),
            "{query}"
        );
    }
    assert!(near(&mut reader, "storage quota of an account")[0].starts_with("app/quota.py"));
}

/// `sextant eval` indexes the evaluated commit in a scratch directory; with vectors it starts
/// from the repository's own embedding cache instead of embedding the whole tree again.
#[test]
fn eval_reuses_the_repositorys_embedding_cache() {
    let Some(home) = model_home() else { return };
    let repo = copy_fixture("polyglot");
    let root = repo.path();
    let git = |args: &[&str]| crate::support::git(root, args);
    git(&["init", "--quiet", "-b", "main"]);
    git(&["add", "-A"]);
    git(&["commit", "--quiet", "-m", "initial import of the service"]);
    let limiter = root.join("gateway/ratelimit.go");
    let text = std::fs::read_to_string(&limiter).expect("read") + "\n// Refill per client.\n";
    std::fs::write(&limiter, text).expect("write");
    git(&[
        "commit",
        "--quiet",
        "-am",
        "refill the rate limiter bucket for each client",
    ]);
    let indexed = index_json(root, &home, &[]);
    let units = indexed["vectors"]["units"].as_u64().expect("units");
    assert!(units > 10, "{indexed}");

    let mut command = sextant(root);
    command
        .env("SEXTANT_HOME", &home)
        .args(["eval", "--json", "-n", "5", "--vectors", "sync"]);
    let report: Value = serde_json::from_str(&stdout_of(&mut command)).expect("json");
    let vectors = &report["vectors"];
    assert!(
        vectors["reused_cache"].as_u64().unwrap_or(0) >= units,
        "{vectors}"
    );
    // The evaluated tree is the parent commit: only the limiter's changed units are new.
    let embedded = vectors["embedded"].as_u64().expect("embedded");
    assert!(embedded <= 3, "{vectors}");
    assert!(vectors["units"].as_u64().unwrap_or(0) > 10, "{vectors}");
}

/// The local model runs its int8 weights in int8 by default (`[vectors] int8`): its vectors
/// are cached under their own id, apart from the float model's, and both find the same code.
#[test]
fn the_int8_and_float_models_are_cached_apart_and_find_the_same() {
    let Some(home) = model_home() else { return };
    let repo = copy_fixture("shop");
    let int8 = index_json(repo.path(), &home, &[]);
    let int8_id = int8["vectors"]["model_id"]
        .as_str()
        .expect("id")
        .to_string();
    assert!(int8_id.ends_with("-int8v2"), "{int8_id}");
    let user = tempfile::NamedTempFile::new().expect("config");
    std::fs::write(user.path(), "[vectors]\nint8 = false\n").expect("write");
    let float: Value = serde_json::from_str(&stdout_of(
        sextant(repo.path())
            .env("SEXTANT_HOME", &home)
            .env("SEXTANT_CONFIG", user.path())
            .args(["index", "--json", "--full"]),
    ))
    .expect("json");
    let float_id = float["vectors"]["model_id"].as_str().expect("id");
    assert_eq!(format!("{float_id}-int8v2"), int8_id);
    assert_eq!(float["vectors"]["embedded"], float["vectors"]["units"]);
    let caches: Vec<String> = std::fs::read_dir(repo.path().join(".sextant/vectors"))
        .expect("vectors dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("embeddings-"))
        .collect();
    assert_eq!(caches.len(), 2, "{caches:?}");
    let nearest = |config: Option<&std::path::Path>| -> (String, f64) {
        let mut command = sextant(repo.path());
        command.env("SEXTANT_HOME", &home);
        if let Some(config) = config {
            command.env("SEXTANT_CONFIG", config);
        }
        let hits: Value = serde_json::from_str(&stdout_of(command.args([
            "search",
            "--semantic",
            "rate limiting",
            "-n",
            "1",
            "--json",
        ])))
        .expect("json");
        (
            hits[0]["unit"]["path"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            hits[0]["similarity"].as_f64().unwrap_or_default(),
        )
    };
    let (float_path, float_similarity) = nearest(Some(user.path()));
    // Back to int8: its vectors are still cached; nothing is embedded again.
    let again = index_json(repo.path(), &home, &["--full"]);
    assert_eq!(again["vectors"]["embedded"], 0, "{again}");
    let (int8_path, int8_similarity) = nearest(None);
    assert_eq!(float_path, "app/throttle.py");
    assert_eq!(int8_path, float_path);
    assert!(
        (float_similarity - int8_similarity).abs() < 0.05,
        "{float_similarity} vs {int8_similarity}"
    );
}
