//! `sextant search`: BM25 over the indexed chunks, with the lines that matched.

use std::fmt::Write;

use anyhow::Context;
use sextant_index::lexical::LexicalHit;

use crate::cli::{GlobalArgs, SearchArgs};
use crate::output::{print, print_json};
use crate::settings::{Overrides, Settings};

/// Runs `sextant search`.
pub fn run(args: &SearchArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let settings = Settings::resolve(args.repo.as_deref(), global, &Overrides::default())?;
    let snapshot = settings.index_dir.open().context("opening the index")?;
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
            hit.path, hit.span.start, hit.span.end, hit.language, hit.score
        );
        for line in &hit.matched_lines {
            let _ = writeln!(out, "  {:>5}: {}", line.line, line.text);
        }
    }
    out
}
