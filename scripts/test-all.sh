#!/usr/bin/env bash
# Builds and runs every test: release build (unit + golden, the CI subset of
# slow tests), the unit tests under ASan+UBSan, and each fuzz target for a
# bounded time. Set NIBBLE_SLOW=1 to run the slow tests too.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)

echo "== release build"
cmake --preset release "${launcher[@]}" >/dev/null
cmake --build build/release -j "$jobs"
echo "== unit and golden tests"
if [ "${NIBBLE_SLOW:-0}" = 1 ]; then
  ctest --preset release -j "$jobs"
else
  ctest --preset release -j "$jobs" -LE slow
fi

echo "== unit tests under AddressSanitizer + UBSan"
cmake --preset asan "${launcher[@]}" >/dev/null
cmake --build build/asan -j "$jobs" --target unit_tests
ctest --preset asan -j "$jobs"

echo "== fuzz targets (bounded time each)"
cmake --preset fuzz "${launcher[@]}" >/dev/null
cmake --build build/fuzz -j "$jobs"
ctest --test-dir build/fuzz -L fuzz --output-on-failure
