#!/usr/bin/env bash
# The MatMul-free issue's benchmark: random weights in the three released
# shapes, T2 and T1_6, decode (tg) with 1 and 2 threads against the read
# bandwidth measured in the same run, and prefill of 512 tokens.
# Usage: bench/mmfree.sh [build/release/nibble] [reps]
set -euo pipefail
nibble=${1:-build/release/nibble}
reps=${2:-3}
for shape in mmfree-370m mmfree-1.3b mmfree-2.7b; do
  for type in t2 t1_6; do
    "$nibble" bench --random "$shape" --type "$type" -p 512 -n 64 -r "$reps" -t 1,2
    echo
  done
done
