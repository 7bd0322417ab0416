// FP-Quant's GPTQ (IST-DASLab/FP-Quant src/quantization/gptq.py, the quantizer
// behind MR-GPTQ) over nibble's 4-bit formats: design/fp4-and-gptq.md §6.5,
// §7.3, §7.4. Differences from classic GPTQ (gptq.h):
//  - every group scale is fixed once, before the loop, from the given W
//    (fpq_scales.h: observer minmax or mse, then the format's rounding);
//  - act-order is static: perm = stable argsort of diag H descending, taken
//    before any damping; each permuted column keeps its original group's scale;
//  - dead columns: columns of W that are entirely zero have their H row and
//    column zeroed and H_jj = 1. FP-Quant takes those indices from the
//    unpermuted W but applies them to the already-permuted H; with act-order
//    that is a different column. Reproduced as is (it only matters for all-zero
//    weight columns, which trained layers do not have);
//  - damping rel_damp·mean(diag H) after the permutation; a failed Cholesky
//    gives U = I (plain rounding with the frozen scales), flagged in the result;
//  - the lazy-batch update is addmm_(alpha = −1): each product is subtracted
//    from the weight in turn (LazyUpdate::SubtractEach).
// With no Hessian it is round-to-nearest with the same frozen scales.
#pragma once
#include <cstdint>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
#include "quant/fpq_scales.h"
#include "quant/prepared_hessian.h"

namespace nb::quant {

struct FpqGptqOptions {
  FormatId format = FormatId::MXFP4_FPQ;
  Observer observer = Observer::MinMax;
  bool act_order = false;       // FP-Quant's quantization_order = activation
  int64_t block_size = 128;
  float rel_damp = 0.01f;
  float nvfp4_global_scale = 0; // g; 0: fl(2688·fl(1/amax(W)))
  bool compute_rel_error = true; // costs about as much as GPTQ's own updates (layer_error.h)
};

struct FpqQuantized {
  int64_t rows = 0, cols = 0;
  // [rows, cols], original column order. FP4: E2M1 codes, 0x8 where a negative
  // value rounded to zero (the sign FP-Quant's deq keeps); INT4: q + 8.
  std::vector<uint8_t> codes;
  GroupScales scales;           // frozen before the loop
  std::vector<float> deq;       // [rows, cols] = value(code) · scale, bit-exact with FP-Quant
  std::vector<int32_t> perm;    // processing order (identity without act-order)
  bool cholesky_failed = false;
  // FP-Quant's get_relative_mse_error(deq, W, H) with H damped (and dead
  // columns masked) as after its GPTQ: mean((ΔH)∘Δ) / (mean((WH)∘W) + 1e-6),
  // Δ = deq − W (layer_error.h). 0 when no Hessian was given.
  double rel_error = 0;
};

// w: [rows, cols] fp32 (already rotated for MR-GPTQ); h: [cols, cols] or null (RTN).
// prepared: h already permuted, damped and factored with the same act_order and
// rel_damp (prepared_hessian.h), to share between linears of one input; it is
// ignored when W has all-zero columns (their masking makes H depend on W).
Result<FpqQuantized> fpq_quantize(const float* w, int64_t rows, int64_t cols, const float* h,
                                  const FpqGptqOptions& opt, ThreadPool& pool,
                                  const PreparedHessian* prepared = nullptr);

}  // namespace nb::quant
