// The op interface. Models call these; they never see SIMD. Each op has a
// scalar reference in ref/ and optimized versions in cpu/, chosen once at
// start-up from the CPU's features (see dispatch.h). All ops split work by
// output rows, so results do not depend on the thread count.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "core/buffer.h"
#include "core/tensor.h"
#include "core/thread_pool.h"

namespace nb::kernels {

enum class RopeStyle : uint8_t {
  Interleaved,  // rotate pairs (2i, 2i+1): llama2.c, GGUF `llama`
  HalfSplit,    // rotate pairs (i, i + rot_dim/2): Hugging Face `rotate_half`
};

// How the products of float weights (F32, F16, BF16) and of the 4-bit
// formats' exact bf16 weights may be summed for T > 1: in decode's order, so
// that prefill and decode agree bit for bit (the models that promise that:
// HGRNBit, BitNet), or in any order, which lets prefill run on the AMX tile
// unit (float weights from exact bf16 splits, bf16_gemm.h, 2-3x faster; the
// 4-bit formats through KernelTable::matmul_prefill, fp4_amx.cpp, 3-4x),
// and T = 1 too where a format has a KernelTable::matmul_decode entry (the
// 4-bit formats on integer multiply-adds, w4_planes_avx512.cpp): equal to
// decode to fp32 rounding.
enum class FloatSums { DecodeOrder, AnyOrder };

// Y[t, r] = sum_k W[r, k] * X[t, k] for t < T, r < W.rows().
// W is 2-D with contiguous rows in any format with a dot; X is fp32 [T, W.cols()]
// (row stride x_stride floats); Y is fp32 with row stride y_stride floats.
// X is converted to W's dot format (e.g. Q8_0 blocks for Q4_0 weights) first.
void matmul(const TensorView& W, const float* X, int64_t x_stride, int64_t T, float* Y, int64_t y_stride,
            ThreadPool& pool, FloatSums sums = FloatSums::DecodeOrder);
// Several weights applied to the same X (a layer's q, k and v; its gate and
// up): X converted once per dot format, then one parallel sweep over all
// their rows (matmul_quantized_group), so one barrier instead of one per
// weight. Each output is computed exactly as matmul computes it.
struct MatmulOut {
  const TensorView* W;
  float* Y;  // element (t, r) at Y[t * y_stride + r]
  int64_t y_stride;
};
void matmul_group(std::span<const MatmulOut> outs, const float* X, int64_t x_stride, int64_t T, ThreadPool& pool,
                  FloatSums sums = FloatSums::DecodeOrder);
inline void matvec(const TensorView& W, const float* x, float* y, ThreadPool& pool) {
  matmul(W, x, W.cols(), 1, y, W.rows(), pool);
}

// W (2-D) in the layout the active kernels would rather read for its format
// (KernelTable::load_layout, e.g. Q8_0 -> Q8_0R on AVX-512), rearranged once
// into a new 64-byte aligned buffer appended to `owned`, rows split over the
// pool; W itself when they have none. Rearranging keeps every code and scale,
// and the kernels of both layouts give the same bits.
TensorView with_kernel_layout(const TensorView& W, std::vector<Buffer>& owned, ThreadPool& pool);
bool wants_kernel_layout(const TensorView& W);  // would with_kernel_layout make a copy?
// Where with_kernel_layout puts rows of `cols` elements of a load-time layout:
// `stride` bytes apart (a multiple of 64), the first `lead` bytes into a
// 64-byte aligned buffer, so that each row's FormatTraits::aligned_at byte
// starts a cache line.
struct KernelRowPlacement {
  size_t stride, lead;
};
KernelRowPlacement kernel_row_placement(FormatId layout, int64_t cols);

// Units (of 16 weight rows) per parallel_for chunk of a matmul over `units`
// units for T tokens on `threads` threads. Decode: one chunk per thread, so
// each thread reads its rows as long sequential streams and prepares the
// activation row once (AMD Zen 5, 2 threads, against the pool's 8 chunks per
// thread, 2 interleaved runs: mmfree-370m T2 549-556 t/s against 380-397,
// mmfree-1.3b T2 174-179 against 155-157, TinyLlama Q4_0 within the noise).
// Prefill kernels re-pack the whole activation batch on every call, so a few
// large chunks per thread (4), which still balance a thread that starts late.
int64_t matmul_chunk_units(int64_t units, int64_t T, int threads);
constexpr int64_t kMatmulGrainRows = 16;  // weight rows per unit

// Y = W X for activation rows already in W's dot format (e.g. I8_ROW codes
// made by a model's own activation quantizer); row t of Xq starts at
// Xq + t * xq_row_bytes. Formats with a tensor scale (T2, T1_6) compute
// y = float(Σ trit·q) * (row scale * W.scale) exactly in integers; their
// activation rows must hold padded_cols(W) codes, zero past W.cols().
void matmul_quantized(const TensorView& W, const void* Xq, size_t xq_row_bytes, int64_t T, float* Y,
                      int64_t y_stride, ThreadPool& pool);

// out = x / sqrt(mean(x^2) + eps) * w   (fp32; out may alias x)
void rmsnorm(float* out, const float* x, const float* w, int64_t n, float eps);

// Rotate the first rot_dim dims of each of n_heads heads (head_dim apart) of x
// for position pos, frequencies theta^(-2i/rot_dim).
void rope(float* x, int64_t n_heads, int64_t head_dim, int64_t rot_dim, int64_t pos, float theta, RopeStyle style);

void softmax(float* x, int64_t n);  // in place, max-subtracted

// out[i] = silu(gate[i]) * up[i]   (out may alias gate)
void swiglu(float* out, const float* gate, const float* up, int64_t n);

// out[i] = 1 / (1 + e^-x[i])   (out may alias x)
void sigmoid(float* out, const float* x, int64_t n);

// One query position of causal attention with grouped KV heads.
// q: [n_heads * head_dim]. k_cache/v_cache: n_ctx rows of [n_kv_heads * head_dim]
// fp32 (row stride kv_stride floats); positions 0..n_ctx-1 are attended.
// out: [n_heads * head_dim]. scratch: at least n_ctx floats per thread.
// Heads are split over the pool.
void attention(float* out, const float* q, const float* k_cache, const float* v_cache, int64_t n_heads,
               int64_t n_kv_heads, int64_t head_dim, int64_t n_ctx, int64_t kv_stride, float* scratch,
               ThreadPool& pool);

// T consecutive query positions pos0 .. pos0+T-1 (a prefill): token t attends
// to positions 0..pos0+t. q, out: T rows of q_stride floats. Every (token,
// head) is computed exactly as attention() computes it, so prefill and
// token-by-token decoding agree bit for bit; the work is split over tokens and
// heads together. scratch: at least pos0+T floats per thread.
void attention_causal(float* out, const float* q, int64_t q_stride, const float* k_cache, const float* v_cache,
                      int64_t n_heads, int64_t n_kv_heads, int64_t head_dim, int64_t pos0, int64_t T,
                      int64_t kv_stride, float* scratch, ThreadPool& pool);

// out = row `id` of table (any format), as fp32.
void embedding(const TensorView& table, int64_t id, float* out);

int64_t argmax(const float* x, int64_t n);  // first index of the maximum

// ---- BitLinear activations (MatMul-free LM; ../shared/design/matmulfree-lm.md §5.1)
// One I8_ROW activation row for a BitLinear whose inner RMSNorm has weight
// w_norm[n]: u = (v * r) * w_norm with r = 1 / sqrt(mean(v^2) + eps),
// s_a = 127 / max(max|u|, 1e-5), codes q = round-half-AWAY-from-zero(u * s_a)
// clamped to [-128, 127]; all in fp32. dst gets the row scale 1/s_a (fp32)
// and then n_codes >= n codes, zero past n (padded ternary rows).
void bitlinear_quantize(const float* v, const float* w_norm, int64_t n, float eps, int64_t n_codes, void* dst);
// Its two steps, for BitLinears that share an input (matmulfree-lm.md §5.4:
// each has its own norm weight, hence its own codes, but r is the same):
// r = bitlinear_rms(v, n, eps), scalar, the squares summed in order; then
// bitlinear_codes(v, r, w_norm, ...) per BitLinear (SIMD, bit-identical to
// the scalar reference: its steps are elementwise and a max).
float bitlinear_rms(const float* v, int64_t n, float eps);
// r[t] = bitlinear_rms(X + t * x_stride, n, eps) for t < T, bit for bit, rows interleaved for speed.
void bitlinear_rms_rows(const float* X, int64_t x_stride, int64_t T, int64_t n, float eps, float* r);
void bitlinear_codes(const float* v, float r, const float* w_norm, int64_t n, int64_t n_codes, void* dst);

// One parallel sweep over the rows of several matmul_quantized products
// (BitLinears on the same input: the MLGRU's i, f, g): one barrier instead of
// one per product, and no thread idles between them.
struct QuantizedProduct {
  const TensorView* W;
  const void* Xq;  // activation rows in W's dot format, xq_row_bytes apart
  size_t xq_row_bytes;
  float* Y;  // element (t, r) at Y[t * y_stride + r]
  int64_t y_stride;
};
// sums: AnyOrder lets T > 1 use KernelTable::matmul_prefill and T = 1
// KernelTable::matmul_decode where a format has one.
void matmul_quantized_group(std::span<const QuantizedProduct> products, int64_t T, ThreadPool& pool,
                            FloatSums sums = FloatSums::DecodeOrder);

}  // namespace nb::kernels
