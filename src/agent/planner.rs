//! The plan stage: the model proposes steps as JSON; sextant renders them as TODO.md and
//! validates them with the same parser that re-reads a user-edited TODO.md, so a plan is
//! accepted by one set of rules whoever wrote it.

use serde::Deserialize;
use serde_json::json;

use super::plan::{MIN_STEPS, Plan, SPLIT_ABOVE, Step};
use super::questions::Question;
use crate::llm::structured::chat_until_accepted;
use crate::llm::{Llm, Message, OutputSchema};

/// Attempts at a valid plan before the run fails.
pub const MAX_ATTEMPTS: usize = 3;

#[derive(Debug, Deserialize)]
struct ReplyStep {
    title: String,
    #[serde(default)]
    files: Vec<String>,
    /// Files the step creates (older replies and servers without schemas leave it out).
    #[serde(default)]
    new_files: Vec<String>,
    tests: Vec<String>,
    validate: String,
    rollback: String,
}

/// The model's impact analysis: the three parts the schema asks for.
#[derive(Debug, Deserialize)]
struct ReplyImpact {
    affected: String,
    monitoring: String,
    rollback: String,
}

#[derive(Debug, Deserialize)]
struct Reply {
    steps: Vec<ReplyStep>,
    impact: ReplyImpact,
}

/// Dependent files listed under the graph's affected parts at most.
const AFFECTED_FILES: usize = 12;

/// What the plan is checked against: the repository's files, and its knowledge graph (when
/// the index has one) for the affected parts.
pub struct Repository<'a> {
    /// The repository root.
    pub root: &'a std::path::Path,
    /// The knowledge graph.
    pub graph: Option<&'a sextant_index::graph::CodeGraph>,
}

/// The impact analysis as TODO.md shows it: the parts the knowledge graph says depend on
/// what the plan changes, then the model's words (affected parts, monitoring, rollback).
fn impact_text(model: &ReplyImpact, plan: &Plan, repository: &Repository) -> String {
    let mut text = String::from(
        "Affected parts, from the knowledge graph (code outside the plan's files that calls, references, implements or imports what they define):\n",
    );
    match repository.graph {
        None => text
            .push_str("- unknown: the index has no knowledge graph (`sextant index` builds it)\n"),
        Some(graph) => {
            let dependents = super::graph_context::dependents(graph, &plan.existing_files());
            if dependents.is_empty() {
                text.push_str("- none found\n");
            }
            for line in super::graph_context::affected_lines(&dependents, AFFECTED_FILES) {
                text.push_str(&line);
                text.push('\n');
            }
        }
    }
    text.push_str(&format!(
        "\nAffected parts, in the model's words: {}\n\nMonitoring: {}\n\nRollback: {}",
        model.affected.trim(),
        model.monitoring.trim(),
        model.rollback.trim()
    ));
    text
}

/// The schema a plan reply must follow. Every string and list is bounded and no extra keys
/// are allowed, so a server that compiles the schema into a grammar (llama.cpp) must close the
/// JSON within a known length: a small model cannot ramble forever. The upper step count is
/// checked in code (a plan of more than 15 steps must be refused with a reason, not silently
/// cut by the schema, so the schema lets one step more through).
pub fn schema() -> OutputSchema {
    OutputSchema {
        name: "plan".into(),
        schema: json!({
            "type": "object",
            "properties": {
                "steps": {
                    "type": "array",
                    "minItems": MIN_STEPS,
                    "maxItems": SPLIT_ABOVE + 1,
                    "items": {
                        "type": "object",
                        "properties": {
                            "title": { "type": "string", "minLength": 3, "maxLength": 80 },
                            "files": { "type": "array", "maxItems": 4, "items": { "type": "string", "minLength": 1, "maxLength": 80 } },
                            "new_files": { "type": "array", "maxItems": 4, "items": { "type": "string", "minLength": 1, "maxLength": 80 } },
                            "tests": { "type": "array", "maxItems": 3, "items": { "type": "string", "minLength": 1, "maxLength": 80 } },
                            "validate": { "type": "string", "maxLength": 80 },
                            "rollback": { "type": "string", "minLength": 3, "maxLength": 80 }
                        },
                        "required": ["title", "files", "new_files", "tests", "validate", "rollback"],
                        "additionalProperties": false
                    }
                },
                "impact": {
                    "type": "object",
                    "properties": {
                        "affected": { "type": "string", "minLength": 3, "maxLength": 300 },
                        "monitoring": { "type": "string", "minLength": 3, "maxLength": 300 },
                        "rollback": { "type": "string", "minLength": 3, "maxLength": 300 }
                    },
                    "required": ["affected", "monitoring", "rollback"],
                    "additionalProperties": false
                }
            },
            "required": ["steps", "impact"],
            "additionalProperties": false
        }),
    }
}

/// What the plan stage produced.
#[derive(Debug)]
pub enum Planned {
    /// A valid plan.
    Plan(Plan),
    /// The task is too big: the model needed more than [`SPLIT_ABOVE`] steps.
    TooBig {
        /// How many steps it proposed.
        steps: usize,
    },
}

/// The conversation that asks for a plan: the rules in the system message, then the task, what
/// is known about the repository and the decisions the user made.
pub fn messages(
    task: &str,
    context: &str,
    questions: &[Question],
    answers: &[String],
    test_command: &str,
) -> Vec<Message> {
    let decisions: String = questions
        .iter()
        .zip(answers)
        .map(|(q, a)| format!("- {} ({}): {a}\n", q.question, q.decision))
        .collect();
    vec![
        Message::system(format!(
            "You are a senior engineer planning a change. Write a plan of 5 to 12 small steps. \
             Each step lists the existing files it changes (`files`: only files that exist in the \
             repository), the files it creates (`new_files`), the tests to add, the command that \
             validates it (default: `{test_command}`) and how to roll it back. End with an impact \
             analysis: what may be affected, what to monitor during deployment, and what rollback \
             looks like. Reply with JSON only."
        )),
        Message::user(format!(
            "Task: {task}\n\nRepository:\n{context}\n\nDecisions:\n{decisions}"
        )),
    ]
}

/// Asks for a plan of 5–12 steps; invalid plans go back with every problem named.
pub fn plan(
    llm: &Llm,
    repository: &Repository,
    task: &str,
    context: &str,
    questions: &[Question],
    answers: &[String],
    test_command: &str,
) -> anyhow::Result<Planned> {
    let messages = messages(task, context, questions, answers, test_command);
    chat_until_accepted(
        llm,
        messages,
        &schema(),
        "plan",
        MAX_ATTEMPTS,
        |proposed: Reply| {
            if proposed.steps.len() > SPLIT_ABOVE {
                return Ok(Planned::TooBig {
                    steps: proposed.steps.len(),
                });
            }
            let candidate = Plan {
                task: task.to_string(),
                steps: proposed
                    .steps
                    .into_iter()
                    .map(|s| Step {
                        title: one_line(&s.title),
                        files: distinct(s.files.iter().chain(&s.new_files).map(|f| one_line(f))),
                        created: distinct(s.new_files.iter().map(|f| one_line(f))),
                        tests: s.tests.iter().map(|t| one_line(t)).collect(),
                        validate: if s.validate.trim().is_empty() {
                            test_command.to_string()
                        } else {
                            one_line(&s.validate)
                        },
                        rollback: one_line(&s.rollback),
                        done: false,
                    })
                    .collect(),
                impact: String::new(),
            };
            let missing = candidate.missing_files(repository.root);
            if !missing.is_empty() {
                return Err(format!(
                    "the plan names files that do not exist:\n{}\nFix every problem and reply with the whole plan again.",
                    missing
                        .iter()
                        .map(|m| format!("  - {m}"))
                        .collect::<Vec<_>>()
                        .join("\n")
                ));
            }
            let candidate = Plan {
                impact: impact_text(&proposed.impact, &candidate, repository)
                    .trim()
                    .to_string(),
                ..candidate
            };
            let parsed = Plan::parse(&candidate.render()).map_err(|invalid| {
                format!("{invalid}\nFix every problem and reply with the whole plan again.")
            })?;
            // TODO.md must read back as exactly this plan: a field that TODO.md cannot hold as
            // given (a comma inside a path, backticks around a command) is sent back rather
            // than written as something else.
            match first_difference(&candidate, &parsed) {
                None => Ok(Planned::Plan(parsed)),
                Some(difference) => Err(format!(
                    "{difference} cannot be written in TODO.md as given (commas separate paths; a command is not wrapped in backticks). Reply with the whole plan again."
                )),
            }
        },
    )
}

/// Where a plan read back from its TODO.md differs from the plan that was written.
fn first_difference(written: &Plan, read: &Plan) -> Option<String> {
    if written.steps.len() != read.steps.len() {
        return Some(format!(
            "the plan has {} steps but reads back as {}",
            written.steps.len(),
            read.steps.len()
        ));
    }
    for (n, (a, b)) in written.steps.iter().zip(&read.steps).enumerate() {
        let n = n + 1;
        let field = if a.title != b.title {
            "title"
        } else if a.files != b.files || a.created != b.created {
            "files"
        } else if a.tests != b.tests {
            "tests"
        } else if a.validate != b.validate {
            "validate"
        } else if a.rollback != b.rollback {
            "rollback"
        } else {
            continue;
        };
        return Some(format!("step {n}'s {field}"));
    }
    (written != read).then(|| "the impact analysis".to_string())
}

/// A model's field as one line: TODO.md is line-oriented, so a newline inside a title or a
/// path would start a new (bogus) line when the plan is rendered.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The items in their first-seen order, each once.
fn distinct(items: impl Iterator<Item = String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    items.filter(|item| seen.insert(item.clone())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_kept_on_one_line() {
        assert_eq!(
            one_line("  add\n### 9. [ ] injected\tstep "),
            "add ### 9. [ ] injected step"
        );
    }

    #[test]
    fn the_schema_bounds_every_string_and_list() {
        fn check(value: &serde_json::Value, at: &str) {
            match value["type"].as_str() {
                Some("string") => assert!(value["maxLength"].is_u64(), "{at} unbounded"),
                Some("array") => {
                    assert!(value["maxItems"].is_u64(), "{at} unbounded");
                    check(&value["items"], &format!("{at}[]"));
                }
                Some("object") => {
                    assert_eq!(value["additionalProperties"], false, "{at} open");
                    for (key, field) in value["properties"].as_object().into_iter().flatten() {
                        check(field, &format!("{at}.{key}"));
                    }
                }
                other => panic!("{at}: unexpected type {other:?}"),
            }
        }
        check(&schema().schema, "plan");
        check(&crate::agent::questions::schema().schema, "questions");
    }
}
