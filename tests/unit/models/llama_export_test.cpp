// default_head_formats: the embedding and output head formats a converted
// Llama file gets when the user names none.
#include <gtest/gtest.h>

#include "formats/format.h"
#include "models/llama_export.h"

namespace nb {
namespace {

void expect(FormatId t, int64_t width, bool tied, FormatId embd, FormatId output) {
  const HeadFormats h = default_head_formats(t, width, tied);
  EXPECT_EQ(h.embd, embd) << formats::traits(t).name << " width " << width << (tied ? " tied" : "");
  EXPECT_EQ(h.output, output) << formats::traits(t).name << " width " << width << (tied ? " tied" : "");
}

// llama.cpp's llama-quantize with TQ1_0 / TQ2_0: token_embd Q4_K, output Q6_K
// (the tied embedding is the output), Q8_0 where 256 does not divide the width.
TEST(DefaultHeadFormats, TernaryFollowsLlamaCppsQuantizer) {
  for (FormatId t : {FormatId::TQ1_0, FormatId::TQ2_0}) {
    expect(t, 2048, false, FormatId::Q4_K, FormatId::Q6_K);
    expect(t, 2048, true, FormatId::Q6_K, FormatId::Q6_K);
    expect(t, 288, false, FormatId::Q8_0, FormatId::Q8_0);
    expect(t, 288, true, FormatId::Q8_0, FormatId::Q8_0);
  }
}

// Everything else below 8 bits keeps both in Q8_0 (fp4-and-gptq.md); 8 bits
// and more keep the matrices' own format.
TEST(DefaultHeadFormats, OtherFormatsStayInEightBitsOrTheirOwn) {
  for (FormatId t : {FormatId::Q4_0, FormatId::MXFP4, FormatId::NVFP4, FormatId::INT4_G128, FormatId::Q4_K})
    expect(t, 2048, false, FormatId::Q8_0, FormatId::Q8_0);
  for (FormatId t : {FormatId::Q8_0, FormatId::F16, FormatId::BF16, FormatId::F32}) expect(t, 2048, true, t, t);
}

}  // namespace
}  // namespace nb
