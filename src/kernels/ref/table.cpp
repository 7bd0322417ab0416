// reference_table(): the scalar kernels, the oracle the optimized tables start
// from. Entries follow the format table: a matmul for every format with a dot,
// a quantize for every format some weight format's dot takes as activations.
#include "formats/format.h"
#include "kernels/attend_head.h"
#include "kernels/ref/ref_kernels.h"

namespace nb::kernels {
namespace {

KernelTable build_reference() {
  KernelTable t;
  t.isa = "scalar";
  for (size_t i = 0; i < size_t(FormatId::kCount); ++i) {
    const FormatId f = FormatId(i);
    const formats::FormatTraits& tr = formats::traits(f);
    if (tr.dot == nullptr) continue;
    t.matmul[i] = ref::matmul_for(f);
    t.matmul_isa[i] = "scalar";
    t.matmul_scaled[i] = ref::matmul_scaled_for(f);
    // The activation codec is the format's reference encoder (a memcpy for F32).
    t.quantize[size_t(tr.dot_type)] = formats::traits(tr.dot_type).from_float;
  }
  t.rmsnorm = ref::rmsnorm;
  t.bitlinear_codes = ref::bitlinear_codes;
  t.softmax = ref::softmax;
  t.swiglu = ref::swiglu;
  t.sigmoid = ref::sigmoid;
  t.dot_f32 = ref::dot_f32;
  t.axpy_f32 = ref::axpy_f32;
  t.attend_head = attend_head_with<ref::dot_f32, ref::softmax, ref::axpy_f32>;
  return t;
}

}  // namespace

const KernelTable& reference_table() {
  static const KernelTable t = build_reference();
  return t;
}

}  // namespace nb::kernels
