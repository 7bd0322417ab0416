// The per-layer quantizer (quant/linear_quantizer.h, fpq_gptq.h) on random
// layers: the conformance checks of design/fp4-and-gptq.md §12.6 and the
// properties the driver relies on (packed rows decode to `deq`, thread-count
// independence, the cheap relative error equals the direct formula, a failed
// Cholesky falls back to rounding).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/half.h"
#include "core/thread_pool.h"
#include "formats/blocks.h"
#include "formats/format.h"
#include "kernels/hadamard.h"
#include "quant/cholesky.h"
#include "quant/fpq_gptq.h"
#include "quant/hessian.h"
#include "quant/layer_error.h"
#include "quant/linear_quantizer.h"

namespace nb::quant {
namespace {

constexpr int64_t kRows = 48, kCols = 256;

std::vector<float> weights(uint32_t seed, int64_t rows = kRows, int64_t cols = kCols) {
  std::mt19937 rng(seed);
  std::student_t_distribution<float> d(5.0f);  // heavier tails than a Gaussian, like LLM weights
  std::vector<float> w(static_cast<size_t>(rows * cols));
  for (float& v : w) v = 0.02f * d(rng);
  return w;
}

// H = XᵀX/T of correlated inputs with outlier channels.
std::vector<float> hessian(uint32_t seed, int64_t n = kCols) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  const int64_t T = 2 * n;
  std::vector<float> x(static_cast<size_t>(T * n));
  for (int64_t t = 0; t < T; ++t) {
    float prev = 0;
    for (int64_t j = 0; j < n; ++j) {
      const float v = d(rng) + 0.4f * prev;
      x[size_t(t * n + j)] = j % 29 == 3 ? 5 * v : v;
      prev = v;
    }
  }
  std::vector<float> h(static_cast<size_t>(n * n));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j <= i; ++j) {
      double s = 0;
      for (int64_t t = 0; t < T; ++t) s += double(x[size_t(t * n + i)]) * x[size_t(t * n + j)];
      h[size_t(i * n + j)] = h[size_t(j * n + i)] = float(2 * s / T);
    }
  return h;
}

const FormatId kFormats[] = {FormatId::MXFP4,    FormatId::MXFP4_FPQ, FormatId::NVFP4,
                             FormatId::INT4_G32, FormatId::INT4_G64,  FormatId::INT4_G128};
const Method kMethods[] = {Method::Rtn, Method::Gptq, Method::MrGptq};

LinearQuantizeOptions options(FormatId f, Method m, bool act = false, bool mse = false) {
  LinearQuantizeOptions o;
  o.format = f;
  o.method = m;
  o.act_order = act;
  o.mse_scales = mse;
  return o;
}

// "Frozen-scale RTN": FP-Quant's quantizer without a Hessian (mse_scales as given).
Result<QuantizedLinear> frozen_rtn(const std::vector<float>& w, FormatId f, ThreadPool& pool, bool mse = false) {
  return quantize_linear(w.data(), kRows, kCols, static_cast<const float*>(nullptr), options(f, Method::MrGptq, false, mse),
                         pool);
}

// Every method and format: the packed rows decode (format table, × tensor
// scale) to `deq`; codes and scales are what the rows hold; the quantizer's own
// code·scale differs from the file's decode only by NVFP4's one extra rounding.
TEST(LinearQuantizer, PackedRowsDecodeToDeq) {
  ThreadPool pool(2);
  const auto w = weights(1), h = hessian(2);
  for (FormatId f : kFormats)
    for (Method m : kMethods)
      for (bool act : {false, true}) {
        auto q = quantize_linear(w.data(), kRows, kCols, h.data(), options(f, m, act, m == Method::MrGptq), pool);
        ASSERT_TRUE(q.ok()) << q.status().message();
        const auto& tr = formats::traits(f);
        const size_t rb = formats::row_bytes(f, kCols);
        ASSERT_EQ(q->packed.size(), rb * kRows);
        std::vector<float> row(static_cast<size_t>(kCols));
        for (int64_t r = 0; r < kRows; ++r) {
          tr.to_float(q->packed.data() + r * rb, row.data(), kCols);
          for (int64_t j = 0; j < kCols; ++j) {
            const size_t i = size_t(r * kCols + j);
            ASSERT_EQ(row[size_t(j)] * q->tensor_scale, q->deq[i]) << tr.name << " method " << int(m);
            if (q->codes.empty()) continue;  // the format encoder (rtn) reports no codes
            // the code · scale the quantizer used, up to the file's rounding order
            const float own = fpq_is_int4(f) ? float(int(q->codes[i]) - 8) * q->scales[size_t(r * kCols / q->group_size + j / q->group_size)]
                                             : formats::kE2M1Values[q->codes[i]] * q->scales[size_t(r * kCols / q->group_size + j / q->group_size)];
            if (f == FormatId::NVFP4) {
              EXPECT_LE(std::fabs(own - q->deq[i]), std::fabs(q->deq[i]) * 0x1p-23f) << "NVFP4 one-rounding difference";
            } else {
              EXPECT_EQ(own, q->deq[i]) << tr.name;
            }
          }
        }
        if (f != FormatId::NVFP4) {
          EXPECT_EQ(q->deq_rounding_differences, 0) << tr.name;
        }
        EXPECT_GT(q->rel_error, 0.0) << tr.name << " method " << int(m);
      }
}

// §12.6: H = I ⇒ GPTQ equals RTN (no error flows between columns), in any order.
TEST(LinearQuantizer, IdentityHessianGivesRoundToNearest) {
  ThreadPool pool(2);
  const auto w = weights(3);
  std::vector<float> eye(static_cast<size_t>(kCols * kCols), 0.0f);
  for (int64_t j = 0; j < kCols; ++j) eye[size_t(j * kCols + j)] = 1.0f;
  for (FormatId f : kFormats)
    for (bool act : {false, true}) {
      auto rtn = frozen_rtn(w, f, pool);
      auto g = quantize_linear(w.data(), kRows, kCols, eye.data(), options(f, Method::MrGptq, act, false), pool);
      ASSERT_TRUE(rtn.ok() && g.ok());
      EXPECT_EQ(rtn->codes, g->codes) << formats::traits(f).name << " act " << act;
      if (fpq_is_int4(f)) {  // classic INT4 GPTQ too (its groups are fitted on unchanged columns)
        auto c = quantize_linear(w.data(), kRows, kCols, eye.data(), options(f, Method::Gptq, act), pool);
        ASSERT_TRUE(c.ok());
        EXPECT_EQ(0, std::memcmp(rtn->deq.data(), c->deq.data(), rtn->deq.size() * 4)) << formats::traits(f).name;
      }
    }
}

// §12.6: H -> 4·H changes nothing (damping is relative; a power-of-two factor
// scales U and the errors exactly).
TEST(LinearQuantizer, HessianScaleInvariance) {
  ThreadPool pool(2);
  const auto w = weights(4);
  auto h = hessian(5);
  auto h4 = h;
  for (float& v : h4) v *= 4.0f;
  for (FormatId f : {FormatId::MXFP4_FPQ, FormatId::NVFP4, FormatId::INT4_G128})
    for (Method m : {Method::Gptq, Method::MrGptq}) {
      auto a = quantize_linear(w.data(), kRows, kCols, h.data(), options(f, m, true, m == Method::MrGptq), pool);
      auto b = quantize_linear(w.data(), kRows, kCols, h4.data(), options(f, m, true, m == Method::MrGptq), pool);
      ASSERT_TRUE(a.ok() && b.ok());
      EXPECT_EQ(a->codes, b->codes);
      EXPECT_EQ(0, std::memcmp(a->deq.data(), b->deq.data(), a->deq.size() * 4));
    }
}

// §12.6 / §7.4: static act-order keeps each group's frozen scale and the
// unpermuted layout; the permutation sorts diag H descending.
TEST(FpqGptq, StaticActOrderKeepsFrozenScales) {
  ThreadPool pool(2);
  const auto w = weights(6), h = hessian(7);
  FpqGptqOptions o;
  o.format = FormatId::MXFP4_FPQ;
  o.observer = Observer::Mse;
  o.act_order = true;
  auto q = fpq_quantize(w.data(), kRows, kCols, h.data(), o, pool);
  auto s = fpq_group_scales(w.data(), kRows, kCols, o.format, o.observer, 0, pool);
  ASSERT_TRUE(q.ok() && s.ok());
  EXPECT_EQ(q->scales.scale, s->scale);
  std::vector<bool> seen(kCols, false);
  for (int64_t c = 0; c < kCols; ++c) {
    const int32_t p = q->perm[size_t(c)];
    ASSERT_FALSE(seen[size_t(p)]);
    seen[size_t(p)] = true;
    if (c > 0) {
      EXPECT_GE(h[size_t(q->perm[size_t(c - 1)] * kCols + q->perm[size_t(c - 1)])], h[size_t(p * kCols + p)]);
    }
  }
  for (int64_t r = 0; r < kRows; ++r)
    for (int64_t c = 0; c < kCols; ++c) {
      const size_t i = size_t(r * kCols + c);
      EXPECT_EQ(q->deq[i], formats::kE2M1Values[q->codes[i]] * s->scale[size_t(r * (kCols / 32) + c / 32)]);
    }
}

// FP-Quant's dead columns: an all-zero weight column has its H row and column
// masked, so GPTQ's error feedback never reaches it and it stays exactly 0
// (without the mask it would pick up updates from the columns before it).
TEST(FpqGptq, DeadColumnsStayZero) {
  ThreadPool pool(2);
  auto w = weights(26);
  for (int64_t r = 0; r < kRows; ++r) w[size_t(r * kCols + 200)] = 0.0f;
  const auto h = hessian(27);
  FpqGptqOptions o;
  o.format = FormatId::INT4_G32;
  auto q = fpq_quantize(w.data(), kRows, kCols, h.data(), o, pool);
  ASSERT_TRUE(q.ok());
  for (int64_t r = 0; r < kRows; ++r) EXPECT_EQ(q->deq[size_t(r * kCols + 200)], 0.0f);
}

TEST(FpqGptq, IndependentOfThreadCount) {
  const auto w = weights(8), h = hessian(9);
  FpqGptqOptions o;
  o.format = FormatId::NVFP4;
  o.observer = Observer::Mse;
  o.act_order = true;
  ThreadPool one(1), three(3);
  auto a = fpq_quantize(w.data(), kRows, kCols, h.data(), o, one);
  auto b = fpq_quantize(w.data(), kRows, kCols, h.data(), o, three);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->codes, b->codes);
  EXPECT_EQ(0, std::memcmp(a->deq.data(), b->deq.data(), a->deq.size() * 4));
  EXPECT_EQ(a->rel_error, b->rel_error);
}

// GPTQ usually beats rounding on its own objective (a smoke test: GPTQ is greedy).
TEST(FpqGptq, GptqErrorBelowRoundToNearest) {
  ThreadPool pool(2);
  const auto w = weights(10), h = hessian(11);
  for (FormatId f : {FormatId::MXFP4_FPQ, FormatId::NVFP4, FormatId::INT4_G32}) {
    auto rtn = quantize_linear(w.data(), kRows, kCols, h.data(), options(f, Method::Rtn), pool);
    auto g = quantize_linear(w.data(), kRows, kCols, h.data(), options(f, Method::MrGptq, true, true), pool);
    ASSERT_TRUE(rtn.ok() && g.ok());
    std::printf("[%s] relative error: rtn %.5f, mr-gptq %.5f\n", formats::traits(f).name, rtn->rel_error, g->rel_error);
    EXPECT_LT(g->rel_error, rtn->rel_error);
  }
}

// layer_error.h: ε from the loop's scaled errors and W·L equals the direct
// formula. Both are fp32 computations of the same quantity; they differ by the
// rounding of U, E and the products, ~1e-7 relative on the golden layer and
// here (cond(H) ~1e2); 1e-4 leaves room for worse-conditioned H.
TEST(FpqGptq, CheapRelativeErrorEqualsDirectFormula) {
  ThreadPool pool(2);
  const auto w = weights(12), h = hessian(13);
  for (FormatId f : {FormatId::MXFP4_FPQ, FormatId::INT4_G64}) {
    FpqGptqOptions o;
    o.format = f;
    o.act_order = true;
    auto q = fpq_quantize(w.data(), kRows, kCols, h.data(), o, pool);
    ASSERT_TRUE(q.ok());
    auto hd = h;
    dampen_diagonal(hd, kCols, 0.01f);
    const double direct = relative_error_direct(w.data(), q->deq.data(), kRows, kCols, hd.data(), pool);
    EXPECT_NEAR(q->rel_error, direct, 1e-4 * direct);
  }
  // The classic INT4 path reports the same quantity (2·error / energy).
  auto c = quantize_linear(w.data(), kRows, kCols, h.data(), options(FormatId::INT4_G128, Method::Gptq), pool);
  ASSERT_TRUE(c.ok());
  auto hd = h;
  dampen_diagonal(hd, kCols, 0.01f);
  EXPECT_NEAR(c->rel_error, relative_error_direct(w.data(), c->deq.data(), kRows, kCols, hd.data(), pool),
              1e-4 * c->rel_error);
}

// A Hessian that is not positive definite: U = I, i.e. rounding with the frozen scales, flagged.
TEST(FpqGptq, CholeskyFailureFallsBackToRounding) {
  ThreadPool pool(2);
  const auto w = weights(14);
  std::vector<float> bad(static_cast<size_t>(kCols * kCols), 0.0f);
  for (int64_t j = 0; j < kCols; ++j) bad[size_t(j * kCols + j)] = j == 100 ? -50.0f : 1.0f;
  for (Method m : {Method::Gptq, Method::MrGptq}) {
    auto rtn = frozen_rtn(w, FormatId::INT4_G64, pool);
    auto g = quantize_linear(w.data(), kRows, kCols, bad.data(), options(FormatId::INT4_G64, m), pool);
    ASSERT_TRUE(rtn.ok() && g.ok()) << g.status().message();
    EXPECT_TRUE(g->cholesky_failed);
    if (m == Method::MrGptq) {
      EXPECT_EQ(rtn->codes, g->codes);
    }
  }
}

// Frozen-scale RTN on OCP MXFP4 with minmax scales is exactly the format's own
// encoder (and method rtn is that encoder, for every format).
TEST(LinearQuantizer, RtnMxfp4EqualsFormatEncoder) {
  ThreadPool pool(2);
  const auto w = weights(15);
  auto q = frozen_rtn(w, FormatId::MXFP4, pool);
  auto e = quantize_linear(w.data(), kRows, kCols, static_cast<const float*>(nullptr), options(FormatId::MXFP4, Method::Rtn), pool);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->packed, q->packed);
  ASSERT_TRUE(q.ok());
  const auto& tr = formats::traits(FormatId::MXFP4);
  std::vector<uint8_t> enc(q->packed.size());
  const size_t rb = formats::row_bytes(FormatId::MXFP4, kCols);
  for (int64_t r = 0; r < kRows; ++r) tr.from_float(w.data() + r * kCols, enc.data() + r * rb, kCols);
  EXPECT_EQ(enc, q->packed);
}

// The INT4 format's own encoder computes codes with the fp32 scale and stores
// it as fp16; the GPTQ quantizers compute them with the stored fp16 scale.
// Count where that matters (both decode to their own deq).
TEST(LinearQuantizer, Int4CodesUseTheStoredFp16Scale) {
  ThreadPool pool(2);
  const auto w = weights(16);
  auto q = frozen_rtn(w, FormatId::INT4_G32, pool);
  ASSERT_TRUE(q.ok());
  const auto& tr = formats::traits(FormatId::INT4_G32);
  const size_t rb = formats::row_bytes(FormatId::INT4_G32, kCols);
  std::vector<uint8_t> enc(q->packed.size());
  int64_t differ = 0;
  for (int64_t r = 0; r < kRows; ++r) {
    tr.from_float(w.data() + r * kCols, enc.data() + r * rb, kCols);
    std::vector<float> a(static_cast<size_t>(kCols)), b(static_cast<size_t>(kCols));
    tr.to_float(enc.data() + r * rb, a.data(), kCols);
    tr.to_float(q->packed.data() + r * rb, b.data(), kCols);
    for (int64_t j = 0; j < kCols; ++j) differ += a[size_t(j)] != b[size_t(j)];
  }
  std::printf("int4_g32 RTN: %lld of %lld weights decode differently from the format encoder's\n", (long long)differ,
              (long long)(kRows * kCols));
  EXPECT_LT(differ, kRows * kCols / 100);  // rare: only values within an fp16 rounding of a code boundary
}

// Through a HessianAccumulator the factored Hessian is shared by the linears of
// one input; results are identical to factoring it for each call, also for a
// weight with an all-zero column (FP-Quant's masking: not shared) and after
// add_batch changed H.
TEST(LinearQuantizer, SharedFactorsGiveIdenticalResults) {
  ThreadPool pool(2);
  std::mt19937 rng(20);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(600 * kCols));
  for (float& v : x) v = d(rng);
  HessianAccumulator acc(kCols);
  acc.add_batch(x.data(), 300, 1, pool);
  auto w_dead = weights(22);
  for (int64_t r = 0; r < kRows; ++r) w_dead[size_t(r * kCols + 7)] = 0.0f;
  for (int step = 0; step < 2; ++step) {
    const std::vector<float> h = acc.hessian();
    for (const auto& w : {weights(21), w_dead, weights(23)})
      for (FormatId f : {FormatId::NVFP4, FormatId::INT4_G128})
        for (Method m : {Method::Gptq, Method::MrGptq}) {
          const auto o = options(f, m, true, false);
          auto shared = quantize_linear(w.data(), kRows, kCols, &acc, o, pool);
          auto fresh = quantize_linear(w.data(), kRows, kCols, h.data(), o, pool);
          ASSERT_TRUE(shared.ok() && fresh.ok());
          EXPECT_EQ(shared->packed, fresh->packed) << "step " << step;
          EXPECT_EQ(shared->rel_error, fresh->rel_error);
        }
    acc.add_batch(x.data() + 300 * kCols, 300, 1, pool);  // the cached factors must not survive this
  }
}

// Shapes that are not multiples of the GPTQ block (128) or of 8 rows.
TEST(LinearQuantizer, RaggedShapes) {
  const int64_t rows = 37, cols = 160;
  const auto w = weights(24, rows, cols), h = hessian(25, cols);
  ThreadPool one(1), two(2);
  for (FormatId f : {FormatId::INT4_G32, FormatId::NVFP4, FormatId::MXFP4_FPQ})
    for (Method m : {Method::Gptq, Method::MrGptq}) {
      auto a = quantize_linear(w.data(), rows, cols, h.data(), options(f, m, true, true), one);
      auto b = quantize_linear(w.data(), rows, cols, h.data(), options(f, m, true, true), two);
      ASSERT_TRUE(a.ok() && b.ok()) << a.status().message();
      EXPECT_EQ(a->packed, b->packed);
      EXPECT_GT(a->rel_error, 0.0);
      EXPECT_LT(a->rel_error, 0.05);
    }
}

TEST(LinearQuantizer, RejectsBadInput) {
  ThreadPool pool(1);
  auto w = weights(17);
  w[5] = NAN;
  EXPECT_FALSE(quantize_linear(w.data(), kRows, kCols, static_cast<const float*>(nullptr), options(FormatId::NVFP4, Method::Rtn), pool).ok());
  const auto w2 = weights(18, 4, 48);
  EXPECT_FALSE(quantize_linear(w2.data(), 4, 48, static_cast<const float*>(nullptr), options(FormatId::MXFP4, Method::Rtn), pool).ok());  // 48 % 32
  EXPECT_FALSE(quantize_linear(w2.data(), 4, 48, static_cast<const float*>(nullptr), options(FormatId::Q4_0, Method::MrGptq), pool).ok());
  const auto w3 = weights(18, 4, 64);  // method rtn: any format with an encoder
  EXPECT_TRUE(quantize_linear(w3.data(), 4, 64, static_cast<const float*>(nullptr), options(FormatId::Q4_0, Method::Rtn), pool).ok());
}

TEST(LinearQuantizer, RotateWeightsIsTheHadamardRotation) {
  ThreadPool pool(2);
  auto w = weights(19), ref = w;
  ASSERT_TRUE(rotate_weights(w.data(), kRows, kCols, 32, pool).ok());
  kernels::hadamard_rows_ref(ref.data(), kRows, kCols, 32);
  EXPECT_EQ(0, std::memcmp(w.data(), ref.data(), w.size() * 4));
  EXPECT_FALSE(rotate_weights(w.data(), kRows, kCols, 24, pool).ok());
}

}  // namespace
}  // namespace nb::quant
