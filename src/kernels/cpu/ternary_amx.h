// AMX-INT8 tile kernel of the ternary prefill (ternary_avx512.cpp). Call only
// when amx_int8_ready().
#pragma once
#include <cstddef>
#include <cstdint>

namespace nb::kernels::cpu {

// Bytes of the activation panels for Tp tokens (a multiple of 32) of us codes
// (a multiple of 64).
inline size_t amx_panel_bytes(int64_t Tp, int64_t us) { return size_t(Tp) * size_t(us); }

// Packs rows t < Tp of X (xs bytes apart, us codes each) into the panels
// TDPBUSD reads as its B operand.
void amx_pack_code_panels(const int8_t* X, int64_t xs, int64_t Tp, int64_t us, int8_t* panels);

// acc[r * Tp + t] = Σ_k U[r][k] * X[t][k], exactly in int32, for r < rows (a
// multiple of 32; U rows us bytes apart, unsigned) and t < Tp (a multiple of
// 32), from the panels above.
void amx_ternary_sums(const uint8_t* U, int64_t us, int64_t rows, const int8_t* panels, int64_t Tp, int32_t* acc);

}  // namespace nb::kernels::cpu
