// The GPTQ column loop shared by classic GPTQ (gptq.cpp) and FP-Quant's GPTQ
// (fpq_gptq.cpp): design/fp4-and-gptq.md §6.2 step 7 and §6.5.
//
// Given U (upper Cholesky factor of the damped inverse Hessian, in processing
// order) and W (columns in processing order), for each block [i1, i2) of B
// columns: W1 = W[:, i1:i2]; for each column c = i1 + i: q = quantize(W1[:, i]),
// e = (W1[:, i] − q) / U[c][c], W1[:, i+1:] −= e ⊗ U[c, c+1:i2] (each product
// rounded, then subtracted); then the lazy-batch update of W[:, i2:] with
// Err1 · U[i1:i2, i2:] in one of the two reference orders (LazyUpdate).
//
// Every row is independent of every other row given U, so rows are split over
// the thread pool in fixed chunks and each element keeps the reference's own
// fp32 operation sequence: results do not depend on the thread count.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "core/thread_pool.h"

namespace nb::quant {

enum class LazyUpdate : uint8_t {
  // IST-DASLab/gptq: W[:, i2:] -= Err1.matmul(U[i1:i2, i2:]): each element's
  // dot is summed from 0 over the block (netlib sgemm, beta = 0), then subtracted.
  SubtractSum,
  // FP-Quant: W[:, i2:].addmm_(Err1, U[i1:i2, i2:], alpha=-1): netlib sgemm with
  // beta = 1 subtracts each product from the element in turn.
  SubtractEach,
};

// Quantizes processing column c for rows [r0, r1): w[(r - r0) * w_stride] is the
// current value of row r; writes the dequantized values to q[r - r0]. Called
// concurrently for disjoint row ranges; per-row state indexed by r is safe.
using QuantizeColumnFn =
    std::function<void(int64_t c, int64_t r0, int64_t r1, const float* w, int64_t w_stride, float* q)>;

struct GptqLoopOptions {
  int64_t block_size = 128;
  LazyUpdate lazy = LazyUpdate::SubtractSum;
};

// W [rows, cols] is updated in place: on return column c holds the dequantized
// value of column c (processing order). U is [cols, cols] row-major.
// row_loss[r] (size rows, may be empty) receives Σ_c fl(fl((w−q)²)/fl(d²))/2 in
// double for row r: the classic reference's printed error, summed by row.
void run_gptq_loop(float* W, int64_t rows, int64_t cols, const float* U, const GptqLoopOptions& opt,
                   const QuantizeColumnFn& quantize, std::vector<double>* row_loss, ThreadPool& pool);

}  // namespace nb::quant
