// Q8_0: blocks of 32 int8 codes with one fp16 scale (layout in blocks.h).
// Encoding follows GGUF's reference quantizer so files nibble writes decode
// the same everywhere: d = max|x| / 127, q = round(x * (1/d)) with ties away
// from zero (roundf), d stored as fp16 (the codes use the unrounded d).
#include <cmath>
#include <cstring>

#include "core/half.h"
#include "formats/blocks.h"
#include "formats/rearranged.h"
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

// Q8_0R (blocks.h): block b of a row of nb blocks, back in Q8_0's layout.
BlockQ8_0 q8_0r_block(const uint8_t* row, int64_t nb, int64_t b) {
  BlockQ8_0 blk;
  std::memcpy(&blk.d, row + 2 * b, 2);
  std::memcpy(blk.qs, row + q8_0r_codes_at(nb, b, 0), 16);
  std::memcpy(blk.qs + 16, row + q8_0r_codes_at(nb, b, 1), 16);
  return blk;
}

void q8_0r_from_q8_0(const void* src, void* dst, int64_t n) {
  const BlockQ8_0* b = static_cast<const BlockQ8_0*>(src);
  uint8_t* row = static_cast<uint8_t*>(dst);
  const int64_t nb = n / kQK8_0;
  for (int64_t i = 0; i < nb; ++i) std::memcpy(row + 2 * i, &b[i].d, 2);  // the scales start the row
  for (int64_t b0 = 0; b0 < nb; b0 += kQ8_0RGroup) {  // group by group, as q8_0r_codes_at places them
    const int64_t m = nb - b0 < kQ8_0RGroup ? nb - b0 : kQ8_0RGroup;
    uint8_t* first = row + q8_0r_codes_at(nb, b0, 0);
    for (int64_t i = 0; i < m; ++i) {
      std::memcpy(first + 16 * i, b[b0 + i].qs, 16);
      std::memcpy(first + 16 * (m + i), b[b0 + i].qs + 16, 16);
    }
  }
}

using Q8_0R = RearrangedRow<BlockQ8_0, kQK8_0, q8_0r_block, q8_0_to_float, q8_0_from_float, q8_0_dot, q8_0r_from_q8_0,
                            BlockQ8_0>;

}  // namespace

FormatTraits rows::q8_0r() {
  FormatTraits t{FormatId::Q8_0R, "q8_0r",      -1,           kQK8_0,         sizeof(BlockQ8_0), 0,
                 FormatId::Q8_0,  Q8_0R::to_float, Q8_0R::from_float, Q8_0R::dot};
  t.rearranges = FormatId::Q8_0;
  t.rearrange = q8_0r_from_q8_0;
  t.aligned_at = [](int64_t n) { return q8_0r_codes_start(n / kQK8_0); };
  return t;
}

FormatTraits rows::q8_0() {
  FormatTraits t{FormatId::Q8_0, "q8_0", 8,           kQK8_0,         sizeof(BlockQ8_0), 0,
                 FormatId::Q8_0, q8_0_to_float, q8_0_from_float, q8_0_dot};
  t.scales[0] = {ScaleType::F16, offsetof(BlockQ8_0, d)};
  return t;
}

}  // namespace nb::formats
