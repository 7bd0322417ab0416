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
#include "core/thread_pool.h"
#include "quant/prepared_hessian.h"

namespace nb::quant {

struct GptqOptions {
  int bits = 4;                 // maxq = 2^bits - 1
  int64_t group_size = 128;     // -1: one group per row over all columns
  int64_t block_size = 128;     // lazy-batch width B
  float percdamp = 0.01f;       // damping = percdamp · mean(diag H)
  bool act_order = false;       // columns in order of decreasing diag H
  bool static_groups = false;   // group params fitted on the initial W in original column order
  // Round each fitted scale to fp16 (clamped to ±65504) before any code is
  // computed with it, so that an INT4_Gx file (fp16 scale) decodes to exactly
  // the dequantized values. Off for the reference semantics (fp32 scales).
  bool fp16_scales = false;
  // Also compute Σ_r W_r·H·W_rᵀ with the damped H (layer_error.h), for the
  // relative error 2·error / energy; costs half a rows × cols × cols product.
  bool compute_energy = false;
  // On a failed Cholesky, round with U = I (FP-Quant's fallback: no error
  // feedback) and set QuantizedInt::cholesky_failed, instead of failing.
  bool fallback_to_rounding = false;
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
  double weight_energy = 0;     // Σ W·H·Wᵀ, damped H (GptqOptions::compute_energy; 0 if the Cholesky failed)
  bool cholesky_failed = false; // only with GptqOptions::fallback_to_rounding
};

// Round-to-nearest: the quantizer alone, fitted per group of `group_size` columns.
QuantizedInt rtn_quantize(const float* w, int64_t rows, int64_t cols, int64_t group_size, int bits = 4,
                          bool fp16_scales = false);

// GPTQ on W [rows, cols] (y = x·Wᵀ) with the layer Hessian H [cols, cols].
// Fails if the damped Hessian is not positive definite (unless fallback_to_rounding). Rows are split over the
// pool; the result does not depend on the thread count (`error` is summed per
// row, then over rows, in double: it may differ from the reference's order in
// the last digits).
// prepared: h already ordered, damped and factored with the same act_order and
// percdamp (prepared_hessian.h), shared between linears of one input; used only
// when no diagonal entry of h is zero (the classic dead-input fix changes H).
Result<QuantizedInt> gptq_quantize(const float* w, int64_t rows, int64_t cols, const float* h,
                                   const GptqOptions& opt, ThreadPool& pool,
                                   const PreparedHessian* prepared = nullptr);

}  // namespace nb::quant
