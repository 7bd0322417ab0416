// matmul_quantized: the matmul for activations a model quantized itself
// (BitLinear's per-token int8), including the exact tensor-scale path of the
// ternary formats.
#include <cstdio>
#include <cstdlib>

#include "formats/format.h"
#include "kernels/dispatch.h"
#include "kernels/ops.h"

namespace nb::kernels {

namespace {
constexpr int64_t kGrainRows = 16;  // rows per work unit, as in matmul()

[[noreturn]] void fail(const char* what, const TensorView& W) {
  std::fprintf(stderr, "nibble: internal error: %s (format %s)\n", what, formats::traits(W.format).name);
  std::abort();
}
}  // namespace

void matmul_quantized(const TensorView& W, const void* Xq, size_t xq_row_bytes, int64_t T, float* Y,
                      int64_t y_stride, ThreadPool& pool) {
  const KernelTable& tab = active_table();
  const formats::FormatTraits& wt = formats::traits(W.format);
  const int64_t k = W.cols();
  const size_t w_row_bytes = W.ndim >= 2 ? size_t(W.stride[0]) : formats::row_bytes(W.format, k);
  if (T <= 0) return;
  // Loaders check formats and shapes first: reaching these is a programming error.
  if (wt.tensor_scale) {
    const MatmulScaledRowsFn fn = tab.matmul_scaled[size_t(W.format)];
    if (!fn) fail("matmul_quantized: no kernel for this tensor-scale format", W);
    const float ws = W.scale;
    pool.parallel_for(
        W.rows(), [&](int64_t r0, int64_t r1, int) { fn(W.data, w_row_bytes, r0, r1, k, Xq, xq_row_bytes, T, Y, y_stride, ws); },
        kGrainRows);
  } else {
    const MatmulRowsFn fn = tab.matmul[size_t(W.format)];
    if (!fn) fail("matmul_quantized: no kernel for this weight format", W);
    pool.parallel_for(
        W.rows(), [&](int64_t r0, int64_t r1, int) { fn(W.data, w_row_bytes, r0, r1, k, Xq, xq_row_bytes, T, Y, y_stride); },
        kGrainRows);
  }
}

}  // namespace nb::kernels
