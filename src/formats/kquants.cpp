// Q4_K, Q5_K, Q6_K: llama.cpp's K-quant weight formats (layouts in blocks.h).
// nibble reads them (decode and dot against Q8_K activations) and writes them
// by rounding to nearest on a grid per sub-block (Q4_K/Q5_K: min/max refined
// by least squares; Q6_K: the largest magnitude at -32), scales to 6 or 8 bits.
//
// Dots work per super-block in integers, like the format intends:
//   Q4_K/Q5_K: d_a * (d * sum_j sc_j * sum(q * a) - dmin * sum_j m_j * sum(a))
//   Q6_K:      d_a * d * sum_j scale_j * sum((q - 32) * a)
// where sum(a) over a 32-value sub-block comes from two Q8_K bsums.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/half.h"
#include "formats/blocks.h"
#include "formats/rearranged.h"
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

// ---- encoders ---------------------------------------------------------------

// Nearest integer (ties to even, the default rounding mode) clamped to [lo, hi].
int nearest(float v, int lo, int hi) {
  const float r = std::nearbyint(v);
  return r <= float(lo) ? lo : r >= float(hi) ? hi : int(r);  // NaN -> hi
}

// The grid lo + step * q (q in 0..qmax, lo <= 0) for one Q4_K/Q5_K sub-block
// of 32 values: first [min(0, min x), max x] in qmax steps, then a few rounds
// of least squares (the step and offset that best fit the values given their
// codes, then the codes again), keeping the grid with the smallest squared error.
void fit_sub_block(const float* x, int qmax, float* step, float* lift) {
  float lo = 0.0f, hi = x[0];
  for (int l = 0; l < kSub; ++l) lo = std::min(lo, x[l]), hi = std::max(hi, x[l]);
  float s = (hi - lo) / float(qmax), best = INFINITY;
  *step = s;
  *lift = -lo;
  for (int round = 0; round < 4 && s > 0.0f; ++round) {
    double n = kSub, sq = 0, sqq = 0, sx = 0, sxq = 0, err = 0;
    for (int l = 0; l < kSub; ++l) {
      const int q = nearest((x[l] - lo) / s, 0, qmax);
      const double e = double(lo) + double(s) * q - double(x[l]);
      err += e * e;
      sq += q, sqq += double(q) * q, sx += x[l], sxq += double(x[l]) * q;
    }
    if (err < best) best = err, *step = s, *lift = -lo;
    const double det = n * sqq - sq * sq;
    if (det <= 0.0) break;
    double ns = (n * sxq - sq * sx) / det, nlo = (sx - ns * sq) / n;
    if (nlo > 0.0) nlo = 0.0, ns = sxq / sqq;  // the offset must stay at or below zero
    if (!(ns > 0.0)) break;
    s = float(ns), lo = float(nlo);
  }
}

// One Q4_K/Q5_K super-block: x ~ d * sc_j * q - dmin * m_j, q in 0..qmax.
// Each sub-block gets its grid (fit_sub_block); d and dmin make the largest
// sub-block step and minimum exact in 6 bits, the rest round.
// codes[i] receives q of value i.
void encode_k_grid(const float* x, int qmax, uint16_t* d16, uint16_t* dmin16, uint8_t* scales, uint8_t* codes) {
  constexpr int kSubs = kQK_K / kSub;
  float step[kSubs], lift[kSubs];
  float step_max = 0.0f, lift_max = 0.0f;
  for (int j = 0; j < kSubs; ++j) {
    fit_sub_block(x + j * kSub, qmax, &step[j], &lift[j]);
    step_max = std::max(step_max, step[j]);
    lift_max = std::max(lift_max, lift[j]);
  }
  *d16 = f32_to_fp16(step_max / 63.0f);
  *dmin16 = f32_to_fp16(lift_max / 63.0f);
  const float d = fp16_to_f32(*d16), dmin = fp16_to_f32(*dmin16);
  uint8_t sc[kSubs], m[kSubs];
  for (int j = 0; j < kSubs; ++j) {
    sc[j] = uint8_t(d > 0.0f ? nearest(step[j] / d, 0, 63) : 0);
    m[j] = uint8_t(dmin > 0.0f ? nearest(lift[j] / dmin, 0, 63) : 0);
    const float scale = d * float(sc[j]), min = dmin * float(m[j]);
    for (int l = 0; l < kSub; ++l)
      codes[j * kSub + l] = uint8_t(scale > 0.0f ? nearest((x[j * kSub + l] + min) / scale, 0, qmax) : 0);
  }
  // The inverse of get_scale_min_k4.
  for (int j = 0; j < 4; ++j) {
    scales[j] = uint8_t(sc[j] | (sc[j + 4] >> 4) << 6);
    scales[j + 4] = uint8_t(m[j] | (m[j + 4] >> 4) << 6);
    scales[j + 8] = uint8_t((sc[j + 4] & 0xF) | (m[j + 4] & 0xF) << 4);
  }
}

// Low nibbles of the codes into qs, in q4_k_code's order.
void put_nibbles_k(const uint8_t* codes, uint8_t* qs) {
  for (int c = 0; c < 4; ++c)
    for (int l = 0; l < 32; ++l)
      qs[c * 32 + l] = uint8_t((codes[c * 64 + l] & 0xF) | (codes[c * 64 + 32 + l] & 0xF) << 4);
}

void q4_k_from_float(const float* src, void* dst, int64_t n) {
  BlockQ4_K* b = static_cast<BlockQ4_K*>(dst);
  uint8_t codes[kQK_K];
  for (int64_t s = 0; s < n / kQK_K; ++s) {
    encode_k_grid(src + s * kQK_K, 15, &b[s].d, &b[s].dmin, b[s].scales, codes);
    put_nibbles_k(codes, b[s].qs);
  }
}

// The 5-bit codes into qs and qh, in q5_k_code's order.
void put_q5_k_codes(const uint8_t* codes, BlockQ5_K& b) {
  put_nibbles_k(codes, b.qs);
  std::memset(b.qh, 0, sizeof(b.qh));
  for (int i = 0; i < kQK_K; ++i) {
    const int c = i / 64, r = i % 64;
    b.qh[r % 32] |= uint8_t((codes[i] >> 4) << (2 * c + (r < 32 ? 0 : 1)));
  }
}

void q5_k_from_float(const float* src, void* dst, int64_t n) {
  BlockQ5_K* b = static_cast<BlockQ5_K*>(dst);
  uint8_t codes[kQK_K];
  for (int64_t s = 0; s < n / kQK_K; ++s) {
    encode_k_grid(src + s * kQK_K, 31, &b[s].d, &b[s].dmin, b[s].scales, codes);
    put_q5_k_codes(codes, b[s]);
  }
}

// The 6-bit codes (q6_k_code + 32) into ql and qh, in q6_k_code's order.
void put_q6_k_codes(const uint8_t* codes, BlockQ6_K& b) {
  std::memset(b.ql, 0, sizeof(b.ql));
  std::memset(b.qh, 0, sizeof(b.qh));
  for (int i = 0; i < kQK_K; ++i) {
    const int h = i / 128, r = i % 128, l = r % 32, quarter = r / 32;
    b.ql[64 * h + l + (quarter & 1) * 32] |= uint8_t((codes[i] & 0xF) << (quarter < 2 ? 0 : 4));
    b.qh[32 * h + l] |= uint8_t((codes[i] >> 4) << (2 * quarter));
  }
}

// Q6_K: x ~ d * scale_j * (q - 32) over sub-blocks of 16. Each sub-block's
// scale maps its largest-magnitude value to -32 (the end of the code range
// with room), d makes the largest |scale| exact in 8 bits.
void q6_k_from_float(const float* src, void* dst, int64_t n) {
  BlockQ6_K* b = static_cast<BlockQ6_K*>(dst);
  constexpr int kSubs = kQK_K / 16;
  for (int64_t s = 0; s < n / kQK_K; ++s) {
    const float* x = src + s * kQK_K;
    float scale[kSubs], amax = 0.0f;
    for (int j = 0; j < kSubs; ++j) {
      float big = 0.0f;
      for (int l = 0; l < 16; ++l)
        if (std::fabs(x[j * 16 + l]) > std::fabs(big)) big = x[j * 16 + l];
      scale[j] = big / -32.0f;
      amax = std::max(amax, std::fabs(scale[j]));
    }
    b[s].d = f32_to_fp16(amax / 127.0f);
    const float d = fp16_to_f32(b[s].d);
    uint8_t codes[kQK_K];
    for (int j = 0; j < kSubs; ++j) {
      b[s].scales[j] = int8_t(d > 0.0f ? nearest(scale[j] / d, -128, 127) : 0);
      const float step = d * float(b[s].scales[j]);
      for (int l = 0; l < 16; ++l)
        codes[j * 16 + l] = uint8_t((step != 0.0f ? nearest(x[j * 16 + l] / step, -32, 31) : 0) + 32);
    }
    put_q6_k_codes(codes, b[s]);
  }
}

// ---- Q4_KR / Q5_KR / Q6_KR (blocks.h): the same blocks, headers first, codes in kr_elem order

// The 256 codes of one block, element order, from its kr_elem-order code
// bytes: nibble_bytes (128 bytes, vectors 2h and 2h + 1 in chunk h) and high
// (Q6_KR's 64 bytes of top bits, or nullptr).
void kr_get_codes(const uint8_t* nibble_bytes, const uint8_t* high, uint8_t* codes) {
  for (int v = 0; v < 4; ++v)
    for (int l = 0; l < 16; ++l)
      for (int k = 0; k < 4; ++k) {
        const int b = 4 * l + k;
        int c = (nibble_bytes[64 * (v / 2) + b] >> (4 * (v % 2))) & 0xF;
        if (high) c |= ((high[b] >> (2 * v)) & 3) << 4;
        codes[kr_elem(v, l, k)] = uint8_t(c);
      }
}

int64_t q4_kr_codes_start(int64_t nb) { return kQ4_KRHeader * nb; }
int64_t q5_kr_codes_start(int64_t nb) { return kQ5_KRHeader * nb; }
int64_t q6_kr_codes_start(int64_t nb) { return kQ6_KRHeader * nb; }

BlockQ4_K q4_kr_block(const uint8_t* row, int64_t nb, int64_t i) {
  BlockQ4_K b;
  std::memcpy(&b, row + kQ4_KRHeader * i, kQ4_KRHeader);  // d, dmin, scales
  uint8_t codes[kQK_K];
  kr_get_codes(row + q4_kr_codes_start(nb) + kQ4_KRCodes * i, nullptr, codes);
  put_nibbles_k(codes, b.qs);
  return b;
}

// The rearrangements below read each code where q4_k_code / q6_k_code find
// element kr_elem(v, l, k) = 16 l + 4 v + k and write it where blocks.h
// places it, a byte or a bit at a time (they run at load, on every weight).
// Q4_K/Q5_K: that element is in qs[32 (l/4) + 16 (l%2) + 4 v + k], high nibble when l%4 >= 2.
// Four codes (one 32-bit lane) at a time: bytes k = 0..3 of a word.
uint32_t word_at(const uint8_t* p) {
  uint32_t w;
  std::memcpy(&w, p, 4);
  return w;
}
void put_word(uint8_t* p, uint32_t w) { std::memcpy(p, &w, 4); }

void q4_kr_nibbles(const uint8_t* qs, uint8_t* out) {
  for (int h = 0; h < 2; ++h)
    for (int l = 0; l < 16; ++l) {
      const uint8_t* q = qs + 32 * (l / 4) + 16 * (l % 2) + 8 * h;  // vector 2h; 2h + 1 is 4 bytes on
      const int shift = l % 4 >= 2 ? 4 : 0;
      put_word(out + 64 * h + 4 * l,
               ((word_at(q) >> shift) & 0x0F0F0F0Fu) | ((word_at(q + 4) >> shift) & 0x0F0F0F0Fu) << 4);
    }
}

void q4_kr_from_q4_k(const void* src, void* dst, int64_t n) {
  const BlockQ4_K* b = static_cast<const BlockQ4_K*>(src);
  uint8_t* row = static_cast<uint8_t*>(dst);
  const int64_t nb = n / kQK_K;
  for (int64_t i = 0; i < nb; ++i) {
    std::memcpy(row + kQ4_KRHeader * i, &b[i], kQ4_KRHeader);
    q4_kr_nibbles(b[i].qs, row + q4_kr_codes_start(nb) + kQ4_KRCodes * i);
  }
}

// Q5_KR's fifth bits: bit 64 v + 4 l + k of the 32 bytes for element kr_elem(v, l, k).
BlockQ5_K q5_kr_block(const uint8_t* row, int64_t nb, int64_t i) {
  BlockQ5_K b;
  const uint8_t* hdr = row + kQ5_KRHeader * i;
  std::memcpy(&b, hdr, 16);  // d, dmin, scales
  uint8_t codes[kQK_K];
  kr_get_codes(row + q5_kr_codes_start(nb) + kQ5_KRCodes * i, nullptr, codes);
  for (int v = 0; v < 4; ++v)
    for (int j = 0; j < 64; ++j) {
      const int e = kr_elem(v, j / 4, j % 4), bit = (hdr[16 + 8 * v + j / 8] >> (j % 8)) & 1;
      codes[e] = uint8_t(codes[e] | bit << 4);
    }
  put_q5_k_codes(codes, b);
  return b;
}

// Q5_K's fifth bit of that element: bit 2 (l/4) + (l%4 >= 2) of qh[16 (l%2) + 4 v + k].
void q5_kr_from_q5_k(const void* src, void* dst, int64_t n) {
  const BlockQ5_K* b = static_cast<const BlockQ5_K*>(src);
  uint8_t* row = static_cast<uint8_t*>(dst);
  const int64_t nb = n / kQK_K;
  for (int64_t i = 0; i < nb; ++i) {
    uint8_t* hdr = row + kQ5_KRHeader * i;
    std::memcpy(hdr, &b[i], 16);
    q4_kr_nibbles(b[i].qs, row + q5_kr_codes_start(nb) + kQ5_KRCodes * i);
    std::memset(hdr + 16, 0, 32);
    for (int v = 0; v < 4; ++v)
      for (int l = 0; l < 16; ++l) {
        // The four bytes' bits, one per byte at bit 0, then packed into 4 bits.
        const uint32_t m = (word_at(b[i].qh + 16 * (l % 2) + 4 * v) >> (2 * (l / 4) + (l % 4 >= 2 ? 1 : 0))) & 0x01010101u;
        const uint32_t bits4 = (m | m >> 7 | m >> 14 | m >> 21) & 0xF;
        hdr[16 + 8 * v + l / 2] |= uint8_t(bits4 << (4 * (l % 2)));
      }
  }
}

BlockQ6_K q6_kr_block(const uint8_t* row, int64_t nb, int64_t i) {
  BlockQ6_K b;
  std::memcpy(&b.d, row + kQ6_KRHeader * i, 2);
  std::memcpy(b.scales, row + kQ6_KRHeader * i + 2, 16);
  const uint8_t* c = row + q6_kr_codes_start(nb) + kQ6_KRCodes * i;
  uint8_t codes[kQK_K];
  kr_get_codes(c, c + 128, codes);
  put_q6_k_codes(codes, b);
  return b;
}

// Q6_K: element 16 l + 4 v + k has its low four bits in
// ql[64 (l/8) + 16 (l%2) + 4 v + k + 32 (q & 1)] (high nibble when q >= 2) and
// its top two in bits 2q.. of qh[32 (l/8) + 16 (l%2) + 4 v + k], q = (l%8) / 2.
void q6_kr_from_q6_k(const void* src, void* dst, int64_t n) {
  const BlockQ6_K* b = static_cast<const BlockQ6_K*>(src);
  uint8_t* row = static_cast<uint8_t*>(dst);
  const int64_t nb = n / kQK_K;
  for (int64_t i = 0; i < nb; ++i) {
    std::memcpy(row + kQ6_KRHeader * i, &b[i].d, 2);
    std::memcpy(row + kQ6_KRHeader * i + 2, b[i].scales, 16);
    uint8_t* c = row + q6_kr_codes_start(nb) + kQ6_KRCodes * i;
    for (int l = 0; l < 16; ++l) {
      const int q = (l % 8) / 2, at = 16 * (l % 2);
      const uint8_t* ql = b[i].ql + 64 * (l / 8) + at + 32 * (q & 1);
      const uint8_t* qh = b[i].qh + 32 * (l / 8) + at;
      uint32_t high = 0;
      for (int h = 0; h < 2; ++h) {  // vectors 2h and 2h + 1 share a nibble byte
        const uint32_t lo = (word_at(ql + 8 * h) >> (q >= 2 ? 4 : 0)) & 0x0F0F0F0Fu;
        const uint32_t hi = (word_at(ql + 8 * h + 4) >> (q >= 2 ? 4 : 0)) & 0x0F0F0F0Fu;
        put_word(c + 64 * h + 4 * l, lo | hi << 4);
      }
      for (int v = 0; v < 4; ++v) high |= ((word_at(qh + 4 * v) >> (2 * q)) & 0x03030303u) << (2 * v);
      put_word(c + 128 + 4 * l, high);
    }
  }
}

// The format row of a rearranged K-quant: Row's reference functions, the
// codes starting after the nb headers of kHeader bytes.
template <class Row, class Block, int64_t kHeader>
FormatTraits kr_row(FormatId id, const char* name, FormatId file, void (*rearrange)(const void*, void*, int64_t)) {
  FormatTraits t{id, name, -1, kQK_K, sizeof(Block), 0, FormatId::Q8_K, Row::to_float, Row::from_float, Row::dot};
  t.rearranges = file;
  t.rearrange = rearrange;
  t.aligned_at = [](int64_t n) { return kHeader * (n / kQK_K); };
  return t;
}

using Q4_KR = RearrangedRow<BlockQ4_K, kQK_K, q4_kr_block, q4_k_to_float, q4_k_from_float, q4_k_dot, q4_kr_from_q4_k,
                            BlockQ8_K>;
using Q5_KR = RearrangedRow<BlockQ5_K, kQK_K, q5_kr_block, q5_k_to_float, q5_k_from_float, q5_k_dot, q5_kr_from_q5_k,
                            BlockQ8_K>;
using Q6_KR = RearrangedRow<BlockQ6_K, kQK_K, q6_kr_block, q6_k_to_float, q6_k_from_float, q6_k_dot, q6_kr_from_q6_k,
                            BlockQ8_K>;

}  // namespace

FormatTraits rows::q4_k() {
  FormatTraits t{FormatId::Q4_K, "q4_k", 12, kQK_K, sizeof(BlockQ4_K), 0, FormatId::Q8_K, q4_k_to_float, q4_k_from_float,
                 q4_k_dot};
  t.scales[0] = {ScaleType::F16, offsetof(BlockQ4_K, d)};
  t.scales[1] = {ScaleType::F16, offsetof(BlockQ4_K, dmin)};
  return t;
}
FormatTraits rows::q5_k() {
  FormatTraits t{FormatId::Q5_K, "q5_k", 13, kQK_K, sizeof(BlockQ5_K), 0, FormatId::Q8_K, q5_k_to_float, q5_k_from_float,
                 q5_k_dot};
  t.scales[0] = {ScaleType::F16, offsetof(BlockQ5_K, d)};
  t.scales[1] = {ScaleType::F16, offsetof(BlockQ5_K, dmin)};
  return t;
}
FormatTraits rows::q6_k() {
  FormatTraits t{FormatId::Q6_K, "q6_k", 14, kQK_K, sizeof(BlockQ6_K), 0, FormatId::Q8_K, q6_k_to_float, q6_k_from_float,
                 q6_k_dot};
  t.scales[0] = {ScaleType::F16, offsetof(BlockQ6_K, d)};
  return t;
}

FormatTraits rows::q4_kr() {
  return kr_row<Q4_KR, BlockQ4_K, kQ4_KRHeader>(FormatId::Q4_KR, "q4_kr", FormatId::Q4_K, q4_kr_from_q4_k);
}
FormatTraits rows::q5_kr() {
  return kr_row<Q5_KR, BlockQ5_K, kQ5_KRHeader>(FormatId::Q5_KR, "q5_kr", FormatId::Q5_K, q5_kr_from_q5_k);
}
FormatTraits rows::q6_kr() {
  return kr_row<Q6_KR, BlockQ6_K, kQ6_KRHeader>(FormatId::Q6_KR, "q6_kr", FormatId::Q6_K, q6_kr_from_q6_k);
}

}  // namespace nb::formats
