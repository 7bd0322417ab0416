// MR-GPTQ (FP-Quant's GPTQ) against gptq-golden: vectors produced by the
// authors' IST-DASLab/FP-Quant code on the rotated q_proj weight
// (shared/data/gptq-golden/README.md §3, §5). Inputs are the files' own
// W_hadK / H_hadK; the cases use the README's settings:
//   mxfp4 (MXFP4_FPQ, group 32, Had32) minmax / default order and mse / act-order,
//   nvfp4 (NVFP4, group 16, Had16, fused q/k/v global scale) the same two.
// Compared: codes (_fp4x2 and the nibbles of _packed), scales (_scales, _e8m0,
// _global_scale), perm, deq (bit for bit, −0.0 included) and the relative
// error of results.json. All of them match exactly; the only tolerance is the
// error's (README §6: 1e-5 relative, the reference's own thread-count noise).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "core/thread_pool.h"
#include "formats/blocks.h"
#include "formats/format.h"
#include "io/npy_read.h"
#include "kernels/hadamard.h"
#include "quant/fpq_gptq.h"
#include "quant/hessian.h"
#include "quant/linear_quantizer.h"
#include "support/gptq_golden.h"
#include "support/test_support.h"

namespace nb::test {
namespace {

using gptq_golden::kDir;
constexpr int64_t kRows = 256, kCols = 256;

using gptq_golden::f32;
using gptq_golden::i32;
using gptq_golden::load;
using gptq_golden::u8;
using gptq_golden::i8;

nlohmann::json results() {
  std::ifstream f(data_path(kDir + "results.json"));
  return nlohmann::json::parse(f);
}

struct Case {
  std::string prefix;
  FormatId format;
  int64_t k;  // Hadamard block
  quant::Observer observer;
  bool act_order;
};

quant::FpqGptqOptions options(const Case& c) {
  quant::FpqGptqOptions o;
  o.format = c.format;
  o.observer = c.observer;
  o.act_order = c.act_order;
  if (c.format == FormatId::NVFP4) o.nvfp4_global_scale = f32(c.prefix + "_global_scale.npy").at(0);
  return o;
}

uint8_t canonical(uint8_t code) { return code == 0x8 ? 0 : code; }

void check_case(const Case& c) {
  const std::string kk = std::to_string(c.k);
  const auto w = f32("W_had" + kk + ".npy"), h = f32("H_had" + kk + ".npy");
  ASSERT_EQ(w.size(), size_t(kRows * kCols));
  const quant::FpqGptqOptions opt = options(c);
  ThreadPool one(1), two(2);
  auto q1 = quant::fpq_quantize(w.data(), kRows, kCols, h.data(), opt, one);
  auto q = quant::fpq_quantize(w.data(), kRows, kCols, h.data(), opt, two);
  ASSERT_TRUE(q1.ok() && q.ok()) << q.status().message();
  EXPECT_FALSE(q->cholesky_failed);
  EXPECT_EQ(q1->codes, q->codes) << "thread count changed the codes";
  EXPECT_EQ(0, std::memcmp(q1->deq.data(), q->deq.data(), q->deq.size() * 4)) << "thread count changed deq";
  EXPECT_EQ(q1->rel_error, q->rel_error);

  // Codes: _fp4x2 = 2 · E2M1 value (sign of zero lost); _packed: FP-Quant's
  // even-low nibbles, every zero written as 0x8 -> compared canonicalized.
  const auto fp4x2 = i8(c.prefix + "_fp4x2.npy");
  const auto packed = u8(c.prefix + "_packed.npy");
  ASSERT_EQ(fp4x2.size(), q->codes.size());
  ASSERT_EQ(packed.size(), q->codes.size() / 2);
  int64_t code_diff = 0, packed_diff = 0, neg_zero = 0;
  for (size_t i = 0; i < q->codes.size(); ++i) {
    code_diff += formats::kE2M1Doubled[q->codes[i]] != fp4x2[i];
    const uint8_t nib = (i % 2 == 0) ? (packed[i / 2] & 0xF) : (packed[i / 2] >> 4);
    packed_diff += canonical(nib) != canonical(q->codes[i]);
    neg_zero += q->codes[i] == 0x8;
  }
  // Scales: decode scales bit for bit; MXFP4 also its E8M0 bytes, NVFP4 its g.
  const auto scales = f32(c.prefix + "_scales.npy");
  ASSERT_EQ(scales.size(), q->scales.scale.size());
  const int64_t scale_diff = [&] {
    int64_t d = 0;
    for (size_t i = 0; i < scales.size(); ++i) d += std::memcmp(&scales[i], &q->scales.scale[i], 4) != 0;
    return d;
  }();
  if (c.format == FormatId::MXFP4_FPQ) {
    const auto e8m0 = u8(c.prefix + "_e8m0.npy");
    ASSERT_EQ(e8m0.size(), q->scales.stored.size());
    for (size_t i = 0; i < e8m0.size(); ++i) ASSERT_EQ(e8m0[i], q->scales.stored[i]) << "group " << i;
  } else {
    EXPECT_EQ(q->scales.global_scale, opt.nvfp4_global_scale);
  }
  // deq: bit for bit (−0.0 where the reference has it).
  const auto deq = f32(c.prefix + "_deq.npy");
  int64_t deq_diff = 0, ref_neg_zero = 0;
  for (size_t i = 0; i < deq.size(); ++i) {
    deq_diff += std::memcmp(&deq[i], &q->deq[i], 4) != 0;
    ref_neg_zero += deq[i] == 0.0f && std::signbit(deq[i]);
  }
  const auto js = results()["cases"][c.prefix];
  const double ref_err = js["reference_relative_mse_error"].get<double>();
  std::printf("[%s] codes differing: %lld (fp4x2), %lld (packed nibbles); scales differing: %lld / %zu; "
              "deq differing bitwise: %lld; -0 codes %lld (reference deq %lld, results.json %lld)\n"
              "[%s] relative error %.10g, reference %.10g (rel %.2g)\n",
              c.prefix.c_str(), (long long)code_diff, (long long)packed_diff, (long long)scale_diff, scales.size(),
              (long long)deq_diff, (long long)neg_zero, (long long)ref_neg_zero,
              (long long)js["fp4_negative_zero_count"].get<int64_t>(), c.prefix.c_str(), q->rel_error, ref_err,
              std::fabs(q->rel_error - ref_err) / ref_err);
  EXPECT_EQ(code_diff, 0);
  EXPECT_EQ(packed_diff, 0);
  EXPECT_EQ(scale_diff, 0);
  EXPECT_EQ(deq_diff, 0);
  EXPECT_EQ(neg_zero, js["fp4_negative_zero_count"].get<int64_t>());
  // README §6: the reference's own error changes in the 7th digit with its thread count.
  EXPECT_NEAR(q->rel_error, ref_err, 1e-5 * ref_err);
  if (c.act_order) {
    EXPECT_EQ(i32(c.prefix + "_perm.npy"), q->perm);
  } else {
    for (int64_t j = 0; j < kCols; ++j) EXPECT_EQ(q->perm[size_t(j)], j);
  }
}

// The driver-facing entry point on the same case: its packed rows hold the same
// codes (0x8 written as 0x0), and decode through the format table to the
// reference deq except where the format's decode rounds in another order.
void check_packed_rows(const Case& c) {
  const std::string kk = std::to_string(c.k);
  const auto w = f32("W_had" + kk + ".npy"), h = f32("H_had" + kk + ".npy");
  const auto ref_deq = f32(c.prefix + "_deq.npy");
  quant::LinearQuantizeOptions lo;
  lo.format = c.format;
  lo.method = quant::Method::MrGptq;
  lo.act_order = c.act_order;
  lo.mse_scales = c.observer == quant::Observer::Mse;
  lo.nvfp4_global_scale = options(c).nvfp4_global_scale;
  ThreadPool pool(2);
  auto q = quant::quantize_linear(w.data(), kRows, kCols, h.data(), lo, pool);
  ASSERT_TRUE(q.ok()) << q.status().message();
  const auto& tr = formats::traits(c.format);
  const size_t rb = formats::row_bytes(c.format, kCols);
  ASSERT_EQ(q->packed.size(), rb * kRows);
  int64_t differ = 0, max_ulps = 0;
  for (int64_t r = 0; r < kRows; ++r) {
    std::vector<float> row(static_cast<size_t>(kCols));
    tr.to_float(q->packed.data() + r * rb, row.data(), kCols);
    for (int64_t j = 0; j < kCols; ++j) {
      const float file = row[size_t(j)] * q->tensor_scale, ref = ref_deq[size_t(r * kCols + j)];
      EXPECT_EQ(file, q->deq[size_t(r * kCols + j)]);
      if (file != ref) {
        ++differ;
        int32_t a, b;
        std::memcpy(&a, &file, 4);
        std::memcpy(&b, &ref, 4);
        max_ulps = std::max<int64_t>(max_ulps, std::llabs(int64_t(a) - int64_t(b)));
      }
    }
  }
  std::printf("[%s] file decode (to_float x tensor scale %.9g) differs from the reference deq in %lld of %lld "
              "entries (max %lld ulp); quantizer reports %lld\n",
              c.prefix.c_str(), double(q->tensor_scale), (long long)differ, (long long)(kRows * kCols),
              (long long)max_ulps, (long long)q->deq_rounding_differences);
  EXPECT_EQ(differ, q->deq_rounding_differences);
  // One extra rounding of an exact product (E2M1·E4M3·fl(1/g) or E2M1·2^e/3): at most 1 ulp.
  EXPECT_LE(max_ulps, 1);
}

// W_had from our butterfly FWHT of W.npy instead of the file (which was made by
// a dense F.linear; 16 / 9 entries differ by 1 ulp): how many codes move.
void check_own_rotation(const Case& c) {
  const std::string kk = std::to_string(c.k);
  auto w = f32("W.npy");
  const auto h = f32("H_had" + kk + ".npy");
  kernels::hadamard_rows(w.data(), kRows, kCols, c.k);
  ThreadPool pool(2);
  auto q = quant::fpq_quantize(w.data(), kRows, kCols, h.data(), options(c), pool);
  ASSERT_TRUE(q.ok()) << q.status().message();
  const auto fp4x2 = i8(c.prefix + "_fp4x2.npy");
  int64_t code_diff = 0;
  for (size_t i = 0; i < q->codes.size(); ++i) code_diff += formats::kE2M1Doubled[q->codes[i]] != fp4x2[i];
  std::printf("[%s] with our own FWHT of W.npy: %lld of %zu codes differ from the reference\n", c.prefix.c_str(),
              (long long)code_diff, q->codes.size());
  // A 1-ulp change of a weight moves a code only at a rounding boundary, and
  // then GPTQ's feedback can move a few neighbours in the same row.
  EXPECT_LE(code_diff, 64);
}

const Case kMxMinmax{"mrgptq_mxfp4_had32_minmax", FormatId::MXFP4_FPQ, 32, quant::Observer::MinMax, false};
const Case kMxMseAct{"mrgptq_mxfp4_had32_mse_act", FormatId::MXFP4_FPQ, 32, quant::Observer::Mse, true};
const Case kNvMinmax{"mrgptq_nvfp4_had16_minmax", FormatId::NVFP4, 16, quant::Observer::MinMax, false};
const Case kNvMseAct{"mrgptq_nvfp4_had16_mse_act", FormatId::NVFP4, 16, quant::Observer::Mse, true};

TEST(MrGptqGolden, Mxfp4Had32MinmaxDefaultOrder) {
  NB_REQUIRE_DATA(kDir + kMxMinmax.prefix + "_deq.npy");
  check_case(kMxMinmax);
  check_packed_rows(kMxMinmax);
  check_own_rotation(kMxMinmax);
}
TEST(MrGptqGolden, Mxfp4Had32MseActOrder) {
  NB_REQUIRE_DATA(kDir + kMxMseAct.prefix + "_deq.npy");
  check_case(kMxMseAct);
  check_packed_rows(kMxMseAct);
  check_own_rotation(kMxMseAct);
}
TEST(MrGptqGolden, Nvfp4Had16MinmaxDefaultOrder) {
  NB_REQUIRE_DATA(kDir + kNvMinmax.prefix + "_deq.npy");
  check_case(kNvMinmax);
  check_packed_rows(kNvMinmax);
  check_own_rotation(kNvMinmax);
}
TEST(MrGptqGolden, Nvfp4Had16MseActOrder) {
  NB_REQUIRE_DATA(kDir + kNvMseAct.prefix + "_deq.npy");
  check_case(kNvMseAct);
  check_packed_rows(kNvMseAct);
  check_own_rotation(kNvMseAct);
}

// H_hadK.npy: add_batch on X rotated by FP-Quant's HadamardTransform (a dense
// F.linear). With our dense rotation the Hessian is bit-identical. The
// butterfly FWHT (what the model runs online) rounds differently from the
// dense sum in many inputs, by about an ulp of each chunk; the Hessian entries
// then move by a few ulps of H's largest entry: counted and bounded (2e-6 of
// max |H| = 16 fp32 ulps at that magnitude, room for the 2048-term sums).
TEST(MrGptqGolden, HessianOfRotatedInputs) {
  NB_REQUIRE_DATA(kDir + "X.npy");
  const auto x = f32("X.npy");
  ThreadPool pool(2);
  for (int64_t k : {32, 16}) {
    const auto ref = f32("H_had" + std::to_string(k) + ".npy");
    auto xd = x, xb = x;
    kernels::hadamard_rows_dense(xd.data(), 2048, 256, k);
    kernels::hadamard_rows(xb.data(), 2048, 256, k);
    quant::HessianAccumulator hd(256), hb(256);
    hd.add_batch(xd.data(), 2048, 2048, pool);
    hb.add_batch(xb.data(), 2048, 2048, pool);
    int64_t x_diff = 0;
    for (size_t i = 0; i < xd.size(); ++i) x_diff += xd[i] != xb[i];
    int64_t dense_diff = 0, fwht_diff = 0;
    double hmax = 0, worst = 0;
    for (float v : ref) hmax = std::max(hmax, double(std::fabs(v)));
    for (size_t i = 0; i < ref.size(); ++i) {
      dense_diff += std::memcmp(&ref[i], &hd.hessian()[i], 4) != 0;
      fwht_diff += ref[i] != hb.hessian()[i];
      worst = std::max(worst, std::fabs(double(ref[i]) - double(hb.hessian()[i])));
    }
    std::printf("[H_had%lld] dense rotation: %lld entries differ; butterfly rotation (%lld of %zu inputs differ by "
                "rounding): %lld of %zu entries differ, max |diff| %.3g of max |H| %.3g\n",
                (long long)k, (long long)dense_diff, (long long)x_diff, xd.size(), (long long)fwht_diff, ref.size(),
                worst, hmax);
    EXPECT_EQ(dense_diff, 0);
    EXPECT_LE(worst, 2e-6 * hmax);
  }
}

// The global scale of q_proj alone, as FP-Quant computes it (results.json).
TEST(MrGptqGolden, Nvfp4GlobalScaleOfQProj) {
  NB_REQUIRE_DATA(kDir + "W_had16.npy");
  const auto w = f32("W_had16.npy");
  const double ref = results()["cases"]["mrgptq_nvfp4_had16_minmax"]["global_scale_q_proj_alone"].get<double>();
  EXPECT_EQ(quant::nvfp4_global_scale(w.data(), int64_t(w.size())), float(ref));
}

}  // namespace
}  // namespace nb::test
