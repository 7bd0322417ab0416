// Private to formats/: one function per table row, defined in the family files
// (float.cpp, q8_0.cpp, ...). table.cpp places each row at its FormatId.
// Adding a format: write its family file, declare its row here, list it in table.cpp.
#pragma once
#include <cstdint>
#include <cstring>

#include "core/half.h"
#include "formats/format.h"

namespace nb::formats {

// Element i of a bf16 activation row (the dot type of the 4-bit formats).
inline float bf16_at(const void* row, int64_t i) {
  uint16_t v;
  std::memcpy(&v, static_cast<const unsigned char*>(row) + 2 * i, 2);
  return bf16_to_f32(v);
}

}  // namespace nb::formats

namespace nb::formats::rows {

FormatTraits f32();
FormatTraits f16();
FormatTraits bf16();
FormatTraits q8_0();
FormatTraits q8_0r();
FormatTraits q4_0();
FormatTraits q4_k();
FormatTraits q5_k();
FormatTraits q6_k();
FormatTraits q4_kr();
FormatTraits q5_kr();
FormatTraits q6_kr();
FormatTraits q8_k();
FormatTraits i8_row();
FormatTraits tq1_0();
FormatTraits tq2_0();
FormatTraits tq2_0r();
FormatTraits t2();
FormatTraits t1_6();
FormatTraits mxfp4();      // fp4.cpp
FormatTraits mxfp4_fpq();
FormatTraits nvfp4();
FormatTraits int4_g32();   // int4.cpp
FormatTraits int4_g64();
FormatTraits int4_g128();
FormatTraits mxfp4r();     // w4r.cpp
FormatTraits mxfp4_fpqr();
FormatTraits nvfp4r();
FormatTraits int4_g32r();
FormatTraits int4_g64r();

}  // namespace nb::formats::rows
