// Scalar conversions between fp32 and the small float types stored in model
// files. These are the reference conversions; SIMD kernels must agree bit for bit.
#pragma once
#include <cstdint>
#include <cstring>

namespace nb {

inline uint32_t f32_bits(float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; }
inline float bits_f32(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }

// IEEE binary16 -> fp32 (exact, handles subnormals, inf, nan).
inline float fp16_to_f32(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  if (exp == 0x1f) return bits_f32(sign | 0x7f800000u | (mant << 13));
  if (exp == 0) {
    if (mant == 0) return bits_f32(sign);
    // subnormal: value = mant * 2^-24
    float v = float(mant) * (1.0f / 16777216.0f);
    return sign ? -v : v;
  }
  return bits_f32(sign | ((exp + 112) << 23) | (mant << 13));
}

// fp32 -> IEEE binary16, round to nearest even (what F16C's vcvtps2ph does
// with rounding mode 0, and what numpy/torch do).
inline uint16_t f32_to_fp16(float f) {
  uint32_t x = f32_bits(f);
  uint32_t sign = (x >> 16) & 0x8000;
  uint32_t ax = x & 0x7fffffff;
  if (ax >= 0x7f800000u) return uint16_t(sign | 0x7c00 | (ax > 0x7f800000u ? 0x200 | ((ax >> 13) & 0x3ff) : 0));
  if (ax >= 0x477ff000u) return uint16_t(sign | 0x7c00);  // rounds to >= 65520 -> inf
  if (ax < 0x38800000u) {                                  // result is subnormal or zero
    float v = bits_f32(ax) * 16777216.0f;                  // scale so 2^-24 -> 1.0, exact
    // round half to even on integer value
    uint32_t i = uint32_t(v);
    float frac = v - float(i);
    if (frac > 0.5f || (frac == 0.5f && (i & 1))) ++i;
    return uint16_t(sign | i);
  }
  uint32_t exp = (ax >> 23) - 112;
  uint32_t mant = ax & 0x7fffff;
  uint32_t h = (exp << 10) | (mant >> 13);
  uint32_t rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) ++h;
  return uint16_t(sign | h);
}

inline float bf16_to_f32(uint16_t b) { return bits_f32(uint32_t(b) << 16); }

// fp32 -> bfloat16, round to nearest even; NaN stays NaN (quiet).
inline uint16_t f32_to_bf16(float f) {
  uint32_t x = f32_bits(f);
  if ((x & 0x7fffffff) > 0x7f800000u) return uint16_t((x >> 16) | 0x40);
  x += 0x7fff + ((x >> 16) & 1);
  return uint16_t(x >> 16);
}

}  // namespace nb
