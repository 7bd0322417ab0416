// Whether the AMX tile unit may be used: the CPU has the instructions and the
// kernel granted this process the tile state. Linux hands out the 8 KiB tile
// state only on request (arch_prctl ARCH_REQ_XCOMP_PERM for XTILEDATA); it is
// requested once, on the first call.
#pragma once

namespace nb::kernels {

bool amx_bf16_ready();  // AMX-TILE + AMX-BF16 (bf16_gemm.h)
bool amx_int8_ready();  // AMX-TILE + AMX-INT8 (ternary prefill)

// Tests turn the tile unit off (both answers false) to check the SIMD
// kernels it stands in for on the same machine.
void set_amx_enabled(bool on);

}  // namespace nb::kernels
