// FP-Quant's per-layer relative error (get_relative_mse_error, spec §6.5):
//   ε = mean((Δ·H)∘Δ) / (mean((W·H)∘W) + 1e-6),  Δ = Q − W,
// with H the damped Hessian GPTQ used. Computing it directly costs two
// rows × cols × cols products, more than GPTQ itself; two identities make it
// cheap: GPTQ's quantized weights are Q = W − E·U (E the scaled errors of the
// column loop, U the upper Cholesky factor of H⁻¹), so Δ·H·Δᵀ = E·U·H·Uᵀ·Eᵀ =
// E·Eᵀ, the sum of the squared scaled errors the loop has anyway; and with
// H = L·Lᵀ the denominator is Σ_r ‖W_r·L‖², a triangular product (half a GEMM).
// Both hold exactly in exact arithmetic; in fp32 they agree with the direct
// formula to ~1e-7 relative on the golden layer (tests/golden/mrgptq_test.cpp).
#pragma once
#include <cstdint>

#include "core/thread_pool.h"

namespace nb::quant {

// The direct formula (for round-to-nearest, or when the Cholesky failed).
double relative_error_direct(const float* w, const float* q, int64_t rows, int64_t cols, const float* h,
                             ThreadPool& pool);

// Σ_r W_r·H·W_rᵀ from the lower Cholesky factor L of H (row-major, upper part zero).
double weight_energy(const float* w, int64_t rows, int64_t cols, const float* lower, ThreadPool& pool);

// ε from Σ (scaled errors)² and the energy Σ W·H·Wᵀ, over rows·cols entries.
inline double relative_error(double sum_sq_errors, double energy, int64_t count) {
  return (sum_sq_errors / double(count)) / (energy / double(count) + 1e-6);
}

}  // namespace nb::quant
