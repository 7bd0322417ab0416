// Finding and opening a tokenizer: by sniffing a file, or next to a model.
#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "io/model_file.h"
#include "tokenizer/from_bytes.h"

namespace nb {
namespace {

bool ends_with(const std::string& s, const char* suffix) {
  std::string_view sv(s), suf(suffix);
  return sv.size() >= suf.size() && sv.substr(sv.size() - suf.size()) == suf;
}

bool is_dir(const std::string& p) {
  struct stat st {};
  return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool is_file(const std::string& p) {
  struct stat st {};
  return stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

Result<std::string> slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return Status::Error("cannot open tokenizer '" + path + "'");
  std::stringstream ss;
  ss << f.rdbuf();
  if (f.bad()) return Status::Error("cannot read tokenizer '" + path + "'");
  return ss.str();
}

// tokenizer.model, then tokenizer.json, in a folder.
Result<std::unique_ptr<Tokenizer>> from_folder(const std::string& dir, const std::string& what) {
  for (const char* name : {"tokenizer.model", "tokenizer.json"}) {
    std::string p = dir + "/" + name;
    if (is_file(p)) return load_tokenizer(p);
  }
  return Status::Error(what + ": no tokenizer.model or tokenizer.json in '" + dir + "'; pass --tokenizer");
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> load_tokenizer(const std::string& path) {
  if (is_dir(path)) return from_folder(path, "tokenizer folder");
  NB_ASSIGN_OR_RETURN(std::string bytes, slurp(path));
  if (bytes.size() >= 4 && bytes.compare(0, 4, "GGUF") == 0) {
    NB_ASSIGN_OR_RETURN(io::ModelFile mf, io::open_gguf(path));
    return tokenizer_from_gguf(mf);
  }
  if (ends_with(path, ".json")) return hf_tokenizer_from_json(bytes, path);
  if (ends_with(path, ".model")) return spm_tokenizer_from_bytes(bytes, path);
  if (ends_with(path, ".bin")) return llama2c_tokenizer_from_bytes(bytes, path);
  // No telling extension: JSON starts with '{'; a ModelProto with its first
  // piece (field 1, length-delimited) starts with byte 0x0A; else llama2.c.
  size_t first = bytes.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && bytes[first] == '{') return hf_tokenizer_from_json(bytes, path);
  if (!bytes.empty() && bytes[0] == '\x0A') return spm_tokenizer_from_bytes(bytes, path);
  return llama2c_tokenizer_from_bytes(bytes, path);
}

Result<std::unique_ptr<Tokenizer>> tokenizer_for_model(const io::ModelFile& mf) {
  if (mf.container == "gguf") return tokenizer_from_gguf(mf);
  if (mf.container == "hf" || mf.container == "safetensors") {
    std::string dir = mf.path;
    if (!is_dir(dir)) {
      size_t slash = dir.find_last_of('/');
      dir = slash == std::string::npos ? "." : dir.substr(0, slash == 0 ? 1 : slash);
    }
    return from_folder(dir, "model '" + mf.path + "'");
  }
  if (mf.container == "llama2c")
    return Status::Error("llama2.c checkpoint '" + mf.path +
                         "' holds no tokenizer; pass --tokenizer (e.g. the tokenizer.bin it was trained with)");
  return Status::Error("model '" + mf.path + "' (container '" + mf.container + "') has no known tokenizer; pass --tokenizer");
}

}  // namespace nb
