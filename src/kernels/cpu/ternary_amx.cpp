// AMX-INT8 tile kernel behind ternary_amx.h.
//
// TDPBUSD: C[m][n] (int32, 16×16) += Σ_{p<16} Σ_{j<4} A[m][4p+j] · B[p][4n+j],
// A unsigned bytes, B signed bytes. A is 16 rows of 64 unpacked trits c in
// {0, 1, 2} (read in place from the unpacked row block, any row stride); B
// is a "code panel": 16 tokens × 64 codes, token n's codes 4p..4p+3 at row p,
// bytes 4n..4n+3. Every sum is an exact int32, so the result equals the
// VNNI micro-kernel's (ternary_avx512.cpp) bit for bit; only the float step
// after it, the same in both, makes the outputs.
//
// Tiles 0-3 hold a 2×2 block of C (32 rows × 32 tokens), 4-5 two A tiles,
// 6-7 two B tiles.
#include "kernels/cpu/ternary_amx.h"

#include <immintrin.h>

#include "kernels/cpu/amx_tiles.h"

// GCC 12's intrinsic headers trip -W(maybe-)uninitialized on their own
// _mm*_undefined_* temporaries; the warnings are false positives.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace nb::kernels::cpu {

void amx_pack_code_panels(const int8_t* X, size_t xs, int64_t T, int64_t k, int64_t Tp, int64_t us, int8_t* panels) {
  pack_dword_panels(X, xs, T, k, Tp, us, panels);
}

void amx_ternary_matmul(const uint8_t* U, int64_t us, int64_t rows, int64_t rows_p, const int8_t* panels, int64_t T,
                        int64_t Tp, const int32_t* qsum, const float* scale, float* y, int64_t ys) {
  configure_full_tiles();
  const int64_t nk = us / 64;
  alignas(64) int32_t sums[4][16][16];
  // Tokens outer: a pair of token panels (32 tokens x k codes, 32 KiB at
  // k = 1024) stays in L1 while the row block's weights stream from L2. The
  // tile loads, not the multiplies, bound this loop: with the multiplies
  // removed mmfree-370m pp512 ran as fast as the full kernel, with the loads
  // removed 1.2-1.3x faster. Rows outer (weights reused from L1 instead) was
  // 6% slower (pp512, 2 threads, 4 interleaved runs: 2068-2176 against
  // 2180-2338 tokens/s).
  for (int64_t t = 0; t < Tp; t += 32)
    for (int64_t r = 0; r < rows_p; r += 32) {
      _tile_zero(0);
      _tile_zero(1);
      _tile_zero(2);
      _tile_zero(3);
      const int8_t* b = panels + (t / 16) * nk * 1024;
      for (int64_t kc = 0; kc < nk; ++kc) {
        _tile_loadd(4, U + r * us + kc * 64, us);
        _tile_loadd(5, U + (r + 16) * us + kc * 64, us);
        _tile_loadd(6, b + kc * 1024, 64);
        _tile_loadd(7, b + (nk + kc) * 1024, 64);
        _tile_dpbusd(0, 4, 6);
        _tile_dpbusd(1, 4, 7);
        _tile_dpbusd(2, 5, 6);
        _tile_dpbusd(3, 5, 7);
      }
      _tile_stored(0, sums[0], 64);
      _tile_stored(1, sums[1], 64);
      _tile_stored(2, sums[2], 64);
      _tile_stored(3, sums[3], 64);
      // Tile (mi, ni): rows r + 16 mi, tokens t + 16 ni; transposed so that
      // each token's 16 rows are one vector: y = float(sum - qsum) * scale.
      for (int mi = 0; mi < 2; ++mi)
        for (int ni = 0; ni < 2; ++ni) {
          const int64_t r0 = r + 16 * mi, t0 = t + 16 * ni;
          if (r0 >= rows || t0 >= T) continue;
          __m512i v[16];
          for (int i = 0; i < 16; ++i) v[i] = _mm512_load_si512(sums[2 * mi + ni][i]);
          transpose16(v);  // v[n]: token t0 + n, rows r0..r0+15
          const __mmask16 m = rows - r0 >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (rows - r0)) - 1);
          for (int n = 0; n < 16 && t0 + n < T; ++n) {
            const __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(v[n], _mm512_set1_epi32(qsum[t0 + n]))),
                                           _mm512_set1_ps(scale[t0 + n]));
            _mm512_mask_storeu_ps(y + (t0 + n) * ys + r0, m, f);
          }
        }
    }
}

}  // namespace nb::kernels::cpu
