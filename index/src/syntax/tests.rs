//! Checks extraction against the annotated fixture repository `fixtures/polyglot`.
//!
//! A fixture line may carry annotations in a comment: `@@def KIND NAME` (a definition whose span
//! covers this line), `@@call NAME`, `@@impl NAME`, `@@type NAME` (references on this line) and
//! `@@import PATH`. Definitions, calls, implementations and imports must match exactly, so both
//! misses and spurious facts fail; type references are many, so annotated ones must be found.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::*;
use crate::facts::{ChunkKind, FileFacts};

fn polyglot() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/polyglot")
}

#[derive(Default)]
struct Expected {
    definitions: Vec<(String, String, u32)>,
    calls: BTreeSet<(String, u32)>,
    implementations: BTreeSet<(String, u32)>,
    types: BTreeSet<(String, u32)>,
    imports: BTreeSet<(String, u32)>,
}

fn annotations(text: &str) -> Expected {
    let mut expected = Expected::default();
    for (index, line) in text.lines().enumerate() {
        let line_number = index as u32 + 1;
        for annotation in line.split("@@").skip(1) {
            let words: Vec<&str> = annotation.split_whitespace().collect();
            match words.as_slice() {
                ["def", kind, name, ..] => {
                    expected
                        .definitions
                        .push((kind.to_string(), name.to_string(), line_number))
                }
                ["call", name, ..] => _ = expected.calls.insert((name.to_string(), line_number)),
                ["impl", name, ..] => {
                    _ = expected
                        .implementations
                        .insert((name.to_string(), line_number))
                }
                ["type", name, ..] => _ = expected.types.insert((name.to_string(), line_number)),
                ["import", path, ..] => {
                    _ = expected.imports.insert((path.to_string(), line_number))
                }
                // Resolution targets are checked by the graph tests.
                ["to", _, ..] => {}
                other => panic!("bad annotation on line {line_number}: {other:?}"),
            }
        }
    }
    expected
}

fn references(facts: &FileFacts, kind: ReferenceKind) -> BTreeSet<(String, u32)> {
    facts
        .references
        .iter()
        .filter(|r| r.kind == kind)
        .map(|r| (r.name.clone(), r.line))
        .collect()
}

/// The first definition named `name`.
fn symbol<'f>(facts: &'f FileFacts, name: &str) -> &'f Symbol {
    facts
        .symbols
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no definition named {name}"))
}

fn check_file(relative: &str) -> FileFacts {
    let path = polyglot().join(relative);
    let text = std::fs::read_to_string(&path).expect("fixture readable");
    check_text(relative, Language::from_path(&path), &text)
}

/// Extracts `text` and compares the facts with its annotations.
fn check_text(relative: &str, language: Language, text: &str) -> FileFacts {
    let facts = extract(language, text, &ChunkLimits::default());
    let expected = annotations(text);
    let mut problems = Vec::new();

    let mut unmatched: Vec<&Symbol> = facts.symbols.iter().collect();
    for (kind, name, line) in &expected.definitions {
        let found = unmatched
            .iter()
            .position(|s| s.kind.name() == kind && &s.name == name && s.span.contains(*line));
        match found {
            Some(position) => _ = unmatched.remove(position),
            None => problems.push(format!("missing definition {kind} {name} at line {line}")),
        }
    }
    for symbol in unmatched {
        problems.push(format!(
            "unexpected definition {} {} at {:?}",
            symbol.kind.name(),
            symbol.name,
            symbol.span
        ));
    }
    let mut compare = |what: &str,
                       expected: &BTreeSet<(String, u32)>,
                       actual: &BTreeSet<(String, u32)>,
                       exact: bool| {
        for missing in expected.difference(actual) {
            problems.push(format!(
                "missing {what} {} at line {}",
                missing.0, missing.1
            ));
        }
        if exact {
            for extra in actual.difference(expected) {
                problems.push(format!("unexpected {what} {} at line {}", extra.0, extra.1));
            }
        }
    };
    compare(
        "call",
        &expected.calls,
        &references(&facts, ReferenceKind::Call),
        true,
    );
    compare(
        "implementation",
        &expected.implementations,
        &references(&facts, ReferenceKind::Implementation),
        true,
    );
    compare(
        "type",
        &expected.types,
        &references(&facts, ReferenceKind::Type),
        false,
    );
    let imports = facts
        .imports
        .iter()
        .map(|i| (i.path.clone(), i.line))
        .collect();
    compare("import", &expected.imports, &imports, true);
    assert!(
        problems.is_empty(),
        "{relative} ({language}):\n  {}",
        problems.join("\n  ")
    );
    assert!(!facts.has_syntax_errors(), "{relative} has syntax errors");
    facts
}

#[test]
fn rust_extraction_matches_annotations() {
    let facts = check_file("server/src/auth.rs");
    let verifier = symbol(&facts, "Verifier");
    assert_eq!(
        verifier.doc.as_deref(),
        Some("Checks signed session tokens against known keys.")
    );
    // The doc comment and the derive attribute belong to the struct's span.
    assert_eq!(verifier.span.start, 11);
    let signature_matches = symbol(&facts, "signature_matches");
    let container = &facts.symbols[signature_matches.container.expect("in impl") as usize];
    assert_eq!(
        (container.kind, container.name.as_str()),
        (SymbolKind::Impl, "Verifier")
    );
    assert_eq!(
        signature_matches.signature,
        "fn signature_matches(&self, token: &str) -> bool"
    );
    let call = facts
        .references
        .iter()
        .find(|r| r.name == "compute_digest")
        .expect("call");
    assert_eq!(call.container, signature_matches_index(&facts));
}

/// Items inside a macro invoked as an item, as tokio's `cfg_rt! { … }` wraps them.
const RUST_ITEM_MACROS: &str = r#"macro_rules! cfg_rt { ($($item:item)*) => { $( $item )* } } // @@def macro cfg_rt

cfg_rt! { // @@call cfg_rt
    mod blocking; // @@import blocking

    /// Spawns a task.
    pub fn spawn(id: u32) -> Handle { // @@def function spawn @@type Handle
        Handle::current(id) // @@call current
    }

    pub struct Handle { // @@def struct Handle
        id: u32,
    }

    impl Handle { // @@def impl Handle
        pub fn current(id: u32) -> Handle { // @@def method current @@type Handle
            Handle { id } // @@type Handle
        }
    }

    cfg_rt! { // @@call cfg_rt
        pub(crate) fn nested() {} // @@def function nested
    }
}

impl Handle { // @@def impl Handle
    cfg_rt! { // @@call cfg_rt
        fn in_impl(&self) -> u32 { self.id } // @@def method in_impl
    }
}

// A body in the macro's own language is not read as items.
select_like! { a = x => go(), default => stop() } // @@call select_like

fn main() { // @@def function main
    cfg_rt! { fn not_an_item_here() {} } // @@call cfg_rt
}
"#;

#[test]
fn rust_items_inside_item_macros_are_extracted() {
    let facts = check_text("item_macros.rs", Language::Rust, RUST_ITEM_MACROS);
    let spawn = symbol(&facts, "spawn");
    assert_eq!(spawn.doc.as_deref(), Some("Spawns a task."));
    assert_eq!(spawn.span.start, 6, "the doc comment belongs to the span");
    assert_eq!(spawn.signature, "pub fn spawn(id: u32) -> Handle");
    let in_impl = symbol(&facts, "in_impl");
    let container = &facts.symbols[in_impl.container.expect("in the impl") as usize];
    assert_eq!(
        (container.kind, container.span.start),
        (SymbolKind::Impl, 26)
    );
    let spawn_index = facts
        .symbols
        .iter()
        .position(|s| s.name == "spawn")
        .expect("spawn") as u32;
    assert!(
        facts
            .chunks
            .iter()
            .any(|c| c.symbols.contains(&spawn_index)),
        "a definition inside a macro starts a chunk"
    );
}

fn signature_matches_index(facts: &FileFacts) -> Option<u32> {
    facts
        .symbols
        .iter()
        .position(|s| s.name == "signature_matches")
        .map(|i| i as u32)
}

#[test]
fn python_extraction_matches_annotations() {
    let facts = check_file("tools/report.py");
    let add = facts.symbols.iter().find(|s| s.name == "add").expect("add");
    assert_eq!(
        add.doc.as_deref(),
        Some("Counts one event for its customer.")
    );
    let customers = symbol(&facts, "customers");
    // The decorator line belongs to the method.
    assert_eq!(customers.span.start, 17);
}

#[test]
fn javascript_extraction_matches_annotations() {
    let facts = check_file("web/src/api.js");
    let fetch_json = symbol(&facts, "fetchJson");
    assert_eq!(
        fetch_json.doc.as_deref(),
        Some("Sends a JSON request with the session token.")
    );
}

#[test]
fn typescript_extraction_matches_annotations() {
    let facts = check_file("web/src/session.ts");
    let session = symbol(&facts, "Session");
    assert_eq!(session.doc.as_deref(), Some("A logged-in user's session."));
}

#[test]
fn tsx_extraction_matches_annotations() {
    check_file("web/src/LoginForm.tsx");
}

#[test]
fn go_extraction_matches_annotations() {
    let facts = check_file("gateway/ratelimit.go");
    let limiter = symbol(&facts, "Limiter");
    assert_eq!(
        limiter.doc.as_deref(),
        Some("Limiter hands out request tokens per client.")
    );
}

#[test]
fn java_extraction_matches_annotations() {
    let facts = check_file("billing/src/main/java/com/acme/Invoice.java");
    let total = symbol(&facts, "total");
    assert_eq!(total.doc.as_deref(), Some("Sums the items with tax."));
    let container = &facts.symbols[total.container.expect("in class") as usize];
    assert_eq!(container.name, "Invoice");
}

#[test]
fn c_extraction_matches_annotations() {
    check_file("native/checksum.c");
    check_file("native/checksum.h");
}

#[test]
fn cpp_extraction_matches_annotations() {
    check_file("native/cache.cpp");
}

#[test]
fn plain_text_has_chunks_and_no_symbols() {
    let facts = extract(
        Language::Text,
        "# title\n\nsome words\n",
        &ChunkLimits::default(),
    );
    assert!(facts.symbols.is_empty());
    assert_eq!(facts.chunks.len(), 1);
    assert_eq!(facts.chunks[0].kind, ChunkKind::Text);
    assert_eq!(facts.line_count, 3);
}

#[test]
fn broken_syntax_still_yields_facts() {
    let text = "fn good() {}\nfn broken( {\nfn also_good() { good() }\n";
    let facts = extract(Language::Rust, text, &ChunkLimits::default());
    assert!(facts.has_syntax_errors());
    // Where to look: the broken line, not the file.
    assert_eq!(facts.first_syntax_error_line, Some(2));
    assert!(facts.symbols.iter().any(|s| s.name == "good"));
    assert_eq!(facts.chunks.last().map(|c| c.span.end), Some(3));
}

/// TypeScript 4.7's variance annotations (zod's central files use them) parse: the grammar
/// does not know them and recovered with an error, losing what followed; the signature
/// still shows them.
#[test]
fn typescript_variance_annotations_parse_and_keep_their_definitions() {
    let text = "export interface Box<in T = never, out U = unknown> extends Base {\n  get(): U;\n}\n\
                export type Fn<in out T> = (x: T) => T;\n\
                export function keep<out extends string>(x: out): out {\n  return helper(x);\n}\n\
                export function after(): void {\n  keep(\"a\");\n}\n";
    for language in [Language::TypeScript, Language::Tsx] {
        let facts = extract(language, text, &ChunkLimits::default());
        assert!(!facts.has_syntax_errors(), "{language:?}");
        let names: Vec<&str> = facts.symbols.iter().map(|s| s.name.as_str()).collect();
        for name in ["Box", "Fn", "keep", "after"] {
            assert!(names.contains(&name), "{language:?}: {name} in {names:?}");
        }
        let boxed = facts.symbols.iter().find(|s| s.name == "Box").expect("Box");
        assert!(
            boxed.signature.contains("<in T = never, out U"),
            "{}",
            boxed.signature
        );
        assert!(
            facts.references.iter().any(|r| r.name == "keep"),
            "{:?}",
            facts.references
        );
    }
}

#[test]
fn empty_file_has_no_chunks() {
    for language in crate::lang::PARSED_LANGUAGES {
        let facts = extract(language, "", &ChunkLimits::default());
        assert!(facts.chunks.is_empty(), "{language}");
    }
}

#[test]
fn every_fixture_file_is_chunked_contiguously() {
    for entry in ignore::Walk::new(polyglot()) {
        let entry = entry.expect("walk");
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).expect("read");
        let facts = extract(
            Language::from_path(entry.path()),
            &text,
            &ChunkLimits::default(),
        );
        let mut next = 1;
        for chunk in &facts.chunks {
            assert_eq!(chunk.span.start, next, "{}", entry.path().display());
            next = chunk.span.end + 1;
        }
        assert_eq!(next, facts.line_count + 1, "{}", entry.path().display());
    }
}
