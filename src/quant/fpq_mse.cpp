#pragma GCC optimize("fp-contract=off")  // the vector version does the same operations, unfused
#include "quant/fpq_mse.h"

#include <cmath>
#include <cstring>

#include "kernels/dispatch.h"
#include "quant/fpq_scales.h"

namespace nb::kernels::cpu {
void fpq_group_errors_avx512(bool int4, const float* x, int64_t n, const float* cands, int count, float* errs,
                             const quant::Pow24Tables& tables);
}

namespace nb::quant {
namespace {

// log1p(r) = r·P(r), P of degree 9 (remainder |r|^11/11 < 2e-17 for |r| < 0.034).
constexpr double kLog1p[10] = {1.0, -1.0 / 2, 1.0 / 3, -1.0 / 4, 1.0 / 5, -1.0 / 6, 1.0 / 7, -1.0 / 8, 1.0 / 9, -1.0 / 10};
// e^t to t^6 (remainder < 5e-16 for |t| < 0.022).
constexpr double kExp[7] = {1.0, 1.0, 1.0 / 2, 1.0 / 6, 1.0 / 24, 1.0 / 120, 1.0 / 720};
constexpr double kInvLn2 = 1.4426950408889634, kLn2 = 0.6931471805599453;

}  // namespace

const Pow24Tables& pow24_tables() {
  static const Pow24Tables t = [] {
    Pow24Tables v;
    for (int i = 0; i < 16; ++i) {
      const double c = 1.0 + (i + 0.5) / 16.0;
      v.inv_m[i] = std::ldexp(std::nearbyint(std::ldexp(1.0 / c, 10)), -10);  // 1/c in (0.5, 1]: 10 bits
      v.neg_ln_inv[i] = -std::log(v.inv_m[i]);
      v.exp2_j16[i] = std::exp2(i / 16.0);
    }
    return v;
  }();
  return t;
}

double pow24(double a) {
  a = std::fabs(a);
  if (a == 0.0) return 0.0;
  const Pow24Tables& T = pow24_tables();
  const double e = double(std::ilogb(a));
  const double m = std::scalbn(a, -std::ilogb(a));  // [1, 2), exact
  uint64_t bits;
  std::memcpy(&bits, &m, 8);
  const int i = int((bits >> 48) & 15);  // the top 4 mantissa bits
  const double r = m * T.inv_m[i] - 1.0;  // the product is exact (24 + 10 bits)
  double p = kLog1p[9];
  for (int k = 8; k >= 0; --k) p = p * r + kLog1p[k];
  const double ln_m = T.neg_ln_inv[i] + r * p;
  // log2 of the result = 2.4·e + 2.4·log2 m. 2.4·e is split exactly as
  // q + rem/5 (12e = 5q + rem, q integer), so the fractional work stays small
  // and its rounding error does not grow with |e|.
  const double e12 = 12.0 * e, qi = std::floor(e12 * 0.2), rem = e12 - 5.0 * qi;
  const double y = rem * 0.2 + 2.4 * (ln_m * kInvLn2);
  const double k16 = std::nearbyint(y * 16.0);
  const double t = (y - k16 * 0.0625) * kLn2;    // y − k16/16 is exact, |.| <= 1/32
  double q = kExp[6];
  for (int k = 5; k >= 0; --k) q = q * t + kExp[k];
  const double nf = std::floor(k16 * 0.0625);
  const int j = int(k16 - nf * 16.0);
  return std::ldexp(q * T.exp2_j16[j], int(qi + nf));
}

void fpq_group_errors_ref(bool int4, const float* x, int64_t n, const float* cands, int count, float* errs) {
  for (int ci = 0; ci < count; ++ci) {
    const float c = cands[ci];
    float err = 0.0f;
    for (int64_t j0 = 0; j0 < n; j0 += 16) {
      float t[16];
      for (int j = 0; j < 16; ++j) {
        const float d = x[j0 + j] - fpq_quantize_value(int4, x[j0 + j], c).deq;
        t[j] = float(pow24(double(d)));
      }
      for (int w = 8; w >= 1; w /= 2)
        for (int j = 0; j < w; ++j) t[j] = t[j] + t[j + w];
      err = err + t[0];
    }
    errs[ci] = err;
  }
}

namespace {
void errors_avx512(bool int4, const float* x, int64_t n, const float* cands, int count, float* errs) {
  kernels::cpu::fpq_group_errors_avx512(int4, x, n, cands, count, errs, pow24_tables());
}
}  // namespace

GroupErrorsFn fpq_group_errors_fn() {
  if (kernels::active_table().isa == "avx512-vnni") return errors_avx512;
  return fpq_group_errors_ref;
}

}  // namespace nb::quant
