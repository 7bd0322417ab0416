// A layer Hessian made ready for GPTQ's column loop (design/fp4-and-gptq.md
// §6.2 steps 4-6, §6.5): the processing order, H permuted and damped, and its
// factors. It depends on H and the options only, so the linears that read the
// same input (q/k/v, gate/up) can share one: HessianAccumulator::prepared()
// keeps the last one it made.
//
// Order of steps, shared by FP-Quant's and the classic GPTQ as long as no
// diagonal entry of H is zero (classic GPTQ first sets those to 1 — it then
// prepares its own): perm = stable argsort of diag H descending (act-order;
// else identity); Hp = H[perm][:, perm]; Hp_jj += percdamp·mean(diag Hp);
// L = chol(Hp); U = upper Cholesky factor of (L·Lᵀ)⁻¹. If a factorization
// fails, cholesky_failed is set and U = I (FP-Quant's fallback).
#pragma once
#include <cstdint>
#include <vector>

#include "core/thread_pool.h"

namespace nb::quant {

struct PreparedHessian {
  int64_t n = 0;
  bool act_order = false;
  float percdamp = 0;
  std::vector<int32_t> perm;   // processing order
  std::vector<float> damped;   // Hp, [n, n]
  std::vector<float> lower;    // L (empty if the factorization failed)
  std::vector<float> upper;    // U
  bool cholesky_failed = false;
};

PreparedHessian prepare_hessian(const float* h, int64_t n, bool act_order, float percdamp, ThreadPool& pool);

// Steps 5-6 on an already permuted (and possibly masked) Hp, in place into p.
void factor_prepared(PreparedHessian& p, ThreadPool& pool);

// Stable argsort of diag(H), descending (ties: lower index first).
std::vector<int32_t> descending_diagonal_order(const float* h, int64_t n);

}  // namespace nb::quant
