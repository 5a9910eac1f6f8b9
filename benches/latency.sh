#!/usr/bin/env bash
# Two sextant binaries side by side on one work tree, interleaved so machine noise falls on
# both: why-relevant latency (whole process, and the load / rank / pack split it reports) over
# the subjects of the repository's last TASKS commits, and the cost of an incremental reindex
# after a one-line change to one file. Each binary keeps its own index directory (their
# formats may differ). Prints medians per binary.
#
#   benches/latency.sh WORK_TREE BINARY_A BINARY_B [ROUNDS=3] [TASKS=20] [CHANGED_FILE]
#
# CHANGED_FILE (relative to WORK_TREE) is appended to and restored; default: the tree's
# largest tracked file with a `.py`, `.rs` or `.go` extension.
set -euo pipefail
tree=$1
binaries=("$2" "$3")
rounds=${4:-3}
task_count=${5:-20}
changed=${6:-$(cd "$tree" && git ls-files -z '*.py' '*.rs' '*.go' | xargs -0 stat -c '%s %n' |
  sort -n | tail -n 1 | cut -d' ' -f2-)}
work=$(mktemp -d)
trap 'git -C "$tree" checkout -q -- "$changed"; rm -rf "$work"' EXIT
mapfile -t tasks < <(git -C "$tree" log --no-merges --format=%s -n "$task_count")

for i in 0 1; do
  "${binaries[$i]}" --index-dir "$work/index-$i" index "$tree" --vectors off --quiet
done

for round in $(seq "$rounds"); do
  for i in 0 1; do
    for task in "${tasks[@]}"; do
      start=$(date +%s%N)
      "${binaries[$i]}" --index-dir "$work/index-$i" why-relevant "$task" --repo "$tree" --json \
        >"$work/out.json"
      wall=$((($(date +%s%N) - start) / 1000000))
      python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["timings_ms"]; print(sys.argv[2], t["load"], t["rank"], t["pack"])' \
        "$work/out.json" "$wall" >>"$work/latency-$i"
    done
  done
  # One appended line in one file: each binary's incremental reindex, timed; then restored and
  # reindexed untimed so every round starts from the same tree.
  echo "# latency probe $round" >>"$tree/$changed"
  for i in 0 1; do
    start=$(date +%s%N)
    "${binaries[$i]}" --index-dir "$work/index-$i" index "$tree" --vectors off --quiet
    echo $((($(date +%s%N) - start) / 1000000)) >>"$work/reindex-$i"
  done
  git -C "$tree" checkout -q -- "$changed"
  for i in 0 1; do
    "${binaries[$i]}" --index-dir "$work/index-$i" index "$tree" --vectors off --quiet
  done
done

echo "tree: $tree; changed file: $changed; $rounds rounds of ${#tasks[@]} tasks"
for i in 0 1; do
  python3 - "$work/latency-$i" "$work/reindex-$i" "${binaries[$i]}" <<'EOF'
import statistics, sys
rows = [list(map(float, line.split())) for line in open(sys.argv[1])]
reindex = [int(line) for line in open(sys.argv[2])]
p50 = lambda values: statistics.median(values)
columns = list(zip(*rows))
print(f"{sys.argv[3]}: why-relevant p50 whole process {p50(columns[0]):.1f} ms "
      f"(load {p50(columns[1]):.1f}, rank {p50(columns[2]):.1f}, pack {p50(columns[3]):.1f}); "
      f"one-line reindex p50 {p50(reindex)} ms over {len(reindex)} runs")
EOF
done
