// Q8_K: the activation format K-quant dots run against (layout in blocks.h).
// Encoding follows GGUF's reference quantizer: the value m of largest magnitude
// (sign kept) maps to -127, i.e. iscale = -127/m and d = 1/iscale; codes are
// round-half-to-even(iscale * x) clamped to 127 (the opposite extreme could
// reach +128). bsums hold the sum of each 16 codes so that K-quant dots can
// fold the sub-block minimums without touching the codes again.
#include <cmath>
#include <cstring>

#include "formats/blocks.h"
#include "formats/rows.h"

namespace nb::formats {
namespace {

void q8_k_to_float(const void* src, float* dst, int64_t n) {
  const BlockQ8_K* b = static_cast<const BlockQ8_K*>(src);
  for (int64_t i = 0; i < n / kQK_K; ++i)
    for (int j = 0; j < kQK_K; ++j) dst[i * kQK_K + j] = b[i].d * float(b[i].qs[j]);
}

void q8_k_from_float(const float* src, void* dst, int64_t n) {
  BlockQ8_K* b = static_cast<BlockQ8_K*>(dst);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float* x = src + i * kQK_K;
    float amax = 0.0f, m = 0.0f;
    for (int j = 0; j < kQK_K; ++j) {
      if (std::fabs(x[j]) > amax) {
        amax = std::fabs(x[j]);
        m = x[j];
      }
    }
    if (amax == 0.0f) {
      std::memset(&b[i], 0, sizeof(BlockQ8_K));
      continue;
    }
    const float iscale = -127.0f / m;
    for (int j = 0; j < kQK_K; ++j) {
      // nearbyintf rounds half to even in the default rounding mode.
      const int v = int(std::nearbyintf(iscale * x[j]));
      b[i].qs[j] = int8_t(v > 127 ? 127 : v);
    }
    for (int g = 0; g < kQK_K / 16; ++g) {
      int sum = 0;
      for (int j = 0; j < 16; ++j) sum += b[i].qs[g * 16 + j];
      b[i].bsums[g] = int16_t(sum);
    }
    b[i].d = 1.0f / iscale;
  }
}

}  // namespace

FormatTraits rows::q8_k() {
  // Activation-only: no weight format stores Q8_K, so it has no dot of its own.
  return {FormatId::Q8_K, "q8_k", 15,           kQK_K,          sizeof(BlockQ8_K), 0,
          FormatId::Q8_K, q8_k_to_float, q8_k_from_float, nullptr};
}

}  // namespace nb::formats
