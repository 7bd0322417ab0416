// GPTQ layer Hessian, accumulated exactly as the reference GPTQ.add_batch does
// (design/fp4-and-gptq.md §6.1): a running mean over calls,
//   H <- H·n/(n+n_b); n <- n+n_b; x <- fl32(sqrt(2/n))·x; H <- H + Σ_tokens x·xᵀ,
// all in fp32. Each x·xᵀ sum runs sequentially over the tokens in row order,
// every product rounded before it is added (no FMA): that is the order the
// reference's netlib sgemm uses, and it reproduces gptq-golden/H.npy bit for bit.
#pragma once
#include <cstdint>
#include <vector>

namespace nb::quant {

class HessianAccumulator {
 public:
  explicit HessianAccumulator(int64_t cols);

  // x: [tokens, cols] row-major layer inputs of one forward call. n_samples is
  // what the reference counts for the running mean: the batch dimension of the
  // hook's input (sequences), not the token count.
  void add_batch(const float* x, int64_t tokens, int64_t n_samples);

  int64_t cols() const { return cols_; }
  int64_t n_samples() const { return n_samples_; }
  const std::vector<float>& hessian() const { return h_; }  // [cols, cols] row-major, symmetric

 private:
  int64_t cols_;
  int64_t n_samples_ = 0;
  std::vector<float> h_;
};

}  // namespace nb::quant
