// Single-file safetensors reader. Layout: u64 N (little-endian), N bytes of
// JSON {"name": {"dtype", "shape", "data_offsets": [begin, end]}, ...,
// "__metadata__": {str: str}}, then the data section; offsets are relative
// to its start. Every number from the header is checked before use.
#include <nlohmann/json.hpp>

#include <cstring>
#include <set>

#include "formats/format.h"
#include "io/checked.h"
#include "io/json_depth.h"
#include "io/parse.h"
#include "io/tensor_layout.h"

namespace nb::io {
namespace {

using Json = nlohmann::ordered_json;  // keeps the header's tensor order

constexpr uint64_t kMaxHeaderBytes = 100ull << 20;  // real headers are KBs; this stops a hostile length early

// safetensors dtype names. A row with a format is readable; the others are
// named so the error can say what was found. Add a row to read a new dtype.
struct Dtype {
  const char* name;
  bool readable;
  FormatId format;
};
constexpr Dtype kDtypes[] = {
    {"F32", true, FormatId::F32},      {"F16", true, FormatId::F16},       {"BF16", true, FormatId::BF16},
    {"F64", false, {}},                {"I64", false, {}},                 {"I32", false, {}},
    {"I16", false, {}},                {"I8", false, {}},                  {"U64", false, {}},
    {"U32", false, {}},                {"U16", false, {}},                 {"U8", false, {}},
    {"BOOL", false, {}},               {"F8_E4M3", false, {}},             {"F8_E5M2", false, {}},
    {"F8_E8M0", false, {}},            {"F6_E2M3", false, {}},             {"F6_E3M2", false, {}},
    {"F4", false, {}},                 {"C64", false, {}},
};

std::string readable_dtypes() {
  std::string s;
  for (const Dtype& d : kDtypes)
    if (d.readable) s += (s.empty() ? "" : ", ") + std::string(d.name);
  return s;
}

class SafetensorsParser {
 public:
  SafetensorsParser(const uint8_t* data, size_t size, const std::string& file) : data_(data), size_(size), file_(file) {}
  Result<ModelFile> parse();

 private:
  Status error(const std::string& msg) const { return Status::Error(file_ + ": " + msg); }
  Status tensor_error(const std::string& name, const std::string& msg) const {
    return error("tensor '" + name + "': " + msg);
  }
  Status read_metadata(const Json& j, ModelFile& m) const;
  Status read_tensor(const std::string& name, const Json& j, ModelFile& m) const;

  const uint8_t* data_;
  size_t size_;
  const std::string& file_;
  uint64_t data_start_ = 0, data_size_ = 0;
};

Status SafetensorsParser::read_metadata(const Json& j, ModelFile& m) const {
  if (!j.is_object()) return error("__metadata__ is not an object");
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!it.value().is_string())
      return error(strfmt("__metadata__ key '%s': expected a string, found %s", it.key().c_str(), it.value().type_name()));
    m.meta["safetensors." + it.key()] = MetaValue::Str(it.value().get<std::string>());
  }
  return Status::Ok();
}

// A short description of a header value for messages. Never dump() a value
// of unknown shape: dump() recurses, and a hostile header can nest deeply.
std::string brief(const Json& j) {
  if (!j.is_primitive()) return std::string("an ") + j.type_name();
  std::string s = j.dump();
  return s.size() > 60 ? s.substr(0, 60) + "..." : s;
}

// A non-negative integer from the header, or nothing.
bool get_u64(const Json& j, uint64_t* out) {
  if (j.is_number_unsigned()) return *out = j.get<uint64_t>(), true;
  if (j.is_number_integer() && j.get<int64_t>() >= 0) return *out = uint64_t(j.get<int64_t>()), true;
  return false;
}

Status SafetensorsParser::read_tensor(const std::string& name, const Json& j, ModelFile& m) const {
  if (!j.is_object()) return tensor_error(name, strfmt("expected an object, found %s", j.type_name()));
  auto dt = j.find("dtype"), sh = j.find("shape"), off = j.find("data_offsets");
  if (dt == j.end() || !dt->is_string()) return tensor_error(name, "missing or non-string \"dtype\"");
  if (sh == j.end() || !sh->is_array()) return tensor_error(name, "missing or non-array \"shape\"");
  if (off == j.end() || !off->is_array() || off->size() != 2)
    return tensor_error(name, "\"data_offsets\" must be an array [begin, end]");

  const std::string dtype = dt->get<std::string>();
  const Dtype* d = nullptr;
  for (const Dtype& row : kDtypes)
    if (dtype == row.name) d = &row;
  if (!d) return tensor_error(name, "unknown dtype '" + dtype + "'");
  if (!d->readable)
    return tensor_error(name, strfmt("dtype %s is not supported (nibble reads %s)", dtype.c_str(), readable_dtypes().c_str()));

  if (sh->size() > size_t(kMaxDims))
    return tensor_error(name, strfmt("%zu dimensions (at most %d supported)", sh->size(), kMaxDims));
  int64_t shape[kMaxDims] = {};
  const int ndim = int(sh->size());
  for (int i = 0; i < ndim; ++i) {
    uint64_t v;
    if (!get_u64((*sh)[size_t(i)], &v) || v > uint64_t(INT64_MAX))
      return tensor_error(name, "shape entry " + std::to_string(i) + " is not a non-negative integer: " + brief((*sh)[size_t(i)]));
    shape[i] = int64_t(v);
  }
  uint64_t begin, end;
  if (!get_u64((*off)[0], &begin) || !get_u64((*off)[1], &end) || begin > end)
    return tensor_error(name, "bad data_offsets [" + brief((*off)[0]) + ", " + brief((*off)[1]) +
                                   "] (need integers 0 <= begin <= end)");
  NB_ASSIGN_OR_RETURN(uint64_t bytes, tensor_bytes(file_, name, d->format, shape, ndim, size_));
  uint64_t abs_begin;
  if (!checked_add(data_start_, begin, &abs_begin)) abs_begin = UINT64_MAX;
  NB_TRY(check_in_file(file_, name, abs_begin, end - begin, size_));
  if (end - begin != bytes)
    return tensor_error(name, strfmt("data_offsets [%llu, %llu) hold %llu bytes, but %s %s needs %llu",
                                     (unsigned long long)begin, (unsigned long long)end,
                                     (unsigned long long)(end - begin), dtype.c_str(), sh->dump().c_str(),
                                     (unsigned long long)bytes));
  m.tensors.push_back(make_tensor(file_, name, d->format, shape, ndim, bytes, data_ + abs_begin));
  return Status::Ok();
}

Result<ModelFile> SafetensorsParser::parse() {
  uint64_t n;
  if (size_ < 8) return error(strfmt("too short for a safetensors file (%zu bytes)", size_));
  std::memcpy(&n, data_, 8);
  if (n > kMaxHeaderBytes || n > size_ - 8)
    return error(strfmt("header length %llu is more than the file (%zu bytes) or the %llu-byte cap allows",
                        (unsigned long long)n, size_, (unsigned long long)kMaxHeaderBytes));
  data_start_ = 8 + n;
  data_size_ = size_ - data_start_;

  // The DOM keeps only the last of two equal keys; a callback sees them all,
  // so a tensor named twice is an error instead of silently lost.
  std::set<std::string> seen;
  std::string dup;
  Json::parser_callback_t cb = [&](int depth, Json::parse_event_t ev, Json& parsed) {
    if (ev == Json::parse_event_t::key && depth == 1 && parsed.is_string()) {
      const auto& k = parsed.get_ref<const std::string&>();
      if (!seen.insert(k).second && dup.empty()) dup = k;
    }
    return true;
  };
  const char* p = reinterpret_cast<const char*>(data_ + 8);
  if (!json_depth_ok(std::string_view(p, size_t(n))))
    return error(strfmt("header nests JSON deeper than %d levels", kMaxJsonDepth));
  Json header;
  try {
    header = Json::parse(p, p + n, cb);
  } catch (const std::exception& e) {
    return error(std::string("header is not valid JSON: ") + e.what());
  }
  if (!header.is_object()) return error(std::string("header is a JSON ") + header.type_name() + ", not an object");
  if (!dup.empty()) return error("tensor '" + dup + "' appears twice in the header");

  ModelFile m;
  m.path = file_;
  m.container = "safetensors";
  m.tensors.reserve(header.size());
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") NB_TRY(read_metadata(it.value(), m));
    else NB_TRY(read_tensor(it.key(), it.value(), m));
  }
  NB_TRY(m.build_index());
  return m;
}

}  // namespace

Result<ModelFile> parse_safetensors(const uint8_t* data, size_t size, const std::string& name) {
  return SafetensorsParser(data, size, name).parse();
}

}  // namespace nb::io
