// The Llama family: RMSNorm, RoPE, grouped-query attention with a KV cache,
// SwiGLU feed-forward, tied or untied output head.
#pragma once
#include <memory>

#include "models/model.h"

namespace nb {

Result<std::unique_ptr<Model>> load_llama(std::shared_ptr<const io::ModelFile> file, const LoadOptions& opts);

}  // namespace nb

namespace nb {
struct LlamaWeights;
struct LlamaConfig;
// A Llama over weights already in memory (keepalive holds whatever they point into).
// opts: emulated activation quantization, repacking (LoadOptions).
Result<std::unique_ptr<Model>> make_llama(LlamaWeights w, std::shared_ptr<const io::ModelFile> keepalive,
                                          const LoadOptions& opts = {});
// A Llama of a given shape with random weights (N(0, 0.02)) in `format`, built
// without a file, for `nibble bench --random`. Uses the pool to fill weights.
Result<std::unique_ptr<Model>> make_random_llama(const LlamaConfig& cfg, FormatId format, uint64_t seed, ThreadPool& pool,
                                                 const LoadOptions& opts = {});
// The weights alone (for `nibble convert --random`: a file of a shape to time the quantizer on).
Result<LlamaWeights> random_llama_weights(const LlamaConfig& cfg, FormatId format, uint64_t seed, ThreadPool& pool);
// Named shapes for --random: "tinyllama-1.1b", "llama-7b", "stories260k".
Result<LlamaConfig> llama_shape(const std::string& name);
}  // namespace nb
