#!/usr/bin/env bash
# The foundation issue's benchmark: a TinyLlama-1.1B-shaped model with random
# weights in F16, Q8_0 and Q4_0, prompt (pp128) and generation (tg64) speed
# with 1 and 2 threads, each with the memory read bandwidth measured in the
# same run. Usage: bench/llama_formats.sh [build/release/nibble] [reps]
set -euo pipefail
nibble=${1:-build/release/nibble}
reps=${2:-5}
for type in f16 q8_0 q4_0; do
  "$nibble" bench --random tinyllama-1.1b --type "$type" -p 128 -n 64 -r "$reps" -t 1,2
  echo
done
