#!/usr/bin/env bash
# One build's costs on one tree, for the scale curve (1x, 10x, 100x) in RESULTS.md:
#
#   benches/scale-curve.sh TREE BIN FILE [ROUNDS]
#
# Indexes TREE cold into TREE/.sextant (`--vectors off`; set KEEP=1 to keep an index already
# there and skip the cold run), then ROUNDS times: a no-op run, one line appended to FILE
# (relative to TREE) and a walking run, another line and a run naming FILE with `--changed`;
# then ROUNDS x 4 one-shot `why-relevant` processes. Prints wall seconds and peak RSS (MiB)
# from /usr/bin/time, medians over the rounds. FILE is restored at the end. Run it on a quiet
# machine.
set -euo pipefail
tree=$(cd "$1" && pwd)
bin=$2
file=$3
rounds=${4:-3}
saved=$(mktemp)
cp "$tree/$file" "$saved"
trap 'cp "$saved" "$tree/$file"; rm -f "$saved"' EXIT
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
timed() { /usr/bin/time -f "%e %M" "$@" 2>&1 >/dev/null | tail -1; }
if [[ ${KEEP:-0} != 1 || ! -d $tree/.sextant ]]; then
  rm -rf "$tree/.sextant"
  read -r wall rss < <(timed "$bin" index "$tree" --vectors off --ci)
  echo "cold: ${wall} s, $((rss / 1024)) MiB"
fi
noop=() walk=() walk_rss=() named=() named_rss=()
for round in $(seq "$rounds"); do
  read -r wall _ < <(timed "$bin" index "$tree" --vectors off --ci)
  noop+=("$wall")
  echo "// scale-curve $round" >> "$tree/$file"
  read -r wall rss < <(timed "$bin" index "$tree" --vectors off --ci)
  walk+=("$wall") walk_rss+=("$rss")
  echo "// scale-curve $round named" >> "$tree/$file"
  read -r wall rss < <(timed "$bin" index "$tree" --vectors off --ci --changed "$tree/$file")
  named+=("$wall") named_rss+=("$rss")
done
m() { printf '%s\n' "$@" | median; }
echo "no-op: $(m "${noop[@]}") s"
echo "one file, walking: $(m "${walk[@]}") s, $(( $(m "${walk_rss[@]}") / 1024 )) MiB"
echo "one file, --changed: $(m "${named[@]}") s, $(( $(m "${named_rss[@]}") / 1024 )) MiB"
cp "$saved" "$tree/$file"
"$bin" index "$tree" --vectors off --ci >/dev/null
queries=()
for round in $(seq "$rounds"); do
  for task in "make the scheduler wake idle workers" "add a timeout to the http client request" \
    "fix the type checker crash on recursive aliases" "reduce memory of the tsdb head compaction"; do
    start=$(date +%s%N)
    (cd "$tree" && "$bin" why-relevant "$task" --vector-weight 0 >/dev/null)
    queries+=("$(( ($(date +%s%N) - start) / 1000000 ))")
  done
done
echo "why-relevant, one process: p50 $(m "${queries[@]}") ms over ${#queries[@]}"
