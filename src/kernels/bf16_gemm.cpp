#include "kernels/bf16_gemm.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/seq_gemm.h"

#if defined(__linux__) && defined(__x86_64__)
#define NB_HAVE_AMX 1
#include "kernels/cpu/bf16_gemm_cpu.h"
#include "kernels/cpu/float_gemm_amx.h"
#endif

namespace nb::kernels {

float round_bf16(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  if ((u & 0x7F800000u) == 0x7F800000u) return x;  // inf / nan unchanged
  u += 0x7FFFu + ((u >> 16) & 1u);
  u &= 0xFFFF0000u;
  std::memcpy(&x, &u, 4);
  return x;
}

void round_bf16_rows(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = round_bf16(x[i]);
}

bool all_bf16(const float* x, int64_t x_stride, int64_t T, int64_t k) {
  for (int64_t t = 0; t < T; ++t) {
    const float* r = x + t * x_stride;
    uint32_t low = 0;
    for (int64_t i = 0; i < k; ++i) {
      uint32_t u;
      std::memcpy(&u, &r[i], 4);
      low |= u & 0xFFFFu;
    }
    if (low) return false;
  }
  return true;
}

namespace {
// Grows, never shrinks: the calibration calls these thousands of times with
// the same shapes, and a fresh multi-MiB allocation would fault in every page.
// 64-byte aligned: tile rows are 64 bytes, and a misaligned buffer (large
// allocations come 16 bytes into a page) splits every row load across two
// cache lines (the float prefill ran 1.6x slower so).
uint16_t* packing_buffer(int slot, size_t n) {
  thread_local std::vector<uint16_t> buf[2];
  if (buf[slot].size() < n + 32) buf[slot].resize(n + 32);
  const auto a = reinterpret_cast<uintptr_t>(buf[slot].data());
  return buf[slot].data() + ((64 - a % 64) % 64) / 2;
}
}  // namespace

bool matmul_bf16_amx(const TensorView& W, const float* X, int64_t x_stride, int64_t T, float* Y, int64_t y_stride,
                     ThreadPool& pool) {
#if NB_HAVE_AMX
  const int64_t rows = W.rows(), k = W.cols();
  if (W.format != FormatId::BF16 || rows % 16 != 0 || k % 32 != 0 || T < 16 || !amx_bf16_ready()) return false;
  const int64_t panels = (T + 15) / 16, kb_n = k / 32;
  uint16_t* b = packing_buffer(0, size_t(panels * kb_n * 512));
  pool.parallel_for(panels, [&](int64_t p0, int64_t p1, int) { cpu::amx_pack_pairs(X, 1, x_stride, k, T, p0, p1, b); });
  const size_t wrb = size_t(W.stride[0]);
  pool.parallel_for(
      rows,
      [&](int64_t r0, int64_t r1, int) {
        cpu::amx_matmul_rows(static_cast<const uint16_t*>(W.data), wrb, r0, r1, k, b, T, Y, y_stride);
      },
      32);
  return true;
#else
  (void)W, (void)X, (void)x_stride, (void)T, (void)Y, (void)y_stride, (void)pool;
  return false;
#endif
}

bool matmul_float_amx(std::span<const MatmulOut> outs, const float* X, int64_t x_stride, int64_t T, ThreadPool& pool) {
#if NB_HAVE_AMX
  if (T < kFloatAmxMinTokens || outs.empty() || !amx_bf16_ready()) return false;
  const int64_t k = outs[0].W->cols();
  for (const MatmulOut& o : outs) {
    const FormatId f = o.W->format;
    if ((f != FormatId::F32 && f != FormatId::F16 && f != FormatId::BF16) || o.W->ndim != 2 || o.W->cols() != k ||
        k <= 0)
      return false;
  }
  // Tokens in groups, so that the packed parts (3 x 2 bytes per value) stay
  // a few MiB whatever the batch.
  constexpr int64_t kGroupTokens = 256;
  const int64_t steps = (k + 31) / 32;
  for (int64_t t0 = 0; t0 < T; t0 += kGroupTokens) {
    const int64_t t_end = std::min(T, t0 + kGroupTokens), panels = 2 * ((t_end - t0 + 31) / 32);
    uint16_t* xp = packing_buffer(0, size_t(3 * panels * steps * 512));
    pool.parallel_for(panels, [&](int64_t p0, int64_t p1, int) {
      cpu::amx_pack_split_panels(X, x_stride, t0, t_end, k, panels, p0, p1, xp);
    });
    for (const MatmulOut& o : outs) {
      const TensorView& W = *o.W;
      const cpu::FloatKind kind = W.format == FormatId::F32   ? cpu::FloatKind::F32
                                  : W.format == FormatId::F16 ? cpu::FloatKind::F16
                                                              : cpu::FloatKind::BF16;
      const int64_t rows = W.rows();
      pool.parallel_for((rows + 31) / 32, [&](int64_t u0, int64_t u1, int) {
        cpu::amx_split_matmul_rows(kind, static_cast<const char*>(W.data), size_t(W.stride[0]), u0 * 32,
                                   std::min(rows, u1 * 32), k, xp, panels, t0, t_end, o.Y, o.y_stride);
      });
    }
  }
  return true;
#else
  (void)outs, (void)X, (void)x_stride, (void)T, (void)pool;
  return false;
#endif
}

void gram_bf16_accumulate(const float* X, int64_t T, int64_t K, float* G, ThreadPool& pool) {
  if (T <= 0 || K <= 0) return;
#if NB_HAVE_AMX
  if (K % 16 == 0 && amx_bf16_ready()) {
    const int64_t t_pad = (T + 31) / 32 * 32, panels = K / 16, blocks = (K + 31) / 32;
    uint16_t* a = packing_buffer(0, size_t(K * t_pad));
    uint16_t* b = packing_buffer(1, size_t(panels * (t_pad / 32) * 512));
    pool.parallel_for(K, [&](int64_t r0, int64_t r1, int) { cpu::amx_to_bf16_rows(X, 1, K, T, t_pad, r0, r1, a); }, 16);
    pool.parallel_for(panels, [&](int64_t p0, int64_t p1, int) { cpu::amx_pack_pairs(X, K, 1, T, K, p0, p1, b); });
    // Row blocks of 32, the longest (bottom) rows first, so the last ones to
    // be claimed are short.
    pool.parallel_for(blocks, [&](int64_t u0, int64_t u1, int) {
      for (int64_t u = u0; u < u1; ++u) {
        const int64_t i0 = (blocks - 1 - u) * 32, i1 = std::min(K, i0 + 32);
        cpu::amx_gram_rows(a, t_pad, b, t_pad, i0, i1, G, K);
      }
    });
    return;
  }
#endif
  // fp32 over the rounded values, lower triangle in tiles of 64 rows.
  std::vector<float> xr(X, X + T * K);
  pool.parallel_for(T, [&](int64_t t0, int64_t t1, int) { round_bf16_rows(xr.data() + t0 * K, (t1 - t0) * K); });
  const SeqGemm op{SeqStart::FromC, SeqStep::Add, SeqFinish::Store};
  constexpr int64_t kRows = 64;
  pool.parallel_for((K + kRows - 1) / kRows, [&](int64_t u0, int64_t u1, int) {
    for (int64_t u = u0; u < u1; ++u) {
      const int64_t i0 = u * kRows, m = std::min(kRows, K - i0);
      seq_gemm(op, m, i0 + m, T, xr.data() + i0, 1, K, xr.data(), K, G + i0 * K, K);
    }
  });
}

}  // namespace nb::kernels
