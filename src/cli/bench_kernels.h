// nibble bench --kernels (bench_kernels.cpp): each weight format's matmul
// kernel alone, one thread, weights in L2.
#pragma once
#include <string>

namespace nb::cli {

// types: comma-separated format names, or empty for every format nibble can
// write. Prints a markdown table; returns the exit code.
int run_kernel_bench(const std::string& types, int reps);

}  // namespace nb::cli
