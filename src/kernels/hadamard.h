// Block-diagonal Walsh–Hadamard rotation x <- x·H_k (design/fp4-and-gptq.md §7.2, §8):
// H_k = Sylvester(k)/√k in natural order (scipy's `hadamard`, Dao-AILab's
// fast_hadamard_transform), applied independently to each contiguous k-chunk of
// each row. H_k is symmetric and orthogonal, so the same call rotates weights
// offline (W·H_k per row of W) and activations online, and undoes itself.
#pragma once
#include <cstdint>

namespace nb::kernels {

// True when k is a power of two in [2, n] that divides n.
bool hadamard_block_ok(int64_t n, int64_t k);

// In place on rows × n fp32 values (row stride n): each k-chunk goes through the
// butterfly FWHT of §8 (h = 1, 2, …, k/2: (a, b) -> (a + b, a − b)), then every
// entry is multiplied once by fl32(1/√k). Requires hadamard_block_ok(n, k).
void hadamard_rows(float* x, int64_t rows, int64_t n, int64_t k);

// Scalar reference of the same butterfly (the oracle of any SIMD version).
void hadamard_rows_ref(float* x, int64_t rows, int64_t n, int64_t k);

// Dense reference for tests: each k-chunk y_j = fl32(Σ_i x_i·S[i][j]) summed
// sequentially over i in fp32 (S the ±1 Sylvester matrix), then × fl32(1/√k):
// the operation order of the reference `F.linear(x, hadamard(k)) * k**-0.5`.
// It differs from the butterfly only by rounding (a few entries by 1 ulp).
void hadamard_rows_dense(float* x, int64_t rows, int64_t n, int64_t k);

// fl32(1/√k), the final scale.
float hadamard_scale(int64_t k);

}  // namespace nb::kernels
