// Matrix products with a prescribed per-element operation order, for the
// quantizer's bit-exact linear algebra (GPTQ's lazy-batch update, the Hessian
// XᵀX, the blocked Cholesky / triangular-inverse updates; design/fp4-and-gptq.md §6).
//
// Every output element c = C[i][j] goes through exactly this fp32 sequence,
// l ascending, each product rounded before it is added (never an FMA):
//   start  = FromC ? C[i][j] : 0
//   acc    = start ⊕ fl(A(i,0)·B(0,j)) ⊕ fl(A(i,1)·B(1,j)) ⊕ …      (⊕ = + or −, `step`)
//   C[i][j] = finish(acc):  Store: acc;  Add: C[i][j] + acc;  Sub: C[i][j] − acc
// which is the order of netlib sgemm / ssyrk (one dot per element, summed
// sequentially over the inner index). The SIMD versions vectorize across j
// (independent outputs) only, so they are bit-identical to the scalar one.
//
// A(i,l) = a[i·a_rs + l·a_cs] (any strides: rows of a matrix or of its
// transpose); B(l,j) = b[l·ldb + j] (rows of B contiguous); C row-major, ldc.
#pragma once
#include <cstdint>

#include "core/thread_pool.h"

namespace nb::kernels {

enum class SeqStart : uint8_t { FromC, FromZero };
enum class SeqStep : uint8_t { Add, Sub };
enum class SeqFinish : uint8_t { Store, Add, Sub };  // Add/Sub only with FromZero

struct SeqGemm {
  SeqStart start = SeqStart::FromZero;
  SeqStep step = SeqStep::Add;
  SeqFinish finish = SeqFinish::Store;
};

// Single-threaded, on the best ISA of active_table() (AVX-512 or scalar).
void seq_gemm(const SeqGemm& op, int64_t m, int64_t n, int64_t k, const float* a, int64_t a_rs, int64_t a_cs,
              const float* b, int64_t ldb, float* c, int64_t ldc);

// The scalar oracle.
void seq_gemm_ref(const SeqGemm& op, int64_t m, int64_t n, int64_t k, const float* a, int64_t a_rs, int64_t a_cs,
                  const float* b, int64_t ldb, float* c, int64_t ldc);

// Split over tiles of C (fixed tile boundaries; each element computed by one
// call), so results do not depend on the thread count.
void seq_gemm_parallel(ThreadPool& pool, const SeqGemm& op, int64_t m, int64_t n, int64_t k, const float* a,
                       int64_t a_rs, int64_t a_cs, const float* b, int64_t ldb, float* c, int64_t ldc);

}  // namespace nb::kernels
