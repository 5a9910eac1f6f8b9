//! Query understanding: what in a task's text names code, and what is filler.
//!
//! A task says "Fix the timeout in `JoinSet::spawn` when tokio/src/task/join_set.rs is empty".
//! The ranking wants the words that carry meaning (`timeout`, `empty`), the identifiers kept
//! whole (`JoinSet::spawn`, and its parts `JoinSet`, `spawn`, which may be defined somewhere),
//! paths and file names (`tokio/src/task/join_set.rs`), and quoted strings (an error message to
//! find verbatim). Words like "the", "when", "in" are filler for people reading the query, but
//! BM25 still gets them (see [`TaskQuery::search_text`]).

use serde::Serialize;

/// English function words and task filler that never pick out code.
const FILLER: &[&str] = &[
    "a", "about", "after", "all", "also", "an", "and", "any", "are", "as", "at", "be", "been",
    "before", "being", "but", "by", "can", "could", "do", "does", "for", "from", "has", "have",
    "how", "i", "if", "in", "into", "is", "it", "its", "make", "may", "me", "more", "must", "my",
    "need", "needs", "no", "not", "of", "on", "one", "only", "or", "our", "please", "same",
    "should", "so", "some", "such", "than", "that", "the", "their", "them", "then", "there",
    "these", "they", "this", "those", "to", "too", "up", "us", "use", "using", "via", "was", "we",
    "were", "what", "when", "where", "which", "while", "who", "why", "will", "with", "would",
    "you", "your",
];

/// Source file extensions that make a token a file name even without a slash.
const FILE_EXTENSIONS: &[&str] = &[
    "rs", "py", "pyi", "js", "jsx", "mjs", "cjs", "ts", "tsx", "go", "java", "c", "h", "cc", "cpp",
    "cxx", "hpp", "hh", "toml", "json", "yaml", "yml", "md",
];

/// A task's text, taken apart.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TaskQuery {
    /// The text as given.
    pub text: String,
    /// Words that carry meaning, lowercased, in order, without repeats.
    pub words: Vec<String>,
    /// Code identifiers as written (`verify_token`, `JoinSet::spawn`, `parseArgs`), plus the
    /// parts of qualified ones.
    pub identifiers: Vec<String>,
    /// Paths and file names (`src/auth.rs`, `routes.py`).
    pub paths: Vec<String>,
    /// Quoted strings, without the quotes.
    pub quoted: Vec<String>,
    /// The components a task is scoped to by a leading `name:` or `[name]` (`tsdb: fix …`,
    /// `[mypyc] …`, `discovery, scrape: …`), a common convention in commit subjects and issue
    /// titles.
    pub scopes: Vec<String>,
    /// The first of `scopes`, kept for readers of why-relevant's JSON schema 1.
    pub scope: Option<String>,
}

impl TaskQuery {
    /// Takes a task's text apart.
    pub fn parse(text: &str) -> TaskQuery {
        let mut query = TaskQuery {
            text: text.to_string(),
            ..TaskQuery::default()
        };
        query.scopes = leading_scopes(text);
        query.scope = query.scopes.first().cloned();
        let (quoted, rest) = split_quoted(text);
        for phrase in quoted {
            // A backticked single token is code, not a phrase to find verbatim.
            if phrase.split_whitespace().count() == 1 {
                classify(&phrase, true, &mut query);
            } else {
                push_unique(&mut query.quoted, phrase);
            }
        }
        for (index, token) in rest.split_whitespace().enumerate() {
            match conventional_prefix(token) {
                // `fix(tsdb/wal.go):` is two tokens: the change's kind and what it is about.
                Some((kind, about)) if index == 0 => {
                    classify(kind, false, &mut query);
                    classify(about, false, &mut query);
                }
                _ => classify(token, false, &mut query),
            }
        }
        query
    }

    /// The text BM25 searches: the whole task, filler included. Dropping filler words from
    /// the BM25 query cost 2–3 points of Recall@10 on the development benchmark (round 2 in
    /// benches/RESULTS.md: mean 0.752 with every word, 0.731 without 20 function words, 0.721
    /// without the full list); their small, low-IDF contributions favour files that discuss
    /// the behaviour in prose, which the changed file often does.
    pub fn search_text(&self) -> &str {
        &self.text
    }

    /// Whether nothing searchable is left.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
            && self.identifiers.is_empty()
            && self.paths.is_empty()
            && self.quoted.is_empty()
    }
}

/// Whether a lowercase word is filler (kept out of [`TaskQuery::words`] and of the terms shown
/// as evidence).
pub fn is_filler(word: &str) -> bool {
    word.len() < 2 || FILLER.contains(&word)
}

/// The kinds of change of Conventional Commits (`fix(scope): …`), whose parenthesis names the
/// component; in `tsdb(wal): …` the component comes first.
const CHANGE_KINDS: &[&str] = &[
    "build", "chore", "ci", "docs", "feat", "fix", "perf", "refactor", "revert", "style", "test",
    "tests",
];

/// Whether a scope is a kind of change (`fix`, `chore`), not a component.
pub fn is_change_kind(scope: &str) -> bool {
    CHANGE_KINDS.contains(&scope)
}

/// `("fix", "scrape")` from `fix(scrape):` or `fix(scrape)!:`.
fn conventional_prefix(token: &str) -> Option<(&str, &str)> {
    let word = token.strip_suffix(':')?;
    let word = word.strip_suffix('!').unwrap_or(word);
    let (kind, rest) = word.split_once('(')?;
    let about = rest.strip_suffix(')')?;
    let named = !kind.is_empty() && kind.chars().all(char::is_alphanumeric) && !about.is_empty();
    named.then_some((kind, about))
}

/// `tsdb` from `tsdb: fix …`, `[mypyc] …`, `fix(tsdb): …` or `tsdb(wal): …`: one word, no path
/// separators (a path there is taken as a path).
fn leading_scope(text: &str) -> Option<String> {
    let first = text.split_whitespace().next()?;
    let word = match conventional_prefix(first) {
        Some((kind, about)) if is_change_kind(&kind.to_lowercase()) => about,
        Some((component, _)) => component,
        None => first
            .strip_suffix(':')
            .or_else(|| first.strip_prefix('[').and_then(|f| f.strip_suffix(']')))?,
    };
    is_plain_word(word).then(|| word.to_lowercase())
}

/// Most components a leading list (`discovery, scrape: …`) may name.
const MAX_SCOPES: usize = 4;

/// The leading scope, or the components of a leading list: `discovery, scrape: fix …` →
/// `discovery`, `scrape`.
pub fn leading_scopes(text: &str) -> Vec<String> {
    if let Some((head, _)) = text.split_once(':')
        && head.contains(',')
    {
        let parts: Vec<&str> = head.split(',').map(str::trim).collect();
        if parts.len() <= MAX_SCOPES && parts.iter().all(|part| is_plain_word(part)) {
            return parts.iter().map(|part| part.to_lowercase()).collect();
        }
    }
    leading_scope(text).into_iter().collect()
}

/// A component name: letters, digits, `_` and `-`.
fn is_plain_word(word: &str) -> bool {
    !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
}

fn push_unique(list: &mut Vec<String>, value: String) {
    if !value.is_empty() && !list.contains(&value) {
        list.push(value);
    }
}

/// Phrases in backticks or double quotes, and the text around them.
fn split_quoted(text: &str) -> (Vec<String>, String) {
    let mut quoted = Vec::new();
    let mut rest = String::with_capacity(text.len());
    let mut open: Option<(char, String)> = None;
    for ch in text.chars() {
        match &mut open {
            Some((quote, phrase)) if ch == *quote => {
                quoted.push(phrase.trim().to_string());
                open = None;
                rest.push(' ');
            }
            Some((_, phrase)) => phrase.push(ch),
            None if ch == '`' || ch == '"' => open = Some((ch, String::new())),
            None => rest.push(ch),
        }
    }
    // An unclosed quote is ordinary text.
    if let Some((_, phrase)) = open {
        rest.push(' ');
        rest.push_str(&phrase);
    }
    (quoted.into_iter().filter(|q| !q.is_empty()).collect(), rest)
}

/// Sorts one token into words, identifiers or paths.
fn classify(raw: &str, is_code: bool, query: &mut TaskQuery) {
    let token = raw.trim_end_matches([',', ';', ':', '!', '?', '.']);
    let token = token.strip_suffix("()").unwrap_or(token);
    let token = token
        .trim_start_matches(['\'', '(', '[', '{', '<'])
        .trim_end_matches(['\'', ')', ']', '}', '>']);
    if token.is_empty() {
        return;
    }
    if looks_like_path(token) {
        push_unique(&mut query.paths, token.to_string());
        return;
    }
    if is_code || looks_like_identifier(token) {
        push_unique(&mut query.identifiers, token.to_string());
        if token.contains("::") || token.contains('.') {
            for part in token.split([':', '.']).filter(|p| p.len() > 1) {
                push_unique(&mut query.identifiers, part.to_string());
            }
        }
        return;
    }
    for word in token.split(|c: char| !c.is_alphanumeric()) {
        let lower = word.to_lowercase();
        if !is_filler(&lower) {
            push_unique(&mut query.words, lower);
        }
    }
}

fn looks_like_path(token: &str) -> bool {
    if token.contains("://") {
        return false;
    }
    let has_extension = token
        .rsplit_once('.')
        .is_some_and(|(stem, ext)| !stem.is_empty() && FILE_EXTENSIONS.contains(&ext));
    has_extension || (token.contains('/') && token.split('/').filter(|p| !p.is_empty()).count() > 1)
}

fn looks_like_identifier(token: &str) -> bool {
    let word_chars = token
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '_' | ':' | '.' | '$'));
    if !word_chars || !token.chars().any(char::is_alphabetic) {
        return false;
    }
    let snake = token.contains('_');
    let qualified = token.contains("::") || (token.contains('.') && !token.ends_with('.'));
    let camel = token
        .chars()
        .zip(token.chars().skip(1))
        .any(|(a, b)| a.is_lowercase() && b.is_uppercase());
    let pascal_compound = token.chars().next().is_some_and(char::is_uppercase)
        && token.chars().skip(1).any(char::is_uppercase)
        && token.chars().any(char::is_lowercase);
    snake || qualified || camel || pascal_compound
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separates_words_identifiers_paths_and_quotes() {
        let query = TaskQuery::parse(
            "Fix the timeout in `JoinSet::spawn` when tokio/src/task/join_set.rs \
             returns \"task was cancelled\" for parseArgs()",
        );
        assert_eq!(query.words, ["fix", "timeout", "returns"]);
        assert_eq!(
            query.identifiers,
            ["JoinSet::spawn", "JoinSet", "spawn", "parseArgs"]
        );
        assert_eq!(query.paths, ["tokio/src/task/join_set.rs"]);
        assert_eq!(query.quoted, ["task was cancelled"]);
    }

    #[test]
    fn file_names_and_snake_case() {
        let query = TaskQuery::parse("rate limiting in routes.py should call verify_token, twice.");
        assert_eq!(query.paths, ["routes.py"]);
        assert_eq!(query.identifiers, ["verify_token"]);
        assert_eq!(query.words, ["rate", "limiting", "call", "twice"]);
    }

    #[test]
    fn filler_only_is_empty_and_unclosed_quotes_are_text() {
        assert!(TaskQuery::parse("what is the, of it?").is_empty());
        let query = TaskQuery::parse("handle \"unclosed quote");
        assert_eq!(query.words, ["handle", "unclosed", "quote"]);
        assert!(query.quoted.is_empty());
    }

    #[test]
    fn meaningful_words_leave_out_filler() {
        let query = TaskQuery::parse("The `Verifier` must reject expired tokens in auth/jwt.py");
        assert_eq!(query.words, ["reject", "expired", "tokens"]);
        assert_eq!(query.identifiers, ["Verifier"]);
    }

    fn scopes(text: &str) -> Vec<String> {
        TaskQuery::parse(text).scopes
    }

    #[test]
    fn a_leading_component_is_the_scope() {
        assert_eq!(scopes("tsdb: fix compaction"), ["tsdb"]);
        assert_eq!(scopes("[mypyc] Speed up calls"), ["mypyc"]);
        assert!(scopes("discovery/kubernetes: fix").is_empty());
        assert!(scopes("fix the tsdb").is_empty());
    }

    #[test]
    fn a_leading_list_names_each_component() {
        assert_eq!(
            scopes("discovery, scrape: Use backoff for updates"),
            ["discovery", "scrape"]
        );
        assert_eq!(scopes("tsdb,promql: share pools"), ["tsdb", "promql"]);
        // Commas in prose before a colon are not a list of components.
        assert!(scopes("first, we fix the thing: then the other").is_empty());
    }

    #[test]
    fn conventional_commit_prefixes_name_their_component() {
        let query = TaskQuery::parse("fix(scrape): retry on timeout");
        assert_eq!(query.scopes, ["scrape"]);
        assert_eq!(query.words, ["fix", "scrape", "retry", "timeout"]);
        assert_eq!(scopes("Perf(PromQL)!: faster sums"), ["promql"]);
        // A component with a sub-part: the component is the scope, both are words.
        let query = TaskQuery::parse("tsdb(wal): plumb histograms");
        assert_eq!(query.scopes, ["tsdb"]);
        assert_eq!(query.words, ["tsdb", "wal", "plumb", "histograms"]);
        // A path inside is a path, not a scope.
        let query = TaskQuery::parse("fix(teststorage/appender.go): count samples");
        assert!(query.scopes.is_empty());
        assert_eq!(query.paths, ["teststorage/appender.go"]);
        let query = TaskQuery::parse("Fix(discovery/aws): pagination");
        assert_eq!(query.paths, ["discovery/aws"]);
        assert!(scopes("call f(x): now").is_empty());
    }

    #[test]
    fn urls_and_version_numbers_are_not_paths() {
        let query = TaskQuery::parse("see https://example.com/a/b and bump to 1.2");
        assert!(query.paths.is_empty());
    }
}
