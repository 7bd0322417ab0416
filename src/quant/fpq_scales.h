// FP-Quant's group scales, fixed once before the GPTQ loop from the (rotated)
// weights, and its element quantizer — design/fp4-and-gptq.md §2.4, §3.3, §4.1,
// §7.3, gptq-golden/README.md §3 — over nibble's 4-bit formats:
//  - MXFP4_FPQ (group 32): s → e = clamp(E(max(fl(6·s), 2^-126)), -127, 127),
//    scale = fl(2^(e-2) / 0.75) = fl(2^e / 3), stored E8M0 byte e + 127.
//  - MXFP4 (OCP, group 32; nibble's extension for llama.cpp files): the same
//    exponent e of fl(6·s), scale 2^(e-2), byte e + 125 clamped to [0, 254]
//    (R-OCP: with s = amax/6 this is the format encoder's byte; all-zero → 0).
//  - NVFP4 (group 16): b = E4M3_RNE(clamp(fl(s·g), ±448)),
//    scale = fl(E4M3(b) · fl(1/g)), a zero scale replaced by 1 (FP-Quant).
//  - INT4_G32/64/128: scale = fp16(min(s, 65504)) (the format stores fp16).
// s is the observer's continuous scale: minmax s0 = fl(fl(2·amax)/12) for FP4,
// fl(fl(2·amax)/15) for INT4 (variant A); mse: the first strict minimum over
// p_i = fl32(1 − 0.8·i/100), i = 0…99, of Σ_group |x − c·Q(x/c)|^2.4 with
// c = fl(p_i·s0), scored on the continuous scale, rounded afterwards (§7.3).
#pragma once
#include <cstdint>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"
#include "core/thread_pool.h"

namespace nb::quant {

enum class Observer : uint8_t { MinMax, Mse };

// The formats this quantizer writes, and their group size (formats' block size).
bool fpq_supported(FormatId f);
bool fpq_is_int4(FormatId f);

struct GroupScales {
  FormatId format = FormatId::MXFP4_FPQ;
  int64_t rows = 0, n_groups = 0, group_size = 0;
  std::vector<float> scale;      // [rows, n_groups] decode scale: deq = value(code) · scale
  std::vector<uint16_t> stored;  // [rows, n_groups] the file's scale field: E8M0 / E4M3 byte, fp16 bits
  float global_scale = 0;        // NVFP4: g (the encode multiplier); 0 for the others
};

// FP-Quant's NVFP4 global scale: fl(2688 · fl(1/amax)); 1 for an all-zero tensor.
float nvfp4_global_scale(const float* w, int64_t n);

// Scales of W [rows, cols] (cols a multiple of the group size). g: NVFP4's
// global scale (0: computed from this W); ignored by the other formats.
Result<GroupScales> fpq_group_scales(const float* w, int64_t rows, int64_t cols, FormatId format, Observer observer,
                                     float g, ThreadPool& pool);

// One element: its 4-bit code and dequantized value with the frozen scale.
// FP4: v = fl(x / scale), E2M1 round-to-nearest-even with saturation; a negative
// v that rounds to zero gets code 0x8 (−0, as FP-Quant's cast_to_fp4 gives
// sign·0), so deq keeps the reference's −0.0. INT4: q = clamp(RNE(x/scale),
// −8, 7), code q + 8 (a zero scale gives q = 0).
struct QuantizedValue {
  uint8_t code;
  float deq;
};
QuantizedValue fpq_quantize_value(bool int4, float x, float scale);

}  // namespace nb::quant
