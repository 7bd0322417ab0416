// BitNet b1.58 as bitllama2.c trained it (runbit.c): a Llama-shaped
// Transformer whose every block matrix is a BitLinear — weightless RMSNorm of
// its input, per-token int8 absmax activations, ternary weights with one fp32
// scale per tensor — with an fp32 token embedding that is also the classifier.
// The ternary matrices run on the T2 format through kernels::matmul_quantized,
// the same exact-integer path as every other ternary model.
#pragma once
#include <memory>

#include "models/model.h"

namespace nb {

// Architecture name in the registry and in ModelInfo::arch.
inline constexpr const char* kBitnetArch = "bitnet-b1.58";

Result<std::unique_ptr<Model>> load_bitnet(std::shared_ptr<const io::ModelFile> file, const LoadOptions& opts);

// runbit.c's activation quantizer for one token, written into an I8_ROW row:
// scale = (float)(max|a| / 127.0) (the division in double), then
// code[i] = (int8) round(a[i] * (float)(1.0 / scale)) with C's round() (half
// away from zero). Codes n .. n_codes-1 are zero (the padding T2 rows expect).
// A row of zeros gets scale 0 and zero codes (runbit.c would divide by zero).
void bitnet_quantize_act(const float* a, int64_t n, int64_t n_codes, void* row);

// runbit.c's bit_rmsnorm: a / (n * rms(a)) with no eps and no weight, in its
// exact operation order (float sum of squares; /n; 1/sqrtf; /n).
void bitnet_rmsnorm(float* out, const float* a, int64_t n);

}  // namespace nb
