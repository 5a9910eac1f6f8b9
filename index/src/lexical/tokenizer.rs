//! A tokenizer for source code: identifiers are kept whole and also split into their words.
//!
//! `verifyToken`, `verify_token` and `VERIFY_TOKEN` all yield `verify` and `token`, plus the
//! whole identifier `verifytoken`, so a search for any spelling or for one word finds the others.
//! Paths split the same way (`src/auth/jwt.rs` → `src`, `auth`, `jwt`, `rs`).

use tantivy::tokenizer::{Token, TokenStream, Tokenizer};

/// Name under which the tokenizer is registered with tantivy.
pub const CODE_TOKENIZER: &str = "sextant_code";

/// Identifiers longer than this many bytes (base64 blobs, hashes) are not indexed whole; their
/// words still are.
const MAX_WHOLE_TOKEN_BYTES: usize = 64;

/// The code tokenizer, for tantivy.
#[derive(Clone, Debug, Default)]
pub struct CodeTokenizer;

/// Calls `emit(start, end, term)` for each term of `text`: every identifier run whole
/// (lowercased, if it has several words) and each of its words. Offsets are bytes in `text`.
pub fn code_terms(text: &str, mut emit: impl FnMut(usize, usize, &str)) {
    let mut run_start = None;
    for (index, character) in text
        .char_indices()
        .chain(std::iter::once((text.len(), ' ')))
    {
        let in_word = character.is_alphanumeric() || character == '_';
        match (in_word, run_start) {
            (true, None) => run_start = Some(index),
            (false, Some(start)) => {
                identifier_terms(&text[start..index], start, &mut emit);
                run_start = None;
            }
            _ => {}
        }
    }
}

/// The set of distinct terms of `text`, sorted: what a query or a line "contains".
pub fn term_set(text: &str) -> std::collections::BTreeSet<String> {
    let mut terms = std::collections::BTreeSet::new();
    code_terms(text, |_, _, term| {
        terms.insert(term.to_string());
    });
    terms
}

fn identifier_terms(run: &str, offset: usize, emit: &mut impl FnMut(usize, usize, &str)) {
    let words = split_words(run);
    let trimmed = run.trim_matches('_');
    if words.len() > 1 && trimmed.len() <= MAX_WHOLE_TOKEN_BYTES {
        // The whole identifier is its words joined without separators, so `bucket_for`,
        // `bucketFor` and `BUCKET_FOR` all index (and query) as `bucketfor`.
        let start = offset + (run.len() - run.trim_start_matches('_').len());
        let whole: String = words
            .iter()
            .map(|&(from, to)| run[from..to].to_lowercase())
            .collect();
        emit(start, start + trimmed.len(), &whole);
    }
    for (start, end) in words {
        emit(
            offset + start,
            offset + end,
            &run[start..end].to_lowercase(),
        );
    }
}

/// Byte ranges of the words of one identifier: split at `_`, at lower→upper (`fooBar`), at the
/// last capital of an acronym (`HTTPServer` → `HTTP`, `Server`) and between letters and digits.
fn split_words(run: &str) -> Vec<(usize, usize)> {
    let characters: Vec<(usize, char)> = run.char_indices().collect();
    let mut words = Vec::new();
    let mut word_start: Option<usize> = None;
    for (position, &(index, character)) in characters.iter().enumerate() {
        if character == '_' {
            if let Some(start) = word_start.take() {
                words.push((start, index));
            }
            continue;
        }
        if let Some(start) = word_start {
            let previous = characters[position - 1].1;
            let next = characters.get(position + 1).map(|&(_, c)| c);
            let boundary = (previous.is_lowercase() && character.is_uppercase())
                || (previous.is_uppercase()
                    && character.is_uppercase()
                    && next.is_some_and(char::is_lowercase))
                || (previous.is_alphabetic() && character.is_numeric())
                || (previous.is_numeric() && character.is_alphabetic());
            if boundary {
                words.push((start, index));
                word_start = Some(index);
            }
        } else {
            word_start = Some(index);
        }
    }
    if let Some(start) = word_start {
        words.push((start, run.len()));
    }
    words
}

/// Tokens of one text, produced eagerly: simpler than splitting lazily, and tantivy consumes
/// the whole stream anyway.
pub struct CodeTokenStream {
    tokens: Vec<Token>,
    next: usize,
}

impl Tokenizer for CodeTokenizer {
    type TokenStream<'a> = CodeTokenStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> CodeTokenStream {
        let mut tokens = Vec::new();
        code_terms(text, |offset_from, offset_to, term| {
            tokens.push(Token {
                offset_from,
                offset_to,
                position: tokens.len(),
                text: term.to_string(),
                position_length: 1,
            });
        });
        CodeTokenStream { tokens, next: 0 }
    }
}

impl TokenStream for CodeTokenStream {
    fn advance(&mut self) -> bool {
        self.next += 1;
        self.next <= self.tokens.len()
    }

    fn token(&self) -> &Token {
        &self.tokens[self.next - 1]
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.next - 1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        code_terms(text, |_, _, t| out.push(t.to_string()));
        out
    }

    #[test]
    fn identifiers_are_kept_whole_and_split() {
        assert_eq!(terms("verifyToken"), ["verifytoken", "verify", "token"]);
        assert_eq!(terms("verify_token"), ["verifytoken", "verify", "token"]);
        assert_eq!(terms("VERIFY_TOKEN"), ["verifytoken", "verify", "token"]);
        assert_eq!(terms("HTTPServer2"), ["httpserver2", "http", "server", "2"]);
        assert_eq!(terms("__init__"), ["init"]);
        assert_eq!(terms("x"), ["x"]);
    }

    #[test]
    fn paths_and_punctuation_separate_terms() {
        assert_eq!(terms("src/auth/jwt.rs"), ["src", "auth", "jwt", "rs"]);
        assert_eq!(terms("a.b(c, d)"), ["a", "b", "c", "d"]);
        assert_eq!(terms("café über"), ["café", "über"]);
    }

    #[test]
    fn offsets_point_at_the_source() {
        let text = "let rateLimit = 1;";
        let mut spans = Vec::new();
        code_terms(text, |from, to, term| {
            spans.push((term.to_string(), &text[from..to]))
        });
        assert!(spans.contains(&("ratelimit".to_string(), "rateLimit")));
        assert!(spans.contains(&("limit".to_string(), "Limit")));
    }

    #[test]
    fn long_blobs_are_not_indexed_whole() {
        let blob = "A".repeat(40) + "b" + &"C".repeat(40);
        assert!(terms(&blob).iter().all(|t| t.len() < 80));
    }

    proptest::proptest! {
        #[test]
        fn offsets_are_always_char_boundaries(text in "\\PC{0,64}") {
            code_terms(&text, |from, to, term| {
                assert!(text.is_char_boundary(from) && text.is_char_boundary(to));
                assert!(!term.is_empty());
            });
        }
    }
}
