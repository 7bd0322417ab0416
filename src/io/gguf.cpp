// GGUF v2/v3 reader. Layout (little-endian): "GGUF", u32 version, u64
// tensor_count, u64 kv_count; kv_count × (string key, u32 type, value);
// tensor_count × (string name, u32 n_dims, u64 dims[n_dims] innermost first,
// u32 ggml type, u64 offset); padding to general.alignment; tensor data.
// Strings are u64 length + bytes. Every count and length is checked against
// the bytes left before anything is allocated.
#include <cstring>
#include <set>
#include <type_traits>

#include "formats/format.h"
#include "io/byte_reader.h"
#include "io/checked.h"
#include "io/ggml_types.h"
#include "io/parse.h"
#include "io/tensor_layout.h"

namespace nb::io {
namespace {

constexpr uint64_t kMaxNameBytes = 65535;   // GGUF caps keys at 65535 bytes; tensor names are far shorter
constexpr uint64_t kMinKvBytes = 8 + 4 + 1;  // empty key, type, smallest value
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 8 + 4 + 8;  // empty name, n_dims, one dim, type, offset
constexpr uint32_t kDefaultAlignment = 32;

// Bytes one value of `t` takes at least (strings: their length field).
uint64_t min_value_bytes(MetaType t) {
  switch (t) {
    case MetaType::U8: case MetaType::I8: case MetaType::Bool: return 1;
    case MetaType::U16: case MetaType::I16: return 2;
    case MetaType::U32: case MetaType::I32: case MetaType::F32: return 4;
    case MetaType::U64: case MetaType::I64: case MetaType::F64: case MetaType::String: return 8;
    case MetaType::Array: return 4 + 8;
  }
  return 1;
}

bool valid_meta_type(uint32_t t) { return t <= uint32_t(MetaType::F64); }

class GgufParser {
 public:
  GgufParser(const uint8_t* data, size_t size, const std::string& file)
      : data_(data), size_(size), file_(file), r_(data, size, file_) {}
  Result<ModelFile> parse();

 private:
  Status error(const std::string& msg) const { return Status::Error(file_ + ": " + msg); }
  Status read_string(std::string* s, const std::string& what, uint64_t max_len);
  Status read_scalar(MetaType t, MetaValue* v, const std::string& key);
  Status read_array(MetaValue* v, const std::string& key);
  Status read_kv(ModelFile& m);
  Status read_tensor_info(size_t index, std::set<std::string>& names);
  Result<uint64_t> alignment(const ModelFile& m) const;

  struct RawTensor {
    std::string name;
    int ndim;
    int64_t shape[kMaxDims];  // outermost first
    FormatId format;
    uint64_t offset;
  };

  const uint8_t* data_;
  size_t size_;
  std::string file_;
  ByteReader r_;
  std::vector<RawTensor> raw_;
};

Status GgufParser::read_string(std::string* s, const std::string& what, uint64_t max_len) {
  uint64_t len;
  if (!r_.read(&len)) return r_.truncated("the length of " + what, 8);
  if (len > max_len) return error(strfmt("%s: length %llu is more than the %llu allowed", what.c_str(),
                                         (unsigned long long)len, (unsigned long long)max_len));
  if (!r_.read_bytes(len, s)) return r_.truncated(what, len);
  return Status::Ok();
}

Status GgufParser::read_scalar(MetaType t, MetaValue* v, const std::string& key) {
  v->type = t;
  auto get = [&](auto x) -> Status {
    if (!r_.read(&x)) return r_.truncated(strfmt("the %s value of key '%s'", meta_type_name(t), key.c_str()), sizeof(x));
    if constexpr (std::is_floating_point_v<decltype(x)>) v->f = double(x);
    else v->i = int64_t(x);  // u64 is stored bit-cast (model_file.h)
    return Status::Ok();
  };
  switch (t) {
    case MetaType::U8: return get(uint8_t());
    case MetaType::I8: return get(int8_t());
    case MetaType::U16: return get(uint16_t());
    case MetaType::I16: return get(int16_t());
    case MetaType::U32: return get(uint32_t());
    case MetaType::I32: return get(int32_t());
    case MetaType::U64: return get(uint64_t());
    case MetaType::I64: return get(int64_t());
    case MetaType::F32: return get(float());
    case MetaType::F64: return get(double());
    case MetaType::Bool: {
      NB_TRY(get(uint8_t()));
      v->i = v->i != 0;
      return Status::Ok();
    }
    case MetaType::String: return read_string(&v->s, strfmt("the string value of key '%s'", key.c_str()), r_.remaining());
    case MetaType::Array: return read_array(v, key);
  }
  return error(strfmt("key '%s': unknown value type %u", key.c_str(), unsigned(t)));
}

Status GgufParser::read_array(MetaValue* v, const std::string& key) {
  uint32_t et;
  uint64_t count;
  if (!r_.read(&et)) return r_.truncated(strfmt("the element type of array '%s'", key.c_str()), 4);
  if (!valid_meta_type(et)) return error(strfmt("key '%s': unknown array element type %u", key.c_str(), et));
  // GGUF has no use for arrays of arrays and llama.cpp refuses them; so do we,
  // rather than flatten them into something MetaValue cannot say.
  if (MetaType(et) == MetaType::Array) return error(strfmt("key '%s': arrays of arrays are not supported", key.c_str()));
  if (!r_.read(&count)) return r_.truncated(strfmt("the length of array '%s'", key.c_str()), 8);
  const MetaType t = MetaType(et);
  if (count > r_.remaining() / min_value_bytes(t))
    return error(strfmt("key '%s': array of %llu %s values cannot fit in the %zu bytes left", key.c_str(),
                        (unsigned long long)count, meta_type_name(t), r_.remaining()));
  v->type = MetaType::Array;
  v->elem_type = t;
  MetaValue e;
  if (t == MetaType::String) v->strings.reserve(size_t(count));
  else if (t == MetaType::F32 || t == MetaType::F64) v->floats.reserve(size_t(count));
  else v->ints.reserve(size_t(count));
  for (uint64_t k = 0; k < count; ++k) {
    NB_TRY(read_scalar(t, &e, key));
    if (t == MetaType::String) v->strings.push_back(std::move(e.s));
    else if (t == MetaType::F32 || t == MetaType::F64) v->floats.push_back(e.f);
    else v->ints.push_back(e.i);
  }
  return Status::Ok();
}

Status GgufParser::read_kv(ModelFile& m) {
  std::string key;
  NB_TRY(read_string(&key, strfmt("metadata key #%zu", m.meta.size()), kMaxNameBytes));
  if (key.empty()) return error(strfmt("metadata key #%zu is empty", m.meta.size()));
  uint32_t type;
  if (!r_.read(&type)) return r_.truncated(strfmt("the type of key '%s'", key.c_str()), 4);
  if (!valid_meta_type(type)) return error(strfmt("key '%s': unknown value type %u", key.c_str(), type));
  MetaValue v;
  NB_TRY(read_scalar(MetaType(type), &v, key));
  if (!m.meta.emplace(key, std::move(v)).second) return error(strfmt("key '%s' appears twice", key.c_str()));
  return Status::Ok();
}

Status GgufParser::read_tensor_info(size_t index, std::set<std::string>& names) {
  RawTensor t;
  NB_TRY(read_string(&t.name, strfmt("the name of tensor #%zu", index), kMaxNameBytes));
  const std::string what = strfmt("tensor '%s'", t.name.c_str());
  if (t.name.empty()) return error(strfmt("tensor #%zu has an empty name", index));
  if (!names.insert(t.name).second) return error(what + " appears twice");
  uint32_t n_dims;
  if (!r_.read(&n_dims)) return r_.truncated("the dimension count of " + what, 4);
  if (n_dims < 1 || n_dims > uint32_t(kMaxDims))
    return error(strfmt("%s: %u dimensions (GGUF allows 1 to %d)", what.c_str(), n_dims, kMaxDims));
  t.ndim = int(n_dims);
  for (int d = 0; d < t.ndim; ++d) {
    uint64_t ne;
    if (!r_.read(&ne)) return r_.truncated("the dimensions of " + what, 8);
    if (ne > uint64_t(INT64_MAX)) return error(strfmt("%s: dimension %d is %llu", what.c_str(), d, (unsigned long long)ne));
    t.shape[t.ndim - 1 - d] = int64_t(ne);  // the file lists the innermost dimension first
  }
  uint32_t type;
  if (!r_.read(&type)) return r_.truncated("the type of " + what, 4);
  const formats::FormatTraits* f = formats::find_by_gguf_type(type);
  if (!f) {
    const char* known = ggml_type_name(type);
    return error(known ? strfmt("%s: unsupported tensor type %u (%s)", what.c_str(), type, known)
                       : strfmt("%s: unknown tensor type %u", what.c_str(), type));
  }
  t.format = f->id;
  if (!r_.read(&t.offset)) return r_.truncated("the data offset of " + what, 8);
  raw_.push_back(std::move(t));
  return Status::Ok();
}

Result<uint64_t> GgufParser::alignment(const ModelFile& m) const {
  auto it = m.meta.find("general.alignment");
  if (it == m.meta.end()) return uint64_t(kDefaultAlignment);
  const MetaValue& v = it->second;
  if (!v.is_int() || v.type == MetaType::Bool)
    return error(strfmt("general.alignment: expected an integer, found %s", meta_type_name(v.type)));
  if (!is_pow2(uint64_t(v.i)))
    return error(strfmt("general.alignment: must be a power of two, found %s", v.to_string().c_str()));
  return uint64_t(v.i);
}

Result<ModelFile> GgufParser::parse() {
  char magic[4];
  if (!r_.read(&magic)) return r_.truncated("the GGUF magic", 4);
  if (std::memcmp(magic, "GGUF", 4) != 0) return error("not a GGUF file (no \"GGUF\" magic)");
  uint32_t version;
  if (!r_.read(&version)) return r_.truncated("the GGUF version", 4);
  if (version == 1) return error("GGUF version 1 is not supported (convert the model again with a current llama.cpp)");
  if ((version & 0xffff) == 0 && (version >> 16) != 0)
    return error(strfmt("big-endian GGUF (version field 0x%08x) is not supported", version));
  if (version != 2 && version != 3) return error(strfmt("unsupported GGUF version %u (nibble reads 2 and 3)", version));
  uint64_t n_tensors, n_kv;
  if (!r_.read(&n_tensors)) return r_.truncated("the tensor count", 8);
  if (!r_.read(&n_kv)) return r_.truncated("the metadata count", 8);
  if (n_kv > r_.remaining() / kMinKvBytes)
    return error(strfmt("metadata count %llu cannot fit in the %zu bytes left", (unsigned long long)n_kv, r_.remaining()));
  if (n_tensors > r_.remaining() / kMinTensorInfoBytes)
    return error(strfmt("tensor count %llu cannot fit in the %zu bytes left", (unsigned long long)n_tensors,
                        r_.remaining()));

  ModelFile m;
  m.path = file_;
  m.container = "gguf";
  for (uint64_t k = 0; k < n_kv; ++k) NB_TRY(read_kv(m));
  NB_ASSIGN_OR_RETURN(const uint64_t align, alignment(m));

  std::set<std::string> names;
  for (uint64_t k = 0; k < n_tensors; ++k) NB_TRY(read_tensor_info(size_t(k), names));

  uint64_t data_start;
  if (!checked_align_up(r_.pos(), align, &data_start))
    return error(strfmt("general.alignment %llu overflows the data offset", (unsigned long long)align));
  m.tensors.reserve(raw_.size());
  for (const RawTensor& t : raw_) {
    if (t.offset % align != 0)
      return error(strfmt("tensor '%s': offset %llu is not a multiple of the alignment %llu", t.name.c_str(),
                          (unsigned long long)t.offset, (unsigned long long)align));
    uint64_t begin;
    if (!checked_add(data_start, t.offset, &begin) || begin > size_)
      return error(strfmt("tensor '%s': data offset %llu is past the end of the file (size %zu)", t.name.c_str(),
                          (unsigned long long)t.offset, size_));
    NB_ASSIGN_OR_RETURN(uint64_t bytes, tensor_bytes(file_, t.name, t.format, t.shape, t.ndim, size_));
    NB_TRY(check_in_file(file_, t.name, begin, bytes, size_));
    m.tensors.push_back(make_tensor(file_, t.name, t.format, t.shape, t.ndim, bytes, data_ + begin));
  }
  NB_TRY(m.build_index());
  return m;
}

}  // namespace

Result<ModelFile> parse_gguf(const uint8_t* data, size_t size, const std::string& name) {
  return GgufParser(data, size, name).parse();
}

}  // namespace nb::io
