// What every loader produces: typed metadata and named tensor views into
// memory-mapped files. Loaders check every offset and size against the file
// before use and never copy tensor data.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/mapped_file.h"
#include "core/status.h"
#include "core/tensor.h"

namespace nb::io {

// GGUF's metadata value types (numbering as in the GGUF spec).
enum class MetaType : uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, Bool = 7,
  String = 8, Array = 9, U64 = 10, I64 = 11, F64 = 12,
};
const char* meta_type_name(MetaType t);

struct MetaValue {
  MetaType type = MetaType::I64;
  MetaType elem_type = MetaType::I64;  // for arrays
  int64_t i = 0;                       // integer and bool types (U64 stored bit-cast)
  double f = 0;                        // F32 / F64
  std::string s;                       // String
  std::vector<int64_t> ints;           // arrays of integer/bool types
  std::vector<double> floats;          // arrays of F32/F64
  std::vector<std::string> strings;    // arrays of strings

  static MetaValue Int(int64_t v, MetaType t = MetaType::I64) { MetaValue m; m.type = t; m.i = v; return m; }
  static MetaValue Float(double v, MetaType t = MetaType::F32) { MetaValue m; m.type = t; m.f = v; return m; }
  static MetaValue Bool(bool v) { MetaValue m; m.type = MetaType::Bool; m.i = v; return m; }
  static MetaValue Str(std::string v) { MetaValue m; m.type = MetaType::String; m.s = std::move(v); return m; }
  static MetaValue IntArray(std::vector<int64_t> v, MetaType elem = MetaType::I64) {
    MetaValue m; m.type = MetaType::Array; m.elem_type = elem; m.ints = std::move(v); return m;
  }
  static MetaValue FloatArray(std::vector<double> v, MetaType elem = MetaType::F32) {
    MetaValue m; m.type = MetaType::Array; m.elem_type = elem; m.floats = std::move(v); return m;
  }
  static MetaValue StrArray(std::vector<std::string> v) {
    MetaValue m; m.type = MetaType::Array; m.elem_type = MetaType::String; m.strings = std::move(v); return m;
  }
  bool is_int() const;    // any integer or bool type
  bool is_float() const;  // F32 / F64
  size_t array_size() const { return ints.size() + floats.size() + strings.size(); }
  std::string to_string(size_t max_items = 8) const;  // for `nibble inspect`
};

struct TensorInfo {
  std::string name;
  TensorView view;      // shape outermost first; data points into a mapped file
  size_t bytes = 0;     // bytes of tensor data
  std::string file;     // the file the data lives in (for messages)
};

class ModelFile {
 public:
  std::string path;       // what the user named (file or folder)
  std::string container;  // "gguf", "safetensors", "hf", "llama2c"
  std::string meta_file;  // the file the metadata came from, for messages (empty: `path`)

  // Metadata. GGUF keys as in the file; Hugging Face config.json keys flattened
  // as "hf.<key>" / "hf.<obj>.<key>"; llama2.c header fields as "llama2c.<field>".
  std::map<std::string, MetaValue> meta;
  std::vector<TensorInfo> tensors;  // in file order
  std::vector<std::shared_ptr<MappedFile>> maps;  // keep the data alive

  const TensorInfo* find(const std::string& name) const;
  const MetaValue* get(const std::string& key) const;
  // Typed getters: an error names the file and the key, and what was found.
  Result<int64_t> get_int(const std::string& key) const;
  Result<double> get_float(const std::string& key) const;  // accepts ints too
  Result<std::string> get_string(const std::string& key) const;
  int64_t get_int_or(const std::string& key, int64_t def) const;
  double get_float_or(const std::string& key, double def) const;
  bool get_bool_or(const std::string& key, bool def) const;
  std::string get_string_or(const std::string& key, const std::string& def) const;

  // A tensor that must exist with this format set and shape; the error names
  // the file, the tensor, the expected and the found shape/format.
  // A negative entry in `shape` matches any size.
  Result<TensorView> require(const std::string& name, std::initializer_list<int64_t> shape) const;
  // As above, and the tensor's format must be one of `formats`.
  Result<TensorView> require(const std::string& name, std::initializer_list<int64_t> shape,
                             std::initializer_list<FormatId> formats) const;

  // Index tensors by name for find(); an error names a duplicate tensor.
  // Loaders call it last; where the index is stale, find() falls back to a
  // linear search.
  Status build_index();

 private:
  std::map<std::string, size_t> index_;
};

// Open by sniffing: a folder is a Hugging Face checkpoint; a file starting
// with "GGUF" is GGUF; a .safetensors file is a single safetensors file;
// anything else is tried as a llama2.c checkpoint.
Result<ModelFile> open_model(const std::string& path);

Result<ModelFile> open_gguf(const std::string& path);
Result<ModelFile> open_safetensors(const std::string& path);
Result<ModelFile> open_hf_folder(const std::string& dir);
Result<ModelFile> open_llama2c(const std::string& path);

}  // namespace nb::io
