// seq_gemm (kernels/seq_gemm.h): the scalar oracle against the definition
// (one element at a time, l ascending), and the AVX-512 version (unpacked and
// packed paths, every mode, ragged shapes, transposed and reversed A/B
// strides) against the oracle bit for bit, plus seq_gemm_parallel's
// independence of the thread count.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/dispatch.h"
#include "kernels/seq_gemm.h"
#include "support/test_support.h"

namespace nb::kernels {
namespace {

std::vector<float> values(size_t n, uint32_t seed) {
  std::vector<float> v = test::normal_values(n, seed);
  for (size_t i = 0; i < n; i += 37) v[i] = 0.0f;   // zeros and negative zeros: signs of zero must match too
  for (size_t i = 5; i < n; i += 41) v[i] = -0.0f;
  return v;
}

// The definition, element by element.
void naive(const SeqGemm& op, int64_t m, int64_t n, int64_t k, const float* a, int64_t a_rs, int64_t a_cs,
           const float* b, int64_t ldb, float* c, int64_t ldc) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      float acc = op.start == SeqStart::FromC ? c[i * ldc + j] : 0.0f;
      for (int64_t l = 0; l < k; ++l) {
        const float p = a[i * a_rs + l * a_cs] * b[l * ldb + j];
        acc = op.step == SeqStep::Add ? acc + p : acc - p;
      }
      float& out = c[i * ldc + j];
      out = op.finish == SeqFinish::Store ? acc : op.finish == SeqFinish::Add ? out + acc : out - acc;
    }
}

const SeqGemm kOps[] = {
    {SeqStart::FromC, SeqStep::Add, SeqFinish::Store},   {SeqStart::FromC, SeqStep::Sub, SeqFinish::Store},
    {SeqStart::FromZero, SeqStep::Add, SeqFinish::Store}, {SeqStart::FromZero, SeqStep::Add, SeqFinish::Add},
    {SeqStart::FromZero, SeqStep::Add, SeqFinish::Sub},   {SeqStart::FromZero, SeqStep::Sub, SeqFinish::Store},
};

struct Shape {
  int64_t m, n, k;
};
const Shape kShapes[] = {{1, 1, 1},    {1, 40, 7},    {3, 17, 0},    {7, 33, 5},    {8, 32, 16},
                         {9, 31, 17},  {16, 16, 16},  {17, 65, 100}, {64, 64, 256}, {65, 70, 257},
                         {70, 300, 600}, {5, 513, 300}};

enum class Layout { RowMajorA, TransposedA, ReversedB };

// Runs `fn` and the naive definition on the same random problem; bitwise compare.
template <class Fn>
void compare(const SeqGemm& op, Shape s, Layout layout, uint32_t seed, Fn fn, const std::string& what) {
  const int64_t ldb = s.n + 3, ldc = s.n + 5, kk = s.k > 0 ? s.k : 1;
  auto a = values(size_t(s.m * kk + 8), seed), b = values(size_t(kk * ldb + 8), seed + 1),
       c0 = values(size_t(s.m * ldc + 8), seed + 2);
  int64_t a_rs = kk, a_cs = 1;
  const float* ap = a.data();
  if (layout == Layout::TransposedA) a_rs = 1, a_cs = s.m;
  const float* bp = b.data();
  int64_t ldb_eff = ldb;
  if (layout == Layout::ReversedB) {  // B(l, j) = b[(k-1-l)·ldb + j], A(i, l) = a[i·k + k-1-l]
    bp = b.data() + (kk - 1) * ldb;
    ldb_eff = -ldb;
    ap = a.data() + (kk - 1);
    a_cs = -1;
  }
  auto c_ref = c0, c_got = c0;
  naive(op, s.m, s.n, s.k, ap, a_rs, a_cs, bp, ldb_eff, c_ref.data(), ldc);
  fn(op, s.m, s.n, s.k, ap, a_rs, a_cs, bp, ldb_eff, c_got.data(), ldc);
  EXPECT_EQ(0, std::memcmp(c_ref.data(), c_got.data(), c_ref.size() * 4))
      << what << " m " << s.m << " n " << s.n << " k " << s.k << " layout " << int(layout) << " start "
      << int(op.start) << " step " << int(op.step) << " finish " << int(op.finish);
}

TEST(SeqGemm, ScalarOracleMatchesDefinition) {
  uint32_t seed = 1;
  for (const SeqGemm& op : kOps)
    for (Shape s : kShapes)
      for (Layout l : {Layout::RowMajorA, Layout::TransposedA, Layout::ReversedB})
        compare(op, s, l, seed++, seq_gemm_ref, "scalar");
}

TEST(SeqGemm, Avx512MatchesDefinitionBitForBit) {
  const std::string saved = active_table().isa;
  if (!select_isa("avx512")) GTEST_SKIP() << "no AVX-512 on this CPU";
  uint32_t seed = 1000;
  for (const SeqGemm& op : kOps)
    for (Shape s : kShapes)
      for (Layout l : {Layout::RowMajorA, Layout::TransposedA, Layout::ReversedB})
        compare(op, s, l, seed++, seq_gemm, "avx512");
  select_isa(saved);
}

TEST(SeqGemm, ParallelIndependentOfThreadCount) {
  ThreadPool one(1), two(2), three(3);
  for (const SeqGemm& op : kOps) {
    const Shape s{130, 1100, 300};
    for (ThreadPool* pool : {&one, &two, &three})
      compare(op, s, Layout::TransposedA, 77,
              [&](const SeqGemm& o, int64_t m, int64_t n, int64_t k, const float* a, int64_t a_rs, int64_t a_cs,
                  const float* b, int64_t ldb, float* c, int64_t ldc) {
                seq_gemm_parallel(*pool, o, m, n, k, a, a_rs, a_cs, b, ldb, c, ldc);
              },
              "parallel " + std::to_string(pool->size()));
  }
}

}  // namespace
}  // namespace nb::kernels
