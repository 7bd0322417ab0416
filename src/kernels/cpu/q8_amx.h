// AMX-INT8 prefill for Q8_0 / Q4_0 weights × Q8_0 activations
// (kernels_avx512.cpp). Call only when amx_int8_ready().
#pragma once
#include <cstddef>
#include <cstdint>

namespace nb::kernels::cpu {

// Activation panels and scales of Tp tokens (a multiple of 32) of nb Q8_0
// blocks; xq rows xrb bytes apart; tokens t >= T get zero codes and scales.
inline size_t amx_q8_panel_bytes(int64_t Tp, int64_t nb) { return size_t(Tp * nb) * 32; }
void amx_pack_q8_panels(const char* xq, size_t xrb, int64_t T, int64_t Tp, int64_t nb, int8_t* panels, float* dx);

// y[t * ys + r] = Σ_b float(Σ_j W[r][32b + j] X[t][32b + j]) * (dw[r][b] * dx[t][b]),
// the blocks summed in order with one rounding per product and per sum,
// exactly as the reference dots (formats/q8_0.cpp, q4_0.cpp) write it, for
// r < rows, t < T. W: rows_p (a multiple of 32) rows of nb * 32 int8 codes,
// contiguous; dw: rows_p × nb floats; acc: 256 floats of scratch.
void amx_q8_gemm(const int8_t* W, const float* dw, int64_t rows, int64_t rows_p, const int8_t* panels,
                 const float* dx, int64_t T, int64_t Tp, int64_t nb, float* y, int64_t ys, float* acc);

}  // namespace nb::kernels::cpu
