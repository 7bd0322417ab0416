// Per-thread scratch memory for the SIMD kernels (packing buffers), so that
// matmul calls do not allocate: a buffer only grows, to the largest size seen.
// Compiled without ISA flags (scratch.cpp) on purpose: code shared by the
// _avx2/_avx512 files must not be emitted from one of them, or the linker
// could keep an AVX-512 copy of it for everyone.
#pragma once
#include <cstddef>

namespace nb::kernels::cpu {

// 64-byte aligned, at least `bytes` long, valid until the next call with the
// same slot on this thread. Slots let one kernel hold several buffers.
void* scratch(int slot, size_t bytes);
constexpr int kScratchSlots = 6;

}  // namespace nb::kernels::cpu
