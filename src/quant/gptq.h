// Classic GPTQ (IST-DASLab/gptq `fasterquant`) and round-to-nearest for INT4
// symmetric per-row groups — design/fp4-and-gptq.md §4.1 (variant A) and §6.2.
//
// Quantizer (reference quant.py, sym=True): per row of a group, xmin = min(0, min w),
// xmax = max(0, max w), xmax = max(|xmin|, xmax), xmin = -xmax only if xmin < 0,
// all-zero -> [-1, 1]; scale = (xmax - xmin)/maxq, zero = (maxq+1)/2;
// code = clamp(round_half_even(w/scale) + zero, 0, maxq); deq = scale·(code - zero).
// All arithmetic fp32 as in the reference.
#pragma once
#include <cstdint>
#include <vector>

#include "core/status.h"

namespace nb::quant {

struct GptqOptions {
  int bits = 4;                 // maxq = 2^bits - 1
  int64_t group_size = 128;     // -1: one group per row over all columns
  int64_t block_size = 128;     // lazy-batch width B
  float percdamp = 0.01f;       // damping = percdamp · mean(diag H)
  bool act_order = false;       // columns in order of decreasing diag H
  bool static_groups = false;   // group params fitted on the initial W in original column order
};

struct QuantizedInt {
  int64_t rows = 0, cols = 0, n_groups = 0;
  std::vector<uint8_t> codes;   // [rows, cols], original column order, 0..maxq
  std::vector<float> scales;    // [rows, n_groups]
  std::vector<float> zeros;     // [rows, n_groups]
  std::vector<float> deq;       // [rows, cols] = scale·(code - zero)
  std::vector<int32_t> perm;    // [cols] processing order (identity without act-order)
  std::vector<int32_t> g_idx;   // [cols] group of each original column
  double error = 0;             // reference's printed error Σ (w-q)²/U[c,c]² / 2 (GPTQ only)
};

// Round-to-nearest: the quantizer alone, fitted per group of `group_size` columns.
QuantizedInt rtn_quantize(const float* w, int64_t rows, int64_t cols, int64_t group_size, int bits = 4);

// GPTQ on W [rows, cols] (y = x·Wᵀ) with the layer Hessian H [cols, cols].
// Fails if the damped Hessian is not positive definite.
Result<QuantizedInt> gptq_quantize(const float* w, int64_t rows, int64_t cols, const float* h,
                                   const GptqOptions& opt);

}  // namespace nb::quant
