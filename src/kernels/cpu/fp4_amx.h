// AMX-BF16 prefill for the weight-only 4-bit formats (fp4_amx.cpp): the
// KernelTable::matmul_prefill entries fp4_avx512.cpp registers hand calls to
// it when amx_bf16_ready(). Its sums run in another order than the matmul
// entries', so it serves only callers that allow that (FloatSums::AnyOrder).
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/tensor.h"  // FormatId

namespace nb::kernels::cpu {

// The MatmulRowsFn of format f (MXFP4, MXFP4_FPQ, NVFP4, INT4-g32/g64/g128
// and their W4R layouts MXFP4R, MXFP4_FPQR, NVFP4R, INT4_G32R, INT4_G64R):
// y[t * ys + r] for rows [r0, r1) and tokens t < T, x the T bf16 rows.
void amx_w4_matmul(FormatId f, const void* w, size_t wrb, int64_t r0, int64_t r1, int64_t k, const void* x,
                   size_t xrb, int64_t T, float* y, int64_t ys);

}  // namespace nb::kernels::cpu
