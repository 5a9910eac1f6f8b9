//! `sextant why-relevant`: the files that matter for a task, packed into a token budget, each
//! with the evidence for its place; as a table, as JSON, or as the packed context itself.

use std::collections::BTreeSet;
use std::fmt::Write;
use std::path::Path;

use serde::Serialize;
use sextant_index::lexical::{MatchedLine, matched_lines, term_set};
use sextant_index::walk::read_source;

use crate::cli::{GlobalArgs, WhyRelevantArgs};
use crate::output::{counted, escaped, json_text, print, thousands};
use crate::rank::explain::Explanation;
use crate::rank::pack::{Budget, Packed, Passed, TokenCounter};
use crate::rank::query::{TaskQuery, is_filler};
use crate::rank::{FileSignals, RankedFile, Weights};
use crate::retrieval::{Answer, Retrieval};
use crate::settings::{Overrides, Settings};

/// Version of the JSON output; bumped on incompatible changes.
pub const SCHEMA_VERSION: u32 = 1;
/// The JSON schema of `--json` (printed by `--print-schema`; tests validate output against it).
pub const SCHEMA: &str = include_str!("../rank/why-relevant.schema.json");
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

/// Runs `sextant why-relevant`.
pub fn run(args: &WhyRelevantArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let Some(task) = args.task.as_deref() else {
        return print(SCHEMA);
    };
    let settings = Settings::resolve(args.repo.as_deref(), global, &Overrides::default())?;
    let weights = args.weights.apply(settings.rank.weights);
    let tokenizer = args
        .budget
        .tokenizer
        .clone()
        .unwrap_or_else(|| settings.rank.tokenizer.clone());
    // The tokenizer's tables are built while the index opens.
    TokenCounter::warm(&tokenizer);
    // One retrieval path; the model is loaded only when vectors count. The secret rules
    // (a few hundred regexes) are built on a thread of their own meanwhile.
    let (retrieval, secrets) = std::thread::scope(|scope| {
        let secrets = scope.spawn(|| settings.secret_rules());
        let retrieval = Retrieval::for_settings(&settings, weights.vector > 0.0);
        let secrets = secrets
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (retrieval, secrets)
    });
    let mut retrieval = retrieval?;
    let secrets = secrets?;
    // What the ranking has to do without, and what repairs it: on stderr, and in the JSON.
    for note in retrieval.notes() {
        eprintln!("warning: {note}");
    }
    let budget = settings
        .rank
        .budget
        .overridden(args.budget.budget, args.budget.max_files);
    let answer = answer(
        &mut retrieval,
        &settings,
        task,
        &weights,
        budget,
        &tokenizer,
        &secrets,
    )?;
    let printed = if args.context {
        print(&answer.context)
    } else {
        print(if args.json {
            &answer.json
        } else {
            &answer.table
        })
    };
    // The process ends here: freeing the manifest, the graph's part and the index readers
    // piece by piece cost a tenth of the command at 26M lines; the system takes it all back
    // at once.
    std::mem::forget(retrieval);
    printed
}

/// What `why-relevant` answers for a task, in its three forms.
pub struct WhyRelevantAnswer {
    /// The `--json` report (see [`SCHEMA`]), fields in their declared order.
    pub json: String,
    /// The packed context (`--context`), ready for a model.
    pub context: String,
    /// The table a person reads.
    pub table: String,
}

/// Ranks and packs `task` through `retrieval` and builds every form of the answer (the CLI and
/// the server share it).
pub fn answer(
    retrieval: &mut Retrieval,
    settings: &Settings,
    task: &str,
    weights: &Weights,
    budget: Budget,
    tokenizer: &str,
    secrets: &crate::secrets::SecretRules,
) -> anyhow::Result<WhyRelevantAnswer> {
    let counter = TokenCounter::named(tokenizer)?;
    let Answer {
        query,
        ranked,
        packed,
        rank_ms,
        pack_ms,
    } = retrieval.answer(task, weights, &counter, &budget, secrets)?;
    let context = context_text(task, &packed, &budget, tokenizer);
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
                matched_lines: evidence_lines(&settings.root, ranked, &terms, &query.quoted),
                explanation: ranked.explain(weights, &query),
            })
        })
        .collect();
    let report = Report {
        schema_version: SCHEMA_VERSION,
        task,
        query: &query,
        signals: Available {
            lexical: true,
            graph: retrieval.has_graph(),
            vectors: retrieval.has_vectors() && retrieval.query_note().is_none(),
            history: retrieval.history().is_some(),
        },
        vectors_missing: retrieval.vectors_missing().or(retrieval.query_note()),
        notes: retrieval.notes(),
        weights: *weights,
        budget,
        tokenizer,
        tokens_used: packed.tokens,
        files,
        passed: &packed.passed,
        timings_ms: Timings {
            load: retrieval.load_ms(),
            rank: rank_ms,
            pack: pack_ms,
        },
    };
    Ok(WhyRelevantAnswer {
        json: json_text(&report)?,
        table: render(&report),
        context,
    })
}

/// Lines of the file's best chunks that contain query terms, read from the working tree.
/// Lines of the file's best chunks that hold query terms; first, any line of the file that
/// holds a phrase the task quotes (an error message pasted into a task is where to look,
/// wherever BM25 put the file's best chunks).
fn evidence_lines(
    root: &Path,
    file: &RankedFile,
    terms: &BTreeSet<String>,
    quoted: &[String],
) -> Vec<MatchedLine> {
    let Ok(source) = read_source(&root.join(&file.path), u64::MAX) else {
        return Vec::new();
    };
    let lines: Vec<&str> = source.text.lines().collect();
    let phrases: Vec<String> = quoted.iter().map(|q| q.to_lowercase()).collect();
    let mut found: Vec<MatchedLine> = Vec::new();
    if !phrases.is_empty() {
        for (index, line) in lines.iter().enumerate() {
            let lower = line.to_lowercase();
            if phrases.iter().any(|phrase| lower.contains(phrase.as_str())) {
                found.extend(matched_lines(line, index as u32 + 1, terms));
                if found.len() >= EVIDENCE_LINES {
                    break;
                }
            }
        }
    }
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
        "{} for {:?} — {} of {} tokens ({})",
        counted(report.files.len() as u64, "file"),
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
        "# Context for: {task}\n\n{} selected by sextant, {} of {} tokens ({tokenizer}).\n\n",
        counted(packed.files.len() as u64, "file"),
        thousands(packed.tokens as u64),
        thousands(budget.tokens as u64),
    );
    for file in &packed.files {
        out.push_str(&file.section);
        out.push('\n');
    }
    out
}
