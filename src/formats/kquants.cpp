// Q4_K, Q5_K, Q6_K: llama.cpp's K-quant weight formats (layouts in blocks.h).
// nibble reads them (decode and dot against Q8_K activations) but does not
// write them, so from_float is nullptr.
//
// Dots work per super-block in integers, like the format intends:
//   Q4_K/Q5_K: d_a * (d * sum_j sc_j * sum(q * a) - dmin * sum_j m_j * sum(a))
//   Q6_K:      d_a * d * sum_j scale_j * sum((q - 32) * a)
// where sum(a) over a 32-value sub-block comes from two Q8_K bsums.
#include "core/half.h"
#include "formats/blocks.h"
#include "formats/rows.h"

namespace nb::formats {
namespace {

constexpr int kSub = 32;  // Q4_K/Q5_K sub-block length

// Code (0..15 or 0..31) of value i (0..255) of a Q4_K / Q5_K super-block.
// Each 64-value chunk c takes 32 bytes of qs: low nibbles first, then high.
int q4_k_code(const uint8_t* qs, int i) {
  const int c = i / 64, r = i % 64;
  const uint8_t byte = qs[c * 32 + r % 32];
  return r < 32 ? (byte & 0xF) : (byte >> 4);
}
int q5_k_code(const BlockQ5_K& b, int i) {
  const int c = i / 64, r = i % 64;
  const int bit = 2 * c + (r < 32 ? 0 : 1);
  const int high = (b.qh[r % 32] >> bit) & 1;
  return q4_k_code(b.qs, i) | (high << 4);
}
// Signed code (-32..31) of value i of a Q6_K super-block; see blocks.h.
int q6_k_code(const BlockQ6_K& b, int i) {
  const int h = i / 128, r = i % 128;
  const int l = r % 32, quarter = r / 32;  // quarter 0..3 picks nibble and qh bits
  const uint8_t* ql = b.ql + 64 * h;
  const uint8_t* qh = b.qh + 32 * h;
  const uint8_t lowbyte = ql[l + (quarter & 1) * 32];
  const int low = quarter < 2 ? (lowbyte & 0xF) : (lowbyte >> 4);
  const int high = (qh[l] >> (2 * quarter)) & 3;
  return (low | (high << 4)) - 32;
}
int q6_k_scale(const BlockQ6_K& b, int i) { return b.scales[8 * (i / 128) + (i % 128) / 16]; }

void q4_k_to_float(const void* src, float* dst, int64_t n) {
  const BlockQ4_K* b = static_cast<const BlockQ4_K*>(src);
  for (int64_t s = 0; s < n / kQK_K; ++s) {
    const float d = fp16_to_f32(b[s].d), dmin = fp16_to_f32(b[s].dmin);
    for (int j = 0; j < kQK_K / kSub; ++j) {
      uint8_t sc, m;
      get_scale_min_k4(j, b[s].scales, &sc, &m);
      const float scale = d * float(sc), min = dmin * float(m);
      for (int l = 0; l < kSub; ++l) {
        const int i = j * kSub + l;
        dst[s * kQK_K + i] = scale * float(q4_k_code(b[s].qs, i)) - min;
      }
    }
  }
}

void q5_k_to_float(const void* src, float* dst, int64_t n) {
  const BlockQ5_K* b = static_cast<const BlockQ5_K*>(src);
  for (int64_t s = 0; s < n / kQK_K; ++s) {
    const float d = fp16_to_f32(b[s].d), dmin = fp16_to_f32(b[s].dmin);
    for (int j = 0; j < kQK_K / kSub; ++j) {
      uint8_t sc, m;
      get_scale_min_k4(j, b[s].scales, &sc, &m);
      const float scale = d * float(sc), min = dmin * float(m);
      for (int l = 0; l < kSub; ++l) {
        const int i = j * kSub + l;
        dst[s * kQK_K + i] = scale * float(q5_k_code(b[s], i)) - min;
      }
    }
  }
}

void q6_k_to_float(const void* src, float* dst, int64_t n) {
  const BlockQ6_K* b = static_cast<const BlockQ6_K*>(src);
  for (int64_t s = 0; s < n / kQK_K; ++s) {
    const float d = fp16_to_f32(b[s].d);
    for (int i = 0; i < kQK_K; ++i)
      dst[s * kQK_K + i] = d * float(q6_k_scale(b[s], i)) * float(q6_k_code(b[s], i));
  }
}

// Shared by Q4_K and Q5_K: `code(i)` gives the unsigned code of value i.
template <class Block, class Code>
float k_dot(const Block& w, const BlockQ8_K& a, Code code) {
  int32_t sum_qa = 0;  // sum_j sc_j * sum(q * a)
  int32_t sum_ma = 0;  // sum_j m_j * sum(a)
  for (int j = 0; j < kQK_K / kSub; ++j) {
    uint8_t sc, m;
    get_scale_min_k4(j, w.scales, &sc, &m);
    int32_t qa = 0;
    for (int l = 0; l < kSub; ++l) qa += code(j * kSub + l) * int32_t(a.qs[j * kSub + l]);
    sum_qa += int32_t(sc) * qa;
    sum_ma += int32_t(m) * (int32_t(a.bsums[2 * j]) + int32_t(a.bsums[2 * j + 1]));
  }
  return a.d * (fp16_to_f32(w.d) * float(sum_qa) - fp16_to_f32(w.dmin) * float(sum_ma));
}

float q4_k_dot(const void* w, const void* a, int64_t n) {
  const BlockQ4_K* x = static_cast<const BlockQ4_K*>(w);
  const BlockQ8_K* y = static_cast<const BlockQ8_K*>(a);
  float sum = 0.0f;
  for (int64_t s = 0; s < n / kQK_K; ++s)
    sum += k_dot(x[s], y[s], [&](int i) { return q4_k_code(x[s].qs, i); });
  return sum;
}

float q5_k_dot(const void* w, const void* a, int64_t n) {
  const BlockQ5_K* x = static_cast<const BlockQ5_K*>(w);
  const BlockQ8_K* y = static_cast<const BlockQ8_K*>(a);
  float sum = 0.0f;
  for (int64_t s = 0; s < n / kQK_K; ++s)
    sum += k_dot(x[s], y[s], [&](int i) { return q5_k_code(x[s], i); });
  return sum;
}

float q6_k_dot(const void* w, const void* a, int64_t n) {
  const BlockQ6_K* x = static_cast<const BlockQ6_K*>(w);
  const BlockQ8_K* y = static_cast<const BlockQ8_K*>(a);
  float sum = 0.0f;
  for (int64_t s = 0; s < n / kQK_K; ++s) {
    int32_t isum = 0;  // |isum| <= 256 * 128 * 32 * 128, well inside int32
    for (int g = 0; g < kQK_K / 16; ++g) {
      int32_t qa = 0;
      for (int l = 0; l < 16; ++l) qa += q6_k_code(x[s], g * 16 + l) * int32_t(y[s].qs[g * 16 + l]);
      isum += q6_k_scale(x[s], g * 16) * qa;
    }
    sum += y[s].d * fp16_to_f32(x[s].d) * float(isum);
  }
  return sum;
}

}  // namespace

FormatTraits rows::q4_k() {
  return {FormatId::Q4_K, "q4_k", 12, kQK_K, sizeof(BlockQ4_K), 0, FormatId::Q8_K, q4_k_to_float, nullptr, q4_k_dot};
}
FormatTraits rows::q5_k() {
  return {FormatId::Q5_K, "q5_k", 13, kQK_K, sizeof(BlockQ5_K), 0, FormatId::Q8_K, q5_k_to_float, nullptr, q5_k_dot};
}
FormatTraits rows::q6_k() {
  return {FormatId::Q6_K, "q6_k", 14, kQK_K, sizeof(BlockQ6_K), 0, FormatId::Q8_K, q6_k_to_float, nullptr, q6_k_dot};
}

}  // namespace nb::formats
