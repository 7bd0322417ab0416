// AMX-BF16 kernels (bf16_gemm_amx.cpp) used by kernels/bf16_gemm.cpp; call
// them only when amx_bf16_ready(). Layouts:
//  - bf16 rows: row-major uint16 bf16 bits, `cols_pad` (a multiple of 32) per row.
//  - pair panels: the right-hand side B(k, c) of a product, 16 columns per
//    panel; panel p holds ceil(inner/32) tiles of 1 KiB, tile kb row r holding
//    for each column n the pair (B(32kb+2r, 16p+n), B(32kb+2r+1, 16p+n)).
//    Entries past `inner` or `cols` are zero.
#pragma once
#include <cstddef>
#include <cstdint>

namespace nb::kernels::cpu {

// Panels [p0, p1) of B(k, c) = src[k·inner_stride + c·col_stride], rounded to bf16 (nearest even).
void amx_pack_pairs(const float* src, int64_t inner_stride, int64_t col_stride, int64_t inner, int64_t cols,
                    int64_t p0, int64_t p1, uint16_t* dst);
// Rows [r0, r1) of A(r, c) = src[r·row_stride + c·col_stride] as bf16 rows of cols_pad.
void amx_to_bf16_rows(const float* src, int64_t row_stride, int64_t col_stride, int64_t cols, int64_t cols_pad,
                      int64_t r0, int64_t r1, uint16_t* dst);
// Y[t][r] = Σ_k W[r][k]·B(k, t) for rows [r0, r1) (multiples of 16) of BF16 W
// (k a multiple of 32) and all T tokens, b = the pair panels of the tokens.
void amx_matmul_rows(const uint16_t* w, size_t w_row_bytes, int64_t r0, int64_t r1, int64_t k, const uint16_t* b,
                     int64_t T, float* Y, int64_t ys);
// G[i][j] += Σ_l A[i][l]·B(l, j) for rows [i0, i1) (multiples of 16) and the
// columns up to the end of each row's 32-row diagonal block; inner a multiple of 32.
void amx_gram_rows(const uint16_t* a, int64_t lda, const uint16_t* b, int64_t inner, int64_t i0, int64_t i1,
                   float* g, int64_t ldg);

}  // namespace nb::kernels::cpu
