//! `sextant search`: BM25 over the indexed chunks, with the lines that matched.

use std::fmt::Write;

use crate::rank::semantic::Semantic;
use anyhow::Context;
use sextant_index::lexical::LexicalHit;

use crate::cli::{GlobalArgs, SearchArgs};
use crate::output::{escaped, print, print_json};
use crate::settings::{Overrides, Settings};

/// Runs `sextant search`.
pub fn run(args: &SearchArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let settings = Settings::resolve(args.repo.as_deref(), global, &Overrides::default())?;
    let snapshot = settings.index_dir.open().context("opening the index")?;
    if args.semantic {
        return semantic(args, &settings, snapshot.manifest.generation);
    }
    let hits = snapshot
        .lexical
        .search(&args.query, args.limit)
        .context("searching")?;
    if args.json {
        return print_json(&hits);
    }
    if hits.is_empty() {
        if !settings.quiet {
            eprintln!("no matches for {:?}", args.query);
        }
        return Ok(());
    }
    print(&render(&hits))
}

/// Hits as `path:start-end` headers followed by the matched lines.
fn render(hits: &[LexicalHit]) -> String {
    let mut out = String::new();
    for hit in hits {
        let defines = if hit.symbols.is_empty() {
            String::new()
        } else {
            format!("  defines {}", hit.symbols.join(", "))
        };
        let _ = writeln!(
            out,
            "{}:{}-{}  ({}, score {:.2}){defines}",
            escaped(&hit.path),
            hit.span.start,
            hit.span.end,
            hit.language,
            hit.score
        );
        for line in &hit.matched_lines {
            let _ = writeln!(out, "  {:>5}: {}", line.line, line.text);
        }
    }
    out
}

/// `sextant search --semantic`: the units nearest to the query's embedding.
fn semantic(args: &SearchArgs, settings: &Settings, generation: u64) -> anyhow::Result<()> {
    let model = settings.vector_model()?;
    let mut semantic = Semantic::open(
        &settings.index_dir,
        generation,
        &model,
        settings.vectors.threads.unwrap_or(0),
    )
    .context("opening the vector index")?
    .context("the index has no vectors for its current state; run `sextant index` with a model installed (`sextant models install`)")?;
    let query = semantic.embed(&args.query)?;
    let hits = semantic.snapshot.search(&query, args.limit);
    if args.json {
        return print_json(&hits);
    }
    let mut out = String::new();
    for hit in &hits {
        let _ = writeln!(
            out,
            "{:.3}  {}:{}  {}",
            hit.similarity, hit.unit.path, hit.unit.line, hit.unit.label
        );
    }
    if hits.is_empty() && !settings.quiet {
        eprintln!("the vector index is empty");
    }
    print(&out)
}
