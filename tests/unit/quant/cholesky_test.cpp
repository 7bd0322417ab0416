// The blocked, threaded Cholesky routines (quant/cholesky.h) against their
// scalar references (netlib operation order, cholesky_ref.cpp): bit for bit,
// for sizes around the block size 64 and the panel size 32, with 1 to 3
// threads; failure detection; and the factorizations are what they claim.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/thread_pool.h"
#include "quant/cholesky.h"

namespace nb::quant {
namespace {

// A symmetric positive definite fp32 matrix like a GPTQ Hessian: XᵀX/T of
// correlated inputs with a few strong channels, plus 1% damping.
std::vector<float> spd(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  const int64_t T = n + 16;
  std::vector<float> x(static_cast<size_t>(T * n));
  for (int64_t t = 0; t < T; ++t) {
    float prev = 0;
    for (int64_t j = 0; j < n; ++j) {
      const float v = d(rng) + 0.5f * prev;
      x[size_t(t * n + j)] = j % 13 == 0 ? 3 * v : v;
      prev = v;
    }
  }
  std::vector<float> h(static_cast<size_t>(n * n));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j <= i; ++j) {
      double s = 0;
      for (int64_t t = 0; t < T; ++t) s += double(x[size_t(t * n + i)]) * x[size_t(t * n + j)];
      h[size_t(i * n + j)] = h[size_t(j * n + i)] = float(s / T);
    }
  dampen_diagonal(h, n, 0.01f);
  return h;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * 4) == 0;
}

const int64_t kSizes[] = {1, 2, 5, 31, 32, 33, 63, 64, 65, 100, 128, 129, 200, 300};

TEST(Cholesky, LowerMatchesReferenceBitForBit) {
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    for (int64_t n : kSizes) {
      const auto h = spd(n, uint32_t(n));
      auto ref = h, got = h;
      ASSERT_TRUE(cholesky_lower_ref(ref, n));
      ASSERT_TRUE(cholesky_lower(got, n, pool));
      EXPECT_TRUE(same_bits(ref, got)) << "n " << n << " threads " << threads;
    }
  }
}

TEST(Cholesky, InverseMatchesReferenceBitForBit) {
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    for (int64_t n : kSizes) {
      auto l = spd(n, 50 + uint32_t(n));
      ASSERT_TRUE(cholesky_lower_ref(l, n));
      EXPECT_TRUE(same_bits(cholesky_inverse_ref(l, n), cholesky_inverse(l, n, pool)))
          << "n " << n << " threads " << threads;
    }
  }
}

TEST(Cholesky, UpperMatchesReferenceBitForBit) {
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    for (int64_t n : kSizes) {
      const auto h = spd(n, 100 + uint32_t(n));
      auto ref = h, got = h;
      ASSERT_TRUE(cholesky_upper_ref(ref, n));
      ASSERT_TRUE(cholesky_upper(got, n, pool));
      EXPECT_TRUE(same_bits(ref, got)) << "n " << n << " threads " << threads;
    }
  }
}

// L·Lᵀ = H, (L·Lᵀ)⁻¹·H = I and UᵀU = H⁻¹ to fp32 accuracy: relative to the
// norms involved, about n·u·cond(H); cond of these matrices is below 1e3 and
// n <= 300, so 1e-2 relative would still be loose — 2e-3 is used.
TEST(Cholesky, FactorsReproduceTheMatrix) {
  ThreadPool pool(2);
  const int64_t n = 150;
  const auto h = spd(n, 7);
  auto l = h;
  ASSERT_TRUE(cholesky_lower(l, n, pool));
  const auto inv = cholesky_inverse(l, n, pool);
  auto u = inv;
  ASSERT_TRUE(cholesky_upper(u, n, pool));
  double hmax = 0, imax = 0;
  for (float v : h) hmax = std::max(hmax, double(std::fabs(v)));
  for (float v : inv) imax = std::max(imax, double(std::fabs(v)));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double llt = 0, ih = 0, utu = 0;
      for (int64_t k = 0; k < n; ++k) {
        llt += double(l[size_t(i * n + k)]) * l[size_t(j * n + k)];
        ih += double(inv[size_t(i * n + k)]) * h[size_t(k * n + j)];
        utu += double(u[size_t(k * n + i)]) * u[size_t(k * n + j)];
      }
      EXPECT_NEAR(llt, h[size_t(i * n + j)], 2e-3 * hmax);
      EXPECT_NEAR(ih, i == j ? 1.0 : 0.0, 2e-3);
      EXPECT_NEAR(utu, inv[size_t(i * n + j)], 2e-3 * imax);
      if (j > i) {
        EXPECT_EQ(l[size_t(i * n + j)], 0.0f);
        EXPECT_EQ(u[size_t(j * n + i)], 0.0f);
      }
    }
}

TEST(Cholesky, DetectsIndefiniteMatrices) {
  ThreadPool pool(2);
  for (int64_t n : {3, 70, 130}) {
    auto h = spd(n, 9);
    h[size_t((n - 2) * n + n - 2)] = -1.0f;  // a negative diagonal entry late in the matrix
    auto a = h, b = h;
    EXPECT_FALSE(cholesky_lower(a, n, pool));
    EXPECT_FALSE(cholesky_upper(b, n, pool));
    auto c = h;
    EXPECT_FALSE(upper_cholesky_of_inverse(c, n, pool));
  }
}

}  // namespace
}  // namespace nb::quant
