//! Times graph work on an existing index: loading the graph, the file projection, personalised
//! PageRank from seed files, and explanation paths. Medians over rounds.
//!
//! `cargo run --release -p sextant-index --example graph_bench -- INDEX_DIR [ROUNDS]`

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use sextant_index::graph::algo::{file_projection, personalized_pagerank, shortest_path};
use sextant_index::store::IndexDir;

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next().map(PathBuf::from) else {
        eprintln!("usage: graph_bench INDEX_DIR [ROUNDS]");
        std::process::exit(2);
    };
    let rounds: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(20);
    let dir = IndexDir::new(dir);
    let snapshot = match dir.open() {
        Ok(snapshot) => snapshot,
        Err(error) => {
            eprintln!("error: {error}");
            std::process::exit(1);
        }
    };
    let started = Instant::now();
    let graph = match snapshot.read_graph(&dir) {
        Ok(graph) => graph,
        Err(error) => {
            eprintln!("error: {error}");
            std::process::exit(1);
        }
    };
    let load_ms = started.elapsed().as_secs_f64() * 1000.0;
    let files: Vec<_> = snapshot
        .manifest
        .files
        .keys()
        .filter_map(|p| graph.file(p))
        .collect();
    println!(
        "graph: {} files, {} symbols, {} edges; load {load_ms:.1} ms",
        graph.file_count(),
        graph.symbol_count(),
        graph.graph.edge_count()
    );
    let started = Instant::now();
    let facts = match snapshot.read_facts(&dir) {
        Ok(facts) => facts,
        Err(error) => {
            eprintln!("error: {error}");
            std::process::exit(1);
        }
    };
    println!(
        "facts: load {:.1} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
    let link_ms: Vec<f64> = (0..rounds.min(5))
        .map(|_| {
            let started = Instant::now();
            std::hint::black_box(sextant_index::graph::CodeGraph::build(&facts));
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    println!("full link: median {:.1} ms", median(link_ms));
    let mut projection_ms = Vec::new();
    let mut pagerank_ms = Vec::new();
    let mut path_ms = Vec::new();
    for round in 0..rounds {
        let started = Instant::now();
        std::hint::black_box(file_projection(&graph));
        projection_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        // Five seeds spread over the file list, different each round.
        let seeds: BTreeMap<_, f64> = (0..5)
            .map(|i| {
                (
                    files[(round * 7919 + i * files.len() / 5) % files.len()],
                    1.0,
                )
            })
            .collect();
        let started = Instant::now();
        let ranked = personalized_pagerank(&graph, &seeds);
        pagerank_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        if let (Some(first), Some(last)) = (ranked.get(1), ranked.get(10)) {
            let started = Instant::now();
            std::hint::black_box(shortest_path(&graph, first.0, last.0));
            path_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    println!("file projection: median {:.1} ms", median(projection_ms));
    println!(
        "personalised PageRank (5 seeds, includes projection): median {:.1} ms",
        median(pagerank_ms)
    );
    if !path_ms.is_empty() {
        println!("explanation path: median {:.2} ms", median(path_ms));
    }
}
