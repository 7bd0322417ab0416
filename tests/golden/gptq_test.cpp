// Classic GPTQ / RTN (INT4, g = 128) against gptq-golden: vectors produced by the
// authors' IST-DASLab/gptq code (see shared/data/gptq-golden/README.md).
// Everything is bit-identical: codes, scales, deq (the fp32 Cholesky routines
// follow netlib LAPACK's operation order, so even the dynamic 2nd-group scales,
// fitted on GPTQ-updated weights, match; README §6 would allow ~13 ulps there).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "core/thread_pool.h"
#include "io/npy_read.h"
#include "quant/gptq.h"
#include "quant/hessian.h"
#include "support/gptq_golden.h"
#include "support/test_support.h"

namespace nb::test {
namespace {

using gptq_golden::kDir;

using gptq_golden::f32;
using gptq_golden::i32;
using gptq_golden::load;
using gptq_golden::u8;

int64_t ulps(float a, float b) {
  int32_t ia, ib;
  std::memcpy(&ia, &a, 4);
  std::memcpy(&ib, &b, 4);
  if ((ia < 0) != (ib < 0)) return a == b ? 0 : INT32_MAX;
  return std::llabs(int64_t(ia) - int64_t(ib));
}

double printed_error(const std::string& c) {
  std::ifstream f(data_path(kDir + "results.json"));
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  size_t p = s.find("\"" + c + "\"");
  p = s.find("reference_error_printed", p);
  p = s.find(':', p);
  return std::strtod(s.c_str() + p + 1, nullptr);
}

// Compares one case; max_scale_ulps = 0 demands bit-identical scales.
void check_case(const std::string& label, const quant::QuantizedInt& q, int64_t max_scale_ulps,
                bool has_perm) {
  const std::string prefix = label.substr(0, label.find(' '));
  const auto codes = u8(prefix + "_codes.npy");
  const auto scales = f32(prefix + "_scales.npy"), zeros = f32(prefix + "_zeros.npy");
  const auto deq = f32(prefix + "_deq.npy");
  ASSERT_EQ(codes.size(), q.codes.size());
  ASSERT_EQ(scales.size(), q.scales.size());
  int64_t code_diff = 0, deq_diff = 0, scale_diff = 0, worst_ulps = 0;
  for (size_t i = 0; i < codes.size(); ++i) code_diff += codes[i] != q.codes[i];
  for (size_t i = 0; i < deq.size(); ++i) deq_diff += deq[i] != q.deq[i];
  for (size_t i = 0; i < scales.size(); ++i) {
    scale_diff += scales[i] != q.scales[i];
    worst_ulps = std::max(worst_ulps, ulps(scales[i], q.scales[i]));
  }
  EXPECT_EQ(zeros, q.zeros);
  std::printf("[%s] codes differing: %lld / %zu; scales differing: %lld / %zu (max %lld ulps); deq differing: %lld\n",
              label.c_str(), (long long)code_diff, codes.size(), (long long)scale_diff, scales.size(),
              (long long)worst_ulps, (long long)deq_diff);
  EXPECT_EQ(code_diff, 0);
  EXPECT_LE(worst_ulps, max_scale_ulps);
  if (max_scale_ulps == 0) {
    EXPECT_EQ(deq_diff, 0);
  }
  if (has_perm) {
    EXPECT_EQ(i32(prefix + "_perm.npy"), q.perm);
    EXPECT_EQ(i32(prefix + "_g_idx.npy"), q.g_idx);
  }
}

TEST(GptqGolden, HessianBitExact) {
  NB_REQUIRE_DATA(kDir + "X.npy");
  auto xa = load("X.npy");
  ASSERT_EQ(xa.shape, (std::vector<int64_t>{2048, 256}));
  const auto x = f32("X.npy"), h = f32("H.npy");
  for (int threads : {1, 2}) {
    ThreadPool pool(threads);
    quant::HessianAccumulator acc(256);
    acc.add_batch(x.data(), 2048, 2048, pool);  // add_batch(inp=[2048, 1, 256]): 2048 samples of one token
    int64_t diff = 0;
    for (size_t i = 0; i < h.size(); ++i) diff += std::memcmp(&h[i], &acc.hessian()[i], 4) != 0;
    EXPECT_EQ(diff, 0) << "entries of H differing bitwise from H.npy, " << threads << " thread(s)";
  }
}

TEST(GptqGolden, RtnG128) {
  NB_REQUIRE_DATA(kDir + "W.npy");
  const auto w = f32("W.npy");
  auto q = quant::rtn_quantize(w.data(), 256, 256, 128);
  check_case("rtn_g128", q, 0, false);
}

// Run with 1 and 2 threads: both must match the golden files bit for bit.
void run_gptq(const std::string& prefix, bool act_order, bool static_groups, int64_t max_scale_ulps) {
  const auto w = f32("W.npy"), h = f32("H.npy");
  quant::GptqOptions opt;
  opt.act_order = act_order;
  opt.static_groups = static_groups;
  ThreadPool one(1), two(2);
  auto q1 = quant::gptq_quantize(w.data(), 256, 256, h.data(), opt, one);
  ASSERT_TRUE(q1.ok()) << q1.status().message();
  check_case(prefix + " (1 thread)", *q1, max_scale_ulps, act_order);
  auto q = quant::gptq_quantize(w.data(), 256, 256, h.data(), opt, two);
  ASSERT_TRUE(q.ok()) << q.status().message();
  check_case(prefix, *q, max_scale_ulps, act_order);
  EXPECT_EQ(q1->error, q->error);
  const double ref = printed_error(prefix);
  std::printf("[%s] error %.9g, reference printed %.9g (rel %.2g)\n", prefix.c_str(), q->error, ref,
              std::fabs(q->error - ref) / ref);
  EXPECT_NEAR(q->error, ref, 1e-5 * ref);
}

TEST(GptqGolden, G128) {
  NB_REQUIRE_DATA(kDir + "W.npy");
  run_gptq("gptq_g128", false, false, 0);
}
TEST(GptqGolden, G128ActOrderDynamic) {
  NB_REQUIRE_DATA(kDir + "W.npy");
  run_gptq("gptq_g128_act_dyn", true, false, 0);
}
TEST(GptqGolden, G128ActOrderStatic) {
  NB_REQUIRE_DATA(kDir + "W.npy");
  run_gptq("gptq_g128_act_static", true, true, 0);
}

}  // namespace
}  // namespace nb::test
