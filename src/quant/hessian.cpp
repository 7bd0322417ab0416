#include "quant/hessian.h"

#include <cmath>

// Bit-exactness needs every product rounded before the add.
#if defined(__FP_FAST_FMAF)
#warning "FMA contraction may be enabled; the Hessian will not be bit-exact with the reference"
#endif

namespace nb::quant {

HessianAccumulator::HessianAccumulator(int64_t cols) : cols_(cols), h_(size_t(cols * cols), 0.0f) {}

void HessianAccumulator::add_batch(const float* x, int64_t tokens, int64_t n_samples) {
  const int64_t K = cols_;
  // H *= n/(n+n_b): the Python float ratio, applied to the fp32 tensor in fp32.
  const float keep = float(double(n_samples_) / double(n_samples_ + n_samples));
  for (float& v : h_) v *= keep;
  n_samples_ += n_samples;
  const float s = float(std::sqrt(2.0 / double(n_samples_)));

  // tmp = Σ_l (s·x_l)(s·x_l)ᵀ, sequential in l, then H += tmp (a separate rounding).
  std::vector<float> tmp(static_cast<size_t>(K * K), 0.0f), a(static_cast<size_t>(K));
  for (int64_t l = 0; l < tokens; ++l) {
    const float* xl = x + l * K;
    for (int64_t i = 0; i < K; ++i) a[i] = s * xl[i];
    for (int64_t i = 0; i < K; ++i) {
      const float ai = a[i];
      float* t = tmp.data() + i * K;
      for (int64_t j = 0; j < K; ++j) {
        const float p = ai * a[j];
        t[j] = t[j] + p;
      }
    }
  }
  for (size_t i = 0; i < h_.size(); ++i) h_[i] = h_[i] + tmp[i];
}

}  // namespace nb::quant
