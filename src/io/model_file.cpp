#include "io/model_file.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "formats/format.h"
#include "io/parse.h"

namespace nb::io {

const char* meta_type_name(MetaType t) {
  switch (t) {
    case MetaType::U8: return "u8";
    case MetaType::I8: return "i8";
    case MetaType::U16: return "u16";
    case MetaType::I16: return "i16";
    case MetaType::U32: return "u32";
    case MetaType::I32: return "i32";
    case MetaType::F32: return "f32";
    case MetaType::Bool: return "bool";
    case MetaType::String: return "string";
    case MetaType::Array: return "array";
    case MetaType::U64: return "u64";
    case MetaType::I64: return "i64";
    case MetaType::F64: return "f64";
  }
  return "unknown";
}

static bool int_type(MetaType t) {
  switch (t) {
    case MetaType::U8: case MetaType::I8: case MetaType::U16: case MetaType::I16: case MetaType::U32:
    case MetaType::I32: case MetaType::U64: case MetaType::I64: case MetaType::Bool:
      return true;
    default:
      return false;
  }
}

bool MetaValue::is_int() const { return int_type(type); }
bool MetaValue::is_float() const { return type == MetaType::F32 || type == MetaType::F64; }

// Printable form of a string value: quoted, control bytes escaped, long ones cut.
static std::string quote(const std::string& s) {
  constexpr size_t kMax = 120;
  std::string q = "\"";
  for (size_t i = 0; i < s.size() && i < kMax; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') q += '\\', q += char(c);
    else if (c == '\n') q += "\\n";
    else if (c < 0x20 || c == 0x7f) q += strfmt("\\x%02x", c);
    else q += char(c);
  }
  if (s.size() > kMax) q += "...";
  return q + "\"";
}

static std::string int_string(int64_t v, MetaType t) {
  if (t == MetaType::Bool) return v ? "true" : "false";
  if (t == MetaType::U64) return std::to_string(uint64_t(v));
  return std::to_string(v);
}

static std::string float_string(double v) { return strfmt("%g", v); }

std::string MetaValue::to_string(size_t max_items) const {
  if (is_int()) return int_string(i, type);
  if (is_float()) return float_string(f);
  if (type == MetaType::String) return quote(s);
  if (type != MetaType::Array) return "?";
  const size_t n = array_size();
  std::string out = strfmt("array of %zu %s: [", n, meta_type_name(elem_type));
  for (size_t k = 0; k < n && k < max_items; ++k) {
    if (k) out += ", ";
    if (k < ints.size()) out += int_string(ints[k], elem_type);
    else if (k < ints.size() + floats.size()) out += float_string(floats[k - ints.size()]);
    else out += quote(strings[k - ints.size() - floats.size()]);
  }
  if (n > max_items) out += ", ...";
  return out + "]";
}

// ---- ModelFile ----

Status ModelFile::build_index() {
  index_.clear();
  for (size_t k = 0; k < tensors.size(); ++k) {
    if (!index_.emplace(tensors[k].name, k).second)
      return Status::Error(strfmt("%s: tensor '%s' appears twice", tensors[k].file.empty() ? path.c_str()
                                                                                           : tensors[k].file.c_str(),
                                  tensors[k].name.c_str()));
  }
  return Status::Ok();
}

const TensorInfo* ModelFile::find(const std::string& name) const {
  // The index is a hint: `tensors` is public and may have changed since
  // build_index(), so a hit is verified and a miss falls back to a scan.
  if (auto it = index_.find(name); it != index_.end() && it->second < tensors.size() &&
                                   tensors[it->second].name == name)
    return &tensors[it->second];
  for (const TensorInfo& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

const MetaValue* ModelFile::get(const std::string& key) const {
  auto it = meta.find(key);
  return it == meta.end() ? nullptr : &it->second;
}

static std::string kind_of(const MetaValue& v) {
  if (v.type == MetaType::Array) return strfmt("array of %s", meta_type_name(v.elem_type));
  return meta_type_name(v.type);
}

// "<file>: <key>: expected an integer, found string "abc""
static Status wrong_type(const ModelFile& m, const std::string& key, const char* expected, const MetaValue& v) {
  const std::string& file = m.meta_file.empty() ? m.path : m.meta_file;
  return Status::Error(strfmt("%s: %s: expected %s, found %s %s", file.c_str(), key.c_str(), expected,
                              kind_of(v).c_str(), v.to_string(4).c_str()));
}

static Status missing_key(const ModelFile& m, const std::string& key) {
  const std::string& file = m.meta_file.empty() ? m.path : m.meta_file;
  return Status::Error(strfmt("%s: missing metadata key '%s'", file.c_str(), key.c_str()));
}

Result<int64_t> ModelFile::get_int(const std::string& key) const {
  const MetaValue* v = get(key);
  if (!v) return missing_key(*this, key);
  if (!v->is_int()) return wrong_type(*this, key, "an integer", *v);
  if (v->type == MetaType::U64 && v->i < 0) return wrong_type(*this, key, "an integer that fits in int64", *v);
  return v->i;
}

Result<double> ModelFile::get_float(const std::string& key) const {
  const MetaValue* v = get(key);
  if (!v) return missing_key(*this, key);
  if (v->is_float()) return v->f;
  if (v->is_int() && v->type != MetaType::Bool) return v->type == MetaType::U64 ? double(uint64_t(v->i)) : double(v->i);
  return wrong_type(*this, key, "a number", *v);
}

Result<std::string> ModelFile::get_string(const std::string& key) const {
  const MetaValue* v = get(key);
  if (!v) return missing_key(*this, key);
  if (v->type != MetaType::String) return wrong_type(*this, key, "a string", *v);
  return v->s;
}

int64_t ModelFile::get_int_or(const std::string& key, int64_t def) const {
  auto r = get_int(key);
  return r.ok() ? r.value() : def;
}

double ModelFile::get_float_or(const std::string& key, double def) const {
  auto r = get_float(key);
  return r.ok() ? r.value() : def;
}

bool ModelFile::get_bool_or(const std::string& key, bool def) const {
  const MetaValue* v = get(key);
  return v && v->is_int() ? v->i != 0 : def;
}

std::string ModelFile::get_string_or(const std::string& key, const std::string& def) const {
  const MetaValue* v = get(key);
  return v && v->type == MetaType::String ? v->s : def;
}

static std::string shape_of(std::initializer_list<int64_t> shape) {
  std::string s = "[";
  size_t k = 0;
  for (int64_t d : shape) s += (k++ ? ", " : "") + (d < 0 ? std::string("*") : std::to_string(d));
  return s + "]";
}

Result<TensorView> ModelFile::require(const std::string& name, std::initializer_list<int64_t> shape) const {
  const TensorInfo* t = find(name);
  if (!t) return Status::Error(strfmt("%s: missing tensor '%s'", path.c_str(), name.c_str()));
  bool same = t->view.ndim == int(shape.size());
  for (size_t k = 0; same && k < shape.size(); ++k) {
    int64_t want = shape.begin()[k];
    same = want < 0 || want == t->view.shape[k];
  }
  if (!same)
    return Status::Error(strfmt("%s: tensor '%s': expected shape %s, found %s (%s)", t->file.c_str(), name.c_str(),
                                shape_of(shape).c_str(), shape_string(t->view).c_str(),
                                formats::traits(t->view.format).name));
  // Block scales that no encoder writes (NaN, infinite) mean corrupt data:
  // caught here, before any kernel turns them into NaN outputs.
  const formats::FormatTraits& ft = formats::traits(t->view.format);
  if (ft.scales[0].type != formats::ScaleType::None && t->view.data) {
    const int64_t blocks = int64_t(t->bytes / ft.block_bytes), bad = formats::first_bad_scale(ft.id, t->view.data, blocks);
    if (bad >= 0) {
      const int64_t per_row = t->view.cols() / ft.block_size;
      return Status::Error(strfmt("%s: tensor '%s' (%s): block %lld (row %lld) has a NaN or infinite scale: the file is "
                                  "corrupt",
                                  t->file.c_str(), name.c_str(), ft.name, (long long)bad,
                                  (long long)(per_row > 0 ? bad / per_row : 0)));
    }
  }
  return t->view;
}

Result<TensorView> ModelFile::require(const std::string& name, std::initializer_list<int64_t> shape,
                                      std::initializer_list<FormatId> formats) const {
  NB_ASSIGN_OR_RETURN(TensorView v, require(name, shape));
  for (FormatId f : formats)
    if (f == v.format) return v;
  std::string want;
  for (FormatId f : formats) want += (want.empty() ? "" : " or ") + std::string(formats::traits(f).name);
  return Status::Error(strfmt("%s: tensor '%s': expected format %s, found %s", find(name)->file.c_str(), name.c_str(),
                              want.c_str(), formats::traits(v.format).name));
}

// ---- sniffing ----

static bool ends_with(const std::string& s, const char* suffix) {
  size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

Result<ModelFile> open_model(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0)
    return Status::Error(strfmt("%s: cannot open: %s", path.c_str(), std::strerror(errno)));
  if (S_ISDIR(st.st_mode)) return open_hf_folder(path);
  NB_ASSIGN_OR_RETURN(auto map, MappedFile::open(path));
  if (map->size() >= 4 && std::memcmp(map->data(), "GGUF", 4) == 0) return parse_mapped(map, parse_gguf);
  if (ends_with(path, ".safetensors")) return parse_mapped(map, parse_safetensors);
  return parse_mapped(map, parse_llama2c);
}

Result<ModelFile> parse_mapped(std::shared_ptr<MappedFile> map, ParseFn parse) {
  NB_ASSIGN_OR_RETURN(ModelFile m, parse(map->data(), map->size(), map->path()));
  m.maps.push_back(std::move(map));
  return m;
}

Result<ModelFile> open_gguf(const std::string& path) {
  NB_ASSIGN_OR_RETURN(auto map, MappedFile::open(path));
  return parse_mapped(std::move(map), parse_gguf);
}

Result<ModelFile> open_safetensors(const std::string& path) {
  NB_ASSIGN_OR_RETURN(auto map, MappedFile::open(path));
  return parse_mapped(std::move(map), parse_safetensors);
}

Result<ModelFile> open_llama2c(const std::string& path) {
  NB_ASSIGN_OR_RETURN(auto map, MappedFile::open(path));
  return parse_mapped(std::move(map), parse_llama2c);
}

}  // namespace nb::io
