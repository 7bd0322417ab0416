// AMX-INT8 tile kernel behind block_gemm_amx.h.
//
// A block of kb codes is kb / c tile steps of c = min(kb, 64) codes:
// TDPBSSD with A = 16 weight rows × c codes and B = c / 4 rows × (16 tokens
// × 4 codes) adds exact int32 partial sums, so after a block's steps the
// tile holds its exact block sums for 16 rows × 16 tokens. Each block's sums
// then take the reference's float step, acc += float(sum) * (dw * dx), lane
// = token, in block order; so every output is the reference dot's value bit
// for bit (the VNNI kernels keep lane-wise partial sums instead and agree
// with it to fp32 rounding).
//
// Two tile sets (sums, A, B: tiles 0/2/4 and 1/3/5) alternate by block, so
// that the tile unit computes block b + 1 while the vector units take block
// b's float step.
#include "kernels/cpu/block_gemm_amx.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "core/half.h"
#include "kernels/cpu/amx_tiles.h"
#include "kernels/cpu/scratch.h"

// GCC 12's intrinsic headers trip -W(maybe-)uninitialized on their own
// _mm*_undefined_* temporaries; the warnings are false positives.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace nb::kernels::cpu {
namespace {

// Tile shapes for steps of c codes: sums 16 × 16 int32, A 16 rows × c codes,
// B c/4 rows × (16 tokens × 4 codes).
void configure_tiles(int c) {
  const uint8_t b = uint8_t(c / 4);
  const uint16_t a = uint16_t(c);
  cpu::configure_tiles({16, 16, 16, 16, b, b, 0, 0}, {64, 64, a, a, 64, 64, 0, 0});
}

// Starts the block sums of 16 rows × 16 tokens in sums tile C: steps steps
// of c codes, A rows a_stride bytes apart, B panels panel_bytes apart; tile
// set 0 or 1 (the tile intrinsics take register numbers as literals). The
// sums are read out later (store_sums), so the tile unit works while the
// vector units take the previous block's float step.
#define NB_BLOCK_SUMS(C, A, B)                                                                                 \
  inline void block_sums_##C(const int8_t* a, size_t a_stride, int c, const int8_t* b, size_t panel_bytes,  \
                             int steps) {                                                                     \
    _tile_zero(C);                                                                                            \
    for (int s = 0; s < steps; ++s) {                                                                         \
      _tile_loadd(A, a + s * c, a_stride);                                                                    \
      _tile_loadd(B, b + s * panel_bytes, 64);                                                                \
      _tile_dpbssd(C, A, B);                                                                                  \
    }                                                                                                         \
  }
NB_BLOCK_SUMS(0, 2, 4)
NB_BLOCK_SUMS(1, 3, 5)
#undef NB_BLOCK_SUMS

inline void store_sums(int set, int32_t* sums) {
  if (set == 0) _tile_stored(0, sums, 64);
  else _tile_stored(1, sums, 64);
}

}  // namespace

AmxRowBlock amx_row_block(int64_t nb, int kb, size_t bytes) {
  const size_t row = size_t(nb) * size_t(kb);
  int64_t rb = int64_t(bytes / row) / 16 * 16;
  if (rb < 16) rb = 16;
  const size_t codes = size_t(rb) * row, scales = size_t(rb * nb) * sizeof(float);
  char* buf = static_cast<char*>(scratch(5, codes + scales + 256 * sizeof(float)));
  return {rb, reinterpret_cast<int8_t*>(buf), reinterpret_cast<float*>(buf + codes),
          reinterpret_cast<float*>(buf + codes + scales)};
}

void amx_pack_block_panels(const char* xq, size_t xrb, size_t block_bytes, size_t code_off, bool scale_f16, int kb,
                           int64_t T, int64_t Tp, int64_t nb, int8_t* panels, float* dx) {
  for (int64_t t = 0; t < Tp; ++t)
    for (int64_t b = 0; b < nb; ++b) {
      float d = 0.0f;
      if (t < T) {
        const char* blk = xq + size_t(t) * xrb + size_t(b) * block_bytes;
        if (scale_f16) {
          uint16_t h;
          std::memcpy(&h, blk, 2);
          d = fp16_to_f32(h);
        } else {
          std::memcpy(&d, blk, 4);
        }
      }
      dx[b * Tp + t] = d;
    }
  // Panels hold 64 codes of 16 tokens per KiB: row p = codes 4p..4p+3 of
  // each token, i.e. the 16 × 16 dword transpose of the tokens' 64 codes
  // (kb = 32: two blocks, the second panel right after the first). Unit u is
  // codes 64u..64u+63 of a row, at panels + (16 g nb kb) + 1024 u for tokens
  // 16g..16g+15; a lone last block of 32 fills its first 8 rows.
  const int64_t units = (nb * kb + 63) / 64;
  for (int64_t g = 0; g < Tp / 16; ++g)
    for (int64_t u = 0; u < units; ++u) {
      __m512i a[16];
      for (int n = 0; n < 16; ++n) {
        const int64_t t = 16 * g + n;
        a[n] = _mm512_setzero_si512();
        if (t >= T) continue;
        const char* row = xq + size_t(t) * xrb + code_off;
        if (kb >= 64) {
          a[n] = _mm512_loadu_si512(row + size_t(64 * u / kb) * block_bytes + size_t(64 * u % kb));
        } else {  // kb = 32: blocks 2u and 2u + 1
          const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + size_t(2 * u) * block_bytes));
          const __m256i hi = 2 * u + 1 < nb ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(
                                                  row + size_t(2 * u + 1) * block_bytes))
                                            : _mm256_setzero_si256();
          a[n] = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
        }
      }
      transpose16(a);
      const int rows = int(std::min<int64_t>(16, (nb * kb - 64 * u) / 4));
      int8_t* dst = panels + size_t(g * nb * kb) * 16 + size_t(u) * 1024;
      for (int p = 0; p < rows; ++p) _mm512_storeu_si512(dst + p * 64, a[p]);
    }
}

void amx_block_gemm(int kb, const int8_t* W, const float* dw, int64_t rows, int64_t rows_p, const int8_t* panels,
                    const float* dx, int64_t T, int64_t Tp, int64_t nb, float* y, int64_t ys, float* acc) {
  const int c = kb < 64 ? kb : 64, steps = kb / c;
  configure_tiles(c);
  const size_t ws = size_t(nb) * size_t(kb), panel = size_t(c) * 16, block_panels = panel * size_t(steps);
  alignas(64) int32_t sums[2][16][16];
  for (int64_t r = 0; r < rows_p; r += 16)
    for (int64_t t = 0; t < Tp; t += 16) {
      const int8_t* a = W + r * ws;
      const int8_t* bp = panels + (t / 16) * nb * block_panels;
      __m512 s[16];
      for (int i = 0; i < 16; ++i) s[i] = _mm512_setzero_ps();
      block_sums_0(a, ws, c, bp, panel, steps);
      for (int64_t b = 0; b < nb; ++b) {
        // Read out block b (started one float step ago), then start block
        // b + 1. In this order the store does not wait for block b + 1's
        // products, and the float step's loads wait only for this store.
        store_sums(int(b % 2), &sums[b % 2][0][0]);
        if (b + 1 < nb) {
          const int8_t* an = a + (b + 1) * kb;
          const int8_t* bn = bp + (b + 1) * block_panels;
          if (b % 2) block_sums_0(an, ws, c, bn, panel, steps);
          else block_sums_1(an, ws, c, bn, panel, steps);
        }
        const __m512 x = _mm512_loadu_ps(dx + b * Tp + t);
        const int32_t(*cs)[16] = sums[b % 2];
        for (int i = 0; i < 16; ++i) {
          const __m512 p = _mm512_mul_ps(_mm512_set1_ps(dw[(r + i) * nb + b]), x);  // dw * dx
          __m512 m = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_load_si512(cs[i])), p);
          // Two roundings, as the reference: keep the compiler from fusing the product into the sum.
          __asm__("" : "+v"(m));
          s[i] = _mm512_add_ps(s[i], m);
        }
      }
      for (int i = 0; i < 16; ++i) _mm512_store_ps(acc + i * 16, s[i]);
      for (int i = 0; i < 16 && r + i < rows; ++i)
        for (int n = 0; n < 16 && t + n < T; ++n) y[(t + n) * ys + r + i] = acc[i * 16 + n];
    }
}

}  // namespace nb::kernels::cpu
