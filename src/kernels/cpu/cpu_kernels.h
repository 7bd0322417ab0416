// Optimized CPU kernels. Each ISA file fills the entries it implements; the
// dispatcher (kernels/dispatch.cpp) calls these only when the CPU has the ISA.
#pragma once
#include "kernels/dispatch.h"

namespace nb::kernels {

void register_avx2(KernelTable& t);    // AVX2 + FMA + F16C
void register_avx512(KernelTable& t);  // AVX-512 F/BW/VL/DQ + VNNI (+ BF16 where used)
// Ternary kernels (ternary_avx2.cpp / ternary_avx512.cpp), called at the end of the two above.
void register_ternary_avx2(KernelTable& t);
void register_ternary_avx512(KernelTable& t);
// K-quant kernels (kquant_avx512.cpp), called at the end of register_avx512.
void register_kquant_avx512(KernelTable& t);

}  // namespace nb::kernels
