//! `sextant eval`: retrieval quality on the repository's own history, hybrid vs plain BM25.

use std::fmt::Write;

use anyhow::Context;
use serde::Serialize;
use sextant_index::store::IndexDir;
use sextant_index::update::{IndexSettings, UpdateOptions, update_index};

use crate::cli::{EvalArgs, GlobalArgs, VectorMode};
use crate::eval::{
    ContextScores, EvalQuery, MISS_CUTOFF, Missed, QueryText, Scores, keep_reachable_gold, missed,
    rank_whole_files, score, select_queries, timed,
};
use crate::git::materialize;
use crate::output::{counted, print, print_json, thousands};
use crate::progress::TerminalProgress;
use crate::rank::Weights;
use crate::rank::pack::{Budget, DEFAULT_TOKENIZER, TokenCounter};
use crate::retrieval::{CANDIDATES, HistoryFrom, Retrieval, VectorsFrom};
use sextant_index::vector::VectorOptions;

/// Ranked files kept per query in the JSON report.
const REPORTED_RANKS: usize = 15;

/// One query's outcome.
#[derive(Debug, Serialize)]
struct Row {
    #[serde(flatten)]
    query: EvalQuery,
    hybrid: Vec<String>,
    bm25_whole_file: Vec<String>,
    /// Answers outside sextant's top 10.
    missed: Vec<Missed>,
    /// Files in the packed context, in rank order.
    context: Vec<String>,
}

/// The whole report.
#[derive(Debug, Serialize)]
struct Report {
    repository: String,
    base_commit: String,
    /// What of each commit message the queries are.
    query_from: QueryText,
    queries: usize,
    /// Gold files left out because the indexed tree lacks them (added after the base).
    unreachable_gold: usize,
    indexed_files: usize,
    indexed_lines: u64,
    /// The evaluated index's vectors, when it has them.
    vectors: Option<EvalVectors>,
    hybrid: Scores,
    bm25_whole_file: Scores,
    /// What sextant's packed context held.
    context: ContextScores,
    weights: Weights,
    rows: Vec<Row>,
}

/// Where the evaluated index's vectors came from.
#[derive(Debug, Serialize)]
struct EvalVectors {
    /// Units embedded for the evaluated tree.
    units: usize,
    /// Of those, how many were embedded in this run (the rest came from the cache).
    embedded: usize,
    /// Vectors the scratch index started with, from the repository's own embedding cache.
    reused_cache: usize,
}

/// Runs `sextant eval`.
pub fn run(args: &EvalArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let repo = match &args.repo {
        Some(repo) => repo.clone(),
        None => std::env::current_dir().context("reading the current directory")?,
    };
    let (base, queries) = select_queries(&repo, &args.commit, args.queries, args.query_from)?;
    let work = tempfile::tempdir().context("creating a scratch directory")?;
    let tree = work.path().join("tree");
    std::fs::create_dir_all(&tree)?;
    let written =
        materialize(&repo, &base, &tree).with_context(|| format!("writing out commit {base}"))?;
    let (queries, unreachable_gold) = keep_reachable_gold(queries, &written);
    // A given --index-dir is kept, and with it the embedding cache, so repeated evaluations of
    // the same history embed nothing twice.
    let dir = match &global.index_dir {
        Some(path) => IndexDir::new(path.clone()),
        None => IndexDir::new(work.path().join("index")),
    };
    let vectors_model = match args.vectors {
        VectorMode::Off => None,
        mode => {
            // As configured for the evaluated tree (provider, model, int8), as `index` would.
            let configured = crate::settings::Settings::resolve(
                Some(&tree),
                &GlobalArgs::default(),
                &crate::settings::Overrides::default(),
            )
            .and_then(|settings| settings.vector_model());
            match (configured, mode) {
                (Ok(model), _) => Some(model),
                (Err(error), VectorMode::Sync) => return Err(error),
                (Err(error), _) => {
                    eprintln!("note: evaluating without vectors: {error:#}");
                    None
                }
            }
        }
    };
    // A scratch index starts from the repository's own embedding cache (keyed by content), so
    // only what changed since the repository was last indexed is embedded.
    let mut reused = 0;
    if global.index_dir.is_none() && vectors_model.is_some() {
        let own = IndexDir::new(repo.join(".sextant"));
        match sextant_index::vector::cache::seed(&own.vectors_path(), &dir.vectors_path()) {
            Ok(vectors) => reused = vectors,
            Err(error) => eprintln!(
                "note: not reusing the embedding cache of {}: {error}",
                own.path().display()
            ),
        }
    }
    let settings = IndexSettings {
        threads: global.threads.unwrap_or(0),
        ..IndexSettings::default()
    };
    let progress = TerminalProgress::new(!global.quiet && !args.json);
    let summary = update_index(
        &tree,
        &dir,
        &settings,
        UpdateOptions {
            full: true,
            vectors: vectors_model.clone().map(|model| VectorOptions {
                model,
                design: args.units,
                threads: 0,
                stop: None,
                live: None,
            }),
            only: None,
        },
        &progress,
    )
    .with_context(|| format!("indexing commit {base}"))?;
    let weights = args.weights.apply(Weights::default());
    // The history as it stood at the indexed commit: no query sees its own change.
    let history = match crate::rank::history::History::from_git(&repo, &base) {
        Ok(history) => Some(Box::new(history)),
        Err(error) => {
            eprintln!("note: evaluating without the history: {error:#}");
            None
        }
    };
    // The one retrieval path, on the scratch index of the evaluated commit.
    let vectors = match &vectors_model {
        Some(model) => VectorsFrom::Model(model.clone(), 0),
        None => VectorsFrom::Off("vectors are off".to_string()),
    };
    let mut retrieval = Retrieval::open(&dir, &tree, vectors, HistoryFrom::Given(history))?;
    if let (Some(_), Some(missing)) = (&vectors_model, retrieval.vectors_missing()) {
        if args.vectors == VectorMode::Sync {
            anyhow::bail!("evaluating with vectors: {missing}");
        }
        eprintln!("note: evaluating without vectors: {missing}");
    }
    let counter = TokenCounter::named(
        args.budget
            .tokenizer
            .as_deref()
            .unwrap_or(DEFAULT_TOKENIZER),
    )?;
    let budget = Budget::default().overridden(args.budget.budget, args.budget.max_files);
    let mut context_rows = Vec::new();
    let mut rows = Vec::new();
    let (mut hybrid_rows, mut baseline_rows) = (Vec::new(), Vec::new());
    let (mut hybrid_ms, mut baseline_ms) = (Vec::new(), Vec::new());
    for query in queries {
        let (ranked, ms) = timed(|| {
            retrieval
                .rank(&query.message, &weights, CANDIDATES)
                .map(|(_, ranked)| ranked)
        });
        hybrid_ms.push(ms);
        let (baseline, ms) =
            timed(|| rank_whole_files(&retrieval.snapshot().lexical, &query.message));
        baseline_ms.push(ms);
        let (ranked, baseline) = (ranked?, baseline?);
        // The context an agent would be given for this task, packed from the indexed tree.
        let (packed, pack_ms) = timed(|| {
            retrieval.pack(
                &ranked,
                &counter,
                &budget,
                crate::secrets::SecretRules::default_rules(),
            )
        });
        let context: Vec<String> = packed.files.iter().map(|f| f.path.clone()).collect();
        context_rows.push((context.clone(), query.gold.clone(), packed.tokens, pack_ms));
        let hybrid: Vec<String> = ranked.into_iter().map(|file| file.path).collect();
        hybrid_rows.push((hybrid.clone(), query.gold.clone()));
        baseline_rows.push((baseline.clone(), query.gold.clone()));
        let missed = missed(&query.gold, &hybrid, &baseline);
        rows.push(Row {
            missed,
            query,
            hybrid: hybrid.into_iter().take(REPORTED_RANKS).collect(),
            bm25_whole_file: baseline.into_iter().take(REPORTED_RANKS).collect(),
            context,
        });
    }
    let report = Report {
        repository: repo.display().to_string(),
        base_commit: base,
        query_from: args.query_from,
        queries: rows.len(),
        unreachable_gold,
        indexed_files: summary.indexed_files,
        indexed_lines: summary.indexed_lines,
        vectors: summary.vectors.as_ref().map(|v| EvalVectors {
            units: v.units,
            embedded: v.embedded,
            reused_cache: reused,
        }),
        hybrid: score(&hybrid_rows, &mut hybrid_ms),
        bm25_whole_file: score(&baseline_rows, &mut baseline_ms),
        context: ContextScores::of(&context_rows, &budget),
        weights,
        rows,
    };
    if args.json {
        return print_json(&report);
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} queries ({}) from {} up to {}, against an index of the tree before them (at {}: {} files, {} lines)",
        report.queries,
        match report.query_from {
            QueryText::Subject => "commit subjects",
            QueryText::Message => "whole commit messages",
        },
        report.repository,
        args.commit,
        &report.base_commit[..report.base_commit.len().min(12)],
        report.indexed_files,
        report.indexed_lines
    );
    if report.unreachable_gold > 0 {
        let _ = writeln!(
            out,
            "({} left out of the answers: added after the indexed commit)",
            counted(report.unreachable_gold as u64, "changed file")
        );
    }
    let _ = writeln!(
        out,
        "{:<16} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>9}",
        "ranker", "R@1", "R@5", "R@10", "R@15", "Acc@5", "MRR", "p50 ms"
    );
    for (name, scores) in [
        ("sextant hybrid", &report.hybrid),
        ("bm25 whole-file", &report.bm25_whole_file),
    ] {
        let _ = writeln!(
            out,
            "{name:<16} {:>6.3} {:>6.3} {:>6.3} {:>6.3} {:>6.3} {:>6.3} {:>9.1}",
            scores.recall["@1"],
            scores.recall["@5"],
            scores.recall["@10"],
            scores.recall["@15"],
            scores.accuracy_at_5,
            scores.mrr,
            scores.latency_p50_ms
        );
    }
    let _ = writeln!(
        out,
        "sextant's packed context ({} tokens, up to {} files) holds {:.3} of the answers; \
         median {} files, {} tokens, packed in {:.1} ms",
        thousands(report.context.budget_tokens as u64),
        report.context.max_files,
        report.context.recall,
        report.context.files_p50,
        thousands(report.context.tokens_p50.round() as u64),
        report.context.pack_p50_ms
    );
    let missing: Vec<&Row> = report
        .rows
        .iter()
        .filter(|r| !r.missed.is_empty())
        .collect();
    let _ = writeln!(
        out,
        "\n{} of {} queries have an answer outside sextant's top {MISS_CUTOFF}{}",
        missing.len(),
        report.rows.len(),
        match (missing.is_empty(), args.misses) {
            (true, _) => "",
            (false, true) => ":",
            (false, false) => " (--misses lists them)",
        }
    );
    if args.misses {
        let place = |rank: Option<usize>| rank.map_or("-".to_string(), |r| r.to_string());
        for row in missing {
            let _ = writeln!(
                out,
                "  {} {}",
                &row.query.commit[..row.query.commit.len().min(10)],
                row.query.message
            );
            for miss in &row.missed {
                let _ = writeln!(
                    out,
                    "      {}  sextant {}, bm25 {}",
                    miss.path,
                    place(miss.hybrid_rank),
                    place(miss.bm25_rank)
                );
            }
        }
    }
    print(&out)
}
