// Ternary kernels, AVX-512 (F/BW/VL/DQ + VNNI): T2 and T1_6 x I8_ROW
// (matmul_scaled), TQ2_0 and TQ1_0 x Q8_K (matmul). Everything is internal to
// this file (see scratch.h for why nothing may be shared with other files).
//
// Integer core (matmulfree-lm.md §5.3): trits c = w + 1 in {0,1,2} are
// unsigned bytes, codes q signed bytes, vpdpbusd sums c*q exactly in int32,
// and Σ (c-1) q = Σ c q - Σ q with Σ q taken once per token row. The result
// is exact, so the order of the integer sums is free and T = 1 and T > 1
// agree bit for bit; only the final float expression is fixed:
//   T2/T1_6: y = float(acc) * (a_scale * w_scale)                (as ref/)
//   TQ:      sum += (d_w * d_a) * float(acc_block), blocks in order (as ref/)
//
// Decode (T = 1) streams weight rows once, 4 rows in flight taken from 4
// long sequential streams (row_streams.h), each prefetched kPrefetchAhead
// bytes ahead, each 64-byte load covering two 32-byte T2/T1_6 blocks. The activation row
// is first rearranged ("pair layout") so that trit plane n of the load meets
// the 64 codes it multiplies.
//
// T1_6 decode avoids extracting trits. With b_n = (byte * 3^n) mod 256 the
// format's decode is t_n = floor(3 b_n / 256), and 3 b_n = 256 t_n + b_{n+1}
// exactly, so Σ_n t_n q_n = (3 Σ_n b_n q_n - Σ_n b_{n+1} q_n) / 256. Both
// sums are plain vpdpbusd of bytes (b_{n+1} = b_n + b_n + b_n with byte
// wrap-around) and every dword lane pairs the same elements in both, so the
// division is exact lane by lane. Cost per plane: 2 byte adds + 2 vpdpbusd,
// against ~7 ops to materialize the trit. Lane bound: |3A - B| <= 4 * 255 *
// 128 * 4 * (dpbusd per lane), so int32 holds rows up to ~350k elements.
//
// Prefill (T > 1) unpacks an L2-sized block of weight rows once into one
// byte per trit (natural element order), then runs a 4-row x 4-token
// vpdpbusd micro-kernel over it for every tile of tokens, or, where the CPU
// has AMX-INT8, the tile unit (ternary_amx.cpp; TQ: block_gemm_amx.cpp).
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "formats/blocks.h"
#include "kernels/amx.h"
#include "kernels/cpu/block_gemm_amx.h"
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/row_streams.h"
#include "kernels/cpu/scratch.h"
#include "kernels/cpu/ternary_amx.h"

// GCC 12's intrinsic headers trip -W(maybe-)uninitialized on their own
// _mm*_undefined_* temporaries; the warnings are false positives.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace nb::kernels {
namespace {

using formats::BlockQ8_K;
using formats::BlockTQ1_0;
using formats::BlockTQ2_0;
using formats::kQK_K;

// How far ahead (bytes) decode prefetches each row stream.
#ifndef NIBBLE_TERNARY_PREFETCH_AHEAD
#define NIBBLE_TERNARY_PREFETCH_AHEAD 2048  // 2 threads, 1.3B T2: 2048 B ~8% above 1024, 4096 and 512 below
#endif
constexpr int64_t kPrefetchAhead = NIBBLE_TERNARY_PREFETCH_AHEAD;
constexpr size_t kUnpackBlockBytes = 256 << 10;  // unpacked trits per prefill row block (L2)
constexpr int kMR = 4, kMC = 4;                // prefill micro-tile: rows x tokens

inline float row_scale(const char* row) {
  float s;
  std::memcpy(&s, row, sizeof s);
  return s;
}
inline __mmask64 first_bytes(int64_t n) { return n >= 64 ? ~__mmask64(0) : (__mmask64(1) << n) - 1; }
inline __m512i times3(__m512i b) { return _mm512_add_epi8(_mm512_add_epi8(b, b), b); }
inline __m256i times3(__m256i b) { return _mm256_add_epi8(_mm256_add_epi8(b, b), b); }

// Σ of a Q8_K block's 256 codes, from its bsums.
int32_t code_sum(const BlockQ8_K& b) {
  int32_t s = 0;
  for (int g = 0; g < kQK_K / 16; ++g) s += b.bsums[g];
  return s;
}

// Exact Σ of n int8 codes.
int32_t code_sum(const int8_t* q, int64_t n) {
  const __m512i ones = _mm512_set1_epi8(1);
  __m512i acc = _mm512_setzero_si512();
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) acc = _mm512_dpbusd_epi32(acc, ones, _mm512_loadu_si512(q + i));
  if (i < n) acc = _mm512_dpbusd_epi32(acc, ones, _mm512_maskz_loadu_epi8(first_bytes(n - i), q + i));
  return _mm512_reduce_add_epi32(acc);
}

// ============================================================================
// T2 / T1_6: the formats' shape, as far as these kernels care.
// ============================================================================
struct T2F {
  static constexpr int kElems = formats::kQKT2;  // per 32-byte block
  static constexpr int kPlanes = 4;              // trits per byte
};
struct T1_6F {
  static constexpr int kElems = formats::kQKT1_6;
  static constexpr int kPlanes = 5;
};

// Pair layout of one activation row of nb blocks: for block pair p and plane
// n, 64 codes = [block 2p codes 32n..32n+31 | block 2p+1 codes 32n..32n+31]
// (zeros for a missing odd last block).
template <class F>
void pair_layout(const int8_t* q, int64_t nb, int8_t* out) {
  const int64_t np = (nb + 1) / 2;
  for (int64_t p = 0; p < np; ++p)
    for (int n = 0; n < F::kPlanes; ++n)
      for (int h = 0; h < 2; ++h) {
        const int64_t b = 2 * p + h;
        const __m256i v = b < nb ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + b * F::kElems + 32 * n))
                                 : _mm256_setzero_si256();
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + (p * F::kPlanes + n) * 64 + 32 * h), v);
      }
}

// Weight bytes of block pair p of a row; the upper half reads as zero (no
// trits, no products) past an odd last block, and is never touched in memory.
inline __m512i load_pair(const char* row, int64_t p, int64_t nb) {
  const char* src = row + p * 64;
  return 2 * p + 1 < nb ? _mm512_loadu_si512(src) : _mm512_maskz_loadu_epi8(0xFFFFFFFFull, src);
}

// R rows of the decode GEMV: y[i] = float(Σ_k (c-1) q) * scale.
template <int R>
void gemv_t2(const char* w, size_t wrb, int64_t nb, const int8_t* xp, int32_t qsum, float scale, float* y,
             int64_t ys) {
  // Two accumulators per row (planes 0, 2 and 1, 3): with one, each row's
  // four dependent VPDPBUSD per step made the chain, not the pipes, the limit.
  __m512i acc[R], acc2[R];
  for (int i = 0; i < R; ++i) acc[i] = acc2[i] = _mm512_setzero_si512();
  const __m512i m3 = _mm512_set1_epi8(3);
  const int64_t np = (nb + 1) / 2;
  for (int64_t p = 0; p < np; ++p) {
    const int8_t* a = xp + p * 256;
    const __m512i a0 = _mm512_load_si512(a), a1 = _mm512_load_si512(a + 64);
    const __m512i a2 = _mm512_load_si512(a + 128), a3 = _mm512_load_si512(a + 192);
#pragma GCC unroll 4
    for (int i = 0; i < R; ++i) {
      const char* row = w + i * wrb;
      _mm_prefetch(row + p * 64 + kPrefetchAhead, _MM_HINT_T0);
      const __m512i v = load_pair(row, p, nb);
      acc[i] = _mm512_dpbusd_epi32(acc[i], _mm512_and_si512(v, m3), a0);
      acc2[i] = _mm512_dpbusd_epi32(acc2[i], _mm512_and_si512(_mm512_srli_epi16(v, 2), m3), a1);
      acc[i] = _mm512_dpbusd_epi32(acc[i], _mm512_and_si512(_mm512_srli_epi16(v, 4), m3), a2);
      acc2[i] = _mm512_dpbusd_epi32(acc2[i], _mm512_and_si512(_mm512_srli_epi16(v, 6), m3), a3);
    }
  }
  for (int i = 0; i < R; ++i)
    y[i * ys] = float(_mm512_reduce_add_epi32(_mm512_add_epi32(acc[i], acc2[i])) - qsum) * scale;
}

// last_planes: planes of an odd last block that hold elements (< k); its
// other planes meet only zero codes and are skipped (K = 1024: 6.4 blocks,
// 17 plane steps instead of 20).
template <int R>
void gemv_t1_6(const char* w, size_t wrb, int64_t nb, int last_planes, const int8_t* xp, int32_t qsum, float scale,
               float* y, int64_t ys) {
  // Σ b_n q_n and Σ b_{n+1} q_n (see the top of the file), each split over
  // two accumulators (even and odd planes) so that no chain of dependent
  // VPDPBUSD is longer than 3 per step.
  __m512i A[2][R], B[2][R];
  for (int i = 0; i < R; ++i) A[0][i] = B[0][i] = A[1][i] = B[1][i] = _mm512_setzero_si512();
  auto pair = [&](int64_t p, int planes) {
    const int8_t* a = xp + p * 320;
    __m512i an[5];
    for (int n = 0; n < planes; ++n) an[n] = _mm512_load_si512(a + 64 * n);
#pragma GCC unroll 4
    for (int i = 0; i < R; ++i) {
      const char* row = w + i * wrb;
      _mm_prefetch(row + p * 64 + kPrefetchAhead, _MM_HINT_T0);
      __m512i b = load_pair(row, p, nb);
#pragma GCC unroll 5
      for (int n = 0; n < planes; ++n) {
        A[n % 2][i] = _mm512_dpbusd_epi32(A[n % 2][i], b, an[n]);
        b = times3(b);
        B[n % 2][i] = _mm512_dpbusd_epi32(B[n % 2][i], b, an[n]);
      }
    }
  };
  for (int64_t p = 0; p < nb / 2; ++p) pair(p, 5);
  if (nb % 2) pair(nb / 2, last_planes);
  for (int i = 0; i < R; ++i) {
    const __m512i a = _mm512_add_epi32(A[0][i], A[1][i]), b = _mm512_add_epi32(B[0][i], B[1][i]);
    const __m512i s256 = _mm512_sub_epi32(_mm512_add_epi32(_mm512_add_epi32(a, a), a), b);
    y[i * ys] = float(_mm512_reduce_add_epi32(_mm512_srai_epi32(s256, 8)) - qsum) * scale;
  }
}

// ---- prefill: unpack rows to one trit per byte, natural element order.
// Row j of U (stride us, a multiple of 64) holds nb * kElems trits, then
// zeros up to us.
inline void unpack_block(const char* blk, uint8_t* dst, T2F) {
  const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk));
  const __m256i m3 = _mm256_set1_epi8(3);
  for (int j = 0; j < 4; ++j)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + 32 * j), _mm256_and_si256(_mm256_srli_epi16(v, 2 * j), m3));
}
// t = floor(3 b / 256) = (b >= 86) + (b >= 171), compared as signed bytes
// on x = b ^ 0x80; x stays the biased form of b_{n+1} under x -> 3x (mod 256)
// because 3 (b - 128) = 3 b - 128 (mod 256).
inline void unpack_block(const char* blk, uint8_t* dst, T1_6F) {
  __m256i x = _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk)), _mm256_set1_epi8(char(0x80)));
  const __m256i lo = _mm256_set1_epi8(85 - 128), hi = _mm256_set1_epi8(170 - 128);
  for (int n = 0; n < 5; ++n) {
    const __m256i t = _mm256_sub_epi8(_mm256_sub_epi8(_mm256_setzero_si256(), _mm256_cmpgt_epi8(x, lo)),
                                      _mm256_cmpgt_epi8(x, hi));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + 32 * n), t);
    x = times3(x);
  }
}

template <class F>
void unpack_rows(const char* w, size_t wrb, int64_t rows, int64_t rows_padded, int64_t nb, uint8_t* U, int64_t us) {
  const int64_t used = nb * F::kElems;
  for (int64_t r = 0; r < rows_padded; ++r) {
    uint8_t* dst = U + r * us;
    if (r >= rows) {
      std::memset(dst, 0, size_t(us));
      continue;
    }
    for (int64_t b = 0; b < nb; ++b) unpack_block(w + r * wrb + b * 32, dst + b * F::kElems, F{});
    std::memset(dst + used, 0, size_t(us - used));
  }
}

// acc += u * x (vpdpbusd) in the accumulator's own register. With the
// intrinsic, GCC 12 copies each of the 16 accumulators of micro_4x4 to a
// scratch register and back around every vpdpbusd (it does not see that the
// instruction updates its destination in place), about one move per multiply;
// without them the kernel alone ran 20% faster on AMD Zen 5 (270-310 ->
// 320-380 GMAC/s, 128 rows x 2048 x 64 tokens, 5 runs each).
// (Taking acc by reference instead kept all 16 in memory.)
inline __m512i dpbusd_in_place(__m512i acc, __m512i u, __m512i x) {
  __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(u), "v"(x));
  return acc;
}

// acc[r][c] = Σ_k U[r][k] * X[c][k] over k < kp (a multiple of 64).
void micro_4x4(const uint8_t* U, int64_t us, const int8_t* X, int64_t xs, int64_t kp, int32_t out[kMR][kMC]) {
  __m512i acc[kMR][kMC];
  for (int r = 0; r < kMR; ++r)
    for (int c = 0; c < kMC; ++c) acc[r][c] = _mm512_setzero_si512();
  for (int64_t k = 0; k < kp; k += 64) {
    __m512i x[kMC];
    for (int c = 0; c < kMC; ++c) x[c] = _mm512_load_si512(X + c * xs + k);
#pragma GCC unroll 4
    for (int r = 0; r < kMR; ++r) {
      const __m512i u = _mm512_load_si512(U + r * us + k);
#pragma GCC unroll 4
      for (int c = 0; c < kMC; ++c) acc[r][c] = dpbusd_in_place(acc[r][c], u, x[c]);
    }
  }
  for (int r = 0; r < kMR; ++r)
    for (int c = 0; c < kMC; ++c) out[r][c] = _mm512_reduce_add_epi32(acc[r][c]);
}

template <class F>
void matmul_ternary(const void* wv, size_t wrb, int64_t r0, int64_t r1, int64_t k, const void* xv, size_t xrb,
                    int64_t T, float* y, int64_t ys, float w_scale) {
  const char* w = static_cast<const char*>(wv);
  const char* x = static_cast<const char*>(xv);
  const int64_t nb = (k + F::kElems - 1) / F::kElems;
  const int64_t kp = nb * F::kElems;  // codes per activation row (padded_cols)
  if (r1 <= r0) return;
  if (T == 1) {
    int8_t* xp = static_cast<int8_t*>(cpu::scratch(2, size_t((nb + 1) / 2) * 64 * F::kPlanes));
    const int8_t* q = reinterpret_cast<const int8_t*>(x + sizeof(float));
    pair_layout<F>(q, nb, xp);
    const int32_t qsum = code_sum(q, kp);
    const float scale = row_scale(x) * w_scale;
    const int last_planes = int((k - (nb - 1) * F::kElems + 31) / 32);  // T1_6: planes of block nb - 1 below k
    auto run = [&](auto rows_tag, int64_t r, int64_t part) {
      constexpr int R = decltype(rows_tag)::value;
      if constexpr (std::is_same_v<F, T2F>)
        gemv_t2<R>(w + r * wrb, wrb * size_t(part), nb, xp, qsum, scale, y + r, part);
      else
        gemv_t1_6<R>(w + r * wrb, wrb * size_t(part), nb, last_planes, xp, qsum, scale, y + r, part);
    };
    for_row_streams<4>(
        r0, r1, [&](int64_t r, int64_t part) { run(std::integral_constant<int, 4>{}, r, part); },
        [&](int64_t r) { run(std::integral_constant<int, 1>{}, r, 1); });
    return;
  }
  // Prefill. Activations for the micro-kernel: T rows (padded to kMC) of
  // us codes, zero past kp, copied to X; the tile unit packs its panels (32
  // tokens a group) from the rows in place. Both give the same exact
  // integer sums.
  const bool amx = amx_int8_ready();
  const int64_t us = (kp + 63) / 64 * 64;
  const int64_t tile = amx ? 32 : kMC;
  const int64_t Tp = (T + tile - 1) / tile * tile;
  const int64_t x_bytes = amx ? 0 : Tp * us;
  int8_t* X = static_cast<int8_t*>(cpu::scratch(1, size_t(x_bytes + Tp * 8)));
  int32_t* qsum = reinterpret_cast<int32_t*>(X + x_bytes);
  float* scale = reinterpret_cast<float*>(qsum + Tp);
  for (int64_t t = 0; t < Tp; ++t) {
    const int64_t copied = t < T ? kp : 0;
    if (t < T) {
      const int8_t* q = reinterpret_cast<const int8_t*>(x + t * xrb + sizeof(float));
      qsum[t] = code_sum(q, kp);
      scale[t] = row_scale(x + t * xrb) * w_scale;
      if (!amx) std::memcpy(X + t * us, q, size_t(kp));
    } else {
      qsum[t] = 0;
      scale[t] = 0.0f;
    }
    if (!amx) std::memset(X + t * us + copied, 0, size_t(us - copied));
  }
  const int64_t mr = amx ? 32 : kMR;  // rows of the unpacked block are padded to this
  int64_t rb = int64_t(kUnpackBlockBytes / size_t(us)) / mr * mr;
  if (rb < mr) rb = mr;
  uint8_t* U = static_cast<uint8_t*>(cpu::scratch(0, size_t(rb * us)));
  int8_t* panels = nullptr;
  if (amx) {
    panels = static_cast<int8_t*>(cpu::scratch(3, cpu::amx_panel_bytes(Tp, us)));
    cpu::amx_pack_code_panels(reinterpret_cast<const int8_t*>(x + sizeof(float)), xrb, T, kp, Tp, us, panels);
  }
  for (int64_t b0 = r0; b0 < r1; b0 += rb) {
    const int64_t rows = b0 + rb < r1 ? rb : r1 - b0;
    const int64_t rows_p = (rows + mr - 1) / mr * mr;
    unpack_rows<F>(w + b0 * wrb, wrb, rows, rows_p, nb, U, us);
    if (amx) {
      cpu::amx_ternary_matmul(U, us, rows, rows_p, panels, T, Tp, qsum, scale, y + b0, ys);
      continue;
    }
    for (int64_t t0 = 0; t0 < T; t0 += kMC)
      for (int64_t i = 0; i < rows_p; i += kMR) {
        int32_t acc[kMR][kMC];
        micro_4x4(U + i * us, us, X + t0 * us, us, us, acc);
        for (int r = 0; r < kMR && i + r < rows; ++r)
          for (int c = 0; c < kMC && t0 + c < T; ++c)
            y[(t0 + c) * ys + b0 + i + r] = float(acc[r][c] - qsum[t0 + c]) * scale[t0 + c];
      }
  }
}

// ============================================================================
// TQ2_0 / TQ1_0 x Q8_K (llama.cpp's ternary files). Per 256-block the exact
// int32 Σ c q - Σ q (Σ q from the Q8_K bsums), then, in block order and
// exactly as the reference writes it, sum += (d_w * d_a) * float(acc). Four
// rows at a time: their block sums are reduced together into one xmm and the
// float steps run lane-wise on it, which is the scalar expression per lane.
// ============================================================================

// Keeps GCC from contracting the product into the following add (an FMA
// would round once where the reference rounds twice).
inline __m128 no_contract(__m128 v) {
  __asm__("" : "+x"(v));
  return v;
}

// One token's Q8_K row in the layout the weight loads want, per block:
// planes of 64 codes, then (in a side array) Σ q and d.
//  TQ2_0, plane l (4): [q[32l + m] | q[128 + 32l + m]], m < 32 — the two
//    32-byte halves of qs, shifted by 2l.
//  TQ1_0, plane n (5): [q[32n + m] (m < 32) | q[160 + 16n + m] (m < 16) |
//    q[240 + 4n + j] (j < 4, n < 4) | 0 ...] — qs[0..31], qs[32..47] and
//    qh[0..3] as loaded together (52 bytes); plane 4 of qh is not an element.
// Where block j of a row (nsb blocks) keeps its codes (TQ1_0: qs then qh)
// and scale, in the file's layout (Block after Block).
template <class Block>
struct FileBlocks {
  static const uint8_t* codes(const char* row, int64_t, int64_t j) { return reinterpret_cast<const Block*>(row)[j].qs; }
  static uint16_t scale(const char* row, int64_t, int64_t j) { return reinterpret_cast<const Block*>(row)[j].d; }
  // The lines of a block kPrefetchAhead bytes ahead in its row (blocks are
  // under 128 bytes: its first and last byte cover it).
  static void prefetch(const char* row, int64_t, int64_t j) {
    const char* p = row + j * int64_t(sizeof(Block)) + kPrefetchAhead;
    _mm_prefetch(p, _MM_HINT_T0);
    _mm_prefetch(p + sizeof(Block) - 1, _MM_HINT_T0);
  }
};

struct TQ2F : FileBlocks<BlockTQ2_0> {
  static constexpr int kPlanes = 4;
  static void layout(const int8_t* q, int8_t* out) {
    for (int l = 0; l < 4; ++l) {
      std::memcpy(out + 64 * l, q + 32 * l, 32);
      std::memcpy(out + 64 * l + 32, q + 128 + 32 * l, 32);
    }
  }
};
// TQ2_0R (blocks.h): TQ2_0's codes as whole lines after the row's scales,
// where TQ2_0's 66-byte blocks split every code load over two lines
// (TinyLlama TQ2_0 decode +60-65%, docs/performance.md).
struct TQ2RF : TQ2F {
  static const uint8_t* codes(const char* row, int64_t nsb, int64_t j) {
    return reinterpret_cast<const uint8_t*>(row) + formats::tq2_0r_codes_at(nsb, j);
  }
  static uint16_t scale(const char* row, int64_t, int64_t j) {
    uint16_t d;
    std::memcpy(&d, row + 2 * j, 2);
    return d;
  }
  // The code stream, a line per block (past the row's end: the next row's
  // scales, then its codes).
  static void prefetch(const char* row, int64_t nsb, int64_t j) {
    _mm_prefetch(reinterpret_cast<const char*>(codes(row, nsb, j)) + kPrefetchAhead, _MM_HINT_T0);
  }
};
struct TQ1F : FileBlocks<BlockTQ1_0> {
  static constexpr int kPlanes = 5;
  static void layout(const int8_t* q, int8_t* out) {
    std::memset(out, 0, 64 * 5);
    for (int n = 0; n < 5; ++n) {
      std::memcpy(out + 64 * n, q + 32 * n, 32);
      std::memcpy(out + 64 * n + 32, q + 160 + 16 * n, 16);
      if (n < 4) std::memcpy(out + 64 * n + 48, q + 240 + 4 * n, 4);
    }
  }
};

// Int32 lane sums of c * q for one block (TQ1_0: 256 times that, see the top
// of the file for the b_n identity).
template <class F>
inline __m512i tq_block(const uint8_t* codes, const int8_t* a) requires(F::kPlanes == 4) {
  const __m512i v = _mm512_loadu_si512(codes), m3 = _mm512_set1_epi8(3);
  __m512i acc = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_and_si512(v, m3), _mm512_load_si512(a));
  acc = _mm512_dpbusd_epi32(acc, _mm512_and_si512(_mm512_srli_epi16(v, 2), m3), _mm512_load_si512(a + 64));
  acc = _mm512_dpbusd_epi32(acc, _mm512_and_si512(_mm512_srli_epi16(v, 4), m3), _mm512_load_si512(a + 128));
  return _mm512_dpbusd_epi32(acc, _mm512_and_si512(_mm512_srli_epi16(v, 6), m3), _mm512_load_si512(a + 192));
}
template <class F>
inline __m512i tq_block(const uint8_t* codes, const int8_t* a) requires(F::kPlanes == 5) {
  __m512i b = _mm512_maskz_loadu_epi8((__mmask64(1) << 52) - 1, codes);  // qs[48] then qh[4]
  __m512i A = _mm512_setzero_si512(), B = _mm512_setzero_si512();
#pragma GCC unroll 5
  for (int n = 0; n < 5; ++n) {
    const __m512i an = _mm512_load_si512(a + 64 * n);
    A = _mm512_dpbusd_epi32(A, b, an);
    b = times3(b);
    B = _mm512_dpbusd_epi32(B, b, an);
  }
  return _mm512_srai_epi32(_mm512_sub_epi32(_mm512_add_epi32(_mm512_add_epi32(A, A), A), B), 8);
}

// [Σ a, Σ b, Σ c, Σ d] of four int32 vectors.
inline __m128i reduce4(__m512i a, __m512i b, __m512i c, __m512i d) {
  const __m512i ab = _mm512_add_epi32(_mm512_unpacklo_epi32(a, b), _mm512_unpackhi_epi32(a, b));
  const __m512i cd = _mm512_add_epi32(_mm512_unpacklo_epi32(c, d), _mm512_unpackhi_epi32(c, d));
  const __m512i s = _mm512_add_epi32(_mm512_unpacklo_epi64(ab, cd), _mm512_unpackhi_epi64(ab, cd));
  const __m256i h = _mm256_add_epi32(_mm512_castsi512_si256(s), _mm512_extracti64x4_epi64(s, 1));
  return _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

// Rows [0, R) of w (R = 4 or 1, wrb bytes apart) against one token in layout form.
template <class F, int R>
void tq_rows(const char* w, size_t wrb, int64_t nsb, const int8_t* xl, const int32_t* qs, const float* da, float* y,
             int64_t ys) {
  if constexpr (R == 4) {
    __m128 sum = _mm_setzero_ps();
    for (int64_t j = 0; j < nsb; ++j) {
      const char* row[4];
      for (int i = 0; i < 4; ++i) {
        row[i] = w + i * wrb;
        F::prefetch(row[i], nsb, j);
      }
      const int8_t* a = xl + j * 64 * F::kPlanes;
      const __m128i s = _mm_sub_epi32(reduce4(tq_block<F>(F::codes(row[0], nsb, j), a), tq_block<F>(F::codes(row[1], nsb, j), a),
                                              tq_block<F>(F::codes(row[2], nsb, j), a), tq_block<F>(F::codes(row[3], nsb, j), a)),
                                      _mm_set1_epi32(qs[j]));
      const __m128 dw = _mm_cvtph_ps(_mm_setr_epi16(short(F::scale(row[0], nsb, j)), short(F::scale(row[1], nsb, j)),
                                                    short(F::scale(row[2], nsb, j)), short(F::scale(row[3], nsb, j)), 0, 0, 0, 0));
      sum = _mm_add_ps(sum, no_contract(_mm_mul_ps(_mm_mul_ps(dw, _mm_set1_ps(da[j])), _mm_cvtepi32_ps(s))));
    }
    float out[4];
    _mm_storeu_ps(out, sum);
    for (int i = 0; i < 4; ++i) y[i * ys] = out[i];
  } else {
    __m128 sum = _mm_setzero_ps();
    for (int64_t j = 0; j < nsb; ++j) {
      F::prefetch(w, nsb, j);
      const int32_t s = _mm512_reduce_add_epi32(tq_block<F>(F::codes(w, nsb, j), xl + j * 64 * F::kPlanes)) - qs[j];
      const __m128 dw = _mm_cvtph_ps(_mm_cvtsi32_si128(F::scale(w, nsb, j)));
      sum = _mm_add_ss(sum, no_contract(_mm_mul_ss(_mm_mul_ss(dw, _mm_set_ss(da[j])), _mm_cvtsi32_ss(_mm_setzero_ps(), s))));
    }
    y[0] = _mm_cvtss_f32(sum);
  }
}

// One TQ block as 256 signed trits c - 1 in element order, for the tile unit.
template <class F>
inline void tq_trits(const uint8_t* codes, int8_t* dst) requires(F::kPlanes == 4) {
  // element 128 j + 32 l + m: bits 2l of qs[32 j + m]
  const __m256i m3 = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
  for (int j = 0; j < 2; ++j) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes + 32 * j));
    for (int l = 0; l < 4; ++l)
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + 128 * j + 32 * l),
                          _mm256_sub_epi8(_mm256_and_si256(_mm256_srli_epi16(v, 2 * l), m3), one));
  }
}
template <class F>
inline void tq_trits(const uint8_t* codes, int8_t* dst) requires(F::kPlanes == 5) {
  // Trit n of byte q is floor(3 (q 3^n mod 256) / 256) (the T1_6 decode):
  // elements 32 n + m from qs[m], 160 + 16 n + m from qs[32 + m], 240 + 4 n + m from qh[m].
  __m512i x = _mm512_xor_si512(_mm512_maskz_loadu_epi8((__mmask64(1) << 52) - 1, codes), _mm512_set1_epi8(char(0x80)));
  const __m512i lo = _mm512_set1_epi8(85 - 128), hi = _mm512_set1_epi8(170 - 128);
  for (int n = 0; n < 5; ++n) {
    const __mmask64 a = _mm512_cmpgt_epi8_mask(x, lo), c = _mm512_cmpgt_epi8_mask(x, hi);
    // t - 1 = (x > lo) + (x > hi) - 1
    const __m512i one = _mm512_set1_epi8(1), m1 = _mm512_set1_epi8(-1);
    const __m512i ta = _mm512_mask_add_epi8(m1, a, m1, one);
    const __m512i t = _mm512_mask_add_epi8(ta, c, ta, one);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + 32 * n), _mm512_castsi512_si256(t));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 160 + 16 * n), _mm512_extracti32x4_epi32(t, 2));
    if (n < 4) {
      const int32_t q = _mm_extract_epi32(_mm512_extracti32x4_epi32(t, 3), 0);
      std::memcpy(dst + 240 + 4 * n, &q, 4);
    }
    x = times3(x);  // the biased form of the next b_n (see the top of the file)
  }
}

// Rows [0, rows_p) of a block of TQ weight rows (row r at w + r * wrb) as
// one byte per element, trit + offset in element order (nsb * kQK_K a row),
// and each block's d_w; rows from `rows` on are zero bytes with d_w = 0 (no
// products). offset 0: signed trits for the tile unit; 1: unsigned c = w + 1
// for vpdpbusd.
template <class F>
void unpack_tq_rows(const char* w, size_t wrb, int64_t rows, int64_t rows_p, int64_t nsb, int8_t offset,
                    int8_t* codes, float* dw) {
  const __m512i add = _mm512_set1_epi8(offset);
  for (int64_t r = 0; r < rows_p; ++r)
    for (int64_t j = 0; j < nsb; ++j) {
      int8_t* dst = codes + (r * nsb + j) * kQK_K;
      if (r >= rows) {
        std::memset(dst, 0, kQK_K);
        dw[r * nsb + j] = 0.0f;
        continue;
      }
      const char* row = w + r * wrb;
      tq_trits<F>(F::codes(row, nsb, j), dst);
      if (offset != 0)
        for (int i = 0; i < kQK_K; i += 64)
          _mm512_storeu_si512(dst + i, _mm512_add_epi8(_mm512_loadu_si512(dst + i), add));
      dw[r * nsb + j] = _cvtsh_ss(F::scale(row, nsb, j));
    }
}

// Prefill on the tile unit (block_gemm_amx.h): signed trits of an L2-sized
// row block against Q8_K code panels; the reference dot's values exactly.
template <class F>
void matmul_tq_amx(const char* w, size_t wrb, int64_t r0, int64_t r1, int64_t nsb, const char* x, size_t xrb,
                   int64_t T, float* y, int64_t ys) {
  const int64_t Tp = (T + 15) / 16 * 16;
  int8_t* panels = static_cast<int8_t*>(cpu::scratch(3, cpu::amx_block_panel_bytes(Tp, nsb, kQK_K)));
  float* dx = static_cast<float*>(cpu::scratch(4, size_t(Tp * nsb) * sizeof(float)));
  cpu::amx_pack_block_panels(x, xrb, sizeof(BlockQ8_K), offsetof(BlockQ8_K, qs), false, kQK_K, T, Tp, nsb, panels, dx);
  const cpu::AmxRowBlock rbk = cpu::amx_row_block(nsb, kQK_K, kUnpackBlockBytes);
  for (int64_t b0 = r0; b0 < r1; b0 += rbk.rb) {
    const int64_t rows = b0 + rbk.rb < r1 ? rbk.rb : r1 - b0, rows_p = (rows + 15) / 16 * 16;
    unpack_tq_rows<F>(w + b0 * wrb, wrb, rows, rows_p, nsb, 0, rbk.codes, rbk.dw);
    cpu::amx_block_gemm(kQK_K, rbk.codes, rbk.dw, rows, rows_p, panels, dx, T, Tp, nsb, y + b0, ys, rbk.acc);
  }
}

// Prefill without the tile unit: an L2-sized block of rows unpacked once to
// unsigned trits c = w + 1 (tq_trits + 1, natural element order) with their
// d_w, the tokens' Q8_K codes copied to contiguous rows; then per 4 rows x 4
// tokens and block: 16 vpdpbusd sums over the block's 256 elements, reduced
// to one int32 per (row, token), Σ q subtracted, and per row the four
// tokens' float steps run lane-wise in block order, the reference's scalar
// expression per lane. Exact as the decode path; the weights are decoded once
// per block instead of once per token.
template <class F>
void matmul_tq_tiles(const char* w, size_t wrb, int64_t r0, int64_t r1, int64_t nsb, const char* x, size_t xrb,
                     int64_t T, float* y, int64_t ys) {
  const int64_t kp = nsb * kQK_K, Tp = (T + kMC - 1) / kMC * kMC;
  int8_t* X = static_cast<int8_t*>(cpu::scratch(1, size_t(Tp * kp) + size_t(Tp * nsb) * 8));
  int32_t* QS = reinterpret_cast<int32_t*>(X + Tp * kp);  // [j][t]: block-major, tokens adjacent
  float* DA = reinterpret_cast<float*>(QS + Tp * nsb);
  for (int64_t t = 0; t < Tp; ++t)
    for (int64_t j = 0; j < nsb; ++j) {
      int32_t sum = 0;
      float d = 0.0f;
      if (t < T) {
        const BlockQ8_K& xb = reinterpret_cast<const BlockQ8_K*>(x + t * xrb)[j];
        std::memcpy(X + t * kp + j * kQK_K, xb.qs, kQK_K);
        sum = code_sum(xb);
        d = xb.d;
      } else {  // padding tokens: no products, d_a = 0, never stored
        std::memset(X + t * kp + j * kQK_K, 0, kQK_K);
      }
      QS[j * Tp + t] = sum;
      DA[j * Tp + t] = d;
    }
  int64_t rb = int64_t(kUnpackBlockBytes / size_t(kp)) / kMR * kMR;
  if (rb < kMR) rb = kMR;
  uint8_t* U = static_cast<uint8_t*>(cpu::scratch(0, size_t(rb * kp) + size_t(rb * nsb) * sizeof(float)));
  float* DW = reinterpret_cast<float*>(U + rb * kp);
  for (int64_t b0 = r0; b0 < r1; b0 += rb) {
    const int64_t rows = b0 + rb < r1 ? rb : r1 - b0, rows_p = (rows + kMR - 1) / kMR * kMR;
    unpack_tq_rows<F>(w + b0 * wrb, wrb, rows, rows_p, nsb, 1, reinterpret_cast<int8_t*>(U), DW);
    for (int64_t t0 = 0; t0 < T; t0 += kMC)
      for (int64_t i = 0; i < rows_p; i += kMR) {
        __m128 sum[kMR];
        for (int r = 0; r < kMR; ++r) sum[r] = _mm_setzero_ps();
        for (int64_t j = 0; j < nsb; ++j) {
          __m512i acc[kMR][kMC];
          for (int r = 0; r < kMR; ++r)
            for (int c = 0; c < kMC; ++c) acc[r][c] = _mm512_setzero_si512();
          for (int64_t k = j * kQK_K; k < (j + 1) * kQK_K; k += 64) {
            __m512i xv[kMC];
            for (int c = 0; c < kMC; ++c) xv[c] = _mm512_load_si512(X + (t0 + c) * kp + k);
#pragma GCC unroll 4
            for (int r = 0; r < kMR; ++r) {
              const __m512i u = _mm512_load_si512(U + (i + r) * kp + k);
#pragma GCC unroll 4
              for (int c = 0; c < kMC; ++c) acc[r][c] = dpbusd_in_place(acc[r][c], u, xv[c]);
            }
          }
          const __m128i qs = _mm_loadu_si128(reinterpret_cast<const __m128i*>(QS + j * Tp + t0));
          const __m128 da = _mm_loadu_ps(DA + j * Tp + t0);
          for (int r = 0; r < kMR; ++r) {
            const __m128i s = _mm_sub_epi32(reduce4(acc[r][0], acc[r][1], acc[r][2], acc[r][3]), qs);
            const __m128 dw = _mm_set1_ps(DW[(i + r) * nsb + j]);
            sum[r] = _mm_add_ps(sum[r], no_contract(_mm_mul_ps(_mm_mul_ps(dw, da), _mm_cvtepi32_ps(s))));
          }
        }
        for (int r = 0; r < kMR && i + r < rows; ++r) {
          float out[kMC];
          _mm_storeu_ps(out, sum[r]);
          for (int c = 0; c < kMC && t0 + c < T; ++c) y[(t0 + c) * ys + b0 + i + r] = out[c];
        }
      }
  }
}

template <class F>
void matmul_tq(const void* wv, size_t wrb, int64_t r0, int64_t r1, int64_t k, const void* xv, size_t xrb, int64_t T,
               float* y, int64_t ys) {
  const char* w = static_cast<const char*>(wv);
  const char* x = static_cast<const char*>(xv);
  const int64_t nsb = k / kQK_K;
  if (r1 <= r0 || nsb == 0) return;
  if (T > 1 && amx_int8_ready()) return matmul_tq_amx<F>(w, wrb, r0, r1, nsb, x, xrb, T, y, ys);
  if (T > 1) return matmul_tq_tiles<F>(w, wrb, r0, r1, nsb, x, xrb, T, y, ys);
  // Decode: the token in layout form, then Σ q and d per block.
  const size_t lay = size_t(nsb) * 64 * F::kPlanes;
  int8_t* XL = static_cast<int8_t*>(cpu::scratch(1, lay + size_t(nsb) * 8));
  int32_t* QS = reinterpret_cast<int32_t*>(XL + lay);
  float* DA = reinterpret_cast<float*>(QS + nsb);
  const BlockQ8_K* xb = reinterpret_cast<const BlockQ8_K*>(x);
  for (int64_t j = 0; j < nsb; ++j) {
    F::layout(xb[j].qs, XL + size_t(j) * 64 * F::kPlanes);
    QS[j] = code_sum(xb[j]);
    DA[j] = xb[j].d;
  }
  for_row_streams<4>(
      r0, r1,
      [&](int64_t r, int64_t part) { tq_rows<F, 4>(w + r * wrb, wrb * size_t(part), nsb, XL, QS, DA, y + r, part); },
      [&](int64_t r) { tq_rows<F, 1>(w + r * wrb, wrb, nsb, XL, QS, DA, y + r, 1); });
}

}  // namespace

void register_ternary_avx512(KernelTable& t) {
  t.matmul_scaled[size_t(FormatId::T2)] = matmul_ternary<T2F>;
  t.matmul_scaled[size_t(FormatId::T1_6)] = matmul_ternary<T1_6F>;
  t.matmul[size_t(FormatId::TQ2_0)] = matmul_tq<TQ2F>;
  t.matmul[size_t(FormatId::TQ1_0)] = matmul_tq<TQ1F>;
  t.matmul[size_t(FormatId::TQ2_0R)] = matmul_tq<TQ2RF>;
  t.load_layout[size_t(FormatId::TQ2_0)] = FormatId::TQ2_0R;
}

}  // namespace nb::kernels
