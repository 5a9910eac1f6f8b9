//! The plan stage: the model proposes steps as JSON; sextant renders them as TODO.md and
//! validates them with the same parser that re-reads a user-edited TODO.md, so a plan is
//! accepted by one set of rules whoever wrote it.

use serde::Deserialize;
use serde_json::json;

use super::plan::{Plan, SPLIT_ABOVE, Step};
use super::questions::Question;
use crate::llm::structured::chat_until_accepted;
use crate::llm::{Llm, Message, OutputSchema};

/// Attempts at a valid plan before the run fails.
pub const MAX_ATTEMPTS: usize = 3;

#[derive(Debug, Deserialize)]
struct ReplyStep {
    title: String,
    files: Vec<String>,
    tests: Vec<String>,
    validate: String,
    rollback: String,
}

#[derive(Debug, Deserialize)]
struct Reply {
    steps: Vec<ReplyStep>,
    impact: String,
}

/// The schema a plan reply must follow. Step counts are checked in code (a plan of more than
/// 15 steps must be refused with a reason, not silently cut by the schema, so the schema lets
/// one step more through).
pub fn schema() -> OutputSchema {
    OutputSchema {
        name: "plan".into(),
        schema: json!({
            "type": "object",
            "properties": {
                "steps": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": SPLIT_ABOVE + 1,
                    "items": {
                        "type": "object",
                        "properties": {
                            "title": { "type": "string", "maxLength": 80 },
                            "files": { "type": "array", "minItems": 1, "maxItems": 4, "items": { "type": "string", "maxLength": 80 } },
                            "tests": { "type": "array", "maxItems": 3, "items": { "type": "string", "maxLength": 80 } },
                            "validate": { "type": "string", "maxLength": 80 },
                            "rollback": { "type": "string", "maxLength": 80 }
                        },
                        "required": ["title", "files", "tests", "validate", "rollback"]
                    }
                },
                "impact": { "type": "string", "maxLength": 600 }
            },
            "required": ["steps", "impact"]
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

/// Asks for a plan of 5–12 steps; invalid plans go back with every problem named.
pub fn plan(
    llm: &Llm,
    task: &str,
    context: &str,
    questions: &[Question],
    answers: &[String],
    test_command: &str,
) -> anyhow::Result<Planned> {
    let decisions: String = questions
        .iter()
        .zip(answers)
        .map(|(q, a)| format!("- {} ({}): {a}\n", q.question, q.decision))
        .collect();
    let messages = vec![
        Message::system(format!(
            "You are a senior engineer planning a change. Write a plan of 5 to 12 small steps. \
             Each step lists the files to change or create, the tests to add, the command that \
             validates it (default: `{test_command}`) and how to roll it back. End with an impact \
             analysis: what may be affected, what to watch, how to roll back. Reply with JSON only."
        )),
        Message::user(format!(
            "Task: {task}\n\nRepository:\n{context}\n\nDecisions:\n{decisions}"
        )),
    ];
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
                        title: s.title,
                        files: s.files,
                        tests: s.tests,
                        validate: if s.validate.trim().is_empty() {
                            test_command.to_string()
                        } else {
                            s.validate
                        },
                        rollback: s.rollback,
                        done: false,
                    })
                    .collect(),
                impact: proposed.impact,
            };
            Plan::parse(&candidate.render())
                .map(Planned::Plan)
                .map_err(|invalid| {
                    format!("{invalid}\nFix every problem and reply with the whole plan again.")
                })
        },
    )
}
