#include "io/gguf_writer.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "formats/format.h"
#include "io/checked.h"
#include "io/tensor_layout.h"

namespace nb::io {
namespace {

constexpr uint32_t kVersion = 3;
constexpr uint64_t kDefaultAlignment = 32;

// Little-endian bytes of the header, built in memory before the file is opened.
struct Buf {
  std::vector<uint8_t> b;
  template <class T>
  void put(T v) {
    uint8_t tmp[sizeof(T)];
    std::memcpy(tmp, &v, sizeof(T));
    b.insert(b.end(), tmp, tmp + sizeof(T));
  }
  void str(const std::string& s) {
    put<uint64_t>(s.size());
    b.insert(b.end(), s.begin(), s.end());
  }
};

bool in_range(int64_t v, MetaType t) {
  switch (t) {
    case MetaType::U8: return v >= 0 && v <= 0xff;
    case MetaType::I8: return v >= -128 && v <= 127;
    case MetaType::U16: return v >= 0 && v <= 0xffff;
    case MetaType::I16: return v >= -32768 && v <= 32767;
    case MetaType::U32: return v >= 0 && v <= int64_t(0xffffffffll);
    case MetaType::I32: return v >= INT32_MIN && v <= INT32_MAX;
    case MetaType::Bool: return v == 0 || v == 1;
    default: return true;  // I64, U64 (bit-cast)
  }
}

Status put_scalar(Buf& out, const std::string& key, MetaType t, int64_t i, double f, const std::string* s) {
  if (t != MetaType::F32 && t != MetaType::F64 && t != MetaType::String && !in_range(i, t))
    return Status::Error(strfmt("GGUF key '%s': %lld does not fit in %s", key.c_str(), (long long)i, meta_type_name(t)));
  switch (t) {
    case MetaType::U8: out.put(uint8_t(i)); break;
    case MetaType::I8: out.put(int8_t(i)); break;
    case MetaType::U16: out.put(uint16_t(i)); break;
    case MetaType::I16: out.put(int16_t(i)); break;
    case MetaType::U32: out.put(uint32_t(i)); break;
    case MetaType::I32: out.put(int32_t(i)); break;
    case MetaType::U64: out.put(uint64_t(i)); break;
    case MetaType::I64: out.put(int64_t(i)); break;
    case MetaType::Bool: out.put(uint8_t(i)); break;
    case MetaType::F32: out.put(float(f)); break;
    case MetaType::F64: out.put(double(f)); break;
    case MetaType::String: out.str(*s); break;
    case MetaType::Array: return Status::Error(strfmt("GGUF key '%s': arrays of arrays are not supported", key.c_str()));
  }
  return Status::Ok();
}

Status put_value(Buf& out, const std::string& key, const MetaValue& v) {
  if (uint32_t(v.type) > uint32_t(MetaType::F64) || uint32_t(v.elem_type) > uint32_t(MetaType::F64))
    return Status::Error(strfmt("GGUF key '%s': unknown value type %u", key.c_str(), unsigned(v.type)));
  out.put<uint32_t>(uint32_t(v.type));
  if (v.type != MetaType::Array) return put_scalar(out, key, v.type, v.i, v.f, &v.s);
  const MetaType t = v.elem_type;
  out.put<uint32_t>(uint32_t(t));
  const bool is_str = t == MetaType::String, is_float = t == MetaType::F32 || t == MetaType::F64;
  const size_t n = is_str ? v.strings.size() : is_float ? v.floats.size() : v.ints.size();
  if (v.array_size() != n)
    return Status::Error(strfmt("GGUF key '%s': array of %s holds values of another kind", key.c_str(),
                                meta_type_name(t)));
  out.put<uint64_t>(n);
  for (size_t k = 0; k < n; ++k)
    NB_TRY(put_scalar(out, key, t, is_str || is_float ? 0 : v.ints[k], is_float ? v.floats[k] : 0,
                      is_str ? &v.strings[k] : nullptr));
  return Status::Ok();
}

// Writes all of [p, p+n) or fails.
bool put_file(std::FILE* f, const void* p, size_t n) { return n == 0 || std::fwrite(p, 1, n, f) == n; }

}  // namespace

void GgufWriter::add(const std::string& key, MetaValue value) {
  auto it = meta_index_.find(key);
  if (it != meta_index_.end()) {
    meta_[it->second].second = std::move(value);
    return;
  }
  meta_index_[key] = meta_.size();
  meta_.emplace_back(key, std::move(value));
}

Status GgufWriter::add_tensor(const std::string& name, FormatId format, const std::vector<int64_t>& shape,
                              const void* data, size_t bytes) {
  const std::string what = "GGUF tensor '" + name + "'";
  if (name.empty()) return Status::Error("GGUF tensor with an empty name");
  if (tensor_index_.count(name)) return Status::Error(what + " added twice");
  if (formats::traits(format).gguf_type < 0)
    return Status::Error(strfmt("%s: format %s has no GGUF type id", what.c_str(), formats::traits(format).name));
  if (shape.empty() || shape.size() > size_t(kMaxDims))
    return Status::Error(strfmt("%s: %zu dimensions (GGUF allows 1 to %d)", what.c_str(), shape.size(), kMaxDims));
  NB_ASSIGN_OR_RETURN(uint64_t need, tensor_bytes("GGUF writer", name, format, shape.data(), int(shape.size()), UINT64_MAX / 2));
  if (need != bytes)
    return Status::Error(strfmt("%s: %s %s needs %llu bytes, given %zu", what.c_str(), formats::traits(format).name,
                                [&] {
                                  std::string s = "[";
                                  for (size_t k = 0; k < shape.size(); ++k) s += (k ? ", " : "") + std::to_string(shape[k]);
                                  return s + "]";
                                }().c_str(),
                                (unsigned long long)need, bytes));
  if (bytes > 0 && !data) return Status::Error(what + ": no data");
  tensor_index_[name] = tensors_.size();
  tensors_.push_back({name, format, shape, data, bytes});
  return Status::Ok();
}

Status GgufWriter::write(const std::string& path) const {
  uint64_t align = kDefaultAlignment;
  if (auto it = meta_index_.find("general.alignment"); it != meta_index_.end()) {
    const MetaValue& a = meta_[it->second].second;
    if (a.type != MetaType::U32 || !is_pow2(uint64_t(a.i)))
      return Status::Error(path + ": general.alignment must be a u32 power of two");
    align = uint64_t(a.i);
  }

  Buf h;
  h.b.insert(h.b.end(), {'G', 'G', 'U', 'F'});
  h.put<uint32_t>(kVersion);
  h.put<uint64_t>(tensors_.size());
  h.put<uint64_t>(meta_.size());
  // general.architecture first: llama.cpp and gguf-py tools expect to find it there.
  std::vector<size_t> order;
  for (size_t k = 0; k < meta_.size(); ++k)
    if (meta_[k].first == "general.architecture") order.insert(order.begin(), k);
    else order.push_back(k);
  for (size_t k : order) {
    h.str(meta_[k].first);
    Status st = put_value(h, meta_[k].first, meta_[k].second);
    if (!st.ok()) return st.with_context(path);
  }
  std::vector<uint64_t> offsets;
  uint64_t offset = 0;
  for (const Tensor& t : tensors_) {
    h.str(t.name);
    h.put<uint32_t>(uint32_t(t.shape.size()));
    for (size_t d = t.shape.size(); d-- > 0;) h.put<uint64_t>(uint64_t(t.shape[d]));  // innermost first
    h.put<uint32_t>(uint32_t(formats::traits(t.format).gguf_type));
    h.put<uint64_t>(offset);
    offsets.push_back(offset);
    uint64_t end;
    if (!checked_add(offset, t.bytes, &end) || !checked_align_up(end, align, &offset))
      return Status::Error(path + ": tensor data too large");
  }
  uint64_t data_start;
  if (!checked_align_up(h.b.size(), align, &data_start)) return Status::Error(path + ": header too large");
  h.b.resize(size_t(data_start), 0);

  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) return Status::Error(strfmt("%s: cannot write: %s", tmp.c_str(), std::strerror(errno)));
  bool ok = put_file(f, h.b.data(), h.b.size());
  static const uint8_t kZeros[256] = {};
  uint64_t pos = 0;
  for (size_t k = 0; ok && k < tensors_.size(); ++k) {
    ok = put_file(f, tensors_[k].data, tensors_[k].bytes);
    pos = offsets[k] + tensors_[k].bytes;
    uint64_t next = k + 1 < tensors_.size() ? offsets[k + 1] : pos;
    for (uint64_t pad = next - pos; ok && pad > 0;) {
      size_t n = size_t(pad < sizeof kZeros ? pad : sizeof kZeros);
      ok = put_file(f, kZeros, n);
      pad -= n;
    }
  }
  const int err = ok ? 0 : errno;
  ok = ok && std::fflush(f) == 0 && fsync(fileno(f)) == 0;
  ok = (std::fclose(f) == 0) && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = err ? err : errno;
    std::remove(tmp.c_str());
    return Status::Error(strfmt("%s: write failed: %s", path.c_str(), std::strerror(e)));
  }
  return Status::Ok();
}

}  // namespace nb::io
