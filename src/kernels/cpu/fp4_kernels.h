// Weight-only 4-bit kernels (W4A16: bf16 activations) for MXFP4, MXFP4_FPQ,
// NVFP4 and INT4-g32/g64/g128, in fp4_avx2.cpp and fp4_avx512.cpp. The
// dispatcher (kernels/dispatch.cpp) adds them on top of each ISA level.
//
// NVFP4's tensor scale (TensorView::scale) is not applied here: a row kernel
// has no tensor; kernels::matmul multiplies each output by it once.
#pragma once
#include <cstdint>

#include "kernels/dispatch.h"

namespace nb::kernels {

void register_fp4_avx2(KernelTable& t);    // AVX2 + FMA + F16C
void register_fp4_avx512(KernelTable& t);  // AVX-512 F/BW/VL/DQ

namespace cpu {

// The 16 E2M1 values (kE2M1Values) times each of the 256 block scale codes,
// so that a block's scaled value table is one aligned load instead of a
// conversion and 16 products. Every product is exact (E2M1 x 2^k; E2M1 x E4M3
// has at most 6 significant bits), NaN scales give NaN rows. Built at first
// use from formats/blocks.h (e8m0_to_f32, e4m3_to_f32) in fp4_tables.cpp,
// which has no ISA flags, so that no AVX-512 code runs during start-up.
// The bf16 tables are the same values (each exact in bf16: the exponent range
// is fp32's, and 2 or 6 significant bits fit its 8); INT4's (code - 8) is
// and MXFP4's bf16 rows are stored twice over (32 words) for vpermw, which
// reads 5 index bits.
struct Fp4Tables {
  alignas(64) float mxfp4[256][16];  // E8M0 scale byte b: kE2M1Values[j] * 2^(b - 127)
  alignas(64) float nvfp4[256][16];  // E4M3 scale byte b: kE2M1Values[j] * e4m3(b)
  alignas(64) uint16_t mxfp4_bf16[256][32];  // mxfp4[b][j % 16] as bf16
  alignas(64) uint16_t nvfp4_bf16[256][16];  // nvfp4[b][j] as bf16
  alignas(64) uint16_t int4_bf16[32];        // j % 16 - 8 as bf16
};
const Fp4Tables& fp4_tables();

}  // namespace cpu
}  // namespace nb::kernels
