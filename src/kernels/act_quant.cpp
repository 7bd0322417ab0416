#include "kernels/act_quant.h"

#include <cmath>
#include <string>
#include <vector>

#include "formats/format.h"

namespace nb::kernels {

Result<FormatId> parse_act_type(const std::string& name) {
  if (name == "none" || name == "f32") return FormatId::F32;
  if (name == "mxfp4") return FormatId::MXFP4_FPQ;  // the paper's W4A4 rule
  if (name == "mxfp4_ocp") return FormatId::MXFP4;
  if (name == "nvfp4") return FormatId::NVFP4;
  return Status::Error("--act-type '" + name + "': expected none, mxfp4, mxfp4_ocp or nvfp4");
}

const char* act_type_name(FormatId f) {
  switch (f) {
    case FormatId::MXFP4_FPQ: return "mxfp4";
    case FormatId::MXFP4: return "mxfp4_ocp";
    case FormatId::NVFP4: return "nvfp4";
    default: return "none";
  }
}

Status check_act_width(FormatId f, int64_t n, const char* what) {
  if (f == FormatId::F32) return Status::Ok();
  return formats::check_row(f, n, what);
}

void fake_quantize_rows(FormatId f, float* x, int64_t rows, int64_t n) {
  if (f == FormatId::F32) return;
  const formats::FormatTraits& tr = formats::traits(f);
  std::vector<uint8_t> packed(formats::row_bytes(f, n));
  for (int64_t r = 0; r < rows; ++r) {
    float* row = x + r * n;
    float s = 1.0f;  // NVFP4: rows are encoded divided by their own tensor scale
    if (tr.tensor_scale) {
      float amax = 0.0f;
      for (int64_t i = 0; i < n; ++i) amax = std::fmax(amax, std::fabs(row[i]));
      if (amax > 0.0f) s = amax / 2688.0f;  // 2688 = 6 (E2M1 max) * 448 (E4M3 max), spec §3.3
      for (int64_t i = 0; i < n; ++i) row[i] /= s;
    }
    tr.from_float(row, packed.data(), n);
    tr.to_float(packed.data(), row, n);
    if (s != 1.0f)
      for (int64_t i = 0; i < n; ++i) row[i] *= s;
  }
}

}  // namespace nb::kernels
