// HessianAccumulator (quant/hessian.h): the tiled, threaded accumulation
// against the reference's running mean written out element by element
// (sequential fp32 sums, products rounded before the add), bit for bit, over
// several batches, for widths that are not multiples of the tile, and with
// 1-3 threads.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/thread_pool.h"
#include "quant/hessian.h"

namespace nb::quant {
namespace {

// GPTQ.add_batch, one element at a time.
struct NaiveHessian {
  int64_t k, n = 0;
  std::vector<float> h;
  explicit NaiveHessian(int64_t cols) : k(cols), h(static_cast<size_t>(cols * cols), 0.0f) {}
  void add(const float* x, int64_t tokens, int64_t samples) {
    const float keep = float(double(n) / double(n + samples));
    for (float& v : h) v *= keep;
    n += samples;
    const float s = float(std::sqrt(2.0 / double(n)));
    for (int64_t i = 0; i < k; ++i)
      for (int64_t j = 0; j < k; ++j) {
        float t = 0.0f;
        for (int64_t l = 0; l < tokens; ++l) {
          const float p = (s * x[l * k + i]) * (s * x[l * k + j]);
          t = t + p;
        }
        h[size_t(i * k + j)] = h[size_t(i * k + j)] + t;
      }
  }
};

TEST(Hessian, MatchesReferenceRunningMeanBitForBit) {
  for (int64_t k : {1, 7, 64, 65, 130}) {
    std::mt19937 rng(static_cast<uint32_t>(k));
    std::normal_distribution<float> d(0.0f, 1.0f);
    NaiveHessian ref(k);
    HessianAccumulator acc1(k), acc2(k), acc3(k);
    ThreadPool one(1), two(2), three(3);
    for (int64_t tokens : {5, 300, 17}) {  // several calls: the running mean rescales H in between
      std::vector<float> x(static_cast<size_t>(tokens * k));
      for (float& v : x) v = d(rng);
      ref.add(x.data(), tokens, 1);
      acc1.add_batch(x.data(), tokens, 1, one);
      acc2.add_batch(x.data(), tokens, 1, two);
      acc3.add_batch(x.data(), tokens, 1, three);
    }
    EXPECT_EQ(0, std::memcmp(ref.h.data(), acc1.hessian().data(), ref.h.size() * 4)) << "k " << k;
    EXPECT_EQ(0, std::memcmp(ref.h.data(), acc2.hessian().data(), ref.h.size() * 4)) << "k " << k;
    EXPECT_EQ(0, std::memcmp(ref.h.data(), acc3.hessian().data(), ref.h.size() * 4)) << "k " << k;
    EXPECT_EQ(acc2.n_samples(), 3);
  }
}

TEST(Hessian, IsExactlySymmetric) {
  const int64_t k = 100;
  std::mt19937 rng(3);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(50 * k));
  for (float& v : x) v = d(rng);
  HessianAccumulator acc(k);
  ThreadPool pool(2);
  acc.add_batch(x.data(), 50, 2, pool);
  const auto& h = acc.hessian();
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = 0; j < i; ++j) ASSERT_EQ(h[size_t(i * k + j)], h[size_t(j * k + i)]);
}

}  // namespace
}  // namespace nb::quant
