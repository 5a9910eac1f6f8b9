//! What the model is shown of the code, and how much: the room a call leaves for code (the
//! model's context minus the reply, the prompt's fixed parts and a margin), the context a
//! plan step is given (its files, what they use, what uses them, what retrieval selects for
//! the step), and the account of what was sent and what was left out, kept in the run record.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::graph_context::{dependencies, dependents};
use super::plan::Plan;
use crate::llm::config::LlmSettings;
use crate::rank::Weights;
use crate::rank::pack::{Budget, TokenCounter};
use crate::retrieval::Retrieval;
use crate::secrets::SecretRules;

/// Share of the model's context code may take at most, whatever else is left: the
/// conversation around it (questions, repairs, the reply) needs room.
const MAX_CODE_SHARE: f64 = 0.6;
/// Tokens kept free besides the reply: chat templates, answers, repair turns.
const PROMPT_MARGIN_TOKENS: usize = 1_024;
/// Below this many tokens of room, code is left out and only a file list is sent.
pub const MIN_CODE_TOKENS: usize = 500;
/// Largest file a step is shown whole, in bytes (larger ones are shown as an outline).
const MAX_WHOLE_FILE: usize = 40_000;
/// Lines shown at most of one region around a use of the step's code.
const MAX_REGION_LINES: u32 = 30;
/// Regions of dependent code shown at most per step.
const MAX_DEPENDENT_REGIONS: usize = 8;
/// Files retrieval adds at most to a step's context.
const MAX_RETRIEVED_FILES: usize = 4;

/// Times at most a prompt the model's context cannot hold is sent again with less code.
pub const SHRINKS: usize = 2;

/// Tokens of code a call may carry: the model's context size minus the reply's `max_tokens`,
/// the `fixed` text's tokens and a margin, taken at 3/4 (code averages about 4 bytes per BPE
/// token, and the client-side cap estimates 3, so nothing is cut) and at most
/// [`MAX_CODE_SHARE`] of the context.
pub fn code_budget(llm: &LlmSettings, counter: &TokenCounter, fixed: &str) -> usize {
    let context = llm.context_size as usize;
    let room = context
        .saturating_sub(llm.max_tokens as usize)
        .saturating_sub(counter.count(fixed))
        .saturating_sub(PROMPT_MARGIN_TOKENS);
    (room * 3 / 4).min((context as f64 * MAX_CODE_SHARE) as usize)
}

/// The code budget (in the tokens `why-relevant` counts) that takes `over`'s excess out of
/// the `sent` tokens of code: the code's share of the prompt's model tokens is taken as its
/// share of the prompt's bytes (`code_bytes` of `prompt_bytes`, the prompt's fixed rules left
/// out, so the share is, if anything, overstated and the cut understated — a quarter more is
/// cut to make up for it, and a second shrink follows if needed).
pub fn smaller_budget(
    sent: usize,
    over: &crate::llm::LlmError,
    code_bytes: usize,
    prompt_bytes: usize,
) -> usize {
    let crate::llm::LlmError::PromptTooLong {
        prompt_tokens,
        reply_tokens,
        context,
    } = *over
    else {
        return sent;
    };
    let excess = f64::from((prompt_tokens + reply_tokens).saturating_sub(context));
    let share = code_bytes as f64 / prompt_bytes.max(1) as f64;
    let code_tokens = (f64::from(prompt_tokens) * share).max(1.0);
    let keep = (1.0 - 1.25 * excess / code_tokens).clamp(0.0, 1.0);
    (sent as f64 * keep) as usize
}

/// One piece of code sent to the model.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Sent {
    /// The file.
    pub path: String,
    /// How it was shown: `whole`, `outline`, `regions`, `signatures`, `region 12-30`, ….
    pub form: String,
    /// Tokens it took.
    pub tokens: usize,
}

/// A file that was not sent, and why.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LeftOut {
    /// The file.
    pub path: String,
    /// Why: `budget`, `secret`, `ignored by git`, ….
    pub reason: String,
}

/// What one stage's model calls were given of the code.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ContextUse {
    /// `ask+plan`, `execute-3`, ….
    pub stage: String,
    /// Tokens of code the call could carry.
    pub budget_tokens: usize,
    /// Code sent, in prompt order.
    pub sent: Vec<Sent>,
    /// Files considered and left out.
    pub left_out: Vec<LeftOut>,
}

impl ContextUse {
    /// Tokens of code sent.
    pub fn tokens(&self) -> usize {
        self.sent.iter().map(|s| s.tokens).sum()
    }

    /// One line for `review`: stage, tokens of budget, files by form, what was left out.
    pub fn summary(&self) -> String {
        let files: BTreeSet<&str> = self.sent.iter().map(|s| s.path.as_str()).collect();
        let mut line = format!(
            "{}: {} of {} tokens, {} files",
            self.stage,
            self.tokens(),
            self.budget_tokens,
            files.len()
        );
        if !self.sent.is_empty() {
            let shown: Vec<String> = self
                .sent
                .iter()
                .map(|s| format!("{} ({})", s.path, s.form))
                .collect();
            let _ = write!(line, ": {}", shown.join(", "));
        }
        if !self.left_out.is_empty() {
            let left: Vec<String> = self
                .left_out
                .iter()
                .map(|l| format!("{} ({})", l.path, l.reason))
                .collect();
            let _ = write!(line, "; left out: {}", left.join(", "));
        }
        line
    }
}

/// One model call of a run: the stage it served, the context it carried (a [`ContextUse`]'s
/// stage), and its prompt as sextant counted it before sending and as the server counted it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelCall {
    /// The call's stage: `ask`, `plan`, `execute-3`, ….
    pub stage: String,
    /// The [`ContextUse::stage`] of the code the call carried.
    pub context: String,
    /// Its place in the record's `context_use` (names repeat: a step run again, a second
    /// re-packing of the same name).
    #[serde(default)]
    pub packing: Option<usize>,
    /// Prompt tokens as sextant counted them (the model's tokenizer where the server offers
    /// it, else an estimate).
    pub prompt_tokens: Option<u32>,
    /// Prompt tokens as the server reported them.
    pub server_prompt_tokens: Option<u32>,
    /// Tokens the model generated.
    pub completion_tokens: Option<u32>,
    /// `ok`, or what went wrong (`prompt_too_long`, `schema_invalid`, …).
    pub outcome: String,
}

impl ModelCall {
    /// The call described by `metrics`, carrying packing `packing` of the record, named
    /// `context`.
    pub fn new(
        metrics: &crate::llm::CallMetrics,
        context: &str,
        packing: Option<usize>,
    ) -> ModelCall {
        ModelCall {
            stage: metrics.stage.clone().unwrap_or_default(),
            context: context.to_string(),
            packing,
            prompt_tokens: metrics.sextant_prompt_tokens,
            server_prompt_tokens: metrics.prompt_tokens,
            completion_tokens: metrics.completion_tokens,
            outcome: metrics.outcome.clone(),
        }
    }

    /// One line for `review`: `plan: prompt 2,524 tokens (server 2,524), 310 generated`.
    pub fn summary(&self) -> String {
        let count = |n: Option<u32>| n.map_or("?".to_string(), |n| n.to_string());
        let mut line = format!(
            "{}: prompt {} tokens (server {})",
            self.stage,
            count(self.prompt_tokens),
            count(self.server_prompt_tokens)
        );
        if let Some(generated) = self.completion_tokens {
            let _ = write!(line, ", {generated} generated");
        }
        if self.outcome != "ok" {
            let _ = write!(line, ", {}", self.outcome);
        }
        line
    }
}

/// What a step's context is built from.
pub struct StepSources<'a> {
    /// The tree the step works in (the repository, or a dry run's worktree).
    pub work: &'a Path,
    /// The index (graph and ranking), when there is one.
    pub retrieval: Option<&'a mut Retrieval>,
    /// Counts tokens as the budget does.
    pub counter: &'a TokenCounter,
    /// What is never shown.
    pub secrets: &'a SecretRules,
    /// Ranking weights for the step's retrieval.
    pub weights: &'a Weights,
}

/// The context of step `index` within `budget` tokens: the step's files whole (an outline
/// when too large), the definitions elsewhere they use (signatures), the code elsewhere that
/// uses what they define (regions), then what retrieval selects for the step's title.
/// Ignored and secret files are never shown; what did not fit is accounted for.
pub fn step_context(
    sources: &mut StepSources,
    plan: &Plan,
    index: usize,
    budget: usize,
) -> (String, ContextUse) {
    let step = &plan.steps[index];
    let mut text = String::new();
    let mut usage = ContextUse {
        stage: format!("execute-{}", index + 1),
        budget_tokens: budget,
        ..ContextUse::default()
    };
    let mut left = budget;
    let mut shown: BTreeSet<String> = BTreeSet::new();
    let graph = sources.retrieval.as_deref().and_then(Retrieval::graph);
    // The step's own files first: the step cannot be done without them.
    for file in step.files.iter().chain(&step.tests) {
        if !shown.insert(file.clone()) || crate::edit::safe_path(sources.work, file).is_err() {
            continue;
        }
        let read = readable(sources, file);
        let (section, form) = match read {
            Readable::Text(content) => {
                let whole = format!("Current {file}:\n```\n{content}```\n\n");
                let tokens = sources.counter.count(&whole);
                if content.len() <= MAX_WHOLE_FILE && tokens <= left {
                    (whole, "whole".to_string())
                } else {
                    let outline = graph
                        .map(|g| g.signatures(file))
                        .unwrap_or_default()
                        .into_iter()
                        .map(|(line, signature)| format!("{line}: {signature}\n"))
                        .collect::<String>();
                    let regions = graph
                        .map(|g| {
                            named_regions(g, file, &content, &step.title, left / 2, sources.counter)
                        })
                        .unwrap_or_default();
                    let form = if regions.is_empty() {
                        "outline"
                    } else {
                        "outline and regions"
                    };
                    (
                        format!(
                            "{file} is too large to show whole ({} lines); its outline (line: definition):\n```\n{outline}```\n{regions}Search blocks must still quote its lines exactly.\n\n",
                            sextant_index::text::line_count(&content)
                        ),
                        form.to_string(),
                    )
                }
            }
            Readable::Missing => (format!("{file} does not exist yet.\n\n"), String::new()),
            Readable::Withheld(reason) => {
                usage.left_out.push(LeftOut {
                    path: file.clone(),
                    reason: reason.to_string(),
                });
                (
                    format!("{file} is withheld: {reason}. Do not edit it.\n\n"),
                    String::new(),
                )
            }
        };
        let tokens = sources.counter.count(&section);
        left = left.saturating_sub(tokens);
        if !form.is_empty() {
            usage.sent.push(Sent {
                path: file.clone(),
                form,
                tokens,
            });
        }
        text.push_str(&section);
    }
    let changed: Vec<String> = step
        .files
        .iter()
        .filter(|f| !step.created.contains(f))
        .cloned()
        .collect();
    if let Some(graph) = graph {
        // The interfaces the step's files use, as signatures.
        let mut interfaces = String::new();
        // One verdict per file, however many of its definitions the step uses.
        let mut may_show: std::collections::HashMap<String, bool> = Default::default();
        for dependency in dependencies(graph, &changed) {
            let line = format!(
                "- {}:{} {}\n",
                dependency.path, dependency.span.start, dependency.signature
            );
            let tokens = sources.counter.count(&line);
            if tokens > left {
                usage.left_out.push(LeftOut {
                    path: dependency.path,
                    reason: "budget".into(),
                });
                continue;
            }
            let shown = *may_show
                .entry(dependency.path.clone())
                .or_insert_with(|| readable_quietly(sources, &dependency.path));
            if shown {
                left -= tokens;
                interfaces.push_str(&line);
                usage.sent.push(Sent {
                    path: dependency.path,
                    form: format!("signature at line {}", dependency.span.start),
                    tokens,
                });
            }
        }
        if !interfaces.is_empty() {
            let _ = write!(
                text,
                "Definitions elsewhere that these files use (path:line signature):\n{interfaces}\n"
            );
        }
        // The code that uses what the step changes, as regions around each use.
        let mut users = String::new();
        let mut regions = 0;
        for dependent in dependents(graph, &changed) {
            let Readable::Text(content) = readable(sources, &dependent.path) else {
                usage.left_out.push(LeftOut {
                    path: dependent.path.clone(),
                    reason: "withheld (secret or ignored)".into(),
                });
                continue;
            };
            let lines: Vec<&str> = content.lines().collect();
            let mut seen_spans = BTreeSet::new();
            // An import says less than the code that calls: it is shown only when it is all
            // the file does with the step's code.
            let calls = dependent.uses.iter().any(|u| u.kind != "imports");
            for used in &dependent.uses {
                if regions >= MAX_DEPENDENT_REGIONS {
                    break;
                }
                if calls && used.kind == "imports" {
                    continue;
                }
                let (start, end) = match used.within {
                    Some(span) => (span.start, span.end.min(span.start + MAX_REGION_LINES - 1)),
                    None => (used.line.saturating_sub(2).max(1), used.line + 2),
                };
                if !seen_spans.insert((start, end)) || start as usize > lines.len() {
                    continue;
                }
                let end = end.min(lines.len() as u32);
                let region: String = lines[start as usize - 1..end as usize]
                    .iter()
                    .map(|l| format!("{l}\n"))
                    .collect();
                let section = format!(
                    "{} lines {start}-{end} ({} {}):\n```\n{region}```\n",
                    dependent.path, used.kind, used.target
                );
                let tokens = sources.counter.count(&section);
                if tokens > left {
                    usage.left_out.push(LeftOut {
                        path: dependent.path.clone(),
                        reason: "budget".into(),
                    });
                    continue;
                }
                left -= tokens;
                regions += 1;
                users.push_str(&section);
                usage.sent.push(Sent {
                    path: dependent.path.clone(),
                    form: format!("region {start}-{end}"),
                    tokens,
                });
            }
            shown.insert(dependent.path.clone());
        }
        if !users.is_empty() {
            let _ = write!(
                text,
                "Code elsewhere that uses what this step changes (keep it working):\n{users}\n"
            );
        }
    }
    // What retrieval selects for the step's own title, in what is left.
    if let Some(retrieval) = sources.retrieval.as_deref_mut()
        && left >= MIN_CODE_TOKENS
    {
        let budget = Budget {
            tokens: left,
            max_files: MAX_RETRIEVED_FILES + shown.len(),
        };
        if let Ok(answer) = retrieval.answer(
            &step.title,
            sources.weights,
            sources.counter,
            &budget,
            sources.secrets,
        ) {
            let mut related = String::new();
            for file in answer
                .packed
                .files
                .iter()
                .filter(|f| !shown.contains(&f.path))
                .take(MAX_RETRIEVED_FILES)
            {
                if file.tokens > left {
                    break;
                }
                left -= file.tokens;
                related.push_str(&file.section);
                related.push('\n');
                usage.sent.push(Sent {
                    path: file.path.clone(),
                    form: file.inclusion.name().to_string(),
                    tokens: file.tokens,
                });
            }
            for passed in answer.packed.passed.iter().take(MAX_RETRIEVED_FILES) {
                if !shown.contains(&passed.path) {
                    usage.left_out.push(LeftOut {
                        path: passed.path.clone(),
                        reason: passed.reason.clone(),
                    });
                }
            }
            if !related.is_empty() {
                let _ = write!(
                    text,
                    "Other code sextant selected for this step (for reference):\n\n{related}"
                );
            }
        }
    }
    (text, usage)
}

/// The definitions of a file too large to show whole that the step's title names (`add
/// retries to fetch_page` names `fetch_page`), each as its lines (at most
/// [`MAX_REGION_LINES`] × 2), within `budget` tokens.
fn named_regions(
    graph: &sextant_index::graph::CodeGraph,
    file: &str,
    content: &str,
    title: &str,
    budget: usize,
    counter: &TokenCounter,
) -> String {
    let words: BTreeSet<String> = title
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| w.len() >= 2)
        .map(str::to_lowercase)
        .collect();
    let lines: Vec<&str> = sextant_index::text::lines(content).collect();
    let mut out = String::new();
    let mut used = 0;
    for (name, span) in super::graph_context::definitions(graph, file) {
        if !words.contains(&name.to_lowercase()) || span.start as usize > lines.len() {
            continue;
        }
        let end = (span.end as usize)
            .min(lines.len())
            .min(span.start as usize + 2 * MAX_REGION_LINES as usize - 1);
        let body: String = lines[span.start as usize - 1..end]
            .iter()
            .map(|line| format!("{line}\n"))
            .collect();
        let section = format!(
            "{file} lines {}-{end} ({name}):\n```\n{body}```\n",
            span.start
        );
        let tokens = counter.count(&section);
        if used + tokens > budget {
            continue;
        }
        used += tokens;
        out.push_str(&section);
    }
    out
}

/// A file as a step may see it.
enum Readable {
    Text(String),
    Missing,
    Withheld(&'static str),
}

/// Reads `file` unless git ignores it (through symlinks too) or it holds or is a secret.
fn readable(sources: &StepSources, file: &str) -> Readable {
    if ignored(sources.work, file) {
        return Readable::Withheld("git ignores it");
    }
    match sources.secrets.read_if_clean(sources.work, file) {
        Ok(Ok(text)) => Readable::Text(text),
        Ok(Err(_)) => Readable::Withheld("it holds or is a secret"),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Readable::Missing,
        Err(_) => Readable::Withheld("it is not readable text"),
    }
}

/// Whether `file` may be shown at all (its signature lines too).
fn readable_quietly(sources: &StepSources, file: &str) -> bool {
    matches!(readable(sources, file), Readable::Text(_))
}

/// Whether git ignores `file` or, through symlinks (a tracked link, a linked directory), the
/// file it resolves to.
pub fn ignored(dir: &Path, file: &str) -> bool {
    if crate::git::is_ignored(dir, file) {
        return true;
    }
    let (Ok(root), Ok(target)) = (dir.canonicalize(), dir.join(file).canonicalize()) else {
        return false;
    };
    target
        .strip_prefix(&root)
        .is_ok_and(|inside| crate::git::is_ignored(dir, &inside.to_string_lossy()))
}
