#!/usr/bin/env bash
# Quantizer timing on TinyLlama-1.1B layer shapes (bench/gptq_layer.cpp):
# Hessians (2048² and 5632²) of N calibration tokens (windows of 512), the
# factorizations, and classic GPTQ / MR-GPTQ of q/k/gate/down-shaped layers,
# with a whole-model estimate scaled to 65536 tokens.
# Usage: bench/gptq_layer.sh [build dir (default build/release)] [threads (2)] [tokens (65536)]
# The build dir must hold a Release libnibble.a (ninja -C <dir> nibble_lib).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
build=${1:-build/release}
threads=${2:-2}
tokens=${3:-65536}
bin="$build/gptq_layer_bench"
ninja -C "$build" nibble_lib > /dev/null
g++ -std=c++20 -O2 -I"$root/src" "$here/gptq_layer.cpp" "$build/libnibble.a" \
  $(pkg-config --libs sentencepiece icu-uc) -lpthread -o "$bin"
"$bin" "$threads" "$tokens"
