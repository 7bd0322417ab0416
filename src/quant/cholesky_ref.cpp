// The scalar references of the Cholesky routines: straight transcriptions of
// the netlib operation order, one element at a time. cholesky.cpp holds the
// blocked, vectorized, multithreaded versions, tested bit for bit against these.
#pragma GCC optimize("fp-contract=off")
#include "quant/cholesky.h"

#include <algorithm>
#include <cmath>

#include "quant/cholesky_blocks.h"

namespace nb::quant {

bool cholesky_lower_ref(std::vector<float>& a, int64_t n) {
  for (int64_t j = 0; j < n; ++j) {
    float* rj = a.data() + j * n;
    float d = rj[j];
    for (int64_t k = 0; k < j; ++k) d = d - rj[k] * rj[k];
    if (!(d > 0.0f)) return false;  // also catches NaN
    const float ljj = std::sqrt(d);
    rj[j] = ljj;
    const float inv = 1.0f / ljj;
    for (int64_t i = j + 1; i < n; ++i) {
      float* ri = a.data() + i * n;
      float s = ri[j];
      for (int64_t k = 0; k < j; ++k) s = s - rj[k] * ri[k];
      ri[j] = s * inv;
    }
    for (int64_t k = j + 1; k < n; ++k) rj[k] = 0.0f;
  }
  return true;
}

namespace detail {

// strti2('L') on the diagonal block [o, o+b) of the row-major n×n matrix m.
void trti2_lower(float* m, int64_t n, int64_t o, int64_t b) {
  auto A = [&](int64_t i, int64_t j) -> float& { return m[i * n + j]; };
  std::vector<float> x0;
  for (int64_t j = o + b - 1; j >= o; --j) {
    A(j, j) = 1.0f / A(j, j);
    const float ajj = -A(j, j);
    // strmv('L','N') on x = A(j+1:o+b, j) with the inverted block below-right, then sscal(ajj).
    x0.clear();
    for (int64_t i = j + 1; i < o + b; ++i) x0.push_back(A(i, j));
    for (int64_t i = j + 1; i < o + b; ++i) {
      float t = x0[size_t(i - j - 1)] * A(i, i);
      for (int64_t k = i - 1; k > j; --k) t = t + x0[size_t(k - j - 1)] * A(i, k);
      A(i, j) = t;
    }
    for (int64_t i = j + 1; i < o + b; ++i) A(i, j) = ajj * A(i, j);
  }
}

// slauu2('L') on the diagonal block [o, o+b) (columns o..o+b-1 of its rows).
void lauu2_lower(float* m, int64_t n, int64_t o, int64_t b) {
  auto A = [&](int64_t i, int64_t j) -> float& { return m[i * n + j]; };
  for (int64_t i = o; i < o + b; ++i) {
    const float aii = A(i, i);
    if (i < o + b - 1) {
      float d = 0.0f;
      for (int64_t k = i; k < o + b; ++k) d = d + A(k, i) * A(k, i);
      A(i, i) = d;
      // sgemv('T'): y = A(i, o:i) (within the block's columns) := aii·y + A(i+1:, o:i)ᵀ·A(i+1:, i).
      for (int64_t j = o; j < i; ++j) A(i, j) = aii * A(i, j);
      for (int64_t j = o; j < i; ++j) {
        float t = 0.0f;
        for (int64_t k = i + 1; k < o + b; ++k) t = t + A(k, j) * A(k, i);
        A(i, j) = A(i, j) + t;
      }
    } else {
      for (int64_t j = o; j <= i; ++j) A(i, j) = aii * A(i, j);
    }
  }
}

}  // namespace detail

// torch.cholesky_inverse on a CPU build with reference LAPACK is spotri('L') =
// strtri('L') (L -> X = L⁻¹) then slauum('L') (X -> Xᵀ·X), both blocked with
// NB = 64. The loops below follow the netlib BLAS/LAPACK operation order.
std::vector<float> cholesky_inverse_ref(const std::vector<float>& l, int64_t n) {
  constexpr int64_t kNb = kCholeskyBlock;
  std::vector<float> m = l;
  auto A = [&](int64_t i, int64_t j) -> float& { return m[size_t(i * n + j)]; };

  // strtri('L'), blocked: block columns from the last to the first.
  if (n <= kNb) {
    detail::trti2_lower(m.data(), n, 0, n);
  } else {
    for (int64_t j0 = ((n - 1) / kNb) * kNb; j0 >= 0; j0 -= kNb) {
      const int64_t jb = std::min(kNb, n - j0), e = j0 + jb;
      if (e < n) {
        // strmm('L','L','N'): B(e:n, j0:e) := X(e:n, e:n)·B.
        for (int64_t j = j0; j < e; ++j) {
          std::vector<float> b0;
          for (int64_t i = e; i < n; ++i) b0.push_back(A(i, j));
          for (int64_t i = e; i < n; ++i) {
            float t = b0[size_t(i - e)] * A(i, i);
            for (int64_t k = i - 1; k >= e; --k) t = t + b0[size_t(k - e)] * A(i, k);
            A(i, j) = t;
          }
        }
        // strsm('R','L','N', alpha = -1): B := -B·inv(L(j0:e, j0:e)), columns last to first.
        for (int64_t j = e - 1; j >= j0; --j) {
          for (int64_t i = e; i < n; ++i) A(i, j) = -A(i, j);
          for (int64_t k = j + 1; k < e; ++k)
            for (int64_t i = e; i < n; ++i) A(i, j) = A(i, j) - A(k, j) * A(i, k);
          const float t = 1.0f / A(j, j);
          for (int64_t i = e; i < n; ++i) A(i, j) = t * A(i, j);
        }
      }
      detail::trti2_lower(m.data(), n, j0, jb);
    }
  }

  // slauum('L'), blocked.
  if (n <= kNb) {
    detail::lauu2_lower(m.data(), n, 0, n);
  } else {
    for (int64_t i0 = 0; i0 < n; i0 += kNb) {
      const int64_t ib = std::min(kNb, n - i0), e = i0 + ib;
      // strmm('L','L','T'): B(i0:e, 0:i0) := X(i0:e, i0:e)ᵀ·B.
      for (int64_t j = 0; j < i0; ++j)
        for (int64_t i = i0; i < e; ++i) {
          float t = A(i, j) * A(i, i);
          for (int64_t k = i + 1; k < e; ++k) t = t + A(k, i) * A(k, j);
          A(i, j) = t;
        }
      detail::lauu2_lower(m.data(), n, i0, ib);
      if (e < n) {
        // sgemm('T','N'): A(i0:e, 0:i0) += A(e:n, i0:e)ᵀ·A(e:n, 0:i0).
        for (int64_t j = 0; j < i0; ++j)
          for (int64_t i = i0; i < e; ++i) {
            float t = 0.0f;
            for (int64_t k = e; k < n; ++k) t = t + A(k, i) * A(k, j);
            A(i, j) = t + A(i, j);
          }
        // ssyrk('L','T'): A(i0:e, i0:e) += A(e:n, i0:e)ᵀ·A(e:n, i0:e) (lower part).
        for (int64_t j = i0; j < e; ++j)
          for (int64_t i = j; i < e; ++i) {
            float t = 0.0f;
            for (int64_t k = e; k < n; ++k) t = t + A(k, i) * A(k, j);
            A(i, j) = t + A(i, j);
          }
      }
    }
  }
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = i + 1; j < n; ++j) A(i, j) = A(j, i);
  return m;
}

namespace detail {

// netlib spotrf2('U'), the recursive factorisation of the diagonal block
// [o, o+m): halves, strsm('L','U','T','N') on the top-right part (sequential
// subtraction, then division), ssyrk('U','T') on the bottom-right part (a dot
// product from zero, then subtracted), recursion.
bool potrf2_upper(float* a, int64_t n, int64_t o, int64_t m) {
  if (m == 1) {
    const float d = a[o * n + o];
    if (!(d > 0.0f)) return false;
    a[o * n + o] = std::sqrt(d);
    return true;
  }
  const int64_t n1 = m / 2, e = o + m, h = o + n1;
  if (!potrf2_upper(a, n, o, n1)) return false;
  for (int64_t j = h; j < e; ++j)
    for (int64_t i = o; i < h; ++i) {
      float t = a[i * n + j];
      for (int64_t k = o; k < i; ++k) t = t - a[k * n + i] * a[k * n + j];
      a[i * n + j] = t / a[i * n + i];
    }
  for (int64_t j = h; j < e; ++j)
    for (int64_t i = h; i <= j; ++i) {
      float t = 0.0f;
      for (int64_t k = o; k < h; ++k) t = t + a[k * n + i] * a[k * n + j];
      a[i * n + j] = -t + a[i * n + j];
    }
  return potrf2_upper(a, n, h, m - n1);
}

}  // namespace detail

// netlib spotrf('U') with LAPACK's block size 64 (ilaenv for xPOTRF): per block
// row [J, J+64): ssyrk/sgemm('T','N') subtract the dot over all earlier rows,
// potrf2 factors the diagonal block, strsm('L','U','T','N') finishes the rest of
// the block row. This is the operation order of the reference's
// torch.linalg.cholesky(upper=True) on a CPU build with reference LAPACK.
bool cholesky_upper_ref(std::vector<float>& a, int64_t n) {
  constexpr int64_t kNb = kCholeskyBlock;
  float* A = a.data();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < i; ++j) A[i * n + j] = 0.0f;
  if (n <= kNb) return detail::potrf2_upper(A, n, 0, n);
  for (int64_t J = 0; J < n; J += kNb) {
    const int64_t jb = std::min(kNb, n - J), E = J + jb;
    // ssyrk (j in the block) and sgemm (j after it): dot over k < J, then subtract.
    for (int64_t i = J; i < E; ++i)
      for (int64_t j = i; j < n; ++j) {
        if (J == 0) break;
        float t = 0.0f;
        for (int64_t k = 0; k < J; ++k) t = t + A[k * n + i] * A[k * n + j];
        A[i * n + j] = -t + A[i * n + j];
      }
    if (!detail::potrf2_upper(A, n, J, jb)) return false;
    for (int64_t j = E; j < n; ++j)
      for (int64_t i = J; i < E; ++i) {
        float t = A[i * n + j];
        for (int64_t k = J; k < i; ++k) t = t - A[k * n + i] * A[k * n + j];
        A[i * n + j] = t / A[i * n + i];
      }
  }
  return true;
}

}  // namespace nb::quant
