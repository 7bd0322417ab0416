// Scalar oracle, ISA choice and tiling of seq_gemm (see seq_gemm.h).
#pragma GCC optimize("fp-contract=off")  // the operation order is the contract: no FMA, ever
#include "kernels/seq_gemm.h"

#include <algorithm>
#include <vector>

#include "kernels/dispatch.h"

namespace nb::kernels {

namespace cpu {
void seq_gemm_avx512(const SeqGemm& op, int64_t m, int64_t n, int64_t k, const float* a, int64_t a_rs, int64_t a_cs,
                     const float* b, int64_t ldb, float* c, int64_t ldc);
}  // namespace cpu

// l outer, j inner: each element still sees its own products in ascending l,
// and the j loop is the one a compiler can vectorize.
void seq_gemm_ref(const SeqGemm& op, int64_t m, int64_t n, int64_t k, const float* a, int64_t a_rs, int64_t a_cs,
                  const float* b, int64_t ldb, float* c, int64_t ldc) {
  std::vector<float> acc(static_cast<size_t>(n));
  for (int64_t i = 0; i < m; ++i) {
    float* ci = c + i * ldc;
    for (int64_t j = 0; j < n; ++j) acc[size_t(j)] = op.start == SeqStart::FromC ? ci[j] : 0.0f;
    for (int64_t l = 0; l < k; ++l) {
      const float ail = a[i * a_rs + l * a_cs];
      const float* bl = b + l * ldb;
      if (op.step == SeqStep::Add)
        for (int64_t j = 0; j < n; ++j) acc[size_t(j)] = acc[size_t(j)] + ail * bl[j];
      else
        for (int64_t j = 0; j < n; ++j) acc[size_t(j)] = acc[size_t(j)] - ail * bl[j];
    }
    for (int64_t j = 0; j < n; ++j) {
      const float v = acc[size_t(j)];
      ci[j] = op.finish == SeqFinish::Store ? v : op.finish == SeqFinish::Add ? ci[j] + v : ci[j] - v;
    }
  }
}

void seq_gemm(const SeqGemm& op, int64_t m, int64_t n, int64_t k, const float* a, int64_t a_rs, int64_t a_cs,
              const float* b, int64_t ldb, float* c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  if (active_table().isa == "avx512-vnni") {
    cpu::seq_gemm_avx512(op, m, n, k, a, a_rs, a_cs, b, ldb, c, ldc);
    return;
  }
  seq_gemm_ref(op, m, n, k, a, a_rs, a_cs, b, ldb, c, ldc);
}

void seq_gemm_parallel(ThreadPool& pool, const SeqGemm& op, int64_t m, int64_t n, int64_t k, const float* a,
                       int64_t a_rs, int64_t a_cs, const float* b, int64_t ldb, float* c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  // Tiles of 64 rows × 512 columns: enough of them to share out, each long
  // enough that claiming one costs nothing next to its work.
  constexpr int64_t kTm = 64, kTn = 512;
  const int64_t tm = (m + kTm - 1) / kTm, tn = (n + kTn - 1) / kTn;
  pool.parallel_for(tm * tn, [&](int64_t t0, int64_t t1, int) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t i0 = (t / tn) * kTm, j0 = (t % tn) * kTn;
      seq_gemm(op, std::min(kTm, m - i0), std::min(kTn, n - j0), k, a + i0 * a_rs, a_rs, a_cs, b + j0, ldb,
               c + i0 * ldc + j0, ldc);
    }
  });
}

}  // namespace nb::kernels
