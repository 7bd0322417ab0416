// Writing a Llama model as a GGUF file that llama.cpp loads: its key names,
// its tensor names, Q/K rows in its interleaved RoPE order.
#pragma once
#include <string>

#include "core/status.h"
#include "io/gguf_writer.h"
#include "io/model_file.h"

namespace nb {

inline FormatId low_bit_head_type(FormatId t) {
  return (t == FormatId::Q4_0 || t == FormatId::TQ1_0 || t == FormatId::TQ2_0) ? FormatId::Q8_0 : t;
}

struct LlamaExportOptions {
  FormatId type = FormatId::F16;  // format of the weight matrices
  // Embedding and output head are written in at least 8 bits when `type` has
  // fewer (llama.cpp's quantizer likewise keeps them in 6+ bits).
  FormatId head_type() const { return low_bit_head_type(type); }
};

// Adds the model's metadata and tensors (converted as needed) to `w`. Buffers
// for converted tensors are kept in `keep` until w.write() is done.
Status add_llama_to_gguf(const io::ModelFile& in, const LlamaExportOptions& opt, io::GgufWriter& w,
                         std::vector<std::vector<uint8_t>>& keep);

}  // namespace nb
