// FP-Quant's frozen scales (quant/fpq_scales.h) and the MSE observer's error
// (quant/fpq_mse.h): pow24 accuracy, the AVX-512 errors against the scalar
// ones bit for bit, the worked examples of design/fp4-and-gptq.md §2.7 / §3.3
// / §4.1, and the observer's choice.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/half.h"
#include "core/thread_pool.h"
#include "formats/blocks.h"
#include "kernels/dispatch.h"
#include "quant/fpq_mse.h"
#include "quant/fpq_scales.h"

namespace nb::quant {
namespace {

// pow24 against long double powl over 60 decades and the values around 1.
// Bound 2e-15 relative: the design error of the table + polynomial scheme
// (log1p remainder 6e-15·|r| ≤ 2e-16, exp remainder 5e-16, a few roundings),
// well below fp32's 6e-8 so the rounded result is the correctly rounded one
// except within 2e-15 of a rounding boundary.
TEST(FpqMse, Pow24IsAccurate) {
  std::mt19937 rng(1);
  std::uniform_real_distribution<double> ex(-30.0, 30.0);
  double worst = 0;
  for (int i = 0; i < 200000; ++i) {
    const float a = float(std::pow(10.0, ex(rng))) * (i % 2 ? -1.0f : 1.0f);
    const long double want = powl(fabsl((long double)a), 2.4L);
    const double got = pow24(double(a));
    worst = std::max(worst, double(fabsl((got - want) / want)));
  }
  for (float a : {1.0f, 0.75f, 1.5f, 0.99999994f, 1.0000001f, 2.0f, 0x1p-149f, 0x1p-126f, 65504.0f}) {
    const long double want = powl((long double)a, 2.4L);
    worst = std::max(worst, double(fabsl((pow24(double(a)) - want) / want)));
  }
  std::printf("pow24: worst relative error %.3g\n", worst);
  EXPECT_LT(worst, 2e-15);
  EXPECT_EQ(pow24(0.0), 0.0);
  EXPECT_EQ(pow24(-0.0), 0.0);
}

TEST(FpqMse, Avx512ErrorsMatchScalarBitForBit) {
  const std::string saved = kernels::active_table().isa;
  if (!kernels::select_isa("avx512")) GTEST_SKIP() << "no AVX-512 on this CPU";
  const GroupErrorsFn fast = fpq_group_errors_fn();
  std::mt19937 rng(2);
  std::normal_distribution<float> d(0.0f, 1.0f);
  for (int64_t n : {16, 32, 64, 128})
    for (bool int4 : {false, true})
      for (int trial = 0; trial < 50; ++trial) {
        std::vector<float> x(static_cast<size_t>(n));
        for (float& v : x) v = d(rng) * (trial % 5 == 0 ? 1e-3f : 1.0f);
        x[3] = 0.0f;
        x[4] = -0.0f;
        x[5] = x[6] * 40.0f;  // an outlier: saturating codes
        float amax = 0;
        for (float v : x) amax = std::max(amax, std::fabs(v));
        std::vector<float> cands(100), e1(100), e2(100);
        for (int i = 0; i < 100; ++i) cands[size_t(i)] = float(1.0 - 0.8 * i / 100.0) * (2 * amax / (int4 ? 15 : 12));
        fpq_group_errors_ref(int4, x.data(), n, cands.data(), 100, e1.data());
        fast(int4, x.data(), n, cands.data(), 100, e2.data());
        ASSERT_EQ(0, std::memcmp(e1.data(), e2.data(), 400)) << "n " << n << " int4 " << int4 << " trial " << trial;
      }
  kernels::select_isa(saved);
}

// §2.7: one 32-block with x0 = 7.0, x1 = −0.3, x16 = 1.3, the rest 0.
std::vector<float> worked_block() {
  std::vector<float> x(32, 0.0f);
  x[0] = 7.0f;
  x[1] = -0.3f;
  x[16] = 1.3f;
  return x;
}

TEST(FpqScales, MxFpqWorkedExample) {
  ThreadPool pool(1);
  const auto x = worked_block();
  auto s = fpq_group_scales(x.data(), 1, 32, FormatId::MXFP4_FPQ, Observer::MinMax, 0, pool);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->stored[0], 0x81);                  // E(amax) + 127
  EXPECT_EQ(s->scale[0], 4.0f / 3.0f);            // fl(2^2 / 3)
  const auto q0 = fpq_quantize_value(false, x[0], s->scale[0]);
  const auto q1 = fpq_quantize_value(false, x[1], s->scale[0]);
  const auto q16 = fpq_quantize_value(false, x[16], s->scale[0]);
  EXPECT_EQ(q0.code, 0x7);
  EXPECT_EQ(q1.code, 0x8);  // −0.225 rounds to −0
  EXPECT_EQ(q16.code, 0x2);
  EXPECT_EQ(q0.deq, 8.0f);
  EXPECT_EQ(q1.deq, 0.0f);
  EXPECT_TRUE(std::signbit(q1.deq));
  EXPECT_EQ(q16.deq, 4.0f / 3.0f);
}

TEST(FpqScales, MxOcpWorkedExample) {
  ThreadPool pool(1);
  const auto x = worked_block();
  auto s = fpq_group_scales(x.data(), 1, 32, FormatId::MXFP4, Observer::MinMax, 0, pool);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->stored[0], 0x7F);
  EXPECT_EQ(s->scale[0], 1.0f);
  EXPECT_EQ(fpq_quantize_value(false, x[0], 1.0f).code, 0x7);   // 7 clips to 6
  EXPECT_EQ(fpq_quantize_value(false, x[1], 1.0f).code, 0x9);   // −0.5
  EXPECT_EQ(fpq_quantize_value(false, x[16], 1.0f).code, 0x3);  // 1.5
  // All-zero block: byte 0 (the format's rule).
  std::vector<float> z(32, 0.0f);
  auto sz = fpq_group_scales(z.data(), 1, 32, FormatId::MXFP4, Observer::Mse, 0, pool);
  ASSERT_TRUE(sz.ok());
  EXPECT_EQ(sz->stored[0], 0);
}

TEST(FpqScales, Nvfp4WorkedExample) {
  ThreadPool pool(1);
  // §3.3: amax_T = 2 -> g = 1344; block x0 = 1.0, x1 = −0.2: s·g = 224 -> 0x76.
  std::vector<float> x(32, 0.0f);
  x[0] = 1.0f;
  x[1] = -0.2f;
  x[16] = 2.0f;  // sets amax_T in the second block
  EXPECT_EQ(nvfp4_global_scale(x.data(), 32), 1344.0f);
  auto s = fpq_group_scales(x.data(), 1, 32, FormatId::NVFP4, Observer::MinMax, 0, pool);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->global_scale, 1344.0f);
  EXPECT_EQ(s->stored[0], 0x76);
  EXPECT_EQ(s->scale[0], 224.0f * (1.0f / 1344.0f));  // E4M3 value times the fp32 reciprocal
  EXPECT_EQ(fpq_quantize_value(false, x[0], s->scale[0]).code, 0x7);
  EXPECT_EQ(fpq_quantize_value(false, x[1], s->scale[0]).code, 0xA);
  // A block whose scale rounds to zero in E4M3 gets scale 1 (FP-Quant), stored byte 0.
  std::vector<float> y(16, 0.0f);
  y[0] = 1e-9f;
  auto sy = fpq_group_scales(y.data(), 1, 16, FormatId::NVFP4, Observer::MinMax, 1344.0f, pool);
  ASSERT_TRUE(sy.ok());
  EXPECT_EQ(sy->stored[0], 0);
  EXPECT_EQ(sy->scale[0], 1.0f);
}

TEST(FpqScales, Int4ScaleIsTheFilesFp16) {
  ThreadPool pool(1);
  std::vector<float> x(32, 0.0f);
  x[0] = 1.5f;
  x[1] = -1.5f;
  x[2] = 0.1f;
  auto s = fpq_group_scales(x.data(), 1, 32, FormatId::INT4_G32, Observer::MinMax, 0, pool);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->stored[0], f32_to_fp16(0.2f));
  EXPECT_EQ(s->scale[0], fp16_to_f32(f32_to_fp16(0.2f)));
  const float sc = s->scale[0];
  EXPECT_EQ(fpq_quantize_value(true, x[0], sc).code, 15);  // 7.5… -> 8 -> clamped to 7
  EXPECT_EQ(fpq_quantize_value(true, x[1], sc).code, 0);   // −8
  for (float v : x) {
    const auto q = fpq_quantize_value(true, v, sc);
    EXPECT_EQ(q.deq, float(int(q.code) - 8) * sc);  // exactly what the INT4 file decodes to
  }
}

// The MSE observer picks the first strict minimum among the 100 candidates;
// candidate 0 is the minmax scale, so its error is never larger.
TEST(FpqScales, MseObserverNeverWorseThanMinmax) {
  ThreadPool pool(2);
  std::mt19937 rng(5);
  std::student_t_distribution<float> d(4.0f);
  const int64_t rows = 8, cols = 256;
  std::vector<float> w(static_cast<size_t>(rows * cols));
  for (float& v : w) v = d(rng);
  for (FormatId f : {FormatId::MXFP4_FPQ, FormatId::NVFP4, FormatId::INT4_G64}) {
    auto mm = fpq_group_scales(w.data(), rows, cols, f, Observer::MinMax, 0, pool);
    auto ms = fpq_group_scales(w.data(), rows, cols, f, Observer::Mse, 0, pool);
    ASSERT_TRUE(mm.ok() && ms.ok());
    const int64_t G = mm->group_size;
    const bool int4 = fpq_is_int4(f);
    int64_t shrunk = 0;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t t = 0; t < cols / G; ++t) {
        const float* x = w.data() + r * cols + t * G;
        float amax = 0;
        for (int64_t j = 0; j < G; ++j) amax = std::max(amax, std::fabs(x[j]));
        const float s0 = 2 * amax / (int4 ? 15.0f : 12.0f);
        std::vector<float> cands(100), errs(100);
        for (int i = 0; i < 100; ++i) cands[size_t(i)] = float(1.0 - 0.8 * i / 100.0) * s0;
        fpq_group_errors_ref(int4, x, G, cands.data(), 100, errs.data());
        int best = 0;
        for (int i = 1; i < 100; ++i)
          if (errs[size_t(i)] < errs[size_t(best)]) best = i;
        EXPECT_LE(errs[size_t(best)], errs[0]);
        shrunk += best > 0;
        // Every rounding rule is monotone, so the stored scale never grows.
        EXPECT_LE(ms->scale[size_t(r * (cols / G) + t)], mm->scale[size_t(r * (cols / G) + t)]);
      }
    EXPECT_GT(shrunk, 0) << "the search never shrank a scale";
  }
}

}  // namespace
}  // namespace nb::quant
