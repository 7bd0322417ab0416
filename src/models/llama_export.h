// Writing a Llama model as a GGUF file that llama.cpp loads: its key names,
// its tensor names, Q/K rows in its interleaved RoPE order.
#pragma once
#include <string>

#include "core/status.h"
#include "io/gguf_writer.h"
#include "io/model_file.h"

namespace nb {

// Embedding and output head are written in at least 8 bits when the matrices
// have fewer (llama.cpp's quantizer likewise keeps them in 6+ bits).
FormatId low_bit_head_type(FormatId t);

struct LlamaExportOptions {
  FormatId type = FormatId::F16;   // format of the weight matrices
  FormatId head = FormatId::kCount;  // embedding / output head; kCount: low_bit_head_type(type)
  FormatId head_type() const { return head != FormatId::kCount ? head : low_bit_head_type(type); }
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
