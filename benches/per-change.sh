#!/usr/bin/env bash
# What one changed file costs to reindex, for two builds side by side on the same corpus.
#
#   benches/per-change.sh CORPUS ROUNDS BIN_A [BIN_B]
#
# Each build gets its own index of CORPUS (built first, untimed). Then, ROUNDS times, one line
# is appended to a mid-sized source file and each build reindexes (alternating which goes
# first); the file is restored at the end. Then, once per build, a copy of that file is added
# under a new name and indexed, and removed and indexed (a file that comes and goes). Prints,
# per build, medians of the whole run and of its load (previous facts and graph) and commit
# phases, the peak RSS of the reindex, the no-op reindex, and the added and removed file. Run
# it on a quiet machine; nothing else should use the cores.
set -euo pipefail
corpus=$(cd "$1" && pwd)
rounds=$2
shift 2
bins=("$@")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

victim=$(cd "$corpus" && find . -type f \( -name '*.py' -o -name '*.rs' -o -name '*.go' -o -name '*.c' \) -size +8k -size -64k | sort | awk 'NR == 1')
cp "$corpus/$victim" "$work/victim"
added="$(dirname "$victim")/sextant_bench_added.${victim##*.}"
restore() { cp "$work/victim" "$corpus/$victim"; rm -f "$corpus/$added"; rm -rf "$work"; }
trap restore EXIT

for i in "${!bins[@]}"; do
  "${bins[$i]}" index "$corpus" --index-dir "$work/index-$i" --vectors off --ci >/dev/null
done
declare -A total load commit rss noop
for round in $(seq "$rounds"); do
  echo "# sextant per-change benchmark edit $round" >> "$corpus/$victim"
  order=("${!bins[@]}")
  (( round % 2 == 0 )) && order=($(printf '%s\n' "${order[@]}" | tac))
  for i in "${order[@]}"; do
    out=$( { /usr/bin/time -f 'RSS %M' "${bins[$i]}" index "$corpus" --index-dir "$work/index-$i" --vectors off --ci; } 2>&1 )
    json=$(echo "$out" | grep -v '^RSS ')
    read -r t l c < <(echo "$json" | python3 -c "import json,sys; d=json.load(sys.stdin)['timings']; print(d['total_ms'], d['load_ms'], d['commit_ms'])")
    total[$i]+="$t "; load[$i]+="$l "; commit[$i]+="$c "
    rss[$i]+="$(echo "$out" | awk '/^RSS /{print $2}') "
    noop[$i]+="$("${bins[$i]}" index "$corpus" --index-dir "$work/index-$i" --vectors off --ci | python3 -c "import json,sys; print(json.load(sys.stdin)['timings']['total_ms'])") "
  done
done
declare -A add remove
total_ms() { python3 -c "import json,sys; print(json.load(sys.stdin)['timings']['total_ms'])"; }
for i in "${!bins[@]}"; do
  cp "$corpus/$victim" "$corpus/$added"
  add[$i]=$("${bins[$i]}" index "$corpus" --index-dir "$work/index-$i" --vectors off --ci | total_ms)
  rm "$corpus/$added"
  remove[$i]=$("${bins[$i]}" index "$corpus" --index-dir "$work/index-$i" --vectors off --ci | total_ms)
done
echo "corpus: $corpus; changed file: $victim; $rounds rounds"
for i in "${!bins[@]}"; do
  m() { tr ' ' '\n' | grep -v '^$' | median; }
  echo "${bins[$i]}: one file $(echo "${total[$i]}" | m) ms (load $(echo "${load[$i]}" | m), commit $(echo "${commit[$i]}" | m)), peak RSS $(( $(echo "${rss[$i]}" | m) / 1024 )) MiB, no-op $(echo "${noop[$i]}" | m) ms, file added ${add[$i]} ms, removed ${remove[$i]} ms  [one file: ${total[$i]}]"
done
