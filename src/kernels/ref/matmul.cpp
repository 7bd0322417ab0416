// Reference matmul: every output is one call of the format's reference dot.
// This is the oracle the SIMD matmuls are tested against.
#include <array>
#include <cstring>
#include <utility>

#include "formats/format.h"
#include "kernels/ref/ref_kernels.h"

namespace nb::kernels::ref {
namespace {

// One instance per format, because MatmulRowsFn carries no context.
template <FormatId F>
void matmul_rows(const void* w, size_t w_row_bytes, int64_t r0, int64_t r1, int64_t k, const void* xq,
                 size_t xq_row_bytes, int64_t T, float* y, int64_t y_stride) {
  const auto dot = formats::traits(F).dot;
  const char* wb = static_cast<const char*>(w);
  const char* xb = static_cast<const char*>(xq);
  for (int64_t r = r0; r < r1; ++r)
    for (int64_t t = 0; t < T; ++t) y[t * y_stride + r] = dot(wb + r * w_row_bytes, xb + t * xq_row_bytes, k);
}

// y = float(acc) * (a_scale * w_scale): the product of the two scales once,
// then one rounding of the integer sum times it.
template <FormatId F>
void matmul_scaled_rows(const void* w, size_t w_row_bytes, int64_t r0, int64_t r1, int64_t k, const void* xq,
                        size_t xq_row_bytes, int64_t T, float* y, int64_t y_stride, float w_scale) {
  const auto dot = formats::traits(F).dot_i32;
  const char* wb = static_cast<const char*>(w);
  const char* xb = static_cast<const char*>(xq);
  for (int64_t r = r0; r < r1; ++r)
    for (int64_t t = 0; t < T; ++t) {
      float a_scale;
      std::memcpy(&a_scale, xb + t * xq_row_bytes, sizeof a_scale);
      y[t * y_stride + r] = float(dot(wb + r * w_row_bytes, xb + t * xq_row_bytes, k)) * (a_scale * w_scale);
    }
}

constexpr size_t kCount = size_t(FormatId::kCount);

template <size_t... I>
constexpr std::array<MatmulScaledRowsFn, kCount> all_scaled(std::index_sequence<I...>) {
  return {&matmul_scaled_rows<FormatId(I)>...};
}

template <size_t... I>
constexpr std::array<MatmulRowsFn, kCount> all_matmuls(std::index_sequence<I...>) {
  return {&matmul_rows<FormatId(I)>...};
}

}  // namespace

MatmulScaledRowsFn matmul_scaled_for(FormatId f) {
  static constexpr auto fns = all_scaled(std::make_index_sequence<kCount>{});
  if (size_t(f) >= kCount || formats::traits(f).dot_i32 == nullptr) return nullptr;
  return fns[size_t(f)];
}

MatmulRowsFn matmul_for(FormatId f) {
  static constexpr auto fns = all_matmuls(std::make_index_sequence<kCount>{});
  if (size_t(f) >= kCount || formats::traits(f).dot == nullptr) return nullptr;
  return fns[size_t(f)];
}

}  // namespace nb::kernels::ref
