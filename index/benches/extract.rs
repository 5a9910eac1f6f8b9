//! Micro-benchmarks of the per-file hot path: extraction per language on the annotated
//! fixtures, and the code tokenizer. Run with `cargo bench -p sextant-index`.

use std::path::Path;

use sextant_index::Language;
use sextant_index::lexical::code_terms;
use sextant_index::syntax::{ChunkLimits, extract};

fn main() {
    divan::main();
}

const FIXTURES: [&str; 9] = [
    "server/src/auth.rs",
    "tools/report.py",
    "web/src/api.js",
    "web/src/session.ts",
    "web/src/LoginForm.tsx",
    "gateway/ratelimit.go",
    "billing/src/main/java/com/acme/Invoice.java",
    "native/checksum.c",
    "native/cache.cpp",
];

fn fixture(path: &str) -> (Language, String) {
    let full = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/polyglot")
        .join(path);
    let text = std::fs::read_to_string(&full).expect("fixture readable");
    (Language::from_path(&full), text)
}

/// Parse + tags query + chunking of one fixture file.
#[divan::bench(args = FIXTURES)]
fn extract_file(bencher: divan::Bencher, path: &str) {
    let (language, text) = fixture(path);
    let limits = ChunkLimits::default();
    bencher
        .counter(divan::counter::BytesCount::new(text.len()))
        .bench(|| extract(language, divan::black_box(&text), &limits));
}

/// The code tokenizer over all fixtures.
#[divan::bench]
fn tokenize_all(bencher: divan::Bencher) {
    let text: String = FIXTURES.iter().map(|p| fixture(p).1).collect();
    bencher
        .counter(divan::counter::BytesCount::new(text.len()))
        .bench(|| {
            let mut count = 0usize;
            code_terms(divan::black_box(&text), |_, _, _| count += 1);
            count
        });
}
