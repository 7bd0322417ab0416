#!/usr/bin/env bash
# Builds and runs every test: release build (unit + golden; tests named
# *Slow* only with NIBBLE_SLOW=1), the unit tests under ASan+UBSan, and each fuzz target for a
# bounded time. Set NIBBLE_SLOW=1 to run the slow tests too.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)

echo "== release build"
cmake --preset release "${launcher[@]}" >/dev/null
cmake --build build/release -j "$jobs"
# Golden tests run the binary with 2 threads each, so they run one at a time
# (oversubscribing 2 cores would only measure the scheduler).
echo "== unit tests"
ctest --preset release -j "$jobs" -L unit
echo "== golden tests"
ctest --preset release -j 1 -L golden
if [ "${NIBBLE_SLOW:-0}" = 1 ]; then
  echo "== slow tests"
  ctest --preset release -j 1 -L slow
fi

echo "== unit tests under AddressSanitizer + UBSan"
cmake --preset asan "${launcher[@]}" >/dev/null
cmake --build build/asan -j "$jobs" --target unit_tests
ctest --preset asan -j "$jobs"

echo "== fuzz targets (bounded time each)"
cmake --preset fuzz "${launcher[@]}" >/dev/null
cmake --build build/fuzz -j "$jobs" --target fuzzers
ctest --test-dir build/fuzz -L fuzz --output-on-failure
