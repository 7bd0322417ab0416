// AMX-INT8 prefill for int8 weights with one scale per block of KB codes
// times activations quantized in the same blocks: Q8_0 / Q4_0 × Q8_0 (KB =
// 32, kernels_avx512.cpp) and TQ2_0 / TQ1_0 × Q8_K (KB = 256,
// ternary_avx512.cpp). Call only when amx_int8_ready().
#pragma once
#include <cstddef>
#include <cstdint>

namespace nb::kernels::cpu {

// This thread's buffers for one row block of the weights (scratch slot 5):
// rb rows (a multiple of 16, about `bytes` of codes) of nb * kb codes, their
// nb scales per row, and the 256 floats amx_block_gemm needs.
struct AmxRowBlock {
  int64_t rb;
  int8_t* codes;
  float* dw;
  float* acc;
};
AmxRowBlock amx_row_block(int64_t nb, int kb, size_t bytes);

// Activation panels of Tp tokens (a multiple of 16) of nb blocks of kb codes.
inline size_t amx_block_panel_bytes(int64_t Tp, int64_t nb, int kb) { return size_t(Tp * nb) * size_t(kb); }
// Token t's block b: block_bytes bytes at xq + t * xrb + b * block_bytes,
// its kb codes at code_off; the block scale (fp16 when scale_f16, else fp32)
// at offset 0 goes to dx[b * Tp + t]. Tokens t >= T get zero codes and scales.
void amx_pack_block_panels(const char* xq, size_t xrb, size_t block_bytes, size_t code_off, bool scale_f16, int kb,
                           int64_t T, int64_t Tp, int64_t nb, int8_t* panels, float* dx);

// y[t * ys + r] = Σ_b float(Σ_j W[r][kb b + j] X[t][kb b + j]) * (dw[r][b] * dx[t][b]):
// the blocks in order, one rounding per product and per sum, exactly as the
// reference dots (formats/q8_0.cpp, q4_0.cpp, ternary.cpp) write it, for
// r < rows, t < T. W: rows_p (a multiple of 16) rows of nb * kb int8
// codes, contiguous; dw: rows_p × nb floats; acc: 256 floats of scratch.
void amx_block_gemm(int kb, const int8_t* W, const float* dw, int64_t rows, int64_t rows_p, const int8_t* panels,
                    const float* dx, int64_t T, int64_t Tp, int64_t nb, float* y, int64_t ys, float* acc);

}  // namespace nb::kernels::cpu
