// Matrix products of bf16 values with fp32 sums, on the AMX tile unit where
// the CPU has one. A product of two bf16 values is exact in fp32, so these
// equal an fp32 product of the same (bf16) values up to the order of the sums.
// The quantizer's calibration runs in this precision (weights and linear
// inputs rounded to bf16, as a bf16 PyTorch model computes); nothing else
// rounds to bf16 implicitly.
#pragma once
#include <cstdint>

#include "core/tensor.h"
#include "core/thread_pool.h"
#include "kernels/amx.h"  // amx_bf16_ready()
#include "kernels/ops.h"  // MatmulOut

namespace nb::kernels {

// x rounded to the nearest bf16 value (ties to even), kept as fp32.
float round_bf16(float x);
void round_bf16_rows(float* x, int64_t n);
// Every entry of the T×k block (rows x_stride apart) is a bf16 value.
bool all_bf16(const float* x, int64_t x_stride, int64_t T, int64_t k);

// Y[t][r] = Σ_k W[r][k]·X[t][k] for BF16 W and X of bf16 values, on AMX.
// Returns false, doing nothing, when AMX is not ready or the shape does not
// suit it (rows % 16, k % 32, T < 16); the caller then uses the fp32 kernels,
// which compute the same products.
bool matmul_bf16_amx(const TensorView& W, const float* X, int64_t x_stride, int64_t T, float* Y, int64_t y_stride,
                     ThreadPool& pool);

// Prefill of float weights: Y[t][r] = Σ_k W[r][k]·X[t][k] for every output
// (F32, F16 or BF16 weights of one width, sharing the fp32 input X) on the
// tile unit, from exact bf16 splits of both sides (kernels/cpu/
// float_gemm_amx.cpp): nothing is rounded to bf16, and the result equals the
// fp32 kernels' up to the order of the fp32 sums. Returns false, doing
// nothing, when AMX is not ready, T < kFloatAmxMinTokens, or an output's
// weight does not qualify; the caller then runs the fp32 kernels.
constexpr int64_t kFloatAmxMinTokens = 16;
bool matmul_float_amx(std::span<const MatmulOut> outs, const float* X, int64_t x_stride, int64_t T, ThreadPool& pool);

// G += bf16(X)ᵀ·bf16(X) for X [T][K] row-major: every (i, j ≤ i) of the K×K
// row-major G (entries above the diagonal may be written too; mirror the
// lower triangle before use). Each entry is computed by one thread in a fixed
// order, so G does not depend on the thread count. AMX where ready, else fp32
// over the rounded values.
void gram_bf16_accumulate(const float* X, int64_t T, int64_t K, float* G, ThreadPool& pool);

}  // namespace nb::kernels
