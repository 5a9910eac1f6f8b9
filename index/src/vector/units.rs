//! What gets embedded: compact semantic units, not raw windows of code.
//!
//! Two designs, chosen between by measurement (benches/RESULTS.md, vectors round 1):
//! - [`UnitDesign::Symbols`]: one unit per definition — its path, qualified name and kind,
//!   signature, doc comment and the names it uses — plus one per file (path and the names it
//!   defines). Built from the stored facts alone, so no file is read again.
//! - [`UnitDesign::Chunks`]: one unit per chunk — its path and text, cut at the model's limit.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::facts::{ContentHash, SymbolKind};
use crate::graph::LinkFacts;

/// Most characters of a doc comment kept in a unit (the model sees ~128 tokens anyway).
const MAX_DOC_CHARS: usize = 300;
/// Most used names listed in a unit.
const MAX_USED_NAMES: usize = 16;
/// Most defined names listed in a file's unit.
const MAX_FILE_NAMES: usize = 24;

/// How units are cut from a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnitDesign {
    /// One unit per definition plus one per file.
    Symbols,
    /// One unit per chunk.
    Chunks,
}

impl std::str::FromStr for UnitDesign {
    type Err = String;

    fn from_str(name: &str) -> Result<UnitDesign, String> {
        match name {
            "symbols" => Ok(UnitDesign::Symbols),
            "chunks" => Ok(UnitDesign::Chunks),
            other => Err(format!("unknown unit design {other:?} (symbols or chunks)")),
        }
    }
}

impl UnitDesign {
    /// Lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            UnitDesign::Symbols => "symbols",
            UnitDesign::Chunks => "chunks",
        }
    }
}

/// One embedded unit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unit {
    /// File path.
    pub path: String,
    /// First line it stands for.
    pub line: u32,
    /// What it is, for people: a symbol's qualified name, or the file path.
    pub label: String,
    /// Hash of `text`: the cache key.
    pub key: ContentHash,
    /// The text embedded.
    pub text: String,
}

fn kind_is_embedded(kind: SymbolKind) -> bool {
    !matches!(
        kind,
        SymbolKind::Impl | SymbolKind::Field | SymbolKind::Constant
    )
}

/// The symbol-design units of one file.
pub fn symbol_units(path: &str, facts: &LinkFacts) -> Vec<Unit> {
    let mut units = Vec::new();
    let qualified = |index: usize| {
        let mut parts = vec![facts.symbols[index].name.as_str()];
        let mut container = facts.symbols[index].container;
        while let Some(parent) = container {
            let parent = parent as usize;
            parts.push(facts.symbols[parent].name.as_str());
            container = facts.symbols[parent].container;
        }
        parts.reverse();
        parts.join("::")
    };
    let mut top_level = Vec::new();
    for (index, symbol) in facts.symbols.iter().enumerate() {
        if symbol.container.is_none() && top_level.len() < MAX_FILE_NAMES {
            top_level.push(symbol.name.as_str());
        }
        if !kind_is_embedded(symbol.kind) {
            continue;
        }
        let name = qualified(index);
        let mut used: BTreeSet<&str> = BTreeSet::new();
        for reference in &facts.references {
            if reference.line >= symbol.span.start
                && reference.line <= symbol.span.end
                && used.len() < MAX_USED_NAMES
            {
                used.insert(reference.name.as_str());
            }
        }
        let mut text = format!(
            "{path}\n{name} ({})\n{}",
            symbol.kind.name(),
            symbol.signature
        );
        if let Some(doc) = &symbol.doc {
            let cut = doc
                .char_indices()
                .nth(MAX_DOC_CHARS)
                .map_or(doc.len(), |(i, _)| i);
            text.push('\n');
            text.push_str(&doc[..cut]);
        }
        if !used.is_empty() {
            text.push_str("\nuses ");
            text.push_str(&used.into_iter().collect::<Vec<_>>().join(", "));
        }
        units.push(Unit {
            path: path.to_string(),
            line: symbol.span.start,
            label: format!("{path}::{name}"),
            key: ContentHash::of(text.as_bytes()),
            text,
        });
    }
    let mut text = path.to_string();
    if !top_level.is_empty() {
        text.push_str("\ndefines ");
        text.push_str(&top_level.join(", "));
    }
    units.push(Unit {
        path: path.to_string(),
        line: 1,
        label: path.to_string(),
        key: ContentHash::of(text.as_bytes()),
        text,
    });
    units
}

/// A chunk-design unit.
pub fn chunk_unit(path: &str, start: u32, end: u32, chunk_text: &str) -> Unit {
    let text = format!("{path}\n{chunk_text}");
    Unit {
        path: path.to_string(),
        line: start,
        label: format!("{path}:{start}-{end}"),
        key: ContentHash::of(text.as_bytes()),
        text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Language;
    use crate::syntax::{ChunkLimits, extract};

    #[test]
    fn a_unit_per_definition_and_one_for_the_file() {
        let text = "/// Checks a token.\nfn verify_token(t: &str) -> bool { decode(t).is_ok() }\nstruct Claims { exp: u64 }\n";
        let facts = extract(Language::Rust, text, &ChunkLimits::default());
        let link = LinkFacts {
            language: Some(Language::Rust),
            symbols: facts.symbols,
            references: facts.references,
            imports: facts.imports,
            package: None,
        };
        let units = symbol_units("src/auth.rs", &link);
        let labels: Vec<&str> = units.iter().map(|u| u.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "src/auth.rs::verify_token",
                "src/auth.rs::Claims",
                "src/auth.rs"
            ]
        );
        assert_eq!(
            units[0].text,
            "src/auth.rs\nverify_token (function)\nfn verify_token(t: &str) -> bool\nChecks a token.\nuses decode, is_ok"
        );
        assert_eq!(units[2].text, "src/auth.rs\ndefines verify_token, Claims");
        assert_eq!(units[0].key, ContentHash::of(units[0].text.as_bytes()));
    }
}
