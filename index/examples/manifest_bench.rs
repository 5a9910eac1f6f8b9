//! Times reading a manifest: `cargo run --release -p sextant-index --example manifest_bench -- FILE [ROUNDS]`.
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("FILE");
    let rounds: usize = args.next().map_or(9, |r| r.parse().expect("ROUNDS"));
    let mut read = Vec::new();
    let mut check = Vec::new();
    let mut decode = Vec::new();
    let mut drop_ms = Vec::new();
    for _ in 0..rounds {
        let t = Instant::now();
        let bytes = std::fs::read(&path).expect("read");
        read.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        let body = sextant_index::store::frame::check(b"SEXTANT\0", &bytes).expect("frame");
        check.push(t.elapsed().as_secs_f64() * 1e3);
        let _ = body;
        let t = Instant::now();
        let manifest = sextant_index::store::manifest::decode(&bytes).expect("decode");
        decode.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        let n = manifest.files.len();
        drop(manifest);
        drop_ms.push(t.elapsed().as_secs_f64() * 1e3);
        assert!(n > 0);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "read {:.1} ms, check {:.1} ms, decode (with check) {:.1} ms, drop {:.1} ms",
        median(&mut read),
        median(&mut check),
        median(&mut decode),
        median(&mut drop_ms)
    );
}
