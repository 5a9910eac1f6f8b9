//! The lexical signals: BM25 over chunks (fused per file) and over whole files, each
//! normalised to the best file.

use std::collections::BTreeMap;

use sextant_index::lexical::{DocKind, LexicalIndex};

use super::{ChunkEvidence, FileSignals, normalise};

/// Chunk hits gathered per query before fusing them per file.
const CHUNK_HITS: usize = 200;
/// Weight of a file's second and third best chunk relative to its best: a file with several
/// matching places is more likely the one, but one strong match should still win.
const SECOND_CHUNK_WEIGHT: f64 = 0.5;
const THIRD_CHUNK_WEIGHT: f64 = 0.25;
/// BM25 signals are normalised to the best file, but never to less than this share of a
/// full match (every query term present): when even the best file matches only a sliver of
/// the task (a stray "the"), its text scores stay small and meaning and links decide.
/// 0.25 left every benchmark ranking as it was (mean Recall@10 0.784 at 0, 0.1 and 0.25, 0.781
/// at 0.5 — benches/RESULTS.md, round 3) while cutting a stray match's weight by 40 % on the
/// fixture ("add rate limiting to the API" against a file matching only "the" and "to").
const FULL_MATCH_SHARE: f64 = 0.25;
/// Chunks kept per file as evidence.
const EVIDENCE_CHUNKS: usize = 3;

/// Files whose chunks match the task: per file, the best chunk + ½ second + ¼ third,
/// normalised to the best file (or to a share of a full match, whichever is larger).
pub(super) fn chunk_signal(
    lexical: &LexicalIndex,
    text: &str,
    files: &mut BTreeMap<String, FileSignals>,
) -> anyhow::Result<()> {
    let mut per_file: BTreeMap<String, Vec<ChunkEvidence>> = BTreeMap::new();
    for hit in lexical.search_scores(text, CHUNK_HITS)? {
        per_file.entry(hit.path).or_default().push(ChunkEvidence {
            span: hit.span,
            score: f64::from(hit.score),
            symbols: hit.symbols,
        });
    }
    let fused: Vec<(String, f64, Vec<ChunkEvidence>)> = per_file
        .into_iter()
        .map(|(path, mut hits)| {
            // Hits arrive best first; keep that order.
            hits.sort_by(|a, b| b.score.total_cmp(&a.score));
            let share = [1.0, SECOND_CHUNK_WEIGHT, THIRD_CHUNK_WEIGHT];
            let score = hits.iter().zip(share).map(|(h, w)| h.score * w).sum();
            hits.truncate(EVIDENCE_CHUNKS);
            (path, score, hits)
        })
        .collect();
    let floor = FULL_MATCH_SHARE * f64::from(lexical.full_match_score(text, DocKind::Chunk)?);
    let best = normalise(fused.iter().map(|(_, s, _)| *s).chain([floor]));
    for (path, score, hits) in fused {
        let entry = files.entry(path).or_default();
        entry.chunks = score / best;
        entry.chunk_hits = hits;
    }
    Ok(())
}

/// Files that match the task as a whole: whole-file BM25, normalised like the chunks.
pub(super) fn whole_file_signal(
    lexical: &LexicalIndex,
    text: &str,
    files: &mut BTreeMap<String, FileSignals>,
) -> anyhow::Result<()> {
    let hits = lexical.search_files(text, CHUNK_HITS)?;
    let floor = FULL_MATCH_SHARE * f64::from(lexical.full_match_score(text, DocKind::File)?);
    let best = normalise(hits.iter().map(|h| f64::from(h.score)).chain([floor]));
    for hit in hits {
        files.entry(hit.path).or_default().whole_file = f64::from(hit.score) / best;
    }
    Ok(())
}
