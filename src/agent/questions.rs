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
                            "question": { "type": "string", "maxLength": 200 },
                            "decision": { "type": "string", "maxLength": 60 },
                            "options": {
                                "type": "array",
                                "minItems": 2,
                                "maxItems": 4,
                                "items": { "type": "string", "maxLength": 80 }
                            }
                        },
                        "required": ["question", "decision", "options"]
                    }
                }
            },
            "required": ["questions"]
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
    if question.question.split_whitespace().count() < 4 {
        return Some(format!(
            "{:?} is too short to be specific",
            question.question
        ));
    }
    None
}

/// Asks the model for 2–4 specific questions about `task` given `context`; vague sets are
/// sent back with the reasons, up to [`MAX_ATTEMPTS`] times.
pub fn ask(llm: &Llm, task: &str, context: &str) -> anyhow::Result<Vec<Question>> {
    let messages = vec![
        Message::system(
            "You are a senior engineer preparing to change a repository. Before planning, ask 2 to 4 \
             clarifying questions. Each question must name one concrete decision the task leaves \
             open and offer 2 to 4 specific options. Never ask vague questions such as \"what are \
             your requirements?\". Reply with JSON only.",
        ),
        Message::user(format!(
            "Task: {task}\n\nWhat we know about the repository:\n{context}"
        )),
    ];
    chat_until_accepted(
        llm,
        messages,
        &schema(),
        "ask",
        MAX_ATTEMPTS,
        |reply: Reply| {
            let questions = reply.questions;
            let mut problems: Vec<String> = questions.iter().filter_map(vagueness).collect();
            if !(2..=4).contains(&questions.len()) {
                problems.push(format!("{} questions; ask 2 to 4", questions.len()));
            }
            if problems.is_empty() {
                Ok(questions)
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
