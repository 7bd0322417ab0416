// bf16 products on the AMX tile unit (kernels/bf16_gemm.h): the matmul and the
// Gram accumulation against a double-precision sum of the same bf16 values,
// the packing edge cases (partial tiles, T and K not multiples of 16/32),
// matmul()'s routing, and thread-count independence.
//
// Tolerance: both sides sum the same exact products, so they differ only by
// fp32 rounding of the sums. For n terms the recursive-sum error is at most
// (n−1)·u·Σ|terms| (u = 2^−24); the test allows n·u·Σ|terms| against the
// exact (double) sum: a bound that holds for any summation order, and a
// wrong pairing or a dropped term breaks it by orders of magnitude.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/half.h"
#include "core/thread_pool.h"
#include "formats/format.h"
#include "kernels/bf16_gemm.h"
#include "kernels/ops.h"
#include "support/test_support.h"

namespace nb::kernels {
namespace {

std::vector<float> bf16_values(size_t n, uint32_t seed) {
  std::vector<float> v = test::normal_values(n, seed);
  for (float& x : v) x = round_bf16(x);
  return v;
}

uint16_t bits(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  return uint16_t(u >> 16);
}

TensorView bf16_view(const std::vector<uint16_t>& w, int64_t rows, int64_t cols) {
  return formats::matrix_view(FormatId::BF16, rows, cols, w.data());
}

constexpr double kU = 1.0 / (1 << 24);

TEST(Bf16Gemm, RoundBf16IsNearestEven) {
  EXPECT_EQ(round_bf16(1.0f), 1.0f);
  EXPECT_EQ(round_bf16(1.0f + 0x1p-8f), 1.0f);                 // tie: to even (mantissa 0)
  EXPECT_EQ(round_bf16(1.0f + 3 * 0x1p-8f), 1.0f + 0x1p-6f);   // tie: to even (up)
  EXPECT_EQ(round_bf16(1.0f + 0x1p-8f + 0x1p-20f), 1.0f + 0x1p-7f);
  EXPECT_EQ(round_bf16(-2.5f), -2.5f);
  EXPECT_TRUE(std::isinf(round_bf16(INFINITY)));
  std::vector<float> x = {1.0f, 0.5f, round_bf16(3.3f)};
  EXPECT_TRUE(all_bf16(x.data(), 3, 1, 3));
  x[1] = 3.3f;
  EXPECT_FALSE(all_bf16(x.data(), 3, 1, 3));
}

TEST(Bf16Gemm, MatmulMatchesExactSums) {
  if (!amx_bf16_ready()) GTEST_SKIP() << "no AMX-BF16 on this CPU";
  ThreadPool pool(2);
  for (int64_t rows : {16, 48, 64})
    for (int64_t k : {32, 96, 256})
      for (int64_t T : {16, 17, 33, 50}) {
        const std::vector<float> w = bf16_values(size_t(rows * k), uint32_t(rows * 7 + k)), x = bf16_values(size_t(T * k), uint32_t(T));
        std::vector<uint16_t> wb(w.size());
        for (size_t i = 0; i < w.size(); ++i) wb[i] = bits(w[i]);
        const int64_t ys = rows + 3;  // a row stride wider than the output
        std::vector<float> y(size_t(T * ys), -7.0f);
        ASSERT_TRUE(matmul_bf16_amx(bf16_view(wb, rows, k), x.data(), k, T, y.data(), ys, pool));
        for (int64_t t = 0; t < T; ++t) {
          for (int64_t r = 0; r < rows; ++r) {
            double exact = 0, mag = 0;
            for (int64_t i = 0; i < k; ++i) {
              exact += double(w[size_t(r * k + i)]) * x[size_t(t * k + i)];
              mag += std::fabs(double(w[size_t(r * k + i)]) * x[size_t(t * k + i)]);
            }
            ASSERT_LE(std::fabs(y[size_t(t * ys + r)] - exact), double(k) * kU * mag)
                << rows << "x" << k << " T=" << T << " t=" << t << " r=" << r;
          }
          for (int64_t r = rows; r < ys; ++r) ASSERT_EQ(y[size_t(t * ys + r)], -7.0f) << "wrote past the rows";
        }
      }
}

TEST(Bf16Gemm, MatmulDeclinesShapesItCannotTile) {
  ThreadPool pool(1);
  std::vector<uint16_t> wb(size_t(20 * 64), 0);
  std::vector<float> x(size_t(32 * 64), 0.0f), y(size_t(32 * 20));
  EXPECT_FALSE(matmul_bf16_amx(bf16_view(wb, 20, 64), x.data(), 64, 32, y.data(), 20, pool));  // rows % 16
  EXPECT_FALSE(matmul_bf16_amx(bf16_view(wb, 16, 80), x.data(), 80, 16, y.data(), 16, pool));  // k % 32
  EXPECT_FALSE(matmul_bf16_amx(bf16_view(wb, 16, 64), x.data(), 64, 8, y.data(), 16, pool));   // T < 16
}

// matmul() takes the tile path for bf16-valued inputs and gives the fp32 kernel's
// sums up to the order: the same bound.
TEST(Bf16Gemm, MatmulRoutesBf16InputsAndAgreesWithFp32Kernel) {
  ThreadPool pool(2);
  const int64_t rows = 64, k = 128, T = 40;
  const std::vector<float> w = bf16_values(size_t(rows * k), 5), x = bf16_values(size_t(T * k), 6);
  std::vector<uint16_t> wb(w.size());
  for (size_t i = 0; i < w.size(); ++i) wb[i] = bits(w[i]);
  std::vector<float> y(size_t(T * rows));
  matmul(bf16_view(wb, rows, k), x.data(), k, T, y.data(), rows, pool);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t r = 0; r < rows; ++r) {
      double exact = 0, mag = 0;
      for (int64_t i = 0; i < k; ++i) {
        exact += double(w[size_t(r * k + i)]) * x[size_t(t * k + i)];
        mag += std::fabs(double(w[size_t(r * k + i)]) * x[size_t(t * k + i)]);
      }
      ASSERT_LE(std::fabs(y[size_t(t * rows + r)] - exact), double(k) * kU * mag);
    }
}

TEST(Bf16Gemm, GramAccumulatesLowerTriangle) {
  for (int64_t K : {16, 20, 48, 80, 96})
    for (int64_t T : {1, 31, 33, 64}) {
      // not yet bf16: the function rounds
      std::vector<float> x = bf16_values(size_t(T * K), uint32_t(K * 100 + T));
      for (size_t i = 0; i < x.size(); i += 3) x[i] *= 1.0f + 0x1p-12f;
      std::vector<float> g1(size_t(K * K), 0.5f), g2 = g1;
      ThreadPool one(1), two(2);
      gram_bf16_accumulate(x.data(), T, K, g1.data(), one);
      gram_bf16_accumulate(x.data(), T, K, g1.data(), one);  // accumulates
      gram_bf16_accumulate(x.data(), T, K, g2.data(), two);
      gram_bf16_accumulate(x.data(), T, K, g2.data(), two);
      for (int64_t i = 0; i < K; ++i)
        for (int64_t j = 0; j <= i; ++j) {
          double exact = 0.5, mag = 0.5;
          for (int64_t t = 0; t < T; ++t) {
            const double p = double(round_bf16(x[size_t(t * K + i)])) * round_bf16(x[size_t(t * K + j)]);
            exact += 2 * p;
            mag += 2 * std::fabs(p);
          }
          const float got = g1[size_t(i * K + j)];
          ASSERT_LE(std::fabs(got - exact), double(2 * T + 1) * kU * mag) << "K=" << K << " T=" << T << " " << i << "," << j;
          ASSERT_EQ(std::memcmp(&got, &g2[size_t(i * K + j)], 4), 0) << "thread count changed G(" << i << "," << j << ")";
        }
    }
}


// ---- Prefill of float weights from exact bf16 splits (matmul_float_amx).

// Weights of one float format, stored, and the values they hold.
struct FloatWeights {
  FormatId format;
  std::vector<uint8_t> bytes;
  std::vector<float> values;
  TensorView view(int64_t rows, int64_t cols) const { return formats::matrix_view(format, rows, cols, bytes.data()); }
};

FloatWeights float_weights(FormatId f, const std::vector<float>& v) {
  FloatWeights w{f, std::vector<uint8_t>(v.size() * (f == FormatId::F32 ? 4 : 2)), std::vector<float>(v.size())};
  for (size_t i = 0; i < v.size(); ++i) {
    if (f == FormatId::F32) {
      std::memcpy(&w.bytes[4 * i], &v[i], 4);
      w.values[i] = v[i];
    } else {
      const uint16_t h = f == FormatId::F16 ? f32_to_fp16(v[i]) : f32_to_bf16(v[i]);
      std::memcpy(&w.bytes[2 * i], &h, 2);
      w.values[i] = f == FormatId::F16 ? fp16_to_f32(h) : bf16_to_f32(h);
    }
  }
  return w;
}

// Values that need every part of the split: x = 1 + 2^-9 + 2^-23 is
// hi 1, mid 2^-9, lo 2^-23; an F16 weight 1 + 2^-10 is hi 1, mid 2^-10; an
// F32 weight like x all three. Each product of the kept part pairs and
// their sum is exact here, and what is left out (parts whose sizes multiply
// to 2^-32 or less) is below half an ulp, so each output must be the fp32
// rounding of the exact product, and a pass left out (or a part lost in the
// packing) changes it by 2^-23 or more. One nonzero weight per row, at
// columns that cross the 32-value tile steps, rows and tokens past the
// tiles' multiples, signs and powers of two on both sides.
TEST(Bf16Gemm, FloatPrefillKeepsEveryPartOfTheSplit) {
  if (!amx_bf16_ready()) GTEST_SKIP() << "no AMX-BF16 on this CPU";
  ThreadPool pool(2);
  const float xv = 1.0f + 0x1p-9f + 0x1p-23f;
  const int64_t rows = 40, k = 70, T = 37;
  for (const auto& [f, wv] : {std::pair{FormatId::F32, xv}, std::pair{FormatId::F16, 1.0f + 0x1p-10f},
                              std::pair{FormatId::BF16, 1.0f + 0x1p-7f}}) {
    std::vector<float> w(size_t(rows * k), 0.0f), x(size_t(T * k));
    for (int64_t r = 0; r < rows; ++r) w[size_t(r * k + (5 * r) % k)] = std::ldexp(r % 2 ? -wv : wv, int(r % 5) - 2);
    for (int64_t t = 0; t < T; ++t)
      for (int64_t i = 0; i < k; ++i) x[size_t(t * k + i)] = std::ldexp((t + i) % 3 ? xv : -xv, int(t % 4) - 1);
    const FloatWeights fw = float_weights(f, w);
    std::vector<float> y(size_t(T * rows), -7.0f);
    matmul(fw.view(rows, k), x.data(), k, T, y.data(), rows, pool, FloatSums::AnyOrder);
    for (int64_t t = 0; t < T; ++t)
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t i = (5 * r) % k;
        const float want = float(double(fw.values[size_t(r * k + i)]) * x[size_t(t * k + i)]);
        ASSERT_EQ(y[size_t(t * rows + r)], want) << formats::traits(f).name << " t=" << t << " r=" << r;
      }
  }
}

// Random weights and activations, shapes that leave every tile, tile step,
// token panel and token group partial: within the recursive-sum bound of
// the partial products (every one exact; P·k of them per output, P the
// part pairs kept: 6, 5, 3) plus what is left out (with |mid| <= 2^-8 |v|
// and |lo| <= 2^-16 |v|: for F32 weights two pairs of at most 2^-24 and one
// of 2^-32 of each product, for F16 one of 2^-24), against the exact sum; the fp32 kernels (tile unit off) within
// k·u of it, and FloatSums::DecodeOrder on those kernels whatever the CPU;
// and the same bits with 1 and 2 threads.
TEST(Bf16Gemm, FloatPrefillMatchesExactSums) {
  if (!amx_bf16_ready()) GTEST_SKIP() << "no AMX-BF16 on this CPU";
  ThreadPool one(1), two(2);
  uint32_t seed = 1;
  for (FormatId f : {FormatId::F32, FormatId::F16, FormatId::BF16}) {
    const double passes = f == FormatId::F32 ? 6 : f == FormatId::F16 ? 5 : 3;
    for (int64_t rows : {16, 40, 70})
      for (int64_t k : {32, 70, 300})
        for (int64_t T : {16, 37, 300}) {
          const FloatWeights fw = float_weights(f, test::normal_values(size_t(rows * k), ++seed));
          const std::vector<float> x = test::normal_values(size_t(T * k), ++seed);
          const int64_t ys = rows + 3;
          std::vector<float> y1(size_t(T * ys), -7.0f), y2 = y1, yf = y1, yd = y1;
          matmul(fw.view(rows, k), x.data(), k, T, y1.data(), ys, one, FloatSums::AnyOrder);
          matmul(fw.view(rows, k), x.data(), k, T, y2.data(), ys, two, FloatSums::AnyOrder);
          matmul(fw.view(rows, k), x.data(), k, T, yd.data(), ys, two);  // decode's order
          set_amx_enabled(false);
          matmul(fw.view(rows, k), x.data(), k, T, yf.data(), ys, two);
          set_amx_enabled(true);
          ASSERT_EQ(0, std::memcmp(y1.data(), y2.data(), y1.size() * sizeof(float))) << "thread count changed the sums";
          ASSERT_EQ(0, std::memcmp(yd.data(), yf.data(), yd.size() * sizeof(float))) << "DecodeOrder left the fp32 kernels";
          for (int64_t t = 0; t < T; ++t) {
            for (int64_t r = 0; r < rows; ++r) {
              double exact = 0, mag = 0;
              for (int64_t i = 0; i < k; ++i) {
                const double p = double(fw.values[size_t(r * k + i)]) * x[size_t(t * k + i)];
                exact += p;
                mag += std::fabs(p);
              }
              const std::string at = std::string(formats::traits(f).name) + " " + std::to_string(rows) + "x" +
                                     std::to_string(k) + " T=" + std::to_string(T) + " t=" + std::to_string(t) +
                                     " r=" + std::to_string(r);
              ASSERT_LE(std::fabs(y1[size_t(t * ys + r)] - exact), (passes * double(k) * kU + 0x1.01p-23) * mag) << at;
              ASSERT_LE(std::fabs(yf[size_t(t * ys + r)] - exact), double(k) * kU * mag) << at << " (fp32 kernels)";
            }
            for (int64_t r = rows; r < ys; ++r) ASSERT_EQ(y1[size_t(t * ys + r)], -7.0f) << "wrote past the rows";
          }
        }
  }
}


// Activations the split must not change the meaning of: an output that
// meets an infinity or a NaN is not finite (NaN, where the fp32 kernels may
// give an infinity: see split3), and a finite value above the largest bf16
// (hi would round to infinity) stays finite; the finite outputs within the
// bound of FloatPrefillMatchesExactSums.
TEST(Bf16Gemm, FloatPrefillKeepsInfinitiesNaNsAndHugeValues) {
  if (!amx_bf16_ready()) GTEST_SKIP() << "no AMX-BF16 on this CPU";
  ThreadPool pool(2);
  const int64_t rows = 32, k = 64, T = 20;
  const FloatWeights fw = float_weights(FormatId::F16, test::normal_values(size_t(rows * k), 3, 0.25f));
  std::vector<float> x = test::normal_values(size_t(T * k), 4);
  x[size_t(0 * k + 5)] = INFINITY;
  x[size_t(1 * k + 9)] = -INFINITY;
  x[size_t(2 * k + 40)] = std::nanf("");
  x[size_t(3 * k + 3)] = 3.4e38f;    // rounds to bf16 infinity
  x[size_t(4 * k + 63)] = -3.4e38f;
  std::vector<float> y(size_t(T * rows)), yf(y.size());
  matmul(fw.view(rows, k), x.data(), k, T, y.data(), rows, pool, FloatSums::AnyOrder);
  set_amx_enabled(false);
  matmul(fw.view(rows, k), x.data(), k, T, yf.data(), rows, pool);
  set_amx_enabled(true);
  for (size_t i = 0; i < y.size(); ++i) {
    ASSERT_EQ(std::isfinite(y[i]), std::isfinite(yf[i])) << i << ": " << y[i] << " vs " << yf[i];
    if (!std::isfinite(y[i])) continue;
    const int64_t t = int64_t(i) / rows, r = int64_t(i) % rows;
    double exact = 0, mag = 0;
    for (int64_t j = 0; j < k; ++j) {
      const double p = double(fw.values[size_t(r * k + j)]) * x[size_t(t * k + j)];
      exact += p;
      mag += std::fabs(p);
    }
    ASSERT_LE(std::fabs(y[i] - exact), (5 * double(k) * kU + 0x1.01p-23) * mag) << "t=" << t << " r=" << r;
  }
  EXPECT_TRUE(std::isfinite(y[size_t(3 * rows)])) << "a huge finite activation became infinite";
}

}  // namespace
}  // namespace nb::kernels
