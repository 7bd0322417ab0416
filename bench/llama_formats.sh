#!/usr/bin/env bash
# The foundation issue's benchmark: a TinyLlama-1.1B-shaped model with random
# weights, prompt (pp128) and generation (tg64) speed, each thread count with
# the memory read bandwidth measured in the same run; `nibble bench` prints
# decode tokens/s, the weight bytes streamed per second and their fraction of
# that bandwidth ("of BW"). A summary of all types follows at the end.
#
# Usage: bench/llama_formats.sh [nibble] [reps] [types...]
#   types: format names (f16 q8_0 q4_0 q4_k q5_k q6_k mxfp4 mxfp4_fpq nvfp4
#          int4_g32 int4_g64 int4_g128), or `4bit` (Q4_0, the baseline, beside
#          the weight-only 4-bit formats), `kquant` (Q4_0 beside llama.cpp's
#          K-quants) or `all`. Default: f16 q8_0 q4_0.
#   THREADS=2 bench/llama_formats.sh build/release/nibble 3 4bit
# THREADS (default 1,2), PROMPT (128) and GEN (64) set the bench flags.
set -euo pipefail
nibble=${1:-build/release/nibble}
reps=${2:-5}
shift $(($# < 2 ? $# : 2))
types=("$@")
case "${types[*]:-}" in
  "") types=(f16 q8_0 q4_0) ;;
  4bit) types=(q4_0 mxfp4 mxfp4_fpq nvfp4 int4_g32 int4_g64 int4_g128) ;;
  kquant) types=(q4_0 q4_k q5_k q6_k) ;;
  all) types=(f16 q8_0 q4_0 mxfp4 mxfp4_fpq nvfp4 int4_g32 int4_g64 int4_g128) ;;
esac
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for type in "${types[@]}"; do
  "$nibble" bench --random tinyllama-1.1b --type "$type" -p "${PROMPT:-128}" -n "${GEN:-64}" -r "$reps" \
    -t "${THREADS:-1,2}" | tee -a "$log"
  echo
done
# One table of every type's rows, decode (tg) first: the types side by side.
echo "Summary ($(date -u +%Y-%m-%dT%H:%M:%SZ), $reps repetitions; read BW probed just before and after each type's generation runs):"
echo
grep -m1 '^| model ' "$log"
grep -m1 '^| --- ' "$log"
grep '| tg[0-9]' "$log" || true
grep '| pp[0-9]' "$log" || true
