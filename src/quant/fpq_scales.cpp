#pragma GCC optimize("fp-contract=off")  // FP-Quant's fp32 operation order
#include "quant/fpq_scales.h"

#include <algorithm>
#include <cmath>

#include "core/half.h"
#include "formats/blocks.h"
#include "formats/format.h"
#include "quant/fpq_mse.h"

namespace nb::quant {
namespace {

using formats::e2m1_code;
using formats::kE2M1Values;

// The continuous scale of one group (observer), before the format's rounding.
// mse: the first strict minimum of the candidates' errors (fpq_mse.h; the
// terms |d|^2.4 come from an fp64 evaluation rounded to fp32: torch's vectorized
// pow may differ by an ulp, which only a near-tie between two candidates' sums
// could notice).
float observe(const float* x, int64_t n, bool int4, Observer obs, GroupErrorsFn group_errors) {
  float amax = 0.0f;
  for (int64_t j = 0; j < n; ++j) amax = std::max(amax, std::fabs(x[j]));
  const float s0 = (2.0f * amax) / (int4 ? 15.0f : 12.0f);
  if (obs == Observer::MinMax || s0 == 0.0f) return s0;
  constexpr int kCandidates = 100;
  float cands[kCandidates], errs[kCandidates];
  for (int i = 0; i < kCandidates; ++i) cands[i] = float(1.0 - 0.8 * double(i) / 100.0) * s0;
  group_errors(int4, x, n, cands, kCandidates, errs);
  int best = 0;
  for (int i = 1; i < kCandidates; ++i)
    if (errs[i] < errs[best]) best = i;
  return cands[best];
}

struct Rounded {
  float scale;
  uint16_t stored;
};

Rounded round_scale(FormatId f, float s, float g, float inv_g) {
  switch (f) {
    case FormatId::MXFP4_FPQ:
    case FormatId::MXFP4: {
      const float a = std::max(6.0f * s, 0x1p-126f);
      const int e = std::clamp(formats::float_exponent(a), -127, 127);
      if (f == FormatId::MXFP4_FPQ) return {std::ldexp(1.0f, e - 2) / 0.75f, uint16_t(e + 127)};
      if (s == 0.0f) return {formats::e8m0_to_f32(0), 0};  // all-zero block: byte 0 (format rule)
      const int b = std::clamp(e - 2 + 127, 0, 254);
      return {formats::e8m0_to_f32(uint8_t(b)), uint16_t(b)};
    }
    case FormatId::NVFP4: {
      const float t = std::clamp(s * g, -448.0f, 448.0f);
      const uint8_t b = formats::f32_to_e4m3(t);
      float scale = formats::e4m3_to_f32(b) * inv_g;
      if (scale == 0.0f) scale = 1.0f;  // FP-Quant: "set scales to 1 if zero"
      return {scale, b};
    }
    default: {  // INT4: the file's fp16
      const uint16_t h = f32_to_fp16(std::min(s, 65504.0f));
      return {fp16_to_f32(h), h};
    }
  }
}

}  // namespace

bool fpq_is_int4(FormatId f) { return f == FormatId::INT4_G32 || f == FormatId::INT4_G64 || f == FormatId::INT4_G128; }

bool fpq_supported(FormatId f) {
  return f == FormatId::MXFP4 || f == FormatId::MXFP4_FPQ || f == FormatId::NVFP4 || fpq_is_int4(f);
}

float nvfp4_global_scale(const float* w, int64_t n) {
  float amax = 0.0f;
  for (int64_t i = 0; i < n; ++i) amax = std::max(amax, std::fabs(w[i]));
  if (amax == 0.0f) return 1.0f;
  return 2688.0f * (1.0f / amax);
}

QuantizedValue fpq_quantize_value(bool int4, float x, float scale) {
  if (int4) {
    if (scale == 0.0f) return {8, 0.0f};
    const float q = std::min(7.0f, std::max(-8.0f, std::nearbyint(x / scale)));  // RNE in the default mode
    return {uint8_t(int(q) + 8), q * scale};
  }
  const float v = x / scale;
  uint8_t code = e2m1_code(v);
  if (code == 0 && v < 0.0f) code = 8;
  return {code, kE2M1Values[code] * scale};
}

Result<GroupScales> fpq_group_scales(const float* w, int64_t rows, int64_t cols, FormatId format, Observer observer,
                                     float g, ThreadPool& pool) {
  if (!fpq_supported(format))
    return Status::Error(std::string("fp-quant scales: format ") + formats::traits(format).name +
                         " is not one of mxfp4, mxfp4_fpq, nvfp4, int4_g32/g64/g128");
  const int64_t G = formats::traits(format).block_size;
  if (cols % G != 0)
    return Status::Error(strfmt("fp-quant scales: %lld columns is not a multiple of the group size %lld",
                                (long long)cols, (long long)G));
  GroupScales s;
  s.format = format;
  s.rows = rows;
  s.group_size = G;
  s.n_groups = cols / G;
  s.scale.resize(size_t(rows * s.n_groups));
  s.stored.resize(size_t(rows * s.n_groups));
  float inv_g = 0.0f;
  if (format == FormatId::NVFP4) {
    s.global_scale = g > 0.0f ? g : nvfp4_global_scale(w, rows * cols);
    inv_g = 1.0f / s.global_scale;
  }
  const bool int4 = fpq_is_int4(format);
  const GroupErrorsFn group_errors = fpq_group_errors_fn();
  pool.parallel_for(rows, [&](int64_t r0, int64_t r1, int) {
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t t = 0; t < s.n_groups; ++t) {
        const float cont = observe(w + r * cols + t * G, G, int4, observer, group_errors);
        const Rounded q = round_scale(format, cont, s.global_scale, inv_g);
        s.scale[size_t(r * s.n_groups + t)] = q.scale;
        s.stored[size_t(r * s.n_groups + t)] = q.stored;
      }
  });
  return s;
}

}  // namespace nb::quant
