// What the subcommands share: the common flags (one place for each default),
// loading a model and its tokenizer, reading prompts and token-id files.
#pragma once
#include <CLI/CLI.hpp>

#include <memory>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "models/model.h"
#include "tokenizer/tokenizer.h"

namespace nb::cli {

// -m/--model, --tokenizer, -t/--threads: the flags every model command takes.
struct ModelFlags {
  std::string model;
  std::string tokenizer;
  int threads = 0;  // 0: physical cores
  std::string act_type = "none";  // emulated W4A4 (kernels/act_quant.h)
  bool no_repack = false;          // keep weights in the file's layout (LoadOptions::repack)
  void add(CLI::App& app, bool model_required = true);
  int thread_count() const { return threads > 0 ? threads : physical_cores(); }
};

extern const char* const kNoRepackHelp;

struct Loaded {
  std::shared_ptr<const io::ModelFile> file;
  std::unique_ptr<Model> model;
  std::unique_ptr<Tokenizer> tokenizer;  // may be null when need_tokenizer is false
};

// Opens the file, loads the model and the tokenizer (--tokenizer, or the one
// embedded / next to the model). Tokenizer errors are fatal only if needed.
Result<Loaded> load(const ModelFlags& f, bool need_tokenizer);

// Whitespace-separated token ids; the error names the file and the bad word.
Result<std::vector<int32_t>> read_ids_file(const std::string& path);
Result<std::string> read_text_file(const std::string& path);
Status write_ids_file(const std::string& path, const std::vector<int32_t>& ids);

// Print "nibble <cmd>: error: <message>" to stderr and return exit code 1.
int fail(const char* cmd, const Status& st);

// Subcommands; each adds itself to the app.
void add_run(CLI::App& app);
void add_perplexity(CLI::App& app);
void add_bench(CLI::App& app);
void add_tokenize(CLI::App& app);
void add_inspect(CLI::App& app);
void add_convert(CLI::App& app);
void add_quantize(CLI::App& app);

}  // namespace nb::cli
