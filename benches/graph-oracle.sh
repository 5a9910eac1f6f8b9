#!/usr/bin/env bash
# The knowledge graph measured against a compiler-grade SCIP index of the same tree (issue 20).
#
#   benches/graph-oracle.sh REPO LANGUAGE [SEXTANT]
#
# LANGUAGE is `python` (scip-python) or `typescript` (scip-typescript); both come from npm
# through .ci/scip.sh. REPO is a checkout (a tree from benches/materialize.py will do; it is
# indexed in place, with its index in REPO/.sextant). SEXTANT defaults to this checkout's release
# build. Prints `sextant check-graph`: precision of the graph's call, reference and
# implementation edges and recall of the oracle's cross-file references, per language.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
repo=$(cd "$1" && pwd)
language=$2
if [[ $# -ge 3 ]]; then
  sextant=$3
else
  (cd "$here" && cargo build --release --quiet --bin sextant)
  sextant=$here/target/release/sextant
fi
bin=$(bash "$here/.ci/scip.sh")
oracle=$(mktemp -d)/index.scip
trap 'rm -rf "$(dirname "$oracle")"' EXIT
case $language in
  python)
    # scip-python needs a project version; without one it stops on some repositories.
    (cd "$repo" && "$bin/scip-python" index --quiet --project-name "$(basename "$repo")" \
      --project-version 0 --output "$oracle" . >&2)
    ;;
  typescript)
    (cd "$repo" && "$bin/scip-typescript" index --no-progress-bar --output "$oracle" >&2)
    ;;
  *)
    echo "graph-oracle: LANGUAGE is python or typescript, not $language" >&2
    exit 2
    ;;
esac
[[ -d $repo/.git ]] || git -C "$repo" init --quiet
"$sextant" index --vectors off --quiet "$repo"
"$sextant" check-graph --repo "$repo" --scip "$oracle"
