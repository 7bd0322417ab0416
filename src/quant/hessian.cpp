#pragma GCC optimize("fp-contract=off")  // bit-exactness needs every product rounded before the add
#include "quant/hessian.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "kernels/bf16_gemm.h"
#include "kernels/seq_gemm.h"

namespace nb::quant {
namespace {

// Work units of the lower triangle: kRows rows × up to kCols columns.
constexpr int64_t kRows = 64, kCols = 1024;

}  // namespace

HessianAccumulator::HessianAccumulator(int64_t cols, HessianPrecision precision)
    : cols_(cols), precision_(precision), h_(static_cast<size_t>(cols * cols), 0.0f) {
  if (precision_ == HessianPrecision::Bf16) sum_.assign(h_.size(), 0.0f);
}

void HessianAccumulator::add_batch(const float* x, int64_t tokens, int64_t n_samples) {
  ThreadPool one(1);
  add_batch(x, tokens, n_samples, one);
}

void HessianAccumulator::add_batch(const float* x, int64_t tokens, int64_t n_samples, ThreadPool& pool) {
  const int64_t K = cols_;
  prepared_.reset();
  if (precision_ == HessianPrecision::Bf16) {
    n_samples_ += n_samples;
    kernels::gram_bf16_accumulate(x, tokens, K, sum_.data(), pool);
    upper_stale_ = true;
    return;
  }
  // H *= n/(n+n_b): the Python float ratio, applied to the fp32 tensor in fp32.
  const float keep = float(double(n_samples_) / double(n_samples_ + n_samples));
  n_samples_ += n_samples;
  const float s = float(std::sqrt(2.0 / double(n_samples_)));
  scaled_.resize(static_cast<size_t>(tokens * K));
  pool.parallel_for(tokens, [&](int64_t t0, int64_t t1, int) {
    for (int64_t i = t0 * K; i < t1 * K; ++i) scaled_[size_t(i)] = s * x[i];
  });

  // The lower triangle in work units of kRows rows × up to kCols columns (row
  // block ti, columns [c0, min(c1, diagonal end))); each: H *= keep, then
  // H += Σ_l a_l,i · a_l,j (a sum from zero, then one add: `finish Add`). Wide
  // units let seq_gemm reuse each packed panel of A across many columns.
  struct Unit {
    int64_t i0, j0, j1;
  };
  std::vector<Unit> units;
  for (int64_t i0 = 0; i0 < K; i0 += kRows) {
    const int64_t end = std::min(i0 + kRows, K);  // columns up to the end of the diagonal block
    for (int64_t j0 = 0; j0 < end; j0 += kCols) units.push_back({i0, j0, std::min(j0 + kCols, end)});
  }
  const kernels::SeqGemm op{kernels::SeqStart::FromZero, kernels::SeqStep::Add, kernels::SeqFinish::Add};
  const float* a = scaled_.data();
  pool.parallel_for(int64_t(units.size()), [&](int64_t b, int64_t e, int) {
    for (int64_t u = b; u < e; ++u) {
      const Unit& t = units[size_t(u)];
      const int64_t m = std::min(kRows, K - t.i0), n = t.j1 - t.j0;
      float* c = h_.data() + t.i0 * K + t.j0;
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) c[i * K + j] *= keep;
      kernels::seq_gemm(op, m, n, tokens, a + t.i0, 1, K, a + t.j0, K, c, K);
    }
  });
  upper_stale_ = true;
}

const std::vector<float>& HessianAccumulator::hessian() const {
  if (upper_stale_ && precision_ == HessianPrecision::Bf16) {
    const int64_t K = cols_;
    const float s = n_samples_ > 0 ? float(2.0 / double(n_samples_)) : 0.0f;
    for (int64_t i = 0; i < K; ++i)
      for (int64_t j = 0; j <= i; ++j) h_[size_t(i * K + j)] = h_[size_t(j * K + i)] = s * sum_[size_t(i * K + j)];
    upper_stale_ = false;
  }
  if (upper_stale_) {
    const int64_t K = cols_;
    for (int64_t i = 0; i < K; ++i)
      for (int64_t j = i + 1; j < K; ++j) h_[size_t(i * K + j)] = h_[size_t(j * K + i)];
    upper_stale_ = false;
  }
  return h_;
}

const PreparedHessian& HessianAccumulator::prepared(bool act_order, float percdamp, ThreadPool& pool) const {
  if (!prepared_ || prepared_->act_order != act_order || prepared_->percdamp != percdamp) {
    prepared_.reset();  // free the old factors before making new ones
    prepared_ = std::make_unique<PreparedHessian>(prepare_hessian(hessian().data(), cols_, act_order, percdamp, pool));
  }
  return *prepared_;
}

}  // namespace nb::quant
