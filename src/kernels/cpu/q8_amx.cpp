// AMX-INT8 tile kernel behind q8_amx.h.
//
// One Q8_0 block (32 codes) is one tile step: TDPBSSD with A = 16 weight rows
// × 32 codes and B = 8 rows × (16 tokens × 4 codes) gives the exact int32
// block sums of 16 rows × 16 tokens. Each block's sums then take the
// reference's float step, acc += float(sum) * (dw * dx), lane = token, in
// block order; so every output is the reference dot's value bit for bit
// (the VNNI kernels keep lane-wise partial sums instead and agree with it to
// fp32 rounding).
//
// Two tile sets, each one tile of sums (16 rows × 16 tokens), its A tile and
// its B tile: 0/2/4 and 1/3/5.
#include "kernels/cpu/q8_amx.h"

#include <immintrin.h>

#include <cstring>

#include "formats/blocks.h"
#include "core/half.h"

namespace nb::kernels::cpu {
namespace {

struct alignas(64) TileConfig {
  uint8_t palette = 1, start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

// This file's tile shapes (the configuration is per thread and other AMX
// kernels load their own, so it is loaded on every entry).
void configure_tiles() {
  TileConfig c;
  for (int i = 0; i < 2; ++i) c.colsb[i] = 64, c.rows[i] = 16;  // sums: 16 × 16 int32
  for (int i = 2; i < 4; ++i) c.colsb[i] = 32, c.rows[i] = 16;  // A: 16 rows × 32 codes
  for (int i = 4; i < 6; ++i) c.colsb[i] = 64, c.rows[i] = 8;   // B: 8 × (16 tokens × 4 codes)
  _tile_loadconfig(&c);
}

// Block sums of 16 rows × 16 tokens into sums, with tile set 0 or 1 (the
// tile intrinsics take their register numbers as literals).
#define NB_BLOCK_SUMS(C, A, B)                             \
  inline void block_sums_##C(const int8_t* a, size_t a_stride, const int8_t* b, int32_t* sums) { \
    _tile_zero(C);                                         \
    _tile_loadd(A, a, a_stride);                           \
    _tile_loadd(B, b, 64);                                 \
    _tile_dpbssd(C, A, B);                                 \
    _tile_stored(C, sums, 64);                             \
  }
NB_BLOCK_SUMS(0, 2, 4)
NB_BLOCK_SUMS(1, 3, 5)
#undef NB_BLOCK_SUMS

}  // namespace

void amx_pack_q8_panels(const char* xq, size_t xrb, int64_t T, int64_t Tp, int64_t nb, int8_t* panels, float* dx) {
  // Panel (g, b), 512 bytes: row p holds codes 4p..4p+3 of block b of tokens 16g..16g+15.
  for (int64_t g = 0; g < Tp / 16; ++g)
    for (int64_t b = 0; b < nb; ++b) {
      int8_t* dst = panels + (g * nb + b) * 512;
      for (int n = 0; n < 16; ++n) {
        const int64_t t = 16 * g + n;
        if (t >= T) {
          for (int p = 0; p < 8; ++p) std::memset(dst + p * 64 + 4 * n, 0, 4);
          dx[b * Tp + t] = 0.0f;
          continue;
        }
        const formats::BlockQ8_0& blk = reinterpret_cast<const formats::BlockQ8_0*>(xq + size_t(t) * xrb)[b];
        for (int p = 0; p < 8; ++p) std::memcpy(dst + p * 64 + 4 * n, blk.qs + 4 * p, 4);
        dx[b * Tp + t] = fp16_to_f32(blk.d);
      }
    }
}

void amx_q8_gemm(const int8_t* W, const float* dw, int64_t rows, int64_t rows_p, const int8_t* panels,
                 const float* dx, int64_t T, int64_t Tp, int64_t nb, float* y, int64_t ys, float* acc) {
  configure_tiles();
  const size_t ws = size_t(nb) * 32;
  // Tile sets 0 and 1 alternate by block, so that the tile unit computes
  // block b + 1 while the vector units take block b's float step.
  alignas(64) int32_t sums[2][16][16];
  for (int64_t r = 0; r < rows_p; r += 16)
    for (int64_t t = 0; t < Tp; t += 16) {
      const int8_t* a = W + r * ws;
      const int8_t* bp = panels + (t / 16) * nb * 512;
      __m512 s[16];
      for (int i = 0; i < 16; ++i) s[i] = _mm512_setzero_ps();
      block_sums_0(a, ws, bp, &sums[0][0][0]);
      for (int64_t b = 0; b < nb; ++b) {
        if (b + 1 < nb) {
          if (b % 2) block_sums_0(a + (b + 1) * 32, ws, bp + (b + 1) * 512, &sums[0][0][0]);
          else block_sums_1(a + (b + 1) * 32, ws, bp + (b + 1) * 512, &sums[1][0][0]);
        }
        const __m512 x = _mm512_loadu_ps(dx + b * Tp + t);
        const int32_t(*c)[16] = sums[b % 2];
        for (int i = 0; i < 16; ++i) {
          const __m512 p = _mm512_mul_ps(_mm512_set1_ps(dw[(r + i) * nb + b]), x);  // dw * dx
          __m512 m = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_load_si512(c[i])), p);
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
