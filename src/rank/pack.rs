//! Budgeted selection: the ranked files packed into a token budget, counted with a real BPE
//! tokenizer, each whole when it fits, else as an outline (its signatures) plus the regions
//! that matched.

use std::fmt::Write;
use std::path::Path;

use serde::Serialize;
use sextant_index::graph::CodeGraph;
use sextant_index::store::Manifest;
use sextant_index::syntax::{ChunkLimits, extract};
use sextant_index::walk::source_from_bytes;
use sextant_index::{Language, LineSpan};

use crate::secrets::SecretRules;

use super::RankedFile;

/// Default token budget of the packed context.
pub const DEFAULT_BUDGET: usize = 32_000;
/// Default most files selected.
pub const DEFAULT_MAX_FILES: usize = 15;
/// Files selected before the relevance cut-off may stop the selection.
pub const MIN_FILES: usize = 10;
/// Past [`MIN_FILES`], a file scoring below this share of the best file is not worth its
/// tokens: the ranking's tail is mostly noise.
pub const RELATIVE_CUTOFF: f64 = 0.2;
/// Share of the budget one whole file may take: beyond it, the file is shown as an outline so
/// one big file cannot crowd out the rest.
pub const WHOLE_FILE_SHARE: f64 = 0.25;
/// Most bytes of source one cl100k_base token covers in practice (long runs of spaces or
/// repeated punctuation); used only to skip counting files that cannot fit.
const MAX_BYTES_PER_TOKEN: usize = 8;
/// Most signatures in the leanest form of a file with many definitions: the signatures of a
/// file of thousands of lines can take thousands of tokens, more than a small budget can give
/// one file.
const LEAN_SIGNATURES: usize = 40;
/// Longest matching region shown in an outline, in lines.
const MAX_REGION_LINES: u32 = 60;
/// Default tokenizer: OpenAI's cl100k_base BPE, a reasonable stand-in for most code models'
/// tokenizers (within a few percent on source code); configurable.
pub const DEFAULT_TOKENIZER: &str = "cl100k_base";

/// Counts tokens the way a model would: with OpenAI's BPE vocabularies (GitHub's `bpe`
/// implementation: the same counts as tiktoken, several times faster, which matters because
/// counting is most of packing's time), or with the user's model's own `tokenizer.json`.
pub struct TokenCounter {
    name: String,
    kind: CounterKind,
}

enum CounterKind {
    Bpe(&'static bpe_openai::Tokenizer),
    HuggingFace(Box<tokenizers::Tokenizer>),
}

/// The built-in BPE called `name`, loaded (once per process) by calling it.
fn builtin_bpe(name: &str) -> Option<fn() -> &'static bpe_openai::Tokenizer> {
    match name {
        "cl100k_base" => Some(bpe_openai::cl100k_base),
        "o200k_base" => Some(bpe_openai::o200k_base),
        _ => None,
    }
}

impl TokenCounter {
    /// A built-in BPE by name — `cl100k_base` (GPT-4; most code models' counts are within a
    /// few percent of it) or `o200k_base` (GPT-4o) — or a path to a Hugging Face
    /// `tokenizer.json` (the model's own tokenizer, exact for it).
    pub fn named(name: &str) -> anyhow::Result<TokenCounter> {
        let kind = match (builtin_bpe(name), name) {
            (Some(load), _) => CounterKind::Bpe(load()),
            (None, path) if path.ends_with(".json") => {
                let mut tokenizer = tokenizers::Tokenizer::from_file(path)
                    .map_err(|e| anyhow::anyhow!("cannot load tokenizer {path}: {e}"))?;
                // Counting wants the text's own tokens: no padding, no truncation.
                tokenizer.with_padding(None);
                tokenizer
                    .with_truncation(None)
                    .map_err(|e| anyhow::anyhow!("tokenizer {path}: {e}"))?;
                CounterKind::HuggingFace(Box::new(tokenizer))
            }
            // A name the user typed (flag or config): bad usage, exit 2.
            (None, other) => {
                return Err(crate::bounds::UsageError(format!(
                    "unknown tokenizer {other:?} (cl100k_base, o200k_base, or a path to a tokenizer.json)"
                ))
                .into());
            }
        };
        Ok(TokenCounter {
            name: name.to_string(),
            kind,
        })
    }

    /// Starts loading a built-in BPE on a thread of its own, so that a one-shot command can
    /// open the index meanwhile: building cl100k's tables takes ~20 ms, an eighth of a
    /// `why-relevant` at 26M lines. [`TokenCounter::named`] then finds them built (or waits
    /// for them). Other names load nothing here.
    pub fn warm(name: &str) {
        let Some(load) = builtin_bpe(name) else {
            return;
        };
        // Nothing to report: should the thread not start, `named` loads them itself.
        let _ = std::thread::Builder::new()
            .name("tokenizer".into())
            .spawn(move || {
                load();
            });
    }

    /// The tokenizer's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Tokens in `text`. Counts of longer texts are remembered for the process (a warm
    /// server packs the same files and outlines query after query; counting is a fifth of
    /// packing): the same tokenizer and text always give the same count.
    pub fn count(&self, text: &str) -> usize {
        if text.len() < COUNT_MEMO_MIN_BYTES {
            return self.count_afresh(text);
        }
        let mut hasher = blake3::Hasher::new();
        hasher.update(self.name.as_bytes());
        hasher.update(&[0]);
        hasher.update(text.as_bytes());
        let key = *hasher.finalize().as_bytes();
        let memo = COUNT_MEMO.get_or_init(Default::default);
        if let Some(&count) = memo.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return count;
        }
        let count = self.count_afresh(text);
        let mut memo = memo.lock().unwrap_or_else(|e| e.into_inner());
        if memo.len() >= COUNT_MEMO_ENTRIES {
            memo.clear();
        }
        memo.insert(key, count);
        count
    }

    fn count_afresh(&self, text: &str) -> usize {
        match &self.kind {
            CounterKind::Bpe(bpe) => bpe.count(text),
            CounterKind::HuggingFace(tokenizer) => tokenizer
                .encode(text, false)
                .map_or(text.len() / 3, |e| e.get_ids().len()),
        }
    }
}

/// Texts shorter than this are counted every time (hashing would cost about as much).
const COUNT_MEMO_MIN_BYTES: usize = 2_048;
/// Counts remembered at most; the memo starts over beyond.
const COUNT_MEMO_ENTRIES: usize = 50_000;
/// Token counts by blake3 of tokenizer name and text.
static COUNT_MEMO: std::sync::OnceLock<
    std::sync::Mutex<std::collections::HashMap<[u8; 32], usize>>,
> = std::sync::OnceLock::new();

/// How much to select.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Budget {
    /// Tokens the packed context may use.
    pub tokens: usize,
    /// Most files selected.
    pub max_files: usize,
}

impl Budget {
    /// This budget with the given tokens and file count where they are set (flags over
    /// configuration or defaults).
    pub fn overridden(self, tokens: Option<usize>, max_files: Option<usize>) -> Budget {
        Budget {
            tokens: tokens.unwrap_or(self.tokens),
            max_files: max_files.unwrap_or(self.max_files),
        }
    }
}

impl Default for Budget {
    fn default() -> Budget {
        Budget {
            tokens: DEFAULT_BUDGET,
            max_files: DEFAULT_MAX_FILES,
        }
    }
}

/// How a selected file is included, the richest form first (the order compares them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Inclusion {
    /// The whole file.
    Whole,
    /// Signatures of its definitions plus the regions that matched.
    Outline,
    /// Only the regions that matched.
    Regions,
    /// Only the signatures.
    Signatures,
}

impl Inclusion {
    /// Lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Inclusion::Whole => "whole",
            Inclusion::Outline => "outline",
            Inclusion::Regions => "regions",
            Inclusion::Signatures => "signatures",
        }
    }
}

/// A selected file and the text that represents it in the context.
#[derive(Clone, Debug, Serialize)]
pub struct PackedFile {
    /// Path relative to the repository root.
    pub path: String,
    /// How it is included.
    pub inclusion: Inclusion,
    /// Tokens its section of the context takes.
    pub tokens: usize,
    /// Line ranges shown (the whole file is one range).
    pub lines: Vec<LineSpan>,
    /// Lines in the file.
    pub line_count: u32,
    /// Whether the file changed since it was indexed (lines may have moved).
    pub stale: bool,
    /// The section of the context: a header and the fenced text.
    #[serde(skip)]
    pub section: String,
}

/// A ranked file that was not selected, and why.
#[derive(Clone, Debug, Serialize)]
pub struct Passed {
    /// Path.
    pub path: String,
    /// Why it was left out.
    pub reason: String,
}

/// The selection.
#[derive(Clone, Debug, Serialize)]
pub struct Packed {
    /// Selected files, in rank order.
    pub files: Vec<PackedFile>,
    /// Tokens used by all sections.
    pub tokens: usize,
    /// Ranked files considered and left out.
    pub passed: Vec<Passed>,
}

/// One way to show a file, with its size.
struct Form {
    inclusion: Inclusion,
    lines: Vec<LineSpan>,
    section: String,
    tokens: usize,
}

/// A file chosen for the context, before the budget is shared out.
struct Candidate<'r> {
    file: &'r RankedFile,
    text: String,
    stale: bool,
    language: Language,
    /// The ways to show it counted so far: its partial forms, and the whole file when it has
    /// no partial form (otherwise the whole is counted only if the budget could afford it).
    forms: Vec<Form>,
}

impl Candidate<'_> {
    /// Tokens of the leanest form: what the file costs at least.
    fn floor(&self) -> usize {
        self.forms.iter().map(|form| form.tokens).min().unwrap_or(0)
    }
}

/// Where packed files are read from, and what must never be read into a context.
#[derive(Clone, Copy)]
pub struct WorkingTree<'a> {
    /// The repository root: files are read from the working tree.
    pub root: &'a Path,
    /// Files these rules find secret (by name or content) are left out, saying so.
    pub secrets: &'a SecretRules,
}

/// Packs ranked files into the budget. Files are read from the working tree.
///
/// The budget is shared in two passes, so depth never costs breadth: first every selected
/// file gets its leanest form (signatures or matching regions), dropping files from the
/// bottom of the ranking until those fit; then, best-ranked first, each file is raised to the
/// richest form the tokens left allow — whole when it is at most a quarter of the budget, else
/// an outline, regions or signatures. A greedy pass that gave the first files whole could
/// spend the budget before the tenth file.
pub fn pack(
    tree: &WorkingTree,
    manifest: &Manifest,
    graph: Option<&CodeGraph>,
    ranked: &[RankedFile],
    counter: &TokenCounter,
    budget: &Budget,
) -> Packed {
    let mut packed = Packed {
        files: Vec::new(),
        tokens: 0,
        passed: Vec::new(),
    };
    let whole_cap = whole_cap(budget);
    let mut candidates = select(tree, manifest, graph, ranked, counter, budget, &mut packed);
    // Pass 1: the leanest forms must fit; the worst-ranked files give way.
    let floors =
        |candidates: &[Candidate]| -> usize { candidates.iter().map(Candidate::floor).sum() };
    while floors(&candidates) > budget.tokens {
        let Some(dropped) = candidates.pop() else {
            break;
        };
        packed.passed.push(Passed {
            path: dropped.file.path.clone(),
            reason: format!(
                "budget spent: even its leanest form ({} tokens) does not fit beside the \
                 files ranked above it",
                dropped.floor()
            ),
        });
    }
    // Pass 2: best first, the richest form the slack allows.
    let mut slack = budget.tokens.saturating_sub(floors(&candidates));
    for mut candidate in candidates {
        let floor = candidate.floor();
        let has_whole = candidate
            .forms
            .iter()
            .any(|f| f.inclusion == Inclusion::Whole);
        if !has_whole {
            // Counted only when it could fit: cl100k_base never packs more than ~8 bytes of
            // code into a token, so a longer file cannot, and tokenizing it is the slowest part
            // of packing.
            candidate.forms.extend(whole_form(
                &candidate,
                counter,
                whole_cap.min(floor + slack),
            ));
        }
        let Candidate {
            file,
            text,
            stale,
            forms,
            ..
        } = candidate;
        let Some(form) = forms
            .into_iter()
            .filter(|form| form.tokens <= floor + slack)
            .min_by_key(|form| form.inclusion)
        else {
            continue;
        };
        // The form fits `floor + slack`; it may be leaner than the floor (a small file whole
        // costs less than its outline), which gives the difference back.
        slack = slack + floor - form.tokens;
        packed.tokens += form.tokens;
        packed.files.push(PackedFile {
            path: file.path.clone(),
            inclusion: form.inclusion,
            tokens: form.tokens,
            lines: form.lines,
            line_count: line_count(&text),
            stale,
            section: form.section,
        });
    }
    packed
}

/// Most tokens a whole file may take: [`WHOLE_FILE_SHARE`] of the budget.
fn whole_cap(budget: &Budget) -> usize {
    (budget.tokens as f64 * WHOLE_FILE_SHARE) as usize
}

/// The files worth their tokens, best first: at most `max_files`, and past [`MIN_FILES`] only
/// those scoring at least [`RELATIVE_CUTOFF`] of the best; with their partial forms.
fn select<'r>(
    tree: &WorkingTree,
    manifest: &Manifest,
    graph: Option<&CodeGraph>,
    ranked: &'r [RankedFile],
    counter: &TokenCounter,
    budget: &Budget,
    packed: &mut Packed,
) -> Vec<Candidate<'r>> {
    let WorkingTree { root, secrets } = *tree;
    let best = ranked.first().map_or(0.0, |f| f.score);
    let mut candidates = Vec::new();
    for file in ranked {
        if candidates.len() == budget.max_files {
            break;
        }
        if candidates.len() >= MIN_FILES && file.score < RELATIVE_CUTOFF * best {
            break;
        }
        let pass = |reason: String| Passed {
            path: file.path.clone(),
            reason,
        };
        let Some(record) = manifest.files.get(&file.path) else {
            packed.passed.push(pass("not in the index".into()));
            continue;
        };
        // The context is meant to be pasted into a model: secrets by name or content (through
        // symlinks too) are never in it.
        // One read: the bytes packed are the bytes the secret check scanned.
        let bytes = match secrets.read_bytes_if_clean(root, &file.path) {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(verdict)) => {
                let mut passed = pass(format!("withheld: {verdict}"));
                // A path that itself holds a secret (a token in a file name) is not printed.
                if secrets.check_content(&file.path).is_some() {
                    passed.path = "(a path that holds a secret)".to_string();
                }
                packed.passed.push(passed);
                continue;
            }
            Err(error) => {
                packed.passed.push(pass(format!("cannot read it: {error}")));
                continue;
            }
        };
        let source = match source_from_bytes(bytes, u64::MAX) {
            Ok(source) => source,
            Err(reason) => {
                packed
                    .passed
                    .push(pass(format!("cannot read it: {reason}")));
                continue;
            }
        };
        let stale = source.hash != record.hash;
        // Lines are cut where the index cut them: a minified line of megabytes is no context
        // for a model, and counting its tokens took seconds.
        let text = sextant_index::lexical::bounded_lines(&source.text).into_owned();
        let language = Language::from_path(Path::new(&file.path));
        // Signatures as indexed when the file has not changed since (re-parsing a 10,000-line
        // file costs ~80 ms); parsed afresh otherwise.
        let signatures: Vec<(u32, String)> = match graph {
            Some(graph) if !stale && graph.file(&file.path).is_some() => graph
                .signatures(&file.path)
                .into_iter()
                .map(|(line, signature)| (line, signature.to_string()))
                .collect(),
            _ => extract(language, &text, &ChunkLimits::default())
                .symbols
                .iter()
                .map(|s| (s.span.start, s.signature.clone()))
                .collect(),
        };
        let forms: Vec<Form> = partial_sections(&file.path, language, &text, file, &signatures)
            .into_iter()
            .map(|(inclusion, lines, section)| Form {
                inclusion,
                tokens: counter.count(&section),
                lines,
                section,
            })
            .collect();
        let mut candidate = Candidate {
            file,
            text,
            stale,
            language,
            forms,
        };
        if candidate.forms.is_empty() {
            // No definitions and no matching chunk: whole or nothing.
            let whole_cap = whole_cap(budget);
            match whole_form(&candidate, counter, whole_cap) {
                Some(whole) => candidate.forms.push(whole),
                None => {
                    packed.passed.push(pass(format!(
                        "nothing to show within {whole_cap} tokens: no definitions or \
                         matching regions, and too long to include whole"
                    )));
                    continue;
                }
            }
        }
        candidates.push(candidate);
    }
    candidates
}

/// The whole file as a form, if it takes at most `cap` tokens.
fn whole_form(candidate: &Candidate, counter: &TokenCounter, cap: usize) -> Option<Form> {
    if candidate.text.len() / MAX_BYTES_PER_TOKEN > cap {
        return None;
    }
    let (lines, section) = whole_section(&candidate.file.path, candidate.language, &candidate.text);
    let tokens = counter.count(&section);
    (tokens <= cap).then_some(Form {
        inclusion: Inclusion::Whole,
        lines,
        section,
        tokens,
    })
}

fn line_count(text: &str) -> u32 {
    u32::try_from(sextant_index::text::line_count(text)).unwrap_or(u32::MAX)
}

/// The whole file as a section.
fn whole_section(path: &str, language: Language, text: &str) -> (Vec<LineSpan>, String) {
    let total = line_count(text).max(1);
    let whole = LineSpan {
        start: 1,
        end: total,
    };
    (
        vec![whole],
        section(path, language, &format!("whole file, {total} lines"), text),
    )
}

/// The ways to show part of a file, most complete first.
fn partial_sections(
    path: &str,
    language: Language,
    text: &str,
    file: &RankedFile,
    signatures: &[(u32, String)],
) -> Vec<(Inclusion, Vec<LineSpan>, String)> {
    let total = line_count(text).max(1);
    let lines: Vec<&str> = sextant_index::text::lines(text).collect();
    let mut candidates = Vec::new();
    let regions = merge_spans(
        file.signals
            .chunk_hits
            .iter()
            .map(|hit| LineSpan {
                start: hit.span.start,
                end: hit.span.end.min(hit.span.start + MAX_REGION_LINES - 1),
            })
            .filter(|span| span.start <= total)
            .collect(),
    );
    let numbered = |shown: &[(u32, String)]| {
        let mut body = String::new();
        let mut last = 0;
        for (line, content) in shown {
            if *line > last + 1 {
                body.push_str("     …\n");
            }
            let _ = writeln!(body, "{line:>5}| {content}");
            last = *line;
        }
        body
    };
    let region_lines = |spans: &[LineSpan]| -> Vec<(u32, String)> {
        spans
            .iter()
            .flat_map(|span| span.start..=span.end.min(total))
            .filter_map(|line| {
                lines
                    .get(line as usize - 1)
                    .map(|l| (line, (*l).to_string()))
            })
            .collect()
    };
    let in_regions = |line: u32| regions.iter().any(|s| s.start <= line && line <= s.end);
    let mut outline: Vec<(u32, String)> = signatures
        .iter()
        .filter(|(line, _)| !in_regions(*line))
        .cloned()
        .chain(region_lines(&regions))
        .collect();
    outline.sort_by_key(|(line, _)| *line);
    let signature_spans = |shown: &[(u32, String)]| -> Vec<LineSpan> {
        merge_spans(
            shown
                .iter()
                .map(|(line, _)| LineSpan {
                    start: *line,
                    end: *line,
                })
                .collect(),
        )
    };
    if !regions.is_empty() && !signatures.is_empty() {
        candidates.push((
            Inclusion::Outline,
            signature_spans(&outline),
            section(
                path,
                language,
                &format!("outline of {total} lines: signatures and matching regions"),
                &numbered(&outline),
            ),
        ));
    }
    if !regions.is_empty() {
        candidates.push((
            Inclusion::Regions,
            regions.clone(),
            section(
                path,
                language,
                &format!("matching regions of {total} lines"),
                &numbered(&region_lines(&regions)),
            ),
        ));
    }
    if !signatures.is_empty() {
        candidates.push((
            Inclusion::Signatures,
            signature_spans(signatures),
            section(
                path,
                language,
                &format!("signatures of {total} lines"),
                &numbered(signatures),
            ),
        ));
    }
    if signatures.len() > LEAN_SIGNATURES {
        let lean = nearest_signatures(signatures, &evidence_lines(file));
        candidates.push((
            Inclusion::Signatures,
            signature_spans(&lean),
            section(
                path,
                language,
                &format!(
                    "{} of {} signatures of {total} lines, those nearest the evidence",
                    lean.len(),
                    signatures.len()
                ),
                &numbered(&lean),
            ),
        ));
    }
    candidates
}

/// Lines the ranking pointed at in a file: matching chunks, named definitions, the graph
/// link's reference, the most similar unit.
fn evidence_lines(file: &RankedFile) -> Vec<u32> {
    let signals = &file.signals;
    signals
        .chunk_hits
        .iter()
        .map(|hit| hit.span.start)
        .chain(signals.symbols.iter().map(|symbol| symbol.line))
        .chain(signals.graph_link.as_ref().and_then(|link| link.line))
        .chain(signals.similar.as_ref().map(|unit| unit.line))
        .collect()
}

/// At most [`LEAN_SIGNATURES`] signatures, those nearest the evidence lines (the first ones
/// without evidence), in file order.
fn nearest_signatures(signatures: &[(u32, String)], evidence: &[u32]) -> Vec<(u32, String)> {
    let distance = |line: u32| {
        evidence
            .iter()
            .map(|e| e.abs_diff(line))
            .min()
            .unwrap_or(line)
    };
    let mut lean: Vec<(u32, String)> = signatures.to_vec();
    lean.sort_by_key(|(line, _)| (distance(*line), *line));
    lean.truncate(LEAN_SIGNATURES);
    lean.sort_by_key(|(line, _)| *line);
    lean
}

/// Sorted, overlapping or adjacent spans joined.
fn merge_spans(mut spans: Vec<LineSpan>) -> Vec<LineSpan> {
    spans.sort_by_key(|s| (s.start, s.end));
    let mut merged: Vec<LineSpan> = Vec::new();
    for span in spans {
        match merged.last_mut() {
            Some(last) if span.start <= last.end + 1 => last.end = last.end.max(span.end),
            _ => merged.push(span),
        }
    }
    merged
}

/// A file's section of the context: a Markdown header and a fenced block.
fn section(path: &str, language: Language, what: &str, body: &str) -> String {
    let fence = if body.contains("```") { "````" } else { "```" };
    let mut out = format!("### {path} ({what})\n{fence}{}\n", language.name());
    out.push_str(body);
    if !body.ends_with('\n') {
        out.push('\n');
    }
    let _ = writeln!(out, "{fence}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_real_bpe_tokens() {
        let counter = TokenCounter::named(DEFAULT_TOKENIZER).expect("tokenizer");
        // cl100k_base: "hello world" is two tokens; code splits finer than words.
        assert_eq!(counter.count("hello world"), 2);
        assert!(counter.count("fn verify_token(token: &str) -> bool {}") > 8);
        assert!(TokenCounter::named("gpt2-ish").is_err());
        assert!(TokenCounter::named("/nonexistent/tokenizer.json").is_err());
    }

    #[test]
    fn lean_signatures_are_those_nearest_the_evidence_in_file_order() {
        let signatures: Vec<(u32, String)> =
            (1..=100).map(|i| (i * 10, format!("fn f{i}()"))).collect();
        let lean = nearest_signatures(&signatures, &[505]);
        assert_eq!(lean.len(), LEAN_SIGNATURES);
        // 40 definitions around line 505: lines 310..=700, in order.
        assert_eq!(lean.first().map(|s| s.0), Some(310));
        assert_eq!(lean.last().map(|s| s.0), Some(700));
        assert!(lean.windows(2).all(|w| w[0].0 < w[1].0));
        // Without evidence, the first ones.
        let first = nearest_signatures(&signatures, &[]);
        assert_eq!(first.last().map(|s| s.0), Some(400));
    }

    #[test]
    fn merges_overlapping_and_adjacent_spans() {
        let span = |start, end| LineSpan { start, end };
        assert_eq!(
            merge_spans(vec![
                span(10, 20),
                span(1, 3),
                span(4, 5),
                span(15, 30),
                span(40, 41)
            ]),
            vec![span(1, 5), span(10, 30), span(40, 41)]
        );
    }
}
