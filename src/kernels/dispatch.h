// The (ISA, format) -> kernel table, filled once at start-up from the CPU
// features present. `nibble inspect --system` prints what was chosen.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/tensor.h"

namespace nb::kernels {

// Rows [r0, r1) of Y = W X for T activation rows already in W's dot format.
// w: row r at w + r * w_row_bytes. xq: row t at xq + t * xq_row_bytes.
// y: element (t, r) at y[t * y_stride + r].
using MatmulRowsFn = void (*)(const void* w, size_t w_row_bytes, int64_t r0, int64_t r1, int64_t k,
                              const void* xq, size_t xq_row_bytes, int64_t T, float* y, int64_t y_stride);
// The same for formats with one scale per tensor (TensorView::scale): each
// output is float(Σ integer products) * (activation row scale * w_scale).
using MatmulScaledRowsFn = void (*)(const void* w, size_t w_row_bytes, int64_t r0, int64_t r1, int64_t k,
                                    const void* xq, size_t xq_row_bytes, int64_t T, float* y, int64_t y_stride,
                                    float w_scale);
// Convert n fp32 values to an activation format (F32, Q8_0, Q8_K, ...).
using QuantizeRowFn = void (*)(const float* x, void* dst, int64_t n);

struct KernelTable {
  KernelTable() {
    for (FormatId& f : load_layout) f = FormatId::kCount;
  }
  std::string isa = "scalar";                 // e.g. "avx512-vnni"
  // The layout the matmul of each weight format would rather read, made once
  // at load time (ops.h with_kernel_layout): a format-table row that
  // rearranges it (AVX-512: Q8_0 -> Q8_0R), or kCount for the file's own.
  FormatId load_layout[size_t(FormatId::kCount)];
  MatmulRowsFn matmul[size_t(FormatId::kCount)] = {};
  // Who provided each matmul / matmul_scaled entry: the level that last
  // replaced it (dispatch.cpp stamps it; registering code only sets kernels).
  const char* matmul_isa[size_t(FormatId::kCount)] = {};
  MatmulScaledRowsFn matmul_scaled[size_t(FormatId::kCount)] = {};  // tensor-scale formats
  // Optional prefill (T > 1) entries whose fp32 sums run in another order
  // than matmul's (decode's), used only for FloatSums::AnyOrder (ops.h):
  // the 4-bit formats on the AMX tile unit (fp4_amx.cpp).
  MatmulRowsFn matmul_prefill[size_t(FormatId::kCount)] = {};
  // Optional decode (T = 1) entries for FloatSums::AnyOrder likewise: the
  // 4-bit formats on integer multiply-adds (w4_planes_avx512.cpp). They take
  // any T, token by token.
  MatmulRowsFn matmul_decode[size_t(FormatId::kCount)] = {};
  QuantizeRowFn quantize[size_t(FormatId::kCount)] = {};
  void (*rmsnorm)(float* out, const float* x, const float* w, int64_t n, float eps) = nullptr;
  // BitLinear steps 2-4 (ops.h bitlinear_codes).
  void (*bitlinear_codes)(const float* v, float r, const float* w_norm, int64_t n, int64_t n_codes,
                          void* dst) = nullptr;
  void (*softmax)(float* x, int64_t n) = nullptr;
  void (*swiglu)(float* out, const float* gate, const float* up, int64_t n) = nullptr;
  void (*sigmoid)(float* out, const float* x, int64_t n) = nullptr;
  float (*dot_f32)(const float* a, const float* b, int64_t n) = nullptr;
  void (*axpy_f32)(float* y, float a, const float* x, int64_t n) = nullptr;  // y += a * x
  // One head of attention over n positions (rows kv_stride apart):
  // scores[t] = dot_f32(q, k_t) / scale, softmax, out = 0 then axpy_f32(out, scores[t], v_t) for t ascending.
  // Optimized versions keep exactly those operations (out in registers).
  void (*attend_head)(float* out, const float* q, const float* k, const float* v, int64_t head_dim, int64_t n,
                      int64_t kv_stride, float scale, float* scores) = nullptr;

  void set_matmul(FormatId f, MatmulRowsFn fn) { matmul[size_t(f)] = fn; }
};

// The scalar table (ref/): the oracle.
const KernelTable& reference_table();
// The table in use: reference entries overwritten by the best ISA available.
const KernelTable& active_table();
// Force a table by name ("scalar", "avx2", "avx512", ...) for tests/benchmarks;
// returns false if that ISA is not available on this CPU.
bool select_isa(const std::string& isa);
// ISAs compiled in and supported by this CPU, best last.
std::string available_isas();

}  // namespace nb::kernels
