// FP4 formats: E2M1 codes with a block scale (layouts and the E2M1 / E8M0 /
// E4M3 conversions are in blocks.h). Spec: design/fp4-and-gptq.md §1-§3, §5.
//  - MXFP4: OCP MX, 32 codes and an E8M0 scale, llama.cpp's GGUF type 39 bytes.
//    Encoder R-OCP (§2.3): byte = E(amax) - 2 + 127, so X = 2^(E-2); codes
//    RNE(x / X) saturated to +-6 (the block maximum clips when its mantissa
//    exceeds 1.5, as the OCP rule does).
//  - MXFP4_FPQ: the same bytes read with FP-Quant / QuTLASS's "abs_max" rule
//    (R-FPQ, §2.4): byte = E(amax) + 127 and weights E2M1 * 2^(byte-127) / 3.
//    Its effective block scale is exactly 4/3 of R-OCP's; the constant 1/3 is
//    part of this format (not a tensor scale), so the two can never be mixed up.
//  - NVFP4: 16 codes and an E4M3 scale per block; one fp32 scale per tensor
//    (TensorView::scale, tensor_scale = true) that the rows do not contain:
//    to_float / dot give the weights divided by it, from_float expects the
//    weights divided by it (the quantizer picks s_T = amax_T / 2688, §3.2).
//    The caller multiplies the dot by TensorView::scale once per output.
//
// Encoders never write 0xFF / NaN scales for finite input; an all-zero block
// gets scale byte 0 and all codes 0x0. Non-finite input cannot be reported
// through from_float (no Status), so its block gets a NaN scale (0xFF for
// E8M0, 0x7F for E4M3) and decodes to NaN; quantizers must check finiteness
// first and return an error (§1.5).
//
// Dots take bf16 activations (dot_type BF16; spec §7.8: weight-only use keeps
// activations in BF16/FP32): kernels::matmul rounds each activation to bf16
// (round to nearest even) once, and the SIMD kernels multiply bf16 pairs,
// twice as many per instruction as fp32 (kernels/cpu/fp4_avx512.cpp). Each
// product w * x is exact in double. Each block's sum is taken in double and
// scaled by the block scale (a power of two, or an E4M3 value with 4
// significant bits: exact in double), so the only rounding beyond double
// accumulation is the final conversion to float.
#include <cmath>
#include <cstring>
#include <limits>

#include "formats/blocks.h"
#include "formats/rows.h"

namespace nb::formats {
namespace {

constexpr int kHalfMX = kQKMXFP4 / 2;
constexpr int kHalfNV = kQKNVFP4 / 2;

bool all_finite(const float* x, int n) {
  for (int j = 0; j < n; ++j)
    if (!std::isfinite(x[j])) return false;
  return true;
}

float amax_of(const float* x, int n) {
  float a = 0.0f;
  for (int j = 0; j < n; ++j) a = std::fmax(a, std::fabs(x[j]));
  return a;
}

// ---- MXFP4 / MXFP4_FPQ

// Scale byte of a block by rule: R-OCP (offset -2) or R-FPQ (offset 0),
// clamped to [0, 254]. amax = 0 gives 0.
uint8_t mx_scale_byte(float amax, int offset) {
  if (amax == 0.0f) return 0;
  int b = float_exponent(amax) + offset + 127;
  if (b < 0) b = 0;
  if (b > 254) b = 254;  // unreachable for finite fp32 with these offsets
  return uint8_t(b);
}

// x = E2M1 * 2^(e-127) * (1/3 for FPQ). `mult` is 3 for FPQ (codes from 3x / 2^(e-127)), 1 for OCP.
template <int Mult>
void mx_from_float(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockMXFP4*>(dst);
  for (int64_t i = 0; i < n / kQKMXFP4; ++i) {
    const float* x = src + i * kQKMXFP4;
    std::memset(b[i].qs, 0, sizeof b[i].qs);
    if (!all_finite(x, kQKMXFP4)) {
      b[i].e = 0xFF;
      continue;
    }
    b[i].e = mx_scale_byte(amax_of(x, kQKMXFP4), Mult == 3 ? 0 : -2);
    const int shift = 127 - int(b[i].e);  // x / 2^(e-127) = x * 2^shift, exact in double
    for (int j = 0; j < kHalfMX; ++j) {
      const uint8_t lo = e2m1_code(std::ldexp(double(Mult) * double(x[j]), shift));
      const uint8_t hi = e2m1_code(std::ldexp(double(Mult) * double(x[j + kHalfMX]), shift));
      b[i].qs[j] = uint8_t(lo | (hi << 4));
    }
  }
}

template <int Mult>
void mx_to_float(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockMXFP4*>(src);
  for (int64_t i = 0; i < n / kQKMXFP4; ++i) {
    const float d = e8m0_to_f32(b[i].e);
    float* y = dst + i * kQKMXFP4;
    for (int j = 0; j < kHalfMX; ++j) {
      // E2M1 * 2^k is exact (or NaN); the FPQ division by 3 rounds once.
      float lo = kE2M1Values[b[i].qs[j] & 0xF] * d, hi = kE2M1Values[b[i].qs[j] >> 4] * d;
      if (Mult == 3) lo /= 3.0f, hi /= 3.0f;
      y[j] = lo;
      y[j + kHalfMX] = hi;
    }
  }
}

template <int Mult>
float mx_dot(const void* w, const void* a, int64_t n) {
  const auto* b = static_cast<const BlockMXFP4*>(w);
  double sum = 0.0;
  for (int64_t i = 0; i < n / kQKMXFP4; ++i) {
    const int64_t xb = i * kQKMXFP4;
    double acc = 0.0;
    for (int j = 0; j < kHalfMX; ++j) {
      acc += double(kE2M1Values[b[i].qs[j] & 0xF]) * double(bf16_at(a, xb + j));
      acc += double(kE2M1Values[b[i].qs[j] >> 4]) * double(bf16_at(a, xb + j + kHalfMX));
    }
    sum += acc * double(e8m0_to_f32(b[i].e));
  }
  return float(Mult == 3 ? sum / 3.0 : sum);
}

// ---- NVFP4 (values without the tensor scale)

void nv_from_float(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockNVFP4*>(dst);
  for (int64_t i = 0; i < n / kQKNVFP4; ++i) {
    const float* x = src + i * kQKNVFP4;
    std::memset(b[i].qs, 0, sizeof b[i].qs);
    if (!all_finite(x, kQKNVFP4)) {
      b[i].d = 0x7F;
      continue;
    }
    // §3.3: b = E4M3(sat(RNE(amax / 6))); codes RNE(x / E4M3(b)). A block
    // scale of 0 (all-zero block, or amax / 6 below half of 2^-9) keeps codes 0.
    b[i].d = f32_to_e4m3(amax_of(x, kQKNVFP4) / 6.0f);
    const double s = double(e4m3_to_f32(b[i].d));
    if (s == 0.0) continue;
    for (int j = 0; j < kHalfNV; ++j) {
      const uint8_t lo = e2m1_code(double(x[j]) / s), hi = e2m1_code(double(x[j + kHalfNV]) / s);
      b[i].qs[j] = uint8_t(lo | (hi << 4));
    }
  }
}

void nv_to_float(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockNVFP4*>(src);
  for (int64_t i = 0; i < n / kQKNVFP4; ++i) {
    const float d = e4m3_to_f32(b[i].d);
    float* y = dst + i * kQKNVFP4;
    for (int j = 0; j < kHalfNV; ++j) {  // E2M1 * E4M3: at most 3 + 4 significant bits, exact
      y[j] = kE2M1Values[b[i].qs[j] & 0xF] * d;
      y[j + kHalfNV] = kE2M1Values[b[i].qs[j] >> 4] * d;
    }
  }
}

float nv_dot(const void* w, const void* a, int64_t n) {
  const auto* b = static_cast<const BlockNVFP4*>(w);
  double sum = 0.0;
  for (int64_t i = 0; i < n / kQKNVFP4; ++i) {
    const int64_t xb = i * kQKNVFP4;
    double acc = 0.0;
    for (int j = 0; j < kHalfNV; ++j) {
      acc += double(kE2M1Values[b[i].qs[j] & 0xF]) * double(bf16_at(a, xb + j));
      acc += double(kE2M1Values[b[i].qs[j] >> 4]) * double(bf16_at(a, xb + j + kHalfNV));
    }
    sum += acc * double(e4m3_to_f32(b[i].d));
  }
  return float(sum);
}

}  // namespace

FormatTraits rows::mxfp4() {
  FormatTraits t{FormatId::MXFP4, "mxfp4", 39,           kQKMXFP4,       sizeof(BlockMXFP4), 0,
                 FormatId::BF16,  mx_to_float<1>, mx_from_float<1>, mx_dot<1>};
  t.scales[0] = {ScaleType::E8M0, offsetof(BlockMXFP4, e)};
  return t;
}

FormatTraits rows::mxfp4_fpq() {
  FormatTraits t{FormatId::MXFP4_FPQ, "mxfp4_fpq", kPrivateGgufTypeBase + 2, kQKMXFP4,  sizeof(BlockMXFP4), 0,
                 FormatId::BF16,      mx_to_float<3>, mx_from_float<3>,        mx_dot<3>};
  t.scales[0] = {ScaleType::E8M0, offsetof(BlockMXFP4, e)};
  return t;
}

FormatTraits rows::nvfp4() {
  FormatTraits t{FormatId::NVFP4, "nvfp4",     kPrivateGgufTypeBase + 3, kQKNVFP4, sizeof(BlockNVFP4), 0,
                 FormatId::BF16,  nv_to_float, nv_from_float,            nv_dot};
  t.tensor_scale = true;  // dot_i32 stays nullptr: the dot is a float dot; y = dot * TensorView::scale
  t.scales[0] = {ScaleType::E4M3, offsetof(BlockNVFP4, d)};
  return t;
}

}  // namespace nb::formats
