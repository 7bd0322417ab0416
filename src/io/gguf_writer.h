// Writes GGUF v3 files that llama.cpp loads: metadata (general.architecture
// first, then in the order added), tensor infos, tensor data aligned to
// general.alignment (32 unless set). The file appears whole or not at all:
// it is written to "<path>.tmp" and renamed.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"
#include "io/model_file.h"

namespace nb::io {

class GgufWriter {
 public:
  // Adds or replaces a key. Integers are range-checked against their type at write().
  void add(const std::string& key, MetaValue value);
  void add_string(const std::string& key, std::string v) { add(key, MetaValue::Str(std::move(v))); }
  void add_u32(const std::string& key, uint32_t v) { add(key, MetaValue::Int(v, MetaType::U32)); }
  void add_i32(const std::string& key, int32_t v) { add(key, MetaValue::Int(v, MetaType::I32)); }
  void add_f32(const std::string& key, float v) { add(key, MetaValue::Float(v, MetaType::F32)); }
  void add_bool(const std::string& key, bool v) { add(key, MetaValue::Bool(v)); }

  // Adds a tensor of `shape` (outermost first) in `format` whose `bytes` bytes
  // are at `data`. The data is not copied: it must stay valid until write().
  // Errors: a format GGUF has no type id for, a bad shape, a duplicate name,
  // or `bytes` not what the format and shape need.
  Status add_tensor(const std::string& name, FormatId format, const std::vector<int64_t>& shape, const void* data,
                    size_t bytes);

  Status write(const std::string& path) const;

 private:
  struct Tensor {
    std::string name;
    FormatId format;
    std::vector<int64_t> shape;
    const void* data;
    size_t bytes;
  };
  std::vector<std::pair<std::string, MetaValue>> meta_;
  std::map<std::string, size_t> meta_index_;
  std::vector<Tensor> tensors_;
  std::map<std::string, size_t> tensor_index_;
};

}  // namespace nb::io
