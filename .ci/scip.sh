#!/usr/bin/env bash
# Installs Sourcegraph's SCIP indexers for Python and TypeScript (npm packages
# @sourcegraph/scip-python and @sourcegraph/scip-typescript, run with the machine's Node) into a
# cached directory and prints the directory holding their commands: `sextant check-graph`
# measures the knowledge graph against the indexes they write (benches/graph-oracle.sh).
set -euo pipefail
python_version=0.6.6
typescript_version=0.4.0
dir=${SEXTANT_CI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sextant-ci}/scip-$python_version-$typescript_version
if [ ! -x "$dir/node_modules/.bin/scip-python" ] || [ ! -x "$dir/node_modules/.bin/scip-typescript" ]; then
  rm -rf "$dir"
  mkdir -p "$dir"
  npm install --silent --no-audit --no-fund --prefix "$dir" \
    "@sourcegraph/scip-python@$python_version" "@sourcegraph/scip-typescript@$typescript_version" >&2
fi
echo "$dir/node_modules/.bin"
