//! `sextant why-relevant`: the files that matter for a task, packed into a token budget, each
//! with the evidence for its place; as a table, as JSON, or as the packed context itself.

use std::collections::BTreeSet;
use std::fmt::Write;
use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use serde::Serialize;
use sextant_index::lexical::{MatchedLine, matched_lines, term_set};
use sextant_index::walk::read_source;

use crate::cli::{GlobalArgs, WhyRelevantArgs};
use crate::output::{escaped, print, print_json, thousands};
use crate::rank::explain::Explanation;
use crate::rank::history::History;
use crate::rank::pack::{Budget, Packed, Passed, TokenCounter, WorkingTree, pack};
use crate::rank::query::{TaskQuery, is_filler};
use crate::rank::semantic::Semantic;
use crate::rank::{FileSignals, RankedFile, Sources, Weights, rank};
use crate::settings::{Overrides, Settings};

/// Version of the JSON output; bumped on incompatible changes.
pub const SCHEMA_VERSION: u32 = 1;
/// The JSON schema of `--json` (printed by `--print-schema`; tests validate output against it).
pub const SCHEMA: &str = include_str!("../rank/why-relevant.schema.json");
/// Ranked files considered for packing.
const CANDIDATES: usize = 50;
/// Matched lines shown per file.
const EVIDENCE_LINES: usize = 3;

/// Which signals the index could offer.
#[derive(Debug, Serialize)]
struct Available {
    lexical: bool,
    graph: bool,
    vectors: bool,
    history: bool,
}

/// One selected file, as printed.
#[derive(Debug, Serialize)]
struct Selected<'a> {
    rank: usize,
    path: &'a str,
    score: f64,
    inclusion: &'static str,
    tokens: usize,
    lines: &'a [sextant_index::LineSpan],
    line_count: u32,
    stale: bool,
    signals: &'a FileSignals,
    matched_lines: Vec<MatchedLine>,
    explanation: Explanation,
}

/// The whole answer, as printed by `--json`.
#[derive(Debug, Serialize)]
struct Report<'a> {
    schema_version: u32,
    task: &'a str,
    query: &'a TaskQuery,
    signals: Available,
    vectors_missing: Option<&'a str>,
    notes: &'a [String],
    weights: Weights,
    budget: Budget,
    tokenizer: &'a str,
    tokens_used: usize,
    files: Vec<Selected<'a>>,
    passed: &'a [Passed],
    timings_ms: Timings,
}

#[derive(Debug, Serialize)]
struct Timings {
    load: f64,
    rank: f64,
    pack: f64,
}

fn ms(since: Instant) -> f64 {
    (since.elapsed().as_secs_f64() * 10_000.0).round() / 10.0
}

/// Runs `sextant why-relevant`.
pub fn run(args: &WhyRelevantArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let Some(task) = args.task.as_deref() else {
        return print(SCHEMA);
    };
    let settings = Settings::resolve(args.repo.as_deref(), global, &Overrides::default())?;
    let started = Instant::now();
    let snapshot = settings.index_dir.open().context("opening the index")?;
    // What the ranking has to do without, and what repairs it: on stderr, and in the JSON.
    let mut notes = Vec::new();
    let graph = match settings.index_dir.read_graph(snapshot.manifest.generation) {
        Ok(graph) => Some(graph),
        Err(error) => {
            notes.push(format!(
                "ranking without the knowledge graph ({error}); `sextant index` repairs it"
            ));
            None
        }
    };
    let mut semantic = match settings.vector_model() {
        Ok(model) => match Semantic::open(
            &settings.index_dir,
            snapshot.manifest.generation,
            &model,
            settings.vectors.threads.unwrap_or(0),
        ) {
            Ok(Some(semantic)) => Ok(semantic),
            Ok(None) => Err(
                "the index has no vectors for its current state; `sextant index` builds them"
                    .to_string(),
            ),
            Err(error) => Err(format!("{error:#}")),
        },
        Err(error) => Err(format!("{error:#}")),
    };
    let history = match History::load(settings.index_dir.path()) {
        Ok(Some(history)) => Some(history),
        // `sextant index` writes the history of every git work tree: missing there, it was lost.
        Ok(None) if settings.root.join(".git").exists() => {
            notes.push(
                "ranking without the history prior (history.bin is missing); `sextant index` rebuilds it"
                    .to_string(),
            );
            None
        }
        Ok(None) => None,
        Err(error) => {
            notes.push(format!(
                "ranking without the history prior ({error}); `sextant index` rebuilds it"
            ));
            None
        }
    };
    for note in &notes {
        eprintln!("warning: {note}");
    }
    let tokenizer = args
        .budget
        .tokenizer
        .clone()
        .unwrap_or_else(|| settings.rank.tokenizer.clone());
    let counter = TokenCounter::named(&tokenizer)?;
    let load_ms = ms(started);

    let weights = args.weights.apply(settings.rank.weights);
    let budget = settings
        .rank
        .budget
        .overridden(args.budget.budget, args.budget.max_files);
    let query = TaskQuery::parse(task);
    if query.is_empty() {
        anyhow::bail!("the task {task:?} has no words to search for once filler is dropped");
    }
    let ranking = Instant::now();
    let embedding = match &mut semantic {
        Ok(semantic) => Some(semantic.embed(task)?),
        Err(_) => None,
    };
    let sources = Sources {
        lexical: &snapshot.lexical,
        manifest: &snapshot.manifest,
        graph: graph.as_ref(),
        vectors: match (&semantic, &embedding) {
            (Ok(semantic), Some(embedding)) => Some((&semantic.snapshot, embedding.as_slice())),
            _ => None,
        },
        history: history.as_ref(),
    };
    let ranked = rank(&sources, &weights, &query, CANDIDATES).context("ranking")?;
    let rank_ms = ms(ranking);
    let packing = Instant::now();
    let secrets = settings.secret_rules()?;
    let tree = WorkingTree {
        root: &settings.root,
        secrets: &secrets,
    };
    let packed = pack(
        &tree,
        &snapshot.manifest,
        graph.as_ref(),
        &ranked,
        &counter,
        &budget,
    );
    let pack_ms = ms(packing);

    if args.context {
        return print(&context_text(task, &packed, &budget, &tokenizer));
    }
    let terms = term_set(query.search_text());
    let files: Vec<Selected<'_>> = packed
        .files
        .iter()
        .enumerate()
        .filter_map(|(index, file)| {
            let ranked = ranked.iter().find(|r| r.path == file.path)?;
            Some(Selected {
                rank: index + 1,
                path: &file.path,
                score: ranked.score,
                inclusion: file.inclusion.name(),
                tokens: file.tokens,
                lines: &file.lines,
                line_count: file.line_count,
                stale: file.stale,
                signals: &ranked.signals,
                matched_lines: evidence_lines(&settings.root, ranked, &terms),
                explanation: ranked.explain(&weights, &query),
            })
        })
        .collect();
    let report = Report {
        schema_version: SCHEMA_VERSION,
        task,
        query: &query,
        signals: Available {
            lexical: true,
            graph: graph.is_some(),
            vectors: semantic.is_ok(),
            history: history.is_some(),
        },
        vectors_missing: semantic.as_ref().err().map(String::as_str),
        notes: &notes,
        weights,
        budget,
        tokenizer: &tokenizer,
        tokens_used: packed.tokens,
        files,
        passed: &packed.passed,
        timings_ms: Timings {
            load: load_ms,
            rank: rank_ms,
            pack: pack_ms,
        },
    };
    if args.json {
        return print_json(&report);
    }
    print(&render(&report))
}

/// Lines of the file's best chunks that contain query terms, read from the working tree.
fn evidence_lines(root: &Path, file: &RankedFile, terms: &BTreeSet<String>) -> Vec<MatchedLine> {
    let Ok(source) = read_source(&root.join(&file.path), u64::MAX) else {
        return Vec::new();
    };
    let lines: Vec<&str> = source.text.lines().collect();
    let mut found = Vec::new();
    for hit in &file.signals.chunk_hits {
        let start = hit.span.start.max(1) as usize - 1;
        let end = (hit.span.end as usize).min(lines.len());
        if start >= end {
            continue;
        }
        let text = lines[start..end].join("\n");
        for line in matched_lines(&text, hit.span.start, terms) {
            if found.len() < EVIDENCE_LINES
                && !found.iter().any(|l: &MatchedLine| l.line == line.line)
            {
                found.push(line);
            }
        }
    }
    found
}

/// The one-line reason a file is in the list: its strongest signals, in words.
fn reasons(file: &Selected<'_>) -> String {
    let terms: BTreeSet<&str> = file
        .matched_lines
        .iter()
        .flat_map(|l| l.terms.iter().map(String::as_str))
        .filter(|term| !is_filler(term))
        .collect();
    crate::rank::reasons::one_line(file.signals, &terms)
}

fn render(report: &Report<'_>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} files for {:?} — {} of {} tokens ({})",
        report.files.len(),
        report.task,
        thousands(report.tokens_used as u64),
        thousands(report.budget.tokens as u64),
        report.tokenizer
    );
    let width = report
        .files
        .iter()
        .map(|f| f.path.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let _ = writeln!(
        out,
        "{:>3}  {:<width$}  {:>6}  {:>6}  {:<10}  why",
        "#", "file", "score", "tokens", "shown"
    );
    for file in &report.files {
        let stale = if file.stale {
            " (changed since indexed)"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "{:>3}  {:<width$}  {:>6.2}  {:>6}  {:<10}  {}{stale}",
            file.rank,
            escaped(file.path),
            file.score,
            thousands(file.tokens as u64),
            file.inclusion,
            reasons(file)
        );
        for line in &file.matched_lines {
            let _ = writeln!(out, "{:>3}  {:>width$}  {}", "", line.line, line.text);
        }
    }
    if !report.passed.is_empty() {
        let _ = writeln!(out, "left out:");
        for passed in report.passed {
            let _ = writeln!(out, "  {} — {}", escaped(&passed.path), passed.reason);
        }
    }
    if !report.signals.graph {
        let _ = writeln!(
            out,
            "note: no knowledge graph in the index; ranked without it"
        );
    }
    if let Some(reason) = report.vectors_missing {
        let _ = writeln!(
            out,
            "note: no vectors ({reason}); ranked without similarity in meaning"
        );
    }
    out
}

/// The packed context: a short preamble, then each file's section.
fn context_text(task: &str, packed: &Packed, budget: &Budget, tokenizer: &str) -> String {
    let mut out = format!(
        "# Context for: {task}\n\n{} files selected by sextant, {} of {} tokens ({tokenizer}).\n\n",
        packed.files.len(),
        thousands(packed.tokens as u64),
        thousands(budget.tokens as u64),
    );
    for file in &packed.files {
        out.push_str(&file.section);
        out.push('\n');
    }
    out
}
