// Q4_0: blocks of 32 4-bit codes with one fp16 scale, x = d * (code - 8)
// (layout in blocks.h). Encoding follows GGUF's reference quantizer: the value
// m of largest magnitude (the first one, sign kept) maps to code 0, so
// d = m / -8; other codes are min(15, trunc(x/d + 8.5)). Because m maps to -8,
// the opposite extreme may reach +8, which the clamp turns into 7.
#include <algorithm>
#include <cmath>

#include "core/half.h"
#include "formats/blocks.h"
#include "formats/rows.h"

namespace nb::formats {
namespace {

constexpr int kHalf = kQK4_0 / 2;

void q4_0_to_float(const void* src, float* dst, int64_t n) {
  const BlockQ4_0* b = static_cast<const BlockQ4_0*>(src);
  for (int64_t i = 0; i < n / kQK4_0; ++i) {
    const float d = fp16_to_f32(b[i].d);
    float* y = dst + i * kQK4_0;
    for (int j = 0; j < kHalf; ++j) {
      y[j] = d * float(int(b[i].qs[j] & 0xF) - 8);
      y[j + kHalf] = d * float(int(b[i].qs[j] >> 4) - 8);
    }
  }
}

void q4_0_from_float(const float* src, void* dst, int64_t n) {
  BlockQ4_0* b = static_cast<BlockQ4_0*>(dst);
  for (int64_t i = 0; i < n / kQK4_0; ++i) {
    const float* x = src + i * kQK4_0;
    float amax = 0.0f, m = 0.0f;
    for (int j = 0; j < kQK4_0; ++j) {
      if (std::fabs(x[j]) > amax) {  // strict: the first of equal magnitudes wins
        amax = std::fabs(x[j]);
        m = x[j];
      }
    }
    const float d = m / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;  // all-zero block: every code is 8
    b[i].d = f32_to_fp16(d);
    for (int j = 0; j < kHalf; ++j) {
      // x * id + 8.5 lies in [0.5, 16.5], so the int8 cast is a floor.
      const int lo = std::min(15, int(int8_t(x[j] * id + 8.5f)));
      const int hi = std::min(15, int(int8_t(x[j + kHalf] * id + 8.5f)));
      b[i].qs[j] = uint8_t(lo | (hi << 4));
    }
  }
}

float q4_0_dot(const void* w, const void* a, int64_t n) {
  const BlockQ4_0* x = static_cast<const BlockQ4_0*>(w);
  const BlockQ8_0* y = static_cast<const BlockQ8_0*>(a);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK4_0; ++i) {
    int32_t isum = 0;
    for (int j = 0; j < kHalf; ++j) {
      isum += (int32_t(x[i].qs[j] & 0xF) - 8) * int32_t(y[i].qs[j]);
      isum += (int32_t(x[i].qs[j] >> 4) - 8) * int32_t(y[i].qs[j + kHalf]);
    }
    sum += float(isum) * (fp16_to_f32(x[i].d) * fp16_to_f32(y[i].d));
  }
  return sum;
}

}  // namespace

static_assert(kQK4_0 == kQK8_0, "Q4_0 dots pair each Q4_0 block with one Q8_0 block");

FormatTraits rows::q4_0() {
  FormatTraits t{FormatId::Q4_0, "q4_0", 2,           kQK4_0,         sizeof(BlockQ4_0), 0,
                 FormatId::Q8_0, q4_0_to_float, q4_0_from_float, q4_0_dot};
  t.scales[0] = {ScaleType::F16, offsetof(BlockQ4_0, d)};
  return t;
}

}  // namespace nb::formats
