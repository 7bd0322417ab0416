// Ternary formats: weights in {-1, 0, +1} times a scale.
//  - TQ1_0 / TQ2_0: llama.cpp's, a fp16 scale per 256 weights; dotted with
//    Q8_K activation blocks, as llama.cpp does.
//  - T2 / T1_6: nibble's, one fp32 scale per tensor kept outside the rows
//    (TensorView::scale); dotted with I8_ROW per-token activations in exact
//    integer arithmetic. Their to_float / from_float convert trits to and
//    from the unscaled values -1, 0, +1 (the scale is the loader's business).
// Layouts are in blocks.h.
#include <cmath>
#include <cstring>

#include "core/half.h"
#include "formats/blocks.h"
#include "formats/rearranged.h"
#include "formats/rows.h"

namespace nb::formats {
namespace {

// ---- TQ2_0
inline int tq2_trit(const BlockTQ2_0& b, int e) {
  int h = e / 128, r = e % 128;
  return (b.qs[32 * h + r % 32] >> (2 * (r / 32))) & 3;
}

void tq2_0_to_float(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockTQ2_0*>(src);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float d = fp16_to_f32(b[i].d);
    for (int e = 0; e < kQK_K; ++e) dst[i * kQK_K + e] = float(tq2_trit(b[i], e) - 1) * d;
  }
}

// d = max|x| of the block; trit = lroundf(x * (1/d)) + 1 (ties away from zero).
void tq2_0_from_float(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockTQ2_0*>(dst);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float* x = src + i * kQK_K;
    float amax = 0;
    for (int e = 0; e < kQK_K; ++e) amax = std::fmax(amax, std::fabs(x[e]));
    const float id = amax != 0 ? 1.0f / amax : 0.0f;
    std::memset(b[i].qs, 0, sizeof b[i].qs);
    for (int e = 0; e < kQK_K; ++e) {
      int t = int(std::lroundf(x[e] * id)) + 1;
      int h = e / 128, r = e % 128;
      b[i].qs[32 * h + r % 32] |= uint8_t(t << (2 * (r / 32)));
    }
    b[i].d = f32_to_fp16(amax);
  }
}

// ---- TQ2_0R (blocks.h): TQ2_0 blocks with the scales moved to the row's front.
BlockTQ2_0 tq2_0r_block(const uint8_t* row, int64_t nb, int64_t j) {
  BlockTQ2_0 b;
  std::memcpy(&b.d, row + 2 * j, 2);
  std::memcpy(b.qs, row + tq2_0r_codes_at(nb, j), sizeof b.qs);
  return b;
}

void tq2_0r_from_tq2_0(const void* src, void* dst, int64_t n) {
  const auto* b = static_cast<const BlockTQ2_0*>(src);
  uint8_t* row = static_cast<uint8_t*>(dst);
  const int64_t nb = n / kQK_K;
  for (int64_t j = 0; j < nb; ++j) {
    std::memcpy(row + 2 * j, &b[j].d, 2);
    std::memcpy(row + tq2_0r_codes_at(nb, j), b[j].qs, sizeof b[j].qs);
  }
}

// ---- TQ1_0
inline int tq1_trit(const BlockTQ1_0& b, int e) {
  if (e < 160) return unpack_trit(b.qs[e % 32], e / 32);
  if (e < 240) return unpack_trit(b.qs[32 + (e - 160) % 16], (e - 160) / 16);
  return unpack_trit(b.qh[(e - 240) % 4], (e - 240) / 4);
}

void tq1_0_to_float(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockTQ1_0*>(src);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float d = fp16_to_f32(b[i].d);
    for (int e = 0; e < kQK_K; ++e) dst[i * kQK_K + e] = float(tq1_trit(b[i], e) - 1) * d;
  }
}

void tq1_0_from_float(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockTQ1_0*>(dst);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float* x = src + i * kQK_K;
    float amax = 0;
    for (int e = 0; e < kQK_K; ++e) amax = std::fmax(amax, std::fabs(x[e]));
    const float id = amax != 0 ? 1.0f / amax : 0.0f;
    uint8_t t[kQK_K];
    for (int e = 0; e < kQK_K; ++e) t[e] = uint8_t(std::lroundf(x[e] * id) + 1);
    for (int m = 0; m < 32; ++m) {
      uint8_t g[5] = {t[m], t[32 + m], t[64 + m], t[96 + m], t[128 + m]};
      b[i].qs[m] = pack_trits5(g);
    }
    for (int m = 0; m < 16; ++m) {
      uint8_t g[5] = {t[160 + m], t[176 + m], t[192 + m], t[208 + m], t[224 + m]};
      b[i].qs[32 + m] = pack_trits5(g);
    }
    for (int j = 0; j < 4; ++j) {
      uint8_t g[5] = {t[240 + j], t[244 + j], t[248 + j], t[252 + j], 0};
      b[i].qh[j] = pack_trits5(g);
    }
    b[i].d = f32_to_fp16(amax);
  }
}

// Ternary block × Q8_K block: d_w * d_a * Σ (trit - 1) * q.
template <class Block, int (*Trit)(const Block&, int)>
float tq_dot(const void* w, const void* a, int64_t n) {
  const auto* wb = static_cast<const Block*>(w);
  const auto* ab = static_cast<const BlockQ8_K*>(a);
  float sum = 0;
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    int32_t acc = 0;
    for (int e = 0; e < kQK_K; ++e) acc += (Trit(wb[i], e) - 1) * ab[i].qs[e];
    sum += fp16_to_f32(wb[i].d) * ab[i].d * float(acc);
  }
  return sum;
}

using TQ2_0R = RearrangedRow<BlockTQ2_0, kQK_K, tq2_0r_block, tq2_0_to_float, tq2_0_from_float,
                             tq_dot<BlockTQ2_0, tq2_trit>, tq2_0r_from_tq2_0, BlockQ8_K>;

// ---- T2 and T1_6: trits of the unscaled values, per-tensor scale outside.
inline int t2_trit(const uint8_t* row, int64_t e) {
  const uint8_t* blk = row + (e / kQKT2) * sizeof(BlockT2);
  int k = int(e % kQKT2);
  return (blk[k % 32] >> (2 * (k / 32))) & 3;
}
inline int t1_6_trit(const uint8_t* row, int64_t e) {
  const uint8_t* blk = row + (e / kQKT1_6) * sizeof(BlockT1_6);
  int k = int(e % kQKT1_6);
  return unpack_trit(blk[k % 32], k / 32);
}

// Values must be ternary already; they are rounded to the nearest of -1, 0, +1.
inline uint8_t trit_of(float v) {
  float r = std::nearbyintf(v);
  return uint8_t(r > 0 ? 2 : (r < 0 ? 0 : 1));
}

template <int (*Trit)(const uint8_t*, int64_t)>
void t_to_float(const void* src, float* dst, int64_t n) {
  for (int64_t e = 0; e < n; ++e) dst[e] = float(Trit(static_cast<const uint8_t*>(src), e) - 1);
}

void t2_from_float(const float* src, void* dst, int64_t n) {
  const int64_t blocks = (n + kQKT2 - 1) / kQKT2;
  auto* out = static_cast<uint8_t*>(dst);
  std::memset(out, 0, size_t(blocks) * sizeof(BlockT2));
  for (int64_t e = 0; e < blocks * kQKT2; ++e) {
    uint8_t t = e < n ? trit_of(src[e]) : 1;  // padding is weight 0
    int k = int(e % kQKT2);
    out[(e / kQKT2) * sizeof(BlockT2) + k % 32] |= uint8_t(t << (2 * (k / 32)));
  }
}

void t1_6_from_float(const float* src, void* dst, int64_t n) {
  const int64_t blocks = (n + kQKT1_6 - 1) / kQKT1_6;
  auto* out = static_cast<uint8_t*>(dst);
  for (int64_t b = 0; b < blocks; ++b)
    for (int m = 0; m < 32; ++m) {
      uint8_t g[5];
      for (int t = 0; t < 5; ++t) {
        int64_t e = b * kQKT1_6 + 32 * t + m;
        g[t] = e < n ? trit_of(src[e]) : 1;
      }
      out[b * int64_t(sizeof(BlockT1_6)) + m] = pack_trits5(g);
    }
}

// Σ (trit - 1) * q over the n real elements of an I8_ROW activation row.
template <int (*Trit)(const uint8_t*, int64_t)>
int32_t t_dot_i32(const void* w, const void* a, int64_t n) {
  const int8_t* q = static_cast<const int8_t*>(a) + sizeof(float);
  int32_t acc = 0;
  for (int64_t e = 0; e < n; ++e) acc += (Trit(static_cast<const uint8_t*>(w), e) - 1) * int32_t(q[e]);
  return acc;
}

// The generic dot leaves out the tensor scale (the row does not hold it).
template <int (*Trit)(const uint8_t*, int64_t)>
float t_dot(const void* w, const void* a, int64_t n) {
  float s;
  std::memcpy(&s, a, sizeof s);
  return float(t_dot_i32<Trit>(w, a, n)) * s;
}

}  // namespace

FormatTraits rows::tq1_0() {
  FormatTraits t{FormatId::TQ1_0, "tq1_0", 34, kQK_K, sizeof(BlockTQ1_0), 0, FormatId::Q8_K,
                 tq1_0_to_float, tq1_0_from_float, tq_dot<BlockTQ1_0, tq1_trit>};
  t.scales[0] = {ScaleType::F16, offsetof(BlockTQ1_0, d)};
  return t;
}

FormatTraits rows::tq2_0() {
  FormatTraits t{FormatId::TQ2_0, "tq2_0", 35, kQK_K, sizeof(BlockTQ2_0), 0, FormatId::Q8_K,
                 tq2_0_to_float, tq2_0_from_float, tq_dot<BlockTQ2_0, tq2_trit>};
  t.scales[0] = {ScaleType::F16, offsetof(BlockTQ2_0, d)};
  return t;
}

FormatTraits rows::tq2_0r() {
  FormatTraits t{FormatId::TQ2_0R, "tq2_0r", -1, kQK_K, sizeof(BlockTQ2_0), 0, FormatId::Q8_K,
                 TQ2_0R::to_float, TQ2_0R::from_float, TQ2_0R::dot};
  t.rearranges = FormatId::TQ2_0;
  t.rearrange = tq2_0r_from_tq2_0;
  t.aligned_at = [](int64_t n) { return tq2_0r_codes_at(n / kQK_K, 0); };
  return t;
}

FormatTraits rows::t2() {
  FormatTraits t{FormatId::T2, "t2", kPrivateGgufTypeBase + 0, kQKT2, sizeof(BlockT2), 0, FormatId::I8_ROW,
                 t_to_float<t2_trit>, t2_from_float, t_dot<t2_trit>};
  t.pads_rows = true;
  t.tensor_scale = true;
  t.dot_i32 = t_dot_i32<t2_trit>;
  return t;
}

FormatTraits rows::t1_6() {
  FormatTraits t{FormatId::T1_6, "t1_6", kPrivateGgufTypeBase + 1, kQKT1_6, sizeof(BlockT1_6), 0, FormatId::I8_ROW,
                 t_to_float<t1_6_trit>, t1_6_from_float, t_dot<t1_6_trit>};
  t.pads_rows = true;
  t.tensor_scale = true;
  t.dot_i32 = t_dot_i32<t1_6_trit>;
  return t;
}

}  // namespace nb::formats
