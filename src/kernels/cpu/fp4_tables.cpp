// The scaled value tables of fp4_kernels.h, built from the format table's own
// conversions (formats/blocks.h), so the kernels hold no second copy of them.
#include "core/half.h"
#include "formats/blocks.h"
#include "kernels/cpu/fp4_kernels.h"

namespace nb::kernels::cpu {

namespace {

Fp4Tables build() {
  Fp4Tables t;
  for (int b = 0; b < 256; ++b)
    for (int j = 0; j < 16; ++j) {
      t.mxfp4[b][j] = formats::kE2M1Values[j] * formats::e8m0_to_f32(uint8_t(b));
      t.nvfp4[b][j] = formats::kE2M1Values[j] * formats::e4m3_to_f32(uint8_t(b));
      t.nvfp4_bf16[b][j] = f32_to_bf16(t.nvfp4[b][j]);
      t.mxfp4_bf16[b][j] = t.mxfp4_bf16[b][j + 16] = f32_to_bf16(t.mxfp4[b][j]);
    }
  for (int j = 0; j < 32; ++j) t.int4_bf16[j] = f32_to_bf16(float(j % 16 - 8));
  return t;
}

}  // namespace

const Fp4Tables& fp4_tables() {
  static const Fp4Tables t = build();
  return t;
}

}  // namespace nb::kernels::cpu
