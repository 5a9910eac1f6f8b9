//! Every path under the index directory (`<repo>/.sextant/` by default), named in one place:
//! the index's own files and what the application keeps beside them (runs, templates,
//! metrics, the history prior). Nothing else in either crate joins a name onto the index
//! directory.
//!
//! ```text
//! lock                         flock held by the one writer
//! .gitignore                   `*`: the index is never part of the repository
//! lexical/                     tantivy; its commit payload names the current generation;
//!                              chunks, whole files, each file's link facts and graph record
//! manifest-<N>.bin             the manifest of generation N
//! verified.bin                 stamps of files that passed their checksum check
//! counts.bin                   live documents and tokens of the last commit a reader counted
//! damaged                      "<N> <reason>": a reader found generation N's records damaged
//! history.bin                  the history prior (`history.json` before format 3)
//! vectors/                     embedding cache, hnsw-<N>.*, units-<N>.bin
//! metrics/llm-calls.jsonl      one line per LLM call
//! runs/<id>/run.json           a run's state
//! runs/<id>/record.json        what a run keeps beside its state
//! runs/.execute/               locked (flock on the directory) while a run executes
//! templates/<name>.toml        the user's plan templates
//! ```

use std::path::PathBuf;

use super::IndexDir;

/// The lexical index's directory name.
pub(crate) const LEXICAL_DIR: &str = "lexical";
const LOCK_FILE: &str = "lock";
const VERIFIED_FILE: &str = "verified.bin";
const COUNTS_FILE: &str = "counts.bin";
const DAMAGED_FILE: &str = "damaged";
const VECTORS_DIR: &str = "vectors";
const HISTORY_FILE: &str = "history.bin";
const OLD_HISTORY_FILE: &str = "history.json";
const RUNS_DIR: &str = "runs";
const TEMPLATES_DIR: &str = "templates";

impl IndexDir {
    /// Where the lexical index lives.
    pub fn lexical_path(&self) -> PathBuf {
        self.path().join(LEXICAL_DIR)
    }

    /// tantivy's `meta.json`: its stamp changes with every commit, so a reader can tell that
    /// a new generation was committed without opening anything.
    pub fn lexical_meta_path(&self) -> PathBuf {
        self.lexical_path().join("meta.json")
    }

    /// The writer's lock file.
    pub(crate) fn lock_path(&self) -> PathBuf {
        self.path().join(LOCK_FILE)
    }

    /// The index directory's own `.gitignore`.
    pub(crate) fn gitignore_path(&self) -> PathBuf {
        self.path().join(".gitignore")
    }

    /// The manifest of `generation`.
    pub(crate) fn manifest_path(&self, generation: u64) -> PathBuf {
        self.path().join(format!("manifest-{generation}.bin"))
    }

    /// The record of files that passed their checksum check.
    pub(crate) fn verified_path(&self) -> PathBuf {
        self.path().join(VERIFIED_FILE)
    }

    /// The BM25 counts of the last commit a reader counted
    /// ([`crate::lexical::LexicalIndex::keep_counts_in`]).
    pub(crate) fn counts_path(&self) -> PathBuf {
        self.path().join(COUNTS_FILE)
    }

    /// Damage a reader found in a generation's records, for the next writer to repair.
    pub(crate) fn damaged_path(&self) -> PathBuf {
        self.path().join(DAMAGED_FILE)
    }

    /// The vector index's directory (embedding cache, HNSW files, units).
    pub fn vectors_path(&self) -> PathBuf {
        self.path().join(VECTORS_DIR)
    }

    /// The history prior.
    pub fn history_path(&self) -> PathBuf {
        self.path().join(HISTORY_FILE)
    }

    /// Where the history prior lived before it was framed (removed when it is rewritten).
    pub fn old_history_path(&self) -> PathBuf {
        self.path().join(OLD_HISTORY_FILE)
    }

    /// Where LLM call metrics are appended.
    pub fn llm_metrics_path(&self) -> PathBuf {
        self.path().join("metrics").join("llm-calls.jsonl")
    }

    /// The directory holding every run of the agent.
    pub fn runs_path(&self) -> PathBuf {
        self.path().join(RUNS_DIR)
    }

    /// The directory of run `id`.
    pub fn run_path(&self, id: &str) -> PathBuf {
        self.runs_path().join(id)
    }

    /// Run `id`'s state file.
    pub fn run_state_path(&self, id: &str) -> PathBuf {
        self.run_path(id).join("run.json")
    }

    /// What run `id` keeps beside its state.
    pub fn run_record_path(&self, id: &str) -> PathBuf {
        self.run_path(id).join("record.json")
    }

    /// The user's plan templates.
    pub fn templates_path(&self) -> PathBuf {
        self.path().join(TEMPLATES_DIR)
    }
}
