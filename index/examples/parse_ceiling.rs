//! Measures, on one thread, how fast tree-sitter parses a directory's source files (the
//! ceiling for a cold index) and how fast full extraction (parse + tags query + chunking) runs.
//!
//! `cargo run --release -p sextant-index --example parse_ceiling -- DIR [ROUNDS]`

use std::path::PathBuf;
use std::time::Instant;

use sextant_index::Language;
use sextant_index::syntax::{ChunkLimits, extract};
use sextant_index::walk::{WalkOptions, read_source, walk};

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next().map(PathBuf::from) else {
        eprintln!("usage: parse_ceiling DIR [ROUNDS]");
        std::process::exit(2);
    };
    let rounds: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(3);
    let walked = match walk(&dir, &WalkOptions::default()) {
        Ok(walked) => walked,
        Err(error) => {
            eprintln!("error: {error}");
            std::process::exit(1);
        }
    };
    let sources: Vec<(Language, String)> = walked
        .files
        .iter()
        .filter_map(|file| {
            let language = Language::from_path(std::path::Path::new(&file.path));
            language.grammar()?;
            let source = read_source(&file.absolute, u64::MAX).ok()?;
            Some((language, source.text))
        })
        .collect();
    let bytes: usize = sources.iter().map(|(_, text)| text.len()).sum();
    let lines: usize = sources.iter().map(|(_, text)| text.lines().count()).sum();
    println!("files {} bytes {} lines {}", sources.len(), bytes, lines);
    let mut parse_times = Vec::new();
    let mut extract_times = Vec::new();
    for _ in 0..rounds {
        let started = Instant::now();
        let mut parser = tree_sitter::Parser::new();
        for (language, text) in &sources {
            if let Some(grammar) = language.grammar() {
                let _ = parser.set_language(&grammar);
                std::hint::black_box(parser.parse(text, None));
            }
        }
        parse_times.push(started.elapsed().as_secs_f64());
        let started = Instant::now();
        let limits = ChunkLimits::default();
        for (language, text) in &sources {
            std::hint::black_box(extract(*language, text, &limits));
        }
        extract_times.push(started.elapsed().as_secs_f64());
    }
    for (name, mut times) in [("parse", parse_times), ("extract", extract_times)] {
        times.sort_by(f64::total_cmp);
        let median = times[times.len() / 2];
        println!(
            "{name}: median {median:.3} s over {rounds} rounds, {:.1} MB/s, {:.0} lines/s (one thread)",
            bytes as f64 / 1e6 / median,
            lines as f64 / median
        );
    }
}
