//! Clarifying questions: 2–4, each naming a concrete decision and its options. Vague ones
//! ("what are your requirements?") are rejected in code and the model is asked again.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::llm::structured::chat_until_accepted;
use crate::llm::{Llm, Message, OutputSchema};

/// Attempts at a set of specific questions before the run fails.
pub const MAX_ATTEMPTS: usize = 3;

/// One question.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Question {
    /// The question itself.
    pub question: String,
    /// The decision it settles ("cache store", "error format").
    pub decision: String,
    /// The options to choose from (at least two).
    pub options: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Reply {
    questions: Vec<Question>,
    #[serde(default)]
    analysis: ModelAnalysis,
}

/// What the model adds to the analysis where manifests said nothing: the framework, database
/// and authentication approach it reads from the relevant files. Empty when it has nothing to
/// add (the field is optional in the schema).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelAnalysis {
    /// Web or application framework.
    #[serde(default)]
    pub framework: String,
    /// Database or storage.
    #[serde(default)]
    pub database: String,
    /// Authentication approach.
    #[serde(default)]
    pub auth: String,
}

/// The ask stage's outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Asked {
    /// 2–4 specific questions.
    pub questions: Vec<Question>,
    /// The model's additions to the analysis.
    pub analysis: ModelAnalysis,
}

/// The schema a reply must follow.
pub fn schema() -> OutputSchema {
    OutputSchema {
        name: "questions".into(),
        schema: json!({
            "type": "object",
            "properties": {
                "questions": {
                    "type": "array",
                    "minItems": 2,
                    "maxItems": 4,
                    "items": {
                        "type": "object",
                        "properties": {
                            "question": { "type": "string", "minLength": 10, "maxLength": 200 },
                            "decision": { "type": "string", "minLength": 3, "maxLength": 60 },
                            "options": {
                                "type": "array",
                                "minItems": 2,
                                "maxItems": 4,
                                "items": { "type": "string", "minLength": 1, "maxLength": 80 }
                            }
                        },
                        "required": ["question", "decision", "options"],
                        "additionalProperties": false
                    }
                },
                "analysis": {
                    "type": "object",
                    "properties": {
                        "framework": { "type": "string", "maxLength": 80 },
                        "database": { "type": "string", "maxLength": 80 },
                        "auth": { "type": "string", "maxLength": 80 }
                    },
                    "additionalProperties": false
                }
            },
            "required": ["questions"],
            "additionalProperties": false
        }),
    }
}

/// Phrases of questions that settle nothing.
const VAGUE: &[&str] = &[
    "what are your requirements",
    "what do you want",
    "anything else",
    "any other",
    "more details",
    "more information",
    "can you clarify",
    "could you clarify",
    "could you elaborate",
    "can you elaborate",
    "any preferences",
    "any constraints",
    "what should i do",
];

/// Why a question is too vague to ask, if it is.
pub fn vagueness(question: &Question) -> Option<String> {
    let text = question.question.to_lowercase();
    if let Some(phrase) = VAGUE.iter().find(|p| text.contains(*p)) {
        return Some(format!(
            "{:?} asks {phrase:?} instead of naming a decision",
            question.question
        ));
    }
    if question.decision.trim().is_empty() {
        return Some(format!("{:?} names no decision", question.question));
    }
    let options: Vec<&String> = question
        .options
        .iter()
        .filter(|o| !o.trim().is_empty())
        .collect();
    if options.len() < 2 {
        return Some(format!(
            "{:?} offers fewer than two options",
            question.question
        ));
    }
    let distinct: std::collections::HashSet<String> =
        options.iter().map(|o| normalised(o)).collect();
    if distinct.len() < options.len() {
        return Some(format!(
            "{:?} offers the same option twice",
            question.question
        ));
    }
    if question.question.split_whitespace().count() < 4 {
        return Some(format!(
            "{:?} is too short to be specific",
            question.question
        ));
    }
    None
}

/// Lower-case words only: what two texts must not share to count as different.
fn normalised(text: &str) -> String {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Questions that repeat an earlier one (same wording or same decision): each question must
/// settle a different decision, or the user answers the same thing twice.
pub fn repeats(questions: &[Question]) -> Vec<String> {
    let mut seen_questions = std::collections::HashSet::new();
    let mut seen_decisions = std::collections::HashSet::new();
    let mut problems = Vec::new();
    for (index, question) in questions.iter().enumerate() {
        let same_text = !seen_questions.insert(normalised(&question.question));
        let same_decision = !seen_decisions.insert(normalised(&question.decision));
        if same_text || same_decision {
            problems.push(format!(
                "question {} repeats an earlier {} ({:?})",
                index + 1,
                if same_text { "question" } else { "decision" },
                if same_text {
                    &question.question
                } else {
                    &question.decision
                }
            ));
        }
    }
    problems
}

/// The conversation that asks for questions: the rules and an example in the system message,
/// then the task and what is known about the repository.
pub fn messages(task: &str, context: &str) -> Vec<Message> {
    vec![
        Message::system(
            "You are a senior engineer preparing to change a repository. Before planning, ask 2 to 4 \
             clarifying questions. Each question must name one concrete decision the task leaves \
             open and offer 2 to 4 specific options. Never ask vague questions such as \"what are \
             your requirements?\". Reply with JSON only, shaped like this example for the task \
             \"rate-limit the login endpoint\": {\"questions\": [{\"question\": \"Where should the \
             per-user attempt counters be kept?\", \"decision\": \"counter store\", \"options\": \
             [\"in-process memory\", \"Redis\"]}, {\"question\": \"What should a client over the \
             limit receive?\", \"decision\": \"limit response\", \"options\": [\"HTTP 429 with \
             Retry-After\", \"a silent delay\"]}]}. Where the analysis below lists no framework, \
             database or auth approach and the relevant files show one, add it under \
             \"analysis\" (keys framework, database, auth); leave out what you cannot tell.",
        ),
        Message::user(format!(
            "Task: {task}\n\nWhat we know about the repository:\n{context}"
        )),
    ]
}

/// Asks the model for 2–4 specific questions about `task` given `context`; vague sets are
/// sent back with the reasons, up to [`MAX_ATTEMPTS`] times.
pub fn ask(llm: &Llm, task: &str, context: &str) -> anyhow::Result<Asked> {
    let messages = messages(task, context);
    chat_until_accepted(
        llm,
        messages,
        &schema(),
        "ask",
        MAX_ATTEMPTS,
        |reply: Reply| {
            let questions = reply.questions;
            let mut problems: Vec<String> = questions.iter().filter_map(vagueness).collect();
            problems.extend(repeats(&questions));
            if !(2..=4).contains(&questions.len()) {
                problems.push(format!("{} questions; ask 2 to 4", questions.len()));
            }
            if problems.is_empty() {
                Ok(Asked {
                    questions,
                    analysis: reply.analysis,
                })
            } else {
                Err(format!(
                    "Those questions are rejected: {}. Ask again: each question names a decision and its options.",
                    problems.join("; ")
                ))
            }
        },
    )
}

/// Answers read from a file: a JSON array of strings, or one answer per non-empty line.
pub fn answers_from(text: &str, questions: usize) -> anyhow::Result<Vec<String>> {
    let answers: Vec<String> = match serde_json::from_str::<Vec<String>>(text) {
        Ok(list) => list,
        Err(_) => text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect(),
    };
    if answers.len() != questions {
        anyhow::bail!("{} answers for {questions} questions", answers.len());
    }
    Ok(answers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn question(text: &str, options: &[&str]) -> Question {
        Question {
            question: text.into(),
            decision: "cache store".into(),
            options: options.iter().map(|o| o.to_string()).collect(),
        }
    }

    #[test]
    fn repeated_questions_and_options_are_caught() {
        let cache = question("Where should cached orders live?", &["Redis", "memory"]);
        let mut same_decision = question("How long should cached orders live?", &["1 min", "1 h"]);
        assert!(repeats(&[cache.clone(), same_decision.clone()])[0].contains("decision"));
        same_decision.decision = "cache lifetime".into();
        assert!(repeats(&[cache.clone(), same_decision]).is_empty());
        assert!(repeats(&[cache.clone(), cache])[0].contains("repeats an earlier question"));
        let twice = question("Where should cached orders live?", &["Redis", " redis"]);
        assert!(vagueness(&twice).is_some_and(|why| why.contains("same option twice")));
    }

    #[test]
    fn vague_questions_are_caught() {
        assert!(
            vagueness(&question(
                "What are your requirements for this?",
                &["a", "b"]
            ))
            .is_some()
        );
        assert!(vagueness(&question("Where should cached orders live?", &["Redis"])).is_some());
        assert!(vagueness(&question("Cache?", &["Redis", "memory"])).is_some());
        assert!(
            vagueness(&question(
                "Where should cached orders live?",
                &["Redis", "in-process LRU"]
            ))
            .is_none()
        );
    }

    #[test]
    fn answers_come_as_json_or_lines() {
        assert_eq!(
            answers_from("[\"Redis\", \"5 minutes\"]", 2).expect("json"),
            ["Redis", "5 minutes"]
        );
        assert_eq!(
            answers_from("Redis\n\n5 minutes\n", 2).expect("lines"),
            ["Redis", "5 minutes"]
        );
        assert!(answers_from("Redis\n", 2).is_err());
    }
}
