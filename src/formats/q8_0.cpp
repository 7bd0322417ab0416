// Q8_0: blocks of 32 int8 codes with one fp16 scale (layout in blocks.h).
// Encoding follows GGUF's reference quantizer so files nibble writes decode
// the same everywhere: d = max|x| / 127, q = round(x * (1/d)) with ties away
// from zero (roundf), d stored as fp16 (the codes use the unrounded d).
#include <cmath>

#include "core/half.h"
#include "formats/blocks.h"
#include "formats/rows.h"

namespace nb::formats {
namespace {

void q8_0_to_float(const void* src, float* dst, int64_t n) {
  const BlockQ8_0* b = static_cast<const BlockQ8_0*>(src);
  for (int64_t i = 0; i < n / kQK8_0; ++i) {
    const float d = fp16_to_f32(b[i].d);
    for (int j = 0; j < kQK8_0; ++j) dst[i * kQK8_0 + j] = d * float(b[i].qs[j]);
  }
}

void q8_0_from_float(const float* src, void* dst, int64_t n) {
  BlockQ8_0* b = static_cast<BlockQ8_0*>(dst);
  for (int64_t i = 0; i < n / kQK8_0; ++i) {
    const float* x = src + i * kQK8_0;
    float amax = 0.0f;
    for (int j = 0; j < kQK8_0; ++j) amax = std::fmax(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;  // all-zero block: d = 0, codes 0
    b[i].d = f32_to_fp16(d);
    for (int j = 0; j < kQK8_0; ++j) b[i].qs[j] = int8_t(std::roundf(x[j] * id));
  }
}

// Integer sum per block, then one fp32 multiply-add by both scales.
float q8_0_dot(const void* w, const void* a, int64_t n) {
  const BlockQ8_0* x = static_cast<const BlockQ8_0*>(w);
  const BlockQ8_0* y = static_cast<const BlockQ8_0*>(a);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK8_0; ++i) {
    int32_t isum = 0;
    for (int j = 0; j < kQK8_0; ++j) isum += int32_t(x[i].qs[j]) * int32_t(y[i].qs[j]);
    sum += float(isum) * (fp16_to_f32(x[i].d) * fp16_to_f32(y[i].d));
  }
  return sum;
}

}  // namespace

FormatTraits rows::q8_0() {
  return {FormatId::Q8_0, "q8_0", 8,           kQK8_0,         sizeof(BlockQ8_0), 0,
          FormatId::Q8_0, q8_0_to_float, q8_0_from_float, q8_0_dot};
}

}  // namespace nb::formats
