// bitllama2.c ternary checkpoints (github.com/HKUSTGZ-MICS-LYU/bitllama2.c,
// runbit.c): the facts the parser (bitnet_c.cpp) and the model loader share.
// The layout itself is described once, in bitnet_c.cpp.
//
// A ModelFile of container kBitnetCContainer holds:
//   "rms_final"       f32 [dim]
//   "tok_embeddings"  f32 [vocab_size, dim] (also the classifier)
//   "layers.<l>.<m>"  for m in wq wk wv wo w1 w2 w3: one BitLinear record, the
//                     file's bytes as they are: an fp32 scale followed by
//                     out*in/4 bytes of 2-bit codes. The format table has no
//                     row for this packing (only this file uses it), so the
//                     record is tagged i8_row, which is its exact byte shape
//                     (one fp32 then bytes) — the bytes are packed codes, not
//                     int8 values; read them with bitnet_c_unpack_row().
// and "bitnet.*" metadata: dim, hidden_dim, n_layers, n_heads, n_kv_heads,
// vocab_size, seq_len, version, shared_classifier.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/status.h"
#include "io/model_file.h"

namespace nb::io {

inline constexpr const char* kBitnetCContainer = "bitnet-c";

// The seven BitLinear matrices of a layer, in the order the file stores them
// (all layers of wq, then all of wk, ...).
inline constexpr const char* kBitnetCMatrices[7] = {"wq", "wk", "wv", "wo", "w1", "w2", "w3"};

// "layers.<l>.<m>"
std::string bitnet_c_tensor_name(int64_t layer, const char* matrix);

// The per-tensor scale of a record.
float bitnet_c_scale(const TensorInfo& record);

// Weights r*in .. r*in+in-1 of a record (row r of its (out, in) matrix) as
// -1, 0, +1. The invalid code 10 gives an error naming the tensor and the byte
// (counted from the start of the record's codes).
Status bitnet_c_unpack_row(const TensorInfo& record, int64_t r, int64_t in, float* out);

}  // namespace nb::io
