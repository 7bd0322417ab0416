// One head of attention, written once over the three primitives it is defined
// by (KernelTable::attend_head): each ISA instantiates it with its own
// dot / softmax / axpy, so its result is exactly what those calls give.
#pragma once
#include <cstdint>

namespace nb::kernels {

template <auto Dot, auto Softmax, auto Axpy>
void attend_head_with(float* out, const float* q, const float* k, const float* v, int64_t head_dim, int64_t n,
                      int64_t kv_stride, float scale, float* scores) {
  for (int64_t t = 0; t < n; ++t) scores[t] = Dot(q, k + t * kv_stride, head_dim) / scale;
  Softmax(scores, n);
  for (int64_t d = 0; d < head_dim; ++d) out[d] = 0.0f;
  for (int64_t t = 0; t < n; ++t) Axpy(out, scores[t], v + t * kv_stride, head_dim);
}

}  // namespace nb::kernels
