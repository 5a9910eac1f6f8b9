//! The languages sextant understands, how a path maps to one, and each one's grammar and queries.

use std::path::Path;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// A language sextant can index. `Text` covers every other readable file: it is chunked by
/// lines and searched, but yields no symbols.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Language {
    /// Rust (`.rs`).
    Rust,
    /// Python (`.py`, `.pyi`).
    Python,
    /// JavaScript, including JSX (`.js`, `.jsx`, `.mjs`, `.cjs`).
    JavaScript,
    /// TypeScript (`.ts`, `.mts`, `.cts`).
    TypeScript,
    /// TypeScript with JSX (`.tsx`).
    Tsx,
    /// Go (`.go`).
    Go,
    /// Java (`.java`).
    Java,
    /// C (`.c`, `.h`).
    C,
    /// C++ (`.cc`, `.cpp`, `.cxx`, `.hpp`, `.hh`, `.hxx`, ...).
    Cpp,
    /// Any other text file.
    Text,
}

/// The languages that have a grammar, in a stable order (used by tests and summaries).
pub const PARSED_LANGUAGES: [Language; 9] = [
    Language::Rust,
    Language::Python,
    Language::JavaScript,
    Language::TypeScript,
    Language::Tsx,
    Language::Go,
    Language::Java,
    Language::C,
    Language::Cpp,
];

impl Language {
    /// Picks the language of a file from its name; anything unknown is `Text`.
    pub fn from_path(path: &Path) -> Language {
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match extension.as_deref() {
            Some("rs") => Language::Rust,
            Some("py" | "pyi") => Language::Python,
            Some("js" | "jsx" | "mjs" | "cjs") => Language::JavaScript,
            Some("ts" | "mts" | "cts") => Language::TypeScript,
            Some("tsx") => Language::Tsx,
            Some("go") => Language::Go,
            Some("java") => Language::Java,
            Some("c" | "h") => Language::C,
            Some("cc" | "cpp" | "cxx" | "c++" | "hpp" | "hh" | "hxx" | "h++" | "ipp" | "inl") => {
                Language::Cpp
            }
            _ => Language::Text,
        }
    }

    /// The short lowercase name used in the index, the CLI and the query folders.
    pub fn name(self) -> &'static str {
        match self {
            Language::Rust => "rust",
            Language::Python => "python",
            Language::JavaScript => "javascript",
            Language::TypeScript => "typescript",
            Language::Tsx => "tsx",
            Language::Go => "go",
            Language::Java => "java",
            Language::C => "c",
            Language::Cpp => "cpp",
            Language::Text => "text",
        }
    }

    /// The tree-sitter grammar, or `None` for plain text.
    pub fn grammar(self) -> Option<tree_sitter::Language> {
        let language_fn = match self {
            Language::Rust => tree_sitter_rust::LANGUAGE,
            Language::Python => tree_sitter_python::LANGUAGE,
            Language::JavaScript => tree_sitter_javascript::LANGUAGE,
            Language::TypeScript => tree_sitter_typescript::LANGUAGE_TYPESCRIPT,
            Language::Tsx => tree_sitter_typescript::LANGUAGE_TSX,
            Language::Go => tree_sitter_go::LANGUAGE,
            Language::Java => tree_sitter_java::LANGUAGE,
            Language::C => tree_sitter_c::LANGUAGE,
            Language::Cpp => tree_sitter_cpp::LANGUAGE,
            Language::Text => return None,
        };
        Some(language_fn.into())
    }

    /// The source of this language's tags query (definitions, references, imports).
    ///
    /// The queries are data under `index/queries/<lang>/tags.scm`; they are compiled into the
    /// binary so an installed `sextant` needs no files beside it. Related grammars share
    /// patterns instead of copying them: JavaScript and TypeScript each add theirs to
    /// `ecma/tags.scm`, C++ adds its own to C's (the language's own come first, so they win
    /// where both match). TSX uses TypeScript's query, since JSX elements are not symbols.
    pub fn tags_query_source(self) -> Option<&'static str> {
        Some(match self {
            Language::Rust => include_str!("../queries/rust/tags.scm"),
            Language::Python => include_str!("../queries/python/tags.scm"),
            Language::JavaScript => {
                concat!(
                    include_str!("../queries/javascript/tags.scm"),
                    include_str!("../queries/ecma/tags.scm")
                )
            }
            Language::TypeScript | Language::Tsx => {
                concat!(
                    include_str!("../queries/typescript/tags.scm"),
                    include_str!("../queries/ecma/tags.scm")
                )
            }
            Language::Go => include_str!("../queries/go/tags.scm"),
            Language::Java => include_str!("../queries/java/tags.scm"),
            Language::C => include_str!("../queries/c/tags.scm"),
            Language::Cpp => concat!(
                include_str!("../queries/cpp/tags.scm"),
                include_str!("../queries/c/tags.scm")
            ),
            Language::Text => return None,
        })
    }

    /// The compiled tags query, built once per language on first use.
    ///
    /// Returns the compile error text if a query does not fit its grammar; the test
    /// `every_query_compiles` keeps that from shipping.
    pub fn tags_query(self) -> Option<Result<&'static tree_sitter::Query, &'static str>> {
        static CACHE: [OnceLock<Result<tree_sitter::Query, String>>; 9] =
            [const { OnceLock::new() }; 9];
        let slot = PARSED_LANGUAGES.iter().position(|l| *l == self)?;
        let grammar = self.grammar()?;
        let source = self.tags_query_source()?;
        let compiled = CACHE[slot].get_or_init(|| {
            tree_sitter::Query::new(&grammar, source)
                .map_err(|e| format!("{} tags query: {e}", self.name()))
        });
        Some(compiled.as_ref().map_err(String::as_str))
    }
}

impl std::fmt::Display for Language {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_query_compiles() {
        for language in PARSED_LANGUAGES {
            match language.tags_query() {
                Some(Ok(_)) => {}
                Some(Err(error)) => panic!("{error}"),
                None => panic!("{language} has no tags query"),
            }
        }
    }

    #[test]
    fn every_query_uses_only_known_captures() {
        for language in PARSED_LANGUAGES {
            let Some(Ok(query)) = language.tags_query() else {
                panic!("{language} query missing")
            };
            for name in query.capture_names() {
                // Captures starting with `_` only feed predicates such as `#eq?`.
                assert!(
                    name.starts_with('_') || crate::syntax::CaptureRole::parse(name).is_some(),
                    "{language}: unknown capture @{name}"
                );
            }
        }
    }

    #[test]
    fn paths_map_to_languages() {
        let cases = [
            ("src/main.rs", Language::Rust),
            ("a/b.PY", Language::Python),
            ("x.tsx", Language::Tsx),
            ("x.d.ts", Language::TypeScript),
            ("inc/x.h", Language::C),
            ("inc/x.hpp", Language::Cpp),
            ("README.md", Language::Text),
            ("Makefile", Language::Text),
        ];
        for (path, expected) in cases {
            assert_eq!(Language::from_path(Path::new(path)), expected, "{path}");
        }
    }
}
