// The ops of kernels/ops.h on the scalar (reference) table: RoPE, RMSNorm,
// softmax, SwiGLU and attention against direct formulas in double precision,
// matmul against per-row reference dots, and thread-count independence.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/half.h"
#include "core/thread_pool.h"
#include "formats/blocks.h"
#include "formats/format.h"
#include "kernels/dispatch.h"
#include "kernels/ops.h"
#include "support/test_support.h"

namespace nb::kernels {
namespace {

using test::normal_values;

// Runs each test on the scalar table and restores the previous choice.
class RefOps : public ::testing::Test {
 protected:
  void SetUp() override {
    saved_ = active_table().isa;
    ASSERT_TRUE(select_isa("scalar"));
  }
  void TearDown() override { select_isa(saved_); }
  std::string saved_;
};

// ---------------------------------------------------------------- RoPE

TEST_F(RefOps, RopeInterleavedMatchesFormula) {
  const int64_t n_heads = 3, head_dim = 10, rot_dim = 8, pos = 37;
  const float theta = 10000.0f;
  auto x = normal_values(size_t(n_heads * head_dim), 1);
  auto y = x;
  rope(y.data(), n_heads, head_dim, rot_dim, pos, theta, RopeStyle::Interleaved);
  for (int64_t h = 0; h < n_heads; ++h) {
    for (int64_t i = 0; i < rot_dim / 2; ++i) {
      const double angle = double(pos) * std::pow(double(theta), -2.0 * double(i) / double(rot_dim));
      const double a = x[size_t(h * head_dim + 2 * i)], b = x[size_t(h * head_dim + 2 * i + 1)];
      EXPECT_NEAR(y[size_t(h * head_dim + 2 * i)], a * std::cos(angle) - b * std::sin(angle), 1e-4);
      EXPECT_NEAR(y[size_t(h * head_dim + 2 * i + 1)], a * std::sin(angle) + b * std::cos(angle), 1e-4);
    }
    for (int64_t d = rot_dim; d < head_dim; ++d) EXPECT_EQ(y[size_t(h * head_dim + d)], x[size_t(h * head_dim + d)]);
  }
}

TEST_F(RefOps, RopeHalfSplitMatchesFormula) {
  const int64_t n_heads = 2, head_dim = 8, rot_dim = 8, pos = 5;
  const float theta = 500000.0f;
  auto x = normal_values(size_t(n_heads * head_dim), 2);
  auto y = x;
  rope(y.data(), n_heads, head_dim, rot_dim, pos, theta, RopeStyle::HalfSplit);
  const int64_t half = rot_dim / 2;
  for (int64_t h = 0; h < n_heads; ++h) {
    for (int64_t i = 0; i < half; ++i) {
      const double angle = double(pos) * std::pow(double(theta), -2.0 * double(i) / double(rot_dim));
      const double a = x[size_t(h * head_dim + i)], b = x[size_t(h * head_dim + i + half)];
      EXPECT_NEAR(y[size_t(h * head_dim + i)], a * std::cos(angle) - b * std::sin(angle), 1e-5);
      EXPECT_NEAR(y[size_t(h * head_dim + i + half)], a * std::sin(angle) + b * std::cos(angle), 1e-5);
    }
  }
}

TEST_F(RefOps, RopePositionZeroIsIdentity) {
  auto x = normal_values(32, 3);
  for (RopeStyle style : {RopeStyle::Interleaved, RopeStyle::HalfSplit}) {
    auto y = x;
    rope(y.data(), 4, 8, 8, 0, 10000.0f, style);
    EXPECT_EQ(y, x);
  }
}

// HalfSplit on x equals Interleaved on x permuted so that pair (i, i+half)
// sits at (2i, 2i+1); dims past rot_dim stay where they are. Same float
// operations, so the results are bit-identical.
TEST_F(RefOps, RopeHalfSplitIsPermutedInterleaved) {
  const int64_t n_heads = 3, head_dim = 12, rot_dim = 8, half = rot_dim / 2;
  auto x = normal_values(size_t(n_heads * head_dim), 4);
  auto p = x;
  for (int64_t h = 0; h < n_heads; ++h)
    for (int64_t i = 0; i < half; ++i) {
      p[size_t(h * head_dim + 2 * i)] = x[size_t(h * head_dim + i)];
      p[size_t(h * head_dim + 2 * i + 1)] = x[size_t(h * head_dim + i + half)];
    }
  for (int64_t pos : {1, 17, 4000}) {
    auto hs = x, il = p;
    rope(hs.data(), n_heads, head_dim, rot_dim, pos, 10000.0f, RopeStyle::HalfSplit);
    rope(il.data(), n_heads, head_dim, rot_dim, pos, 10000.0f, RopeStyle::Interleaved);
    for (int64_t h = 0; h < n_heads; ++h) {
      for (int64_t i = 0; i < half; ++i) {
        EXPECT_EQ(hs[size_t(h * head_dim + i)], il[size_t(h * head_dim + 2 * i)]);
        EXPECT_EQ(hs[size_t(h * head_dim + i + half)], il[size_t(h * head_dim + 2 * i + 1)]);
      }
      for (int64_t d = rot_dim; d < head_dim; ++d)
        EXPECT_EQ(hs[size_t(h * head_dim + d)], il[size_t(h * head_dim + d)]);
    }
  }
}

// ---------------------------------------------------------------- elementwise

TEST_F(RefOps, RmsnormMatchesFormulaAndMayAlias) {
  const int64_t n = 77;
  const float eps = 1e-5f;
  auto x = normal_values(size_t(n), 5, 3.0f), w = normal_values(size_t(n), 6);
  double ss = 0.0;
  for (float v : x) ss += double(v) * v;
  const double inv = 1.0 / std::sqrt(ss / double(n) + eps);
  std::vector<float> out(static_cast<size_t>(n));
  rmsnorm(out.data(), x.data(), w.data(), n, eps);
  for (size_t i = 0; i < size_t(n); ++i) EXPECT_NEAR(out[i], x[i] * inv * w[i], 1e-5 * (1.0 + std::fabs(x[i] * inv * w[i])));
  auto y = x;
  rmsnorm(y.data(), y.data(), w.data(), n, eps);
  EXPECT_EQ(y, out);
}

TEST_F(RefOps, SoftmaxSumsToOneAndKeepsOrder) {
  for (float spread : {1.0f, 50.0f, 1000.0f}) {
    auto x = normal_values(100, 7, spread);
    x[3] += 2000.0f;  // exp would overflow without subtracting the max
    auto p = x;
    softmax(p.data(), int64_t(p.size()));
    double sum = 0.0;
    for (float v : p) {
      ASSERT_TRUE(std::isfinite(v));
      ASSERT_GE(v, 0.0f);
      sum += v;
    }
    EXPECT_NEAR(sum, 1.0, 1e-5);
    for (size_t i = 1; i < x.size(); ++i)
      if (x[i] > x[i - 1]) {
        EXPECT_GE(p[i], p[i - 1]);
      }
  }
  std::vector<float> one = {-3.0f};
  softmax(one.data(), 1);
  EXPECT_EQ(one[0], 1.0f);
}

TEST_F(RefOps, SwigluMatchesFormula) {
  auto g = normal_values(50, 8, 4.0f), u = normal_values(50, 9);
  std::vector<float> out(50);
  swiglu(out.data(), g.data(), u.data(), 50);
  for (size_t i = 0; i < 50; ++i) {
    const double s = double(g[i]) / (1.0 + std::exp(-double(g[i])));
    EXPECT_NEAR(out[i], s * u[i], 1e-5 * (1.0 + std::fabs(s * u[i])));
  }
  swiglu(g.data(), g.data(), u.data(), 50);  // aliasing out and gate
  EXPECT_EQ(g, out);
}

TEST_F(RefOps, Argmax) {
  std::vector<float> x = {1.0f, 5.0f, -2.0f, 5.0f, 4.0f};
  EXPECT_EQ(argmax(x.data(), 5), 1);  // first of equal maxima
  EXPECT_EQ(argmax(x.data(), 1), 0);
}

TEST_F(RefOps, EmbeddingDecodesOneRow) {
  const int64_t rows = 5, cols = 64;
  auto values = normal_values(size_t(rows * cols), 10);
  const size_t rb = formats::row_bytes(FormatId::Q8_0, cols);
  std::vector<unsigned char> data(rb * size_t(rows));
  for (int64_t r = 0; r < rows; ++r)
    formats::traits(FormatId::Q8_0).from_float(values.data() + r * cols, data.data() + size_t(r) * rb, cols);
  const TensorView t = formats::matrix_view(FormatId::Q8_0, rows, cols, data.data(), 1.0f, int64_t(rb));
  std::vector<float> got(static_cast<size_t>(cols)), want(static_cast<size_t>(cols));
  embedding(t, 3, got.data());
  formats::traits(FormatId::Q8_0).to_float(data.data() + 3 * rb, want.data(), cols);
  EXPECT_EQ(got, want);
}

// ---------------------------------------------------------------- attention

struct AttnShape {
  int64_t n_heads, n_kv_heads, head_dim, n_ctx, kv_pad;
};

std::vector<float> run_attention(const AttnShape& s, const std::vector<float>& q, const std::vector<float>& k,
                                 const std::vector<float>& v, int threads) {
  ThreadPool pool(threads);
  const int64_t kv_stride = s.n_kv_heads * s.head_dim + s.kv_pad;
  std::vector<float> out(size_t(s.n_heads * s.head_dim), -1.0f);
  std::vector<float> scratch(static_cast<size_t>(s.n_ctx * threads));
  attention(out.data(), q.data(), k.data(), v.data(), s.n_heads, s.n_kv_heads, s.head_dim, s.n_ctx, kv_stride,
            scratch.data(), pool);
  return out;
}

TEST_F(RefOps, AttentionMatchesNaiveDoubleWithGqa) {
  const AttnShape shapes[] = {{4, 4, 16, 1, 0}, {8, 2, 16, 13, 3}, {6, 1, 8, 40, 5}, {4, 2, 64, 7, 0}};
  for (const AttnShape& s : shapes) {
    SCOPED_TRACE("heads " + std::to_string(s.n_heads) + " kv " + std::to_string(s.n_kv_heads) + " ctx " +
                 std::to_string(s.n_ctx));
    const int64_t kv_stride = s.n_kv_heads * s.head_dim + s.kv_pad;
    auto q = normal_values(size_t(s.n_heads * s.head_dim), 11, 2.0f);
    auto k = normal_values(size_t(s.n_ctx * kv_stride), 12);
    auto v = normal_values(size_t(s.n_ctx * kv_stride), 13);
    const int64_t group = s.n_heads / s.n_kv_heads;
    for (int threads : {1, 3}) {
      auto out = run_attention(s, q, k, v, threads);
      for (int64_t h = 0; h < s.n_heads; ++h) {
        const int64_t kvh = h / group;
        std::vector<double> p(size_t(s.n_ctx));
        double max = -1e300, sum = 0.0;
        for (int64_t t = 0; t < s.n_ctx; ++t) {
          double dot = 0.0;
          for (int64_t d = 0; d < s.head_dim; ++d)
            dot += double(q[size_t(h * s.head_dim + d)]) * k[size_t(t * kv_stride + kvh * s.head_dim + d)];
          p[size_t(t)] = dot / std::sqrt(double(s.head_dim));
          max = std::max(max, p[size_t(t)]);
        }
        for (double& x : p) sum += (x = std::exp(x - max));
        for (int64_t d = 0; d < s.head_dim; ++d) {
          double o = 0.0;
          for (int64_t t = 0; t < s.n_ctx; ++t) o += p[size_t(t)] / sum * v[size_t(t * kv_stride + kvh * s.head_dim + d)];
          EXPECT_NEAR(out[size_t(h * s.head_dim + d)], o, 1e-5) << "head " << h << " dim " << d;
        }
      }
    }
  }
}

TEST_F(RefOps, AttentionSameForAnyThreadCount) {
  const AttnShape s{8, 2, 32, 29, 0};
  auto q = normal_values(size_t(s.n_heads * s.head_dim), 21);
  auto k = normal_values(size_t(s.n_ctx * s.n_kv_heads * s.head_dim), 22);
  auto v = normal_values(size_t(s.n_ctx * s.n_kv_heads * s.head_dim), 23);
  EXPECT_EQ(run_attention(s, q, k, v, 1), run_attention(s, q, k, v, 3));
}

// A prefill's attention_causal gives every (token, head) exactly what one
// attention() call per token gives (prefill = decode), on every ISA, and each
// ISA's attend_head is exactly its own dot / softmax / axpy composition.
TEST(AttentionCausal, EqualsPerTokenAttentionOnEveryIsa) {
  const std::string saved = active_table().isa;
  std::string isas = available_isas() + " ";
  for (size_t at = 0, sp; (sp = isas.find(' ', at)) != std::string::npos; at = sp + 1) {
    const std::string isa = isas.substr(at, sp - at);
    ASSERT_TRUE(select_isa(isa));
    SCOPED_TRACE(isa);
    for (const AttnShape& s : {AttnShape{8, 2, 64, 0, 0}, AttnShape{6, 3, 20, 0, 5}, AttnShape{4, 4, 136, 0, 0}}) {
      const int64_t pos0 = 5, T = 23, kv_stride = s.n_kv_heads * s.head_dim + s.kv_pad, q_dim = s.n_heads * s.head_dim;
      const auto q = normal_values(size_t(T * q_dim), 31, 2.0f);
      const auto k = normal_values(size_t((pos0 + T) * kv_stride), 32), v = normal_values(size_t((pos0 + T) * kv_stride), 33);
      ThreadPool pool(2);
      std::vector<float> all(size_t(T * q_dim)), one(size_t(T * q_dim)), scratch(size_t(2 * (pos0 + T)));
      attention_causal(all.data(), q.data(), q_dim, k.data(), v.data(), s.n_heads, s.n_kv_heads, s.head_dim, pos0, T,
                       kv_stride, scratch.data(), pool);
      for (int64_t t = 0; t < T; ++t)
        attention(&one[size_t(t * q_dim)], &q[size_t(t * q_dim)], k.data(), v.data(), s.n_heads, s.n_kv_heads,
                  s.head_dim, pos0 + t + 1, kv_stride, scratch.data(), pool);
      EXPECT_EQ(std::memcmp(all.data(), one.data(), all.size() * 4), 0) << "head_dim " << s.head_dim;
      // attend_head vs the composition of the same table's primitives
      const KernelTable& tab = active_table();
      const int64_t n = pos0 + T;
      std::vector<float> a(static_cast<size_t>(s.head_dim)), b(static_cast<size_t>(s.head_dim)), sc(static_cast<size_t>(n));
      tab.attend_head(a.data(), q.data(), k.data(), v.data(), s.head_dim, n, kv_stride, 8.0f, sc.data());
      for (int64_t t = 0; t < n; ++t) sc[size_t(t)] = tab.dot_f32(q.data(), k.data() + t * kv_stride, s.head_dim) / 8.0f;
      tab.softmax(sc.data(), n);
      std::fill(b.begin(), b.end(), 0.0f);
      for (int64_t t = 0; t < n; ++t) tab.axpy_f32(b.data(), sc[size_t(t)], v.data() + t * kv_stride, s.head_dim);
      EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * 4), 0) << "head_dim " << s.head_dim;
    }
  }
  select_isa(saved);
}

// ---------------------------------------------------------------- matmul

// A weight matrix in format f with rows of `cols` values, row stride padded
// by a few bytes to check that the stride is honoured. Formats nibble cannot
// encode (K-quants) get random bytes with a fixed, finite fp16 d / dmin.
struct Weights {
  std::vector<unsigned char> bytes;
  TensorView view;
};

Weights make_weights(FormatId f, int64_t rows, int64_t cols, uint32_t seed) {
  const formats::FormatTraits& t = formats::traits(f);
  const size_t rb = formats::row_bytes(f, cols), stride = rb + 6;
  Weights w;
  w.bytes.assign(stride * size_t(rows), 0);
  std::mt19937 rng(seed);
  auto values = normal_values(size_t(rows * cols), seed, 0.1f);
  for (int64_t r = 0; r < rows; ++r) {
    unsigned char* row = w.bytes.data() + size_t(r) * stride;
    if (t.from_float) {
      t.from_float(values.data() + r * cols, row, cols);
      continue;
    }
    for (size_t b = 0; b < rb; ++b) row[b] = static_cast<unsigned char>(rng());
    for (int64_t s = 0; s < cols / formats::kQK_K; ++s) {
      unsigned char* blk = row + size_t(s) * t.block_bytes;
      if (f == FormatId::Q6_K) {
        reinterpret_cast<formats::BlockQ6_K*>(blk)->d = f32_to_fp16(0.001f * float(1 + rng() % 7));
      } else {
        auto* b = reinterpret_cast<formats::BlockQ4_K*>(blk);
        b->d = f32_to_fp16(0.002f * float(1 + rng() % 5));
        b->dmin = f32_to_fp16(0.001f * float(rng() % 5));
      }
    }
  }
  w.view = formats::matrix_view(f, rows, cols, w.bytes.data(), 1.0f, int64_t(stride));
  return w;
}

const FormatId kWeightFormats[] = {FormatId::F32,  FormatId::F16,  FormatId::BF16, FormatId::Q8_0,  FormatId::Q4_0,
                                   FormatId::Q4_K, FormatId::Q5_K, FormatId::Q6_K, FormatId::I8_ROW};

std::vector<float> run_matmul(const Weights& w, const std::vector<float>& x, int64_t x_stride, int64_t T,
                              int64_t y_stride, int threads) {
  ThreadPool pool(threads);
  std::vector<float> y(size_t(T * y_stride), -7.0f);
  matmul(w.view, x.data(), x_stride, T, y.data(), y_stride, pool);
  return y;
}

TEST_F(RefOps, MatmulEqualsPerRowReferenceDot) {
  for (FormatId f : kWeightFormats) {
    const formats::FormatTraits& t = formats::traits(f);
    SCOPED_TRACE(t.name);
    const int64_t rows = 37, cols = 512, T = 3, x_stride = cols + 5, y_stride = rows + 2;
    Weights w = make_weights(f, rows, cols, 100 + uint32_t(f));
    auto x = normal_values(size_t(T * x_stride), 200 + uint32_t(f));
    auto y = run_matmul(w, x, x_stride, T, y_stride, 2);
    const formats::FormatTraits& at = formats::traits(t.dot_type);
    std::vector<unsigned char> xq(formats::row_bytes(t.dot_type, cols));
    for (int64_t tok = 0; tok < T; ++tok) {
      at.from_float(x.data() + tok * x_stride, xq.data(), cols);
      for (int64_t r = 0; r < rows; ++r)
        ASSERT_EQ(y[size_t(tok * y_stride + r)], t.dot(w.bytes.data() + size_t(r) * size_t(w.view.stride[0]), xq.data(), cols))
            << "token " << tok << " row " << r;
      for (int64_t r = rows; r < y_stride; ++r) EXPECT_EQ(y[size_t(tok * y_stride + r)], -7.0f);  // padding untouched
    }
  }
}

TEST_F(RefOps, MatvecIsOneTokenMatmul) {
  Weights w = make_weights(FormatId::Q4_0, 20, 64, 5);
  auto x = normal_values(64, 6);
  ThreadPool pool(2);
  std::vector<float> y(20);
  matvec(w.view, x.data(), y.data(), pool);
  EXPECT_EQ(y, std::vector<float>(run_matmul(w, x, 64, 1, 20, 1)));
}

// Work is split by output rows, so the thread count never changes a result.
// Checked on the scalar table and on the best table this CPU has.
TEST_F(RefOps, MatmulSameForAnyThreadCount) {
  for (const char* which : {"scalar", "best"}) {
    if (std::string(which) == "best") {
      ASSERT_TRUE(select_isa(saved_));
    }
    SCOPED_TRACE(active_table().isa);
    for (FormatId f : kWeightFormats) {
      SCOPED_TRACE(formats::traits(f).name);
      const int64_t rows = 53, cols = 256, T = 5;
      Weights w = make_weights(f, rows, cols, 300 + uint32_t(f));
      auto x = normal_values(size_t(T * cols), 400 + uint32_t(f));
      EXPECT_EQ(run_matmul(w, x, cols, T, rows, 1), run_matmul(w, x, cols, T, rows, 3));
    }
  }
}

// ---------------------------------------------------------------- dispatch

TEST(RefDispatch, ReferenceTableCoversEveryFormat) {
  const KernelTable& t = reference_table();
  EXPECT_EQ(t.isa, "scalar");
  for (size_t i = 0; i < size_t(FormatId::kCount); ++i) {
    const formats::FormatTraits& f = formats::traits(FormatId(i));
    SCOPED_TRACE(f.name);
    EXPECT_EQ(t.matmul[i] != nullptr, f.dot != nullptr);
    if (f.dot) {
      EXPECT_STREQ(t.matmul_isa[i], "scalar");
      EXPECT_NE(t.quantize[size_t(f.dot_type)], nullptr);
    }
  }
  EXPECT_EQ(t.quantize[size_t(FormatId::Q4_0)], nullptr);  // weight-only format
  EXPECT_NE(t.rmsnorm, nullptr);
  EXPECT_NE(t.softmax, nullptr);
  EXPECT_NE(t.swiglu, nullptr);
  EXPECT_NE(t.dot_f32, nullptr);
  EXPECT_NE(t.axpy_f32, nullptr);
}

// Every ISA this CPU has gives a complete table: optimized entries replace
// reference ones, never remove them, and each matmul says who provided it.
TEST(RefDispatch, EveryAvailableIsaGivesACompleteTable) {
  const std::string saved = active_table().isa;
  const std::string isas = available_isas();
  EXPECT_EQ(isas.rfind("scalar", 0), 0u) << isas;
  EXPECT_FALSE(select_isa("no-such-isa"));
  size_t start = 0;
  while (start < isas.size()) {
    size_t end = isas.find(' ', start);
    if (end == std::string::npos) end = isas.size();
    const std::string isa = isas.substr(start, end - start);
    start = end + 1;
    SCOPED_TRACE(isa);
    ASSERT_TRUE(select_isa(isa));
    const KernelTable& t = active_table();
    for (size_t i = 0; i < size_t(FormatId::kCount); ++i) {
      if (!reference_table().matmul[i]) continue;
      EXPECT_NE(t.matmul[i], nullptr);
      EXPECT_NE(t.matmul_isa[i], nullptr);
      EXPECT_NE(t.quantize[size_t(formats::traits(FormatId(i)).dot_type)], nullptr);
    }
    EXPECT_NE(t.rmsnorm, nullptr);
    EXPECT_NE(t.axpy_f32, nullptr);
  }
  EXPECT_TRUE(select_isa(saved));
  EXPECT_EQ(active_table().isa, saved);
}

}  // namespace
}  // namespace nb::kernels
