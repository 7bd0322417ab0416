// matmul_quantized(_group): the matmul over activations already in the weights'
// dot format (BitLinear's per-token int8, or matmul_group's conversions),
// including the exact tensor-scale path of the ternary formats.
#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "formats/format.h"
#include "kernels/dispatch.h"
#include "kernels/ops.h"

namespace nb::kernels {

namespace {
constexpr int64_t kGrainRows = kMatmulGrainRows;

[[noreturn]] void fail(const char* what, const TensorView& W) {
  std::fprintf(stderr, "nibble: internal error: %s (format %s)\n", what, formats::traits(W.format).name);
  std::abort();
}

// Formats with a tensor scale and an integer dot (T2, T1_6) take the exact
// scaled kernel; a tensor-scale format with a float dot (NVFP4) stores the
// weights divided by W.scale, so each output is multiplied by it once, by
// the thread that computed it.
bool exact_scaled(FormatId f) {
  const formats::FormatTraits& t = formats::traits(f);
  return t.tensor_scale && t.dot_i32 != nullptr;
}
}  // namespace

void matmul_quantized_group(std::span<const QuantizedProduct> products, int64_t T, ThreadPool& pool,
                            FloatSums sums) {
  if (T <= 0 || products.empty()) return;
  const KernelTable& tab = active_table();
  // Loaders check formats and shapes first: reaching these is a programming error.
  int64_t units = 0;
  for (const QuantizedProduct& p : products) {
    const size_t f = size_t(p.W->format);
    if (exact_scaled(p.W->format) ? !tab.matmul_scaled[f] : !tab.matmul[f])
      fail("matmul_quantized: no kernel for this weight format", *p.W);
    units += (p.W->rows() + kGrainRows - 1) / kGrainRows;
  }
  // Every product's rows in units of kGrainRows, one product after the other;
  // a chunk [u0, u1) may span products.
  pool.parallel_for(
      units,
      [&](int64_t u0, int64_t u1, int) {
        int64_t first = 0;  // units before this product
        for (const QuantizedProduct& p : products) {
          const TensorView& W = *p.W;
          const int64_t rows = W.rows(), k = W.cols(), n = (rows + kGrainRows - 1) / kGrainRows;
          const int64_t a = std::max(u0, first) - first, b = std::min(u1, first + n) - first;  // this product's units
          first += n;
          if (a >= b) continue;
          const int64_t r0 = a * kGrainRows, r1 = std::min(rows, b * kGrainRows);
          const size_t wrb = W.ndim >= 2 ? size_t(W.stride[0]) : formats::row_bytes(W.format, k);
          const size_t f = size_t(W.format);
          if (exact_scaled(W.format)) {
            tab.matmul_scaled[f](W.data, wrb, r0, r1, k, p.Xq, p.xq_row_bytes, T, p.Y, p.y_stride, W.scale);
            continue;
          }
          MatmulRowsFn fn = tab.matmul[f];
          if (sums == FloatSums::AnyOrder) {
            const MatmulRowsFn any = T > 1 ? tab.matmul_prefill[f] : tab.matmul_decode[f];
            if (any) fn = any;
          }
          fn(W.data, wrb, r0, r1, k, p.Xq, p.xq_row_bytes, T, p.Y, p.y_stride);
          if (formats::traits(W.format).tensor_scale && W.scale != 1.0f)
            for (int64_t t = 0; t < T; ++t)
              for (int64_t r = r0; r < r1; ++r) p.Y[t * p.y_stride + r] *= W.scale;
        }
      },
      matmul_chunk_units(units, T, pool.size()));
}

void matmul_quantized(const TensorView& W, const void* Xq, size_t xq_row_bytes, int64_t T, float* Y,
                      int64_t y_stride, ThreadPool& pool) {
  const QuantizedProduct p{&W, Xq, xq_row_bytes, Y, y_stride};
  matmul_quantized_group({&p, 1}, T, pool);
}

}  // namespace nb::kernels
