// INT4-gG: symmetric 4-bit integers with one fp16 scale per group of G = 32,
// 64 or 128 weights along K (layout in blocks.h). Spec: design/fp4-and-gptq.md
// §4.1, variant A (GPTQ / FP-Quant, the encoding behind the paper's INT4 rows):
//   s = amax / 7.5 (= 2 * amax / 15), q = clamp(RNE(x / s), -8, 7), x = q * s.
// The codes are computed with the fp32 s before it is stored as fp16 (GPTQ
// computes codes in fp32 and stores the scale in half precision). +amax gives
// 7.5 -> 8 -> clamped to 7 (0.933 amax), -amax gives -8. s is clamped to the
// largest finite fp16 (65504) first, so that huge groups saturate rather than
// store Inf. An all-zero group stores s = 0 and codes 8 (q = 0); GPTQ would
// store 2/15 there (its [-1, 1] fallback): the decoded weights are the same.
// Non-finite input: the group's scale becomes fp16 NaN (from_float cannot
// return an error; quantizers must check first).
//
// Dots take bf16 activations (dot type BF16, as the FP4 formats: fp4.cpp says
// why); each group's sum q * x is taken in double (exact products) and
// scaled once.
#include <cmath>
#include <cstring>

#include "core/half.h"
#include "formats/blocks.h"
#include "formats/rows.h"

namespace nb::formats {
namespace {

template <int G>
void int4_from_float(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockInt4<G>*>(dst);
  for (int64_t i = 0; i < n / G; ++i) {
    const float* x = src + i * G;
    float amax = 0.0f;
    bool finite = true;
    for (int k = 0; k < G; ++k) {
      finite = finite && std::isfinite(x[k]);
      amax = std::fmax(amax, std::fabs(x[k]));
    }
    std::memset(b[i].qs, 0x88, sizeof b[i].qs);  // q = 0 everywhere
    if (!finite) {
      b[i].d = 0x7E00;  // fp16 NaN
      continue;
    }
    float s = amax / 7.5f;
    if (s > 65504.0f) s = 65504.0f;
    b[i].d = f32_to_fp16(s);
    if (s == 0.0f) continue;
    for (int k = 0; k < G; ++k) {
      float q = std::nearbyint(x[k] / s);  // RNE in the default rounding mode
      q = std::fmin(7.0f, std::fmax(-8.0f, q));
      const int code = int(q) + 8;
      uint8_t& byte = b[i].qs[16 * (k / 32) + k % 16];
      byte = (k % 32) < 16 ? uint8_t((byte & 0xF0) | code) : uint8_t((byte & 0x0F) | (code << 4));
    }
  }
}

template <int G>
void int4_to_float(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockInt4<G>*>(src);
  for (int64_t i = 0; i < n / G; ++i) {
    const float d = fp16_to_f32(b[i].d);
    for (int k = 0; k < G; ++k) dst[i * G + k] = d * float(int4_code(b[i], k) - 8);
  }
}

template <int G>
float int4_dot(const void* w, const void* a, int64_t n) {
  const auto* b = static_cast<const BlockInt4<G>*>(w);
  double sum = 0.0;
  for (int64_t i = 0; i < n / G; ++i) {
    double acc = 0.0;
    for (int k = 0; k < G; ++k) acc += double(int4_code(b[i], k) - 8) * double(bf16_at(a, i * G + k));
    sum += acc * double(fp16_to_f32(b[i].d));
  }
  return float(sum);
}

template <int G>
FormatTraits int4_row(FormatId id, const char* name, int32_t gguf) {
  FormatTraits t{id, name, gguf, G, sizeof(BlockInt4<G>), 0, FormatId::BF16, int4_to_float<G>, int4_from_float<G>,
                 int4_dot<G>};
  t.scales[0] = {ScaleType::F16, offsetof(BlockInt4<G>, d)};
  return t;
}

}  // namespace

FormatTraits rows::int4_g32() { return int4_row<32>(FormatId::INT4_G32, "int4_g32", kPrivateGgufTypeBase + 4); }
FormatTraits rows::int4_g64() { return int4_row<64>(FormatId::INT4_G64, "int4_g64", kPrivateGgufTypeBase + 5); }
FormatTraits rows::int4_g128() { return int4_row<128>(FormatId::INT4_G128, "int4_g128", kPrivateGgufTypeBase + 6); }

}  // namespace nb::formats
