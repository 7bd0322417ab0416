#include "kernels/hadamard.h"

#include <bit>
#include <cmath>
#include <vector>

#include "kernels/dispatch.h"

namespace nb::kernels {

namespace cpu {
// hadamard_avx512.cpp: the same butterfly on 16-lane vectors, k >= 16.
void hadamard_rows_avx512(float* x, int64_t rows, int64_t n, int64_t k, float scale);
}  // namespace cpu

bool hadamard_block_ok(int64_t n, int64_t k) {
  return k >= 2 && k <= n && std::has_single_bit(uint64_t(k)) && n % k == 0;
}

// 1/√k with √k correctly rounded in double, then rounded to fp32: equal to
// float(k ** -0.5) (the reference's Python scalar) for every k = 2 … 4096.
float hadamard_scale(int64_t k) { return float(1.0 / std::sqrt(double(k))); }

void hadamard_rows_ref(float* x, int64_t rows, int64_t n, int64_t k) {
  const float scale = hadamard_scale(k);
  for (int64_t c = 0; c < rows * (n / k); ++c) {
    float* v = x + c * k;
    for (int64_t h = 1; h < k; h *= 2)
      for (int64_t i = 0; i < k; i += 2 * h)
        for (int64_t j = i; j < i + h; ++j) {
          const float a = v[j], b = v[j + h];
          v[j] = a + b;
          v[j + h] = a - b;
        }
    for (int64_t j = 0; j < k; ++j) v[j] *= scale;
  }
}

void hadamard_rows(float* x, int64_t rows, int64_t n, int64_t k) {
  // Every sum and difference is the same fp32 operation in the vector version,
  // so its results are bit-identical; the test compares them anyway.
  if (k >= 16 && active_table().isa == "avx512-vnni") {
    cpu::hadamard_rows_avx512(x, rows, n, k, hadamard_scale(k));
    return;
  }
  hadamard_rows_ref(x, rows, n, k);
}

void hadamard_rows_dense(float* x, int64_t rows, int64_t n, int64_t k) {
  const float scale = hadamard_scale(k);
  std::vector<float> y(static_cast<size_t>(k));
  for (int64_t c = 0; c < rows * (n / k); ++c) {
    float* v = x + c * k;
    for (int64_t j = 0; j < k; ++j) {
      float acc = 0.0f;
      for (int64_t i = 0; i < k; ++i) acc = (std::popcount(uint64_t(i & j)) & 1) ? acc - v[i] : acc + v[i];
      y[size_t(j)] = acc;
    }
    for (int64_t j = 0; j < k; ++j) v[j] = y[size_t(j)] * scale;
  }
}

}  // namespace nb::kernels
