// Emulated W4A4: activation rows rounded through an FP4 block format and back
// to fp32 with the format table's reference encoder (design/fp4-and-gptq.md
// §7.6, §9.1: the paper quantizes each linear layer's input, after the online
// Hadamard rotation, with the weights' block format). A CPU emulation for
// measuring quality; it makes nothing faster.
#pragma once
#include <cstdint>
#include <string>

#include "core/status.h"
#include "core/tensor.h"

namespace nb::kernels {

// The activation formats `--act-type` offers: F32 (none), MXFP4_FPQ (FP-Quant /
// QuTLASS "abs_max": block scale 2^E(amax)/3, the rule of the paper's MXFP4
// kernels), MXFP4 (the OCP rule), NVFP4 (E4M3 block scales under a per-row fp32
// scale amax_row / 2688, i.e. a dynamic per-token global scale).
Result<FormatId> parse_act_type(const std::string& name);
const char* act_type_name(FormatId f);

// Error unless every row length n is a whole number of f's blocks.
Status check_act_width(FormatId f, int64_t n, const char* what);

// x [rows, n] in place: each row encoded to f and decoded back. F32: no-op.
void fake_quantize_rows(FormatId f, float* x, int64_t rows, int64_t n);

}  // namespace nb::kernels
