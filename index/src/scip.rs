//! SCIP indexes (the protocol of Sourcegraph's compiler-grade indexers, `scip-python`,
//! `scip-typescript`, `rust-analyzer scip`, …) read into what the knowledge graph is measured
//! against: per file, which global symbol each mention names, and where each symbol is
//! defined.
//!
//! Only what the comparison needs is kept: occurrences of global symbols (a `local N` symbol
//! never leaves its file), by 1-based line, with their definition and import roles; and per
//! symbol its defining file, line, name and kind, parsed once from the symbol string.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

pub mod compare;

use protobuf::Message;
use scip::types::descriptor::Suffix;
use scip::types::{Index, SymbolRole};

/// Why a SCIP index could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ScipError {
    /// The file could not be read.
    #[error("cannot read the SCIP index {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The bytes are not a SCIP index.
    #[error("{path} is not a SCIP index ({reason})")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What the protobuf decoder said.
        reason: String,
    },
}

/// What kind of thing a SCIP symbol names, from its last descriptor's suffix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScipKind {
    /// A module, package or namespace (`mypy/checker/`).
    Namespace,
    /// A class, interface, struct, enum or type alias (`Foo#`).
    Type,
    /// A function or method (`foo().`).
    Method,
    /// A variable, constant, field or attribute (`x.`).
    Term,
    /// Anything else (parameters, type parameters, macros, meta).
    Other,
}

impl ScipKind {
    /// Lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            ScipKind::Namespace => "namespace",
            ScipKind::Type => "type",
            ScipKind::Method => "method",
            ScipKind::Term => "term",
            ScipKind::Other => "other",
        }
    }
}

/// One mention of a global symbol in a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScipOccurrence {
    /// 1-based line.
    pub line: u32,
    /// The symbol, as SCIP spells it.
    pub symbol: String,
    /// Whether this occurrence defines the symbol.
    pub definition: bool,
    /// Whether this occurrence is in an import statement.
    pub import: bool,
}

/// Where a symbol is defined, and what it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScipDefinition {
    /// The defining file, relative to the indexed project's root.
    pub path: String,
    /// 1-based line of the defining occurrence (the name, not a decorator).
    pub line: u32,
    /// The name it defines (the last descriptor's name).
    pub name: String,
    /// What it is.
    pub kind: ScipKind,
    /// The enclosing type's name for a method or term defined in a type (`Foo` of
    /// `Foo#__init__().`), so a constructor call can be matched to its class.
    pub parent: Option<String>,
}

/// A SCIP index reduced to global occurrences and definitions.
#[derive(Debug, Default)]
pub struct ScipFacts {
    /// Per document path (relative to the project root): its global occurrences, by line.
    pub documents: BTreeMap<String, Vec<ScipOccurrence>>,
    /// Each symbol defined in one of the documents.
    pub definitions: HashMap<String, ScipDefinition>,
    /// What the indexer said of itself (`scip-python 0.6.6`).
    pub tool: String,
}

impl ScipFacts {
    /// The name a symbol string names, its kind and enclosing type (parsed, not looked up:
    /// symbols defined outside the project have no definition here but still have a name).
    pub fn describe(symbol: &str) -> Option<(String, ScipKind, Option<String>)> {
        let parsed = scip::symbol::parse_symbol(symbol).ok()?;
        let last = parsed.descriptors.last()?;
        let kind = match last.suffix.enum_value_or_default() {
            Suffix::Namespace | Suffix::Package => ScipKind::Namespace,
            Suffix::Type => ScipKind::Type,
            Suffix::Method => ScipKind::Method,
            Suffix::Term => ScipKind::Term,
            _ => ScipKind::Other,
        };
        let parent = parsed
            .descriptors
            .iter()
            .rev()
            .skip(1)
            .find(|d| d.suffix.enum_value_or_default() == Suffix::Type)
            .map(|d| d.name.clone());
        Some((last.name.clone(), kind, parent))
    }
}

/// Reads the SCIP index at `path`.
pub fn read_scip(path: &Path) -> Result<ScipFacts, ScipError> {
    let bytes = std::fs::read(path).map_err(|source| ScipError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let index = Index::parse_from_bytes(&bytes).map_err(|error| ScipError::Malformed {
        path: path.to_path_buf(),
        reason: error.to_string(),
    })?;
    Ok(reduce(index))
}

fn reduce(index: Index) -> ScipFacts {
    let tool = index
        .metadata
        .as_ref()
        .and_then(|m| m.tool_info.as_ref())
        .map(|t| format!("{} {}", t.name, t.version))
        .unwrap_or_default();
    let mut facts = ScipFacts {
        tool,
        ..ScipFacts::default()
    };
    let definition_bit = SymbolRole::Definition as i32;
    let import_bit = SymbolRole::Import as i32;
    for document in index.documents {
        let path = normalise(&document.relative_path);
        let mut occurrences = Vec::with_capacity(document.occurrences.len());
        for occurrence in document.occurrences {
            if occurrence.symbol.is_empty() || scip::symbol::is_local_symbol(&occurrence.symbol) {
                continue;
            }
            let Some(&line) = occurrence.range.first() else {
                continue;
            };
            let line = u32::try_from(line).unwrap_or(0) + 1;
            let definition = occurrence.symbol_roles & definition_bit != 0;
            if definition
                && !facts.definitions.contains_key(&occurrence.symbol)
                && let Some((name, kind, parent)) = ScipFacts::describe(&occurrence.symbol)
            {
                facts.definitions.insert(
                    occurrence.symbol.clone(),
                    ScipDefinition {
                        path: path.clone(),
                        line,
                        name,
                        kind,
                        parent,
                    },
                );
            }
            occurrences.push(ScipOccurrence {
                line,
                symbol: occurrence.symbol,
                definition,
                import: occurrence.symbol_roles & import_bit != 0,
            });
        }
        // Indexers usually emit occurrences in order; the comparison's lookups need it.
        occurrences.sort_by_key(|o| o.line);
        facts.documents.insert(path, occurrences);
    }
    facts
}

/// A document path as the index names files: `/`-separated, no leading `./`.
fn normalise(path: &str) -> String {
    let path = path.replace('\\', "/");
    path.trim_start_matches("./").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use scip::types::{Document, Occurrence};

    fn occurrence(line: i32, symbol: &str, roles: i32) -> Occurrence {
        Occurrence {
            range: vec![line, 4, 9],
            symbol: symbol.to_string(),
            symbol_roles: roles,
            ..Occurrence::default()
        }
    }

    #[test]
    fn keeps_global_occurrences_and_where_each_symbol_is_defined() {
        let helper = "scip-python python pkg 0 `pkg.util`/helper().";
        let init = "scip-python python pkg 0 `pkg.model`/Model#__init__().";
        let index = Index {
            documents: vec![
                Document {
                    relative_path: "./pkg/util.py".into(),
                    occurrences: vec![occurrence(0, helper, SymbolRole::Definition as i32)],
                    ..Document::default()
                },
                Document {
                    relative_path: "pkg/main.py".into(),
                    occurrences: vec![
                        occurrence(0, helper, SymbolRole::Import as i32),
                        occurrence(3, helper, 0),
                        occurrence(4, "local 7", 0),
                        occurrence(5, init, 0),
                    ],
                    ..Document::default()
                },
            ],
            ..Index::default()
        };
        let bytes = index.write_to_bytes().expect("encode");
        let file = tempfile::NamedTempFile::new().expect("temp");
        std::fs::write(file.path(), bytes).expect("write");
        let facts = read_scip(file.path()).expect("read");
        let main = &facts.documents["pkg/main.py"];
        assert_eq!(main.len(), 3, "the local symbol is dropped");
        assert!(main[0].import && !main[0].definition);
        assert_eq!(main[1].line, 4);
        let defined = &facts.definitions[helper];
        assert_eq!(
            (defined.path.as_str(), defined.line, defined.name.as_str()),
            ("pkg/util.py", 1, "helper")
        );
        assert_eq!(defined.kind, ScipKind::Method);
        assert_eq!(
            ScipFacts::describe(init),
            Some(("__init__".into(), ScipKind::Method, Some("Model".into())))
        );
    }

    #[test]
    fn bytes_that_are_not_an_index_are_a_clear_error() {
        let file = tempfile::NamedTempFile::new().expect("temp");
        std::fs::write(file.path(), b"\xff\xff\xff\xff not protobuf").expect("write");
        let error = read_scip(file.path()).expect_err("garbage");
        assert!(error.to_string().contains("is not a SCIP index"), "{error}");
    }
}
