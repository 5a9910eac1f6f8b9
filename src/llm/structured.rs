//! Structured output: ask for JSON matching a schema, validate what comes back, give the model
//! one chance to repair it with the validation errors, then fail clearly.

use serde::de::DeserializeOwned;

use super::{ChatRequest, ChatResponse, Llm, LlmError, Message, OutputSchema};

/// Most validation errors quoted back to the model or to the user.
const MAX_REPORTED_ERRORS: usize = 5;

/// A parsed, schema-valid reply and the raw calls it took.
#[derive(Debug)]
pub struct Structured<T> {
    /// The value.
    pub value: T,
    /// Every call made: one, or two when a repair was needed.
    pub calls: Vec<ChatResponse>,
}

/// Checks a reply against a schema and deserialises it.
pub fn parse_reply<T: DeserializeOwned>(content: &str, schema: &OutputSchema) -> Result<T, String> {
    let json =
        extract_json(content).ok_or_else(|| "the reply contains no JSON value".to_string())?;
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format!("the reply is not valid JSON: {e}"))?;
    let validator = jsonschema::validator_for(&schema.schema)
        .map_err(|e| format!("the schema itself is invalid: {e}"))?;
    let errors: Vec<String> = validator
        .iter_errors(&value)
        .take(MAX_REPORTED_ERRORS)
        .map(|e| {
            let at = e.instance_path.to_string();
            if at.is_empty() {
                e.to_string()
            } else {
                format!("at {at}: {e}")
            }
        })
        .collect();
    if !errors.is_empty() {
        return Err(errors.join("; "));
    }
    serde_json::from_value(value)
        .map_err(|e| format!("the reply does not fit the expected shape: {e}"))
}

/// The JSON in a reply: the whole text, or the inside of a ``` fence, or the span from the
/// first `{`/`[` to the last `}`/`]` (small models wrap JSON in prose despite instructions).
fn extract_json(content: &str) -> Option<&str> {
    let trimmed = content.trim();
    if let Some(fenced) = trimmed.strip_prefix("```") {
        let body = fenced.split_once('\n').map_or(fenced, |(_, rest)| rest);
        if let Some(end) = body.rfind("```") {
            return Some(body[..end].trim());
        }
    }
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        return Some(trimmed);
    }
    let start = trimmed.find(['{', '['])?;
    let end = trimmed.rfind(['}', ']'])?;
    (end > start).then(|| &trimmed[start..=end])
}

/// Asks for a reply matching `schema`, validates it, and repairs it once if needed.
pub fn chat_structured<T: DeserializeOwned>(
    llm: &Llm,
    request: &ChatRequest,
    schema: &OutputSchema,
    on_token: &(dyn Fn(&str) + Sync),
) -> Result<Structured<T>, LlmError> {
    let mut request = ChatRequest {
        schema: Some(schema.clone()),
        ..request.clone()
    };
    let first = llm.chat(&request, on_token)?;
    let error = match parse_reply(&first.content, schema) {
        Ok(value) => {
            return Ok(Structured {
                value,
                calls: vec![first],
            });
        }
        Err(error) => error,
    };
    request
        .messages
        .push(Message::assistant(first.content.clone()));
    request.messages.push(Message::user(format!(
        "That reply is not valid: {error}. Reply again with only a JSON value that matches the schema."
    )));
    let second = llm.chat(&request, on_token)?;
    match parse_reply(&second.content, schema) {
        Ok(value) => Ok(Structured {
            value,
            calls: vec![first, second],
        }),
        Err(errors) => Err(LlmError::SchemaInvalid {
            schema: schema.name.clone(),
            errors,
        }),
    }
}

/// Asks for a schema-valid reply that also passes `accept` (rules no schema can say: vague
/// questions, an invalid plan); a rejected reply goes back to the model with the reason, up to
/// `attempts` times. Returns the accepted value, or the last reason.
pub fn chat_until_accepted<T: DeserializeOwned, R>(
    llm: &Llm,
    mut messages: Vec<Message>,
    schema: &OutputSchema,
    stage: &str,
    attempts: usize,
    mut accept: impl FnMut(T) -> Result<R, String>,
) -> anyhow::Result<R> {
    let mut last = String::new();
    for _ in 0..attempts {
        let request = ChatRequest {
            messages: messages.clone(),
            stage: Some(stage.to_string()),
            ..ChatRequest::default()
        };
        let reply = chat_structured::<T>(llm, &request, schema, &|_| {})?;
        let content = reply
            .calls
            .last()
            .map(|c| c.content.clone())
            .unwrap_or_default();
        match accept(reply.value) {
            Ok(accepted) => return Ok(accepted),
            Err(reason) => {
                messages.push(Message::assistant(content));
                messages.push(Message::user(reason.clone()));
                last = reason;
            }
        }
    }
    anyhow::bail!("no acceptable {stage} reply after {attempts} attempts; last problem: {last}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> OutputSchema {
        OutputSchema {
            name: "answer".into(),
            schema: json!({
                "type": "object",
                "properties": { "steps": { "type": "array", "items": { "type": "string" }, "minItems": 2 } },
                "required": ["steps"],
            }),
        }
    }

    #[derive(serde::Deserialize, Debug, PartialEq, Clone)]
    struct Answer {
        steps: Vec<String>,
    }

    #[test]
    fn valid_json_in_any_wrapping_parses() {
        let expected = Answer {
            steps: vec!["a".into(), "b".into()],
        };
        for reply in [
            r#"{"steps": ["a", "b"]}"#,
            "```json\n{\"steps\": [\"a\", \"b\"]}\n```",
            "Here you go: {\"steps\": [\"a\", \"b\"]} Hope it helps.",
        ] {
            assert_eq!(
                parse_reply::<Answer>(reply, &schema()),
                Ok(expected.clone()),
                "{reply}"
            );
        }
    }

    #[test]
    fn schema_violations_are_explained() {
        let error =
            parse_reply::<Answer>(r#"{"steps": ["only one"]}"#, &schema()).expect_err("too few");
        assert!(error.contains("/steps"), "{error}");
        let error = parse_reply::<Answer>("no json here", &schema()).expect_err("no json");
        assert_eq!(error, "the reply contains no JSON value");
        let error = parse_reply::<Answer>("{\"steps\": [", &schema()).expect_err("broken");
        assert!(error.starts_with("the reply is not valid JSON"), "{error}");
    }
}
