// Blocked, multithreaded versions of the routines in cholesky_ref.cpp. Each
// keeps, for every matrix element, the exact fp32 operation sequence of the
// scalar reference (the netlib order); the speed comes from computing
// independent elements side by side: seq_gemm for the long dot products
// (vectorized across the contiguous output index), and tiles of 16 rows held
// transposed for the short triangular solves (vectorized across rows).
// tests/unit/quant/cholesky_test.cpp compares every routine bit for bit.
#pragma GCC optimize("fp-contract=off")  // products are rounded before they are added, as in netlib
#include "quant/cholesky.h"

#include <algorithm>
#include <cmath>

#include "kernels/seq_gemm.h"
#include "quant/cholesky_blocks.h"

namespace nb::quant {
namespace {

using kernels::seq_gemm;
using kernels::seq_gemm_parallel;
using kernels::SeqFinish;
using kernels::SeqGemm;
using kernels::SeqStart;
using kernels::SeqStep;

constexpr int64_t kNb = kCholeskyBlock;
constexpr int64_t kLanes = 16;   // rows solved side by side in the transposed tiles
constexpr int64_t kPanel = 32;   // column panel of the left-looking lower factorization
constexpr int64_t kColChunk = 256;  // columns per task in the row-by-row triangular updates

constexpr SeqGemm kFromCAdd{SeqStart::FromC, SeqStep::Add, SeqFinish::Store};
constexpr SeqGemm kFromCSub{SeqStart::FromC, SeqStep::Sub, SeqFinish::Store};
constexpr SeqGemm kDotStore{SeqStart::FromZero, SeqStep::Add, SeqFinish::Store};
constexpr SeqGemm kDotAdd{SeqStart::FromZero, SeqStep::Add, SeqFinish::Add};
constexpr SeqGemm kDotSub{SeqStart::FromZero, SeqStep::Add, SeqFinish::Sub};

// Rows [i0, i0+rows) × columns [c0, c0+w) of the n×n matrix a, transposed into
// t[w][kLanes] (and back): one lane per row, so a loop over lanes is a loop over
// independent rows.
void load_transposed(const float* a, int64_t n, int64_t i0, int64_t rows, int64_t c0, int64_t w, float* t) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < w; ++j) t[j * kLanes + r] = a[(i0 + r) * n + c0 + j];
  for (int64_t r = rows; r < kLanes; ++r)
    for (int64_t j = 0; j < w; ++j) t[j * kLanes + r] = 0.0f;  // unused lanes: finite filler
}
void store_transposed(float* a, int64_t n, int64_t i0, int64_t rows, int64_t c0, int64_t w, const float* t) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < w; ++j) a[(i0 + r) * n + c0 + j] = t[j * kLanes + r];
}

}  // namespace

// ---- L = chol(H), left-looking by column panels.
// Element (i, j), i >= j: s = a[i][j]; s -= L[j][k]·L[i][k] for k = 0 … j−1;
// diagonal: sqrt(s); below: s·fl(1/L[j][j]). Panel [j0, j1): (A) the k < j0
// part for all rows i >= j0 as one seq_gemm; (B) the k in [j0, j) part, first
// in the diagonal block (scalar, as the reference), then for the rows below in
// transposed tiles.
bool cholesky_lower(std::vector<float>& m, int64_t n, ThreadPool& pool) {
  float* a = m.data();
  std::vector<float> bt, inv(static_cast<size_t>(kPanel));
  for (int64_t j0 = 0; j0 < n; j0 += kPanel) {
    const int64_t j1 = std::min(j0 + kPanel, n), pw = j1 - j0;
    if (j0 > 0) {
      bt.resize(static_cast<size_t>(j0 * pw));  // bt[k][jj] = L[j0+jj][k]
      for (int64_t jj = 0; jj < pw; ++jj)
        for (int64_t k = 0; k < j0; ++k) bt[size_t(k * pw + jj)] = a[(j0 + jj) * n + k];
      seq_gemm_parallel(pool, kFromCSub, n - j0, pw, j0, a + j0 * n, n, 1, bt.data(), pw, a + j0 * n + j0, n);
    }
    for (int64_t j = j0; j < j1; ++j) {
      float* rj = a + j * n;
      float d = rj[j];
      for (int64_t k = j0; k < j; ++k) d = d - rj[k] * rj[k];
      if (!(d > 0.0f)) return false;  // also catches NaN
      rj[j] = std::sqrt(d);
      inv[size_t(j - j0)] = 1.0f / rj[j];
      for (int64_t i = j + 1; i < j1; ++i) {
        float* ri = a + i * n;
        float s = ri[j];
        for (int64_t k = j0; k < j; ++k) s = s - rj[k] * ri[k];
        ri[j] = s * inv[size_t(j - j0)];
      }
    }
    const int64_t below = n - j1, tiles = (below + kLanes - 1) / kLanes;
    pool.parallel_for(tiles, [&](int64_t t0, int64_t t1, int) {
      float t[kPanel * kLanes];
      for (int64_t tile = t0; tile < t1; ++tile) {
        const int64_t i0 = j1 + tile * kLanes, rows = std::min(kLanes, n - i0);
        load_transposed(a, n, i0, rows, j0, pw, t);
        for (int64_t j = 0; j < pw; ++j) {
          float* tj = t + j * kLanes;
          const float* lj = a + (j0 + j) * n + j0;
          for (int64_t k = 0; k < j; ++k) {
            const float ljk = lj[k], *tk = t + k * kLanes;
            for (int64_t r = 0; r < kLanes; ++r) tj[r] = tj[r] - ljk * tk[r];
          }
          const float iv = inv[size_t(j)];
          for (int64_t r = 0; r < kLanes; ++r) tj[r] = tj[r] * iv;
        }
        store_transposed(a, n, i0, rows, j0, pw, t);
      }
    });
  }
  for (int64_t i = 0; i < n; ++i) std::fill(a + i * n + i + 1, a + (i + 1) * n, 0.0f);
  return true;
}

// ---- (L·Lᵀ)⁻¹: strtri('L') then slauum('L'), blocked as netlib with NB = 64.
std::vector<float> cholesky_inverse(const std::vector<float>& l, int64_t n, ThreadPool& pool) {
  if (n <= kNb) return cholesky_inverse_ref(l, n);
  std::vector<float> m = l;
  float* a = m.data();
  auto A = [&](int64_t i, int64_t j) -> float& { return a[i * n + j]; };

  std::vector<float> bc;
  for (int64_t j0 = ((n - 1) / kNb) * kNb; j0 >= 0; j0 -= kNb) {
    const int64_t jb = std::min(kNb, n - j0), e = j0 + jb;
    if (e < n) {
      // strmm('L','L','N'): B(e:n, j0:e) := X(e:n, e:n)·B. Element (i, j):
      // t = b0[i]·X(i,i), then t += b0[k]·X(i,k) for k = i−1 down to e, with
      // b0 the block column before the update (kept in bc).
      bc.resize(static_cast<size_t>((n - e) * jb));
      for (int64_t i = e; i < n; ++i) std::copy_n(a + i * n + j0, jb, bc.data() + (i - e) * jb);
      // Rows in groups of kNb: row i first takes k = i−1 … r0 alone (a short
      // triangle), then the group shares k = r0−1 … e as one packed product.
      const int64_t groups = (n - e + kNb - 1) / kNb;
      pool.parallel_for(groups, [&](int64_t g0, int64_t g1, int) {
        for (int64_t g = g0; g < g1; ++g) {
          const int64_t r0 = e + g * kNb, r1 = std::min(r0 + kNb, n);
          for (int64_t i = r0; i < r1; ++i) {
            float* c = a + i * n + j0;
            const float* b0 = bc.data() + (i - e) * jb;
            const float xii = A(i, i);
            for (int64_t j = 0; j < jb; ++j) c[j] = b0[j] * xii;
            if (i > r0) seq_gemm(kFromCAdd, 1, jb, i - r0, a + i * n + i - 1, 0, -1, bc.data() + (i - 1 - e) * jb, -jb, c, n);
          }
          if (r0 > e)
            seq_gemm(kFromCAdd, r1 - r0, jb, r0 - e, a + r0 * n + r0 - 1, n, -1, bc.data() + (r0 - 1 - e) * jb, -jb,
                     a + r0 * n + j0, n);
        }
      });
      // strsm('R','L','N', alpha = −1): B := −B·inv(L(j0:e, j0:e)); per row,
      // columns last to first: x_j = −x_j; x_j −= L(k,j)·x_k for k = j+1 … e−1;
      // x_j = fl(1/L(j,j))·x_j.
      const int64_t tiles = (n - e + kLanes - 1) / kLanes;
      pool.parallel_for(tiles, [&](int64_t t0, int64_t t1, int) {
        float t[kNb * kLanes];
        for (int64_t tile = t0; tile < t1; ++tile) {
          const int64_t i0 = e + tile * kLanes, rows = std::min(kLanes, n - i0);
          load_transposed(a, n, i0, rows, j0, jb, t);
          for (int64_t j = jb - 1; j >= 0; --j) {
            float* tj = t + j * kLanes;
            for (int64_t r = 0; r < kLanes; ++r) tj[r] = -tj[r];
            for (int64_t k = j + 1; k < jb; ++k) {
              const float lkj = A(j0 + k, j0 + j), *tk = t + k * kLanes;
              for (int64_t r = 0; r < kLanes; ++r) tj[r] = tj[r] - lkj * tk[r];
            }
            const float s = 1.0f / A(j0 + j, j0 + j);
            for (int64_t r = 0; r < kLanes; ++r) tj[r] = s * tj[r];
          }
          store_transposed(a, n, i0, rows, j0, jb, t);
        }
      });
    }
    detail::trti2_lower(a, n, j0, jb);
  }

  std::vector<float> tmp(static_cast<size_t>(kNb * kNb));
  for (int64_t i0 = 0; i0 < n; i0 += kNb) {
    const int64_t ib = std::min(kNb, n - i0), e = i0 + ib;
    if (i0 > 0) {
      // strmm('L','L','T'): B(i0:e, 0:i0) := X(i0:e, i0:e)ᵀ·B. Element (i, j):
      // t = A(i,j)·A(i,i), then t += A(k,i)·A(k,j) for k = i+1 … e−1. Rows go in
      // ascending order, so row i still reads the rows below it unmodified.
      const int64_t chunks = (i0 + kColChunk - 1) / kColChunk;
      pool.parallel_for(chunks, [&](int64_t c0, int64_t c1, int) {
        for (int64_t ch = c0; ch < c1; ++ch) {
          const int64_t j0 = ch * kColChunk, w = std::min(kColChunk, i0 - j0);
          for (int64_t i = i0; i < e; ++i) {
            float* c = a + i * n + j0;
            const float xii = A(i, i);
            for (int64_t j = 0; j < w; ++j) c[j] = c[j] * xii;
            if (i + 1 < e) seq_gemm(kFromCAdd, 1, w, e - 1 - i, a + (i + 1) * n + i, 0, n, a + (i + 1) * n + j0, n, c, n);
          }
        }
      });
    }
    detail::lauu2_lower(a, n, i0, ib);
    if (e < n) {
      // sgemm('T','N'): A(i0:e, 0:i0) += A(e:n, i0:e)ᵀ·A(e:n, 0:i0), each dot from zero, then added.
      if (i0 > 0) seq_gemm_parallel(pool, kDotAdd, ib, i0, n - e, a + e * n + i0, 1, n, a + e * n, n, a + i0 * n, n);
      // ssyrk('L','T'): the same for the lower triangle of the diagonal block.
      seq_gemm_parallel(pool, kDotStore, ib, ib, n - e, a + e * n + i0, 1, n, a + e * n + i0, n, tmp.data(), ib);
      for (int64_t i = 0; i < ib; ++i)
        for (int64_t j = 0; j <= i; ++j) A(i0 + i, i0 + j) = tmp[size_t(i * ib + j)] + A(i0 + i, i0 + j);
    }
  }
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = i + 1; j < n; ++j) A(i, j) = A(j, i);
  return m;
}

// ---- U with A = UᵀU: spotrf('U'), block rows of 64.
bool cholesky_upper(std::vector<float>& m, int64_t n, ThreadPool& pool) {
  if (n <= kNb) return cholesky_upper_ref(m, n);
  float* a = m.data();
  for (int64_t i = 0; i < n; ++i) std::fill(a + i * n, a + i * n + i, 0.0f);
  std::vector<float> tmp(static_cast<size_t>(kNb * kNb));
  for (int64_t J = 0; J < n; J += kNb) {
    const int64_t jb = std::min(kNb, n - J), E = J + jb;
    if (J > 0) {
      // ssyrk / sgemm: A[i][j] = −(Σ_{k<J} A[k][i]·A[k][j]) + A[i][j], i in the block, j >= i.
      seq_gemm_parallel(pool, kDotStore, jb, jb, J, a + J, 1, n, a + J, n, tmp.data(), jb);
      for (int64_t i = 0; i < jb; ++i)
        for (int64_t j = i; j < jb; ++j) a[(J + i) * n + J + j] = a[(J + i) * n + J + j] - tmp[size_t(i * jb + j)];
      if (E < n) seq_gemm_parallel(pool, kDotSub, jb, n - E, J, a + J, 1, n, a + E, n, a + J * n + E, n);
    }
    if (!detail::potrf2_upper(a, n, J, jb)) return false;
    if (E < n) {
      // strsm('L','U','T','N'): t = A[i][j]; t −= A[k][i]·A[k][j] for k = J … i−1;
      // A[i][j] = t / A[i][i]; rows in ascending order (row i needs rows k < i).
      const int64_t chunks = (n - E + kColChunk - 1) / kColChunk;
      pool.parallel_for(chunks, [&](int64_t c0, int64_t c1, int) {
        for (int64_t ch = c0; ch < c1; ++ch) {
          const int64_t j0 = E + ch * kColChunk, w = std::min(kColChunk, n - j0);
          for (int64_t i = J; i < E; ++i) {
            float* c = a + i * n + j0;
            if (i > J) seq_gemm(kFromCSub, 1, w, i - J, a + J * n + i, 0, n, a + J * n + j0, n, c, n);
            const float d = a[i * n + i];
            for (int64_t j = 0; j < w; ++j) c[j] = c[j] / d;
          }
        }
      });
    }
  }
  return true;
}

void dampen_diagonal(std::vector<float>& h, int64_t n, float percdamp) {
  double sum = 0;
  for (int64_t j = 0; j < n; ++j) sum += h[size_t(j * n + j)];
  const float mean = float(sum / double(n));
  const float damp = percdamp * mean;
  for (int64_t j = 0; j < n; ++j) h[size_t(j * n + j)] = h[size_t(j * n + j)] + damp;
}

bool upper_cholesky_of_inverse(std::vector<float>& h, int64_t n, ThreadPool& pool, std::vector<float>* lower) {
  if (!cholesky_lower(h, n, pool)) return false;
  std::vector<float> inv = cholesky_inverse(h, n, pool);
  if (lower) lower->swap(h);
  h.swap(inv);
  return cholesky_upper(h, n, pool);
}

}  // namespace nb::quant
