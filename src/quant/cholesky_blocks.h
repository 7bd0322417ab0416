// Pieces of the netlib routines shared by the scalar references
// (cholesky_ref.cpp) and the blocked versions (cholesky.cpp): the unblocked
// kernels LAPACK runs on each 64×64 diagonal block. Row-major n×n matrix m;
// the block is rows/columns [o, o+b).
#pragma once
#include <cstdint>

namespace nb::quant {

constexpr int64_t kCholeskyBlock = 64;  // LAPACK's ilaenv block size for xPOTRF / xTRTRI / xLAUUM

namespace detail {
void trti2_lower(float* m, int64_t n, int64_t o, int64_t b);   // strti2('L', 'N')
void lauu2_lower(float* m, int64_t n, int64_t o, int64_t b);   // slauu2('L')
bool potrf2_upper(float* m, int64_t n, int64_t o, int64_t b);  // spotrf2('U'), recursive
}  // namespace detail

}  // namespace nb::quant
