#!/usr/bin/env bash
# Ternary kernels on a Transformer: a TinyLlama-1.1B shape in llama.cpp's
# TQ1_0 and TQ2_0 (random weights), pp128 and tg64 with 2 threads.
# Usage: bench/ternary_llama.sh [build/release/nibble] [reps]
set -euo pipefail
nibble=${1:-build/release/nibble}
reps=${2:-3}
for type in tq1_0 tq2_0; do
  "$nibble" bench --random tinyllama-1.1b --type "$type" -p 128 -n 64 -r "$reps" -t 2
  echo
done
