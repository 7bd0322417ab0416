// 4-bit decode on integer multiply-adds (w4_planes_avx512.cpp): the
// KernelTable::matmul_decode entries fp4_avx512.cpp registers on CPUs with
// AVX512-VNNI and the AMX tile unit (Intel cores, whose VDPBF16PS is slow).
// Their sums run in another order than the matmul entries' (each 8-element
// lane summed exactly in int32, then rounded once), so they serve only
// callers that allow that (FloatSums::AnyOrder).
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/tensor.h"

namespace nb::kernels::cpu {

// MatmulRowsFn for INT4-g128 rows in the file layout, x T bf16 rows (each
// token on its own: this is a decode kernel).
void int4_g128_planes_matmul(const void* w, size_t wrb, int64_t r0, int64_t r1, int64_t k, const void* x, size_t xrb,
                             int64_t T, float* y, int64_t ys);
// The same for W4R rows (formats/blocks.h) of format f: INT4_G32R,
// INT4_G64R, MXFP4R, MXFP4_FPQR or NVFP4R (its rows divided by the tensor
// scale, as the bf16 kernels take them), k a multiple of 128 (W4R keeps the
// codes of a last partial chunk in file blocks).
void w4r_planes_matmul(FormatId f, const void* w, size_t wrb, int64_t r0, int64_t r1, int64_t k, const void* x,
                       size_t xrb, int64_t T, float* y, int64_t ys);

}  // namespace nb::kernels::cpu
