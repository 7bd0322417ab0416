// Writing a Llama model as a GGUF file that llama.cpp loads: its key names,
// its tensor names, Q/K rows in its interleaved RoPE order.
#pragma once
#include <string>

#include "core/status.h"
#include "io/gguf_writer.h"
#include "io/model_file.h"

namespace nb {

// Formats of the embedding and the output head when the caller names none
// (a tied embedding is the output head):
// - TQ1_0 / TQ2_0: what llama.cpp's quantizer writes with these types, so
//   that converted files carry the same tensors as the ones people have:
//   embedding Q4_K, output Q6_K, each Q8_0 where the width is not a multiple
//   of their 256-element blocks;
// - other formats below 8 bits: Q8_0 for both (fp4-and-gptq.md: the
//   quantizer keeps them in 8 bits unless asked);
// - 8 bits and more: the matrices' own format.
struct HeadFormats {
  FormatId embd, output;
};
HeadFormats default_head_formats(FormatId t, int64_t width, bool tied);

struct LlamaExportOptions {
  FormatId type = FormatId::F16;     // format of the weight matrices
  FormatId head = FormatId::kCount;  // embedding and output head; kCount: default_head_formats
  HeadFormats head_formats(int64_t width, bool tied) const {
    return head != FormatId::kCount ? HeadFormats{head, head} : default_head_formats(type, width, tied);
  }
};

// Adds the model's metadata and tensors (converted as needed) to `w`. Buffers
// for converted tensors are kept in `keep` until w.write() is done.
Status add_llama_to_gguf(const io::ModelFile& in, const LlamaExportOptions& opt, io::GgufWriter& w,
                         std::vector<std::vector<uint8_t>>& keep);

// The same for weights already in memory (e.g. made by the quantizer), in the
// order and RoPE layout of `lw.cfg`; `in` supplies general.name. Matrices
// already in their target format are copied byte for byte (with their tensor
// scale); others are converted.
struct LlamaWeights;
Status add_llama_weights_to_gguf(const io::ModelFile& in, const LlamaWeights& lw, const LlamaExportOptions& opt,
                                 io::GgufWriter& w, std::vector<std::vector<uint8_t>>& keep);

}  // namespace nb
