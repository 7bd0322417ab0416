// AMX-INT8 tile kernel of the ternary prefill (ternary_avx512.cpp). Call only
// when amx_int8_ready().
#pragma once
#include <cstddef>
#include <cstdint>

namespace nb::kernels::cpu {

// Bytes of the activation panels for Tp tokens (a multiple of 32) of us codes
// (a multiple of 64).
inline size_t amx_panel_bytes(int64_t Tp, int64_t us) { return size_t(Tp) * size_t(us); }

// Packs Tp tokens of us codes into the panels TDPBUSD reads as its B
// operand: token t < T is k codes at X + t * xs, read in place; codes past
// k and tokens past T are zeros.
void amx_pack_code_panels(const int8_t* X, size_t xs, int64_t T, int64_t k, int64_t Tp, int64_t us, int8_t* panels);

// y[t * ys + r] = float(Σ_k U[r][k] * X[t][k] - qsum[t]) * scale[t], the sum
// exact in int32, for r < rows and t < T: U has rows_p rows (a multiple of 32,
// us bytes apart, unsigned trits c, zero rows past rows), the panels Tp
// tokens (a multiple of 32).
void amx_ternary_matmul(const uint8_t* U, int64_t us, int64_t rows, int64_t rows_p, const int8_t* panels, int64_t T,
                        int64_t Tp, const int32_t* qsum, const float* scale, float* y, int64_t ys);

}  // namespace nb::kernels::cpu
