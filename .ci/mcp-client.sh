#!/usr/bin/env bash
# Installs the official MCP Python SDK (the `mcp` package from PyPI, v2 API) into a cached
# virtual environment and prints its python: the MCP server test (tests/it/serve_mcp.rs) drives
# `sextant serve` with it as a real client.
set -euo pipefail
version=2.3.0
venv=${SEXTANT_CI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sextant-ci}/mcp-$version
if ! "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('mcp') != '$version')" 2>/dev/null; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet "mcp==$version" >&2
fi
"$venv/bin/python" -c "import mcp.client.stdio" || { echo "mcp-client: mcp $version is not importable" >&2; exit 1; }
echo "$venv/bin/python"
