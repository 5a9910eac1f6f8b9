#!/usr/bin/env bash
# History replay, the long variant of tests/it/history_soak.rs: checks out STATES first-parent
# commits of a real repository, every STEP-th one, oldest first, in one work tree; after each
# checkout runs an incremental `sextant index` and a full index of the same tree in another
# directory, then asks why-relevant the same tasks of both and compares the files each lists
# (in order) and their scores. Prints one line per state and a total; exits 1 if any query
# failed or any answer differed.
#
#   benches/history-replay.sh BARE_OR_WORK_REPO [STATES=20] [STEP=100] [TASKS_FILE]
#
# SEXTANT names the binary (default target/release/sextant). TASKS_FILE has one task a line
# (default: a few tasks written for mypy).
set -euo pipefail
source_repo=$1
states=${2:-20}
step=${3:-100}
tasks_file=${4:-}
sextant=${SEXTANT:-$(pwd)/target/release/sextant}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [[ -n $tasks_file ]]; then
  mapfile -t tasks <"$tasks_file"
else
  tasks=(
    "fix crash when checking overloaded function with type variables"
    "support TypedDict keyword arguments in the constructor"
    "daemon: refresh the cache after a file is removed"
    "improve the error message for incompatible return value types"
    "mypyc: generate faster code for list comprehensions"
  )
fi

git clone -q --no-checkout "$source_repo" "$work/repo"
mapfile -t commits < <(git -C "$source_repo" rev-list --first-parent HEAD |
  awk -v step="$step" 'NR % step == 1' | head -n "$states" | tac)

failed=0
differed=0
compared=0
for commit in "${commits[@]}"; do
  git -C "$work/repo" checkout -q -f "$commit"
  git -C "$work/repo" clean -qfdx -e .sextant
  start=$(date +%s%N)
  "$sextant" index "$work/repo" --vectors off --quiet || failed=$((failed + 1))
  incremental_ms=$((($(date +%s%N) - start) / 1000000))
  rm -rf "$work/full"
  "$sextant" --index-dir "$work/full" index "$work/repo" --full --vectors off --quiet
  state_differed=0
  for task in "${tasks[@]}"; do
    compared=$((compared + 1))
    if ! "$sextant" why-relevant "$task" --repo "$work/repo" --json >"$work/a.json" 2>"$work/a.err"; then
      failed=$((failed + 1))
      echo "  FAILED: $task: $(tail -n 3 "$work/a.err")"
      continue
    fi
    "$sextant" --index-dir "$work/full" why-relevant "$task" --repo "$work/repo" --json >"$work/b.json"
    if ! python3 - "$work/a.json" "$work/b.json" <<'EOF'; then
import json, sys
a, b = (json.load(open(p))["files"] for p in sys.argv[1:3])
def close(x, y):
    return abs(x - y) <= 1e-4 * max(abs(x), abs(y), 1.0)
same = len(a) == len(b) and all(close(x["score"], y["score"]) for x, y in zip(a, b)) and all(
    any(x["path"] == y["path"] and close(x["score"], y["score"]) for y in b) for x in a)
if not same:
    print("  incremental:", [(x["path"], round(x["score"], 4)) for x in a][:15])
    print("  full:       ", [(x["path"], round(x["score"], 4)) for x in b][:15])
sys.exit(0 if same else 1)
EOF
      differed=$((differed + 1))
      state_differed=$((state_differed + 1))
    fi
  done
  echo "$(git -C "$work/repo" log -1 --format='%h %cs') incremental index ${incremental_ms} ms, ${state_differed} of ${#tasks[@]} answers differ"
done
echo "states: ${#commits[@]}, queries compared: $compared, failed: $failed, differed: $differed"
[[ $failed -eq 0 && $differed -eq 0 ]]
