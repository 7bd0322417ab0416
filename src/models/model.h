// The Model interface: typed weights loaded once, a per-sequence State, and a
// forward pass from token ids to logits. One file per architecture.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/thread_pool.h"
#include "io/gguf_writer.h"
#include "io/model_file.h"

namespace nb {

struct ModelInfo {
  std::string arch;          // "llama", "hgrn_bit", ...
  int64_t n_vocab = 0;
  int64_t n_ctx_train = 0;   // context length the model was trained for (0: unknown)
  int64_t n_embd = 0;
  int64_t n_layer = 0;
  int64_t n_params = 0;      // number of weights
  int64_t weight_bytes = 0;  // bytes of weights streamed per token (for bandwidth figures)
  std::string weight_format; // dominant matrix format, e.g. "q8_0"
  std::vector<std::pair<std::string, std::string>> hparams;  // for `nibble inspect`
};

// Per-sequence state: KV cache (llama) or recurrent state (hgrn_bit).
class State {
 public:
  virtual ~State() = default;
  int64_t n_past = 0;     // positions already evaluated
  int64_t n_ctx = 0;      // capacity
  virtual void reset() { n_past = 0; }
};

class Model {
 public:
  virtual ~Model() = default;
  virtual const ModelInfo& info() const = 0;
  virtual std::unique_ptr<State> new_state(int64_t n_ctx) const = 0;
  // Evaluate ids at positions st.n_past ... st.n_past + ids.size() - 1 and
  // advance st.n_past. logits receives [ids.size(), n_vocab] when all_logits,
  // otherwise [1, n_vocab] for the last position. Errors (context full, id out
  // of range) leave the state unchanged.
  virtual Status forward(std::span<const int32_t> ids, State& st, float* logits, bool all_logits,
                         ThreadPool& pool) = 0;
};

// The checks every forward() makes before touching its state: the new
// positions fit the context, and every id is in [0, n_vocab).
Status check_forward_input(std::span<const int32_t> ids, const State& st, int64_t n_vocab);

struct LoadOptions {
  bool verbose = false;
  // Emulated W4A4 (`--act-type`): every linear layer's input rounded through
  // this FP4 format (kernels/act_quant.h); F32 = none. Llama models only.
  FormatId act_type = FormatId::F32;
  // Rearrange weights once into the layout the kernels read best
  // (kernels::with_kernel_layout; `--no-repack` turns it off).
  bool repack = true;
};

// The architecture a file declares ("" if none): GGUF general.architecture,
// HF model_type; llama2.c checkpoints are llama.
std::string architecture_of(const io::ModelFile& file);
// The registry: architecture name -> loader. Reads the ModelFile's metadata
// to find the architecture (architecture_of).
Result<std::unique_ptr<Model>> load_model(std::shared_ptr<const io::ModelFile> file, const LoadOptions& opts = {});

// Adds a model's metadata and weights (matrices in `type`) to a GGUF writer,
// in the architecture's llama.cpp conventions. Converted tensors live in
// `keep` until the writer is done.
Status export_gguf(const io::ModelFile& file, FormatId type, io::GgufWriter& w,
                   std::vector<std::vector<uint8_t>>& keep);
std::vector<std::string> registered_architectures();

}  // namespace nb
