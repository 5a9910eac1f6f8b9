//! Similar past changes: commits whose subject reads like the task point at the files they
//! changed. A task is usually a change of a kind the repository has seen ("sync: add
//! cooperative scheduling to `watch`" after "sync: add cooperative scheduling to
//! `broadcast`"), and the files such changes touched — the coop budget, not only the channel —
//! are often the ones the task needs, even when they share no words with it.
//!
//! Subjects are ranked by BM25 (terms split by the index's code tokenizer); each file changed
//! by one of the best [`SIMILAR_COMMITS`] takes the score of the most similar one that changed
//! it, normalised to the best file. Only files the index has are found. Measured (RESULTS.md,
//! retrieval round 7): the best commit's score, rather than a sum of scores shared between a
//! commit's files, raised mean MRR on all three benchmark windows (+0.8 to +1.9 points) at the
//! same Recall@10.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use sextant_index::lexical::term_set;

use super::history::PastCommit;

/// Past commits whose files are credited.
pub const SIMILAR_COMMITS: usize = 10;
/// BM25 term-frequency saturation.
const K1: f64 = 1.2;
/// BM25 length normalisation.
const B: f64 = 0.75;

/// A past commit like the task, kept as evidence.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SimilarCommit {
    /// Abbreviated commit id.
    pub id: String,
    /// Its subject.
    pub subject: String,
    /// Its BM25 score against the task.
    pub score: f64,
}

/// A file credited by similar past commits.
#[derive(Clone, Debug, PartialEq)]
pub struct PastMatch {
    /// Its credit relative to the best file's (0–1).
    pub score: f64,
    /// The most similar commit that changed it.
    pub commit: SimilarCommit,
}

/// The subjects of past commits, tokenized once for ranking (a history's commits are
/// prepared once per load, not per query: see [`super::history::History::past_files`]).
#[derive(Clone, Debug, Default)]
pub struct PastChanges {
    terms: Vec<Vec<String>>,
    document_frequency: HashMap<String, u32>,
    average_length: f64,
}

impl PastChanges {
    /// Prepares `commits` (their subjects) for ranking.
    pub fn new(commits: &[PastCommit]) -> PastChanges {
        let mut document_frequency: HashMap<String, u32> = HashMap::new();
        let mut total = 0usize;
        let terms: Vec<Vec<String>> = commits
            .iter()
            .map(|commit| {
                let mut terms = Vec::new();
                sextant_index::lexical::code_terms(&commit.subject, |_, _, term| {
                    terms.push(term.to_string())
                });
                total += terms.len();
                let mut distinct = terms.clone();
                distinct.sort();
                distinct.dedup();
                for term in distinct {
                    *document_frequency.entry(term).or_default() += 1;
                }
                terms
            })
            .collect();
        let average_length = if commits.is_empty() {
            1.0
        } else {
            (total as f64 / commits.len() as f64).max(1.0)
        };
        PastChanges {
            terms,
            document_frequency,
            average_length,
        }
    }

    /// The commits most like `task`, best first, at most `limit`, each with its score.
    pub fn similar(&self, task: &str, limit: usize) -> Vec<(usize, f64)> {
        let query = term_set(task);
        let count = self.terms.len() as f64;
        let idf: Vec<(&str, f64)> = query
            .iter()
            .filter_map(|term| {
                let df = f64::from(*self.document_frequency.get(term)?);
                Some((term.as_str(), (1.0 + (count - df + 0.5) / (df + 0.5)).ln()))
            })
            .collect();
        if idf.is_empty() {
            return Vec::new();
        }
        let mut scored: Vec<(usize, f64)> = self
            .terms
            .iter()
            .enumerate()
            .filter_map(|(index, terms)| {
                let length = terms.len() as f64;
                let score: f64 = idf
                    .iter()
                    .map(|(term, idf)| {
                        let tf = terms.iter().filter(|t| t == term).count() as f64;
                        if tf == 0.0 {
                            0.0
                        } else {
                            idf * tf * (K1 + 1.0)
                                / (tf + K1 * (1.0 - B + B * length / self.average_length))
                        }
                    })
                    .sum();
                (score > 0.0).then_some((index, score))
            })
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        scored.truncate(limit);
        scored
    }

    /// Files changed by the commits most like `task` that `exists` accepts, each with the score
    /// of the most similar commit that changed it (relative to the best file) and that commit.
    /// `commits` are the ones these changes were prepared from.
    pub fn files(
        &self,
        commits: &[PastCommit],
        task: &str,
        exists: impl Fn(&str) -> bool,
    ) -> BTreeMap<String, PastMatch> {
        let mut credit: BTreeMap<String, PastMatch> = BTreeMap::new();
        for (index, score) in self.similar(task, SIMILAR_COMMITS) {
            let Some(commit) = commits.get(index) else {
                continue;
            };
            // Commits come most similar first: a file's credit and evidence are its most
            // similar commit's.
            for file in commit.files.iter().filter(|f| exists(f)) {
                credit.entry(file.clone()).or_insert_with(|| PastMatch {
                    score,
                    commit: SimilarCommit {
                        id: commit.id.clone(),
                        subject: commit.subject.clone(),
                        score,
                    },
                });
            }
        }
        let best = credit.values().map(|m| m.score).fold(0.0, f64::max);
        if best > 0.0 {
            for found in credit.values_mut() {
                found.score /= best;
            }
        }
        credit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit(id: &str, subject: &str, files: &[&str]) -> PastCommit {
        PastCommit {
            id: id.into(),
            subject: subject.into(),
            files: files.iter().map(|f| f.to_string()).collect(),
        }
    }

    #[test]
    fn files_of_commits_like_the_task_are_credited_best_first() {
        let commits = vec![
            commit(
                "a1",
                "sync: add cooperative scheduling to broadcast",
                &["sync/broadcast.rs", "runtime/coop.rs"],
            ),
            commit("b2", "fs: fix a typo in the docs", &["fs/file.rs"]),
            commit(
                "c3",
                "sync: cooperative scheduling for the mpsc channel",
                &["sync/mpsc.rs", "runtime/coop.rs", "gone.rs"],
            ),
            commit("d4", "time: faster timer wheel", &["time/wheel.rs"]),
        ];
        let past = PastChanges::new(&commits);
        let similar = past.similar("sync: apply cooperative scheduling to watch", 10);
        assert_eq!(
            similar.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
            vec![0, 2]
        );
        let files = past.files(
            &commits,
            "sync: apply cooperative scheduling to watch",
            |f| f != "gone.rs",
        );
        // Each file takes its most similar commit's score: coop.rs and broadcast.rs the best
        // commit's, mpsc.rs the second's.
        assert_eq!(files["runtime/coop.rs"].score, 1.0);
        assert_eq!(files["runtime/coop.rs"].commit.id, "a1");
        assert_eq!(files["sync/broadcast.rs"].score, 1.0);
        assert!(files["sync/mpsc.rs"].score > 0.0 && files["sync/mpsc.rs"].score < 1.0);
        assert_eq!(files["sync/mpsc.rs"].commit.id, "c3");
        assert!(!files.contains_key("gone.rs"));
        assert!(!files.contains_key("fs/file.rs"));
        assert!(
            past.files(&commits, "nothing matches here", |_| true)
                .is_empty()
        );
    }

    #[test]
    fn an_empty_history_finds_nothing() {
        let past = PastChanges::new(&[]);
        assert!(past.similar("anything at all", 10).is_empty());
    }
}
