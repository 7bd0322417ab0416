// BitLinear's activation quantizer (../shared/design/matmulfree-lm.md §5.1):
// the fused RMSNorm + per-token int8 absmax quantization of upstream's
// FusedBitLinear, written out step by step in fp32.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/dispatch.h"
#include "kernels/ops.h"
#include "kernels/ref/ref_kernels.h"

namespace nb::kernels {

float bitlinear_rms(const float* v, int64_t n, float eps) {
  // 1. r = 1 / sqrt(mean(v^2) + eps), the squares summed in order of k
  float ss = 0.0f;
  for (int64_t k = 0; k < n; ++k) {
    const float x = v[k];
    ss += x * x;
  }
  return 1.0f / std::sqrt(ss / float(n) + eps);
}

void bitlinear_rms_rows(const float* X, int64_t x_stride, int64_t T, int64_t n, float eps, float* r) {
  // bitlinear_rms's chain for up to 8 rows side by side: each row's squares
  // are still summed in order of k, by the same expression, so each r[t] is
  // bitlinear_rms's bits; the 8 independent chains fill the adder's latency.
  constexpr int64_t kRows = 8;
  int64_t t = 0;
  for (; t + kRows <= T; t += kRows) {
    float ss[kRows] = {};
    for (int64_t k = 0; k < n; ++k)
      for (int64_t j = 0; j < kRows; ++j) {
        const float v = X[(t + j) * x_stride + k];
        ss[j] += v * v;
      }
    for (int64_t j = 0; j < kRows; ++j) r[t + j] = 1.0f / std::sqrt(ss[j] / float(n) + eps);
  }
  for (; t < T; ++t) r[t] = bitlinear_rms(X + t * x_stride, n, eps);
}

namespace ref {
void bitlinear_codes(const float* v, float r, const float* w_norm, int64_t n, int64_t n_codes, void* dst) {
  // 2-3. u = (v * r) * w_norm (norm weight BEFORE the absmax); s_a = 127 / max(max|u|, 1e-5)
  float a = 0.0f;
  for (int64_t k = 0; k < n; ++k) a = std::max(a, std::fabs((v[k] * r) * w_norm[k]));
  const float s_a = 127.0f / std::max(a, 1e-5f);
  const float row_scale = 1.0f / s_a;
  std::memcpy(dst, &row_scale, sizeof row_scale);
  // 4. q = round(u * s_a), ties away from zero (std::round, like libdevice roundf), clamped
  int8_t* q = static_cast<int8_t*>(dst) + sizeof(float);
  for (int64_t k = 0; k < n; ++k) {
    const float x = std::round(((v[k] * r) * w_norm[k]) * s_a);
    q[k] = int8_t(std::clamp(x, -128.0f, 127.0f));
  }
  for (int64_t k = n; k < n_codes; ++k) q[k] = 0;
}
}  // namespace ref

void bitlinear_codes(const float* v, float r, const float* w_norm, int64_t n, int64_t n_codes, void* dst) {
  active_table().bitlinear_codes(v, r, w_norm, n, n_codes, dst);
}

void bitlinear_quantize(const float* v, const float* w_norm, int64_t n, float eps, int64_t n_codes, void* dst) {
  bitlinear_codes(v, bitlinear_rms(v, n, eps), w_norm, n, n_codes, dst);
}

}  // namespace nb::kernels
