#!/usr/bin/env bash
# End-to-end indexing benchmark on a real corpus.
#
#   benches/index-corpus.sh [DIR] [ROUNDS]
#
# Without DIR, the corpus is the Django 5.1.4 source distribution from PyPI (1.05M lines of
# Python, templates, docs and translations), fetched once with pip into $SEXTANT_BENCH_DIR
# (default ~/.cache/sextant-bench). Prints medians over ROUNDS (default 5) runs of:
# cold full index, no-op reindex, reindex after one changed file; peak RSS of a cold run; and
# the single-thread tree-sitter parse and extraction rates (the ceiling to compare against).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
rounds=${2:-5}
bench_dir=${SEXTANT_BENCH_DIR:-$HOME/.cache/sextant-bench}
if [[ $# -ge 1 && -n "$1" ]]; then
  corpus=$(cd "$1" && pwd)
else
  corpus=$bench_dir/Django-5.1.4
  if [[ ! -d $corpus ]]; then
    mkdir -p "$bench_dir"
    python3 -m pip download --quiet --no-deps --no-binary :all: django==5.1.4 -d "$bench_dir"
    tar -xzf "$bench_dir/Django-5.1.4.tar.gz" -C "$bench_dir"
  fi
fi
(cd "$here" && cargo build --release --quiet --bin sextant && cargo build --release --quiet -p sextant-index --example parse_ceiling)
sextant=$here/target/release/sextant
index_dir=$(mktemp -d)/index
trap 'rm -rf "$(dirname "$index_dir")"' EXIT

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
field() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

cold=(); noop=(); one=()
for _ in $(seq "$rounds"); do
  rm -rf "$index_dir"
  summary=$("$sextant" index "$corpus" --index-dir "$index_dir" --ci)
  cold+=("$(echo "$summary" | field "d['timings']['total_ms']")")
  lines=$(echo "$summary" | field "d['indexed_lines']")
  files=$(echo "$summary" | field "d['indexed_files']")
  noop+=("$("$sextant" index "$corpus" --index-dir "$index_dir" --ci | field "d['timings']['total_ms']")")
done
# One changed file: append a line to a mid-sized source file, reindex, restore.
victim=$(cd "$corpus" && find . -type f \( -name '*.py' -o -name '*.rs' -o -name '*.go' \) -size +8k -size -64k | sort | awk 'NR == 1')
cp "$corpus/$victim" "$index_dir.victim"
for i in $(seq "$rounds"); do
  echo "# sextant benchmark edit $i" >> "$corpus/$victim"
  one+=("$("$sextant" index "$corpus" --index-dir "$index_dir" --ci | field "d['timings']['total_ms']")")
done
cp "$index_dir.victim" "$corpus/$victim"
rm -rf "$index_dir"
rss_kb=$( { /usr/bin/time -f '%M' "$sextant" index "$corpus" --index-dir "$index_dir" --ci >/dev/null; } 2>&1 | tail -n 1)

cold_ms=$(printf '%s\n' "${cold[@]}" | median)
echo "corpus: $corpus ($files files, $lines lines)"
echo "cold index (full, 2 threads on this machine): median ${cold_ms} ms over $rounds = $(( lines * 1000 / cold_ms )) lines/s  [runs: ${cold[*]}]"
echo "no-op reindex: median $(printf '%s\n' "${noop[@]}" | median) ms  [runs: ${noop[*]}]"
echo "one changed file ($victim): median $(printf '%s\n' "${one[@]}" | median) ms  [runs: ${one[*]}]"
echo "peak RSS of a cold run: $(( rss_kb / 1024 )) MiB"
"$here/target/release/examples/parse_ceiling" "$corpus" 3
