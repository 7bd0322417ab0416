#include "quant/layer_error.h"

#include <algorithm>
#include <vector>

#include "kernels/seq_gemm.h"

namespace nb::quant {
namespace {
constexpr kernels::SeqGemm kDot{kernels::SeqStart::FromZero, kernels::SeqStep::Add, kernels::SeqFinish::Store};
}

double relative_error_direct(const float* w, const float* q, int64_t rows, int64_t cols, const float* h,
                             ThreadPool& pool) {
  // [Δ; W] · H (H symmetric), then the row-wise dots with [Δ; W] in double.
  const int64_t n = rows * cols;
  std::vector<float> a(static_cast<size_t>(2 * n)), ah(a.size());
  for (int64_t i = 0; i < n; ++i) {
    a[size_t(i)] = q[i] - w[i];
    a[size_t(n + i)] = w[i];
  }
  kernels::seq_gemm_parallel(pool, kDot, 2 * rows, cols, cols, a.data(), cols, 1, h, cols, ah.data(), cols);
  double num = 0, den = 0;
  for (int64_t i = 0; i < n; ++i) {
    num += double(a[size_t(i)]) * double(ah[size_t(i)]);
    den += double(a[size_t(n + i)]) * double(ah[size_t(n + i)]);
  }
  return relative_error(num, den, n);
}

double weight_energy(const float* w, int64_t rows, int64_t cols, const float* lower, ThreadPool& pool) {
  // (W·L)[r][j] = Σ_{k >= j} W[r][k]·L[k][j], by column panels so the zero
  // upper triangle of L is skipped.
  constexpr int64_t kPanel = 256;
  std::vector<float> wl(static_cast<size_t>(rows * kPanel));
  double sum = 0;
  for (int64_t j0 = 0; j0 < cols; j0 += kPanel) {
    const int64_t p = std::min(kPanel, cols - j0);
    kernels::seq_gemm_parallel(pool, kDot, rows, p, cols - j0, w + j0, cols, 1, lower + j0 * cols + j0, cols,
                               wl.data(), p);
    for (int64_t i = 0; i < rows * p; ++i) sum += double(wl[size_t(i)]) * double(wl[size_t(i)]);
  }
  return sum;
}

}  // namespace nb::quant
