// Dense fp32 Cholesky routines for GPTQ's inverse-Hessian step
// (design/fp4-and-gptq.md §6.2 step 6): L = chol(H), H⁻¹ = (L·Lᵀ)⁻¹, U = upper
// Cholesky factor of H⁻¹. All arithmetic in fp32 like the reference (LAPACK
// spotrf/spotri on fp32 tensors); row-major n×n matrices.
//
// The versions taking a ThreadPool are blocked, vectorized and split over
// threads, and bit-identical to the scalar `_ref` versions: every element goes
// through the same fp32 operations in the same order (only independent
// elements are computed side by side), whatever the thread count.
#pragma once
#include <cstdint>
#include <vector>

#include "core/thread_pool.h"

namespace nb::quant {

// In place: A -> L (lower, upper part zeroed) with A = L·Lᵀ. Operation order of
// netlib spotrf('L') (blocked or not, the order per element is the same): for
// each element, A[i][j] minus L[j][k]·L[i][k] for k ascending, each product
// rounded; diagonal = sqrt; below it, multiplied by fl(1/L[j][j]).
// Returns false (A partly overwritten) if A is not numerically positive definite.
bool cholesky_lower(std::vector<float>& a, int64_t n, ThreadPool& pool);
bool cholesky_lower_ref(std::vector<float>& a, int64_t n);

// (L·Lᵀ)⁻¹ from the lower factor, as a full symmetric matrix, in the operation
// order of netlib spotri('L') = strtri + slauum (block size 64).
std::vector<float> cholesky_inverse(const std::vector<float>& l, int64_t n, ThreadPool& pool);
std::vector<float> cholesky_inverse_ref(const std::vector<float>& l, int64_t n);

// In place: A -> U (upper, lower part zeroed) with A = Uᵀ·U, in the operation
// order of netlib spotrf('U') (block size 64, recursive spotrf2 inside).
bool cholesky_upper(std::vector<float>& a, int64_t n, ThreadPool& pool);
bool cholesky_upper_ref(std::vector<float>& a, int64_t n);

// GPTQ step 5: H_jj += fl(percdamp · mean(diag H)), the mean summed in double
// and rounded to fp32 once.
void dampen_diagonal(std::vector<float>& h, int64_t n, float percdamp);

// GPTQ step 6: in place, H -> U = upper Cholesky factor of (chol(H)·chol(H)ᵀ)⁻¹.
// False if a factorization fails (H not numerically positive definite).
// lower (optional) receives L = chol(H).
bool upper_cholesky_of_inverse(std::vector<float>& h, int64_t n, ThreadPool& pool,
                               std::vector<float>* lower = nullptr);

}  // namespace nb::quant
