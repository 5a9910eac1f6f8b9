//! Times the vector index on an existing index's units: embedding throughput by batch size and
//! input length (units/s and real tokens/s), and HNSW build and query time at 50,000 vectors
//! with recall against exact search. Medians where repeated.
//!
//! `cargo run --release -p sextant-index --example vector_bench -- INDEX_DIR MODEL_DIR RUNTIME [SAMPLE]`

use std::path::PathBuf;
use std::time::Instant;

use sextant_index::store::IndexDir;
use sextant_index::vector::ann::AnnIndex;
use sextant_index::vector::collect_units;
use sextant_index::vector::embed::{Embed, Embedder, ModelPaths};
use sextant_index::vector::units::UnitDesign;

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Every k-th unit's text, `sample` of them, sorted by length: a spread of lengths, not just
/// the first files, batched as the index batches them.
fn spread(pool: &[sextant_index::vector::units::Unit], sample: usize) -> Vec<&str> {
    let step = (pool.len() / sample).max(1);
    let mut texts: Vec<&str> = pool
        .iter()
        .step_by(step)
        .take(sample)
        .map(|u| u.text.as_str())
        .collect();
    texts.sort_by_key(|t| t.len());
    texts
}

fn fail(message: String) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        eprintln!("usage: vector_bench INDEX_DIR MODEL_DIR RUNTIME [SAMPLE]");
        std::process::exit(2);
    }
    let dir = IndexDir::new(PathBuf::from(&args[0]));
    let model = ModelPaths {
        model_dir: PathBuf::from(&args[1]),
        runtime: PathBuf::from(&args[2]),
        int8: std::env::var_os("SEXTANT_BENCH_FLOAT").is_none(),
    };
    let sample: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(512);
    let snapshot = dir.open().unwrap_or_else(|e| fail(e.to_string()));
    let facts = snapshot
        .read_facts(&dir)
        .unwrap_or_else(|e| fail(e.to_string()));
    let units = collect_units(UnitDesign::Symbols, &facts, &snapshot.lexical)
        .unwrap_or_else(|e| fail(e.to_string()));
    let chunks = collect_units(UnitDesign::Chunks, &facts, &snapshot.lexical)
        .unwrap_or_else(|e| fail(e.to_string()));
    println!(
        "units: {} symbol units, {} chunk units",
        units.len(),
        chunks.len()
    );
    // tokenizer.json pads and truncates to 128 itself; real counts need neither.
    let mut tokenizer = tokenizers::Tokenizer::from_file(model.model_dir.join("tokenizer.json"))
        .unwrap_or_else(|e| fail(e.to_string()));
    tokenizer.with_padding(None);
    tokenizer
        .with_truncation(None)
        .unwrap_or_else(|e| fail(e.to_string()));

    // Float against int8 projections, side by side: five alternating rounds over the same
    // length-sorted sample at the index's settings (128 tokens, batches of 8).
    {
        let texts = spread(&units, sample);
        let float_paths = ModelPaths {
            int8: false,
            ..model.clone()
        };
        let int8_paths = ModelPaths {
            int8: true,
            ..model.clone()
        };
        let mut float = Embedder::load(&float_paths, 0).unwrap_or_else(|e| fail(e.to_string()));
        let mut int8 = Embedder::load(&int8_paths, 0).unwrap_or_else(|e| fail(e.to_string()));
        let run = |embedder: &mut Embedder| -> (f64, Vec<Vec<f32>>) {
            let started = Instant::now();
            let mut vectors = Vec::new();
            for group in texts.chunks(8) {
                vectors.extend(
                    embedder
                        .embed(group)
                        .unwrap_or_else(|e| fail(e.to_string())),
                );
            }
            (
                texts.len() as f64 / started.elapsed().as_secs_f64(),
                vectors,
            )
        };
        let (mut float_rates, mut int8_rates) = (Vec::new(), Vec::new());
        let mut cosines = Vec::new();
        for round in 0..5 {
            let (f, fv) = run(&mut float);
            let (q, qv) = run(&mut int8);
            float_rates.push(f);
            int8_rates.push(q);
            if round == 0 {
                cosines = fv
                    .iter()
                    .zip(&qv)
                    .map(|(a, b)| a.iter().zip(b).map(|(x, y)| f64::from(x * y)).sum::<f64>())
                    .collect();
            }
        }
        let (f, q) = (median(float_rates), median(int8_rates));
        let mean = cosines.iter().sum::<f64>() / cosines.len().max(1) as f64;
        let least = cosines.iter().copied().fold(f64::INFINITY, f64::min);
        println!(
            "int8 vs float, symbols, 128 tokens, batch 8, {} units, median of 5 alternating: float {f:.1} units/s, int8 {q:.1} units/s ({:.2}x); cosine int8·float mean {mean:.4}, min {least:.4}",
            texts.len(),
            q / f
        );
    }

    for (name, pool) in [("symbols", &units), ("chunks", &chunks)] {
        let texts = spread(pool, sample);
        for max_tokens in [64, 128, 256] {
            let tokens: usize = texts
                .iter()
                .map(|t| {
                    tokenizer
                        .encode(*t, true)
                        .map_or(0, |e| e.get_ids().len().min(max_tokens))
                })
                .sum();
            let mut embedder = Embedder::load_with_length(&model, 0, max_tokens)
                .unwrap_or_else(|e| fail(e.to_string()));
            for batch in [1, 8, 32, 64] {
                let started = Instant::now();
                for group in texts.chunks(batch) {
                    embedder
                        .embed(group)
                        .unwrap_or_else(|e| fail(e.to_string()));
                }
                let seconds = started.elapsed().as_secs_f64();
                println!(
                    "embed {name:<7} max {max_tokens:>3} tokens, batch {batch:>2}: {:>6.1} units/s, {:>7.0} tokens/s ({} units, {:.1} tokens each)",
                    texts.len() as f64 / seconds,
                    tokens as f64 / seconds,
                    texts.len(),
                    tokens as f64 / texts.len() as f64
                );
            }
        }
    }

    // HNSW at 50,000 vectors: the real vectors of a sample, then perturbed copies of them.
    let mut embedder = Embedder::load(&model, 0).unwrap_or_else(|e| fail(e.to_string()));
    let base_count = 2_000.min(units.len());
    let step = (units.len() / base_count).max(1);
    let base_texts: Vec<&str> = units
        .iter()
        .step_by(step)
        .take(base_count)
        .map(|u| u.text.as_str())
        .collect();
    let mut base = Vec::new();
    for group in base_texts.chunks(32) {
        base.extend(
            embedder
                .embed(group)
                .unwrap_or_else(|e| fail(e.to_string())),
        );
    }
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut noise = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state as f64 / u64::MAX as f64 - 0.5) as f32 * 0.1
    };
    let mut vectors: Vec<Vec<f32>> = Vec::with_capacity(50_000);
    while vectors.len() < 50_000 {
        let source = &base[vectors.len() % base.len()];
        let mut v: Vec<f32> = source.iter().map(|x| x + noise()).collect();
        sextant_index::vector::embed::normalise(&mut v);
        vectors.push(v);
    }
    let items: Vec<(&[f32], usize)> = vectors
        .iter()
        .enumerate()
        .map(|(i, v)| (v.as_slice(), i))
        .collect();
    let started = Instant::now();
    let ann = AnnIndex::build(&items);
    println!(
        "hnsw: built 50,000 × {} in {:.1} s",
        vectors[0].len(),
        started.elapsed().as_secs_f64()
    );
    let all = |_: usize| true;
    let mut latencies = Vec::new();
    let mut recall = 0.0;
    let queries = 500;
    for q in 0..queries {
        let query = &vectors[(q * 97) % vectors.len()];
        let started = Instant::now();
        let found = ann.search(query, 10, &all);
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        let mut exact: Vec<(usize, f32)> = vectors
            .iter()
            .enumerate()
            .map(|(i, v)| (i, v.iter().zip(query).map(|(a, b)| a * b).sum()))
            .collect();
        exact.sort_by(|a, b| b.1.total_cmp(&a.1));
        let truth: Vec<usize> = exact.iter().take(10).map(|e| e.0).collect();
        recall += found.iter().filter(|f| truth.contains(&f.0)).count() as f64 / 10.0;
    }
    let mut exact_ms = Vec::new();
    for q in 0..50 {
        let query = &vectors[(q * 89) % vectors.len()];
        let started = Instant::now();
        let mut best = (0, f32::MIN);
        for (i, v) in vectors.iter().enumerate() {
            let s: f32 = v.iter().zip(query).map(|(a, b)| a * b).sum();
            if s > best.1 {
                best = (i, s);
            }
        }
        std::hint::black_box(best);
        exact_ms.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    println!(
        "hnsw: query top-10 p50 {:.3} ms (exact scan p50 {:.2} ms), recall@10 vs exact {:.3} over {queries} queries",
        median(latencies),
        median(exact_ms),
        recall / queries as f64
    );
}
