// Dense fp32 Cholesky routines for GPTQ's inverse-Hessian step
// (design/fp4-and-gptq.md §6.2 step 6): L = chol(H), H⁻¹ = (L·Lᵀ)⁻¹, U = upper
// Cholesky factor of H⁻¹. All arithmetic in fp32 like the reference (LAPACK
// spotrf/spotri on fp32 tensors); row-major n×n matrices.
#pragma once
#include <cstdint>
#include <vector>

namespace nb::quant {

// In place: A -> L (lower, upper part zeroed) with A = L·Lᵀ. Operation order of
// netlib spotrf('L') (blocked or not, the order per element is the same): for
// each element, A[i][j] minus L[j][k]·L[i][k] for k ascending, each product
// rounded; diagonal = sqrt; below it, multiplied by fl(1/L[j][j]).
// Returns false (A partly overwritten) if A is not numerically positive definite.
bool cholesky_lower(std::vector<float>& a, int64_t n);

// (L·Lᵀ)⁻¹ from the lower factor, as a full symmetric matrix, in the operation
// order of netlib spotri('L') = strtri + slauum (block size 64).
std::vector<float> cholesky_inverse(const std::vector<float>& l, int64_t n);

// In place: A -> U (upper, lower part zeroed) with A = Uᵀ·U, in the operation
// order of netlib spotrf('U') (block size 64, recursive spotrf2 inside).
bool cholesky_upper(std::vector<float>& a, int64_t n);

}  // namespace nb::quant
