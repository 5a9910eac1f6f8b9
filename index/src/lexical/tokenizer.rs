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
/// Allocates nothing per term (indexing calls it for every line of every file).
pub fn code_terms(text: &str, mut emit: impl FnMut(usize, usize, &str)) {
    let mut words = Vec::new();
    let mut term = String::new();
    let mut run_start = None;
    for (index, character) in text
        .char_indices()
        .chain(std::iter::once((text.len(), ' ')))
    {
        let in_word = character.is_alphanumeric() || character == '_';
        match (in_word, run_start) {
            (true, None) => run_start = Some(index),
            (false, Some(start)) => {
                identifier_terms(&text[start..index], start, &mut words, &mut term, &mut emit);
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
        if !terms.contains(term) {
            terms.insert(term.to_string());
        }
    });
    terms
}

fn identifier_terms(
    run: &str,
    offset: usize,
    words: &mut Vec<(usize, usize)>,
    term: &mut String,
    emit: &mut impl FnMut(usize, usize, &str),
) {
    split_words(run, words);
    let trimmed = run.trim_matches('_');
    if words.len() > 1 && trimmed.len() <= MAX_WHOLE_TOKEN_BYTES {
        // The whole identifier is its words joined without separators, so `bucket_for`,
        // `bucketFor` and `BUCKET_FOR` all index (and query) as `bucketfor`.
        let start = offset + (run.len() - run.trim_start_matches('_').len());
        term.clear();
        for &(from, to) in words.iter() {
            push_lowercase(term, &run[from..to]);
        }
        emit(start, start + trimmed.len(), term);
    }
    for &(from, to) in words.iter() {
        term.clear();
        push_lowercase(term, &run[from..to]);
        emit(offset + from, offset + to, term);
    }
}

/// Appends `word` lowercased (as `str::to_lowercase` does; without allocating for ASCII).
fn push_lowercase(out: &mut String, word: &str) {
    if word.is_ascii() {
        let at = out.len();
        out.push_str(word);
        out[at..].make_ascii_lowercase();
    } else {
        out.push_str(&word.to_lowercase());
    }
}

/// Byte ranges of the words of one identifier, into `words`: split at `_`, at lower→upper
/// (`fooBar`), at the last capital of an acronym (`HTTPServer` → `HTTP`, `Server`) and between
/// letters and digits.
fn split_words(run: &str, words: &mut Vec<(usize, usize)>) {
    words.clear();
    let mut word_start: Option<usize> = None;
    let mut previous = ' ';
    let mut characters = run.char_indices().peekable();
    while let Some((index, character)) = characters.next() {
        if character == '_' {
            if let Some(start) = word_start.take() {
                words.push((start, index));
            }
            previous = character;
            continue;
        }
        if let Some(start) = word_start {
            let next = characters.peek().map(|&(_, c)| c);
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
        previous = character;
    }
    if let Some(start) = word_start {
        words.push((start, run.len()));
    }
}

/// Tokens of one text, split eagerly into one buffer (tantivy consumes the whole stream
/// anyway); each is copied into the one token the stream hands out, so a text costs a few
/// allocations, not one per term.
pub struct CodeTokenStream {
    /// The terms' texts, one after another.
    terms: String,
    /// Per term: source offsets and its range in `terms`.
    spans: Vec<(usize, usize, usize, usize)>,
    next: usize,
    token: Token,
}

impl Tokenizer for CodeTokenizer {
    type TokenStream<'a> = CodeTokenStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> CodeTokenStream {
        let mut terms = String::with_capacity(text.len());
        let mut spans = Vec::with_capacity(text.len() / 4);
        code_terms(text, |offset_from, offset_to, term| {
            let at = terms.len();
            terms.push_str(term);
            spans.push((offset_from, offset_to, at, terms.len()));
        });
        CodeTokenStream {
            terms,
            spans,
            next: 0,
            token: Token::default(),
        }
    }
}

impl TokenStream for CodeTokenStream {
    fn advance(&mut self) -> bool {
        let Some(&(offset_from, offset_to, from, to)) = self.spans.get(self.next) else {
            return false;
        };
        self.token.offset_from = offset_from;
        self.token.offset_to = offset_to;
        self.token.position = self.next;
        self.token.position_length = 1;
        self.token.text.clear();
        self.token.text.push_str(&self.terms[from..to]);
        self.next += 1;
        true
    }

    fn token(&self) -> &Token {
        &self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.token
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
    fn the_token_stream_hands_out_every_term_with_its_offsets_and_position() {
        let text = "fn verifyToken(HTTPServer2: &str) -> café_Über";
        let mut expected = Vec::new();
        code_terms(text, |from, to, term| {
            expected.push((from, to, expected.len(), term.to_string()))
        });
        let mut tokenizer = CodeTokenizer;
        let mut stream = tokenizer.token_stream(text);
        let mut seen = Vec::new();
        while stream.advance() {
            let t = stream.token();
            seen.push((t.offset_from, t.offset_to, t.position, t.text.clone()));
        }
        assert_eq!(seen, expected);
        assert!(!stream.advance());
        assert!(seen.iter().any(|(_, _, _, t)| t == "über"));
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
