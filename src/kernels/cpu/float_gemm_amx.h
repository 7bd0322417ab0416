// F32 / F16 / BF16 weights × fp32 activations on the AMX-BF16 tile unit, from
// exact bf16 splits of both sides (float_gemm_amx.cpp says how); used by
// kernels/bf16_gemm.cpp, only when amx_bf16_ready(). Activation panels:
// `panels` (even) token panels of 16 tokens from t0, three parts (hi, mid,
// lo), part q of panel p, tile step s (32 inner values) at
// dst[((q * panels + p) * steps + s) * 512], each a 16 × 16 tile of bf16 pairs
// (row r, column n: values 32s + 2r and 32s + 2r + 1 of token t0 + 16p + n);
// zeros past k and for tokens at or past t_end.
#pragma once
#include <cstddef>
#include <cstdint>

namespace nb::kernels::cpu {

enum class FloatKind : uint8_t { F32, F16, BF16 };

// Panels [p0, p1) of the activation parts of x (rows xs floats apart).
void amx_pack_split_panels(const float* x, int64_t xs, int64_t t0, int64_t t_end, int64_t k, int64_t panels,
                           int64_t p0, int64_t p1, uint16_t* dst);
// y[t][r] = Σ_i w[r][i]·x[t][i] for rows [r0, r1) and the tokens [t0, t_end)
// of the packed panels xp; y[t][r] at y[t * ys + r].
void amx_split_matmul_rows(FloatKind kind, const char* w, size_t wrb, int64_t r0, int64_t r1, int64_t k,
                           const uint16_t* xp, int64_t panels, int64_t t0, int64_t t_end, float* y, int64_t ys);

}  // namespace nb::kernels::cpu
