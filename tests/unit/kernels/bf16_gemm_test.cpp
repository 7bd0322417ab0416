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

}  // namespace
}  // namespace nb::kernels
