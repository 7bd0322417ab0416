// The scalar reference kernels that fill reference_table() (kernels/dispatch.h).
// Other code reaches them through the table; this header links ref/'s files.
#pragma once
#include <cstdint>

#include "kernels/dispatch.h"

namespace nb::kernels::ref {

// The row-by-row matmul for weight format `f` (calls formats::traits(f).dot),
// or nullptr if `f` has no dot.
MatmulRowsFn matmul_for(FormatId f);
// The exact-integer matmul of a tensor-scale format (formats::traits(f).dot_i32).
MatmulScaledRowsFn matmul_scaled_for(FormatId f);

void rmsnorm(float* out, const float* x, const float* w, int64_t n, float eps);
void bitlinear_codes(const float* v, float r, const float* w_norm, int64_t n, int64_t n_codes, void* dst);
void softmax(float* x, int64_t n);
void swiglu(float* out, const float* gate, const float* up, int64_t n);
void sigmoid(float* out, const float* x, int64_t n);
float dot_f32(const float* a, const float* b, int64_t n);
void axpy_f32(float* y, float a, const float* x, int64_t n);

}  // namespace nb::kernels::ref
