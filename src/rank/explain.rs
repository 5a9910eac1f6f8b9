//! Explanation trees: why a file got its score, in the spirit of tantivy's `Explanation`.
//!
//! A node has a value, a sentence saying what the value is, and the nodes it was computed from.
//! The root of a file's tree is its fused score; its children are the signals that fired, each
//! with its weight and evidence (matched terms on lines, defined symbols, a graph path).

use std::fmt::Write;

use serde::Serialize;

/// One node of an explanation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Explanation {
    /// The value this node explains (a score, a weight, a count; 0 for pure evidence).
    pub value: f64,
    /// What the value is, or what was found.
    pub description: String,
    /// What it was computed from.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<Explanation>,
}

impl Explanation {
    /// A node with no details yet.
    pub fn new(value: f64, description: impl Into<String>) -> Explanation {
        Explanation {
            value,
            description: description.into(),
            details: Vec::new(),
        }
    }

    /// A piece of evidence: a node whose value does not matter.
    pub fn evidence(description: impl Into<String>) -> Explanation {
        Explanation::new(0.0, description)
    }

    /// Adds a detail.
    pub fn with(mut self, detail: Explanation) -> Explanation {
        self.details.push(detail);
        self
    }

    /// Adds a detail in place.
    pub fn push(&mut self, detail: Explanation) {
        self.details.push(detail);
    }

    /// The tree as indented lines: values where they mean something, evidence as bullets.
    pub fn render(&self, indent: usize) -> String {
        let mut out = String::new();
        self.render_into(&mut out, indent);
        out
    }

    fn render_into(&self, out: &mut String, indent: usize) {
        let pad = " ".repeat(indent);
        if self.value == 0.0 && self.details.is_empty() {
            let _ = writeln!(out, "{pad}- {}", self.description);
        } else {
            let _ = writeln!(out, "{pad}{:.3}  {}", self.value, self.description);
        }
        for detail in &self.details {
            detail.render_into(out, indent + 2);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_values_and_evidence() {
        let tree = Explanation::new(1.5, "score").with(
            Explanation::new(1.0, "bm25 chunks")
                .with(Explanation::evidence("line 12: `verify_token`")),
        );
        assert_eq!(
            tree.render(0),
            "1.500  score\n  1.000  bm25 chunks\n    - line 12: `verify_token`\n"
        );
    }
}
