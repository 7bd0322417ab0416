// GPTQ layer Hessian, accumulated exactly as the reference GPTQ.add_batch does
// (design/fp4-and-gptq.md §6.1): a running mean over calls,
//   H <- H·n/(n+n_b); n <- n+n_b; x <- fl32(sqrt(2/n))·x; H <- H + Σ_tokens x·xᵀ,
// all in fp32. Each x·xᵀ sum runs sequentially over the tokens in row order from
// zero, every product rounded before it is added (no FMA), and is then added to
// H: the order the reference's netlib sgemm uses; it reproduces
// gptq-golden/H.npy bit for bit. The work is split over fixed tiles of H, so the
// result does not depend on the thread count either.
//
// HessianPrecision::Bf16 is the fast calibration mode instead: the inputs are
// rounded to bf16 (what a bf16 model hands the reference's hook) and
// S = Σ_tokens x·xᵀ is summed in fp32 on the AMX tile unit
// (kernels/bf16_gemm.h), H = (2/n)·S at the end: the same running mean,
// summed in another order.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "core/thread_pool.h"
#include "quant/prepared_hessian.h"

namespace nb::quant {

enum class HessianPrecision : uint8_t { Exact, Bf16 };

class HessianAccumulator {
 public:
  explicit HessianAccumulator(int64_t cols, HessianPrecision precision = HessianPrecision::Exact);

  // x: [tokens, cols] row-major layer inputs of one forward call. n_samples is
  // what the reference counts for the running mean: the batch dimension of the
  // hook's input (sequences), not the token count.
  void add_batch(const float* x, int64_t tokens, int64_t n_samples, ThreadPool& pool);
  void add_batch(const float* x, int64_t tokens, int64_t n_samples);  // on the calling thread only

  int64_t cols() const { return cols_; }
  int64_t n_samples() const { return n_samples_; }
  // [cols, cols] row-major, symmetric (bit-exactly: x_i·x_j = x_j·x_i). Only the
  // lower triangle is accumulated; the upper one is filled in here when needed.
  const std::vector<float>& hessian() const;

  // H ordered, damped and factored for GPTQ (prepared_hessian.h). The last one
  // made is kept, so the linears sharing this input (q/k/v, gate/up) factor H
  // once; add_batch drops it. Not for concurrent use.
  const PreparedHessian& prepared(bool act_order, float percdamp, ThreadPool& pool) const;

 private:
  int64_t cols_;
  HessianPrecision precision_;
  int64_t n_samples_ = 0;
  mutable std::vector<float> h_;
  std::vector<float> sum_;  // Bf16: Σ x·xᵀ (lower triangle), H made from it on demand
  mutable bool upper_stale_ = false;
  std::vector<float> scaled_;  // s·x of the current batch
  mutable std::unique_ptr<PreparedHessian> prepared_;
};

}  // namespace nb::quant
