// The ops of ops.h on top of the active kernel table. Work is split by output
// rows (matmul) or heads (attention), never inside one output, so results do
// not depend on the thread count.
#include "kernels/ops.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "formats/format.h"
#include "kernels/bf16_gemm.h"
#include "kernels/dispatch.h"

namespace nb::kernels {
namespace {

[[noreturn]] void fail(const char* what, const TensorView& W) {
  std::fprintf(stderr, "nibble: %s (weight format %s, shape %s)\n", what, formats::traits(W.format).name,
               shape_string(W).c_str());
  std::abort();
}

}  // namespace

TensorView with_kernel_layout(const TensorView& W, std::vector<Buffer>& owned, ThreadPool& pool) {
  const FormatId to = active_table().load_layout[size_t(W.format)];
  if (to == FormatId::kCount || W.ndim != 2) return W;
  const formats::FormatTraits& tr = formats::traits(to);
  if (tr.rearranges != W.format || tr.rearrange == nullptr) fail("with_kernel_layout: bad load_layout entry", W);
  const int64_t rows = W.rows(), cols = W.cols();
  const size_t bytes = formats::row_bytes(to, cols);
  const KernelRowPlacement place = kernel_row_placement(to, cols);
  const size_t stride = place.stride, lead = place.lead;
  owned.emplace_back(lead + stride * size_t(rows));
  uint8_t* out = owned.back().as<uint8_t>() + lead;
  pool.parallel_for(rows, [&](int64_t r0, int64_t r1, int) {
    for (int64_t r = r0; r < r1; ++r) {
      uint8_t* dst = out + size_t(r) * stride;
      tr.rearrange(W.row<const char>(r), dst, cols);
      std::memset(dst + bytes, 0, stride - bytes);
    }
  });
  return formats::matrix_view(to, rows, cols, out, W.scale, int64_t(stride));
}

KernelRowPlacement kernel_row_placement(FormatId layout, int64_t cols) {
  const formats::FormatTraits& tr = formats::traits(layout);
  // Rows 64-byte multiples apart, all starting `lead` bytes into a line.
  return {(formats::row_bytes(layout, cols) + 63) / 64 * 64,
          tr.aligned_at ? size_t(-tr.aligned_at(cols)) % 64 : 0};
}

bool wants_kernel_layout(const TensorView& W) {
  return W.ndim == 2 && active_table().load_layout[size_t(W.format)] != FormatId::kCount;
}

int64_t matmul_chunk_units(int64_t units, int64_t T, int threads) {
  const int64_t chunks = int64_t(threads) * (T == 1 ? 1 : 4);
  return std::max<int64_t>(1, (units + chunks - 1) / chunks);
}

void matmul(const TensorView& W, const float* X, int64_t x_stride, int64_t T, float* Y, int64_t y_stride,
            ThreadPool& pool, FloatSums sums) {
  // BF16 weights times inputs that are all bf16 values (the quantizer's bf16
  // calibration): every product is exact in fp32 either way, so the tile unit
  // computes the same sums, in another order.
  if (W.format == FormatId::BF16 && T >= 16 && amx_bf16_ready() && W.cols() > 0 &&
      all_bf16(X, x_stride, T, W.cols()) && matmul_bf16_amx(W, X, x_stride, T, Y, y_stride, pool))
    return;
  const MatmulOut out{&W, Y, y_stride};
  matmul_group({&out, 1}, X, x_stride, T, pool, sums);
}

void matmul_group(std::span<const MatmulOut> outs, const float* X, int64_t x_stride, int64_t T, ThreadPool& pool,
                  FloatSums sums) {
  if (T <= 0 || outs.empty()) return;
  if (sums == FloatSums::AnyOrder && matmul_float_amx(outs, X, x_stride, T, pool)) return;
  const KernelTable& tab = active_table();
  // X in each weight's dot format. fp32 dots read X in place; others are
  // converted once per (dot format, width) into a per-thread scratch that
  // grows to the largest batch seen.
  thread_local std::vector<std::vector<unsigned char>> scratch;
  thread_local std::vector<QuantizedProduct> products;  // no allocation per call once grown
  if (scratch.size() < outs.size()) scratch.resize(outs.size());
  products.resize(outs.size());
  for (size_t i = 0; i < outs.size(); ++i) {
    const TensorView& W = *outs[i].W;
    const formats::FormatTraits& wt = formats::traits(W.format);
    const int64_t k = W.cols();
    // The model loader checks every weight's format and shape before the first
    // forward pass, so reaching either branch is a programming error, not bad input.
    if (tab.matmul[size_t(W.format)] == nullptr) fail("matmul: no kernel for this weight format", W);
    if (k <= 0 || k % wt.block_size != 0) fail("matmul: row length is not a whole number of blocks", W);
    QuantizedProduct& p = products[i];
    p = {&W, X, size_t(x_stride) * sizeof(float), outs[i].Y, outs[i].y_stride};
    const FormatId at = wt.dot_type;
    if (at == FormatId::F32) continue;
    size_t j = 0;  // an earlier weight with the same dot format and width?
    while (j < i && !(formats::traits(outs[j].W->format).dot_type == at && outs[j].W->cols() == k)) ++j;
    if (j < i) {
      p.Xq = products[j].Xq;
      p.xq_row_bytes = products[j].xq_row_bytes;
      continue;
    }
    const QuantizeRowFn quantize = tab.quantize[size_t(at)];
    if (quantize == nullptr) fail("matmul: no activation quantizer for this weight format's dot type", W);
    const size_t rb = formats::row_bytes(at, k);
    if (scratch[i].size() < rb * size_t(T)) scratch[i].resize(rb * size_t(T));
    unsigned char* dst = scratch[i].data();
    pool.parallel_for(T, [&](int64_t t0, int64_t t1, int) {
      for (int64_t t = t0; t < t1; ++t) quantize(X + t * x_stride, dst + size_t(t) * rb, k);
    });
    p.Xq = dst;
    p.xq_row_bytes = rb;
  }
  matmul_quantized_group(products, T, pool, sums);
}

void rmsnorm(float* out, const float* x, const float* w, int64_t n, float eps) {
  active_table().rmsnorm(out, x, w, n, eps);
}

void rope(float* x, int64_t n_heads, int64_t head_dim, int64_t rot_dim, int64_t pos, float theta, RopeStyle style) {
  const int64_t half = rot_dim / 2;
  for (int64_t i = 0; i < half; ++i) {
    // Same float expressions as llama2.c, so positions rotate bit-identically.
    const float freq = 1.0f / std::pow(theta, float(2 * i) / float(rot_dim));
    const float val = float(pos) * freq;
    const float c = std::cos(val), s = std::sin(val);
    const int64_t a = style == RopeStyle::Interleaved ? 2 * i : i;
    const int64_t b = style == RopeStyle::Interleaved ? 2 * i + 1 : i + half;
    for (int64_t h = 0; h < n_heads; ++h) {
      float* v = x + h * head_dim;
      const float v0 = v[a], v1 = v[b];
      v[a] = v0 * c - v1 * s;
      v[b] = v0 * s + v1 * c;
    }
  }
}

void softmax(float* x, int64_t n) { active_table().softmax(x, n); }

void swiglu(float* out, const float* gate, const float* up, int64_t n) { active_table().swiglu(out, gate, up, n); }
void sigmoid(float* out, const float* x, int64_t n) { active_table().sigmoid(out, x, n); }

void attention(float* out, const float* q, const float* k_cache, const float* v_cache, int64_t n_heads,
               int64_t n_kv_heads, int64_t head_dim, int64_t n_ctx, int64_t kv_stride, float* scratch,
               ThreadPool& pool) {
  attention_causal(out, q, 0, k_cache, v_cache, n_heads, n_kv_heads, head_dim, n_ctx - 1, 1, kv_stride, scratch, pool);
}

void attention_causal(float* out, const float* q, int64_t q_stride, const float* k_cache, const float* v_cache,
                      int64_t n_heads, int64_t n_kv_heads, int64_t head_dim, int64_t pos0, int64_t T,
                      int64_t kv_stride, float* scratch, ThreadPool& pool) {
  const KernelTable& tab = active_table();
  const int64_t group = n_heads / n_kv_heads;  // query heads sharing one KV head
  const float scale = std::sqrt(float(head_dim));
  const int64_t scratch_len = pos0 + T;
  // Work unit u = (token, head), tokens from the last: the long rows first.
  pool.parallel_for(T * n_heads, [&](int64_t u0, int64_t u1, int thread) {
    float* scores = scratch + int64_t(thread) * scratch_len;  // thread i owns its own slice
    for (int64_t u = u0; u < u1; ++u) {
      const int64_t t = T - 1 - u / n_heads, h = u % n_heads;
      const int64_t kv_off = (h / group) * head_dim;
      tab.attend_head(out + t * q_stride + h * head_dim, q + t * q_stride + h * head_dim, k_cache + kv_off,
                      v_cache + kv_off, head_dim, pos0 + t + 1, kv_stride, scale, scores);
    }
  });
}

void embedding(const TensorView& table, int64_t id, float* out) {
  const formats::FormatTraits& tr = formats::traits(table.format);
  tr.to_float(table.row<const char>(id), out, table.cols());
  // Rows of tensor-scale formats hold the values divided by the tensor's scale.
  if (tr.tensor_scale && table.scale != 1.0f)
    for (int64_t i = 0; i < table.cols(); ++i) out[i] *= table.scale;
}

int64_t argmax(const float* x, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i)
    if (x[i] > x[best]) best = i;
  return best;
}

}  // namespace nb::kernels
