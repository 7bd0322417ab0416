#include "quant/prepared_hessian.h"

#include <algorithm>
#include <numeric>

#include "quant/cholesky.h"

namespace nb::quant {

std::vector<int32_t> descending_diagonal_order(const float* h, int64_t n) {
  std::vector<int32_t> perm(static_cast<size_t>(n));
  std::iota(perm.begin(), perm.end(), 0);
  std::stable_sort(perm.begin(), perm.end(), [&](int32_t a, int32_t b) { return h[a * n + a] > h[b * n + b]; });
  return perm;
}

void factor_prepared(PreparedHessian& p, ThreadPool& pool) {
  const int64_t n = p.n;
  dampen_diagonal(p.damped, n, p.percdamp);
  p.upper = p.damped;
  p.lower.clear();
  p.cholesky_failed = !upper_cholesky_of_inverse(p.upper, n, pool, &p.lower);
  if (p.cholesky_failed) {
    p.lower.clear();
    std::fill(p.upper.begin(), p.upper.end(), 0.0f);
    for (int64_t j = 0; j < n; ++j) p.upper[size_t(j * n + j)] = 1.0f;
  }
}

PreparedHessian prepare_hessian(const float* h, int64_t n, bool act_order, float percdamp, ThreadPool& pool) {
  PreparedHessian p;
  p.n = n;
  p.act_order = act_order;
  p.percdamp = percdamp;
  if (act_order) {
    p.perm = descending_diagonal_order(h, n);
  } else {
    p.perm.resize(size_t(n));
    std::iota(p.perm.begin(), p.perm.end(), 0);
  }
  p.damped.resize(size_t(n * n));
  pool.parallel_for(n, [&](int64_t i0, int64_t i1, int) {
    for (int64_t i = i0; i < i1; ++i)
      for (int64_t j = 0; j < n; ++j) p.damped[size_t(i * n + j)] = h[p.perm[size_t(i)] * n + p.perm[size_t(j)]];
  });
  factor_prepared(p, pool);
  return p;
}

}  // namespace nb::quant
