#!/usr/bin/env bash
# Assembles the scale benchmark's monorepo (~26M indexed lines) from real repositories and
# packages, never copies of one:
#   linux/       Linux 6.1 from Debian's linux-source-6.1 package, without drivers/ except
#                drivers/net (Debian's packaging adds a top-level `.gitignore` rule that ignores
#                the whole tree; it is removed, as upstream has none)
#   crates/      every crate in the local crates.io cache (sextant's own dependency tree,
#                `cargo fetch` fills it)
#   django/      the Django 5.1.4 sdist from PyPI
#   tokio/ mypy/ prometheus/ core/   the development benchmark's snapshots, from bare git
#                mirrors under MIRRORS (owner+name/repo), at their HEAD (pinned in RESULTS.md)
#
#   benches/monorepo.sh OUT [MIRRORS]
set -euo pipefail
out=$1
mirrors=${2:-/work/.mirror}
mkdir -p "$out"
out=$(cd "$out" && pwd)
if [[ ! -f /usr/src/linux-source-6.1.tar.xz ]]; then
  apt-get install -y -q linux-source-6.1 >/dev/null
fi
if [[ ! -d $out/linux ]]; then
  tmp=$(mktemp -d)
  tar -xf /usr/src/linux-source-6.1.tar.xz -C "$tmp"
  mv "$tmp/linux-source-6.1/drivers/net" "$tmp/net"
  rm -rf "$tmp/linux-source-6.1/drivers"
  mkdir -p "$tmp/linux-source-6.1/drivers"
  mv "$tmp/net" "$tmp/linux-source-6.1/drivers/net"
  python3 - "$tmp/linux-source-6.1/.gitignore" <<'PY'
import sys
path = sys.argv[1]
text = open(path).read().replace("/*\n!/debian/\n", "")
open(path, "w").write(text)
PY
  mv "$tmp/linux-source-6.1" "$out/linux"
  rm -rf "$tmp"
fi
if [[ ! -d $out/crates ]]; then
  mkdir -p "$out/crates"
  cp -r "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/* "$out/crates/"
fi
if [[ ! -d $out/django ]]; then
  tmp=$(mktemp -d)
  python3 -m pip download --quiet --no-deps --no-binary :all: django==5.1.4 -d "$tmp"
  tar -xzf "$tmp/Django-5.1.4.tar.gz" -C "$tmp"
  mv "$tmp/Django-5.1.4" "$out/django"
  rm -rf "$tmp"
fi
for mirror in tokio-rs+tokio python+mypy prometheus+prometheus vuejs+core; do
  name=${mirror#*+}
  [[ -d $out/$name ]] && continue
  mkdir -p "$out/$name"
  # A snapshot may lack a large test blob: what it has is extracted, the rest skipped.
  git --git-dir="$mirrors/$mirror/repo" archive HEAD | tar -x -C "$out/$name" || true
  echo "$mirror at $(git --git-dir="$mirrors/$mirror/repo" rev-parse HEAD)"
done
echo "monorepo at $out: $(find "$out" -type f | wc -l) files"
