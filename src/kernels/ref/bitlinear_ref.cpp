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

namespace {
// r = 1 / sqrt(mean(v^2) + eps) for R rows (x_stride floats apart), each
// row's squares summed in order of k. bitlinear_rms is R = 1; the rows
// version runs 8 such chains side by side to fill the adder's latency. Both
// are this one expression, so every row's result has the same bits.
template <int64_t R>
void rms_chains(const float* X, int64_t x_stride, int64_t n, float eps, float* r) {
  float ss[R] = {};
  for (int64_t k = 0; k < n; ++k)
    for (int64_t j = 0; j < R; ++j) {
      const float v = X[j * x_stride + k];
      ss[j] += v * v;
    }
  for (int64_t j = 0; j < R; ++j) r[j] = 1.0f / std::sqrt(ss[j] / float(n) + eps);
}
}  // namespace

float bitlinear_rms(const float* v, int64_t n, float eps) {
  float r;
  rms_chains<1>(v, 0, n, eps, &r);
  return r;
}

void bitlinear_rms_rows(const float* X, int64_t x_stride, int64_t T, int64_t n, float eps, float* r) {
  int64_t t = 0;
  for (; t + 8 <= T; t += 8) rms_chains<8>(X + t * x_stride, x_stride, n, eps, r + t);
  for (; t < T; ++t) rms_chains<1>(X + t * x_stride, x_stride, n, eps, r + t);
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
