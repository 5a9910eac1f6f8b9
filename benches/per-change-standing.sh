#!/usr/bin/env bash
# One changed file on a tree's own standing index (`TREE/.sextant`, already built), builds
# alternated in one sitting: for trees too big to index once per build (benches/per-change.sh
# builds an index per build).
#
#   benches/per-change-standing.sh TREE FILE ROUNDS BIN...
#
# Each round appends a line to FILE (relative to TREE) and runs, for each build, `index TREE
# --vectors off --ci` walking the tree, then the same edit again with `--changed FILE` (the
# way a hook or the watch names the change). Prints one line per run: build, mode, wall
# seconds, peak RSS (MiB), and the run's walk, graph and total milliseconds; then the medians.
# A build that has no `--changed` is measured walking only.
# FILE is restored at the end. Run it on a quiet machine.
set -euo pipefail
tree=$(cd "$1" && pwd)
file=$2
rounds=$3
shift 3
bins=("$@")
saved=$(mktemp)
cp "$tree/$file" "$saved"
trap 'cp "$saved" "$tree/$file"; rm -f "$saved"' EXIT
results=$(mktemp)
for round in $(seq "$rounds"); do
  for bin in "${bins[@]}"; do
    for mode in walk changed; do
      echo "// sextant per-change-standing $round" >> "$tree/$file"
      extra=()
      [[ $mode == changed ]] && extra=(--changed "$tree/$file")
      # (A build without `--changed` says so and is measured walking only.)
      if ! /usr/bin/time -f '%e %M' -o "$results.time" "$bin" index "$tree" --vectors off --ci "${extra[@]}" > "$results.json" 2>/dev/null; then
        echo "$bin $mode: not supported"
        continue
      fi
      read -r wall rss < "$results.time"
      python3 - "$bin" "$mode" "$wall" "$rss" "$results.json" <<'PY' | tee -a "$results"
import json, sys
bin, mode, wall, rss, path = sys.argv[1:]
t = json.load(open(path))["timings"]
print(bin, mode, wall, int(rss) // 1024, t["walk_ms"], t["graph_ms"], t["total_ms"])
PY
    done
  done
done
echo "# medians: build mode wall_s rss_mib walk_ms graph_ms total_ms"
python3 - "$results" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    bin, mode, *values = line.split()
    rows.setdefault((bin, mode), []).append([float(v) for v in values])
for (bin, mode), runs in rows.items():
    print(bin, mode, *[round(statistics.median(column), 2) for column in zip(*runs)])
PY
rm -f "$results" "$results.time" "$results.json"
