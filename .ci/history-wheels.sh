#!/usr/bin/env bash
# Downloads successive releases of a real Python package (rich, ~25k lines, 10 releases from
# 10.0 to 13.9: files added, removed, rewritten) as wheels from PyPI into a cache directory and
# prints that directory. The history-replay soak test (tests/it/history_soak.rs) commits them
# one after another into a git repository and compares incremental with full indexes.
set -euo pipefail
versions=(10.0.0 10.7.0 10.16.2 11.2.0 12.0.0 12.6.0 13.0.0 13.3.5 13.6.0 13.9.4)
cache=${SEXTANT_CI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sextant-ci}/history-rich
mkdir -p "$cache"
for version in "${versions[@]}"; do
  wheel=$cache/rich-$version-py3-none-any.whl
  if [[ ! -f $wheel ]]; then
    python3 -m pip download --quiet --no-deps --only-binary=:all: "rich==$version" -d "$cache"
  fi
  [[ -f $wheel ]] || { echo "history-wheels: rich $version did not download as $wheel" >&2; exit 1; }
done
printf '%s\n' "${versions[@]}" >"$cache/versions.txt.tmp"
mv "$cache/versions.txt.tmp" "$cache/versions.txt"
echo "$cache"
